package config

import (
	"time"
)

// Retention is how long records are kept (PCI DSS 10.5.1: at least 12
// months, the most recent 3 immediately available; internal/retention).
type Retention struct {
	// Default is the ledger retention of every table; at least 365d.
	Default Duration `yaml:"default"`
	// Tables overrides Default per table (KQL table name); each at least 365d.
	Tables map[string]Duration `yaml:"tables"`
	// ShortenDelay: a shorter retention takes effect only this long after
	// it is first configured (recorded when scheduled and when applied);
	// at least 24h.
	ShortenDelay Duration `yaml:"shorten_delay"`
	// Interval between expiry runs.
	Interval Duration `yaml:"interval"`
	// Index is the hot window of the query index: rows received longer
	// ago leave the index (the ledger keeps them, and a logged rehydrate
	// brings a range back); at least 90d.
	Index Duration `yaml:"index"`
	// IndexTables overrides Index per table; each at least 90d.
	IndexTables map[string]Duration `yaml:"index_tables"`
}

// Integrity configures the ledger's integrity monitor (PCI DSS 10.3.4).
type Integrity struct {
	// Interval between checks (metadata, new data, checkpoints); a change
	// to stored data is found within it. Between 1s and 5m.
	Interval Duration `yaml:"interval"`
	// FullPass bounds the full re-verification of every stored byte; at
	// most a week (maxFullPass).
	FullPass Duration `yaml:"full_pass"`
}

const minRetention = 365 * 24 * time.Hour

func (r *Retention) validate(bad func(key, format string, a ...any)) {
	if time.Duration(r.Default) < minRetention {
		bad("retention.default", "%v is shorter than 365d: PCI DSS 10.5.1 requires audit logs to be kept at least 12 months", r.Default)
	}
	for t, d := range r.Tables {
		if time.Duration(d) < minRetention {
			bad("retention.tables."+t, "%v is shorter than 365d: PCI DSS 10.5.1 requires audit logs to be kept at least 12 months", d)
		}
	}
	if time.Duration(r.ShortenDelay) < 24*time.Hour {
		bad("retention.shorten_delay", "%v is below the minimum 24h: a shortening must be visible before it deletes anything", r.ShortenDelay)
	}
	const minHot = 90 * 24 * time.Hour
	if time.Duration(r.Index) < minHot {
		bad("retention.index", "%v is shorter than 90d: PCI DSS 10.5.1 requires the most recent three months to be immediately available for analysis", r.Index)
	}
	for t, d := range r.IndexTables {
		if time.Duration(d) < minHot {
			bad("retention.index_tables."+t, "%v is shorter than 90d: PCI DSS 10.5.1 requires the most recent three months to be immediately available for analysis", d)
		}
	}
	if time.Duration(r.Interval) < time.Minute {
		bad("retention.interval", "%v is below the minimum 1m", r.Interval)
	}
}

// maxFullPass is the longest integrity.full_pass: PCI DSS 11.5.2 asks
// change-detection to compare critical files at least once weekly.
const maxFullPass = 7 * 24 * time.Hour

func (i *Integrity) validate(bad func(key, format string, a ...any)) {
	if time.Duration(i.Interval) < time.Second || time.Duration(i.Interval) > 5*time.Minute {
		bad("integrity.interval", "%v must be between 1s and 5m", i.Interval)
	}
	if i.FullPass <= 0 || time.Duration(i.FullPass) > maxFullPass {
		bad("integrity.full_pass", "%v must be positive and at most 7d (168h): PCI DSS 11.5.2 asks critical files to be compared at least weekly", i.FullPass)
	}
}
