package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdewatch/cdewatch/internal/archive"
	"github.com/cdewatch/cdewatch/internal/config"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/ledger"
)

// archiveRunners builds the archiver of cfg.Archive (PCI DSS 10.3.3): none
// when no archive is configured. A bucket that exists but lacks Object Lock
// is refused here; a store that cannot be reached yet is retried by the
// runner, its failures reported like any failed pass. control is called
// with the error of every failed pass and with nil at the first success
// after failures (a control of PCI DSS 10.7.2, which the health monitor
// records with start and end); every restore test is recorded through
// audit. The archiver's metrics are registered with reg.
func archiveRunners(ctx context.Context, cfg *config.Config, led *ledger.Ledger, audit func(context.Context, event.SelfAudit) error,
	control func(error), reg prometheus.Registerer, log *slog.Logger) ([]runner, *archive.Archiver, error) {
	ac := cfg.Archive
	if ac.URL == "" {
		return nil, nil, nil
	}
	loc, err := archive.ParseLocation(ac.URL)
	if err != nil {
		return nil, nil, fmt.Errorf("archive.url: %w", err)
	}
	if audit == nil {
		audit = func(context.Context, event.SelfAudit) error { return nil }
	}
	if control == nil {
		control = func(error) {}
	}
	log = log.With("component", "archive", "target", loc.String())
	store := &lazyStore{name: loc.String(), open: func(ctx context.Context) (archive.Store, error) { return archive.Open(ctx, loc, ac.CredentialsFile) }}
	// Refuse an unsafe bucket now; a store that is only unreachable is
	// retried by the passes.
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	_, err = store.get(octx)
	cancel()
	if errors.Is(err, archive.ErrUnsuitable) {
		return nil, nil, fmt.Errorf("archive.url: %w", err)
	} else if err != nil {
		log.Warn("archive store not reachable at start; retrying with each pass", "err", err)
	}
	testInterval := time.Duration(ac.RestoreTestInterval)
	if ac.RestoreTestDisabled {
		testInterval = 0
	}
	testDir := ac.RestoreTestDir
	if testDir == "" {
		testDir = filepath.Join(cfg.Data, "archive", "restore-test")
	}
	a, err := archive.New(archive.Options{
		Ledger: led, Store: store, StateFile: filepath.Join(cfg.Data, "archive", "state.json"),
		Retention: time.Duration(ac.Retention), Interval: time.Duration(ac.Interval), MaxChunkBytes: int64(ac.MaxChunkBytes),
		RestoreTestInterval: testInterval, RestoreTestDir: testDir, Logger: log,
		OnFailure:   func(ferr error, _ time.Time) { control(ferr) },
		OnRecovered: func(time.Time) { control(nil) },
		OnRestoreTest: func(ctx context.Context, r archive.RestoreTestResult) {
			if err := audit(context.WithoutCancel(ctx), restoreTestAudit(r)); err != nil {
				log.Error("could not record the restore test", "err", err)
			}
		},
	})
	if err != nil {
		return nil, nil, err
	}
	if reg != nil {
		if err := reg.Register(a.Collector()); err != nil {
			return nil, nil, fmt.Errorf("archive metrics: %w", err)
		}
	}
	return []runner{{name: "archive to " + loc.String(), run: a.Run}}, a, nil
}

// restoreTestAudit is the self-audit record of a restore test: evidence
// that the archive can be restored, or that it could not.
func restoreTestAudit(r archive.RestoreTestResult) event.SelfAudit {
	out := event.Success
	if !r.OK {
		out = event.Failure
	}
	d := map[string]any{
		"target": r.Target, "started": r.Time, "duration_ms": r.Duration.Milliseconds(),
		"objects": r.Objects, "bytes": r.Bytes, "records": r.Records, "archived_records": r.ArchivedRecords,
		"ledger_records": r.LedgerRecords, "checkpoint_size": r.CheckpointSize, "root": r.Root,
	}
	if r.Error != "" {
		d["error"] = r.Error
	}
	return event.SelfAudit{Action: event.ActionArchiveRestoreTest, Outcome: out, Resource: r.Target, Details: d}
}

// lazyStore opens its store on first use and again after a failed open,
// so that an archive unreachable at start is retried by each pass.
type lazyStore struct {
	name string
	open func(context.Context) (archive.Store, error)
	mu   sync.Mutex
	s    archive.Store
}

func (l *lazyStore) get(ctx context.Context) (archive.Store, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.s != nil {
		return l.s, nil
	}
	s, err := l.open(ctx)
	if err != nil {
		return nil, err
	}
	l.s = s
	return s, nil
}

// Put implements archive.Store.
func (l *lazyStore) Put(ctx context.Context, name string, data []byte, until time.Time) error {
	s, err := l.get(ctx)
	if err != nil {
		return err
	}
	return s.Put(ctx, name, data, until)
}

// Stat implements archive.Store.
func (l *lazyStore) Stat(ctx context.Context, name string) (archive.ObjectInfo, error) {
	s, err := l.get(ctx)
	if err != nil {
		return archive.ObjectInfo{}, err
	}
	return s.Stat(ctx, name)
}

// Get implements archive.Store.
func (l *lazyStore) Get(ctx context.Context, obj archive.ObjectInfo) ([]byte, error) {
	s, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, obj)
}

// List implements archive.Store.
func (l *lazyStore) List(ctx context.Context, prefix string) ([]archive.ObjectInfo, error) {
	s, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.List(ctx, prefix)
}

// String implements archive.Store.
func (l *lazyStore) String() string { return l.name }
