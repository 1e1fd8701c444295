package ledger

import "sync"

// recentBlocks keeps a value for each of the last blocks committed, keyed
// by the block's first leaf and bounded by the sum of the values' sizes;
// the oldest go first. The ledger keeps two: the uncompressed payloads, so
// that the consumers tailing it (index, detector) read what was just
// appended without decompressing it again, and the blocks' digests, so
// that the integrity monitor checks new blocks without re-hashing their
// records. Safe for concurrent use; a nil recentBlocks keeps nothing.
type recentBlocks[V any] struct {
	mu    sync.Mutex
	max   int64
	bytes int64
	size  func(V) int64
	byKey map[uint64]V // first leaf of the block → value
	order []uint64     // first leaves, oldest first
}

func newRecentBlocks[V any](max int64, size func(V) int64) *recentBlocks[V] {
	return &recentBlocks[V]{max: max, size: size, byKey: map[uint64]V{}}
}

// newRecentPayloads keeps uncompressed block payloads, up to max bytes.
func newRecentPayloads(max int64) *recentBlocks[[]byte] {
	return newRecentBlocks(max, func(p []byte) int64 { return int64(len(p)) })
}

// add keeps v for the committed block starting at leaf first. The value
// must not change afterwards.
func (c *recentBlocks[V]) add(first uint64, v V) {
	if c == nil {
		return
	}
	n := c.size(v)
	if n > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byKey[first] = v
	c.order = append(c.order, first)
	c.bytes += n
	for c.bytes > c.max && len(c.order) > 0 {
		old := c.order[0]
		c.order = c.order[1:]
		c.bytes -= c.size(c.byKey[old])
		delete(c.byKey, old)
	}
}

// get returns the value of the block starting at leaf first, if kept.
func (c *recentBlocks[V]) get(first uint64) (V, bool) {
	if c == nil {
		var zero V
		return zero, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.byKey[first]
	return v, ok
}
