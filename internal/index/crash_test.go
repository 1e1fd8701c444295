package index

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	crashChildEnv = "CDEWATCH_INDEX_CRASH_CHILD" // the database path
	crashRecords  = 12000
)

// crashChild indexes the crash test's records into the database named by
// the environment, slowly, printing the cursor after every commit, until
// it is killed.
func crashChild() {
	path := os.Getenv(crashChildEnv)
	recs, err := buildDemoRecords(crashRecords)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	src := newMemSource(recs...)
	// Slow reads keep the child inside a transaction most of the time.
	src.fail = func(uint64) error {
		time.Sleep(20 * time.Microsecond)
		return nil
	}
	x, err := Open(path, Options{MaxBatch: 250, FlushRows: 1000, PollInterval: time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	// What a crash keeps is what the database file covers; the stage is
	// lost and indexed again.
	fmt.Printf("cursor %d\n", x.Stats().Flushed)
	go func() {
		last := x.Cursor()
		for {
			x.WaitFor(context.Background(), last)
			last = x.Cursor()
			fmt.Printf("cursor %d\n", x.Stats().Flushed)
		}
	}()
	x.Run(context.Background(), src)
	os.Exit(3)
}

// TestCrashResume kills (SIGKILL) a process that is indexing, several
// times, at arbitrary points; each restart must resume from a cursor at
// least as far as the last one the killed process reported committed, and
// in the end every record must be indexed exactly once.
func TestCrashResume(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	path := filepath.Join(t.TempDir(), "index.duckdb")
	var reported uint64
	for round, target := range []uint64{1500, 4000, 7000} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashResume$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		first := true
		for sc.Scan() {
			c, err := strconv.ParseUint(strings.TrimPrefix(sc.Text(), "cursor "), 10, 64)
			if err != nil {
				t.Fatalf("child said %q", sc.Text())
			}
			if first && c < reported {
				t.Fatalf("round %d: child resumed at %d, but %d was committed before the kill", round, c, reported)
			}
			first = false
			reported = max(reported, c)
			if c >= target {
				break
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		t.Logf("round %d: killed after cursor %d", round, reported)
		if reported >= crashRecords {
			t.Fatal("the child indexed everything before it was killed")
		}
	}
	src := newMemSource(demoRecords(t, crashRecords)...)
	x := openIndex(t, path, Options{})
	if c := x.Cursor(); c < reported {
		t.Fatalf("reopened at cursor %d, but %d was committed", c, reported)
	}
	checkExactlyOnce(t, x, TableKubeAuditLogs, seqRange(0, x.Cursor()))
	runIndex(t, x, src)
	waitFor(t, x, crashRecords-1)
	checkExactlyOnce(t, x, TableKubeAuditLogs, seqRange(0, crashRecords))
}
