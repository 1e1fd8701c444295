package main

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/cdewatch/cdewatch/internal/archive"
	"github.com/cdewatch/cdewatch/internal/config"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/health"
	"github.com/cdewatch/cdewatch/internal/index"
	"github.com/cdewatch/cdewatch/internal/ingest"
	"github.com/cdewatch/cdewatch/internal/ledger"
)

// healthMonitor builds the watch over the sources and cdewatch's own
// controls (PCI DSS 10.6, 10.7.2, 10.7.3) from cfg.Health. It reads the
// ingest counts, the index's lag and, once it is set, the archiver's lag
// at each tick, and the detector's lag when detection is on.
func healthMonitor(cfg *config.Config, led *ledger.Ledger, idx *index.Index, stats *ingest.Stats, archiver *atomic.Pointer[archive.Archiver],
	audit func(context.Context, event.SelfAudit) error, log *slog.Logger) (*health.Monitor, error) {
	return health.New(healthConfig(cfg, led, idx, stats, archiver, audit, log))
}

// healthConfig is the health monitor's configuration: cfg.Health, and
// readers of the counts and lags it watches.
func healthConfig(cfg *config.Config, led *ledger.Ledger, idx *index.Index, stats *ingest.Stats, archiver *atomic.Pointer[archive.Archiver],
	audit func(context.Context, event.SelfAudit) error, log *slog.Logger) health.Config {
	h := cfg.Health
	hc := health.Config{
		Audit: audit, Log: log, TickInterval: time.Duration(h.TickInterval),
		Silence:   health.SilenceConfig{Default: time.Duration(h.Silence.Default), Floor: time.Duration(h.Silence.Floor), Ceiling: time.Duration(h.Silence.Ceiling)},
		KubeAudit: health.KubeAuditConfig{Off: h.KubeAudit.Off, Timeout: time.Duration(h.KubeAudit.Timeout)},
		Lag:       health.LagConfig{MaxRecords: h.Lag.MaxRecords, MaxAge: time.Duration(h.Lag.MaxAge)},
		Skew:      health.SkewConfig{MaxAhead: time.Duration(h.Skew.MaxAhead), MaxBehind: time.Duration(h.Skew.MaxBehind)},
		Clock:     health.ClockConfig{Off: h.Clock.Off, MaxJump: time.Duration(h.Clock.MaxJump)},
		Disk:      health.DiskConfig{Path: cfg.Data, MinFreeBytes: uint64(h.Disk.MinFreeBytes), MinFreeRatio: h.Disk.MinFreeRatio},
		Ingest: func() []health.IngestCount {
			var out []health.IngestCount
			for _, s := range stats.Snapshot() {
				out = append(out, health.IngestCount{Source: s.Source, Stored: s.Records, Duplicates: s.Duplicates})
			}
			return out
		},
	}
	if cfg.Detect.Enabled {
		// The monitor sees records through the detector, and watches its lag.
		hc.Ledger = led
	}
	if h.Disk.Off {
		hc.Disk.Path = ""
	}
	for _, r := range h.Silence.Rules {
		hc.Silence.Rules = append(hc.Silence.Rules, health.SilenceRule{Match: r.Match, Max: time.Duration(r.Max), Off: r.Off})
	}
	for _, r := range h.Skew.Rules {
		hc.Skew.Rules = append(hc.Skew.Rules, health.SkewRule{Match: r.Match, MaxAhead: time.Duration(r.MaxAhead), MaxBehind: time.Duration(r.MaxBehind), Off: r.Off})
	}
	hc.Consumers = func(now time.Time) []health.Lag {
		var out []health.Lag
		if idx != nil {
			if l, err := health.LedgerLag(led, "index", idx.Cursor(), now); err == nil {
				out = append(out, l)
			}
		}
		if a := archiver.Load(); a != nil {
			if l, err := health.LedgerLag(led, "archive", a.Status().ArchivedRecords, now); err == nil {
				out = append(out, l)
			}
		}
		return out
	}
	return hc
}
