package config

import (
	"path"
	"time"
)

// Health configures the watch over the sources and cdewatch's own controls
// (internal/health, docs/HEALTH.md; PCI DSS 10.6, 10.7.2, 10.7.3). Zero
// values take internal/health's defaults.
type Health struct {
	TickInterval Duration        `yaml:"tick_interval"`
	Silence      HealthSilence   `yaml:"silence"`
	KubeAudit    HealthKubeAudit `yaml:"kube_audit"`
	Lag          HealthLag       `yaml:"lag"`
	Skew         HealthSkew      `yaml:"skew"`
	Clock        HealthClock     `yaml:"clock"`
	Disk         HealthDisk      `yaml:"disk"`
}

// HealthSilence bounds how long a source may stay silent.
type HealthSilence struct {
	Default Duration            `yaml:"default"` // a source not learned yet
	Floor   Duration            `yaml:"floor"`   // learned bounds stay within [floor, ceiling]
	Ceiling Duration            `yaml:"ceiling"`
	Rules   []HealthSilenceRule `yaml:"rules"`
}

// HealthSilenceRule is a configured bound: Match is a path.Match pattern
// over "<source>" or "<source>/<table>"; Off stops watching it.
type HealthSilenceRule struct {
	Match string   `yaml:"match"`
	Max   Duration `yaml:"max"`
	Off   bool     `yaml:"off"`
}

// HealthKubeAudit is the loss detection on kube-apiserver audit streams.
type HealthKubeAudit struct {
	Off     bool     `yaml:"off"`
	Timeout Duration `yaml:"timeout"` // a request seen at RequestReceived must end within it
}

// HealthLag bounds the lag of the ledger's consumers.
type HealthLag struct {
	MaxRecords uint64   `yaml:"max_records"`
	MaxAge     Duration `yaml:"max_age"`
}

// HealthSkew bounds event time against receive time, per source.
type HealthSkew struct {
	MaxAhead  Duration `yaml:"max_ahead"`
	MaxBehind Duration `yaml:"max_behind"`
	// Rules override the bounds of the sources they match (a backlog, a
	// file read from its beginning, is "behind").
	Rules []HealthSkewRule `yaml:"rules"`
}

// HealthSkewRule overrides the skew bounds of the sources whose name
// matches Match (a path.Match pattern); a zero bound keeps the default;
// Off stops the check (the offsets are still measured).
type HealthSkewRule struct {
	Match     string   `yaml:"match"`
	MaxAhead  Duration `yaml:"max_ahead"`
	MaxBehind Duration `yaml:"max_behind"`
	Off       bool     `yaml:"off"`
}

// HealthClock bounds jumps of cdewatch's own wall clock.
type HealthClock struct {
	Off     bool     `yaml:"off"`
	MaxJump Duration `yaml:"max_jump"`
}

// HealthDisk is the free space the data directory must keep.
type HealthDisk struct {
	Off          bool     `yaml:"off"`
	MinFreeBytes ByteSize `yaml:"min_free_bytes"`
	MinFreeRatio float64  `yaml:"min_free_ratio"`
}

func (h *Health) validate(bad func(key, format string, a ...any)) {
	if h.TickInterval != 0 && (time.Duration(h.TickInterval) < 100*time.Millisecond || time.Duration(h.TickInterval) > time.Minute) {
		bad("health.tick_interval", "%v must be between 100ms and 1m", h.TickInterval)
	}
	for i, r := range h.Silence.Rules {
		if r.Match == "" || (!r.Off && r.Max <= 0) {
			bad("health.silence.rules", "rule %d: want match and a positive max, or off: true", i)
		}
	}
	for i, r := range h.Skew.Rules {
		if _, err := path.Match(r.Match, ""); r.Match == "" || err != nil || (!r.Off && r.MaxAhead <= 0 && r.MaxBehind <= 0) {
			bad("health.skew.rules", "rule %d: want a valid match pattern and max_ahead or max_behind, or off: true", i)
		}
	}
	if h.Disk.MinFreeRatio < 0 || h.Disk.MinFreeRatio >= 1 {
		bad("health.disk.min_free_ratio", "%v must be in [0, 1)", h.Disk.MinFreeRatio)
	}
}
