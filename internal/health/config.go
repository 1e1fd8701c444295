package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"time"

	"github.com/cdewatch/cdewatch/internal/event"
)

// AuditFunc records a self-audit action in the ledger (as a CdewatchAudit
// record); it returns once the record is durable.
type AuditFunc func(ctx context.Context, a event.SelfAudit) error

// LedgerReader is the part of the ledger the monitor reads to measure how
// far behind the detector is (see Config.Ledger and LedgerLag).
type LedgerReader interface {
	// Size returns the number of durable records; it never decreases.
	Size() uint64
	// ReadRange calls fn, in order, for each durable record with from <=
	// seq < to; rec is valid only during the call; an error from fn stops
	// the read and is returned.
	ReadRange(from, to uint64, fn func(seq uint64, rec []byte) error) error
}

// Config tunes a Monitor. Zero values take the defaults given with each
// field; only Audit is required.
type Config struct {
	// Audit records the start, end and resolution of failures
	// (health.failure.* actions).
	Audit AuditFunc
	// Ledger, when set, is the ledger the detector reads: each Tick
	// measures the detector's own lag from it (consumer "detect") and
	// measures silence only up to the time of the oldest record the
	// detector has not evaluated, so that a detector catching up after a
	// restart does not see every source as silent.
	Ledger LedgerReader
	// Ingest, when set, is polled at each Tick for the cumulative
	// per-source counts of stored and redelivered records (see
	// ReportIngest).
	Ingest func() []IngestCount
	// Consumers, when set, is polled at each Tick for the lag of the
	// ledger's consumers (see ReportLag).
	Consumers func(now time.Time) []Lag
	// Now is the wall clock; default time.Now. Mono is a monotonic clock:
	// the time elapsed since some fixed instant; default the time since
	// New, read from Go's monotonic clock.
	Now  func() time.Time
	Mono func() time.Duration
	// TickInterval is how often Run calls Tick; default 5s.
	TickInterval time.Duration
	Log          *slog.Logger

	Silence    SilenceConfig
	KubeAudit  KubeAuditConfig
	RateDrop   RateDropConfig
	Redelivery RedeliveryConfig
	Lag        LagConfig
	Skew       SkewConfig
	TimeChange TimeChangeConfig
	Clock      ClockConfig
	Disk       DiskConfig
	// MaxStreams bounds the (source, table) pairs watched; records of
	// further pairs are counted but not watched. Default 10,000.
	MaxStreams int
}

// SilenceConfig sets how long each source, and each table within a
// source, may stay silent before it counts as failed (PCI DSS 10.7.2).
//
// The bound of a stream is, in order: that of the first Rule whose Match
// matches its name ("<source>" for the source as a whole,
// "<source>/<table>" for one table); else, once MinSamples gaps between
// its deliveries have been seen, Factor times the 99.9th percentile of
// those gaps, within [Floor, Ceiling]; else, for a source as a whole,
// Default or Factor times the longest gap so far, whichever is longer;
// a table within a source is not watched until it is learned or
// configured.
type SilenceConfig struct {
	Rules      []SilenceRule
	Default    time.Duration // default 1h
	Floor      time.Duration // default 5m
	Ceiling    time.Duration // default 24h
	Factor     float64       // default 3
	MinSamples int           // default 50
}

// SilenceRule is a configured bound. Match is a path.Match pattern over
// the stream's name ("*" matches no "/": "prod-*" matches the sources,
// "prod-*/*" their tables); Off disables silence detection for the
// streams matched.
type SilenceRule struct {
	Match string
	Max   time.Duration
	Off   bool
}

// KubeAuditConfig sets the loss detection on kube-apiserver audit streams
// (KubeAuditLogs records). A request logged at RequestReceived is lost when
// neither ResponseStarted, ResponseComplete nor Panic of the same auditID
// arrives within Timeout (measured on the source's received times). A
// source is checked only once it has shown that it logs both stages:
// MinPairs requests seen at RequestReceived and completed.
type KubeAuditConfig struct {
	Off         bool
	Timeout     time.Duration // default 5m
	MinPairs    int           // default 20
	MaxPending  int           // requests awaiting completion per source; default 50,000
	ReportEvery time.Duration // at most one loss alert per source per period; default 10m
	Sample      int           // auditIDs named in a loss alert; default 20
}

// RateDropConfig sets the detection of a sudden drop in the rate of a
// stream: the count of records received in a Window far below the count
// learned for that hour of the day (UTC).
type RateDropConfig struct {
	Off bool
	// Tables whose streams are watched; default [KubeAuditLogs].
	Tables []string
	Window time.Duration // default 5m
	// Learning is how long a stream is observed before its drops count;
	// default 24h. MinWindows is the number of windows an hour of the day
	// needs to be learned; default 6.
	Learning   time.Duration
	MinWindows int
	// A window with fewer than Ratio times the learned count starts a
	// failure, one with at least Recover times it ends it; default 0.2
	// and 0.5. Hours whose learned count is below MinExpected are not
	// judged; default 100.
	Ratio       float64
	Recover     float64
	MinExpected float64
}

// RedeliveryConfig sets the detection of redelivery storms: within Window,
// at least MinDuplicates redelivered records of a source, making up at
// least Ratio of what it delivered.
type RedeliveryConfig struct {
	Off           bool
	Window        time.Duration // default 5m
	MinDuplicates uint64        // default 1,000
	Ratio         float64       // default 0.5
}

// LagConfig bounds the lag of the ledger's consumers: a consumer more than
// MaxRecords behind, or whose oldest unprocessed record is older than
// MaxAge, has failed. PerConsumer overrides them by consumer name.
type LagConfig struct {
	MaxRecords  uint64        // default 1,000,000
	MaxAge      time.Duration // default 5m
	PerConsumer map[string]LagBound
}

// LagBound is a consumer's own bound; zero fields take LagConfig's.
type LagBound struct {
	MaxRecords uint64
	MaxAge     time.Duration
}

// SkewConfig bounds the offset between a source's event times and the times
// cdewatch received its records (received − event time): more than
// MaxAhead into the future, or more than MaxBehind in the past, for Run
// consecutive records of a source, starts a failure; Run consecutive
// records within bounds end it. Rules override the bounds by source.
type SkewConfig struct {
	MaxAhead  time.Duration // default 2m
	MaxBehind time.Duration // default 30m
	Run       int           // default 10
	// Window is the period the reported quantiles cover (the current and
	// the previous window); default 1h.
	Window time.Duration
	Rules  []SkewRule
}

// SkewRule overrides the skew bounds of the sources whose name matches
// Match (path.Match); zero bounds take SkewConfig's; Off disables the
// check (the offsets are still measured).
type SkewRule struct {
	Match     string
	MaxAhead  time.Duration
	MaxBehind time.Duration
	Off       bool
}

// TimeChangeConfig sets the classification of events that change time
// settings (PCI DSS 10.6.3). Syslog messages are matched against the
// built-in phrases (DefaultTimePhrases) plus Phrases; AzureActivity records whose
// operation matches one of AzureOperations (path.Match, case-insensitive)
// are classified too.
type TimeChangeConfig struct {
	Off             bool
	Phrases         []TimePhrase
	AzureOperations []string
}

// ClockConfig sets the watch on cdewatch's own clock: at each Tick the wall
// time elapsed since the last is compared with the monotonic time elapsed;
// a difference beyond MaxJump is a jump of the wall clock.
type ClockConfig struct {
	Off     bool
	MaxJump time.Duration // default 1s
}

// DiskConfig sets the free-space check of the data directory: fewer than
// MinFreeBytes available, or less than MinFreeRatio of the file system,
// is a failure. Path "" disables the check.
type DiskConfig struct {
	Path         string
	MinFreeBytes uint64  // default 1 GiB
	MinFreeRatio float64 // default 0.05
	// Statfs reads the file system's statistics; default syscall.Statfs.
	Statfs StatfsFunc
}

// withDefaults returns c with its zero values replaced by the defaults.
func (c Config) withDefaults() Config {
	setDur := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	setInt := func(n *int, def int) {
		if *n <= 0 {
			*n = def
		}
	}
	setF := func(f *float64, def float64) {
		if *f <= 0 {
			*f = def
		}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Mono == nil {
		start := time.Now()
		c.Mono = func() time.Duration { return time.Since(start) }
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	setDur(&c.TickInterval, 5*time.Second)
	setInt(&c.MaxStreams, 10_000)

	s := &c.Silence
	setDur(&s.Default, time.Hour)
	setDur(&s.Floor, 5*time.Minute)
	setDur(&s.Ceiling, 24*time.Hour)
	setF(&s.Factor, 3)
	setInt(&s.MinSamples, 50)

	k := &c.KubeAudit
	setDur(&k.Timeout, 5*time.Minute)
	setInt(&k.MinPairs, 20)
	setInt(&k.MaxPending, 50_000)
	setDur(&k.ReportEvery, 10*time.Minute)
	setInt(&k.Sample, 20)

	r := &c.RateDrop
	if r.Tables == nil {
		r.Tables = []string{event.TableKubeAudit}
	}
	setDur(&r.Window, 5*time.Minute)
	setDur(&r.Learning, 24*time.Hour)
	setInt(&r.MinWindows, 6)
	setF(&r.Ratio, 0.2)
	setF(&r.Recover, 0.5)
	setF(&r.MinExpected, 100)

	d := &c.Redelivery
	setDur(&d.Window, 5*time.Minute)
	if d.MinDuplicates == 0 {
		d.MinDuplicates = 1000
	}
	setF(&d.Ratio, 0.5)

	l := &c.Lag
	if l.MaxRecords == 0 {
		l.MaxRecords = 1_000_000
	}
	setDur(&l.MaxAge, 5*time.Minute)

	k2 := &c.Skew
	setDur(&k2.MaxAhead, 2*time.Minute)
	setDur(&k2.MaxBehind, 30*time.Minute)
	setInt(&k2.Run, 10)
	setDur(&k2.Window, time.Hour)

	setDur(&c.Clock.MaxJump, time.Second)

	if c.Disk.MinFreeBytes == 0 {
		c.Disk.MinFreeBytes = 1 << 30
	}
	setF(&c.Disk.MinFreeRatio, 0.05)
	return c
}

// validate checks what defaults cannot fix.
func (c *Config) validate() error {
	if c.Audit == nil {
		return errors.New("health: Config.Audit is nil: failures must be recorded in the ledger (pass the server's self-audit function)")
	}
	var errs []error
	for i, r := range c.Silence.Rules {
		if _, err := path.Match(r.Match, ""); err != nil || r.Match == "" {
			errs = append(errs, fmt.Errorf("health: silence rule %d: bad pattern %q: want a glob such as \"prod-*\" or \"prod-*/KubeAuditLogs\"", i, r.Match))
		}
		if !r.Off && r.Max <= 0 {
			errs = append(errs, fmt.Errorf("health: silence rule %d (%s): max must be positive, or set off", i, r.Match))
		}
	}
	for i, r := range c.Skew.Rules {
		if _, err := path.Match(r.Match, ""); err != nil || r.Match == "" {
			errs = append(errs, fmt.Errorf("health: skew rule %d: bad pattern %q: want a glob over source names such as \"syslog-*\"", i, r.Match))
		}
	}
	for _, p := range c.TimeChange.AzureOperations {
		if _, err := path.Match(p, ""); err != nil {
			errs = append(errs, fmt.Errorf("health: time-change Azure operation pattern %q: %w", p, err))
		}
	}
	for i, p := range c.TimeChange.Phrases {
		if p.Phrase == "" {
			errs = append(errs, fmt.Errorf("health: time-change phrase %d is empty", i))
		}
	}
	if r := c.RateDrop; r.Recover < r.Ratio {
		errs = append(errs, fmt.Errorf("health: rate drop recover (%g) is below ratio (%g): a drop could never end", r.Recover, r.Ratio))
	}
	return errors.Join(errs...)
}
