package ledger

import (
	"testing"
)

func TestRecentBlocksEvictsOldest(t *testing.T) {
	c := newRecentPayloads(10)
	c.add(0, []byte("aaaa"))
	c.add(4, []byte("bbbb"))
	c.add(8, []byte("cccc")) // 12 bytes: the oldest goes
	if _, ok := c.get(0); ok {
		t.Fatal("oldest block kept past the bound")
	}
	for _, k := range []uint64{4, 8} {
		if p, ok := c.get(k); !ok || len(p) != 4 {
			t.Fatalf("block %d: %q %v", k, p, ok)
		}
	}
	c.add(12, make([]byte, 11)) // larger than the bound: not kept
	if _, ok := c.get(12); ok {
		t.Fatal("block larger than the bound kept")
	}
	var none *recentBlocks[[]byte]
	none.add(1, []byte("x"))
	if _, ok := none.get(1); ok {
		t.Fatal("nil cache returned a block")
	}
}

// TestReadsWithAndWithoutRecent: reads give the same records whether the
// blocks come from the recent payloads or from disk.
func TestReadsWithAndWithoutRecent(t *testing.T) {
	for _, recent := range []int64{-1, 1 << 10, 0} {
		o := testOptions(t.TempDir())
		o.RecentBytes = recent
		o.SegmentBytes = 8 << 10
		l := openLedger(t, o)
		g := newRecGen(uint64(recent + 2))
		var all [][]byte
		for range 20 {
			b := g.batch(7)
			appendRecs(t, l, b)
			all = append(all, b...)
		}
		checkRecords(t, l, all)
	}
}
