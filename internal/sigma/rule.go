package sigma

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/detect"
)

// Logsource is the logsource section of a Sigma rule.
type Logsource struct {
	Product    string `json:"product,omitempty"`
	Service    string `json:"service,omitempty"`
	Category   string `json:"category,omitempty"`
	Definition string `json:"definition,omitempty"`
}

// String renders the log source as product/service (category).
func (l Logsource) String() string {
	s := l.Product + "/" + l.Service
	if l.Category != "" {
		s += " (category " + l.Category + ")"
	}
	return s
}

// Related is an entry of a rule's related section.
type Related struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// Meta is what detection and correlation rules share: identification,
// description and classification.
type Meta struct {
	// File is the rule file (path in the fs.FS given to Load) and Line the
	// first line of the rule's YAML document in it.
	File string
	Line int

	Title          string
	ID             string
	Name           string // the optional name correlations may refer to the rule by
	Status         string
	Description    string
	Author         string
	Date           string
	Modified       string
	References     []string
	Related        []Related
	FalsePositives []string
	Fields         []string // fields of interest the rule lists
	// Tags are the rule's tags as written (attack.*, car.*, cve.*, …).
	Tags []string
	// Level is the rule's level as written ("" when absent) and Severity
	// what it means (medium when absent).
	Level    string
	Severity alert.Severity
	// MITRE are the ATT&CK technique ids of the attack.tNNNN tags, e.g.
	// T1552.007; Tactics the other attack.* tags (credential-access).
	MITRE   []string
	Tactics []string
	// PCI are the PCI DSS requirements the rule's alerts evidence, from
	// its pci.<requirement> tags and its log source (see docs/SIGMA.md);
	// alerts add the requirements of the matched record's 10.2.1.x
	// classes.
	PCI []string
}

// Rule is a loaded Sigma detection rule: one event matches or not.
type Rule struct {
	Meta
	Logsource Logsource
	// Tables are the ledger tables (event.Record.Table) the log source
	// maps to: KubeAuditLogs, AzureActivity or SigninLogs; none for a log
	// source cdewatch does not receive (GKE's gcp.audit).
	Tables []string
	// Condition is the detection condition as written (several are
	// OR-linked).
	Condition []string
	// Generate is false when the rule is referenced by correlation rules
	// only: its matches feed them and raise no alert of their own (the
	// Sigma correlation specification's generate attribute).
	Generate bool

	mapper *mapper
	match  node
	eng    *engine
	refs   []*fieldRef // the fields the detection names, in order of appearance
	index  int         // position in the Set
	need   []*fieldRef // fields correlations group or count by
	needAs []string    // their names
	// correlated is set when correlations refer to the rule.
	correlated bool
}

// Match reports whether the event matches the rule's detection, whatever
// the event's table (Set.Eval applies a rule to its Tables only). It is
// safe for concurrent use as long as the event is not shared (Event.Doc
// decodes on first use).
func (r *Rule) Match(e *detect.Event) bool {
	c := r.eng.get(e)
	ok := r.match.eval(c)
	r.eng.put(c)
	return ok
}

// String returns the rule's id and title.
func (r *Rule) String() string { return r.ID + " " + r.Title }

var _ detect.Matcher = (*Rule)(nil)

// technique returns the ATT&CK technique id of an attack.tNNNN[.NNN] tag.
func technique(tag string) (string, bool) {
	rest, ok := strings.CutPrefix(tag, "attack.t")
	if !ok {
		return "", false
	}
	main, sub, hasSub := strings.Cut(rest, ".")
	if len(main) != 4 || !digits(main) || (hasSub && (len(sub) != 3 || !digits(sub))) {
		return "", false
	}
	if hasSub {
		return "T" + main + "." + sub, true
	}
	return "T" + main, true
}

// pciTag returns the requirement of a pci.<requirement> tag, e.g. 10.2.1.4.
func pciTag(tag string) (string, bool) {
	req, ok := strings.CutPrefix(tag, "pci.")
	if !ok || req == "" {
		return "", false
	}
	for _, part := range strings.Split(req, ".") {
		if part == "" || !digits(part) {
			return "", false
		}
	}
	return req, true
}

// attackID reports whether an attack.* tag is an id (a group, software
// or technique: attack.g0001, attack.s0002, attack.t1234) rather than a
// tactic.
func attackID(tag string) bool {
	rest := strings.TrimPrefix(tag, "attack.")
	head, _, _ := strings.Cut(rest, ".")
	return len(head) > 1 && (head[0] == 'g' || head[0] == 's' || head[0] == 't') && digits(head[1:])
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// parseMeta reads the attributes detection and correlation rules share.
func parseMeta(ps []pair, m *Meta) *posError {
	for _, p := range ps {
		var err *posError
		switch p.key {
		case "title":
			m.Title, err = str(p.v, p.path)
			if err == nil && strings.TrimSpace(m.Title) == "" {
				err = errf(p.v, p.path, "empty title")
			}
		case "id":
			m.ID, err = str(p.v, p.path)
			if err == nil && strings.TrimSpace(m.ID) == "" {
				err = errf(p.v, p.path, "empty id")
			}
		case "name":
			m.Name, err = str(p.v, p.path)
		case "status":
			m.Status, err = str(p.v, p.path)
			if err == nil {
				switch m.Status {
				case "stable", "test", "experimental", "deprecated", "unsupported":
				default:
					err = errf(p.v, p.path, "unknown status %q: want stable, test, experimental, deprecated or unsupported", m.Status)
				}
			}
		case "description":
			m.Description, err = str(p.v, p.path)
		case "author":
			m.Author, err = str(p.v, p.path)
		case "date":
			m.Date, err = str(p.v, p.path)
		case "modified":
			m.Modified, err = str(p.v, p.path)
		case "references":
			m.References, err = strList(p.v, p.path)
		case "falsepositives":
			m.FalsePositives, err = strList(p.v, p.path)
		case "fields":
			m.Fields, err = strList(p.v, p.path)
		case "tags":
			m.Tags, err = strList(p.v, p.path)
		case "level":
			m.Level, err = str(p.v, p.path)
			if err == nil {
				if _, e := alert.ParseSeverity(m.Level); e != nil || m.Level == "info" {
					err = errf(p.v, p.path, "unknown level %q: want informational, low, medium, high or critical", m.Level)
				}
			}
		case "related":
			err = parseRelated(p, m)
		}
		if err != nil {
			return err
		}
	}
	m.Severity = alert.Medium
	if m.Level != "" {
		m.Severity, _ = alert.ParseSeverity(m.Level)
	}
	for _, t := range m.Tags {
		lt := strings.ToLower(t)
		if id, ok := technique(lt); ok {
			m.MITRE = appendUnique(m.MITRE, id)
		} else if req, ok := pciTag(lt); ok {
			m.PCI = appendUnique(m.PCI, req)
		} else if strings.HasPrefix(lt, "attack.") && !attackID(lt) {
			m.Tactics = appendUnique(m.Tactics, strings.TrimPrefix(lt, "attack."))
		}
	}
	return nil
}

func parseRelated(p pair, m *Meta) *posError {
	n := resolveAlias(p.v)
	if n.Kind != yaml.SequenceNode {
		return errf(n, p.path, "want a list of {id, type}, got %s", kindName(n))
	}
	for i, e := range n.Content {
		at := fmt.Sprintf("%s[%d]", p.path, i)
		ps, err := pairs(resolveAlias(e), at)
		if err != nil {
			return err
		}
		var r Related
		for _, q := range ps {
			switch q.key {
			case "id":
				r.ID, err = str(q.v, q.path)
			case "type":
				r.Type, err = str(q.v, q.path)
			}
			if err != nil {
				return err
			}
		}
		m.Related = append(m.Related, r)
	}
	return nil
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// logsourcePCI is the PCI DSS requirement every alert of a log source
// evidences: 10.4.1.1, automated mechanisms review the audit logs of the
// CDE's system components (the Kubernetes API server, the Azure control
// plane, Entra ID sign-ins).
func logsourcePCI(source string) []string {
	switch source {
	case srcKubeAudit, srcActivity, srcSignin:
		return []string{"10.4.1.1"}
	}
	return nil
}

// parseLogsource reads the logsource section and finds its mapping.
func parseLogsource(p pair) (Logsource, *mapper, *posError) {
	var l Logsource
	ps, err := pairs(resolveAlias(p.v), p.path)
	if err != nil {
		return l, nil, err
	}
	for _, q := range ps {
		switch q.key {
		case "product":
			l.Product, err = str(q.v, q.path)
		case "service":
			l.Service, err = str(q.v, q.path)
		case "category":
			l.Category, err = str(q.v, q.path)
		case "definition":
			l.Definition, err = str(q.v, q.path)
		}
		if err != nil {
			return l, nil, err
		}
	}
	var source string
	switch {
	case l.Product == "kubernetes" && l.Service == "audit" && (l.Category == "" || l.Category == "application"):
		source = srcKubeAudit
	case l.Product == "azure" && l.Service == "activitylogs" && l.Category == "":
		source = srcActivity
	case l.Product == "azure" && l.Service == "signinlogs" && l.Category == "":
		source = srcSignin
	case l.Product == "gcp" && l.Service == "gcp.audit" && l.Category == "":
		source = srcGCPAudit
	default:
		return l, nil, errAt(p.v, p.path, unsupported("log source %s is not one cdewatch receives: it maps kubernetes/audit (KubeAuditLogs), azure/activitylogs (AzureActivity), azure/signinlogs (SigninLogs) and loads gcp/gcp.audit for no table", l))
	}
	return l, mapperFor(source), nil
}

// parseTimespan reads a Sigma time span: a number and s, m, h or d.
func parseTimespan(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	bad := fmt.Errorf("timespan %q: want a number and s, m, h or d, e.g. 10m", s)
	if len(t) < 2 || !digits(t[:len(t)-1]) || len(t) > 12 {
		return 0, bad
	}
	unit := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour}[t[len(t)-1]]
	if unit == 0 {
		return 0, bad
	}
	n, _ := strconv.ParseInt(t[:len(t)-1], 10, 64)
	if n <= 0 || n > int64(365*24*time.Hour/unit) {
		return 0, fmt.Errorf("timespan %q: want between 1s and 365d", s)
	}
	return time.Duration(n) * unit, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
