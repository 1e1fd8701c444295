// Package baseline learns what is usual for each identity and alerts on
// what departs from it (PCI DSS 10.4.1.1, automated review): a new source
// address for an identity, a first-time verb and resource for a service
// account, an hourly volume far above the identity's own history, and
// administrative actions outside the declared working hours. Identities
// are learned for a learning period before they can raise alerts; the
// learned state survives restarts (detect.Stateful).
package baseline

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/detect"
	"github.com/cdewatch/cdewatch/internal/event"
)

// Config tunes the baselines. Zero values take the defaults.
type Config struct {
	// Learning is how long an identity is observed, from its first event,
	// before it can raise baseline alerts; default 7 days.
	Learning time.Duration
	// VolumeFactor and MinVolume: an hour with more than VolumeFactor times
	// the identity's usual hourly volume, and at least MinVolume events,
	// raises an alert; defaults 10 and 100.
	VolumeFactor float64
	MinVolume    int
	// AdminHours, when set, are the hours administrative actions are
	// expected in; outside them each administrative action raises an
	// alert (no learning needed).
	AdminHours *Hours
	// MaxIdentities bounds the identities remembered; default 100,000.
	MaxIdentities int
}

// Hours is a weekly window of working hours.
type Hours struct {
	Start, End int            // hours of the day, [Start, End), 0–24
	Days       []time.Weekday // empty: every day
	Location   *time.Location // nil: UTC
}

func (h *Hours) contains(t time.Time) bool {
	loc := h.Location
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	if len(h.Days) > 0 && !slices.Contains(h.Days, t.Weekday()) {
		return false
	}
	return t.Hour() >= h.Start && t.Hour() < h.End
}

// Rule ids of the baselines.
const (
	RuleNewOrigin       = "baseline.new-source-address"
	RuleNewSAOperation  = "baseline.service-account-first-operation"
	RuleVolume          = "baseline.hourly-volume"
	RuleAdminAfterHours = "baseline.admin-outside-hours"
)

// Baselines is a detect.Stateful evaluator.
type Baselines struct {
	cfg Config
	st  state
}

// identity is what was learned of one identity of one source.
type identity struct {
	First   time.Time           `json:"first"`
	Last    time.Time           `json:"last"`
	Origins map[string]struct{} `json:"origins,omitempty"`
	Ops     map[string]struct{} `json:"ops,omitempty"` // service accounts: "verb resource"
	Hour    int64               `json:"hour"`          // the hour being counted (Unix hours)
	Count   int                 `json:"count"`         // events in that hour
	Mean    float64             `json:"mean"`          // moving mean of past hourly counts (hours with events)
	Hours   int                 `json:"hours"`         // hours in the mean
	Alerted bool                `json:"alerted"`       // the volume alert of this hour was raised
}

type state struct {
	IDs map[string]*identity `json:"ids"` // source \x00 user
}

// Caps on what one identity remembers.
const (
	maxOrigins = 256
	maxOps     = 1024
)

// New returns baselines with cfg's defaults filled in.
func New(cfg Config) *Baselines {
	if cfg.Learning <= 0 {
		cfg.Learning = 7 * 24 * time.Hour
	}
	if cfg.VolumeFactor <= 0 {
		cfg.VolumeFactor = 10
	}
	if cfg.MinVolume <= 0 {
		cfg.MinVolume = 100
	}
	if cfg.MaxIdentities <= 0 {
		cfg.MaxIdentities = 100_000
	}
	return &Baselines{cfg: cfg, st: state{IDs: map[string]*identity{}}}
}

// StateName implements detect.Stateful.
func (b *Baselines) StateName() string { return "baselines" }

// MarshalState implements detect.Stateful.
func (b *Baselines) MarshalState() ([]byte, error) { return json.Marshal(b.st) }

// UnmarshalState implements detect.Stateful.
func (b *Baselines) UnmarshalState(data []byte) error {
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("restore baselines: %w", err)
	}
	if st.IDs == nil {
		st.IDs = map[string]*identity{}
	}
	b.st = st
	return nil
}

func (b *Baselines) get(key string, t time.Time) *identity {
	id := b.st.IDs[key]
	if id == nil {
		if len(b.st.IDs) >= b.cfg.MaxIdentities {
			var oldest string
			var ot time.Time
			for k, v := range b.st.IDs {
				if oldest == "" || v.Last.Before(ot) {
					oldest, ot = k, v.Last
				}
			}
			delete(b.st.IDs, oldest)
		}
		id = &identity{First: t, Hour: t.Unix() / 3600}
		b.st.IDs[key] = id
	}
	if t.After(id.Last) {
		id.Last = t
	}
	return id
}

// Eval implements detect.Evaluator. Only records with a user count:
// cdewatch's own records are left out.
func (b *Baselines) Eval(e *detect.Event, emit func(alert.Alert)) {
	r := &e.Rec
	if r.User == "" || r.Table == event.TableCdewatchAudit {
		return
	}
	t := r.Time
	if t.IsZero() {
		t = r.Received
	}
	mk := func(rule, title string, sev alert.Severity, pci, mitre []string, key, summary string, fields map[string]string) alert.Alert {
		return alert.Alert{Rule: rule, RuleTitle: title, Kind: "baseline", Severity: sev, PCI: pci, MITRE: mitre,
			Source: r.Source, Time: t, Seqs: []uint64{e.Seq}, Key: rule + " " + key, Summary: summary, Fields: fields}
	}
	if h := b.cfg.AdminHours; h != nil && r.PCI&event.AdminAction != 0 && !h.contains(t) {
		emit(mk(RuleAdminAfterHours, "Administrative action outside working hours", alert.Medium, []string{"10.2.1.2", "10.4.1.1"}, []string{"T1078"},
			r.User, fmt.Sprintf("%s: %s %s at %s, outside working hours", r.User, r.Action, r.Resource, t.Format(time.RFC3339)),
			map[string]string{"user": r.User, "action": r.Action}))
	}
	id := b.get(r.Source+"\x00"+r.User, t)
	learned := t.Sub(id.First) >= b.cfg.Learning
	if r.OriginIP != "" && !strings.HasPrefix(r.User, "system:") {
		if _, ok := id.Origins[r.OriginIP]; !ok {
			if learned {
				emit(mk(RuleNewOrigin, "New source address for an identity", alert.Medium, []string{"10.2.2", "10.4.1.1"}, []string{"T1078"},
					r.User+" "+r.OriginIP, fmt.Sprintf("%s acted from %s for the first time", r.User, r.OriginIP),
					map[string]string{"user": r.User, "origin": r.OriginIP}))
			}
			if id.Origins == nil {
				id.Origins = map[string]struct{}{}
			}
			if len(id.Origins) < maxOrigins {
				id.Origins[r.OriginIP] = struct{}{}
			}
		}
	}
	if strings.HasPrefix(r.User, "system:serviceaccount:") && r.Action != "" {
		if _, ok := id.Ops[r.Action]; !ok {
			if learned {
				emit(mk(RuleNewSAOperation, "Service account did something for the first time", alert.Medium, []string{"10.2.1.2", "10.4.1.1"}, []string{"T1078.004"},
					r.User+" "+r.Action, fmt.Sprintf("%s: first %s (%s)", r.User, r.Action, r.Resource),
					map[string]string{"user": r.User, "action": r.Action}))
			}
			if id.Ops == nil {
				id.Ops = map[string]struct{}{}
			}
			if len(id.Ops) < maxOps {
				id.Ops[r.Action] = struct{}{}
			}
		}
	}
	hour := t.Unix() / 3600
	if hour > id.Hour {
		// Close the hour counted: it joins the moving mean (of the last
		// 168 hours with events, roughly a week).
		if id.Count > 0 {
			n := float64(min(id.Hours, 167))
			id.Mean = (id.Mean*n + float64(id.Count)) / (n + 1)
			id.Hours++
		}
		id.Hour, id.Count, id.Alerted = hour, 0, false
	}
	if hour == id.Hour {
		id.Count++
		limit := math.Max(float64(b.cfg.MinVolume), b.cfg.VolumeFactor*id.Mean)
		if learned && id.Hours > 0 && !id.Alerted && float64(id.Count) >= limit {
			id.Alerted = true
			emit(mk(RuleVolume, "Hourly volume far above the identity's usual", alert.Medium, []string{"10.4.1.1"}, []string{"T1530"},
				r.User, fmt.Sprintf("%s: %d events this hour, usually %.1f", r.User, id.Count, id.Mean),
				map[string]string{"user": r.User, "count": fmt.Sprint(id.Count), "usual": fmt.Sprintf("%.1f", id.Mean)}))
		}
	}
}
