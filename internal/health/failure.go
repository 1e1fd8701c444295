package health

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/event"
)

// Controls: what can fail. The failures the monitor finds itself use the
// first group; other components report theirs with ReportControl, by
// the names of the second group (or their own).
const (
	ControlSourceSilent = "source.silent"     // a source, or a table of a source, went silent
	ControlRateDrop     = "source.rate-drop"  // a stream's rate fell far below its usual rate for the hour
	ControlTimeSkew     = "time.skew"         // a source's event times are off cdewatch's clock (10.6)
	ControlRedelivery   = "ingest.redelivery" // a source redelivers much of what it sends
	ControlConsumerLag  = "consumer.lag"      // a consumer of the ledger fell behind
	ControlClockJump    = "clock.jump"        // cdewatch's wall clock jumped (10.6)
	ControlDiskSpace    = "disk.space"        // the data directory's file system is nearly full

	ControlCheckpoint = "ledger.checkpoint" // signing a checkpoint of the ledger
	ControlVerifier   = "ledger.verify"     // the integrity verifier
	ControlArchive    = "archive.upload"    // uploading sealed segments to object storage
	ControlNotifier   = "alert.notifier"    // delivering alerts to a notifier
	ControlReview     = "review.overdue"    // a periodic log review is overdue (10.4.1)
)

// Rule ids of the alerts the monitor raises. The end of a failure is
// raised under the rule of its start with ".ended" appended.
const (
	RuleSourceSilent = "health.source-silent"
	RuleRateDrop     = "health.rate-drop"
	RuleTimeSkew     = "health.time-skew"
	RuleRedelivery   = "health.redelivery-storm"
	RuleConsumerLag  = "health.consumer-lag"
	RuleClockJump    = "health.clock-jump"
	RuleDiskSpace    = "health.disk-space"
	RuleControl      = "health.control-failure" // failures reported with ReportControl
	RuleAuditLoss    = "health.audit-loss"      // Kubernetes audit events lost
	RuleTimeChange   = "health.time-change"     // time settings changed (10.6.3)
)

// Failure is one failure of a control or a source (PCI DSS 10.7.3): what
// failed, from when to when, why, and how it was resolved.
type Failure struct {
	ID       string         `json:"id"`
	Control  string         `json:"control"`
	Subject  string         `json:"subject"` // the source, consumer, notifier, path, … that failed
	Severity alert.Severity `json:"severity"`
	Start    time.Time      `json:"start"`
	End      time.Time      `json:"end,omitzero"` // zero while the failure lasts
	Cause    string         `json:"cause"`
	// Ended says how the failure ended (e.g. "records arrived again").
	Ended string `json:"ended,omitempty"`
	// Resolution is what a person recorded about it (cause, remediation,
	// what was done about the gap), with who and when.
	Resolution string    `json:"resolution,omitempty"`
	ResolvedBy string    `json:"resolved_by,omitempty"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
}

// Open reports whether the failure lasts.
func (f *Failure) Open() bool { return f.End.IsZero() }

// Duration is how long the failure lasted, or has lasted at now.
func (f *Failure) Duration(now time.Time) time.Duration {
	if f.Open() {
		return max(now.Sub(f.Start), 0)
	}
	return max(f.End.Sub(f.Start), 0)
}

// failureID derives a failure's id from what identifies it, so that a
// failure found again after a restart keeps its id.
func failureID(control, subject string, start time.Time) string {
	h := sha256.New()
	h.Write([]byte(control))
	h.Write([]byte{0})
	h.Write([]byte(subject))
	h.Write([]byte{0})
	h.Write(strconv.AppendInt(nil, start.UnixNano(), 10))
	return "F" + hex.EncodeToString(h.Sum(nil)[:8])
}

// validFailureID reports whether id has the form failureID gives.
func validFailureID(id string) bool {
	if len(id) != 17 || id[0] != 'F' {
		return false
	}
	for _, c := range []byte(id[1:]) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

type failureKey struct{ control, subject string }

// Caps on what the failure set remembers.
const (
	maxRecent = 256    // ended failures kept for Summary and Resolve
	maxOutbox = 10_000 // self-audit records awaiting a successful write
	maxQueued = 1_000  // alerts awaiting Tick
)

// failureSet holds the failures: those that last, the recent ended ones,
// the self-audit records not yet written and the alerts not yet returned
// by Tick. Guarded by Monitor.mu.
type failureSet struct {
	open   map[failureKey]*Failure
	byID   map[string]*Failure // open and recent
	recent []*Failure          // ended, oldest first
	outbox []event.SelfAudit
	alerts []alert.Alert
	// started counts the failures started, by control, since the state
	// began; dropped the outbox records dropped over maxOutbox.
	started map[string]uint64
	dropped uint64
}

func newFailureSet() failureSet {
	return failureSet{open: map[failureKey]*Failure{}, byID: map[string]*Failure{}, started: map[string]uint64{}}
}

// healthUser is the user of the self-audit records the monitor writes.
const healthUser = "system:cdewatch:health"

func (fs *failureSet) queueRecord(a event.SelfAudit) {
	if len(fs.outbox) >= maxOutbox {
		fs.dropped++ // the ledger has refused records for long: keep the oldest
		return
	}
	fs.outbox = append(fs.outbox, a)
}

func (fs *failureSet) queueAlert(a alert.Alert) {
	if len(fs.alerts) >= maxQueued {
		fs.alerts = fs.alerts[1:]
	}
	fs.alerts = append(fs.alerts, a)
}

// start starts the failure of key unless one lasts; it returns the
// failure started, or nil.
func (fs *failureSet) start(key failureKey, sev alert.Severity, start time.Time, cause string, details map[string]any) *Failure {
	if fs.open[key] != nil {
		return nil
	}
	start = start.UTC()
	id := failureID(key.control, key.subject, start)
	if fs.byID[id] != nil {
		return nil // found again, already ended
	}
	f := &Failure{ID: id, Control: key.control, Subject: key.subject, Severity: sev, Start: start, Cause: cause}
	fs.open[key] = f
	fs.byID[id] = f
	fs.started[key.control]++
	d := map[string]any{
		"failure_id": f.ID, "control": f.Control, "subject": f.Subject, "severity": f.Severity.String(),
		"start": f.Start, "cause": f.Cause,
	}
	for k, v := range details {
		d[k] = v
	}
	fs.queueRecord(event.SelfAudit{Action: event.ActionHealthFailureStart, User: healthUser, Outcome: event.Failure,
		Resource: f.Control + "/" + f.Subject, Class: failureClass(f.Control), Details: d})
	return f
}

// end ends a lasting failure at end.
func (fs *failureSet) end(f *Failure, end time.Time, how string) {
	fs.finish(f, end, how)
	fs.queueRecord(event.SelfAudit{Action: event.ActionHealthFailureEnd, User: healthUser, Outcome: event.Success,
		Resource: f.Control + "/" + f.Subject, Class: failureClass(f.Control), Details: map[string]any{
			"failure_id": f.ID, "control": f.Control, "subject": f.Subject, "severity": f.Severity.String(),
			"start": f.Start, "end": f.End, "duration_seconds": f.End.Sub(f.Start).Seconds(), "cause": f.Cause, "ended": how,
		}})
}

// finish moves f from the lasting failures to the recent ones.
func (fs *failureSet) finish(f *Failure, end time.Time, how string) {
	delete(fs.open, failureKey{f.Control, f.Subject})
	f.End, f.Ended = end.UTC(), how
	if f.End.Before(f.Start) {
		f.End = f.Start
	}
	fs.addRecent(f)
}

func (fs *failureSet) addRecent(f *Failure) {
	if len(fs.recent) >= maxRecent {
		old := fs.recent[0]
		if fs.byID[old.ID] == old {
			delete(fs.byID, old.ID)
		}
		fs.recent = fs.recent[1:]
	}
	fs.recent = append(fs.recent, f)
	fs.byID[f.ID] = f
}

// failureClass is the 10.2.1.x class of a failure's records: a silent
// source is audit logging stopped (10.2.1.6).
func failureClass(control string) event.Class {
	if control == ControlSourceSilent {
		return event.LogInitStop
	}
	return 0
}

// failureRecord is the part of a health.failure.* record's details that
// apply reads.
type failureRecord struct {
	FailureID  string    `json:"failure_id"`
	Control    string    `json:"control"`
	Subject    string    `json:"subject"`
	Severity   string    `json:"severity"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Cause      string    `json:"cause"`
	Ended      string    `json:"ended"`
	Resolution string    `json:"resolution"`
	By         string    `json:"by"`
}

// apply brings the set in line with a health.failure.* record read from
// the ledger: the records are the truth, so a failure started or ended
// after the state was last saved is known again after a restart. It
// changes nothing the set already knows.
func (fs *failureSet) apply(r *event.Record) {
	var fr failureRecord
	if json.Unmarshal(r.Raw, &fr) != nil || fr.FailureID == "" {
		return
	}
	f := fs.byID[fr.FailureID]
	switch r.Action {
	case event.ActionHealthFailureStart:
		key := failureKey{fr.Control, fr.Subject}
		if f != nil || fs.open[key] != nil || fr.Control == "" {
			return
		}
		sev, _ := alert.ParseSeverity(fr.Severity)
		f = &Failure{ID: fr.FailureID, Control: fr.Control, Subject: fr.Subject, Severity: sev, Start: fr.Start.UTC(), Cause: fr.Cause}
		fs.open[key] = f
		fs.byID[f.ID] = f
	case event.ActionHealthFailureEnd:
		if f != nil && f.Open() {
			fs.finish(f, fr.End, fr.Ended)
		}
	case event.ActionHealthFailureResolution:
		if f != nil {
			f.Resolution, f.ResolvedBy, f.ResolvedAt = fr.Resolution, fr.By, r.Time.UTC()
		}
	}
}

// alert returns the alert of a failure's start (started) or end.
func (f *Failure) alert(rule, title, source string, at time.Time, seqs []uint64, started bool, summary string, fields map[string]string) alert.Alert {
	pci := []string{"10.7.2"}
	if f.Control == ControlTimeSkew || f.Control == ControlClockJump {
		pci = []string{"10.6.1", "10.7.2"}
	}
	fl := map[string]string{"failure_id": f.ID, "control": f.Control, "subject": f.Subject, "state": "started"}
	if !started {
		rule += ".ended"
		title += " (ended)"
		fl["state"] = "ended"
		fl["duration"] = f.End.Sub(f.Start).String()
	}
	for k, v := range fields {
		fl[k] = v
	}
	if source == "" {
		source = event.SelfSource
	}
	key := rule + "/" + f.Subject
	if strings.HasPrefix(rule, RuleControl) {
		key = rule + "/" + f.Control + "/" + f.Subject
	}
	return alert.Alert{Rule: rule, RuleTitle: title, Kind: "health", Severity: f.Severity, PCI: pci, Source: source,
		Time: at.UTC(), Seqs: seqs, Key: key, Summary: summary, Fields: fl}
}

// Errors of Resolve.
var (
	ErrFailureID  = errors.New("health: not a failure id (want F and 16 hexadecimal digits, as in the failure records)")
	ErrResolution = errors.New("health: a resolution needs who recorded it and a text of at most 4096 bytes")
)

// Resolve records what a person found and did about a failure (PCI DSS
// 10.7.3: cause, remediation, the security issues that arose during it,
// the measures against recurrence) as a health.failure.resolution record.
// The failure may still last, or have ended long ago: an id the monitor no
// longer remembers is recorded as given. It returns once the record is
// durable; a later resolution of the same failure supersedes the earlier.
func (m *Monitor) Resolve(ctx context.Context, id, who, text string) error {
	if !validFailureID(id) {
		return fmt.Errorf("resolve failure %q: %w", id, ErrFailureID)
	}
	if strings.TrimSpace(who) == "" || strings.TrimSpace(text) == "" || len(text) > 4096 || !utf8.ValidString(text) {
		return fmt.Errorf("resolve failure %s: %w", id, ErrResolution)
	}
	// The records queued before come first, so that the ledger never
	// holds a resolution of a failure whose start is not there yet.
	m.wmu.Lock()
	defer m.wmu.Unlock()
	if err := m.flushLocked(ctx); err != nil {
		return fmt.Errorf("resolve failure %s: %w", id, err)
	}
	d := map[string]any{"failure_id": id, "resolution": text, "by": who}
	res := "failure/" + id
	m.mu.Lock()
	if f := m.fs.byID[id]; f != nil {
		d["control"], d["subject"], d["start"] = f.Control, f.Subject, f.Start
		if !f.Open() {
			d["end"] = f.End
		}
		res = f.Control + "/" + f.Subject
	}
	m.mu.Unlock()
	if err := m.cfg.Audit(ctx, event.SelfAudit{Action: event.ActionHealthFailureResolution, User: who, Outcome: event.Success,
		Resource: res, Details: d}); err != nil {
		return fmt.Errorf("record the resolution of failure %s: %w", id, err)
	}
	m.mu.Lock()
	if f := m.fs.byID[id]; f != nil {
		f.Resolution, f.ResolvedBy, f.ResolvedAt = text, who, m.cfg.Now().UTC()
	}
	m.mu.Unlock()
	return nil
}

// ReportControl reports the outcome of one run of a control of cdewatch:
// a checkpoint signed or not, a segment archived, an alert delivered to a
// notifier, a review done in time, a verification passed. err != nil
// starts a failure of (control, subject) unless one lasts; nil ends the
// lasting one. Report every run, success included: a failure reported
// before a restart ends at the first success after it. The start and end
// are recorded through Config.Audit before ReportControl returns (an
// error says they are queued and will be written at the next Tick); their
// alerts are returned by the next Tick.
func (m *Monitor) ReportControl(ctx context.Context, control, subject string, err error) error {
	if control == "" {
		return errors.New("health: ReportControl without a control name")
	}
	now := m.cfg.Now().UTC()
	key := failureKey{control, subject}
	m.mu.Lock()
	if err != nil {
		sev := alert.High
		if control == ControlReview {
			sev = alert.Medium
		}
		cause := err.Error()
		if f := m.fs.start(key, sev, now, cause, nil); f != nil {
			m.fs.queueAlert(f.alert(RuleControl, "Control of cdewatch failing", "", now, nil, true,
				fmt.Sprintf("%s %s is failing since %s: %s", control, subject, now.Format(time.RFC3339), cause), nil))
		}
	} else if f := m.fs.open[key]; f != nil {
		m.fs.end(f, now, "reported working")
		m.fs.queueAlert(f.alert(RuleControl, "Control of cdewatch failing", "", now, nil, false,
			fmt.Sprintf("%s %s works again after %s (failing since %s: %s)", control, subject,
				f.End.Sub(f.Start).Round(time.Second), f.Start.Format(time.RFC3339), f.Cause), nil))
	}
	m.mu.Unlock()
	return m.flush(ctx)
}

// flush writes the queued self-audit records, in order, stopping at the
// first that cannot be written (it stays queued).
func (m *Monitor) flush(ctx context.Context) error {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	return m.flushLocked(ctx)
}

func (m *Monitor) flushLocked(ctx context.Context) error {
	for {
		m.mu.Lock()
		if len(m.fs.outbox) == 0 {
			m.mu.Unlock()
			return nil
		}
		a := m.fs.outbox[0]
		m.mu.Unlock()
		if err := m.cfg.Audit(ctx, a); err != nil {
			return fmt.Errorf("record %s in the ledger: %w", a.Action, err)
		}
		m.mu.Lock()
		// Only flushes remove records, under wmu: the first is still a.
		if len(m.fs.outbox) > 0 {
			m.fs.outbox = m.fs.outbox[1:]
		}
		m.mu.Unlock()
	}
}
