package witness

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/cdewatch/cdewatch/internal/golden"
	"github.com/cdewatch/cdewatch/internal/ledger"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// testLog is a log key made from a fixed seed, so its signatures (Ed25519
// is deterministic) are the same on every run.
type testLog struct {
	signer   note.Signer
	verifier note.Verifier
	vkey     string
}

func newTestLog(tb testing.TB) testLog {
	tb.Helper()
	skey, vkey, err := note.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{7}, 32)), testOrigin)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		tb.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		tb.Fatal(err)
	}
	return testLog{signer: s, verifier: v, vkey: vkey}
}

// checkpoint signs a checkpoint of the given size whose root is a hash of
// the size and tag.
func (l testLog) checkpoint(tb testing.TB, size uint64, tag string) *ledger.Checkpoint {
	tb.Helper()
	root := sha256.Sum256(fmt.Appendf(nil, "%s %d", tag, size))
	text := fmt.Sprintf("%s\n%d\n%s\ntimestamp 1767225600\n", testOrigin, size, base64.StdEncoding.EncodeToString(root[:]))
	n, err := note.Sign(&note.Note{Text: text}, l.signer)
	if err != nil {
		tb.Fatal(err)
	}
	return &ledger.Checkpoint{Size: size, Root: root[:], Note: n}
}

// cosigner is a witness key made from a seed: it produces real
// cosignatures (c2sp.org/tlog-cosignature) with the formats library.
type cosigner struct {
	name   string
	signer note.Signer
	vkey   string // cosignature verifier key (type 0x04)
}

func newCosigner(tb testing.TB, name string, seed byte) cosigner {
	tb.Helper()
	skey, vkey, err := note.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{seed}, 32)), name)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		tb.Fatal(err)
	}
	cv, err := fnote.VKeyToCosignatureV1(vkey)
	if err != nil {
		tb.Fatal(err)
	}
	return cosigner{name: name, signer: s, vkey: cv}
}

// cosign returns the signature line of c over the signed checkpoint n.
func (c cosigner) cosign(tb testing.TB, n []byte) []byte {
	tb.Helper()
	text, _, err := splitNote(n)
	if err != nil {
		tb.Fatal(err)
	}
	signed, err := note.Sign(&note.Note{Text: string(text)}, c.signer)
	if err != nil {
		tb.Fatal(err)
	}
	_, sigs, err := splitNote(signed)
	if err != nil {
		tb.Fatal(err)
	}
	return sigs
}

func (c cosigner) verifier(tb testing.TB) note.Verifier { return mustVerifier(tb, c.vkey) }

func hashes(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		h := sha256.Sum256([]byte{byte(i)})
		out[i] = h[:]
	}
	return out
}

func TestFormatRequest(t *testing.T) {
	cp := newTestLog(t).checkpoint(t, 20852163, "golden")
	got, err := FormatRequest(20852014, hashes(4), cp.Note)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/add-checkpoint.request", got, *update)
	first, err := FormatRequest(0, nil, cp.Note)
	if err != nil {
		t.Fatal(err)
	}
	if want := "old 0\n\n" + string(cp.Note); string(first) != want {
		t.Fatalf("first request:\n%s\nwant\n%s", first, want)
	}

	bad := []struct {
		name       string
		old        uint64
		proof      [][]byte
		checkpoint []byte
		want       string
	}{
		{"proof from size 0", 0, hashes(1), cp.Note, "carries no consistency proof"},
		{"too long a proof", 5, hashes(64), cp.Note, "at most 63"},
		{"short hash", 5, [][]byte{make([]byte, 31)}, cp.Note, "has 31 bytes"},
		{"empty checkpoint", 5, hashes(1), nil, "empty"},
		{"checkpoint without final newline", 5, hashes(1), bytes.TrimSuffix(cp.Note, []byte("\n")), "newline"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FormatRequest(tc.old, tc.proof, tc.checkpoint)
			wantErr(t, err, tc.want)
		})
	}
}

func TestParseSize(t *testing.T) {
	cases := []struct {
		in   string
		want uint64
		err  string
	}{
		{"26\n", 26, ""},
		{"0\n", 0, ""},
		{"18446744073709551615\n", 1<<64 - 1, ""},
		{"026\n", 0, "leading zeros"},
		{"26", 0, "newline"},
		{"26\n\n", 0, "decimal"},
		{" 26\n", 0, "decimal"},
		{"+26\n", 0, "decimal"},
		{"-1\n", 0, "decimal"},
		{"18446744073709551616\n", 0, "decimal"},
		{"\n", 0, "decimal"},
		{"", 0, "newline"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%q", tc.in), func(t *testing.T) {
			got, err := ParseSize([]byte(tc.in))
			wantErr(t, err, tc.err)
			if got != tc.want {
				t.Fatalf("ParseSize(%q) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseCosignatures(t *testing.T) {
	sig := base64.StdEncoding.EncodeToString(append([]byte{0xde, 0xad, 0xbe, 0xef}, make([]byte, 72)...))
	line := "\u2014 witness.example/w1 " + sig + "\n"
	cases := []struct {
		name  string
		body  string
		lines int
		err   string
	}{
		{"one line", line, 1, ""},
		{"two lines", line + "\u2014 other.example/w2 " + sig + "\n", 2, ""},
		{"64 lines", strings.Repeat(line, 64), 64, ""},
		{"65 lines", strings.Repeat(line, 65), 0, "at most 64"},
		{"empty", "", 0, "at least one"},
		{"no final newline", strings.TrimSuffix(line, "\n"), 0, "newline"},
		{"ASCII dash", "-- witness.example/w1 " + sig + "\n", 0, "not a signature line"},
		{"blank line", line + "\n", 0, "not a signature line"},
		{"name with +", "\u2014 w+1 " + sig + "\n", 0, "key name"},
		{"no signature", "\u2014 witness.example/w1\n", 0, "key name"},
		{"empty name", "\u2014  " + sig + "\n", 0, "key name"},
		{"bad base64", "\u2014 w1 !!!!\n", 0, "base64"},
		{"carriage return in base64", "\u2014 w1 " + sig[:8] + "\r" + sig[8:] + "\n", 0, "base64"},
		{"too short", "\u2014 w1 " + base64.StdEncoding.EncodeToString([]byte{1, 2, 3, 4}) + "\n", 0, "base64"},
		{"invalid UTF-8", "\u2014 w\xff " + sig + "\n", 0, "UTF-8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sigs, err := ParseCosignatures([]byte(tc.body))
			wantErr(t, err, tc.err)
			if len(sigs) != tc.lines {
				t.Fatalf("%d signatures, want %d", len(sigs), tc.lines)
			}
			if err == nil {
				if sigs[0].Hash != 0xdeadbeef {
					t.Fatalf("key hash %08x, want deadbeef", sigs[0].Hash)
				}
				if back := FormatSignatures(sigs); string(back) != tc.body {
					t.Fatalf("FormatSignatures gives %q, want %q", back, tc.body)
				}
			}
		})
	}
}

func TestVerifyCosignatures(t *testing.T) {
	log := newTestLog(t)
	cp := log.checkpoint(t, 42, "v")
	otherCP := log.checkpoint(t, 43, "v")
	w := newCosigner(t, "witness.example/w1", 1)
	stranger := newCosigner(t, "witness.example/w2", 2)
	sameName := newCosigner(t, "witness.example/w1", 3)
	good := w.cosign(t, cp.Note)
	flipped := bytes.Clone(good)
	// A base64 character inside the Ed25519 signature, 'A' <-> 'B'
	// (both canonical anywhere but in the last group).
	i := len(flipped) - 20
	if flipped[i] == 'A' {
		flipped[i] = 'B'
	} else {
		flipped[i] = 'A'
	}
	cases := []struct {
		name string
		body []byte
		is   error
		want string
	}{
		{"the witness's cosignature", good, nil, ""},
		{"with an unknown key's line", append(stranger.cosign(t, cp.Note), good...), nil, ""},
		{"another key only", stranger.cosign(t, cp.Note), ErrBadCosignature, "no cosignature by the configured key"},
		{"same name, another key", sameName.cosign(t, cp.Note), ErrBadCosignature, "no cosignature by the configured key"},
		{"flipped signature byte", flipped, ErrBadCosignature, "does not verify"},
		{"cosignature of another checkpoint", w.cosign(t, otherCP.Note), ErrBadCosignature, "does not verify"},
		{"not signature lines", []byte("ok\n"), nil, "not a signature line"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sigs, err := VerifyCosignatures(cp.Note, tc.body, w.verifier(t))
			wantErr(t, err, tc.want)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %v, want %v", err, tc.is)
			}
			if tc.is == nil && tc.want == "" {
				if len(sigs) != 1 || sigs[0].Name != w.name {
					t.Fatalf("signatures %v, want the witness's one", sigs)
				}
				if _, err := note.Open(append(bytes.Clone(cp.Note), FormatSignatures(sigs)...), note.VerifierList(log.verifier, w.verifier(t))); err != nil {
					t.Fatalf("checkpoint with the returned cosignature does not verify: %v", err)
				}
			}
		})
	}
}
