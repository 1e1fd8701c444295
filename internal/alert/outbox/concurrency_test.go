package outbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
)

// TestConcurrency runs enqueuers, a flaky notifier, a throttled one,
// Health and Failed readers, segment rotation and compaction at once (run
// it with -race).
func TestConcurrency(t *testing.T) {
	dir := t.TempDir()
	flaky := newFake("flaky", func(n int, _ []alert.Alert) error {
		if n%7 == 0 {
			return errors.New("flake")
		}
		return nil
	})
	steady := newFake("steady", nil)
	throttled := newFake("throttled", nil)
	opts := testOptions(t,
		Target{Notifier: flaky},
		Target{Notifier: steady, Route: Route{MinSeverity: alert.Medium}},
		Target{Notifier: throttled, Throttle: Throttle{Max: 1000000, Window: time.Hour}},
	)
	opts.SegmentBytes = 8 << 10
	opts.MaxBatch = 17
	o := openT(t, dir, opts)
	const writers, perWriter = 6, 60
	var want []alert.Alert
	var wantMu sync.Mutex
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, h := range o.Health() {
				_ = h.Backlog
			}
			if _, err := o.Failed(); err != nil {
				t.Error(err)
			}
			time.Sleep(time.Millisecond)
		}
	})
	for g := range writers {
		wg.Go(func() {
			for c := range perWriter {
				batch := mkAlerts(fmt.Sprintf("w%d", g), c*10, 1+c%4)
				if c%3 == 0 {
					batch[0].Severity = alert.Low
				}
				if err := o.Enqueue(batch); err != nil {
					t.Error(err)
					return
				}
				wantMu.Lock()
				want = append(want, batch...)
				wantMu.Unlock()
			}
		})
	}
	wg.Wait()
	drain(t, o)
	close(stop)
	readers.Wait()
	if err := sameIDs(flaky.received(), want); err != nil {
		t.Errorf("flaky: %v", err)
	}
	if err := sameIDs(throttled.received(), want); err != nil {
		t.Errorf("throttled: %v", err)
	}
	var medium []alert.Alert
	for _, a := range want {
		if a.Severity >= alert.Medium {
			medium = append(medium, a)
		}
	}
	if err := sameIDs(steady.received(), medium); err != nil {
		t.Errorf("steady: %v", err)
	}
	waitFor(t, "compaction", func() bool {
		des, _ := os.ReadDir(filepath.Join(dir, dirSegments))
		return len(des) == 1
	})
}
