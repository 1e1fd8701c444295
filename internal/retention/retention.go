// Package retention keeps audit records for as long as the policy says and
// no longer (PCI DSS 10.5.1: at least 12 months, the last 3 immediately
// available for analysis): it expires whole sealed ledger segments whose
// every record is past its table's retention, unless a legal hold is set.
//
// Nothing is deleted silently or early:
//   - a retention is measured from the time the ledger accepted a record
//     (its Received time), which no source can set;
//   - a shorter retention takes effect only ShortenDelay after it was first
//     configured; a longer one at once; every change, scheduled, applied or
//     withdrawn, is a CdewatchAudit record (retention.change);
//   - a legal hold suspends all expiry until released; setting and
//     releasing it are recorded (retention.hold), with who and why;
//   - every expiry is recorded (retention.expire) with the leaves, the
//     rule and the removed file's SHA-256, and the ledger keeps the leaf
//     hashes, so old checkpoints and proofs stay valid.
package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/fsutil"
	"github.com/cdewatch/cdewatch/internal/ledger"
)

// Policy is how long records of each table are kept.
type Policy struct {
	Default time.Duration            `json:"default"`
	Tables  map[string]time.Duration `json:"tables,omitempty"`
}

// For returns the retention of table.
func (p Policy) For(table string) time.Duration {
	if d, ok := p.Tables[table]; ok {
		return d
	}
	return p.Default
}

// tables returns every table the policy names, sorted, with "" for the default.
func (p Policy) tables() []string {
	return append([]string{""}, slices.Sorted(maps.Keys(p.Tables))...)
}

func (p Policy) get(table string) time.Duration {
	if table == "" {
		return p.Default
	}
	return p.For(table)
}

func (p *Policy) set(table string, d time.Duration) {
	if table == "" {
		p.Default = d
		return
	}
	if p.Tables == nil {
		p.Tables = map[string]time.Duration{}
	}
	p.Tables[table] = d
}

// Ledger is what the manager needs of the ledger.
type Ledger interface {
	// Segments lists the segments, oldest first.
	Segments() []ledger.SegmentState
	// ReadRange calls fn for each unexpired record with from <= seq < to.
	ReadRange(from, to uint64, fn func(seq uint64, rec []byte) error) error
	// Expire drops the records of the sealed segment starting at first,
	// keeping their leaf hashes.
	Expire(first uint64, reason string) (*ledger.Tombstone, error)
}

// AuditFunc records a self-audit action durably.
type AuditFunc func(ctx context.Context, a event.SelfAudit) error

// Manager applies the retention policy to a ledger. Safe for concurrent use.
type Manager struct {
	Ledger Ledger
	// Configured is the policy in the configuration; the effective one
	// follows it as the package comment says.
	Configured   Policy
	ShortenDelay time.Duration // default 7 days
	Interval     time.Duration // between expiry runs; default 1h
	// StateFile holds the effective policy, pending changes, the hold and
	// per-segment summaries (JSON, written atomically).
	StateFile string
	Audit     AuditFunc
	Now       func() time.Time
	Log       *slog.Logger

	mu sync.Mutex
	st state
}

// state is the StateFile's content.
type state struct {
	Effective *Policy  `json:"effective,omitempty"`
	Pending   []Change `json:"pending,omitempty"`
	Hold      *Hold    `json:"hold,omitempty"`
	// Newest received time per table, per sealed segment (by first leaf).
	Segments map[uint64]map[string]time.Time `json:"segments,omitempty"`
}

// Change is a scheduled shortening of a retention.
type Change struct {
	Table       string        `json:"table"` // "" for the default
	From        time.Duration `json:"from"`
	To          time.Duration `json:"to"`
	Scheduled   time.Time     `json:"scheduled"`
	EffectiveAt time.Time     `json:"effective_at"`
}

// Hold is a legal hold: no record expires while it is set.
type Hold struct {
	By     string    `json:"by"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
}

// Status is the manager's state, for the API.
type Status struct {
	Effective  Policy   `json:"effective"`
	Configured Policy   `json:"configured"`
	Pending    []Change `json:"pending,omitempty"`
	Hold       *Hold    `json:"hold,omitempty"`
	// OldestLeaf is the first leaf whose record is still held; Expired
	// counts the leaves expired.
	OldestLeaf uint64 `json:"oldest_leaf"`
	Expired    uint64 `json:"expired_leaves"`
	// OldestRecord is the received time of the oldest record still held
	// in a sealed segment (zero when none is sealed yet).
	OldestRecord time.Time `json:"oldest_record,omitzero"`
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC()
	}
	return time.Now().UTC()
}

func (m *Manager) log() *slog.Logger {
	if m.Log != nil {
		return m.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Start loads the state and reconciles the configured policy with the
// effective one, recording every change.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ShortenDelay <= 0 {
		m.ShortenDelay = 7 * 24 * time.Hour
	}
	if m.Interval <= 0 {
		m.Interval = time.Hour
	}
	b, err := os.ReadFile(m.StateFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("read retention state: %w", err)
	default:
		if err := json.Unmarshal(b, &m.st); err != nil {
			return fmt.Errorf("retention state %s is damaged (%v): fix or remove it; removing it applies the configured policy with no pending changes and no legal hold", m.StateFile, err)
		}
	}
	if m.st.Segments == nil {
		m.st.Segments = map[uint64]map[string]time.Time{}
	}
	now := m.now()
	if m.st.Effective == nil {
		eff := m.Configured
		m.st.Effective = &eff
		if err := m.record(ctx, event.ActionRetentionChange, map[string]any{"change": "initial", "policy": policyDetails(eff)}); err != nil {
			return err
		}
		return m.save()
	}
	eff := m.st.Effective
	tables := map[string]bool{}
	for _, t := range append(m.Configured.tables(), eff.tables()...) {
		tables[t] = true
	}
	for _, t := range slices.Sorted(maps.Keys(tables)) {
		want, have := m.Configured.get(t), eff.get(t)
		pending := slices.IndexFunc(m.st.Pending, func(c Change) bool { return c.Table == t })
		switch {
		case want > have:
			eff.set(t, want)
			if err := m.record(ctx, event.ActionRetentionChange, map[string]any{"change": "lengthened", "table": tableName(t), "from": have.String(), "to": want.String()}); err != nil {
				return err
			}
			if pending >= 0 {
				m.st.Pending = slices.Delete(m.st.Pending, pending, pending+1)
			}
		case want < have && (pending < 0 || m.st.Pending[pending].To != want):
			c := Change{Table: t, From: have, To: want, Scheduled: now, EffectiveAt: now.Add(m.ShortenDelay)}
			if pending >= 0 {
				m.st.Pending[pending] = c
			} else {
				m.st.Pending = append(m.st.Pending, c)
			}
			if err := m.record(ctx, event.ActionRetentionChange, map[string]any{"change": "shortening scheduled", "table": tableName(t),
				"from": have.String(), "to": want.String(), "effective_at": c.EffectiveAt}); err != nil {
				return err
			}
		case want == have && pending >= 0:
			c := m.st.Pending[pending]
			m.st.Pending = slices.Delete(m.st.Pending, pending, pending+1)
			if err := m.record(ctx, event.ActionRetentionChange, map[string]any{"change": "shortening withdrawn", "table": tableName(c.Table),
				"from": c.From.String(), "to": c.To.String()}); err != nil {
				return err
			}
		}
	}
	return m.save()
}

func tableName(t string) string {
	if t == "" {
		return "(default)"
	}
	return t
}

func policyDetails(p Policy) map[string]string {
	out := map[string]string{"(default)": p.Default.String()}
	for t, d := range p.Tables {
		out[t] = d.String()
	}
	return out
}

// Run expires what the policy allows every Interval until ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	t := time.NewTicker(m.Interval)
	defer t.Stop()
	for {
		if _, err := m.ExpireNow(ctx); err != nil {
			m.log().Error("retention run failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// ExpireNow applies due policy changes, then expires every sealed segment
// whose every record is past its table's effective retention, unless a
// legal hold is set. It returns the tombstones of what it expired.
func (m *Manager) ExpireNow(ctx context.Context) ([]*ledger.Tombstone, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for len(m.st.Pending) > 0 {
		i := slices.IndexFunc(m.st.Pending, func(c Change) bool { return !now.Before(c.EffectiveAt) })
		if i < 0 {
			break
		}
		c := m.st.Pending[i]
		m.st.Effective.set(c.Table, c.To)
		m.st.Pending = slices.Delete(m.st.Pending, i, i+1)
		if err := m.record(ctx, event.ActionRetentionChange, map[string]any{"change": "shortening applied", "table": tableName(c.Table),
			"from": c.From.String(), "to": c.To.String(), "scheduled": c.Scheduled}); err != nil {
			return nil, err
		}
	}
	if err := m.save(); err != nil {
		return nil, err
	}
	if m.st.Hold != nil {
		return nil, nil
	}
	var out []*ledger.Tombstone
	live := map[uint64]bool{}
	for _, s := range m.Ledger.Segments() {
		if !s.Sealed || s.Expired != nil {
			continue
		}
		live[s.First] = true
		if err := ctx.Err(); err != nil {
			return out, err
		}
		if _, known := m.st.Segments[s.First]; !known && m.tooRecent(s, now) {
			continue // written to within the shortest retention: nothing in it can be due
		}
		newest, err := m.summary(s)
		if err != nil {
			return out, err
		}
		due, rule := m.due(newest, now)
		if !due {
			continue
		}
		t, err := m.Ledger.Expire(s.First, rule)
		if err != nil {
			return out, fmt.Errorf("expire leaves %d..%d: %w", s.First, s.End-1, err)
		}
		delete(m.st.Segments, s.First)
		out = append(out, t)
		m.log().Info("records expired", "first_leaf", t.First, "end_leaf", t.End, "rule", rule)
		if err := m.record(ctx, event.ActionRetentionExpire, map[string]any{"first_leaf": t.First, "end_leaf": t.End, "bytes": t.Bytes,
			"sha256": t.SHA256, "last_commit": t.LastCommit, "rule": rule}); err != nil {
			return out, err
		}
	}
	for first := range m.st.Segments {
		if !live[first] {
			delete(m.st.Segments, first)
		}
	}
	return out, m.save()
}

// due reports whether a segment with these newest times per table is past
// retention for every table, and the rule that says so.
func (m *Manager) due(newest map[string]time.Time, now time.Time) (bool, string) {
	var rule []string
	for _, t := range slices.Sorted(maps.Keys(newest)) {
		keep := m.st.Effective.For(t)
		if keep <= 0 || now.Sub(newest[t]) <= keep {
			return false, ""
		}
		rule = append(rule, fmt.Sprintf("%s newest %s, kept %s", tableName(t), newest[t].Format(time.RFC3339), keep))
	}
	return len(newest) > 0, "retention: " + strings.Join(rule, "; ")
}

// tooRecent reports whether the segment's file was last written within
// the shortest retention of the policy, so that none of its records can
// be due yet (every record was received before its block was written).
// This spares reading every segment at the first run.
func (m *Manager) tooRecent(s ledger.SegmentState, now time.Time) bool {
	st, err := os.Stat(s.Path)
	if err != nil {
		return false
	}
	shortest := m.st.Effective.Default
	for _, d := range m.st.Effective.Tables {
		shortest = min(shortest, d)
	}
	return now.Sub(st.ModTime()) <= shortest
}

// summary returns the newest received time per table in a sealed segment,
// reading it once.
func (m *Manager) summary(s ledger.SegmentState) (map[string]time.Time, error) {
	if sum, ok := m.st.Segments[s.First]; ok {
		return sum, nil
	}
	sum := map[string]time.Time{}
	undated := false
	err := m.Ledger.ReadRange(s.First, s.End, func(seq uint64, b []byte) error {
		var r event.Record
		if err := r.UnmarshalBinary(b); err != nil {
			undated = true // not an event record: dated below
			return nil
		}
		sum[r.Table] = maxTime(sum[r.Table], r.Received)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("summarize leaves %d..%d for retention: %w", s.First, s.End-1, err)
	}
	if undated {
		// Kept under the default rule, dated by the segment's newest
		// record (or, with none, from now).
		newest := m.now()
		if len(sum) > 0 {
			newest = time.Time{}
			for _, v := range sum {
				newest = maxTime(newest, v)
			}
		}
		sum[""] = maxTime(sum[""], newest)
	}
	m.st.Segments[s.First] = sum
	return sum, nil
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// SetHold sets (on) or releases a legal hold, recording who and why.
func (m *Manager) SetHold(ctx context.Context, on bool, by, reason string) error {
	if strings.TrimSpace(reason) == "" {
		return errors.New("a legal hold needs a reason (e.g. a case or ticket reference)")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if on == (m.st.Hold != nil) {
		return nil
	}
	action := "released"
	if on {
		action = "set"
	}
	if err := m.record(ctx, event.ActionRetentionHold, map[string]any{"hold": action, "by": by, "reason": reason}); err != nil {
		return err
	}
	if on {
		m.st.Hold = &Hold{By: by, Reason: reason, Since: m.now()}
	} else {
		m.st.Hold = nil
	}
	return m.save()
}

// Status reports the policy, pending changes, the hold and what expired.
func (m *Manager) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := Status{Configured: m.Configured, Pending: slices.Clone(m.st.Pending), Hold: m.st.Hold}
	if m.st.Effective != nil {
		st.Effective = *m.st.Effective
	}
	segs := m.Ledger.Segments()
	sort.Slice(segs, func(i, j int) bool { return segs[i].First < segs[j].First })
	for _, s := range segs {
		if s.Expired != nil {
			st.Expired += s.End - s.First
			st.OldestLeaf = s.End
			continue
		}
		for _, t := range m.st.Segments[s.First] {
			if st.OldestRecord.IsZero() || t.Before(st.OldestRecord) {
				st.OldestRecord = t
			}
		}
		break
	}
	return st
}

// record writes a CdewatchAudit record (PCI class log-init-stop: the
// retention of audit logs changed or records left them).
func (m *Manager) record(ctx context.Context, action string, details map[string]any) error {
	if m.Audit == nil {
		return nil
	}
	user, _ := details["by"].(string)
	if err := m.Audit(ctx, event.SelfAudit{Action: action, User: user, Class: event.LogInitStop, Details: details}); err != nil {
		return fmt.Errorf("record %s: %w", action, err)
	}
	return nil
}

func (m *Manager) save() error {
	if m.StateFile == "" {
		return nil
	}
	b, err := json.MarshalIndent(&m.st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(m.StateFile), 0o700); err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(m.StateFile, b, 0o600); err != nil {
		return fmt.Errorf("save retention state: %w", err)
	}
	return nil
}
