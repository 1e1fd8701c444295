package config

import (
	"fmt"
	"net/url"
	"slices"
	"time"
)

// Witness configures the publication of the ledger's signed checkpoints
// off the node (internal/witness, docs/WITNESS.md): to C2SP tlog-witness
// witnesses, which cosign them, and to syslog receivers (a SIEM).
type Witness struct {
	// Interval between rounds; a witness is asked only when the tree grew.
	Interval Duration `yaml:"interval"`
	// Timeout bounds one request to a witness.
	Timeout   Duration        `yaml:"timeout"`
	Witnesses []WitnessServer `yaml:"witnesses"`
	// SyslogNotifiers names syslog notifiers (notifiers: with type syslog)
	// that also receive every new checkpoint, as an RFC 5424 message with
	// MSGID checkpoint.
	SyslogNotifiers []string `yaml:"syslog_notifiers"`
}

// WitnessServer is one witness.
type WitnessServer struct {
	// URL is its submission prefix: cdewatch posts to URL/add-checkpoint.
	URL string `yaml:"url"`
	// Key is its cosignature verifier key ("<name>+<hash>+<key>").
	Key string `yaml:"key"`
}

// Enabled reports whether checkpoints are published anywhere.
func (w *Witness) Enabled() bool { return len(w.Witnesses) > 0 || len(w.SyslogNotifiers) > 0 }

func (c *Config) validateWitness(bad func(key, format string, a ...any)) {
	w := &c.Witness
	if time.Duration(w.Interval) < time.Second {
		bad("witness.interval", "%v is below the minimum 1s", w.Interval)
	}
	if w.Timeout <= 0 {
		bad("witness.timeout", "must be positive")
	}
	for i, s := range w.Witnesses {
		u, err := url.Parse(s.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad(fmt.Sprintf("witness.witnesses[%d].url", i), "%q: want the witness's https:// submission prefix", s.URL)
		}
		if s.Key == "" {
			bad(fmt.Sprintf("witness.witnesses[%d].key", i), "the witness's cosignature verifier key is required")
		}
	}
	for i, name := range w.SyslogNotifiers {
		if !slices.ContainsFunc(c.Notifiers, func(n Notifier) bool { return n.Name == name && n.Type == "syslog" }) {
			bad(fmt.Sprintf("witness.syslog_notifiers[%d]", i), "%q is not the name of a notifier of type syslog", name)
		}
	}
}
