package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// ledgerTiles serves a ledger's tiles to golang.org/x/mod/sumdb/tlog's
// TileHashReader, as a remote tlog-tiles client would fetch them.
type ledgerTiles struct{ l *Ledger }

func (r ledgerTiles) Height() int { return 8 }

func (r ledgerTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := r.l.Tile(servedPath(t))
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (r ledgerTiles) SaveTiles([]tlog.Tile, [][]byte) {}

// servedPath is the tlog-tiles path of t ("tile/<L>/<N>[.p/<W>]"): tlog's
// Path with the height element removed.
func servedPath(t tlog.Tile) string {
	return "tile/" + strings.TrimPrefix(t.Path(), fmt.Sprintf("tile/%d/", t.H))
}

// TestTiles checks every hash tile at a series of checkpoints against tiles
// computed independently with tlog, and that a tlog client proves inclusion
// and consistency from the served tiles.
func TestTiles(t *testing.T) {
	// Sizes chosen for empty, partial and full tiles at levels 0, 1 and 2.
	sizes := []int{1, 7, 255, 256, 257, 511, 512, 1000, 65536, 65536 + 256*3 + 5}
	l := openLedger(t, testOptions(t.TempDir()))
	mem := &memTree{}
	n := 0
	var prev tlog.Tree
	for _, size := range sizes {
		for n < size {
			k := min(size-n, 4096)
			recs := smallRecords(n, k)
			appendRecs(t, l, recs)
			mem.add(t, recs...)
			n += k
		}
		if err := l.signNow(); err != nil {
			t.Fatal(err)
		}
		tree := tlog.Tree{N: int64(size), Hash: mem.root(t, int64(size))}
		t.Run(fmt.Sprint("size=", size), func(t *testing.T) {
			tiles := tlog.NewTiles(8, 0, tree.N)
			for _, tile := range tiles {
				want, err := tlog.ReadTileData(tile, mem)
				if err != nil {
					t.Fatal(err)
				}
				got, err := l.Tile(servedPath(tile))
				if err != nil {
					t.Fatalf("Tile(%s): %v", servedPath(tile), err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("Tile(%s) differs from the tile computed with tlog", servedPath(tile))
				}
				checkTileWidths(t, l, tile, got)
			}
			checkBadTilePaths(t, l, tree.N)

			// A standard tlog client proves records and tree growth from the tiles.
			thr := tlog.TileHashReader(tree, ledgerTiles{l})
			if th, err := tlog.TreeHash(tree.N, thr); err != nil || th != tree.Hash {
				t.Fatalf("TreeHash over tiles = %v, %v; want %v", th, err, tree.Hash)
			}
			for _, idx := range []int64{0, 1, tree.N / 3, tree.N / 2, tree.N - 2, tree.N - 1} {
				if idx < 0 || idx >= tree.N {
					continue
				}
				p, err := tlog.ProveRecord(tree.N, idx, thr)
				if err != nil {
					t.Fatalf("ProveRecord(%d, %d) over tiles: %v", tree.N, idx, err)
				}
				if err := tlog.CheckRecord(p, tree.N, tree.Hash, idx, tlog.RecordHash(smallRecord(int(idx)))); err != nil {
					t.Fatalf("CheckRecord(%d in %d): %v", idx, tree.N, err)
				}
			}
			if prev.N > 0 {
				p, err := tlog.ProveTree(tree.N, prev.N, thr)
				if err != nil {
					t.Fatalf("ProveTree(%d, %d) over tiles: %v", tree.N, prev.N, err)
				}
				if err := tlog.CheckTree(p, tree.N, tree.Hash, prev.N, prev.Hash); err != nil {
					t.Fatalf("CheckTree(%d→%d): %v", prev.N, tree.N, err)
				}
			}
		})
		prev = tree
	}
}

// checkTileWidths checks that tile is not served wider than the
// checkpointed tree has it, and narrower as a prefix (for clients verifying
// an older checkpoint).
func checkTileWidths(t *testing.T, l *Ledger, tile tlog.Tile, full []byte) {
	t.Helper()
	for _, w := range []int{tile.W + 1, 256} {
		if w > tile.W {
			wt := tile
			wt.W = w
			if _, err := l.Tile(servedPath(wt)); !errors.Is(err, ErrOutOfRange) {
				t.Fatalf("Tile(%s) for a tile of width %d = %v, want ErrOutOfRange", servedPath(wt), tile.W, err)
			}
		}
	}
	for _, w := range []int{1, tile.W / 2, tile.W - 1} {
		if w > 0 && w < tile.W {
			wt := tile
			wt.W = w
			b, err := l.Tile(servedPath(wt))
			if err != nil || !bytes.Equal(b, full[:w*tlog.HashSize]) {
				t.Fatalf("Tile(%s) of a tile of width %d = %d bytes, %v; want its prefix", servedPath(wt), tile.W, len(b), err)
			}
		}
	}
}

func checkBadTilePaths(t *testing.T, l *Ledger, size int64) {
	t.Helper()
	beyond := tlog.TileForIndex(8, tlog.StoredHashIndex(0, size))
	beyond.N++
	beyond.W = 256
	bad := []string{
		servedPath(beyond),
		"tile/entries/000",
		"tile/data/000",
		"tile/0/000.p/0",
		"tile/0/000.p/256",
		"tile/0/000.p/-1",
		"tile/0/x000",
		"tile/0/1000",
		"tile/0/0",
		"tile/-1/000",
		"tile/8/000",
		"tile/63/000",
		"tile/2305843009213693952/000",
		"tile/4611686018427387904/000",
		"tile/0/x999/x999/x999/x999/x999/x999/x999/999",
		"tile/0",
		"tile/",
		"000",
		"",
		"tile/0/000/",
		"/tile/0/000",
		"tile//000",
	}
	for _, p := range bad {
		if b, err := l.Tile(p); !errors.Is(err, ErrOutOfRange) {
			t.Errorf("Tile(%q) = %d bytes, %v; want ErrOutOfRange", p, len(b), err)
		}
	}
}

func TestTileBeforeCheckpoint(t *testing.T) {
	l := openLedger(t, testOptions(t.TempDir()))
	appendRecs(t, l, smallRecords(0, 10))
	// The latest checkpoint is of the empty tree: no tile exists yet.
	if _, err := l.Tile("tile/0/000.p/10"); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("Tile before a checkpoint covers the records = %v, want ErrOutOfRange", err)
	}
	if err := l.signNow(); err != nil {
		t.Fatal(err)
	}
	if b, err := l.Tile("tile/0/000.p/10"); err != nil || len(b) != 10*tlog.HashSize {
		t.Fatalf("Tile after checkpoint = %d bytes, %v", len(b), err)
	}
}
