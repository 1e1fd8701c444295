package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/alert/notify"
	"github.com/cdewatch/cdewatch/internal/archive"
	"github.com/cdewatch/cdewatch/internal/config"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/health"
	"github.com/cdewatch/cdewatch/internal/index"
	"github.com/cdewatch/cdewatch/internal/ledger"
	"github.com/cdewatch/cdewatch/internal/retention"
	"github.com/cdewatch/cdewatch/internal/witness"
	"github.com/prometheus/client_golang/prometheus"
)

// raiseFunc raises alerts that are not the outcome of a rule (failures of
// cdewatch's own controls): recorded in the ledger and delivered.
type raiseFunc func(ctx context.Context, alerts []alert.Alert) error

// guards are the parts that protect the logs: the integrity monitor,
// retention, the archive, the checkpoint witnesses, the index's hot window.
type guards struct {
	runners []runner
	retain  *retention.Manager
}

// protectRunners builds the guards. Failures of these controls are
// reported to the health monitor, which records them with start and end
// (PCI DSS 10.7.2, 10.7.3) and raises them.
func protectRunners(ctx context.Context, cfg *config.Config, led *ledger.Ledger, idx *index.Index, hm *health.Monitor,
	archiver *atomic.Pointer[archive.Archiver], audit func(context.Context, event.SelfAudit) error, raise raiseFunc,
	reg prometheus.Registerer, log *slog.Logger) (*guards, error) {
	g := &guards{}
	g.runners = append(g.runners, integrityRunner(cfg, led, audit, hm, raise, log.With("component", "integrity")))
	var err error
	if g.retain, err = retentionManager(ctx, cfg, led, audit, log.With("component", "retention")); err != nil {
		return nil, err
	}
	g.runners = append(g.runners, runner{"retention", g.retain.Run})
	bg := context.WithoutCancel(ctx)
	archives, a, err := archiveRunners(ctx, cfg, led, audit, func(ferr error) {
		_ = hm.ReportControl(bg, health.ControlArchive, cfg.Archive.URL, ferr)
	}, reg, log)
	if err != nil {
		return nil, err
	}
	archiver.Store(a)
	g.runners = append(g.runners, archives...)
	wr, ok, err := witnessRunner(cfg, led, hm, log.With("component", "witness"))
	if err != nil {
		return nil, err
	}
	if ok {
		g.runners = append(g.runners, wr)
	}
	if idx != nil {
		g.runners = append(g.runners, hotWindowRunner(cfg, idx, audit, log.With("component", "index")))
	}
	return g, nil
}

// slowPass says, when a full integrity pass took more than 10% longer than
// integrity.full_pass, that the CPU cannot re-verify the ledger that
// often; "" otherwise. The monitor sizes each step to finish a pass in 80%
// of full_pass, so a pass that overruns it had too little CPU.
func slowPass(p ledger.PassResult, fullPass time.Duration) string {
	took := p.Finished.Sub(p.Started)
	if took*10 <= fullPass*11 {
		return ""
	}
	return fmt.Sprintf("integrity: a full pass over the ledger took %v, longer than integrity.full_pass (%v): "+
		"re-verifying every stored record needs about 4 µs of CPU each per pass; raise integrity.full_pass or the CPU (docs/DEPLOY.md, Sizing)",
		took.Round(time.Minute), fullPass)
}

// integrityRunner re-verifies the ledger's stored data (PCI DSS 10.3.4):
// any damage is recorded and raised as a critical alert naming the
// leaves; every completed full pass is recorded as evidence.
func integrityRunner(cfg *config.Config, led *ledger.Ledger, audit func(context.Context, event.SelfAudit) error, hm *health.Monitor, raise raiseFunc, log *slog.Logger) runner {
	var ctx context.Context
	mon := led.NewMonitor(ledger.MonitorOptions{
		Interval:  time.Duration(cfg.Integrity.Interval),
		FullPass:  time.Duration(cfg.Integrity.FullPass),
		StateFile: filepath.Join(cfg.Data, "cursors", "integrity.json"),
		Logger:    log,
		OnDamage: func(d ledger.Damage) {
			details := map[string]any{"file": d.File, "offset": d.Offset, "first_leaf": d.FirstLeaf, "end_leaf": d.EndLeaf, "reason": d.Reason}
			if err := audit(ctx, event.SelfAudit{Action: event.ActionIntegrityDamage, Outcome: event.Failure, Resource: d.File, Details: details}); err != nil {
				log.Error("could not record ledger damage", "damage", d.Error(), "err", err)
			}
			if err := raise(ctx, []alert.Alert{{Rule: "cdewatch.ledger-integrity", RuleTitle: "Stored audit log data was altered", Kind: "health",
				Severity: alert.Critical, PCI: []string{"10.3.4", "10.5.1"}, Source: event.SelfSource, Time: time.Now().UTC(),
				Key: fmt.Sprintf("%s@%d", filepath.Base(d.File), d.Offset), Summary: "ledger damage: " + d.Error()}}); err != nil {
				log.Error("could not raise the ledger damage alert", "damage", d.Error(), "err", err)
			}
			_ = hm.ReportControl(ctx, health.ControlVerifier, "ledger", d)
		},
		OnPass: func(p ledger.PassResult) {
			outcome := event.Success
			if !p.OK {
				outcome = event.Failure
			}
			if err := audit(ctx, event.SelfAudit{Action: event.ActionIntegrityPass, Outcome: outcome, Details: map[string]any{
				"leaves": p.Leaves, "bytes": p.Bytes, "started": p.Started, "finished": p.Finished}}); err != nil {
				log.Error("could not record an integrity pass", "err", err)
			}
			if p.OK {
				_ = hm.ReportControl(ctx, health.ControlVerifier, "ledger", nil)
			}
			if msg := slowPass(p, time.Duration(cfg.Integrity.FullPass)); msg != "" {
				log.Warn(msg, "started", p.Started, "finished", p.Finished, "leaves", p.Leaves, "bytes", p.Bytes)
			}
		},
	})
	return runner{"integrity monitor", func(c context.Context) error {
		ctx = context.WithoutCancel(c)
		return mon.Run(c)
	}}
}

// retentionManager starts the retention policy (PCI DSS 10.5.1): it
// reconciles the configured policy with the effective one, recording each
// change, before anything is served.
func retentionManager(ctx context.Context, cfg *config.Config, led *ledger.Ledger, audit retention.AuditFunc, log *slog.Logger) (*retention.Manager, error) {
	p := retention.Policy{Default: time.Duration(cfg.Retention.Default), Tables: map[string]time.Duration{}}
	for t, d := range cfg.Retention.Tables {
		p.Tables[t] = time.Duration(d)
	}
	m := &retention.Manager{Ledger: led, Configured: p, ShortenDelay: time.Duration(cfg.Retention.ShortenDelay),
		Interval: time.Duration(cfg.Retention.Interval), StateFile: filepath.Join(cfg.Data, "retention.json"), Audit: audit, Log: log}
	if err := m.Start(ctx); err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	return m, nil
}

// hotWindowRunner keeps the query index to its hot window
// (retention.index): older rows leave the index, not the ledger.
func hotWindowRunner(cfg *config.Config, idx *index.Index, audit func(context.Context, event.SelfAudit) error, log *slog.Logger) runner {
	keep := func(table string) time.Duration {
		if d, ok := cfg.Retention.IndexTables[table]; ok {
			return time.Duration(d)
		}
		return time.Duration(cfg.Retention.Index)
	}
	return runner{"index hot window", func(ctx context.Context) error {
		t := time.NewTicker(time.Duration(cfg.Retention.Interval))
		defer t.Stop()
		for {
			now := time.Now().UTC()
			deleted, err := idx.ExpireHot(ctx, func(table string) time.Time { return now.Add(-keep(table)) }, now)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				log.Error("index hot window expiry failed", "err", err)
			} else if len(deleted) > 0 {
				log.Info("rows past the hot window left the index", "rows", deleted)
				details := map[string]any{}
				for k, v := range deleted {
					details[k] = v
				}
				if err := audit(ctx, event.SelfAudit{Action: event.ActionIndexExpire, Details: map[string]any{"deleted_rows": details}}); err != nil {
					log.Error("could not record index expiry", "err", err)
				}
			}
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	}}
}

// controlWitness is the health control of publishing checkpoints to a
// witness.
const controlWitness = "ledger.witness"

// witnessRunner publishes the ledger's signed checkpoints off the node
// (witness:): to C2SP witnesses, which cosign them, and to syslog
// receivers. A witness failing is a failure of a control (10.7.2).
func witnessRunner(cfg *config.Config, led *ledger.Ledger, hm *health.Monitor, log *slog.Logger) (runner, bool, error) {
	w := cfg.Witness
	if !w.Enabled() {
		return runner{}, false, nil
	}
	var ws []witness.Witness
	for _, s := range w.Witnesses {
		ws = append(ws, witness.Witness{URL: s.URL, Key: s.Key})
	}
	var siems []*notify.Syslog
	for _, name := range w.SyslogNotifiers {
		i := slices.IndexFunc(cfg.Notifiers, func(n config.Notifier) bool { return n.Name == name })
		s, err := syslogNotifier(cfg.Notifiers[i])
		if err != nil {
			return runner{}, false, fmt.Errorf("witness.syslog_notifiers: %w", err)
		}
		siems = append(siems, s)
	}
	host, _ := os.Hostname()
	var ctx context.Context
	pub, err := witness.New(witness.Options{
		Latest: led.LatestCheckpoint, Prove: led.ConsistencyProof, LogVerifier: led.Verifier(),
		Dir: filepath.Join(cfg.Data, "witness"), Witnesses: ws,
		Interval: time.Duration(w.Interval), Timeout: time.Duration(w.Timeout),
		OnPublish: func(p witness.Publication) {
			msg := p.SyslogMessage(time.Now(), witness.SyslogOptions{Hostname: host}).AppendRFC5424(nil)
			for _, s := range siems {
				if err := s.SendMessages(ctx, [][]byte{msg}); err != nil {
					log.Error("could not publish the checkpoint to syslog", "notifier", s.Name(), "size", p.Size, "err", err)
				}
			}
		},
		OnFailure: func(name string, ferr error, _ time.Time) {
			_ = hm.ReportControl(ctx, controlWitness, name, ferr)
		},
		OnRecovered: func(name string, _ time.Time) {
			_ = hm.ReportControl(ctx, controlWitness, name, nil)
		},
		Logger: log,
	})
	if err != nil {
		return runner{}, false, fmt.Errorf("witness: %w", err)
	}
	return runner{"publish checkpoints", func(c context.Context) error {
		ctx = context.WithoutCancel(c)
		defer func() {
			for _, s := range siems {
				s.Close()
			}
		}()
		return pub.Run(c)
	}}, true, nil
}
