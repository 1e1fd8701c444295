package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/config"
	"github.com/cdewatch/cdewatch/internal/detect"
	"github.com/cdewatch/cdewatch/internal/detect/baseline"
	"github.com/cdewatch/cdewatch/internal/detect/correlate"
	"github.com/cdewatch/cdewatch/internal/detect/scheduled"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/kql"
)

// invalidAccess matches records of invalid logical access attempts
// (10.2.1.4): failed authentication and denied requests.
type invalidAccess struct{}

func (invalidAccess) Match(e *detect.Event) bool { return e.Rec.PCI&event.InvalidAccess != 0 }

// builtinCorrelations are the threshold and sequence rules cdewatch
// always runs.
func builtinCorrelations() (*correlate.Engine, error) {
	return correlate.New([]*correlate.Threshold{{
		Meta: correlate.Meta{ID: "pci.invalid-access-burst", Title: "Burst of invalid access attempts from one address",
			Severity: alert.High, PCI: []string{"10.2.1.4"}, MITRE: []string{"T1110"}},
		Match: invalidAccess{}, GroupBy: []string{"cdewatch.origin"}, Count: 5, Window: 10 * time.Minute,
	}}, nil)
}

// detectRunners builds the detector and the scheduler of cfg.Detect.
// query runs scheduled rules' queries (nil when the index is disabled:
// then scheduled rules cannot run and are refused).
func detectRunners(cfg *config.Config, led detect.Ledger, query func(context.Context, string) (*kql.Result, error),
	audit func(context.Context, event.SelfAudit) error, deliver detect.DeliverFunc, log *slog.Logger) ([]runner, error) {
	if !cfg.Detect.Enabled {
		return nil, nil
	}
	bcfg := baseline.Config{Learning: time.Duration(cfg.Detect.Learning)}
	if cfg.Detect.AdminHours != "" {
		h, err := config.ParseHours(cfg.Detect.AdminHours)
		if err != nil {
			return nil, fmt.Errorf("detect.admin_hours: %w", err)
		}
		bcfg.AdminHours = &baseline.Hours{Start: h.Start, End: h.End, Days: h.Days, Location: h.Location}
	}
	corr, err := builtinCorrelations()
	if err != nil {
		return nil, err
	}
	d := &detect.Detector{
		Ledger: led, Rules: []detect.Evaluator{corr, baseline.New(bcfg)}, Deliver: deliver,
		StateFile: filepath.Join(cfg.Data, "cursors", "detect.json"), Now: time.Now, Log: log.With("component", "detect"),
	}
	runners := []runner{{"detector", d.Run}}
	if len(cfg.Detect.Scheduled) == 0 {
		return runners, nil
	}
	if query == nil {
		return nil, fmt.Errorf("detect.scheduled: scheduled query rules need the index (index.enabled: true)")
	}
	var rules []*scheduled.Rule
	for i, r := range cfg.Detect.Scheduled {
		sev := alert.Medium
		if r.Severity != "" {
			if sev, err = alert.ParseSeverity(r.Severity); err != nil {
				return nil, fmt.Errorf("detect.scheduled[%d].severity: %w", i, err)
			}
		}
		sr := &scheduled.Rule{ID: r.ID, Title: r.Title, Description: r.Description, Severity: sev, PCI: r.PCI,
			Query: r.Query, Frequency: time.Duration(r.Frequency), Window: time.Duration(r.Window), Condition: r.Condition}
		if err := sr.Validate(); err != nil {
			return nil, fmt.Errorf("detect.scheduled[%d]: %w", i, err)
		}
		rules = append(rules, sr)
	}
	s := &scheduled.Scheduler{
		Rules: rules,
		// Every run reads the audit logs: it is recorded like a user's query (10.2.1.3).
		Query: func(ctx context.Context, q string) (*kql.Result, error) {
			res, err := query(ctx, q)
			details := map[string]any{"query": q}
			out := event.Success
			if err != nil {
				out, details["error"] = event.Failure, err.Error()
			} else {
				details["rows"], details["tables"] = res.Rows(), res.TablesRead
			}
			if aerr := audit(ctx, event.SelfAudit{Action: event.ActionQuery, User: "system:cdewatch:scheduler", Outcome: out,
				Class: event.LogAccess, Resource: "scheduled", Details: details}); aerr != nil {
				return nil, fmt.Errorf("recording the scheduled query: %w", aerr)
			}
			return res, err
		},
		Raise:     d.Raise,
		StateFile: filepath.Join(cfg.Data, "cursors", "scheduled.json"),
		Now:       time.Now,
		Log:       log.With("component", "scheduled"),
	}
	return append(runners, runner{"scheduled rules", s.Run}), nil
}

// logDeliver stands for delivery until notifiers are configured: it logs
// each alert (every alert is already in the ledger and in the
// SecurityAlert table).
func logDeliver(log *slog.Logger) detect.DeliverFunc {
	return func(_ context.Context, rs []detect.Raised) error {
		for _, r := range rs {
			log.Warn("alert", "id", r.Seq, "rule", r.Alert.Rule, "severity", r.Alert.Severity.String(), "source", r.Alert.Source, "summary", r.Alert.Summary)
		}
		return nil
	}
}
