package index

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/demo"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/k8saudit"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestMain runs the crash test's child when asked to.
func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild()
		return
	}
	os.Exit(m.Run())
}

// memSource is a ledger-shaped reader over records held in memory.
type memSource struct {
	mu   sync.RWMutex
	recs [][]byte
	// fail, when set, is called before each record is passed on; an
	// error it returns ends the ReadRange with that error.
	fail func(seq uint64) error
}

func newMemSource(recs ...[]byte) *memSource {
	return &memSource{recs: recs}
}

func (s *memSource) Size() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return uint64(len(s.recs))
}

func (s *memSource) ReadRange(from, to uint64, fn func(seq uint64, rec []byte) error) error {
	s.mu.RLock()
	recs, fail := s.recs, s.fail
	s.mu.RUnlock()
	to = min(to, uint64(len(recs)))
	buf := make([]byte, 0, 4096)
	for seq := from; seq < to; seq++ {
		if fail != nil {
			if err := fail(seq); err != nil {
				return err
			}
		}
		// Pass a copy that is overwritten afterwards, as the ledger's
		// decompression buffer is: rec must not be retained.
		buf = append(buf[:0], recs[seq]...)
		err := fn(seq, buf)
		clear(buf)
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *memSource) append(recs ...[]byte) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, recs...)
	return uint64(len(s.recs))
}

func (s *memSource) setFail(f func(seq uint64) error) {
	s.mu.Lock()
	s.fail = f
	s.mu.Unlock()
}

// testReceived is the receive time of the first test record; each next
// record is received a millisecond later.
var testReceived = time.Date(2026, 1, 2, 17, 0, 0, 123456000, time.UTC)

// auditRecords normalizes audit events (one JSON object each) as ingest
// does and returns their ledger encodings.
func auditRecords(tb testing.TB, events [][]byte) [][]byte {
	tb.Helper()
	out, err := normalize(events)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func normalize(events [][]byte) ([][]byte, error) {
	c := k8saudit.NewClassifier(k8saudit.ClassifierConfig{CDENamespaces: []string{"payments"}})
	out := make([][]byte, 0, len(events))
	for i, ev := range events {
		it, err := k8saudit.DecodeLine(ev, k8saudit.Limits{})
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		r := c.Normalize(&it, "aks-pci-prod", testReceived.Add(time.Duration(i)*time.Millisecond))
		b, err := r.MarshalBinary()
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// fixtureEvents reads testdata/events.jsonl.
func fixtureEvents(tb testing.TB) [][]byte {
	tb.Helper()
	f, err := os.Open(filepath.Join("testdata", "events.jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			out = append(out, bytes.Clone(line))
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// selfRecord returns the encoding of a self-audit record.
func selfRecord(tb testing.TB, a event.SelfAudit, at time.Time) []byte {
	tb.Helper()
	r, err := a.Record(at)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := r.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// otherRecord returns the encoding of a record of a table the index has no
// mapping for.
func otherRecord(tb testing.TB, table string, at time.Time) []byte {
	tb.Helper()
	r := event.Record{Time: at, Received: at, Source: "sub-1", Table: table, User: "someone",
		Action: "Microsoft.ContainerService/managedClusters/write", Outcome: event.Success,
		Raw: []byte(`{"operationName":"MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/WRITE"}`)}
	b, err := r.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// demoRecords returns n records made from the demo generator's events,
// stage timestamps a millisecond apart. Deterministic.
func demoRecords(tb testing.TB, n int) [][]byte {
	tb.Helper()
	out, err := buildDemoRecords(n)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func buildDemoRecords(n int) ([][]byte, error) {
	g := demo.NewGenerator(1)
	t0 := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	events := make([][]byte, n)
	for i := range events {
		events[i] = g.NextAt(t0.Add(time.Duration(i) * time.Millisecond))
	}
	return normalize(events)
}

var (
	benchOnce sync.Once
	benchRecs [][]byte
)

// benchRecords returns 50,000 demo records, built once per process.
func benchRecords(tb testing.TB) [][]byte {
	benchOnce.Do(func() { benchRecs = demoRecords(tb, 50_000) })
	return benchRecs
}

// openIndex opens an index at path ("" for in memory) and closes it when
// the test ends.
func openIndex(tb testing.TB, path string, opts Options) *Index {
	tb.Helper()
	x, err := Open(path, opts)
	if err != nil {
		tb.Fatalf("Open(%q): %v", path, err)
	}
	tb.Cleanup(func() { x.Close() })
	return x
}

// runIndex runs x.Run(src) in the background until the test ends or the
// returned stop function is called; stop returns Run's error.
func runIndex(tb testing.TB, x *Index, src Source) (stop func() error) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- x.Run(ctx, src) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	tb.Cleanup(func() { stop() })
	return stop
}

// waitFor waits up to 30 s for the index to cover seq.
func waitFor(tb testing.TB, x *Index, seq uint64) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := x.WaitFor(ctx, seq); err != nil {
		tb.Fatalf("WaitFor(%d): %v (cursor %d, stats %+v)", seq, err, x.Cursor(), x.Stats())
	}
}

// eventually polls cond every 5 ms until it holds or timeout passes, and
// reports whether it held. The caller checks what it waited for and says
// what went wrong.
func eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// queryInt runs a query returning one integer.
func queryInt(tb testing.TB, x *Index, q string, args ...any) int64 {
	tb.Helper()
	var n int64
	if err := x.DB().QueryRow(q, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
	return n
}

// checkExactlyOnce checks that table holds one row for each seq in want
// and no other.
func checkExactlyOnce(tb testing.TB, x *Index, table string, want []uint64) {
	tb.Helper()
	rows, err := x.DB().Query(fmt.Sprintf(`SELECT seq, count(*) FROM %s GROUP BY seq ORDER BY seq`, quoteIdent(table)))
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	got := map[uint64]int64{}
	for rows.Next() {
		var seq uint64
		var n int64
		if err := rows.Scan(&seq, &n); err != nil {
			tb.Fatal(err)
		}
		got[seq] = n
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	bad := 0
	for _, s := range want {
		if got[s] != 1 && bad < 10 {
			tb.Errorf("%s: seq %d has %d rows, want 1", table, s, got[s])
			bad++
		}
		delete(got, s)
	}
	for s, n := range got {
		if bad < 10 {
			tb.Errorf("%s: unexpected seq %d (%d rows)", table, s, n)
			bad++
		}
	}
}

func seqRange(from, to uint64) []uint64 {
	out := make([]uint64, 0, to-from)
	for s := from; s < to; s++ {
		out = append(out, s)
	}
	return out
}

// cellString returns the text of a text cell ("" for any other).
func cellString(c cell) string {
	if c.b != nil {
		return string(c.b)
	}
	return c.s
}

// anyCell returns v (nil, a string or a []byte) as a cell.
func anyCell(tb testing.TB, v any) cell {
	tb.Helper()
	switch v := v.(type) {
	case nil:
		return cell{}
	case string:
		return text(v)
	case []byte:
		return textBytes(v)
	}
	tb.Fatalf("anyCell: a %T", v)
	return cell{}
}
