package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"
)

// errStop ends a scan early without error.
var errStop = errors.New("stop scan")

// scanSegment calls fn for every block of seg, in order, with the block's
// header, compressed payload (valid only during the call) and byte offset.
// Blocks whose records all precede from are skipped by their header alone,
// without reading or checksumming their payload; the leaf numbers of the
// blocks must follow on, which exposes a damaged skipped header. It stops at
// the end of the file; a torn or damaged block is an error.
func (l *Ledger) scanSegment(seg segmentInfo, from uint64, fn func(h blockHeader, payload []byte, off int64) error) error {
	if seg.expired != nil {
		return nil // records expired: nothing to read
	}
	f, err := os.Open(seg.path)
	if errors.Is(err, os.ErrNotExist) && l.expiredNow(seg.first) {
		return nil // expired while being read
	}
	if err != nil {
		return fmt.Errorf("open segment: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	var hdr [blockPrefixSize + blockHdrSize]byte
	if _, err := f.ReadAt(hdr[:segmentHdrSize], 0); err != nil {
		return fmt.Errorf("segment %s: read header: %w", seg.path, err)
	}
	if first, err := parseSegmentHeader(hdr[:segmentHdrSize]); err != nil || first != seg.first {
		return fmt.Errorf("segment %s: bad header (first %d): %v", seg.path, first, err)
	}
	off, next := l.startOf(seg, from)
	var buf []byte
	for {
		k, err := f.ReadAt(hdr[:], off)
		if k == 0 && err == io.EOF {
			return nil
		} else if k < len(hdr) {
			return fmt.Errorf("segment %s offset %d: %w", seg.path, off, errShortBlock)
		}
		n := binary.BigEndian.Uint32(hdr[:4])
		if n < blockHdrSize || n > maxBlockBody {
			return fmt.Errorf("segment %s offset %d: %w: length %d", seg.path, off, errBadBlock, n)
		}
		// Do not allocate for a length the file cannot hold (damage, or a
		// block still being written); the file only grows meanwhile.
		end := off + blockPrefixSize + int64(n)
		if end > st.Size() {
			if st, err = f.Stat(); err != nil {
				return err
			}
			if end > st.Size() {
				return fmt.Errorf("segment %s offset %d: %w", seg.path, off, errShortBlock)
			}
		}
		first, count := binary.BigEndian.Uint64(hdr[8:16]), binary.BigEndian.Uint32(hdr[16:20])
		if first != next {
			return fmt.Errorf("segment %s offset %d: %w: block starts at leaf %d, want %d", seg.path, off, errBadBlock, first, next)
		}
		if first+uint64(count) > from {
			if cap(buf) < int(end-off) {
				buf = make([]byte, end-off)
			}
			buf = buf[:end-off]
			if _, err := f.ReadAt(buf, off); err != nil {
				return fmt.Errorf("segment %s offset %d: %w", seg.path, off, errShortBlock)
			}
			h, payload, _, err := parseBlock(buf)
			if err != nil {
				return fmt.Errorf("segment %s offset %d: %w", seg.path, off, err)
			}
			if err := fn(h, payload, off); err != nil {
				return err
			}
		}
		off, next = end, first+uint64(count)
	}
}

// startOf returns where to start reading seg for leaves from on: the
// block holding from when seg is the last segment (whose blocks are
// indexed), else the segment's first block.
func (l *Ledger) startOf(seg segmentInfo, from uint64) (int64, uint64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if from <= seg.first || len(l.segments) == 0 || l.segments[len(l.segments)-1].first != seg.first || len(l.blocks) == 0 {
		return segmentHdrSize, seg.first
	}
	i := sort.Search(len(l.blocks), func(i int) bool { return l.blocks[i].first > from }) - 1
	if i < 0 {
		return segmentHdrSize, seg.first
	}
	return l.blocks[i].off, l.blocks[i].first
}

// expiredNow reports whether the segment at first has expired.
func (l *Ledger) expiredNow(first uint64) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, s := range l.segments {
		if s.first == first {
			return s.expired != nil
		}
	}
	return false
}

// segmentsFrom returns the segments holding leaves at or after seq.
func (l *Ledger) segmentsFrom(seq uint64) []segmentInfo {
	l.mu.RLock()
	segs := append([]segmentInfo(nil), l.segments...)
	l.mu.RUnlock()
	i := sort.Search(len(segs), func(i int) bool { return segs[i].first > seq })
	if i > 0 {
		i--
	}
	return segs[i:]
}

// readRange calls fn for each record with from <= seq < to.
func (l *Ledger) readRange(from, to uint64, fn func(seq uint64, rec []byte) error) error {
	if from >= to {
		return nil
	}
	dec := l.decoder()
	defer l.decoders.Put(dec)
	var plain []byte
	for _, seg := range l.segmentsFrom(from) {
		err := l.scanSegment(seg, from, func(h blockHeader, payload []byte, off int64) error {
			if h.first >= to {
				return errStop
			}
			var recs [][]byte
			var err error
			if kept, ok := l.recent.get(h.first); ok {
				recs, err = splitRecords(kept, h.count)
			} else {
				recs, plain, err = decodeRecords(dec, payload, h.count, plain)
			}
			if err != nil {
				return fmt.Errorf("segment %s offset %d (leaf %d): %w", seg.path, off, h.first, err)
			}
			for i, rec := range recs {
				seq := h.first + uint64(i)
				if seq < from || seq >= to {
					continue
				}
				if err := fn(seq, rec); err != nil {
					return err
				}
			}
			if h.first+uint64(h.count) >= to {
				return errStop // later blocks may still be being written
			}
			return nil
		})
		if errors.Is(err, errStop) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// ReadRange calls fn, in order, for each durable record with
// from <= seq < to (to is capped at Size) that has not expired (Expire):
// expired leaves are skipped. rec is valid only during the call and must
// not be modified.
func (l *Ledger) ReadRange(from, to uint64, fn func(seq uint64, rec []byte) error) error {
	if size := l.Size(); to > size {
		to = size
	}
	return l.readRange(from, to, fn)
}

// ScanSince calls fn for every durable record committed at or after t, in
// order. Blocks committed earlier are skipped without decompression.
func (l *Ledger) ScanSince(t time.Time, fn func(seq uint64, rec []byte) error) error {
	l.mu.RLock()
	segs := append([]segmentInfo(nil), l.segments...)
	size := l.size
	l.mu.RUnlock()
	// Find the newest segment whose first block was committed before t.
	// Blocks at or beyond size may still be being written: never read them.
	start := 0
	for i := len(segs) - 1; i >= 0; i-- {
		if segs[i].first >= size {
			continue
		}
		var first int64
		err := l.scanSegment(segs[i], 0, func(h blockHeader, _ []byte, _ int64) error {
			first = h.commit
			return errStop
		})
		if err != nil && !errors.Is(err, errStop) {
			return err
		}
		if first != 0 && first < t.UnixNano() {
			start = i
			break
		}
	}
	dec := l.decoder()
	defer l.decoders.Put(dec)
	var plain []byte
	for _, seg := range segs[start:] {
		if seg.first >= size {
			break
		}
		err := l.scanSegment(seg, 0, func(h blockHeader, payload []byte, off int64) error {
			if h.first >= size {
				return errStop
			}
			if h.commit >= t.UnixNano() {
				recs, p, err := decodeRecords(dec, payload, h.count, plain)
				plain = p
				if err != nil {
					return fmt.Errorf("segment %s offset %d (leaf %d): %w", seg.path, off, h.first, err)
				}
				for i, rec := range recs {
					if err := fn(h.first+uint64(i), rec); err != nil {
						return err
					}
				}
			}
			if h.first+uint64(h.count) >= size {
				return errStop // later blocks may still be being written
			}
			return nil
		})
		if errors.Is(err, errStop) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// SeqAt returns the first leaf committed at or after t, or Size if none
// was. Expired leaves count by their segment's last commit time.
func (l *Ledger) SeqAt(t time.Time) (uint64, error) {
	l.mu.RLock()
	segs := append([]segmentInfo(nil), l.segments...)
	size := l.size
	l.mu.RUnlock()
	ns := t.UnixNano()
	// Start at the newest segment whose first block was committed before t.
	start := 0
	for i := len(segs) - 1; i >= 0; i-- {
		if segs[i].expired != nil || segs[i].first >= size {
			continue
		}
		var first int64
		err := l.scanSegment(segs[i], 0, func(h blockHeader, _ []byte, _ int64) error {
			first = h.commit
			return errStop
		})
		if err != nil && !errors.Is(err, errStop) {
			return 0, err
		}
		if first != 0 && first < ns {
			start = i
			break
		}
	}
	for _, seg := range segs[start:] {
		if seg.first >= size {
			break
		}
		if t := seg.expired; t != nil {
			if t.LastCommit.UnixNano() >= ns {
				return t.First, nil
			}
			continue
		}
		found := size
		err := l.scanSegment(seg, 0, func(h blockHeader, _ []byte, _ int64) error {
			if h.first >= size {
				return errStop
			}
			if h.commit >= ns {
				found = h.first
				return errStop
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			return 0, err
		}
		if found < size {
			return found, nil
		}
	}
	return size, nil
}
