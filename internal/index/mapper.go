package index

import (
	"context"
	"errors"
	"fmt"
)

// mapper reads ledger records and computes their rows.
type mapper struct {
	x    *Index
	vals []cell
	row  row
	b    builder
}

// batchResult is what one batch covered.
type batchResult struct {
	next                      uint64 // cursor after the batch
	rows                      uint64
	skipped, invalid, missing uint64
	unknown                   map[string]uint64
	// marks places the counts by seq, so that a flush that ends inside
	// the batch adds those of its part to the file's counters.
	marks []mark
}

// mark counts records of a batch that have no row: a skipped or invalid
// record at seq, or missing records, the last of them at seq.
type mark struct {
	seq                       uint64
	skipped, invalid, missing uint64
}

// stageRange maps the records from <= seq < to into chunks of their own,
// for a stage, accounting for them in res; sequence numbers the source
// does not return (expired by retention) are counted as missing.
func (mp *mapper) stageRange(ctx context.Context, src Source, from, to uint64, res *batchResult) ([]*chunk, error) {
	*res = batchResult{next: from}
	mp.b.start(to)
	x := mp.x
	r := &mp.row
	err := src.ReadRange(from, to, func(seq uint64, rec []byte) error {
		if seq < res.next || seq >= to {
			return fmt.Errorf("source returned seq %d, want %d or more and below %d", seq, res.next, to)
		}
		if seq&63 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if seq > res.next {
			res.missing += seq - res.next
			res.marks = append(res.marks, mark{seq: seq - 1, missing: seq - res.next})
		}
		res.next = seq + 1
		if err := r.rec.UnmarshalBinary(rec); err != nil {
			res.invalid++
			res.marks = append(res.marks, mark{seq: seq, invalid: 1})
			x.log.Error("index: undecodable record skipped", "seq", seq, "err", err)
			return nil
		}
		m := mappings[r.rec.Table]
		if m == nil {
			res.skipped++
			res.marks = append(res.marks, mark{seq: seq, skipped: 1})
			if res.unknown == nil {
				res.unknown = make(map[string]uint64)
			}
			res.unknown[r.rec.Table]++
			x.noteUnknown(r.rec.Table, seq)
			return nil
		}
		r.seq = seq
		mp.vals = m.values(mp.vals[:0], r)
		if err := mp.b.add(m.table, seq, mp.vals); err != nil {
			return fmt.Errorf("seq %d: %s: %w", seq, m.table, err)
		}
		res.rows++
		return nil
	})
	clear(mp.vals) // drop references to the source's buffers
	if err != nil {
		return nil, fmt.Errorf("read [%d, %d): %w", from, to, err)
	}
	if res.next < to {
		// The rest of the range expired (retention): counted as missing.
		res.missing += to - res.next
		res.marks = append(res.marks, mark{seq: to - 1, missing: to - res.next})
		res.next = to
	}
	return mp.b.chunks, nil
}

// errAborted fails a batch whose predecessor failed.
var errAborted = errors.New("an earlier batch failed")

// noteUnknown logs the first record of each table without a mapping.
func (x *Index) noteUnknown(table string, seq uint64) {
	x.mu.Lock()
	first := !x.seen[table]
	x.seen[table] = true
	x.mu.Unlock()
	if first {
		x.log.Warn("index: records of a table without a mapping are skipped", "table", table, "first_seq", seq)
	}
}
