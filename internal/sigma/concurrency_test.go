package sigma

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/detect"
	"github.com/cdewatch/cdewatch/internal/event"
)

// TestConcurrentUse evaluates from several goroutines (each with its own
// events) while the correlator's state is saved: run with -race.
func TestConcurrentUse(t *testing.T) {
	s := loadRules(t)
	corr := NewCorrelator(s)
	var wg sync.WaitGroup
	var mu sync.Mutex
	n := 0
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				doc := fmt.Sprintf(`{"verb":"get","user":{"username":"u%d"},"objectRef":{"resource":"secrets","namespace":"ns%d"}}`, g, i%5)
				e := detect.NewEvent(uint64(g*1000+i), event.Record{Table: event.TableKubeAudit, Raw: []byte(doc), Time: t0.Add(time.Duration(i) * time.Second)})
				s.EvalCorrelate(e, corr, func(alert.Alert) { mu.Lock(); n++; mu.Unlock() })
				s.Rule("secret_read").Match(detect.NewEvent(1, e.Rec))
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 50; i++ {
			if _, err := json.Marshal(corr); err != nil {
				t.Error(err)
			}
		}
	}()
	wg.Wait()
	if n < 800 {
		t.Errorf("%d alerts, want at least one per event", n)
	}
}
