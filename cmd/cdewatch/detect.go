package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/alert/notify"
	"github.com/cdewatch/cdewatch/internal/alert/outbox"
	"github.com/cdewatch/cdewatch/internal/config"
	"github.com/cdewatch/cdewatch/internal/detect"
	"github.com/cdewatch/cdewatch/internal/detect/baseline"
	"github.com/cdewatch/cdewatch/internal/detect/correlate"
	"github.com/cdewatch/cdewatch/internal/detect/scheduled"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/kql"
	"github.com/cdewatch/cdewatch/internal/sigma"
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
	audit func(context.Context, event.SelfAudit) error, deliver detect.DeliverFunc, extra []detect.Evaluator, log *slog.Logger) ([]runner, *detect.Detector, error) {
	if !cfg.Detect.Enabled {
		return nil, nil, nil
	}
	bcfg := baseline.Config{Learning: time.Duration(cfg.Detect.Learning)}
	if cfg.Detect.AdminHours != "" {
		h, err := config.ParseHours(cfg.Detect.AdminHours)
		if err != nil {
			return nil, nil, fmt.Errorf("detect.admin_hours: %w", err)
		}
		bcfg.AdminHours = &baseline.Hours{Start: h.Start, End: h.End, Days: h.Days, Location: h.Location}
	}
	corr, err := builtinCorrelations()
	if err != nil {
		return nil, nil, err
	}
	evaluators, err := ruleSets(cfg, log)
	if err != nil {
		return nil, nil, err
	}
	d := &detect.Detector{
		Ledger: led, Rules: append(append(evaluators, corr, baseline.New(bcfg)), extra...), Deliver: deliver,
		StateFile: filepath.Join(cfg.Data, "cursors", "detect.json"), Now: time.Now, Log: log.With("component", "detect"),
	}
	runners := []runner{{"detector", d.Run}}
	if len(cfg.Detect.Scheduled) == 0 {
		return runners, d, nil
	}
	if query == nil {
		return nil, nil, fmt.Errorf("detect.scheduled: scheduled query rules need the index (index.enabled: true)")
	}
	var rules []*scheduled.Rule
	for i, r := range cfg.Detect.Scheduled {
		sev := alert.Medium
		if r.Severity != "" {
			if sev, err = alert.ParseSeverity(r.Severity); err != nil {
				return nil, nil, fmt.Errorf("detect.scheduled[%d].severity: %w", i, err)
			}
		}
		sr := &scheduled.Rule{ID: r.ID, Title: r.Title, Description: r.Description, Severity: sev, PCI: r.PCI,
			Query: r.Query, Frequency: time.Duration(r.Frequency), Window: time.Duration(r.Window), Condition: r.Condition}
		if err := sr.Validate(); err != nil {
			return nil, nil, fmt.Errorf("detect.scheduled[%d]: %w", i, err)
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
	return append(runners, runner{"scheduled rules", s.Run}), d, nil
}

// ruleSets loads the built-in PCI rule pack (with the configured lists),
// the rule files of detect.rules_dir and the Sigma rules of
// detect.sigma_dir (a Sigma rule that cannot be loaded is logged with the
// reason and skipped; a rule file of cdewatch's language that cannot be
// loaded stops the start).
func ruleSets(cfg *config.Config, log *slog.Logger) ([]detect.Evaluator, error) {
	lists := map[string][]string{}
	if len(cfg.PCI.CDENamespaces) > 0 {
		lists["cde_namespaces"] = cfg.PCI.CDENamespaces
	}
	if len(cfg.PCI.AdminRoles) > 0 {
		lists["admin_roles"] = cfg.PCI.AdminRoles
	}
	for k, v := range cfg.Detect.Lists {
		lists[k] = v
	}
	builtin, err := detect.BuiltinRules(lists)
	if err != nil {
		return nil, fmt.Errorf("detect: %w", err)
	}
	out := []detect.Evaluator{builtin}
	if dir := cfg.Detect.RulesDir; dir != "" {
		rs, err := detect.LoadRules(os.DirFS(dir), lists)
		if err != nil {
			return nil, fmt.Errorf("detect.rules_dir %s: %w", dir, err)
		}
		out = append(out, rs)
	}
	if dir := cfg.Detect.SigmaDir; dir != "" {
		set, rejected, err := sigma.Load(os.DirFS(dir), ".")
		if err != nil {
			return nil, fmt.Errorf("detect.sigma_dir %s: %w", dir, err)
		}
		for _, e := range rejected {
			log.Warn("Sigma rule not loaded", "dir", dir, "err", e.Error())
		}
		log.Info("Sigma rules loaded", "dir", dir, "rules", len(set.Rules()), "correlations", len(set.Correlations()), "rejected", len(rejected))
		out = append(out, &sigmaRules{set: set, corr: sigma.NewCorrelator(set)})
	}
	return out, nil
}

// sigmaRules evaluates a Sigma rule set and its correlation rules, whose
// windows are saved with the detector's cursor.
type sigmaRules struct {
	set  *sigma.Set
	corr *sigma.Correlator
}

func (s *sigmaRules) Eval(e *detect.Event, emit func(alert.Alert)) {
	s.set.EvalCorrelate(e, s.corr, emit)
}
func (s *sigmaRules) StateName() string             { return "sigma" }
func (s *sigmaRules) MarshalState() ([]byte, error) { return json.Marshal(s.corr) }
func (s *sigmaRules) UnmarshalState(b []byte) error { return json.Unmarshal(b, s.corr) }

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

// openOutbox builds the notifiers of cfg and the outbox that delivers to
// them (nil when no notifier is configured). onFailing is called when a
// notifier has failed for a while (PCI DSS 10.7.2).
func openOutbox(cfg *config.Config, onFailing func(string, time.Time, error), onRecovered func(string, time.Time), log *slog.Logger) (*outbox.Outbox, error) {
	if len(cfg.Notifiers) == 0 {
		return nil, nil
	}
	var targets []outbox.Target
	for i, n := range cfg.Notifiers {
		key := fmt.Sprintf("notifiers[%d]", i)
		nt, err := newNotifier(key, n)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		route := outbox.Route{PCI: n.PCI, Sources: n.Sources, Rules: n.Rules, ExcludeRules: n.ExcludeRules}
		if n.MinSeverity != "" {
			if route.MinSeverity, err = alert.ParseSeverity(n.MinSeverity); err != nil {
				return nil, fmt.Errorf("%s.min_severity: %w", key, err)
			}
		}
		targets = append(targets, outbox.Target{Notifier: nt, Route: route,
			Throttle: outbox.Throttle{Max: n.ThrottleMax, Window: time.Duration(n.ThrottleWindow), By: n.ThrottleBy}})
	}
	return outbox.Open(filepath.Join(cfg.Data, "outbox"), outbox.Options{Targets: targets, OnFailing: onFailing, OnRecovered: onRecovered, Logger: log.With("component", "outbox")})
}

// newNotifier makes the notifier n describes (key names it in errors),
// reading its secrets from their files.
func newNotifier(key string, n config.Notifier) (notify.Notifier, error) {
	tls, timeout := notifierTLS(n), time.Duration(n.Timeout)
	switch n.Type {
	case "webhook":
		secret, err := readSecretFile(key+".secret_file", n.SecretFile)
		if err != nil {
			return nil, err
		}
		return notify.NewWebhook(notify.WebhookConfig{Name: n.Name, URL: n.URL, Secret: secret, Headers: n.Headers, Timeout: timeout, TLS: tls})
	case "slack", "teams":
		url, err := readSecretFile(key+".url_file", n.URLFile)
		if err != nil {
			return nil, err
		}
		c := notify.ChatConfig{Name: n.Name, URL: url, MaxAlerts: n.MaxAlerts, Timeout: timeout, TLS: tls}
		if n.Type == "slack" {
			return notify.NewSlack(c)
		}
		return notify.NewTeams(c)
	case "email":
		var pw string
		if n.PasswordFile != "" {
			var err error
			if pw, err = readSecretFile(key+".password_file", n.PasswordFile); err != nil {
				return nil, err
			}
		}
		return notify.NewEmail(notify.EmailConfig{Name: n.Name, Address: n.Address, ImplicitTLS: n.ImplicitTLS, AllowPlaintext: n.AllowPlaintext,
			Username: n.Username, Password: pw, From: n.From, To: n.To, LocalName: n.LocalName, Timeout: timeout, TLS: tls})
	case "syslog":
		return syslogNotifier(n)
	}
	return nil, fmt.Errorf("unknown notifier type %q", n.Type)
}

// syslogNotifier makes the syslog sender a syslog notifier describes.
func syslogNotifier(n config.Notifier) (*notify.Syslog, error) {
	return notify.NewSyslog(notify.SyslogConfig{Name: n.Name, Network: n.Network, Address: n.Address, Facility: n.Facility,
		Hostname: n.Hostname, AppName: n.AppName, SDID: n.SDID, MaxUDPBytes: n.MaxUDPBytes, Timeout: time.Duration(n.Timeout), TLS: notifierTLS(n)})
}

// notifierTLS is the TLS of the connection to a notifier's receiver.
func notifierTLS(n config.Notifier) notify.TLSOptions {
	return notify.TLSOptions{CAFile: n.CAFile, CertFile: n.CertFile, KeyFile: n.KeyFile, ServerName: n.ServerName}
}

// outboxDeliver hands alerts to the outbox, waiting while it pushes back.
func outboxDeliver(ob *outbox.Outbox) detect.DeliverFunc {
	return func(ctx context.Context, rs []detect.Raised) error {
		as := make([]alert.Alert, len(rs))
		for i, r := range rs {
			as[i] = r.Alert
		}
		wait := 100 * time.Millisecond
		for {
			err := ob.Enqueue(as)
			if !errors.Is(err, outbox.ErrPushback) {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
			wait = min(2*wait, 5*time.Second)
		}
	}
}
