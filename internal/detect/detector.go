package detect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/fsutil"
	"github.com/cdewatch/cdewatch/internal/ledger"
)

// Ledger is what the detector reads and writes: the records, and the
// alerts it raises.
type Ledger interface {
	// Size returns the number of durable records; it never decreases.
	Size() uint64
	// ReadRange calls fn, in order, for each durable record with from <=
	// seq < to; rec is valid only during the call.
	ReadRange(from, to uint64, fn func(seq uint64, rec []byte) error) error
	// Append stores records durably (all or none) and returns the seq of
	// the first.
	Append(ctx context.Context, recs [][]byte) (uint64, error)
}

// Evaluator is a set of rules: Eval calls emit for each alert the event
// raises. It is called from one goroutine, in ledger order. The event, and
// the bytes of its record's Raw, are valid only during the call: an
// evaluator keeps copies of what it needs.
type Evaluator interface {
	Eval(e *Event, emit func(alert.Alert))
}

// Stateful is an Evaluator with state across events (windows, sequences,
// baselines). The detector saves the state with its cursor after every
// batch and restores it on start, so a restart does not forget a window
// in progress.
type Stateful interface {
	Evaluator
	// StateName names the state in the state file; unique per detector.
	StateName() string
	MarshalState() ([]byte, error)
	UnmarshalState([]byte) error
}

// DeliverFunc hands alerts, already durable in the ledger, to delivery
// (the notifiers' outbox); it returns once they are durable there.
type DeliverFunc func(ctx context.Context, alerts []Raised) error

// Raised is an alert and the ledger seq of its SecurityAlert record,
// which identifies it (delivery uses it as an idempotency id).
type Raised struct {
	Seq   uint64
	Alert alert.Alert
}

// Detector tails the ledger from a persisted cursor and evaluates every
// record against its rules. Alerts are appended to the ledger as
// SecurityAlert records in one append per batch, each carrying the cursor
// the batch reached ("through"), so that a restart neither loses nor
// repeats an alert: the cursor is the larger of the state file's and the
// last "through" in the ledger, and alerts appended after the state file
// was last written are delivered again (at least once).
type Detector struct {
	Ledger  Ledger
	Rules   []Evaluator
	Deliver DeliverFunc
	// StateFile holds the cursor and the rules' state (JSON), written
	// atomically every SaveInterval while records arrive and when Run
	// returns.
	StateFile string
	// SaveInterval is the longest the state file lags the cursor while
	// records arrive; default 1s. A save marshals every rule's state and
	// fsyncs it, which must not happen at every batch: while following
	// the ledger a batch is one PollInterval of records, and the state
	// (baselines of up to 100,000 identities) can be megabytes. After a
	// crash, the records since the last save are evaluated again (those
	// covered by alerts already recorded raise nothing).
	SaveInterval time.Duration
	PollInterval time.Duration // default 50ms
	MaxBatch     int           // records per batch; default 10,000
	Now          func() time.Time
	Log          *slog.Logger

	inc incidents
	// raisedDone is one past the seq of the last alert Raise delivered;
	// raisedFailed one past the first whose delivery failed (0: none).
	raisedDone, raisedFailed atomic.Uint64
}

// state is the StateFile's content.
type state struct {
	Next  uint64                     `json:"next"`            // every record below was evaluated
	Rules map[string]json.RawMessage `json:"rules,omitempty"` // Stateful evaluators' state, by StateName
	// Incidents are the open incidents.
	Incidents json.RawMessage `json:"incidents,omitempty"`
	// Raised: every alert Raise appended below this seq was delivered.
	Raised uint64 `json:"raised,omitempty"`
}

// alertRecord is the Raw of a SecurityAlert ledger record.
type alertRecord struct {
	alert.Alert
	// Through is the cursor of the batch that raised the alert: every
	// record below it was evaluated when the alert was appended.
	Through uint64 `json:"through"`
	// Raised marks an alert of Raise (a scheduled rule, a failing
	// control), which has no cursor.
	Raised bool `json:"raised,omitempty"`
}

// Run evaluates records until ctx ends.
func (d *Detector) Run(ctx context.Context) error {
	st, err := d.load()
	if err != nil {
		return err
	}
	next, redeliver, err := d.recover(st)
	if err != nil {
		return err
	}
	if next > st.Next {
		// Alerts of [st.Next, next) are in the ledger, but the state
		// saved is from before: evaluate those records again, raising
		// nothing, to bring the stateful rules up to date.
		if err := d.evaluate(st.Next, next, func(alert.Alert) {}); err != nil {
			return err
		}
	}
	if len(redeliver) > 0 {
		d.Log.Info("delivering alerts raised before the last stop", "alerts", len(redeliver))
		if err := d.Deliver(ctx, redeliver); err != nil {
			return fmt.Errorf("deliver recovered alerts: %w", err)
		}
		d.raisedDone.Store(max(d.raisedDone.Load(), redeliver[len(redeliver)-1].Seq+1))
	}
	if err := d.save(next); err != nil {
		return err
	}
	saved, savedAt := next, time.Now()
	saveEvery := d.SaveInterval
	if saveEvery <= 0 {
		saveEvery = time.Second
	}
	// save writes the state once SaveInterval has passed (or at the end),
	// if the cursor moved.
	save := func(force bool) error {
		if next == saved || !force && time.Since(savedAt) < saveEvery {
			return nil
		}
		if err := d.save(next); err != nil {
			return err
		}
		saved, savedAt = next, time.Now()
		return nil
	}
	poll := d.PollInterval
	if poll <= 0 {
		poll = 50 * time.Millisecond
	}
	max := uint64(d.MaxBatch)
	if max == 0 {
		max = 10_000
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		size := d.Ledger.Size()
		if next >= size {
			select {
			case <-ctx.Done():
				return save(true)
			case <-t.C:
				if err := save(false); err != nil {
					return err
				}
				continue
			}
		}
		to := min(size, next+max)
		if err := d.batch(ctx, next, to); err != nil {
			// No save: the rules' state has taken in part of the batch,
			// and the state file holds a consistent earlier cursor.
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		next = to
		if err := save(false); err != nil {
			return err
		}
	}
}

// batch evaluates [from, to), appends the alerts and delivers them.
func (d *Detector) batch(ctx context.Context, from, to uint64) error {
	var alerts []alert.Alert
	if err := d.evaluate(from, to, func(a alert.Alert) { alerts = append(alerts, a) }); err != nil {
		return err
	}
	return d.record(ctx, alerts, to, d.Now().UTC())
}

// Raise records alerts raised apart from the records the detector reads
// (scheduled query rules, failures of cdewatch's own controls) in the
// ledger and delivers them. It is safe to call while Run runs. Such an
// alert whose delivery a crash cut short is delivered again at the next
// start.
func (d *Detector) Raise(ctx context.Context, alerts []alert.Alert) error {
	now := d.Now().UTC()
	for i := range alerts {
		alerts[i].Detected = now
	}
	return d.record(ctx, alerts, 0, now)
}

// record appends alerts to the ledger as SecurityAlert records carrying
// the cursor through (0: raised by Raise), with the SecurityIncident
// records of the incidents they open, then delivers them with their seqs.
func (d *Detector) record(ctx context.Context, alerts []alert.Alert, through uint64, now time.Time) error {
	if len(alerts) == 0 {
		return nil
	}
	d.inc.mu.Lock()
	incRecs, commit, err := d.inc.assign(alerts, now)
	if err != nil {
		d.inc.mu.Unlock()
		return err
	}
	recs := make([][]byte, len(alerts), len(alerts)+len(incRecs))
	for i, a := range alerts {
		if recs[i], err = alertLedgerRecord(a, through, now); err != nil {
			d.inc.mu.Unlock()
			return err
		}
	}
	first, err := d.append(ctx, append(recs, incRecs...))
	if err == nil {
		commit()
	}
	d.inc.mu.Unlock()
	if err != nil {
		return fmt.Errorf("record %d alerts in the ledger: %w", len(alerts), err)
	}
	raised := make([]Raised, len(alerts))
	for i, a := range alerts {
		raised[i] = Raised{Seq: first + uint64(i), Alert: a}
	}
	if err := d.Deliver(ctx, raised); err != nil {
		if through == 0 {
			d.raisedFailed.CompareAndSwap(0, first+1) // delivered again at the next start
		}
		return fmt.Errorf("deliver %d alerts: %w", len(alerts), err)
	}
	if through == 0 {
		end := first + uint64(len(alerts))
		for {
			cur := d.raisedDone.Load()
			if cur >= end || d.raisedDone.CompareAndSwap(cur, end) {
				break
			}
		}
	}
	return nil
}

// append appends recs, waiting while the ledger pushes back (the batch
// was evaluated already: evaluating it again would count its events twice
// in stateful rules).
func (d *Detector) append(ctx context.Context, recs [][]byte) (uint64, error) {
	wait := 50 * time.Millisecond
	for {
		first, err := d.Ledger.Append(ctx, recs)
		if !errors.Is(err, ledger.ErrPushback) {
			return first, err
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// evaluate runs the rules over [from, to), skipping the detector's own
// records.
func (d *Detector) evaluate(from, to uint64, emit func(alert.Alert)) error {
	now := d.Now().UTC()
	err := d.Ledger.ReadRange(from, to, func(seq uint64, b []byte) error {
		var rec event.Record
		if err := rec.UnmarshalBinary(b); err != nil {
			d.Log.Error("skipping an undecodable ledger record", "seq", seq, "err", err)
			return nil
		}
		switch rec.Table {
		case event.TableSecurityAlert:
			return nil // the detector's own output
		case event.TableSecurityIncident:
			d.inc.observe(rec.Raw)
			return nil
		}
		// Raw aliases the ledger's buffer, valid during this call only:
		// evaluators must not retain it (see Evaluator).
		ev := NewEvent(seq, rec)
		for _, r := range d.Rules {
			r.Eval(ev, func(a alert.Alert) {
				a.Detected = now
				if a.Source == "" {
					a.Source = rec.Source
				}
				emit(a)
			})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read ledger [%d, %d): %w", from, to, err)
	}
	return nil
}

// alertLedgerRecord encodes an alert as a SecurityAlert ledger record.
func alertLedgerRecord(a alert.Alert, through uint64, now time.Time) ([]byte, error) {
	raw, err := json.Marshal(alertRecord{Alert: a, Through: through, Raised: through == 0})
	if err != nil {
		return nil, fmt.Errorf("encode alert %s: %w", a.Rule, err)
	}
	var class event.Class
	for _, req := range a.PCI {
		if c, err := event.ParseClass(req); err == nil {
			class |= c
		}
	}
	rec := event.Record{
		Time: a.Time, Received: now, Source: a.Source, Table: event.TableSecurityAlert,
		User: "system:cdewatch:detector", Action: a.Rule, Outcome: event.Success,
		Resource: a.Key, PCI: class, Raw: raw,
	}
	return rec.MarshalBinary()
}

// load reads the state file (a zero state when there is none) and
// restores the stateful rules.
func (d *Detector) load() (state, error) {
	var st state
	b, err := os.ReadFile(d.StateFile)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &st); err != nil {
			return st, fmt.Errorf("read detector state %s: %w (remove it to evaluate the whole ledger again)", d.StateFile, err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return st, fmt.Errorf("read detector state: %w", err)
	}
	if len(st.Incidents) > 0 {
		if err := d.inc.unmarshal(st.Incidents); err != nil {
			return st, fmt.Errorf("restore the open incidents: %w", err)
		}
	}
	d.raisedDone.Store(st.Raised)
	for _, r := range d.Rules {
		if sr, ok := r.(Stateful); ok {
			if b, ok := st.Rules[sr.StateName()]; ok {
				if err := sr.UnmarshalState(b); err != nil {
					return st, fmt.Errorf("restore the state of %s: %w", sr.StateName(), err)
				}
			}
		}
	}
	return st, nil
}

// recover returns the cursor to resume from, given the saved state, and
// the alerts appended after the state file was last written, to deliver
// again. It also applies the incident changes recorded since.
func (d *Detector) recover(st state) (uint64, []Raised, error) {
	saved := st.Next
	next := saved
	var redeliver []Raised
	from := saved
	if st.Raised > 0 {
		from = min(saved, st.Raised)
	}
	err := d.Ledger.ReadRange(from, d.Ledger.Size(), func(seq uint64, b []byte) error {
		var rec event.Record
		if rec.UnmarshalBinary(b) != nil {
			return nil
		}
		if rec.Table == event.TableSecurityIncident && seq >= saved {
			d.inc.observe(rec.Raw)
			return nil
		}
		if rec.Table != event.TableSecurityAlert {
			return nil
		}
		if seq >= st.Raised && bytes.Contains(rec.Raw, []byte(`"raised":true`)) {
			var ar alertRecord
			if err := json.Unmarshal(rec.Raw, &ar); err == nil && ar.Raised {
				redeliver = append(redeliver, Raised{Seq: seq, Alert: ar.Alert})
				return nil
			}
		}
		if seq < saved {
			return nil
		}
		// The cursor first, so that an alert whose other fields do not
		// decode still moves it.
		var through struct {
			Through uint64 `json:"through"`
		}
		if err := json.Unmarshal(rec.Raw, &through); err != nil {
			d.Log.Error("unreadable alert record", "seq", seq, "err", err)
			return nil
		}
		if through.Through > saved {
			var ar alertRecord
			if err := json.Unmarshal(rec.Raw, &ar); err != nil {
				d.Log.Error("alert record partly unreadable; delivering what was read", "seq", seq, "err", err)
			}
			redeliver = append(redeliver, Raised{Seq: seq, Alert: ar.Alert})
			next = max(next, through.Through)
		}
		return nil
	})
	if err != nil {
		return 0, nil, fmt.Errorf("recover detector cursor: %w", err)
	}
	return next, redeliver, nil
}

func (d *Detector) save(next uint64) error {
	st := state{Next: next, Raised: d.raisedDone.Load()}
	if f := d.raisedFailed.Load(); f > 0 {
		st.Raised = min(st.Raised, f-1)
	}
	inc, err := d.inc.marshal()
	if err != nil {
		return fmt.Errorf("save the open incidents: %w", err)
	}
	if string(inc) != "[]" {
		st.Incidents = inc
	}
	for _, r := range d.Rules {
		if sr, ok := r.(Stateful); ok {
			b, err := sr.MarshalState()
			if err != nil {
				return fmt.Errorf("save the state of %s: %w", sr.StateName(), err)
			}
			if st.Rules == nil {
				st.Rules = map[string]json.RawMessage{}
			}
			st.Rules[sr.StateName()] = b
		}
	}
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("save detector cursor: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(d.StateFile), 0o700); err != nil {
		return fmt.Errorf("save detector cursor: %w", err)
	}
	if err := fsutil.WriteFileAtomic(d.StateFile, b, 0o600); err != nil {
		return fmt.Errorf("save detector cursor: %w", err)
	}
	return nil
}
