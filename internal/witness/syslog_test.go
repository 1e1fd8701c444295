package witness

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/cdewatch/cdewatch/internal/golden"
	"github.com/cdewatch/cdewatch/internal/ledger"
	"github.com/cdewatch/cdewatch/internal/syslog"
)

var publishedAt = time.Date(2026, 1, 1, 0, 1, 2, 345000000, time.UTC)

// goldenPublication is a checkpoint cosigned by one witness, fixed.
func goldenPublication(t *testing.T) Publication {
	log := newTestLog(t)
	cp := log.checkpoint(t, 20852163, "golden")
	// A cosignature line as a witness writes it (fixed bytes: the
	// message format does not depend on the signature being valid).
	cosig := "\u2014 witness.example/w1 " + base64.StdEncoding.EncodeToString(append([]byte{0x1a, 0x2b, 0x3c, 0x4d, 0, 0, 0, 0, 0x69, 0x55, 0xb7, 0}, bytes.Repeat([]byte{0x5a}, 64)...)) + "\n"
	return Publication{Origin: testOrigin, Size: cp.Size, Root: cp.Root, Signed: time.Unix(1767225600, 0).UTC(),
		Checkpoint: cp.Note, Note: append(bytes.Clone(cp.Note), cosig...), Cosigners: []string{"witness.example/w1"}}
}

func TestSyslogMessageGolden(t *testing.T) {
	p := goldenPublication(t)
	got := p.SyslogMessage(publishedAt, SyslogOptions{Hostname: "cdewatch-0.pci.example.com"})
	golden.Check(t, "testdata/checkpoint.syslog", got.AppendRFC5424(nil), *update)
}

// TestSyslogMessageRoundTrip publishes a real ledger's checkpoint, parses
// the message back with the syslog parser, and verifies the note in it.
func TestSyslogMessageRoundTrip(t *testing.T) {
	l := openLedger(t, filepath.Join(t.TempDir(), "ledger"))
	cp := grow(t, l, "syslog", 5)
	w := newCosigner(t, "witness.example/w1", 1)
	p := Publication{Origin: l.Origin(), Size: cp.Size, Root: cp.Root, Signed: cp.Time, Checkpoint: cp.Note,
		Note: append(bytes.Clone(cp.Note), w.cosign(t, cp.Note)...), Cosigners: []string{w.name}}
	raw := p.SyslogMessage(publishedAt, SyslogOptions{Hostname: "node-1", SDID: "checkpoint@99999"}).AppendRFC5424(nil)
	if len(raw) > MaxSyslogBytes {
		t.Fatalf("message of %d bytes, over %d", len(raw), MaxSyslogBytes)
	}
	if bytes.ContainsAny(raw, "\n\r") {
		t.Fatal("message has a line break")
	}
	m, err := syslog.Parse(raw)
	if err != nil {
		t.Fatalf("parse the message: %v\n%s", err, raw)
	}
	if m.MsgID != SyslogMsgID || m.AppName != "cdewatch" || m.Priority() != 13*8+6 || !m.Timestamp.Equal(publishedAt) {
		t.Fatalf("header %+v", m)
	}
	for name, want := range map[string]string{
		"origin": l.Origin(), "size": fmt.Sprint(cp.Size), "root": base64.StdEncoding.EncodeToString(cp.Root),
		"signed": cp.Time.Format(time.RFC3339), "cosigners": w.name,
	} {
		if got, _ := m.Param("checkpoint@99999", name); got != want {
			t.Errorf("parameter %s = %q, want %q", name, got, want)
		}
	}
	b64, _ := m.Param("checkpoint@99999", "note")
	n, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(n, note.VerifierList(l.Verifier(), w.verifier(t))); err != nil {
		t.Fatalf("the note in the message does not verify: %v", err)
	}
	if got, err := ledger.ParseCheckpoint(n, l.Verifier()); err != nil || got.Size != cp.Size {
		t.Fatalf("the note in the message is not the checkpoint: %v", err)
	}
}

// TestSyslogMessageBound: whatever the cosigners, the message fits in
// MaxSyslogBytes and its note verifies with the ledger's key.
func TestSyslogMessageBound(t *testing.T) {
	long := strings.Repeat("o", 200)
	cases := []struct {
		name      string
		cosigners int
		host      string
		omitted   bool
	}{
		{"none", 0, "node-1", false},
		{"three", 3, "node-1", false},
		{"six", 6, "node-1", false},
		{"twenty", 20, "node-1", true},
		{"three, long host name", 3, strings.Repeat("h", 255), false},
		{"twelve, long host name", 12, strings.Repeat("h", 255), true},
	}
	log := newTestLog(t)
	cp := log.checkpoint(t, 1<<40, "bound")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := Publication{Origin: testOrigin, Size: cp.Size, Root: cp.Root, Signed: publishedAt, Checkpoint: cp.Note, Note: bytes.Clone(cp.Note)}
			for i := range tc.cosigners {
				c := newCosigner(t, fmt.Sprintf("witness-%d.%s.example/w", i, long[:20]), byte(10+i))
				p.Note = append(p.Note, c.cosign(t, cp.Note)...)
				p.Cosigners = append(p.Cosigners, c.name)
			}
			m := p.SyslogMessage(publishedAt, SyslogOptions{Hostname: tc.host})
			raw := m.AppendRFC5424(nil)
			if len(raw) > MaxSyslogBytes {
				t.Fatalf("message of %d bytes", len(raw))
			}
			_, omitted := m.Param(DefaultSDID, "cosigners_omitted")
			if omitted != tc.omitted {
				t.Fatalf("cosigners_omitted present = %v, want %v (%d bytes)", omitted, tc.omitted, len(raw))
			}
			b64, _ := m.Param(DefaultSDID, "note")
			n, _ := base64.StdEncoding.DecodeString(b64)
			if _, err := ledger.ParseCheckpoint(n, log.verifier); err != nil {
				t.Fatalf("note does not verify: %v", err)
			}
			if c, _ := m.Param(DefaultSDID, "cosigners"); c != strings.Join(p.Cosigners, ",") {
				t.Fatalf("cosigners %q", c)
			}
		})
	}
}
