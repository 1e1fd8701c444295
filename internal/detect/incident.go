package detect

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/event"
)

// incidents groups alerts into incidents: an alert joins the open
// incident of its rule and key, or opens one. Every change is a
// SecurityIncident ledger record; the open incidents are rebuilt from
// those records after a restart.
type incidents struct {
	mu   sync.Mutex
	open map[string]*alert.IncidentChange // by incidentKey; Status is the current one
}

func incidentKey(rule, key string) string { return rule + "\x00" + key }

// assign sets the alerts' Incident, opening incidents where none is open.
// It returns the SecurityIncident records of the incidents opened, and a
// function that makes them open once those records are stored. The
// caller holds mu.
func (t *incidents) assign(alerts []alert.Alert, now time.Time) ([][]byte, func(), error) {
	t.init()
	var recs [][]byte
	opened := map[string]*alert.IncidentChange{}
	for i := range alerts {
		a := &alerts[i]
		k := incidentKey(a.Rule, a.Key)
		inc := t.open[k]
		if inc == nil {
			inc = opened[k]
		}
		if inc == nil {
			h := sha256.New()
			h.Write([]byte(k))
			h.Write(binary.BigEndian.AppendUint64(nil, uint64(now.UnixNano())))
			h.Write(binary.BigEndian.AppendUint64(nil, uint64(i)))
			inc = &alert.IncidentChange{ID: "INC-" + hex.EncodeToString(h.Sum(nil))[:12], Status: alert.IncidentNew,
				Rule: a.Rule, Title: a.RuleTitle, Severity: a.Severity, Key: a.Key, Source: a.Source, PCI: a.PCI,
				Opened: now, By: "system:cdewatch:detector", Reason: "opened by alert: " + a.Summary}
			opened[k] = inc
			rec, err := incidentRecord(*inc, now)
			if err != nil {
				return nil, nil, err
			}
			recs = append(recs, rec)
		}
		a.Incident = inc.ID
	}
	return recs, func() {
		for k, inc := range opened {
			t.open[k] = inc
		}
	}, nil
}

// observe applies a SecurityIncident record read from the ledger.
func (t *incidents) observe(raw []byte) {
	var c alert.IncidentChange
	if json.Unmarshal(raw, &c) != nil || c.ID == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.apply(c)
}

// init makes the map of a zero incidents; the caller holds mu.
func (t *incidents) init() {
	if t.open == nil {
		t.open = map[string]*alert.IncidentChange{}
	}
}

// apply records a change; the caller holds mu.
func (t *incidents) apply(c alert.IncidentChange) {
	t.init()
	k := incidentKey(c.Rule, c.Key)
	cur := t.open[k]
	switch {
	case cur == nil && c.Status == alert.IncidentNew:
		t.open[k] = &c
	case cur == nil || cur.ID != c.ID:
		// A change of an incident already resolved, or superseded.
	case c.Status == alert.IncidentResolved:
		delete(t.open, k)
	default:
		cur.Status = c.Status
	}
}

// list returns the open incidents, oldest first.
func (t *incidents) list() []alert.IncidentChange {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]alert.IncidentChange, 0, len(t.open))
	for _, inc := range t.open {
		out = append(out, *inc)
	}
	slices.SortFunc(out, func(a, b alert.IncidentChange) int {
		return cmp.Or(a.Opened.Compare(b.Opened), cmp.Compare(a.ID, b.ID))
	})
	return out
}

func (t *incidents) marshal() ([]byte, error) {
	return json.Marshal(t.list())
}

func (t *incidents) unmarshal(b []byte) error {
	var l []alert.IncidentChange
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	for _, c := range l {
		t.open[incidentKey(c.Rule, c.Key)] = &c
	}
	return nil
}

// incidentRecord encodes a change as a SecurityIncident ledger record.
func incidentRecord(c alert.IncidentChange, now time.Time) ([]byte, error) {
	raw, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode incident %s: %w", c.ID, err)
	}
	var class event.Class
	for _, req := range c.PCI {
		if cl, err := event.ParseClass(req); err == nil {
			class |= cl
		}
	}
	outcome := event.Success
	rec := event.Record{Time: now, Received: now, Source: c.Source, Table: event.TableSecurityIncident,
		User: c.By, Action: "incident." + c.Status, Outcome: outcome, Resource: c.ID, PCI: class, Raw: raw}
	return rec.MarshalBinary()
}

// Incidents returns the open incidents (new or acknowledged), oldest first.
func (d *Detector) Incidents() []alert.IncidentChange { return d.inc.list() }

// SetIncidentStatus records a person's change of an open incident's
// status (acknowledged or resolved, forward only) with who and why, in
// the ledger, and returns the change. alert.ErrNoIncident: no open incident has
// this id.
func (d *Detector) SetIncidentStatus(ctx context.Context, id, status, by, reason string) (alert.IncidentChange, error) {
	d.inc.mu.Lock()
	defer d.inc.mu.Unlock()
	var cur *alert.IncidentChange
	for _, inc := range d.inc.open {
		if inc.ID == id {
			cur = inc
			break
		}
	}
	if cur == nil {
		return alert.IncidentChange{}, alert.ErrNoIncident
	}
	if err := alert.CheckTransition(cur.Status, status); err != nil {
		return alert.IncidentChange{}, err
	}
	c := *cur
	c.Status, c.By, c.Reason = status, by, reason
	now := d.Now().UTC()
	rec, err := incidentRecord(c, now)
	if err != nil {
		return c, err
	}
	if _, err := d.append(ctx, [][]byte{rec}); err != nil {
		return c, fmt.Errorf("record the incident change: %w", err)
	}
	d.inc.apply(c)
	return c, nil
}
