package outbox

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert/notify"
)

// The crash test re-executes the test binary as a child that enqueues
// alerts and delivers them to the parent's webhook receiver, reporting
// every acknowledged Enqueue on stdout; the parent kills it with SIGKILL
// at a random moment, restarts the outbox itself and checks that every
// acknowledged alert reaches the receiver.
const (
	crashDirEnv   = "CDEWATCH_OUTBOX_CRASH_DIR"
	crashURLEnv   = "CDEWATCH_OUTBOX_CRASH_URL"
	crashRoundEnv = "CDEWATCH_OUTBOX_CRASH_ROUND"
	crashSecret   = "crash-test-secret-0123456789"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashDirEnv) != "" {
		crashChild()
		return
	}
	os.Exit(m.Run())
}

func crashWebhook(url string) notify.Notifier {
	w, err := notify.NewWebhook(notify.WebhookConfig{Name: "hook", URL: url, Secret: crashSecret, Timeout: 5 * time.Second})
	if err != nil {
		panic(err)
	}
	return w
}

func crashOptions(url string) Options {
	return Options{
		Targets:      []Target{{Notifier: crashWebhook(url)}},
		SegmentBytes: 16 << 10, // rotate and compact often
		MaxBatch:     20,
		Backoff:      Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond},
	}
}

// crashChild runs in the child process until it is killed.
func crashChild() {
	o, err := Open(os.Getenv(crashDirEnv), crashOptions(os.Getenv(crashURLEnv)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: open:", err)
		os.Exit(2)
	}
	round := os.Getenv(crashRoundEnv)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Go(func() {
			for c := 0; ; c++ {
				n := 1 + c%5
				batch := mkAlerts(fmt.Sprintf("crash.r%s.g%d", round, g), c*10, n)
				if err := o.Enqueue(batch); err != nil {
					fmt.Fprintln(os.Stderr, "child: enqueue:", err)
					os.Exit(2)
				}
				var line strings.Builder
				for _, id := range ids(batch) {
					line.WriteString("ack " + id + "\n")
				}
				mu.Lock()
				os.Stdout.WriteString(line.String()) // one write: a kill never leaves half a line
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// crashReceiver verifies each webhook request and records the alert ids.
type crashReceiver struct {
	mu   sync.Mutex
	seen map[string]int
	bad  int
}

func (r *crashReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return // the sender was killed in the middle of the request
	}
	err = notify.Verify([]byte(crashSecret), req.Header.Get(notify.HeaderSignature), req.Header.Get(notify.HeaderTimestamp), body, time.Now(), time.Minute)
	var env notify.Envelope
	if err == nil {
		err = json.Unmarshal(body, &env)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.bad++
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for _, a := range env.Alerts {
		if a.ID != notify.AlertID(a.Alert) || !strings.HasPrefix(a.Rule, "crash.") {
			r.bad++
		}
		r.seen[a.ID]++
	}
}

func TestCrashDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	dir := t.TempDir()
	rec := &crashReceiver{seen: map[string]int{}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	acked := map[string]bool{}
	for round := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashURLEnv+"="+srv.URL, fmt.Sprintf("%s=%d", crashRoundEnv, round))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		kill := time.After(time.Duration(30+rng.IntN(250)) * time.Millisecond)
		n := 0
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break read
				}
				if id, ok := strings.CutPrefix(l, "ack "); ok {
					acked[id] = true
					n++
				}
			case <-kill:
				cmd.Process.Signal(syscall.SIGKILL)
				kill = nil
			}
		}
		err = cmd.Wait()
		if st, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !st.Signaled() {
			t.Fatalf("round %d: child ended by itself: %v\n%s", round, err, stderr.String())
		}
		t.Logf("round %d: %d alerts acknowledged before the kill", round, n)
	}
	// Restart in this process: everything acknowledged gets delivered.
	o, err := Open(dir, crashOptions(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	t.Logf("recovery after the last kill: %+v", o.Recovery)
	drain(t, o)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	missing, dups := 0, 0
	for id := range acked {
		if rec.seen[id] == 0 {
			missing++
		}
	}
	for _, c := range rec.seen {
		if c > 1 {
			dups += c - 1
		}
	}
	t.Logf("%d acknowledged, %d distinct received, %d duplicates (at-least-once)", len(acked), len(rec.seen), dups)
	if missing > 0 || rec.bad > 0 {
		t.Errorf("%d acknowledged alerts never delivered, %d bad requests or alerts", missing, rec.bad)
	}
	if len(acked) < 50 {
		t.Errorf("only %d alerts acknowledged: the test exercised little", len(acked))
	}
}
