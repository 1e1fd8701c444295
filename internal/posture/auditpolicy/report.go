package auditpolicy

import (
	"fmt"
	"io"
	"strings"

	"github.com/cdewatch/cdewatch/internal/posture"
)

// maxTextRows bounds the not-logged rows of the text report; the JSON
// report has them all.
const maxTextRows = 40

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error { return posture.WriteJSON(w, r) }

// WriteText writes the report for a reader: verdicts, rules, findings and
// the requests that are not logged.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	noun := "rules"
	if r.Rules == 1 {
		noun = "rule"
	}
	fmt.Fprintf(&b, "Audit policy %s: %d %s, checked against PCI DSS v4.0.1 Requirement 10\n", r.Source, r.Rules, noun)
	if len(r.CDENamespaces) > 0 {
		fmt.Fprintf(&b, "CDE namespaces: %s\n", strings.Join(r.CDENamespaces, ", "))
	} else {
		b.WriteString("CDE namespaces: none declared (every namespace treated as holding cardholder data)\n")
	}
	fmt.Fprintf(&b, "Log pipeline namespaces: %s\n", strings.Join(r.LogNamespaces, ", "))
	fmt.Fprintf(&b, "Matrix: %d principals x %d requests = %d evaluations; %d end at level None; %d needed by a requirement, %d of them not logged\n",
		len(r.Matrix.Principals), r.Matrix.Requests, r.Matrix.Evaluations, r.Matrix.AtNone, r.Matrix.Needed, r.Matrix.NeededNotLogged)

	b.WriteString("\nVerdicts\n")
	vs := make([]posture.Verdict, len(r.Verdicts))
	for i, v := range r.Verdicts {
		vs[i] = v.Verdict
		vs[i].Why = fmt.Sprintf("(%d/%d required, %d/%d further logged) %s", v.CoreLogged, v.Core, v.SupplementaryLogged, v.Supplementary, v.Why)
		if v.Core+v.Supplementary == 0 {
			vs[i].Why = v.Why
		}
	}
	if err := writeVerdicts(&b, vs); err != nil {
		return err
	}

	b.WriteString("\nRules (first match wins)\n")
	for _, s := range r.RuleSummaries {
		where := fmt.Sprintf("%d", s.Index)
		if s.Line > 0 {
			where += fmt.Sprintf(" (line %d)", s.Line)
		}
		fmt.Fprintf(&b, "  rule %s  %s  %s\n", where, s.Level, s.Selects)
		fmt.Fprintf(&b, "      decides %d evaluations; logs %s; does not log %s\n", s.FirstMatch, classList(s.Covers), classList(s.Drops))
	}

	b.WriteString("\nFindings\n")
	if err := posture.WriteFindings(&b, r.Findings); err != nil {
		return err
	}

	b.WriteString("\nNeeded requests not logged\n")
	if len(r.NotLogged) == 0 {
		b.WriteString("  none\n")
	}
	for i, row := range r.NotLogged {
		if i == maxTextRows {
			fmt.Fprintf(&b, "  … %d more rows (--format json lists them all)\n", len(r.NotLogged)-maxTextRows)
			break
		}
		line := fmt.Sprintf("%s %s", strings.Join(row.Verbs, ","), row.Resource)
		if len(row.Namespaces) > 0 {
			line += " in " + strings.Join(row.Namespaces, ", ")
		}
		line += " by " + strings.Join(row.Principals, ", ")
		var needs []string
		for _, n := range row.Needs {
			s := string(n.Class)
			if n.Core {
				s += "*"
			}
			needs = append(needs, s)
		}
		where := row.Why
		if row.Rule != nil {
			where = fmt.Sprintf("rule %d: %s", *row.Rule, row.Why)
		}
		fmt.Fprintf(&b, "  %s [%s] (%s)\n", line, strings.Join(needs, " "), where)
	}
	b.WriteString("  (* = required by the requirement itself; the others are supplementary)\n")

	if failed := posture.Failed(vs); len(failed) > 0 {
		fmt.Fprintf(&b, "\nResult: FAIL (%s)\n", strings.Join(failed, ", "))
	} else {
		b.WriteString("\nResult: no requirement fails\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeVerdicts(b *strings.Builder, vs []posture.Verdict) error {
	return posture.WriteVerdicts(b, vs)
}

func classList(cs []Class) string {
	if len(cs) == 0 {
		return "-"
	}
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = string(c)
	}
	return strings.Join(s, ", ")
}
