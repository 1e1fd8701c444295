package index

import (
	"context"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/ledger"
)

// cycleSource serves n records, cycling through recs (each served record
// has its own seq).
type cycleSource struct {
	recs [][]byte
	n    uint64
}

func (s *cycleSource) Size() uint64 { return s.n }

func (s *cycleSource) ReadRange(from, to uint64, fn func(uint64, []byte) error) error {
	for seq := from; seq < min(to, s.n); seq++ {
		if err := fn(seq, s.recs[seq%uint64(len(s.recs))]); err != nil {
			return err
		}
	}
	return nil
}

// cpuTime returns the CPU time (user and system) the process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS returns the most memory the process has held (Linux; 0
// elsewhere).
func peakRSS(tb testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kb << 10
		}
	}
	return 0
}

// BenchmarkIndex measures the consumer: 250,000 records, cycling through
// 50,000 demo audit events (1.5–2 KB each), indexed as Run indexes them
// (Rebuild: drop, recreate, index from 0 through the stage, flushing it
// along the way and at the end).
// It reports records/s of wall time and records per second of the
// process's CPU time (records/cpu-s), which other load on the machine
// does not distort. Run it on one core with
//
//	go test ./internal/index -run '^$' -bench BenchmarkIndex -cpu 1
//
// (Workers: 1 and Threads: 1 keep the index and DuckDB to one thread).
// "memory" is an in-memory database, "file" a database file with the
// default batches (16,384 records, as when Run catches up), "file-10k"
// with batches of 10,000 records (Run tailing 50,000 records/s:
// BatchDelay 200ms), "file-2workers" the defaults (two workers, the
// default DuckDB threads); run that one with -cpu 2.
func BenchmarkIndex(b *testing.B) {
	recs := benchRecords(b)
	const n = 250_000
	var size int64
	for _, r := range recs {
		size += int64(len(r))
	}
	size = size * n / int64(len(recs))
	for _, bc := range []struct {
		name     string
		file     bool
		maxBatch int
		workers  int
	}{{"memory", false, 0, 1}, {"file", true, 0, 1}, {"file-10k", true, 10000, 1}, {"file-2workers", true, 0, 0}} {
		b.Run(bc.name, func(b *testing.B) {
			path := ""
			if bc.file {
				path = filepath.Join(b.TempDir(), "index.duckdb")
			}
			opts := Options{Threads: 1, Workers: bc.workers, MaxBatch: bc.maxBatch}
			if bc.workers == 0 {
				opts.Threads = 0
			}
			x := openIndex(b, path, opts)
			src := &cycleSource{recs: recs, n: n}
			b.SetBytes(size)
			b.ReportAllocs()
			start, cpu := time.Now(), cpuTime(b)
			for b.Loop() {
				if err := x.Rebuild(context.Background(), src); err != nil {
					b.Fatal(err)
				}
			}
			wall, used := time.Since(start), cpuTime(b)-cpu
			b.ReportMetric(float64(n*b.N)/wall.Seconds(), "records/s")
			b.ReportMetric(float64(n*b.N)/used.Seconds(), "records/cpu-s")
			if bc.file {
				// Storage once everything is checkpointed (compressed).
				if _, err := x.DB().Exec("CHECKPOINT"); err != nil {
					b.Fatal(err)
				}
				if fi, err := os.Stat(path); err == nil {
					b.ReportMetric(float64(fi.Size())/n, "file-B/rec")
				}
			}
		})
	}
}

// BenchmarkMapping measures the Go side alone: decoding a record and
// computing its row.
func BenchmarkMapping(b *testing.B) {
	recs := benchRecords(b)
	var r row
	vals := make([]cell, 0, 64)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := r.rec.UnmarshalBinary(recs[i%len(recs)]); err != nil {
			b.Fatal(err)
		}
		m := mappings[r.rec.Table]
		m.prepare(&r)
		vals = vals[:0]
		for _, f := range m.fields {
			vals = append(vals, f.value(&r))
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkStage measures what an index worker does per record: decode
// the ledger record, map it to its row and stage the row in a chunk
// (UTF-8 and JSON checks included), for demo audit events, without
// DuckDB.
func BenchmarkStage(b *testing.B) {
	recs := benchRecords(b)
	src := &cycleSource{recs: recs, n: math.MaxUint64}
	mp := &mapper{x: &Index{log: slog.New(slog.DiscardHandler)}}
	const batch = 4096
	b.ReportAllocs()
	var seq uint64
	for b.Loop() {
		var res batchResult
		if _, err := mp.stageRange(context.Background(), src, seq, seq+batch, &res); err != nil {
			b.Fatal(err)
		}
		if res.rows != batch {
			b.Fatalf("%d rows staged of %d", res.rows, batch)
		}
		seq += batch
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(seq), "ns/record")
	b.ReportMetric(float64(seq)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkVisibility appends 50,000 records/s to a real ledger (batches
// of 500 every 10 ms, as a busy webhook sends them) for 20 seconds while
// Run tails it, and reports how long an acknowledged record takes to
// become visible to queries: the 50th, 99th percentile and the maximum.
// The target is 2 s at most.
func BenchmarkVisibility(b *testing.B) {
	recs := benchRecords(b)
	const (
		rate  = 50_000
		batch = 500
	)
	// long enough for several flushes of the stage (one per FlushRows rows);
	// CDEWATCH_VIS_DURATION overrides it; CDEWATCH_VIS_DEBUG=1 logs the flushes
	duration := 20 * time.Second
	if s := os.Getenv("CDEWATCH_VIS_DURATION"); s != "" {
		if d, err := time.ParseDuration(s); err == nil {
			duration = d
		}
	}
	for b.Loop() {
		l, err := ledger.Open(ledger.Options{Dir: b.TempDir(), Origin: "bench.cdewatch/index"})
		if err != nil {
			b.Fatal(err)
		}
		opts := Options{}
		if s := os.Getenv("CDEWATCH_FLUSH_ROWS"); s != "" {
			opts.FlushRows, _ = strconv.Atoi(s)
		}
		if s := os.Getenv("CDEWATCH_BATCH_DELAY"); s != "" {
			opts.BatchDelay, _ = time.ParseDuration(s)
		}
		if s := os.Getenv("CDEWATCH_MAX_BATCH"); s != "" {
			opts.MaxBatch, _ = strconv.Atoi(s)
		}
		if s := os.Getenv("CDEWATCH_THREADS"); s != "" {
			opts.Threads, _ = strconv.Atoi(s)
		}
		if s := os.Getenv("CDEWATCH_NICE"); s != "" {
			opts.Nice, _ = strconv.Atoi(s)
		}
		if os.Getenv("CDEWATCH_VIS_DEBUG") != "" {
			opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
		x, err := Open(filepath.Join(b.TempDir(), "index.duckdb"), opts)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { x.Run(ctx, l) })

		type sample struct {
			last  uint64
			acked time.Time
		}
		samples := make(chan sample, 4096)
		var lat []time.Duration
		done := make(chan struct{})
		go func() {
			defer close(done)
			for s := range samples {
				if err := x.WaitFor(context.Background(), s.last); err != nil {
					return
				}
				lat = append(lat, time.Since(s.acked))
			}
		}()
		tick := time.NewTicker(time.Second * batch / rate)
		start, cpu := time.Now(), cpuTime(b)
		sent, behind := 0, 0
		for time.Since(start) < duration {
			<-tick.C
			// Catch up if a tick was missed, so the offered rate holds.
			want := int(time.Since(start).Seconds()*rate) - sent
			for want > 0 {
				n := min(want, batch)
				part := make([][]byte, n)
				for j := range part {
					part[j] = recs[(sent+j)%len(recs)]
				}
				first, err := l.Append(context.Background(), part)
				if err != nil {
					b.Fatal(err)
				}
				acked := time.Now()
				x.Notify()
				select {
				case samples <- sample{first + uint64(n) - 1, acked}:
				default:
					behind++
				}
				sent += n
				want -= n
			}
		}
		tick.Stop()
		elapsed, used := time.Since(start), cpuTime(b)-cpu
		close(samples)
		<-done
		cancel()
		wg.Wait()
		x.Close()
		l.Close()
		slices.Sort(lat)
		if len(lat) == 0 {
			b.Fatal("no samples")
		}
		pct := func(p float64) float64 { return lat[int(p*float64(len(lat)-1))].Seconds() }
		b.ReportMetric(float64(sent)/elapsed.Seconds(), "offered/s")
		b.ReportMetric(pct(0.5), "p50-s")
		b.ReportMetric(pct(0.99), "p99-s")
		b.ReportMetric(lat[len(lat)-1].Seconds(), "max-s")
		b.ReportMetric(used.Seconds()/elapsed.Seconds(), "cpus")
		b.ReportMetric(float64(peakRSS(b))/(1<<20), "peak-RSS-MB")
		if behind > 0 {
			b.Logf("%d samples dropped", behind)
		}
		b.Logf("GOMAXPROCS %d, %d records in %v", runtime.GOMAXPROCS(0), sent, elapsed)
	}
}

// stageRecords stages the records [from, to) of src in batches of 16,384, as
// Run would, without flushing them.
func stageRecords(tb testing.TB, x *Index, src Source, from, to uint64) {
	mp := &mapper{x: x}
	for f := from; f < to; f += 16384 {
		t := min(f+16384, to)
		var res batchResult
		chunks, err := mp.stageRange(context.Background(), src, f, t, &res)
		if err != nil {
			tb.Fatal(err)
		}
		x.stage.add(stagedBatch{from: f, to: t, chunks: chunks, marks: res.marks, added: time.Now()})
	}
}

// BenchmarkFlush measures flushes alone: 245,760 staged demo audit
// events (FlushRows) written to the database file per iteration, as a
// flush writes them (whole row groups, then a checkpoint). CDEWATCH_THREADS
// sets DuckDB's threads (default: as Open chooses).
func BenchmarkFlush(b *testing.B) {
	recs := benchRecords(b)
	opts := Options{}
	if s := os.Getenv("CDEWATCH_THREADS"); s != "" {
		opts.Threads, _ = strconv.Atoi(s)
	}
	x := openIndex(b, filepath.Join(b.TempDir(), "index.duckdb"), opts)
	const n = 245_760
	src := &cycleSource{recs: recs, n: uint64(n * (b.N + 1))}
	var rows int
	var used time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		stageRecords(b, x, src, uint64(i*n), uint64((i+1)*n))
		f, err := x.planFlush(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		cpu := cpuTime(b)
		if err := x.flush(context.Background(), f); err != nil {
			b.Fatal(err)
		}
		used += cpuTime(b) - cpu
		rows += f.rows
		x.stage.drop(f.to)
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(rows)/used.Seconds(), "rows/cpu-s")
}

// BenchmarkStagedQuery measures queries over a full stage: 491,520 demo
// audit events (two flushes' worth, about 1 GB: the stage when flushes
// have fallen behind at the default StageMemory), none of them flushed,
// so that every row is read through the stage's table function.
func BenchmarkStagedQuery(b *testing.B) {
	recs := benchRecords(b)
	x := openIndex(b, filepath.Join(b.TempDir(), "index.duckdb"), Options{})
	const n = 491_520
	stageRecords(b, x, &cycleSource{recs: recs, n: n}, 0, n)
	b.Logf("stage: %d rows, %d MB", n, x.stage.size()>>20)
	for _, q := range []struct{ name, sql string }{
		{"equality", `SELECT count(*) FROM KubeAuditLogs WHERE Verb = 'delete'`},
		{"group-by", `SELECT Verb, count(*) FROM KubeAuditLogs WHERE TimeGenerated > TIMESTAMP '2000-01-01' GROUP BY ALL`},
		{"dynamic", `SELECT count(*) FROM KubeAuditLogs WHERE User->>'username' LIKE 'system:%'`},
		{"top-all-columns", `SELECT * FROM KubeAuditLogs ORDER BY TimeGenerated DESC LIMIT 10`},
	} {
		b.Run(q.name, func(b *testing.B) {
			for b.Loop() {
				rows, err := x.DB().Query(q.sql)
				if err != nil {
					b.Fatal(err)
				}
				for rows.Next() {
				}
				if err := rows.Err(); err != nil {
					b.Fatal(err)
				}
				rows.Close()
			}
		})
	}
}
