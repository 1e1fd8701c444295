package ledger

import "sync"

// recentBlocks keeps the uncompressed payloads of the last blocks
// committed, so that the consumers tailing the ledger (index, detector)
// read what was just appended without decompressing it again. Bounded by
// bytes; the oldest go first. Safe for concurrent use.
type recentBlocks struct {
	mu    sync.Mutex
	max   int64
	bytes int64
	byKey map[uint64][]byte // first leaf of the block → payload
	order []uint64          // first leaves, oldest first
}

func newRecentBlocks(max int64) *recentBlocks {
	return &recentBlocks{max: max, byKey: map[uint64][]byte{}}
}

// add keeps the payload of the committed block starting at leaf first.
// The payload must not change afterwards.
func (c *recentBlocks) add(first uint64, plain []byte) {
	if c == nil || int64(len(plain)) > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byKey[first] = plain
	c.order = append(c.order, first)
	c.bytes += int64(len(plain))
	for c.bytes > c.max && len(c.order) > 0 {
		old := c.order[0]
		c.order = c.order[1:]
		c.bytes -= int64(len(c.byKey[old]))
		delete(c.byKey, old)
	}
}

// get returns the payload of the block starting at leaf first, if kept.
func (c *recentBlocks) get(first uint64) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.byKey[first]
	return p, ok
}
