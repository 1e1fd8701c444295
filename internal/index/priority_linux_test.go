package index

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// threadNices returns the nice value of each thread of the process.
func threadNices(tb testing.TB) []int {
	tb.Helper()
	stats, err := filepath.Glob("/proc/self/task/*/stat")
	if err != nil {
		tb.Fatal(err)
	}
	var out []int
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the thread ended
		}
		// pid (comm) state ppid …: field 19 is nice; comm may hold spaces.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		n, err := strconv.Atoi(f[16])
		if err != nil {
			tb.Fatalf("%s: %q", p, b)
		}
		out = append(out, n)
	}
	return out
}

// TestWorkersRunNiced checks that the workers' threads run at the lower
// priority while Run is active, and that the threads end with Run.
func TestWorkersRunNiced(t *testing.T) {
	count := func(nice int) (n int) {
		for _, v := range threadNices(t) {
			if v == nice {
				n++
			}
		}
		return n
	}
	if n := count(7); n != 0 {
		t.Fatalf("%d threads at nice 7 before Run", n)
	}
	src := newMemSource(demoRecords(t, 200)...)
	x := openIndex(t, "", Options{Workers: 2, Nice: 7})
	stop := runIndex(t, x, src)
	waitFor(t, x, 199)
	// Both workers' threads, or one if the other runs on the main thread,
	// which is never niced.
	if n := count(7); n < 1 || n > 2 {
		t.Errorf("%d threads at nice 7 while Run is active, want the workers'", n)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// A thread ends shortly after its goroutine.
	eventually(5*time.Second, func() bool { return count(7) == 0 })
	if n := count(7); n != 0 {
		t.Errorf("%d threads still at nice 7 after Run returned", n)
	}
}
