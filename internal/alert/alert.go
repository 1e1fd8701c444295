// Package alert holds what detection produces and people act on: alerts,
// their severity and their PCI DSS and MITRE ATT&CK tags. Detection
// (internal/detect) creates them; delivery (notifiers, the outbox) and the
// lifecycle (new → acknowledged → resolved) consume them, decoupled from
// detection.
package alert

import (
	"fmt"
	"time"
)

// Severity orders alerts; the zero value is invalid.
type Severity int

// Severities, lowest first.
const (
	Info Severity = iota + 1
	Low
	Medium
	High
	Critical
)

var severityNames = []string{Info: "info", Low: "low", Medium: "medium", High: "high", Critical: "critical"}

// String returns the severity's name: info, low, medium, high, critical.
func (s Severity) String() string {
	if s < Info || s > Critical {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity reads a severity name (Sigma's "informational" is info).
func ParseSeverity(name string) (Severity, error) {
	if name == "informational" {
		return Info, nil
	}
	for s := Info; s <= Critical; s++ {
		if severityNames[s] == name {
			return s, nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q: want info, low, medium, high or critical", name)
}

// MarshalText implements encoding.TextMarshaler; the zero Severity is "".
func (s Severity) MarshalText() ([]byte, error) {
	if s == 0 {
		return nil, nil
	}
	return []byte(s.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler; "" is the zero
// Severity.
func (s *Severity) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*s = 0
		return nil
	}
	v, err := ParseSeverity(string(b))
	if err == nil {
		*s = v
	}
	return err
}

// Alert is one detection: a rule matched one event, or a set of events
// (a threshold, a sequence, a deviation from a baseline).
type Alert struct {
	// Rule identifies the rule, e.g. "pci.secret-read-outside-allowlist"
	// or a Sigma rule's id; RuleTitle is its human title.
	Rule      string `json:"rule"`
	RuleTitle string `json:"rule_title"`
	// Kind is how the rule detects: match, threshold, sequence, baseline,
	// scheduled.
	Kind     string   `json:"kind"`
	Severity Severity `json:"severity"`
	// PCI lists the PCI DSS requirements the rule evidences, e.g.
	// "10.2.1.2"; MITRE the ATT&CK technique ids, e.g. "T1552.007".
	PCI   []string `json:"pci,omitempty"`
	MITRE []string `json:"mitre,omitempty"`
	// Source is the source of the events (cluster, subscription,
	// application).
	Source string `json:"source"`
	// Time is the event time of the last event that made the rule fire;
	// Detected when the detector fired.
	Time     time.Time `json:"time"`
	Detected time.Time `json:"detected"`
	// Seqs are the ledger sequence numbers of the evidence, oldest first
	// (at most a few hundred: the first and the last of a large set).
	Seqs []uint64 `json:"seqs"`
	// Key groups repeated alerts of one rule for deduplication, e.g. the
	// rule and the subject and namespace it concerns.
	Key string `json:"key"`
	// Summary says in one line what happened, e.g. "alice@contoso.com read
	// secret payments/card-key".
	Summary string `json:"summary"`
	// Fields are the values the rule matched on or grouped by.
	Fields map[string]string `json:"fields,omitempty"`
	// Incident is the id of the incident the alert belongs to: the open
	// incident of its rule and key, or one it opened.
	Incident string `json:"incident,omitempty"`
}
