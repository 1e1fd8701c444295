package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/tlog"
)

// concRecord is record c of appender g: unique, and says who wrote it.
func concRecord(g, c int) []byte {
	return fmt.Appendf(nil, "appender %d record %d %s", g, c, strings.Repeat("y", (g*31+c)%97))
}

func parseConcRecord(r []byte) (g, c int, err error) {
	_, err = fmt.Sscanf(string(r), "appender %d record %d", &g, &c)
	return g, c, err
}

// TestConcurrentAppendAndRead runs appenders next to readers of proofs,
// ranges, tiles and checkpoints, with segment rotation and checkpoint
// signing going on. Run with -race.
func TestConcurrentAppendAndRead(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(dir)
	o.SegmentBytes = 16 << 10
	o.CheckpointInterval = 5 * time.Millisecond
	l := openLedger(t, o)

	const appenders, perAppender = 8, 40
	type ack struct {
		first uint64
		g, c  int
		n     int
	}
	acks := make(chan ack, appenders*perAppender)
	var wg sync.WaitGroup
	for g := range appenders {
		wg.Go(func() {
			c := 0
			for i := range perAppender {
				n := 1 + (g+i)%7
				recs := make([][]byte, n)
				for k := range recs {
					recs[k] = concRecord(g, c+k)
				}
				first, err := l.Append(context.Background(), recs)
				if err != nil {
					t.Errorf("appender %d: %v", g, err)
					return
				}
				acks <- ack{first, g, c, n}
				c += n
			}
		})
	}

	stop := make(chan struct{})
	var readers sync.WaitGroup
	var reads atomic.Int64
	for r := range 4 {
		readers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 99))
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := concurrentRead(l, rng, r); err != nil {
					t.Error(err)
					return
				}
				reads.Add(1)
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(acks)
	t.Logf("%d reads during the appends", reads.Load())

	recs := readAll(t, l)
	seen := make(map[string]bool, len(recs))
	for _, r := range recs {
		if seen[string(r)] {
			t.Fatalf("record %q stored twice", trunc(r))
		}
		seen[string(r)] = true
	}
	total := 0
	for a := range acks {
		total += a.n
		for k := range a.n {
			if got, want := recs[a.first+uint64(k)], concRecord(a.g, a.c+k); !bytes.Equal(got, want) {
				t.Fatalf("leaf %d = %q, want %q", a.first+uint64(k), trunc(got), trunc(want))
			}
		}
	}
	if total != len(recs) {
		t.Fatalf("%d records acknowledged, %d stored", total, len(recs))
	}
	// Each appender's records are in its own order.
	last := map[int]int{}
	for i, r := range recs {
		g, c, err := parseConcRecord(r)
		if err != nil {
			t.Fatalf("leaf %d: %v", i, err)
		}
		if prev, ok := last[g]; ok && c != prev+1 {
			t.Fatalf("leaf %d: appender %d record %d follows its record %d", i, g, c, prev)
		}
		last[g] = c
	}
	closeLedger(t, l)
	mustVerify(t, dir)
}

// concurrentRead performs one random read and checks what it returns.
func concurrentRead(l *Ledger, rng *rand.Rand, kind int) error {
	size := l.Size()
	if size == 0 {
		return nil
	}
	switch kind {
	case 0: // inclusion proof against the returned root, checked with the leaf hash
		idx := rng.Uint64N(size)
		p, root, err := l.InclusionProof(idx, size)
		if err != nil {
			return fmt.Errorf("InclusionProof(%d, %d): %w", idx, size, err)
		}
		leaf, err := l.LeafHash(idx)
		if err != nil {
			return err
		}
		if err := proof.VerifyInclusion(hasher, idx, size, leaf, p, root); err != nil {
			return fmt.Errorf("inclusion %d/%d: %w", idx, size, err)
		}
		var rec []byte
		if err := l.ReadRange(idx, idx+1, func(_ uint64, r []byte) error { rec = bytes.Clone(r); return nil }); err != nil {
			return err
		}
		if !bytes.Equal(hasher.HashLeaf(rec), leaf) {
			return fmt.Errorf("record %d does not match its leaf hash", idx)
		}
	case 1: // a range read sees consecutive records
		from := rng.Uint64N(size)
		to := from + rng.Uint64N(50)
		next := from
		err := l.ReadRange(from, to, func(seq uint64, rec []byte) error {
			if seq != next {
				return fmt.Errorf("ReadRange(%d, %d) gave %d, want %d", from, to, seq, next)
			}
			if _, _, err := parseConcRecord(rec); err != nil {
				return fmt.Errorf("leaf %d: %w", seq, err)
			}
			next++
			return nil
		})
		if err != nil {
			return err
		}
		if want := min(to, size); next < want {
			return fmt.Errorf("ReadRange(%d, %d) stopped at %d, size was %d", from, to, next, size)
		}
	case 2: // tiles and consistency between checkpoints
		cp := l.LatestCheckpoint()
		if cp == nil || cp.Size == 0 {
			return nil
		}
		tree := tlog.Tree{N: int64(cp.Size), Hash: tlog.Hash(cp.Root)}
		thr := tlog.TileHashReader(tree, ledgerTiles{l})
		idx := rng.Int64N(tree.N)
		p, err := tlog.ProveRecord(tree.N, idx, thr)
		if err != nil {
			return fmt.Errorf("ProveRecord over tiles (%d in %d): %w", idx, tree.N, err)
		}
		leaf, err := l.LeafHash(uint64(idx))
		if err != nil {
			return err
		}
		if err := tlog.CheckRecord(p, tree.N, tree.Hash, idx, tlog.Hash(leaf)); err != nil {
			return fmt.Errorf("CheckRecord over tiles: %w", err)
		}
		if size := l.Size(); size > cp.Size {
			cproof, err := l.ConsistencyProof(cp.Size, size)
			if err != nil {
				return err
			}
			_, root, err := l.InclusionProof(0, size)
			if err != nil {
				return err
			}
			if err := proof.VerifyConsistency(hasher, cp.Size, size, cproof, cp.Root, root); err != nil {
				return fmt.Errorf("consistency %d→%d: %w", cp.Size, size, err)
			}
		}
	case 3: // scans by commit time
		n := 0
		err := l.ScanSince(time.Now().Add(time.Hour), func(uint64, []byte) error { n++; return nil })
		if err != nil {
			return fmt.Errorf("ScanSince(future): %w", err)
		}
		if n != 0 {
			return fmt.Errorf("ScanSince(future) returned %d records", n)
		}
		var prev uint64
		first := true
		err = l.ScanSince(time.Now().Add(-5*time.Millisecond), func(seq uint64, _ []byte) error {
			if !first && seq != prev+1 {
				return fmt.Errorf("ScanSince gave %d after %d", seq, prev)
			}
			prev, first = seq, false
			return nil
		})
		if err != nil {
			return fmt.Errorf("ScanSince(recent): %w", err)
		}
	}
	return nil
}

// TestPushback: with a tiny pending limit some appends are refused, and
// nothing of a refused call is stored.
func TestPushback(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(dir)
	o.MaxPendingBytes = 1
	o.MaxBatchDelay = 2 * time.Millisecond // let requests queue up
	l := openLedger(t, o)
	var pushed, acked atomic.Int64
	var mu sync.Mutex
	accepted := map[string]bool{}
	refused := map[string]bool{}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for c := 0; c < 60; c += 3 {
				recs := [][]byte{concRecord(g, c), concRecord(g, c+1), concRecord(g, c+2)}
				_, err := l.Append(context.Background(), recs)
				mu.Lock()
				for _, r := range recs {
					switch {
					case err == nil:
						accepted[string(r)] = true
					case errors.Is(err, ErrPushback):
						refused[string(r)] = true
					}
				}
				mu.Unlock()
				switch {
				case err == nil:
					acked.Add(1)
				case errors.Is(err, ErrPushback):
					pushed.Add(1)
				default:
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d appends acknowledged, %d pushed back", acked.Load(), pushed.Load())
	if pushed.Load() == 0 {
		t.Fatal("no ErrPushback with MaxPendingBytes = 1")
	}
	if acked.Load() == 0 {
		t.Fatal("every append was refused")
	}
	recs := readAll(t, l)
	if len(recs) != len(accepted) {
		t.Fatalf("%d records stored, %d acknowledged", len(recs), len(accepted))
	}
	for _, r := range recs {
		if !accepted[string(r)] || refused[string(r)] {
			t.Fatalf("stored record %q was not acknowledged", trunc(r))
		}
	}
	if p := l.pending.Load(); p != 0 {
		t.Errorf("pending bytes %d after all appends returned", p)
	}
	closeLedger(t, l)
	mustVerify(t, dir)
}

// TestCloseDuringAppends: Close while appenders are busy never leaves an
// Append hanging, and every acknowledged record is stored.
func TestCloseDuringAppends(t *testing.T) {
	// Large random records make preparing an append slow, which widens the
	// window between an appender's first check for Close and its queueing.
	big := make([]byte, 256<<10)
	for i := range big {
		big[i] = byte(rand.Uint32())
	}
	for round := range 20 {
		dir := t.TempDir()
		l, err := Open(testOptions(dir))
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var acked [][]byte
		var wg sync.WaitGroup
		for g := range 32 {
			wg.Go(func() {
				for c := 0; ; c++ {
					rec := append(concRecord(g, c), big[(g*7+c)%1024:]...)
					_, err := l.Append(context.Background(), [][]byte{rec})
					if errors.Is(err, ErrClosed) {
						return
					}
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					acked = append(acked, rec)
					mu.Unlock()
				}
			})
		}
		time.Sleep(time.Duration(round%5) * time.Millisecond)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: Append still blocked 10s after Close", round)
		}
		l = openLedger(t, testOptions(dir))
		stored := map[string]bool{}
		for _, r := range readAll(t, l) {
			stored[string(r)] = true
		}
		for _, r := range acked {
			if !stored[string(r)] {
				t.Fatalf("round %d: acknowledged record %q lost", round, trunc(r))
			}
		}
		closeLedger(t, l)
	}
}

func TestAppendValidation(t *testing.T) {
	l := openLedger(t, testOptions(t.TempDir()))
	if _, err := l.Append(context.Background(), nil); err == nil {
		t.Error("Append of no records succeeded")
	}
	if _, err := l.Append(context.Background(), [][]byte{make([]byte, maxRecordSize+1)}); err == nil {
		t.Error("Append of an oversized record succeeded")
	}
	if _, err := l.Append(context.Background(), make([][]byte, maxBlockRecords+1)); err == nil {
		t.Error("Append of too many records succeeded")
	}
	if _, err := l.Append(context.Background(), make([][]byte, maxBlockRecords)); err != nil {
		t.Errorf("Append of %d empty records: %v", maxBlockRecords, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	want := uint64(maxBlockRecords)
	if _, err := l.Append(ctx, smallRecords(0, 1)); err == nil {
		want++ // queued before the cancellation was seen: acknowledged
	} else if !errors.Is(err, context.Canceled) {
		t.Errorf("Append with a cancelled context: %v", err)
	}
	// Empty records are records.
	first := l.Size()
	if first != want {
		t.Errorf("size %d, want %d", first, want)
	}
	appendRecs(t, l, [][]byte{{}, []byte("x"), {}})
	var got []string
	l.ReadRange(first, first+3, func(_ uint64, r []byte) error { got = append(got, string(r)); return nil })
	if strings.Join(got, "|") != "|x|" {
		t.Errorf("empty records read back as %q", got)
	}
}

// TestScanSince checks the commit-time scan across segments.
func TestScanSince(t *testing.T) {
	dir := t.TempDir()
	var now atomic.Int64
	now.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	o := testOptions(dir)
	o.SegmentBytes = 1 << 10
	o.Now = func() time.Time { return time.Unix(0, now.Load()) }
	l := openLedger(t, o)
	var times []time.Time
	var recs [][]byte
	for i := range 30 {
		now.Add(int64(time.Minute))
		times = append(times, time.Unix(0, now.Load()))
		batch := smallRecords(len(recs), 1+i%3)
		appendRecs(t, l, batch)
		recs = append(recs, batch...)
	}
	if n := len(segmentPaths(t, dir)); n < 3 {
		t.Fatalf("%d segments", n)
	}
	starts := []uint64{0}
	for i := range 30 {
		starts = append(starts, starts[i]+uint64(1+i%3))
	}
	for i, since := range times {
		var got []uint64
		err := l.ScanSince(since.Add(-time.Second), func(seq uint64, rec []byte) error {
			if !bytes.Equal(rec, recs[seq]) {
				return fmt.Errorf("leaf %d content", seq)
			}
			got = append(got, seq)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 || got[0] != starts[i] || got[len(got)-1] != uint64(len(recs)-1) || len(got) != len(recs)-int(starts[i]) {
			t.Fatalf("ScanSince(batch %d) = %d records from %v, want from %d", i, len(got), got[:min(1, len(got))], starts[i])
		}
	}
	n := 0
	if err := l.ScanSince(times[len(times)-1].Add(time.Second), func(uint64, []byte) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("ScanSince(after all) = %d, %v", n, err)
	}
}

// TestReadersStopAtCommitted: readers must not look past the committed
// records, where the committer may be in the middle of writing a block (or
// a new segment's first block).
func TestReadersStopAtCommitted(t *testing.T) {
	for _, newSegment := range []bool{false, true} {
		t.Run(fmt.Sprint("new segment=", newSegment), func(t *testing.T) {
			dir := t.TempDir()
			l := openLedger(t, testOptions(dir))
			var recs [][]byte
			for i := range 5 {
				batch := smallRecords(len(recs), 1+i)
				appendRecs(t, l, batch)
				recs = append(recs, batch...)
			}
			size := l.Size()
			if newSegment {
				// As the committer does when rotating, just before writing.
				if err := l.createSegment(size); err != nil {
					t.Fatal(err)
				}
			}
			segs := segmentPaths(t, dir)
			partial := makeBlock(size, smallRecords(100, 50))
			appendFile(t, segs[len(segs)-1], partial[:len(partial)/2])

			n := 0
			if err := l.ScanSince(time.Now().Add(time.Hour), func(uint64, []byte) error { n++; return nil }); err != nil || n != 0 {
				t.Errorf("ScanSince(future) = %d records, %v", n, err)
			}
			n = 0
			if err := l.ScanSince(time.Time{}, func(uint64, []byte) error { n++; return nil }); err != nil || n != len(recs) {
				t.Errorf("ScanSince(zero) = %d records, %v; want %d", n, err, len(recs))
			}
			checkRecords(t, l, recs)
			// The next commit overwrites the partial block.
			more := smallRecords(len(recs), 2)
			appendRecs(t, l, more)
			checkRecords(t, l, append(recs, more...))
			closeLedger(t, l)
			mustVerify(t, dir)
		})
	}
}

// TestReadRangeSkipsByHeader: reads of the last segment start at the
// block holding the first leaf asked for (its blocks are indexed), so
// damage in earlier blocks neither stops them nor turns into wrong
// records (finding it is the integrity monitor's job); reading the damaged
// block itself fails.
func TestReadRangeSkipsByHeader(t *testing.T) {
	tests := []struct {
		name string
		off  func(b blockInfo) int // byte of the block to change
	}{
		{"payload of a skipped block", func(b blockInfo) int { return b.off + b.total - 3 }},
		{"count of a skipped block", func(b blockInfo) int { return b.off + blockPrefixSize + 11 }},
		{"first leaf of a skipped block", func(b blockInfo) int { return b.off + blockPrefixSize + 7 }},
		{"length of a skipped block", func(b blockInfo) int { return b.off + 3 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLedger(t, testOptions(dir))
			var recs [][]byte
			for i := range 10 {
				batch := smallRecords(len(recs), 2+i%3)
				appendRecs(t, l, batch)
				recs = append(recs, batch...)
			}
			// Damage block 3 while the ledger is open.
			b := listBlocks(t, dir)[3]
			flipByte(t, b.seg, int64(tt.off(b)))
			from := b.first + b.count + 2
			next := from
			err := l.ReadRange(from, l.Size(), func(seq uint64, rec []byte) error {
				if seq != next || !bytes.Equal(rec, recs[seq]) {
					return fmt.Errorf("got leaf %d %q, want leaf %d %q", seq, rec, next, recs[next])
				}
				next++
				return nil
			})
			if err != nil || next != l.Size() {
				t.Fatalf("ReadRange past a damaged block: %v (read to %d of %d)", err, next, l.Size())
			}
			// Reading the damaged block itself fails.
			if err := l.ReadRange(b.first, b.first+1, func(uint64, []byte) error { return nil }); err == nil {
				t.Fatal("ReadRange of the damaged block succeeded")
			}
		})
	}
}
