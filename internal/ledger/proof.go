package ledger

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// ErrOutOfRange reports a proof or tile request beyond the current tree.
var ErrOutOfRange = errors.New("beyond the current tree")

// InclusionProof returns the RFC 6962 audit path of leaf index in the tree
// of the given size, and that tree's root.
func (l *Ledger) InclusionProof(index, size uint64) (proof [][]byte, root []byte, err error) {
	if cur := l.Size(); size > cur || index >= size {
		return nil, nil, fmt.Errorf("%w: inclusion of leaf %d in tree of size %d (tree has %d leaves)", ErrOutOfRange, index, size, cur)
	}
	p, err := tlog.ProveRecord(int64(size), int64(index), l.hashes)
	if err != nil {
		return nil, nil, fmt.Errorf("prove leaf %d in size %d: %w", index, size, err)
	}
	th, err := tlog.TreeHash(int64(size), l.hashes)
	if err != nil {
		return nil, nil, err
	}
	return hashesToBytes(p), th[:], nil
}

// ConsistencyProof returns the RFC 6962 proof that the tree of size from is
// a prefix of the tree of size to.
func (l *Ledger) ConsistencyProof(from, to uint64) ([][]byte, error) {
	if cur := l.Size(); to > cur || from > to || from == 0 {
		return nil, fmt.Errorf("%w: consistency from %d to %d needs 0 < from <= to <= %d", ErrOutOfRange, from, to, cur)
	}
	p, err := tlog.ProveTree(int64(to), int64(from), l.hashes)
	if err != nil {
		return nil, fmt.Errorf("prove consistency %d..%d: %w", from, to, err)
	}
	return hashesToBytes(p), nil
}

// LeafHash returns the stored leaf hash of index.
func (l *Ledger) LeafHash(index uint64) ([]byte, error) {
	if index >= l.Size() {
		return nil, fmt.Errorf("%w: leaf %d", ErrOutOfRange, index)
	}
	h, err := l.hashes.ReadHashes([]int64{tlog.StoredHashIndex(0, int64(index))})
	if err != nil {
		return nil, err
	}
	return h[0][:], nil
}

// Tile returns the hash tile at path in the c2sp.org/tlog-tiles layout
// ("tile/<L>/<N>[.p/<W>]", height 8) if the latest signed checkpoint covers
// all of it.
func (l *Ledger) Tile(path string) ([]byte, error) {
	rest, ok := strings.CutPrefix(path, "tile/")
	if !ok || strings.HasPrefix(rest, "entries/") {
		return nil, fmt.Errorf("%w: %q is not a hash tile path", ErrOutOfRange, path)
	}
	t, err := tlog.ParseTilePath("tile/8/" + rest)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOutOfRange, err)
	}
	// A tree of fewer than 2^63 leaves has hash tiles up to level 7; larger
	// levels would overflow the level arithmetic below and in tlog.
	if t.L < 0 || t.L > 7 {
		return nil, fmt.Errorf("%w: tile %s: no such level", ErrOutOfRange, path)
	}
	cp := l.LatestCheckpoint()
	if cp == nil {
		return nil, fmt.Errorf("%w: no checkpoint yet", ErrOutOfRange)
	}
	// Hashes at tile level L are tree level 8L; the tree of size n has
	// n >> 8L of them. A tile is served in any width up to what that tree
	// has: a narrower one is a prefix, which clients still verifying an
	// older checkpoint ask for.
	have := int64(cp.Size >> (8 * uint(t.L)))
	start := t.N << 8
	if start >= have {
		return nil, fmt.Errorf("%w: tile %s beyond checkpoint size %d", ErrOutOfRange, path, cp.Size)
	}
	if w := min(have-start, 256); int64(t.W) > w {
		return nil, fmt.Errorf("%w: tile %s is wider than %d at checkpoint size %d", ErrOutOfRange, path, w, cp.Size)
	}
	return tlog.ReadTileData(t, l.hashes)
}

func hashesToBytes(hs []tlog.Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = append([]byte(nil), hs[i][:]...)
	}
	return out
}
