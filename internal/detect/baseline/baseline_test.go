package baseline

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/detect"
	"github.com/cdewatch/cdewatch/internal/event"
)

var day0 = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC) // a Monday

// rec is a test record: day offset, hour, user, action, origin.
func rec(seq uint64, day, hour int, user, action, origin string, class event.Class) *detect.Event {
	return detect.NewEvent(seq, event.Record{Time: day0.AddDate(0, 0, day).Add(time.Duration(hour-10) * time.Hour),
		Source: "c1", Table: event.TableKubeAudit, User: user, Action: action, OriginIP: origin, PCI: class, Raw: []byte(`{}`)})
}

func rules(b *Baselines, evs ...*detect.Event) []string {
	var out []string
	for _, e := range evs {
		b.Eval(e, func(a alert.Alert) { out = append(out, fmt.Sprintf("%s@%d", a.Rule, e.Seq)) })
	}
	return out
}

func TestBaselines(t *testing.T) {
	learn := 24 * time.Hour
	for _, tc := range []struct {
		name string
		cfg  Config
		evs  []*detect.Event
		want []string
	}{
		{"new address after learning", Config{Learning: learn}, []*detect.Event{
			rec(0, 0, 10, "alice", "get pods", "10.0.0.1", 0), rec(1, 2, 10, "alice", "get pods", "10.0.0.1", 0), rec(2, 2, 11, "alice", "get pods", "203.0.113.9", 0)},
			[]string{RuleNewOrigin + "@2"}},
		{"new address while learning", Config{Learning: learn}, []*detect.Event{
			rec(0, 0, 10, "alice", "get pods", "10.0.0.1", 0), rec(1, 0, 11, "alice", "get pods", "203.0.113.9", 0)}, nil},
		{"system identities are not tracked by address", Config{Learning: learn}, []*detect.Event{
			rec(0, 0, 10, "system:node:n1", "update leases", "10.0.0.1", 0), rec(1, 3, 10, "system:node:n1", "update leases", "10.0.0.9", 0)}, nil},
		{"service account's first secret read", Config{Learning: learn}, []*detect.Event{
			rec(0, 0, 10, "system:serviceaccount:payments:api", "get configmaps", "", 0), rec(1, 2, 10, "system:serviceaccount:payments:api", "get configmaps", "", 0),
			rec(2, 2, 10, "system:serviceaccount:payments:api", "list secrets", "", 0), rec(3, 2, 11, "system:serviceaccount:payments:api", "list secrets", "", 0)},
			[]string{RuleNewSAOperation + "@2"}},
		{"admin outside hours", Config{Learning: learn, AdminHours: &Hours{Start: 8, End: 18, Days: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}}},
			[]*detect.Event{rec(0, 0, 9, "bob", "create clusterrolebindings", "", event.AdminAction), rec(1, 0, 22, "bob", "create clusterrolebindings", "", event.AdminAction),
				rec(2, 5, 10, "bob", "delete pods", "", event.AdminAction), rec(3, 0, 23, "bob", "get pods", "", 0)},
			[]string{RuleAdminAfterHours + "@1", RuleAdminAfterHours + "@2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := rules(New(tc.cfg), tc.evs...)
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("alerts %v, want %v", got, tc.want)
			}
		})
	}
}

// An hour far above the identity's usual volume raises one alert, also
// after the learned state went through a restart.
func TestVolume(t *testing.T) {
	b := New(Config{Learning: 48 * time.Hour, VolumeFactor: 5, MinVolume: 20})
	seq := uint64(0)
	var got []string
	emit := func(a alert.Alert) { got = append(got, a.Rule) }
	for day := range 3 {
		for h := 8; h < 18; h++ {
			for range 3 {
				b.Eval(rec(seq, day, h, "carol", "get secrets", "", 0), emit)
				seq++
			}
		}
	}
	if len(got) != 0 {
		t.Fatalf("alerts while usual: %v", got)
	}
	st, err := b.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	b = New(Config{Learning: 48 * time.Hour, VolumeFactor: 5, MinVolume: 20})
	if err := b.UnmarshalState(st); err != nil {
		t.Fatal(err)
	}
	for range 40 {
		b.Eval(rec(seq, 3, 9, "carol", "get secrets", "", 0), emit)
		seq++
	}
	if strings.Join(got, ",") != RuleVolume {
		t.Errorf("alerts %v, want one %s", got, RuleVolume)
	}
}
