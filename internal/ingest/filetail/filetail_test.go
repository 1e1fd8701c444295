package filetail

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/logtest"
)

const testDeadline = 20 * time.Second

// line is the content of numbered test line i; lengths vary.
func line(i int) string {
	return fmt.Sprintf("%07d %s", i, strings.Repeat("x", i%41))
}

// lineNo returns the number of a test line.
func lineNo(tb testing.TB, s string) int {
	tb.Helper()
	n, err := strconv.Atoi(strings.SplitN(s, " ", 2)[0])
	if err != nil {
		tb.Fatalf("not a numbered line: %q", s)
	}
	return n
}

// recorder is a Handler that keeps what it accepts. It can be made to fail
// calls and to hold them until released.
type recorder struct {
	mu      sync.Mutex
	lines   []string
	calls   int
	fail    func(call int, lines [][]byte) error
	hold    chan struct{} // if set, calls wait until it is closed
	entered chan struct{} // signalled when a call starts waiting on hold
}

func (r *recorder) handle(ctx context.Context, lines [][]byte) error {
	r.mu.Lock()
	call := r.calls
	r.calls++
	fail, hold, entered := r.fail, r.hold, r.entered
	r.mu.Unlock()
	if hold != nil {
		select {
		case entered <- struct{}{}:
		default:
		}
		select {
		case <-hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail != nil {
		if err := fail(call, lines); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range lines {
		r.lines = append(r.lines, string(l))
	}
	return nil
}

// holdNext makes the next calls wait until the returned release is called;
// entered receives once a call is waiting.
func (r *recorder) holdNext() (entered <-chan struct{}, release func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, e := make(chan struct{}), make(chan struct{}, 1)
	r.hold, r.entered = h, e
	return e, func() {
		r.mu.Lock()
		r.hold = nil
		r.mu.Unlock()
		close(h)
	}
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.lines)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.lines)
}

// env is a log directory with a file written like kube-apiserver writes its
// audit log: appended, rotated by rename + new file.
type env struct {
	tb      testing.TB
	dir     string
	path    string
	state   string
	w       *os.File
	rec     *recorder
	logs    *logtest.Buffer
	want    []int // the lines the handler should have received, in order
	next    int   // number of the next line to write
	lastRot time.Time
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	dir := tb.TempDir()
	e := &env{
		tb:    tb,
		dir:   dir,
		path:  filepath.Join(dir, "audit.log"),
		state: filepath.Join(tb.TempDir(), "audit.state"),
		rec:   &recorder{},
		logs:  &logtest.Buffer{},
		next:  1,
	}
	tb.Cleanup(func() {
		if e.w != nil {
			e.w.Close()
		}
		if tb.Failed() {
			tb.Logf("tailer log:\n%s", e.logs)
		}
	})
	return e
}

func (e *env) config() Config {
	return Config{
		Path:      e.path,
		StateFile: e.state,
		Poll:      5 * time.Millisecond,
		Logger:    slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// create creates the file at the path, as lumberjack does after a rotation.
func (e *env) create() {
	e.tb.Helper()
	f, err := os.OpenFile(e.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_EXCL, 0o600)
	if err != nil {
		e.tb.Fatal(err)
	}
	e.w = f
}

// writeRaw appends s to the file at the path, creating it if needed.
func (e *env) writeRaw(s string) {
	e.tb.Helper()
	if e.w == nil {
		f, err := os.OpenFile(e.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			e.tb.Fatal(err)
		}
		e.w = f
	}
	if _, err := e.w.WriteString(s); err != nil {
		e.tb.Fatal(err)
	}
}

// write appends the next n numbered lines, each in one write, and expects
// them to be received.
func (e *env) write(n int) {
	e.tb.Helper()
	for range n {
		e.writeRaw(line(e.next) + "\n")
		e.want = append(e.want, e.next)
		e.next++
	}
}

// writeLost appends n numbered lines that the tailer cannot see (their file
// is compressed before it reads them).
func (e *env) writeLost(n int) {
	e.tb.Helper()
	for range n {
		e.writeRaw(line(e.next) + "\n")
		e.next++
	}
}

// renameAway renames the file to a lumberjack backup name and returns that.
func (e *env) renameAway() string {
	e.tb.Helper()
	if e.w != nil {
		e.w.Close()
		e.w = nil
	}
	// Backup names carry the rotation time in milliseconds, as lumberjack's
	// do; two rotations get two distinct, increasing times.
	ts := time.Now().UTC().Truncate(time.Millisecond)
	for !ts.After(e.lastRot) {
		time.Sleep(100 * time.Microsecond)
		ts = time.Now().UTC().Truncate(time.Millisecond)
	}
	e.lastRot = ts
	backup := filepath.Join(e.dir, "audit-"+ts.Format(backupTimeLayout)+".log")
	if err := os.Rename(e.path, backup); err != nil {
		e.tb.Fatal(err)
	}
	return backup
}

// rotate does what lumberjack does: rename, then create a new file.
func (e *env) rotate() string {
	e.tb.Helper()
	b := e.renameAway()
	e.create()
	return b
}

// compress replaces a backup by its .gz, as lumberjack's Compress does.
func (e *env) compress(backup string) {
	e.tb.Helper()
	data, err := os.ReadFile(backup)
	if err != nil {
		e.tb.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	zw.Close()
	if err := os.WriteFile(backup+".gz", buf.Bytes(), 0o600); err != nil {
		e.tb.Fatal(err)
	}
	if err := os.Remove(backup); err != nil {
		e.tb.Fatal(err)
	}
}

// run is a Tailer running in a goroutine.
type run struct {
	t      *Tailer
	cancel context.CancelFunc
	done   chan error
}

func (e *env) start(cfg Config) *run {
	e.tb.Helper()
	tl, err := New(cfg, e.rec.handle)
	if err != nil {
		e.tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{t: tl, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- tl.Run(ctx) }()
	e.tb.Cleanup(func() { r.stop(e.tb) })
	return r
}

// stop cancels Run and waits for it to return nil.
func (r *run) stop(tb testing.TB) {
	tb.Helper()
	if r.done == nil {
		return
	}
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			tb.Errorf("Run returned %v, want nil", err)
		}
	case <-time.After(testDeadline):
		tb.Fatal("Run did not return after cancel")
	}
	r.done = nil
}

// waitIdle waits until the tailer has idled n more polls: it has seen
// everything there is to see.
func (r *run) waitIdle(tb testing.TB, n uint64) {
	tb.Helper()
	start := r.t.idle.Load()
	waitFor(tb, "tailer to idle", func() bool { return r.t.idle.Load() >= start+n })
}

func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(testDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitWant waits until the handler has received as many lines as expected,
// then checks they are exactly the expected ones, in order.
func (e *env) waitWant() {
	e.tb.Helper()
	waitFor(e.tb, fmt.Sprintf("%d lines", len(e.want)), func() bool { return e.rec.count() >= len(e.want) })
	e.check()
}

// check compares the received lines with the expected ones exactly: no gap,
// no duplicate, no reordering, content intact.
func (e *env) check() {
	e.tb.Helper()
	e.compare(false)
}

// checkPrefix checks that the lines received so far are a prefix of the
// expected ones.
func (e *env) checkPrefix() {
	e.tb.Helper()
	e.compare(true)
}

func (e *env) compare(prefix bool) {
	e.tb.Helper()
	got := e.rec.got()
	nums := make([]int, len(got))
	for i, s := range got {
		nums[i] = lineNo(e.tb, s)
		if s != line(nums[i]) {
			e.tb.Fatalf("line %d damaged: %q", nums[i], s)
		}
	}
	want := e.want
	if prefix && len(nums) <= len(want) {
		want = want[:len(nums)]
	}
	if !slices.Equal(nums, want) {
		e.tb.Fatalf("received %d lines, want %d\n got: %v\nwant: %v", len(nums), len(e.want), summarize(nums), summarize(e.want))
	}
}

// summarize prints a sequence of ints as ranges.
func summarize(s []int) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] == s[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteString(",")
		}
		if i == j {
			fmt.Fprintf(&b, "%d", s[i])
		} else {
			fmt.Fprintf(&b, "%d-%d", s[i], s[j])
		}
		i = j + 1
	}
	return b.String()
}

func (e *env) wantLog(substr ...string) {
	e.tb.Helper()
	logs := e.logs.String()
	for _, s := range substr {
		if !strings.Contains(logs, s) {
			e.tb.Errorf("log lacks %q", s)
		}
	}
}

func (e *env) wantNoLog(substr string) {
	e.tb.Helper()
	if strings.Contains(e.logs.String(), substr) {
		e.tb.Errorf("log has %q", substr)
	}
}

func fileSize(tb testing.TB, path string) int64 {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size()
}

func TestPartialLines(t *testing.T) {
	tests := []struct {
		name  string
		sizes []int
	}{
		{"byte by byte", []int{1}},
		{"small pieces", []int{3, 7, 2}},
		{"pieces crossing lines", []int{13, 29, 61}},
		{"large pieces", []int{500, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			r := e.start(e.config())
			var stream strings.Builder
			for i := 1; i <= 200; i++ {
				stream.WriteString(line(i) + "\n")
				e.want = append(e.want, i)
			}
			data := stream.String()
			for i := 0; len(data) > 0; i++ {
				n := min(tc.sizes[i%len(tc.sizes)], len(data))
				e.writeRaw(data[:n])
				data = data[n:]
				if i%97 == 0 {
					r.waitIdle(t, 2) // let the tailer see a partial line now and then
				}
			}
			e.waitWant()
		})
	}
}

func TestPartialLineWaitsForNewline(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.config())
	e.write(3)
	e.waitWant()
	complete := fileSize(t, e.path)
	e.writeRaw(line(4)[:5])
	r.waitIdle(t, 3)
	e.check() // line 4 not handed over yet
	if pos := r.t.Position(); pos.Offset != complete {
		t.Fatalf("offset %d, want %d (end of the last complete line)", pos.Offset, complete)
	}
	e.writeRaw(line(4)[5:] + "\n")
	e.want = append(e.want, 4)
	e.next = 5
	e.waitWant()
}

func TestRotation(t *testing.T) {
	tests := []struct {
		name string
		// rotate runs while the handler holds a batch of the old file, with
		// more lines unread in it.
		rotate func(e *env)
		logs   []string // expected in the log
		lossy  bool     // lines are lost to compression: warnings expected
	}{
		{name: "rename and create", rotate: func(e *env) {
			e.rotate()
			e.write(50)
		}},
		{name: "two rotations", rotate: func(e *env) {
			e.rotate()
			e.write(50)
			e.rotate()
			e.write(50)
		}, logs: []string{"reading a backup rotated after"}},
		{name: "three rotations, empty file between", rotate: func(e *env) {
			e.rotate()
			e.rotate()
			e.write(20)
			e.rotate()
			e.write(20)
		}, logs: []string{"reading a backup rotated after"}},
		{name: "old file compressed after rotation", rotate: func(e *env) {
			e.compress(e.rotate())
			e.write(50)
		}},
		{name: "all backups compressed", rotate: func(e *env) {
			e.compress(e.rotate())
			e.writeLost(50)
			e.compress(e.rotate())
			e.write(50)
		}, logs: []string{"compressed before it was read"}, lossy: true},
		{name: "new file not created yet", rotate: func(e *env) {
			e.renameAway()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			r := e.start(e.config())
			e.write(100)
			e.waitWant()
			entered, release := e.rec.holdNext()
			e.write(10)
			<-entered
			e.write(40) // pending: not read yet
			tc.rotate(e)
			release()
			e.waitWant()
			if e.w == nil {
				r.waitIdle(t, 3) // the tailer waits for the new file
				e.create()
			}
			e.write(30)
			e.waitWant()
			e.wantLog(tc.logs...)
			if !tc.lossy {
				e.wantNoLog("missed")
				e.wantNoLog("missing")
			}
		})
	}
}

func TestRotationPathMissing(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.config())
	e.write(10)
	e.waitWant()
	e.write(10)
	e.renameAway()
	e.waitWant()
	r.waitIdle(t, 3)
	e.create()
	e.write(10)
	e.waitWant()
}

func TestRotatedFileWithoutFinalNewline(t *testing.T) {
	e := newEnv(t)
	e.start(e.config())
	e.write(5)
	e.waitWant()
	e.writeRaw("torn")
	e.rotate()
	e.write(5)
	waitFor(t, "6 + 5 lines", func() bool { return e.rec.count() >= 11 })
	got := e.rec.got()
	if got[5] != "torn" {
		t.Fatalf("line after 5 = %q, want the torn last line", got[5])
	}
	e.rec.mu.Lock()
	e.rec.lines = slices.Delete(e.rec.lines, 5, 6)
	e.rec.mu.Unlock()
	e.check()
	e.wantLog("ends without a newline")
}

func TestResume(t *testing.T) {
	tests := []struct {
		name      string
		whileDown func(e *env)
	}{
		{"nothing new", func(e *env) {}},
		{"lines appended", func(e *env) { e.write(77) }},
		{"partial line completed", func(e *env) {
			e.writeRaw(line(e.next)[:4])
			e.writeRaw(line(e.next)[4:] + "\n")
			e.want = append(e.want, e.next)
			e.next++
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			r1 := e.start(e.config())
			e.write(123)
			e.waitWant()
			e.writeRaw(line(e.next)[:3]) // a partial line at stop time
			r1.waitIdle(t, 2)
			r1.stop(t)
			pos := r1.t.Position()
			e.writeRaw(line(e.next)[3:] + "\n")
			e.want = append(e.want, e.next)
			e.next++
			tc.whileDown(e)
			r2 := e.start(e.config())
			if got := r2.t.Position(); got != pos {
				t.Fatalf("new Tailer position %+v, want %+v", got, pos)
			}
			e.waitWant()
			e.write(10)
			e.waitWant()
		})
	}
}

func TestRestartAfterRotation(t *testing.T) {
	tests := []struct {
		name      string
		whileDown func(e *env)
		logs      []string // expected in the log
		lossy     bool     // lines were lost to compression: warnings expected
		gone      bool     // the persisted file is gone: the warning names it and its offset
	}{
		{name: "one rotation", whileDown: func(e *env) {
			e.write(20)
			e.rotate()
			e.write(20)
		}, logs: []string{"rotated while stopped"}},
		{name: "two rotations", whileDown: func(e *env) {
			e.write(20)
			e.rotate()
			e.write(20)
			e.rotate()
			e.write(20)
		}, logs: []string{"rotated while stopped", "reading a backup rotated after"}},
		{name: "new file not created yet", whileDown: func(e *env) {
			e.write(20)
			e.renameAway()
		}, logs: []string{"rotated while stopped"}},
		{name: "rotated backup compressed", whileDown: func(e *env) {
			e.writeLost(20)
			e.compress(e.rotate())
			e.write(20)
		}, logs: []string{"lines after its persisted offset may have been missed", "probably in this compressed backup"}, lossy: true, gone: true},
		{name: "compressed, then an uncompressed backup", whileDown: func(e *env) {
			e.writeLost(20)
			e.compress(e.rotate())
			e.write(20)
			e.rotate()
			e.write(20)
		}, logs: []string{"may have been missed", "reading a backup rotated after"}, lossy: true, gone: true},
		{name: "uncompressed, then a compressed backup", whileDown: func(e *env) {
			e.write(20)
			e.rotate()
			e.writeLost(20)
			e.compress(e.rotate())
			e.write(20)
		}, logs: []string{"rotated while stopped", "compressed before it was read"}, lossy: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			r1 := e.start(e.config())
			e.write(50)
			e.waitWant()
			r1.stop(t)
			pos := r1.t.Position()
			tc.whileDown(e)
			r2 := e.start(e.config())
			e.waitWant()
			if e.w == nil {
				r2.waitIdle(t, 3)
				e.create()
			}
			e.write(10)
			e.waitWant()
			e.wantLog(tc.logs...)
			if tc.gone {
				e.wantLog(fmt.Sprintf("file=%s offset=%d", pos.Path, pos.Offset))
			}
			if !tc.lossy {
				e.wantNoLog("missed")
				e.wantNoLog("missing")
			}
		})
	}
}

var soakSeed = flag.Uint64("filetail.soakseed", 1, "seed of TestSoak's random actions; 0 picks one from the clock")

// TestSoak interleaves writes in random pieces, rotations, restarts and
// handler failures, and checks that every line arrives exactly once, in order.
func TestSoak(t *testing.T) {
	steps := 300
	if testing.Short() {
		steps = 60
	}
	e := newEnv(t)
	seed := *soakSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	rng := rand.New(rand.NewPCG(seed, 11))
	var trace strings.Builder // the actions, printed if the test fails
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d, actions: %s", seed, trace.String())
		}
	})
	var failing atomic.Bool
	var streak int // consecutive failures, capped to keep backoffs short
	e.rec.fail = func(int, [][]byte) error {
		if failing.Load() && streak < 3 && rand.IntN(2) == 0 {
			streak++
			return errors.New("store unavailable")
		}
		streak = 0
		return nil
	}
	cfg := e.config()
	cfg.MaxBatchLines = 5
	r := e.start(cfg)
	r.waitIdle(t, 1) // started: from now on no line may be missed
	for step := range steps {
		a := rng.IntN(100)
		fmt.Fprintf(&trace, " %d:%d@%d", step, a, e.next)
		switch {
		case a < 50: // lines, written in random pieces
			var b strings.Builder
			for range 1 + rng.IntN(30) {
				b.WriteString(line(e.next) + "\n")
				e.want = append(e.want, e.next)
				e.next++
			}
			data := b.String()
			for len(data) > 0 {
				n := min(1+rng.IntN(40), len(data))
				e.writeRaw(data[:n])
				data = data[n:]
			}
		case a < 65:
			if e.w == nil {
				e.create()
			} else if rng.IntN(4) == 0 {
				e.renameAway() // the new file comes later
			} else {
				e.rotate()
			}
		case a < 75: // restart
			r.stop(t)
			r = e.start(cfg)
		case a < 85:
			failing.Store(rng.IntN(3) == 0)
		default:
			r.waitIdle(t, 1+uint64(rng.IntN(3)))
		}
		if step%10 == 0 {
			e.checkPrefix()
		}
	}
	failing.Store(false)
	if e.w == nil {
		e.create()
	}
	e.write(1)
	e.waitWant()
}

func TestCopyTruncate(t *testing.T) {
	t.Run("while running", func(t *testing.T) {
		e := newEnv(t)
		r := e.start(e.config())
		e.write(50)
		e.waitWant()
		if err := os.Truncate(e.path, 0); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "offset 0", func() bool { return r.t.Position().Offset == 0 })
		e.write(20)
		e.waitWant()
		e.wantLog("copytruncate")
	})
	t.Run("while stopped", func(t *testing.T) {
		e := newEnv(t)
		r1 := e.start(e.config())
		e.write(50)
		e.waitWant()
		r1.stop(t)
		if err := os.Truncate(e.path, 0); err != nil {
			t.Fatal(err)
		}
		e.write(20)
		e.start(e.config())
		e.waitWant()
		e.wantLog("copytruncate", "may have been missed")
	})
}

func TestHandlerErrors(t *testing.T) {
	tests := []struct {
		name string
		fail func(call int) bool
	}{
		{"first calls fail", func(call int) bool { return call < 5 }},
		{"every other call fails", func(call int) bool { return call%2 == 0 }},
		{"random failures", func() func(int) bool {
			rng := rand.New(rand.NewPCG(1, 2))
			var mu sync.Mutex
			return func(int) bool {
				mu.Lock()
				defer mu.Unlock()
				return rng.IntN(3) == 0
			}
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			var failed []string // first line of each failed call
			var retried []string
			var mu sync.Mutex
			e.rec.fail = func(call int, lines [][]byte) error {
				mu.Lock()
				defer mu.Unlock()
				if len(failed) > len(retried) {
					retried = append(retried, string(lines[0]))
				}
				if tc.fail(call) {
					failed = append(failed, string(lines[0]))
					return errors.New("store unavailable")
				}
				return nil
			}
			cfg := e.config()
			cfg.MaxBatchLines = 7
			r := e.start(cfg)
			for range 10 {
				e.write(31)
				r.waitIdle(t, 1)
			}
			e.waitWant()
			mu.Lock()
			defer mu.Unlock()
			if len(failed) == 0 {
				t.Fatal("no call failed")
			}
			for i := range retried {
				if retried[i] != failed[i] {
					t.Fatalf("after failed call %d starting with %q, the next call started with %q", i, failed[i], retried[i])
				}
			}
			e.wantLog("handler failed")
		})
	}
}

func TestOversizeLines(t *testing.T) {
	const max = 16
	tests := []struct {
		name string
		len  int
	}{
		{"empty", 0},
		{"max-1", max - 1},
		{"exactly max", max},
		{"max+1", max + 1},
		{"long", 100},
		{"longer than the read buffer", readBufBytes*2 + 17},
	}
	e := newEnv(t)
	cfg := e.config()
	cfg.MaxLineBytes = max
	r := e.start(cfg)
	var want []string
	for i, tc := range tests {
		s := strings.Repeat(string(rune('a'+i)), tc.len)
		// Write it in pieces, letting the tailer see each.
		for _, part := range []string{s[:len(s)/3], s[len(s)/3:], "\n"} {
			e.writeRaw(part)
			r.waitIdle(t, 1)
		}
		want = append(want, s[:min(len(s), max+1)])
		e.writeRaw("next\n")
		want = append(want, "next")
	}
	waitFor(t, "all lines", func() bool { return e.rec.count() >= len(want) })
	if got := e.rec.got(); !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	size := fileSize(t, e.path)
	waitFor(t, "offset at the end of the file", func() bool { return r.t.Position().Offset == size })
}

func TestWaitForFile(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.config())
	r.waitIdle(t, 3)
	if pos := r.t.Position(); pos != (Position{Path: e.path}) {
		t.Fatalf("position %+v before the file exists", pos)
	}
	e.write(10)
	e.waitWant()
	e.wantLog("waiting for the file")
}

// TestRotatedBeforeFirstLook: lines written and rotated away after the
// first start, before the tailer first opened the file, are read.
func TestRotatedBeforeFirstLook(t *testing.T) {
	t.Run("while running", func(t *testing.T) {
		e := newEnv(t)
		cfg := e.config()
		cfg.Poll = 200 * time.Millisecond // the writes below most likely fall within one poll
		r := e.start(cfg)
		r.waitIdle(t, 1)
		e.write(10)
		e.rotate()
		e.write(10)
		e.rotate()
		e.write(10)
		e.waitWant()
	})
	t.Run("across a restart", func(t *testing.T) {
		e := newEnv(t)
		r := e.start(e.config())
		r.waitIdle(t, 1)
		r.stop(t)
		e.write(10)
		e.rotate()
		e.write(10)
		e.start(e.config())
		e.waitWant()
		e.wantLog("reading a backup rotated after")
	})
}

// TestInodeReused: a state whose device and inode name the current file but
// whose fingerprint does not match (the inode was freed and reused) must not
// skip the start of the new file.
func TestInodeReused(t *testing.T) {
	e := newEnv(t)
	r1 := e.start(e.config())
	e.write(30)
	e.waitWant()
	r1.stop(t)
	data, err := os.ReadFile(e.state)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	st["head_sha256"] = strings.Repeat("00", 32)
	data, _ = json.Marshal(st)
	if err := os.WriteFile(e.state, data, 0o600); err != nil {
		t.Fatal(err)
	}
	e.start(e.config())
	for i := 1; i <= 30; i++ { // read again from the start
		e.want = append(e.want, i)
	}
	e.waitWant()
	e.wantLog("reusing the inode", "may have been missed")
}

func TestStateFile(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.config())
	e.write(40)
	e.waitWant()
	r.stop(t)
	data, err := os.ReadFile(e.state)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Version    int       `json:"version"`
		Dev        uint64    `json:"dev"`
		Inode      uint64    `json:"inode"`
		Offset     int64     `json:"offset"`
		Path       string    `json:"path"`
		Seen       time.Time `json:"seen"`
		HeadBytes  int64     `json:"head_bytes"`
		HeadSHA256 string    `json:"head_sha256"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("state %s: %v", data, err)
	}
	fi, err := os.Stat(e.path)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := idOf(fi)
	pos := r.t.Position()
	switch {
	case st.Version != 1, st.Dev != id.dev, st.Inode != id.ino, st.Offset != fi.Size(), st.Path != e.path,
		st.Seen.IsZero(), st.HeadBytes != min(fi.Size(), headBytes), len(st.HeadSHA256) != 64:
		t.Fatalf("state %s does not describe %s (size %d)", data, e.path, fi.Size())
	case pos != Position{Dev: st.Dev, Inode: st.Inode, Offset: st.Offset, Path: st.Path}:
		t.Fatalf("Position %+v differs from state %s", pos, data)
	}
	if _, err := os.Stat(e.state + ".tmp"); err == nil {
		t.Error("temporary state file left behind")
	}
	if fi, _ := os.Stat(e.state); fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	h := func(context.Context, [][]byte) error { return nil }
	corrupt := filepath.Join(dir, "corrupt.state")
	os.WriteFile(corrupt, []byte("{not json"), 0o600)
	other := filepath.Join(dir, "other.state")
	os.WriteFile(other, []byte(`{"version":1,"dev":1,"inode":2,"offset":0,"path":"/elsewhere/x.log","head_bytes":0}`), 0o600)
	future := filepath.Join(dir, "future.state")
	os.WriteFile(future, []byte(`{"version":2}`), 0o600)
	path := filepath.Join(dir, "audit.log")
	tests := []struct {
		name string
		cfg  Config
		h    Handler
	}{
		{"nil handler", Config{Path: path, StateFile: filepath.Join(dir, "s")}, nil},
		{"no path", Config{StateFile: filepath.Join(dir, "s")}, h},
		{"no state file", Config{Path: path}, h},
		{"state file is the path", Config{Path: path, StateFile: path}, h},
		{"corrupt state", Config{Path: path, StateFile: corrupt}, h},
		{"state of another file", Config{Path: path, StateFile: other}, h},
		{"unknown version", Config{Path: path, StateFile: future}, h},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg, tc.h); err == nil {
				t.Fatal("New succeeded")
			}
		})
	}
}

func TestRunTwice(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.config())
	r.waitIdle(t, 1)
	if err := r.t.Run(context.Background()); err == nil {
		t.Fatal("second concurrent Run succeeded")
	}
}

// BenchmarkTail measures tailing throughput: lines of 512 bytes, already in
// the file, read to the end and handed to a no-op handler in batches of
// 1000, with the position persisted (fsync) after each batch.
func BenchmarkTail(b *testing.B) {
	const lines = 200_000
	dir := b.TempDir()
	path := filepath.Join(dir, "audit.log")
	l := strings.Repeat("x", 511) + "\n"
	if err := os.WriteFile(path, []byte(strings.Repeat(l, lines)), 0o600); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(lines * len(l)))
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		var n int
		done := make(chan struct{})
		h := func(_ context.Context, batch [][]byte) error {
			n += len(batch)
			if n == lines {
				close(done)
			}
			return nil
		}
		tl, err := New(Config{Path: path, StateFile: filepath.Join(dir, fmt.Sprintf("state-%d", i)), Poll: time.Millisecond,
			Logger: slog.New(slog.DiscardHandler)}, h)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		start := time.Now()
		go func() { errc <- tl.Run(ctx) }()
		<-done
		total += time.Since(start)
		cancel()
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(lines*b.N)/total.Seconds(), "lines/s")
}
