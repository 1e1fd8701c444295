// Package posture holds what the configuration checks of cdewatch report:
// findings (one observed problem or fact, with a severity and the PCI DSS
// requirement it bears on) and verdicts (pass, partial or fail per
// requirement, with the reason), and how both are written as text.
//
// The checks themselves live in the sub-packages: auditpolicy (Kubernetes
// audit policies) and azurediag (AKS diagnostic settings). The JSON shapes
// are documented in FORMAT.md beside this file.
package posture

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Severity ranks a finding. The zero value is Info.
type Severity int

// The severities, lowest first.
const (
	Info Severity = iota
	Low
	Medium
	High
)

var severityNames = [...]string{"info", "low", "medium", "high"}

// String returns the lower-case name ("info", "low", "medium", "high").
func (s Severity) String() string {
	if s < Info || s > High {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// MarshalText writes the lower-case name.
func (s Severity) MarshalText() ([]byte, error) {
	if s < Info || s > High {
		return nil, fmt.Errorf("severity %d out of range", int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText reads the lower-case name.
func (s *Severity) UnmarshalText(b []byte) error {
	i := slices.Index(severityNames[:], string(b))
	if i < 0 {
		return fmt.Errorf("unknown severity %q: want info, low, medium or high", b)
	}
	*s = Severity(i)
	return nil
}

// Status is the verdict on one requirement.
type Status string

// The verdicts.
const (
	Pass    Status = "pass"
	Partial Status = "partial"
	Fail    Status = "fail"
)

// Finding is one observation of a check.
type Finding struct {
	// ID names the kind of finding; docs/POSTURE.md lists every ID.
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	// Requirement is the PCI DSS v4.0.1 requirement the finding bears on,
	// e.g. "10.2.1.5".
	Requirement string `json:"requirement"`
	// Rule is the index (from 0) of the audit-policy rule the finding is
	// about; nil when it is about the policy as a whole or about requests
	// no rule matches.
	Rule *int `json:"rule,omitempty"`
	// Line is the line of the policy file the finding points at; 0 when
	// unknown.
	Line int `json:"line,omitempty"`
	// Setting names the diagnostic setting the finding is about.
	Setting string `json:"setting,omitempty"`
	// Text says what is wrong and what to do.
	Text string `json:"text"`
}

// Where describes the location of f for a text report: "rule 2 (line 14)",
// "line 3", "setting aks-audit" or "policy".
func (f Finding) Where() string {
	switch {
	case f.Rule != nil && f.Line > 0:
		return fmt.Sprintf("rule %d (line %d)", *f.Rule, f.Line)
	case f.Rule != nil:
		return fmt.Sprintf("rule %d", *f.Rule)
	case f.Line > 0:
		return fmt.Sprintf("line %d", f.Line)
	case f.Setting != "":
		return "setting " + f.Setting
	}
	return "-"
}

// Verdict is the outcome of a check for one requirement.
type Verdict struct {
	Requirement string `json:"requirement"`
	// Title says in a few words what the requirement asks.
	Title  string `json:"title"`
	Status Status `json:"status"`
	// Why gives the reason for the status.
	Why string `json:"why"`
}

// SortFindings orders findings by severity (highest first), then
// requirement, rule, setting and ID, keeping the order of equal ones.
func SortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(b.Severity, a.Severity),
			compareRequirement(a.Requirement, b.Requirement),
			cmp.Compare(ruleKey(a.Rule), ruleKey(b.Rule)),
			cmp.Compare(a.Setting, b.Setting),
			cmp.Compare(a.ID, b.ID),
		)
	})
}

func ruleKey(r *int) int {
	if r == nil {
		return -1
	}
	return *r
}

// compareRequirement orders dotted requirement numbers numerically, so
// that 10.2.1.10 follows 10.2.1.9.
func compareRequirement(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		if len(as[i]) != len(bs[i]) {
			return cmp.Compare(len(as[i]), len(bs[i]))
		}
		if c := cmp.Compare(as[i], bs[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(as), len(bs))
}

// Failed returns the requirements whose verdict is Fail, in order.
func Failed(vs []Verdict) []string {
	var out []string
	for _, v := range vs {
		if v.Status == Fail {
			out = append(out, v.Requirement)
		}
	}
	return out
}

// FailedError is returned by the commands when at least one requirement
// fails; the report has been written by then.
type FailedError struct {
	Requirements []string
}

// Error names the failing requirements.
func (e *FailedError) Error() string {
	return "failing requirements: " + strings.Join(e.Requirements, ", ")
}

// Check returns a *FailedError when a verdict in vs is Fail, else nil.
func Check(vs []Verdict) error {
	if f := Failed(vs); len(f) > 0 {
		return &FailedError{Requirements: f}
	}
	return nil
}

// WriteVerdicts writes the verdicts as an aligned text table.
func WriteVerdicts(w io.Writer, vs []Verdict) error {
	width := 0
	for _, v := range vs {
		width = max(width, len(v.Requirement))
	}
	titleWidth := 0
	for _, v := range vs {
		titleWidth = max(titleWidth, len(v.Title))
	}
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "  %-*s  %-*s  %-7s  %s\n", width, v.Requirement, titleWidth, v.Title,
			strings.ToUpper(string(v.Status)), v.Why)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteFindings writes the findings, one block each: severity, ID,
// location and requirement on the first line, the text indented below.
func WriteFindings(w io.Writer, fs []Finding) error {
	var b strings.Builder
	if len(fs) == 0 {
		b.WriteString("  none\n")
	}
	for _, f := range fs {
		fmt.Fprintf(&b, "  %-6s  %s  [%s]  %s\n", strings.ToUpper(f.Severity.String()), f.ID, f.Requirement, f.Where())
		for _, line := range Wrap(f.Text, 92) {
			fmt.Fprintf(&b, "          %s\n", line)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Wrap splits text into lines of at most width bytes at spaces (a longer
// word gets a line of its own).
func Wrap(text string, width int) []string {
	var lines []string
	var cur strings.Builder
	for _, word := range strings.Fields(text) {
		if cur.Len() > 0 && cur.Len()+1+len(word) > width {
			lines = append(lines, cur.String())
			cur.Reset()
		}
		if cur.Len() > 0 {
			cur.WriteByte(' ')
		}
		cur.WriteString(word)
	}
	if cur.Len() > 0 {
		lines = append(lines, cur.String())
	}
	return lines
}

// WriteJSON writes a report v as indented JSON, HTML characters as they
// are.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	return nil
}
