package ledger

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

var hasher = rfc6962.DefaultHasher

// TestProofsExhaustive checks every inclusion proof and every consistency
// proof of every small tree against github.com/transparency-dev/merkle's
// verifiers, and that corrupting any part of a proof makes it fail.
func TestProofsExhaustive(t *testing.T) {
	ones := make([]int, 40)
	for i := range ones {
		ones[i] = 1
	}
	tests := []struct {
		name    string
		batches []int // records per Append call
	}{
		{"one per append", ones},
		{"batches", []int{3, 1, 7, 2, 16, 5, 8}},
		{"big first batch", []int{33, 1, 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLedger(t, testOptions(dir))
			var recs [][]byte
			mem := &memTree{}
			for _, n := range tt.batches {
				batch := smallRecords(len(recs), n)
				appendRecs(t, l, batch)
				recs = append(recs, batch...)
				mem.add(t, batch...)
				// The newest tree is provable as soon as Append returns.
				size := uint64(len(recs))
				if _, root, err := l.InclusionProof(size-1, size); err != nil {
					t.Fatalf("InclusionProof(%d, %d) right after Append: %v", size-1, size, err)
				} else if want := mem.root(t, int64(size)); !bytes.Equal(root, want[:]) {
					t.Fatalf("root at size %d = %x, want %x", size, root, want)
				}
			}
			total := uint64(len(recs))
			roots := make([][]byte, total+1)
			for size := uint64(1); size <= total; size++ {
				roots[size] = checkInclusionProofs(t, l, recs[:size], mem)
			}
			for from := uint64(1); from <= total; from++ {
				for to := from; to <= total; to++ {
					checkConsistencyProof(t, l, from, to, roots[from], roots[to])
				}
			}

			closeLedger(t, l)
			checkCheckpointFile(t, dir, l, total, roots[total])
		})
	}
}

// checkInclusionProofs checks every inclusion proof in the tree of
// len(recs) leaves and returns its root.
func checkInclusionProofs(t *testing.T, l *Ledger, recs [][]byte, mem *memTree) []byte {
	t.Helper()
	size := uint64(len(recs))
	want := mem.root(t, int64(size))
	if independent := mth(recs); !bytes.Equal(want[:], independent) {
		t.Fatalf("tlog.TreeHash(%d) = %x, RFC 6962 MTH = %x", size, want, independent)
	}
	var root []byte
	for index := range size {
		p, r, err := l.InclusionProof(index, size)
		if err != nil {
			t.Fatalf("InclusionProof(%d, %d): %v", index, size, err)
		}
		if !bytes.Equal(r, want[:]) {
			t.Fatalf("InclusionProof(%d, %d) root %x, want %x", index, size, r, want)
		}
		root = r
		leaf := hasher.HashLeaf(recs[index])
		if lh, err := l.LeafHash(index); err != nil || !bytes.Equal(lh, leaf) {
			t.Fatalf("LeafHash(%d) = %x, %v; want %x", index, lh, err, leaf)
		}
		if err := proof.VerifyInclusion(hasher, index, size, leaf, p, root); err != nil {
			t.Fatalf("inclusion of %d in %d does not verify: %v", index, size, err)
		}
		// A change to any byte of any proof hash must be caught: in small
		// trees every single bit is tried, in larger ones one bit per byte
		// (the bit position cycling with the byte).
		step := 8
		if size <= 16 {
			step = 1
		}
		for i := range p {
			for b := 0; b < len(p[i])*8; b += step {
				q := clone2(p)
				bit := b + (b/8)%step
				q[i][bit/8] ^= 1 << (bit % 8)
				if proof.VerifyInclusion(hasher, index, size, leaf, q, root) == nil {
					t.Fatalf("inclusion %d/%d verifies with bit %d of proof hash %d flipped", index, size, bit, i)
				}
			}
		}
		for b := range len(leaf) {
			bad := bytes.Clone(leaf)
			bad[b] ^= 0x01
			if proof.VerifyInclusion(hasher, index, size, bad, p, root) == nil {
				t.Fatalf("inclusion %d/%d verifies with byte %d of the leaf hash changed", index, size, b)
			}
		}
		for other := range size {
			if other != index && proof.VerifyInclusion(hasher, other, size, leaf, p, root) == nil {
				t.Fatalf("proof of leaf %d in %d verifies as leaf %d", index, size, other)
			}
		}
		if len(p) > 0 && proof.VerifyInclusion(hasher, index, size, leaf, p[:len(p)-1], root) == nil {
			t.Fatalf("inclusion %d/%d verifies with a shortened proof", index, size)
		}
		// The proof is also what golang.org/x/mod/sumdb/tlog computes and accepts.
		tp, err := tlog.ProveRecord(int64(size), int64(index), mem)
		if err != nil {
			t.Fatal(err)
		}
		if len(tp) != len(p) {
			t.Fatalf("inclusion %d/%d: %d hashes, tlog has %d", index, size, len(p), len(tp))
		}
		for i := range tp {
			if !bytes.Equal(tp[i][:], p[i]) {
				t.Fatalf("inclusion %d/%d: hash %d differs from tlog.ProveRecord", index, size, i)
			}
		}
	}
	return root
}

func checkConsistencyProof(t *testing.T, l *Ledger, from, to uint64, root1, root2 []byte) {
	t.Helper()
	p, err := l.ConsistencyProof(from, to)
	if err != nil {
		t.Fatalf("ConsistencyProof(%d, %d): %v", from, to, err)
	}
	if err := proof.VerifyConsistency(hasher, from, to, p, root1, root2); err != nil {
		t.Fatalf("consistency %d→%d does not verify: %v", from, to, err)
	}
	for i := range p {
		for b := range len(p[i]) {
			q := clone2(p)
			q[i][b] ^= 1 << (b % 8)
			if proof.VerifyConsistency(hasher, from, to, q, root1, root2) == nil {
				t.Fatalf("consistency %d→%d verifies with byte %d of proof hash %d changed", from, to, b, i)
			}
		}
	}
	bad := bytes.Clone(root1)
	bad[0] ^= 1
	if proof.VerifyConsistency(hasher, from, to, p, bad, root2) == nil {
		t.Fatalf("consistency %d→%d verifies with a wrong old root", from, to)
	}
	if from < to && len(p) > 0 && proof.VerifyConsistency(hasher, from, to, p[:len(p)-1], root1, root2) == nil {
		t.Fatalf("consistency %d→%d verifies with a shortened proof", from, to)
	}
}

// checkCheckpointFile checks that the published checkpoint and every entry
// of checkpoints.log parse with github.com/transparency-dev/formats/log.
func checkCheckpointFile(t *testing.T, dir string, l *Ledger, size uint64, root []byte) {
	t.Helper()
	pub := readFile(t, filepath.Join(dir, fileCheckpoint))
	cp, ext, n, err := log.ParseCheckpoint(pub, l.Origin(), l.Verifier())
	if err != nil {
		t.Fatalf("formats/log.ParseCheckpoint: %v\n%s", err, pub)
	}
	if cp.Size != size || !bytes.Equal(cp.Hash, root) || cp.Origin != l.Origin() {
		t.Fatalf("checkpoint = %+v, want size %d root %x origin %s", cp, size, root, l.Origin())
	}
	if !strings.HasPrefix(string(ext), timestampPrefix) {
		t.Errorf("checkpoint extension lines %q lack the timestamp", ext)
	}
	if len(n.Sigs) != 1 || n.Sigs[0].Name != l.Origin() {
		t.Errorf("checkpoint signatures %+v, want one by %s", n.Sigs, l.Origin())
	}
	// The published verifier key opens it too.
	vk, err := ReadVerifierKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vk)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseCheckpoint(pub, v)
	if err != nil || got.Size != size || !bytes.Equal(got.Root, root) || got.Time.IsZero() {
		t.Fatalf("ParseCheckpoint = %+v, %v", got, err)
	}
	// A different key must not accept it.
	_, other, _ := note.GenerateKey(rand.Reader, l.Origin())
	ov, _ := note.NewVerifier(other)
	if _, err := ParseCheckpoint(pub, ov); err == nil {
		t.Fatal("checkpoint verifies with an unrelated key of the same name")
	}
	ents, _, err := readCheckpointLog(filepath.Join(dir, fileCheckpoints))
	if err != nil || len(ents) == 0 {
		t.Fatalf("checkpoints.log: %d entries, %v", len(ents), err)
	}
	for i, e := range ents {
		if _, _, _, err := log.ParseCheckpoint(e.Note, l.Origin(), l.Verifier()); err != nil {
			t.Fatalf("checkpoints.log entry %d: %v", i, err)
		}
	}
	if !bytes.Equal(ents[len(ents)-1].Note, pub) {
		t.Fatal("the published checkpoint is not the last entry of checkpoints.log")
	}
}

func clone2(p [][]byte) [][]byte {
	q := make([][]byte, len(p))
	for i := range p {
		q[i] = bytes.Clone(p[i])
	}
	return q
}

func TestProofRequestsOutOfRange(t *testing.T) {
	l := openLedger(t, testOptions(t.TempDir()))
	appendRecs(t, l, smallRecords(0, 5))
	inclusion := []struct{ index, size uint64 }{{0, 0}, {5, 5}, {0, 6}, {7, 6}, {^uint64(0), 5}}
	for _, c := range inclusion {
		if _, _, err := l.InclusionProof(c.index, c.size); !errors.Is(err, ErrOutOfRange) {
			t.Errorf("InclusionProof(%d, %d) = %v, want ErrOutOfRange", c.index, c.size, err)
		}
	}
	consistency := []struct{ from, to uint64 }{{0, 3}, {4, 3}, {1, 6}, {0, 0}}
	for _, c := range consistency {
		if _, err := l.ConsistencyProof(c.from, c.to); !errors.Is(err, ErrOutOfRange) {
			t.Errorf("ConsistencyProof(%d, %d) = %v, want ErrOutOfRange", c.from, c.to, err)
		}
	}
	if _, err := l.LeafHash(5); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("LeafHash(5) = %v, want ErrOutOfRange", err)
	}
	if p, err := l.ConsistencyProof(5, 5); err != nil || len(p) != 0 {
		t.Errorf("ConsistencyProof(5, 5) = %d hashes, %v; want an empty proof", len(p), err)
	}
}

// TestEmptyLedger covers a ledger created without an initialization record:
// its first checkpoint is of the empty tree.
func TestEmptyLedger(t *testing.T) {
	dir := t.TempDir()
	l := openLedger(t, testOptions(dir))
	if !l.Recovery.Created || l.Size() != 0 {
		t.Fatalf("new ledger: Recovery %+v, size %d", l.Recovery, l.Size())
	}
	cp := l.LatestCheckpoint()
	if cp == nil || cp.Size != 0 || !bytes.Equal(cp.Root, hasher.EmptyRoot()) {
		t.Fatalf("first checkpoint %+v, want the empty tree", cp)
	}
	closeLedger(t, l)
	res := mustVerify(t, dir)
	if res.Leaves != 0 || !bytes.Equal(res.Root, hasher.EmptyRoot()) {
		t.Fatalf("Verify of an empty ledger: %+v", res)
	}
	if s := res.Summary(); strings.Contains(s, "NaN") || strings.Contains(s, "Inf") {
		t.Errorf("Summary = %q", s)
	}
	// Reopening without a checkpoint log re-signs the empty tree.
	if err := os.Remove(filepath.Join(dir, fileCheckpoints)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, fileCheckpoint)); err != nil {
		t.Fatal(err)
	}
	l = openLedger(t, testOptions(dir))
	if cp := l.LatestCheckpoint(); cp == nil || !bytes.Equal(cp.Root, hasher.EmptyRoot()) {
		t.Fatalf("re-signed checkpoint %+v, want the empty tree", cp)
	}
	appendRecs(t, l, smallRecords(0, 3))
	closeLedger(t, l)
	mustVerify(t, dir)
}
