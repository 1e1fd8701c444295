package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/api"
	"github.com/cdewatch/cdewatch/internal/archive"
	"github.com/cdewatch/cdewatch/internal/auth"
	"github.com/cdewatch/cdewatch/internal/azure"
	"github.com/cdewatch/cdewatch/internal/config"
	"github.com/cdewatch/cdewatch/internal/demo"
	"github.com/cdewatch/cdewatch/internal/detect"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/health"
	"github.com/cdewatch/cdewatch/internal/index"
	"github.com/cdewatch/cdewatch/internal/ingest"
	"github.com/cdewatch/cdewatch/internal/ingest/esbulk"
	"github.com/cdewatch/cdewatch/internal/ingest/filetail"
	"github.com/cdewatch/cdewatch/internal/ingest/otlp"
	"github.com/cdewatch/cdewatch/internal/k8saudit"
	"github.com/cdewatch/cdewatch/internal/kql"
	"github.com/cdewatch/cdewatch/internal/ledger"
	"github.com/cdewatch/cdewatch/internal/scrub"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// demoSource is the source name of the bundled demo day.
const demoSource = "demo-aks-pci-prod"

// demoConfig configures detection for the demo day's cluster as an operator
// would (docs/DETECTION.md, the pack's lists): payments is its CDE
// namespace, and the payments applications' own service accounts, which
// read their secrets all day, are allowed secret readers; what is left to
// alert on is what the day's story holds. The day is loaded as a backlog
// of yesterday's events, which the clock-skew check of its source would
// take for a clock a day behind: it is off for that source.
func demoConfig(cfg *config.Config) error {
	cfg.PCI.CDENamespaces = append(cfg.PCI.CDENamespaces, "payments")
	cfg.Health.Skew.Rules = append(cfg.Health.Skew.Rules, config.HealthSkewRule{Match: demoSource, Off: true})
	pack, err := detect.BuiltinRules(nil)
	if err != nil {
		return err
	}
	readers, _ := pack.List("allowed_secret_readers")
	if cfg.Detect.Lists == nil {
		cfg.Detect.Lists = map[string][]string{}
	}
	cfg.Detect.Lists["allowed_secret_readers"] = append(readers,
		"system:serviceaccount:payments:card-processor", "system:serviceaccount:payments:tokenizer")
	return nil
}

func runServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "YAML configuration file (docs/cdewatch.example.yaml)")
	listen := fs.String("listen", "", "API address (default 127.0.0.1:8470)")
	data := fs.String("data", "", "data directory (default ./cdewatch-data; with --demo ./cdewatch-demo-data)")
	demoMode := fs.Bool("demo", false, "load a synthetic day of cluster activity into a fresh ledger, to look around")
	logJSON := fs.Bool("log-json", false, "log as JSON lines instead of text")
	var level slog.Level
	fs.TextVar(&level, "log-level", slog.LevelInfo, "least severe messages logged: debug, info, warn or error (debug adds e.g. the index's flush and checkpoint timings)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	cfg := config.Default()
	if *cfgPath != "" {
		var err error
		if cfg, err = config.Load(*cfgPath); err != nil {
			return err
		}
	}
	if *demoMode && *data == "" && *cfgPath == "" {
		cfg.Data = "./cdewatch-demo-data"
		if err := demoConfig(cfg); err != nil {
			return err
		}
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	if *data != "" {
		cfg.Data = *data
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, opts)
	if *logJSON {
		h = slog.NewJSONHandler(os.Stderr, opts)
	}
	return serve(ctx, cfg, *demoMode, slog.New(h), nil)
}

// serve runs the server until ctx ends. ready, when set, receives the
// listening address once requests are accepted.
func serve(ctx context.Context, cfg *config.Config, demoMode bool, log *slog.Logger, ready chan<- string) error {
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	tokens, adminTok, err := auth.Open(cfg.Data)
	if err != nil {
		return err
	}
	// The health monitor, once it exists, records failed checkpoint
	// signings with their start and end (10.7.2).
	var monitor atomic.Pointer[health.Monitor]
	led, err := ledger.Open(ledger.Options{
		OnCheckpointFailure: func(err error) {
			if m := monitor.Load(); m != nil {
				go m.ReportControl(context.WithoutCancel(ctx), health.ControlCheckpoint, "ledger", err)
			}
		},
		Dir:                ledgerDir(cfg.Data),
		Origin:             cfg.Ledger.Origin,
		SegmentBytes:       int64(cfg.Ledger.SegmentBytes),
		MaxBatchBytes:      int(cfg.Ledger.MaxBatchBytes),
		MaxBatchDelay:      time.Duration(cfg.Ledger.MaxBatchDelay),
		MaxPendingBytes:    int64(cfg.Ledger.MaxPendingBytes),
		CheckpointInterval: time.Duration(cfg.Ledger.CheckpointInterval),
		Logger:             log.With("component", "ledger"),
		InitRecord: func() ([]byte, error) {
			r, err := event.SelfAudit{Action: event.ActionLedgerInit, Class: event.LogInitStop,
				Details: map[string]any{"version": version}}.Record(time.Now())
			if err != nil {
				return nil, err
			}
			return r.MarshalBinary()
		},
	})
	if err != nil {
		return fmt.Errorf("open ledger: %w", err)
	}
	defer func() {
		if err := led.Close(); err != nil {
			log.Error("closing ledger", "err", err)
		}
	}()
	audit := func(ctx context.Context, a event.SelfAudit) error {
		return ingest.Audit(context.WithoutCancel(ctx), led, time.Now(), a)
	}

	window := time.Duration(cfg.Ingest.DedupWindow)
	dedup := ingest.NewDedup(ingest.DedupOptions{Window: window, MaxKeys: cfg.Ingest.DedupMaxKeys, Log: log.With("component", "ingest")})
	if n, err := ingest.RebuildDedup(led, dedup, time.Now().Add(-window), log); err != nil {
		return fmt.Errorf("rebuild redelivery index from ledger: %w", err)
	} else if n > 0 {
		log.Info("redelivery index rebuilt from ledger", "keys", n, "window", window)
	}
	// Every receiver stores through one pipeline: card data masked in
	// every field, redeliveries dropped, per-source counts.
	stats := ingest.NewStats(nil)
	pipe := &ingest.Pipeline{
		Ledger: led, Scrubber: scrub.New(scrub.Options{}), Dedup: dedup, Stats: stats, Now: time.Now,
		Log: log.With("component", "ingest"),
	}
	k8s := &ingest.K8sAudit{
		Pipeline: pipe,
		Classifier: k8saudit.NewClassifier(k8saudit.ClassifierConfig{
			CDENamespaces: cfg.PCI.CDENamespaces, PrivilegedUsers: cfg.PCI.PrivilegedUsers,
			PrivilegedGroups: cfg.PCI.PrivilegedGroups, AdminRoles: cfg.PCI.AdminRoles,
		}),
		MaxRequestBytes: int64(cfg.Ingest.MaxRequestBytes),
		MaxEventBytes:   int(cfg.Ingest.MaxEventBytes),
		Now:             time.Now,
		Log:             pipe.Log,
	}

	rec := led.Recovery
	if err := audit(ctx, event.SelfAudit{Action: event.ActionServeStart, Class: event.LogInitStop, Details: map[string]any{
		"version": version, "listen": cfg.Listen, "tree_size": led.Size(),
		"recovered_torn_bytes": rec.TruncatedBytes, "rehashed_leaves": rec.RehashedLeaves,
	}}); err != nil {
		return err
	}
	if err := tokens.RecordPending(ctx, audit); err != nil {
		return err
	}
	if adminTok != nil {
		log.Info("first start: platform-admin token written", "file", filepath.Join(cfg.Data, auth.AdminTokenFile))
	}
	oidcAuth, limiter, err := apiAuth(cfg.Auth)
	if err != nil {
		return err
	}
	log.Info("ledger open", "dir", ledgerDir(cfg.Data), "origin", led.Origin(), "size", led.Size())

	tailers := make([]*filetail.Tailer, 0, len(cfg.AuditFiles))
	for _, f := range cfg.AuditFiles {
		sum := sha256.Sum256([]byte(f.Path))
		t, err := filetail.New(filetail.Config{
			Path:      f.Path,
			StateFile: filepath.Join(cfg.Data, "cursors", "file-"+hex.EncodeToString(sum[:8])+".json"),
			Logger:    log.With("component", "filetail", "file", f.Path, "source", f.Source),
		}, k8s.FileHandler(f.Source, f.Path))
		if err != nil {
			return fmt.Errorf("follow %s: %w", f.Path, err)
		}
		tailers = append(tailers, t)
	}

	var idx *index.Index
	if cfg.Index.Enabled {
		idx, err = index.Open(indexPath(cfg.Data), index.Options{MemoryLimit: cfg.Index.MemoryLimit, Threads: cfg.Index.Threads,
			StageMemory: int64(cfg.Index.StageMemory), Logger: log.With("component", "index")})
		if err != nil {
			return fmt.Errorf("open index: %w", err)
		}
		indexProcs(log) // after Open, which sizes DuckDB by GOMAXPROCS
		defer func() {
			if err := idx.Close(); err != nil {
				log.Error("closing index", "err", err)
			}
		}()
	}

	azureIn := &ingest.Azure{Store: pipe, Classifier: k8s.Classifier, MaxRequestBytes: int64(cfg.Ingest.MaxRequestBytes),
		Limits: azure.Limits{MaxBodyBytes: int(cfg.Ingest.MaxRequestBytes)}, Now: time.Now, Log: pipe.Log}
	router := &ingest.Router{Classifier: k8s.Classifier, Limits: k8saudit.Limits{MaxEventBytes: int(cfg.Ingest.MaxEventBytes)}}
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(stats, dedup, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if idx != nil {
		metrics.MustRegister(idx.Collector())
	}
	srv := &api.Server{Ledger: led, Tokens: tokens, OIDC: oidcAuth, Limiter: limiter, K8sAudit: k8s, Audit: audit, Log: log.With("component", "api"),
		Stats:   stats,
		Metrics: promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}),
		Ingest: map[string]http.Handler{
			"POST /v1/ingest/app":   &ingest.App{Store: pipe, MaxRequestBytes: int64(cfg.Ingest.MaxRequestBytes), Log: pipe.Log},
			"POST /v1/ingest/azure": azureIn,
			// Shippers' Elasticsearch outputs point at <server>/es.
			"/es/": http.StripPrefix("/es", &esbulk.Handler{Store: pipe, Router: router, MaxRequestBytes: int64(cfg.Ingest.MaxRequestBytes),
				AppIndexPrefix: cfg.Ingest.AppIndexPrefix, Ready: led.Err, Now: time.Now, Log: log.With("component", "esbulk")}),
			"POST /v1/logs": &otlp.Handler{Pipeline: pipe, Router: router, AppServices: setOf(cfg.Ingest.AppServices),
				MaxRequestBytes: int64(cfg.Ingest.MaxRequestBytes), Now: time.Now, Log: log.With("component", "otlp")},
		},
	}
	if idx != nil {
		srv.Sources = idx.Sources
	}
	if idx != nil {
		srv.Query = kql.NewEngine(idx.DB(), queryTables(), kql.Options{
			Timeout:  time.Duration(cfg.Query.Timeout),
			MaxRows:  cfg.Query.MaxRows,
			MaxBytes: int64(cfg.Query.MaxBytes),
		}).Run
	}
	var runners []runner
	if idx != nil {
		runners = append(runners, runner{"index", func(ctx context.Context) error { return idx.Run(ctx, led) }})
	}
	for _, t := range tailers {
		runners = append(runners, runner{"follow audit log file", t.Run})
	}
	kafkas, err := kafkaRunners(cfg.Kafka, azureIn, router, pipe, log)
	if err != nil {
		return err
	}
	runners = append(runners, kafkas...)
	syslogs, closeSyslog, err := syslogRunners(cfg.Syslog, pipe, metrics, log)
	if err != nil {
		return err
	}
	runners = append(runners, syslogs...)
	// Alerts go to the notifiers through a durable outbox; a notifier
	// failing for long is itself a failure of a control (PCI DSS 10.7.2):
	// recorded, and raised as an alert.
	// Failures of cdewatch's own controls and of its sources are recorded
	// with start and end and raised as alerts by the health monitor
	// (PCI DSS 10.7.2, 10.7.3); alerts go to the notifiers through a
	// durable outbox.
	var detector atomic.Pointer[detect.Detector]
	raise := func(ctx context.Context, alerts []alert.Alert) error {
		d := detector.Load()
		if d == nil {
			for _, a := range alerts {
				log.Error("alert not raised: detection is disabled (detect.enabled)", "rule", a.Rule, "summary", a.Summary)
			}
			return nil
		}
		return d.Raise(ctx, alerts)
	}
	var archiver atomic.Pointer[archive.Archiver]
	hm, err := healthMonitor(cfg, led, idx, stats, &archiver, audit, log.With("component", "health"))
	if err != nil {
		closeSyslog()
		return fmt.Errorf("health: %w", err)
	}
	metrics.MustRegister(hm)
	monitor.Store(hm)
	bg := context.WithoutCancel(ctx)
	ob, err := openOutbox(cfg, func(name string, _ time.Time, ferr error) {
		_ = hm.ReportControl(bg, health.ControlNotifier, name, ferr)
	}, func(name string, _ time.Time) {
		_ = hm.ReportControl(bg, health.ControlNotifier, name, nil)
	}, log)
	if err != nil {
		closeSyslog()
		return fmt.Errorf("open the alert outbox: %w", err)
	}
	deliver := logDeliver(log.With("component", "alerts"))
	if ob != nil {
		defer ob.Close()
		deliver = outboxDeliver(ob)
	}
	detectors, det, err := detectRunners(cfg, led, srv.Query, audit, deliver, []detect.Evaluator{hm}, log)
	if err != nil {
		closeSyslog()
		return err
	}
	detector.Store(det)
	if det == nil {
		log.Warn("detection is off (detect.enabled: false): no alert is raised or sent, and failures of the sources and of cdewatch's controls are only logged and recorded")
	}
	runners = append(runners, detectors...)
	runners = append(runners, runner{"health", func(ctx context.Context) error { return hm.Run(ctx, raise) }})
	guards, err := protectRunners(ctx, cfg, led, idx, hm, &archiver, audit, raise, metrics, log)
	if err != nil {
		closeSyslog()
		return err
	}
	runners = append(runners, guards.runners...)
	srv.Retention, srv.Health = guards.retain, hm
	if det != nil {
		srv.Incidents = det
	}
	if idx != nil {
		srv.Rehydrate = func(ctx context.Context, from, to, until time.Time) (uint64, uint64, uint64, error) {
			first, err := led.SeqAt(from)
			if err != nil {
				return 0, 0, 0, err
			}
			end, err := led.SeqAt(to)
			if err != nil {
				return 0, 0, 0, err
			}
			rows, err := idx.Rehydrate(ctx, led, first, end, until, time.Now())
			return first, end, rows, err
		}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		closeSyslog()
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}

	// A query may run for query.timeout before its result is written.
	writeTimeout := max(60*time.Second, time.Duration(cfg.Query.Timeout)+30*time.Second)
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 2+len(runners))
	wg.Add(1)
	go func() {
		defer wg.Done()
		var err error
		if cfg.TLS.Cert != "" {
			err = hs.ServeTLS(ln, cfg.TLS.Cert, cfg.TLS.Key)
		} else {
			err = hs.Serve(ln)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http server: %w", err)
		}
	}()
	for _, r := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.run(runCtx); err != nil && runCtx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", r.name, err)
			}
		}()
	}
	if demoMode {
		marker := filepath.Join(cfg.Data, "demo.loaded")
		if _, err := os.Stat(marker); errors.Is(err, os.ErrNotExist) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := loadDemo(runCtx, k8s, log)
				if err == nil {
					err = os.WriteFile(marker, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o600)
				}
				if err != nil && runCtx.Err() == nil {
					errc <- err
				}
			}()
		} else {
			log.Info("demo day already loaded into this ledger; not loading it again")
		}
	}
	log.Info("cdewatch serving", "addr", ln.Addr().String(), "tls", cfg.TLS.Cert != "",
		"admin_token_file", filepath.Join(cfg.Data, auth.AdminTokenFile))
	if ready != nil {
		ready <- ln.Addr().String()
	}

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case runErr = <-errc:
		log.Error("stopping after failure", "err", runErr)
	}
	cancel()
	shutCtx, done := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer done()
	if err := hs.Shutdown(shutCtx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	wg.Wait()
	reason := "signal"
	if runErr != nil {
		reason = runErr.Error()
	}
	if err := audit(shutCtx, event.SelfAudit{Action: event.ActionServeStop, Class: event.LogInitStop,
		Details: map[string]any{"reason": reason, "tree_size": led.Size()}}); err != nil {
		log.Error("could not record stop", "err", err)
	}
	return runErr
}

// loadDemo stores the bundled synthetic day (yesterday, UTC) as source
// demoSource, in webhook-sized batches. An interrupted load is completed at
// the next start; redelivery detection keeps it from storing events twice.
func loadDemo(ctx context.Context, k *ingest.K8sAudit, log *slog.Logger) error {
	day := time.Now().UTC().AddDate(0, 0, -1)
	events := demo.Day(day, 1)
	log.Info("loading demo day", "events", len(events), "day", day.Format(time.DateOnly), "source", demoSource)
	for i := 0; i < len(events); i += 400 {
		batch := events[i:min(i+400, len(events))]
		items := make([]k8saudit.Item, len(batch))
		for j, b := range batch {
			it, err := k8saudit.DecodeLine(b, k8saudit.Limits{MaxEventBytes: k.MaxEventBytes})
			if err != nil {
				return fmt.Errorf("demo event %d: %w", i+j, err)
			}
			items[j] = it
		}
		if _, err := k.Store(ctx, demoSource, items); err != nil {
			return fmt.Errorf("store demo events: %w", err)
		}
	}
	log.Info("demo day loaded", "events", len(events))
	return nil
}

// queryTables describes the index's tables and views to the query engine.
func queryTables() []kql.TableDef {
	rels := index.Relations()
	out := make([]kql.TableDef, len(rels))
	for i, r := range rels {
		cols := make([]kql.Column, len(r.Columns))
		for j, c := range r.Columns {
			cols[j] = kql.Column{Name: c.Name, Type: string(c.Type)}
		}
		out[i] = kql.TableDef{Name: r.Name, Columns: cols, Doc: r.Doc, Of: r.Base, TypeColumn: true}
	}
	return out
}

// indexProcs doubles GOMAXPROCS (unless the GOMAXPROCS environment
// variable sets it) when the query index runs. The index's threads run
// niced (index.Options.Nice) so that, when the CPUs are short, ingest and
// queries come first and the index falls behind; but with as many Ps as
// CPUs, Go's scheduler shares the Ps evenly between the index's goroutines
// and the others, whatever their threads' priorities. With more Ps than
// CPUs, the kernel decides, and honours the priorities: ingest with the
// index running went from 0.50–0.58 to 0.77–0.81 of its rate without it
// (docs/BENCHMARKS.md).
func indexProcs(log *slog.Logger) {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	runtime.SetDefaultGOMAXPROCS()
	n := 2 * runtime.GOMAXPROCS(0)
	runtime.GOMAXPROCS(n)
	log.Debug("GOMAXPROCS raised for the query index", "gomaxprocs", n)
}

// indexPath is the DuckDB database of the query tables, rebuilt from the
// ledger by `cdewatch reindex`.
func indexPath(data string) string { return filepath.Join(data, "index.duckdb") }
