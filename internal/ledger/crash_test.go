package ledger

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The crash test re-executes the test binary as a child that appends to a
// ledger and reports every acknowledged append on stdout; the parent kills
// it with SIGKILL at a random moment and checks what survived.
const (
	crashChildEnv = "CDEWATCH_LEDGER_CRASH_CHILD" // ledger directory
	crashRoundEnv = "CDEWATCH_LEDGER_CRASH_ROUND"
)

// crashRecord is the record number c of appender g in round r.
func crashRecord(r, g, c int) []byte {
	return fmt.Appendf(nil, "round %d appender %d record %d %s", r, g, c, strings.Repeat("x", (r*7+g*13+c)%300))
}

// crashChild runs in the child process: it appends until killed.
func crashChild() {
	dir := os.Getenv(crashChildEnv)
	round, _ := strconv.Atoi(os.Getenv(crashRoundEnv))
	o := testOptions(dir)
	o.SegmentBytes = 32 << 10
	o.CheckpointInterval = 20 * time.Millisecond
	l, err := Open(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: open:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for c := 0; ; {
				n := 1 + (c+g)%9
				recs := make([][]byte, n)
				for i := range recs {
					recs[i] = crashRecord(round, g, c+i)
				}
				first, err := l.Append(context.Background(), recs)
				if err != nil {
					fmt.Fprintln(os.Stderr, "child: append:", err)
					os.Exit(2)
				}
				mu.Lock()
				// One write per line: a kill never leaves half a line acknowledged.
				os.Stdout.WriteString(fmt.Sprintf("ack %d %d %d %d\n", first, n, g, c))
				mu.Unlock()
				c += n
			}
		})
	}
	wg.Wait()
}

type crashAck struct {
	first, n uint64
	g, c     int
}

func TestCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	type ackedRec struct {
		seq uint64
		rec []byte
	}
	var acked []ackedRec
	for round := range 5 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, fmt.Sprint(crashRoundEnv, "=", round))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acks := make(chan crashAck, 1<<16)
		go func() {
			defer close(acks)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				var a crashAck
				if _, err := fmt.Sscanf(sc.Text(), "ack %d %d %d %d", &a.first, &a.n, &a.g, &a.c); err == nil {
					acks <- a
				}
			}
		}()
		// Kill at a random moment once the child is appending.
		var got []crashAck
		select {
		case a, ok := <-acks:
			if !ok {
				cmd.Wait()
				t.Fatalf("round %d: child exited before appending: %s", round, stderr.String())
			}
			got = append(got, a)
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("round %d: child did not append: %s", round, stderr.String())
		}
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for a := range acks {
			got = append(got, a)
		}
		cmd.Wait()
		for _, a := range got {
			for i := range a.n {
				acked = append(acked, ackedRec{a.first + i, crashRecord(round, a.g, a.c+int(i))})
			}
		}

		// Verify the crashed ledger as it is: a torn tail is allowed.
		res, err := Verify(context.Background(), VerifyOptions{Dir: dir})
		if err != nil {
			t.Fatalf("round %d: Verify after kill: %v", round, err)
		}
		l, err := Open(testOptions(dir))
		if err != nil {
			t.Fatalf("round %d: Open after kill: %v", round, err)
		}
		t.Logf("round %d: %d appends acknowledged, %d leaves stored, recovery %+v, torn tail %d bytes", round, len(got), l.Size(), l.Recovery, res.TornTail)
		if l.Recovery.TruncatedBytes != res.TornTail {
			t.Errorf("round %d: Open truncated %d bytes, Verify reported a torn tail of %d", round, l.Recovery.TruncatedBytes, res.TornTail)
		}
		recs := readAll(t, l)
		for _, a := range acked {
			if a.seq >= uint64(len(recs)) || string(recs[a.seq]) != string(a.rec) {
				t.Fatalf("round %d: acknowledged record %d (%q) lost", round, a.seq, trunc(a.rec))
			}
		}
		// Every record appears once.
		seen := make(map[string]bool, len(recs))
		for i, r := range recs {
			if seen[string(r)] {
				t.Fatalf("round %d: record %d (%q) stored twice", round, i, trunc(r))
			}
			seen[string(r)] = true
		}
		closeLedger(t, l)
		mustVerify(t, dir)
	}
}
