package health

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/event"
)

// A stream's rate falling far below what was learned for the hour is a
// failure, until the rate is back; not before the stream is learned, nor
// for a stream too quiet to judge, nor for ordinary noise.
func TestRateDrop(t *testing.T) {
	const window = 5 * time.Minute
	dropAt, backAt := t0.Add(26*time.Hour), t0.Add(26*time.Hour+30*time.Minute)
	for _, tc := range []struct {
		name   string
		base   int     // records per window
		noise  float64 // ± fraction
		low    int     // records per window during the drop
		dropAt time.Time
		want   []string
	}{
		{"drop to 5 %", 300, 0, 15, dropAt, []string{RuleRateDrop, RuleRateDrop + ".ended"}},
		{"drop to 30 %: not far enough", 300, 0, 90, dropAt, nil},
		{"steady with noise", 300, 0.3, 300, dropAt, nil},
		{"while learning", 300, 0, 15, t0.Add(3 * time.Hour), nil},
		{"too quiet to judge", 50, 0, 1, dropAt, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{Silence: SilenceConfig{Rules: []SilenceRule{{Match: "*", Off: true}}}})
			rnd := rand.New(rand.NewPCG(1, 2))
			var got []seen
			for w := t0; w.Before(t0.Add(28 * time.Hour)); w = w.Add(window) {
				n := tc.base
				if !w.Before(tc.dropAt) && w.Before(tc.dropAt.Add(backAt.Sub(dropAt))) {
					n = tc.low
				} else if tc.noise > 0 {
					n = int(float64(n) * (1 + tc.noise*(2*rnd.Float64()-1)))
				}
				for i := range n {
					for _, a := range h.eval(record("aks-a", event.TableKubeAudit, w.Add(time.Duration(i)*window/time.Duration(n)))) {
						got = append(got, seen{w, a})
					}
				}
			}
			if strings.Join(rules(alertsOf(got)), ",") != strings.Join(tc.want, ",") {
				t.Fatalf("alerts %v, want %v", rules(alertsOf(got)), tc.want)
			}
			if tc.want == nil {
				return
			}
			// Raised when the first low window closes; ended when the
			// first normal one does.
			if !got[0].at.Equal(dropAt.Add(window)) || !got[1].at.Equal(backAt.Add(window)) {
				t.Errorf("raised at %s and ended at %s; want %s and %s", got[0].at, got[1].at, dropAt.Add(window), backAt.Add(window))
			}
			if got[0].a.Fields["subject"] != "aks-a/KubeAuditLogs" || got[0].a.Fields["count"] != "15" || got[0].a.Fields["expected"] != "300" {
				t.Errorf("alert fields %v", got[0].a.Fields)
			}
			h.tick()
			recs := failureRecords(h.log.records(), ControlRateDrop)
			if len(recs) != 2 || !recs[0].Details["start"].(time.Time).Equal(dropAt) || !recs[1].Details["end"].(time.Time).Equal(backAt) {
				t.Errorf("records %+v, want the failure from %s to %s", recs, dropAt, backAt)
			}
		})
	}
}

func alertsOf(s []seen) []alert.Alert {
	out := make([]alert.Alert, len(s))
	for i := range s {
		out[i] = s[i].a
	}
	return out
}
