// Package scheduled runs KQL queries on a schedule and raises an alert
// when their result meets a condition, like Azure Monitor's scheduled
// query rules (`az monitor scheduled-query create --condition "count > 0"
// --condition-query … --evaluation-frequency 24h --window-size 24h`).
package scheduled

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/fsutil"
	"github.com/cdewatch/cdewatch/internal/kql"
)

// Rule is one scheduled query rule.
type Rule struct {
	ID          string
	Title       string
	Description string
	Severity    alert.Severity
	PCI, MITRE  []string
	// Query is the KQL query, run as written at each evaluation with now()
	// the evaluation time: it bounds its own time range (ago(…)), which
	// should cover Window.
	Query string
	// Frequency is how often the query runs; Window the span of data each
	// run is meant to cover (at least Frequency, so that no event falls
	// between two runs).
	Frequency, Window time.Duration
	// Condition is "<measure> <op> <number>": the measure "count" is the
	// query's count — the single value of a one-row, one-numeric-column
	// result (a query ending in `| count` or `summarize n = count()`),
	// else the number of rows —, any other name a numeric column, which
	// meets the condition when any row's value does. Ops: > >= < <= == !=.
	Condition string

	cond condition
}

type condition struct {
	measure string
	op      string
	value   float64
}

var condRe = regexp.MustCompile(`^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|==|!=|>|<)\s*(-?[0-9]+(?:\.[0-9]+)?)\s*$`)

// Validate checks the rule and parses its condition.
func (r *Rule) Validate() error {
	switch {
	case r.ID == "":
		return errors.New("scheduled rule without an id")
	case strings.TrimSpace(r.Query) == "":
		return fmt.Errorf("scheduled rule %s: the query is empty", r.ID)
	case r.Frequency < time.Minute:
		return fmt.Errorf("scheduled rule %s: frequency %s is below the minimum of 1m", r.ID, r.Frequency)
	case r.Window < r.Frequency:
		return fmt.Errorf("scheduled rule %s: window %s is shorter than the frequency %s: events between runs would never be looked at", r.ID, r.Window, r.Frequency)
	}
	if _, err := kql.Parse(r.Query); err != nil {
		return fmt.Errorf("scheduled rule %s: query: %w", r.ID, err)
	}
	m := condRe.FindStringSubmatch(r.Condition)
	if m == nil {
		return fmt.Errorf("scheduled rule %s: condition %q: want <measure> <op> <number>, e.g. \"count > 0\"", r.ID, r.Condition)
	}
	v, _ := strconv.ParseFloat(m[3], 64)
	r.cond = condition{measure: m[1], op: m[2], value: v}
	return nil
}

func (c condition) holds(x float64) bool {
	switch c.op {
	case ">":
		return x > c.value
	case ">=":
		return x >= c.value
	case "<":
		return x < c.value
	case "<=":
		return x <= c.value
	case "==":
		return x == c.value
	}
	return x != c.value
}

// evaluate applies the condition to the query's first result table and
// returns whether it holds and the measured value (the first that met it).
func (c condition) evaluate(res *kql.Result) (bool, float64, error) {
	if len(res.Tables) == 0 {
		return false, 0, errors.New("the query returned no table")
	}
	t := res.Tables[0]
	if c.measure == "count" {
		n := float64(len(t.Rows))
		if len(t.Rows) == 1 && len(t.Columns) == 1 {
			if v, ok := number(t.Rows[0][0]); ok {
				n = v
			}
		}
		return c.holds(n), n, nil
	}
	col := -1
	for i, cl := range t.Columns {
		if cl.Name == c.measure {
			col = i
		}
	}
	if col < 0 {
		return false, 0, fmt.Errorf("the result has no column %q", c.measure)
	}
	for _, row := range t.Rows {
		if v, ok := number(row[col]); ok && c.holds(v) {
			return true, v, nil
		}
	}
	return false, 0, nil
}

func number(v any) (float64, bool) {
	switch v := v.(type) {
	case int64:
		return float64(v), true
	case int32:
		return float64(v), true
	case int:
		return float64(v), true
	case uint64:
		return float64(v), true
	case float64:
		return v, true
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	}
	return 0, false
}

// QueryFunc runs a KQL query (the engine, with its limits; the caller
// records the run in the audit trail as a read of the logs).
type QueryFunc func(ctx context.Context, query string) (*kql.Result, error)

// RaiseFunc records and delivers alerts (the detector's path: the ledger,
// then the outbox); it returns once they are durable.
type RaiseFunc func(ctx context.Context, alerts []alert.Alert) error

// Scheduler runs the rules. Each rule's last evaluation time is saved in
// StateFile after its alert (if any) was raised, so that a restart
// neither skips an evaluation that was due nor raises one twice (an
// evaluation missed while stopped runs once, at start).
type Scheduler struct {
	Rules     []*Rule
	Query     QueryFunc
	Raise     RaiseFunc
	StateFile string
	Now       func() time.Time
	Log       *slog.Logger
	// Tick is how often due rules are looked for; default 10s.
	Tick time.Duration
}

// Run evaluates due rules until ctx ends. A rule whose query fails is
// logged and retried at its next tick; a failure to raise ends Run.
func (s *Scheduler) Run(ctx context.Context) error {
	for _, r := range s.Rules {
		if err := r.Validate(); err != nil {
			return err
		}
	}
	last := map[string]time.Time{}
	if b, err := os.ReadFile(s.StateFile); err == nil {
		if err := json.Unmarshal(b, &last); err != nil {
			return fmt.Errorf("read scheduler state %s: %w", s.StateFile, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read scheduler state: %w", err)
	}
	tick := s.Tick
	if tick <= 0 {
		tick = 10 * time.Second
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		for _, r := range s.Rules {
			now := s.Now().UTC()
			if l, ok := last[r.ID]; ok && now.Sub(l) < r.Frequency {
				continue
			}
			if err := s.evaluate(ctx, r, now); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				var qe queryError
				if errors.As(err, &qe) {
					s.Log.Error("scheduled query failed; retrying at the next tick", append([]any{"rule", r.ID}, kql.LogArgs(err)...)...)
					continue
				}
				return err
			}
			last[r.ID] = now
			if err := s.save(last); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

type queryError struct{ error }

func (s *Scheduler) evaluate(ctx context.Context, r *Rule, now time.Time) error {
	res, err := s.Query(ctx, r.Query)
	if err != nil {
		return queryError{fmt.Errorf("rule %s: %w", r.ID, err)}
	}
	ok, v, err := r.cond.evaluate(res)
	if err != nil {
		return queryError{fmt.Errorf("rule %s: condition %q: %w", r.ID, r.Condition, err)}
	}
	if !ok {
		return nil
	}
	measured := strconv.FormatFloat(v, 'f', -1, 64)
	a := alert.Alert{
		Rule: r.ID, RuleTitle: r.Title, Kind: "scheduled", Severity: r.Severity, PCI: r.PCI, MITRE: r.MITRE,
		Time: now, Key: r.ID + " " + now.Truncate(r.Frequency).Format(time.RFC3339),
		Summary: fmt.Sprintf("%s: %s %s (%s %s %s)", r.Title, r.cond.measure, measured, r.cond.measure, r.cond.op, strconv.FormatFloat(r.cond.value, 'f', -1, 64)),
		Fields:  map[string]string{r.cond.measure: measured, "window": r.Window.String(), "query": r.Query},
	}
	if err := s.Raise(ctx, []alert.Alert{a}); err != nil {
		return fmt.Errorf("raise the alert of scheduled rule %s: %w", r.ID, err)
	}
	return nil
}

func (s *Scheduler) save(last map[string]time.Time) error {
	b, _ := json.Marshal(last)
	if err := os.MkdirAll(filepath.Dir(s.StateFile), 0o700); err != nil {
		return fmt.Errorf("save scheduler state: %w", err)
	}
	if err := fsutil.WriteFileAtomic(s.StateFile, b, 0o600); err != nil {
		return fmt.Errorf("save scheduler state: %w", err)
	}
	return nil
}
