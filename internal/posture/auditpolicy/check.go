package auditpolicy

import (
	"fmt"
	"slices"
	"strings"

	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/cdewatch/cdewatch/internal/posture"
)

// FindingIDs lists the IDs of the findings Check reports; docs/POSTURE.md
// describes each.
func FindingIDs() []string {
	return []string{
		"chd-access-not-logged", "admin-action-not-logged", "log-access-not-logged", "invalid-access-not-logged",
		"credential-change-not-logged", "audit-change-not-logged", "system-object-not-logged",
		"no-catch-all", "catch-all-none", "writes-only-in-namespaces", "cde-namespace-uncovered",
		"no-rbac-rule", "rbac-without-body",
		"secret-values-logged", "configmap-values-logged", "token-logged", "secret-read-at-request",
		"omit-response-started", "omit-response-complete", "omit-panic",
		"unknown-verb", "resource-not-served", "unreachable-rule", "shadowed-rule", "unmatched-rule",
		"matrix-truncated", "cde-undeclared",
	}
}

// Report is the result of checking an audit policy. Its JSON form is
// documented in internal/posture/FORMAT.md.
type Report struct {
	// Source names the policy (its file name).
	Source        string   `json:"source"`
	Rules         int      `json:"rules"`
	CDENamespaces []string `json:"cde_namespaces"`
	LogNamespaces []string `json:"log_namespaces"`
	Matrix        Stats    `json:"matrix"`
	// Verdicts has one entry per 10.2.1.x class, then 10.2.2 and 8.3.2.
	Verdicts []Verdict `json:"verdicts"`
	// RuleSummaries has one entry per rule, in order.
	RuleSummaries []RuleSummary     `json:"rule_summaries"`
	Findings      []posture.Finding `json:"findings"`
	// NotLogged lists the requests of the matrix that some requirement
	// needs and that the policy does not log.
	NotLogged []NotLoggedRow `json:"not_logged"`
}

// Stats describes the request matrix.
type Stats struct {
	Principals  []string `json:"principals"`
	Requests    int      `json:"requests"`
	Evaluations int      `json:"evaluations"`
	// Needed counts the evaluations some requirement needs logged;
	// NeededNotLogged those of them the policy does not log.
	Needed          int `json:"needed"`
	NeededNotLogged int `json:"needed_not_logged"`
	// AtNone counts the evaluations that end at level None, needed or not
	// (the requests of components and nodes that no requirement needs
	// may rightly be dropped).
	AtNone int `json:"at_none"`
}

// Verdict is a posture verdict with the request counts behind it.
type Verdict struct {
	posture.Verdict
	Core                int `json:"core"`
	CoreLogged          int `json:"core_logged"`
	Supplementary       int `json:"supplementary"`
	SupplementaryLogged int `json:"supplementary_logged"`
}

// RuleSummary says what one rule does over the matrix.
type RuleSummary struct {
	Index int    `json:"index"`
	Line  int    `json:"line,omitempty"`
	Level string `json:"level"`
	// Selects describes the rule's conditions.
	Selects string `json:"selects"`
	// FirstMatch counts the evaluations this rule decides.
	FirstMatch int `json:"first_match"`
	// Covers lists the classes of the requests it decides and logs;
	// Drops those of the requests it decides and does not log.
	Covers []Class `json:"covers"`
	Drops  []Class `json:"drops"`
}

// NotLoggedRow is a group of needed requests that are not logged, for the
// same reason.
type NotLoggedRow struct {
	Resource   string   `json:"resource"`
	Verbs      []string `json:"verbs"`
	Namespaces []string `json:"namespaces,omitempty"`
	// Principals lists who makes them; ["everyone"] when every principal
	// for whom the request matters is concerned.
	Principals []string `json:"principals"`
	Needs      []Need   `json:"needs"`
	// Rule is the rule that decides them; nil when no rule matches.
	Rule *int   `json:"rule,omitempty"`
	Line int    `json:"line,omitempty"`
	Why  string `json:"why"`
}

// gapKind says why a needed request is not logged.
type gapKind int

const (
	noRule       gapKind = iota // no rule matches: default None
	noneRule                    // the deciding rule's level is None
	ruleStages                  // the deciding rule omits every stage the request produces
	policyStages                // the policy's omitStages do
)

type gap struct {
	kind gapKind
	rule int
}

func (g gap) why() string {
	switch g.kind {
	case noRule:
		return "no rule matches (default None)"
	case noneRule:
		return "level None"
	case ruleStages:
		return "the rule omits every stage the request produces"
	}
	return "the policy's omitStages drop every stage the request produces"
}

// evaluated is a matrix cell with the policy's decision.
type evaluated struct {
	*cell
	d        Decision
	recorded []auditv1.Stage
	gap      gap
}

func (e *evaluated) logged() bool { return len(e.recorded) > 0 }

// checker carries the state of one Check.
type checker struct {
	p        *Policy
	m        *matrix
	cells    []*evaluated
	findings []posture.Finding
}

// Check evaluates policy p over the request matrix for the cluster o
// describes and returns the report. source names the policy in it.
func Check(p *Policy, source string, o Options) (*Report, error) {
	for _, list := range [][]string{o.CDENamespaces, o.LogNamespaces} {
		for _, ns := range list {
			if msgs := utilvalidation.IsDNS1123Label(ns); len(msgs) > 0 {
				return nil, fmt.Errorf("namespace %q: %s", ns, strings.Join(msgs, "; "))
			}
		}
	}
	c := &checker{p: p, m: buildMatrix(p, o)}
	c.evaluate()
	rep := &Report{
		Source:        source,
		Rules:         len(p.Spec.Rules),
		CDENamespaces: nonNil(o.CDENamespaces),
		LogNamespaces: o.logNamespaces(),
		RuleSummaries: c.ruleSummaries(),
		NotLogged:     c.notLoggedRows(),
	}
	rep.Matrix = c.stats()
	c.lint()
	c.structure()
	c.stageFindings()
	c.gapFindings()
	c.namespaceFindings()
	c.rbacFindings()
	c.sensitiveFindings()
	if c.m.truncated {
		c.add(posture.Finding{ID: "matrix-truncated", Severity: posture.Info, Requirement: "10.2.1",
			Text: fmt.Sprintf("The policy names more users, groups, namespaces, resources, object names or URLs than the matrix takes (%d of each sort): the requests about the rest were not evaluated.", maxNamed)})
	}
	if len(o.CDENamespaces) == 0 {
		c.add(posture.Finding{ID: "cde-undeclared", Severity: posture.Info, Requirement: string(CHDAccess),
			Text: "No CDE namespaces were declared (--cde-namespaces), so every namespace is treated as holding cardholder data. Declare them to have the namespaces that matter checked by name."})
	}
	posture.SortFindings(c.findings)
	rep.Findings = nonNil(c.findings)
	rep.Verdicts = c.verdicts()
	return rep, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (c *checker) add(f posture.Finding) { c.findings = append(c.findings, f) }

// at returns the Rule and Line fields of a finding about rule i (i < 0:
// none).
func (c *checker) at(i int) (*int, int) {
	if i < 0 {
		return nil, 0
	}
	return &i, c.p.RuleLine(i)
}

func (c *checker) evaluate() {
	for i := range c.m.cells {
		cl := &c.m.cells[i]
		d := c.p.Evaluate(cl.p, cl.r)
		e := &evaluated{cell: cl, d: d, recorded: Recorded(d, cl.p, cl.r)}
		if !e.logged() {
			switch {
			case d.Rule < 0:
				e.gap = gap{noRule, -1}
			case d.Level == auditv1.LevelNone:
				e.gap = gap{noneRule, d.Rule}
			default:
				policyOnly := Recorded(Decision{Level: d.Level, OmitStages: c.p.Spec.OmitStages}, cl.p, cl.r)
				if len(policyOnly) == 0 {
					e.gap = gap{policyStages, -1} // the policy's doing, whatever rule decided
				} else {
					e.gap = gap{ruleStages, d.Rule}
				}
			}
		}
		c.cells = append(c.cells, e)
	}
}

func (c *checker) stats() Stats {
	s := Stats{Requests: c.m.requests, Evaluations: len(c.cells)}
	for _, p := range c.m.principals {
		s.Principals = append(s.Principals, p.Label())
	}
	for _, e := range c.cells {
		if e.d.Level == auditv1.LevelNone {
			s.AtNone++
		}
		if len(e.needs) > 0 {
			s.Needed++
			if !e.logged() {
				s.NeededNotLogged++
			}
		}
	}
	return s
}

func (c *checker) ruleSummaries() []RuleSummary {
	out := make([]RuleSummary, len(c.p.Spec.Rules))
	for i, r := range c.p.Spec.Rules {
		out[i] = RuleSummary{Index: i, Line: c.p.RuleLine(i), Level: string(r.Level), Selects: selects(r), Covers: []Class{}, Drops: []Class{}}
	}
	for _, e := range c.cells {
		if e.d.Rule < 0 {
			continue
		}
		s := &out[e.d.Rule]
		s.FirstMatch++
		for _, n := range e.needs {
			list := &s.Drops
			if e.logged() {
				list = &s.Covers
			}
			if !slices.Contains(*list, n.Class) {
				*list = append(*list, n.Class)
			}
		}
	}
	for i := range out {
		slices.Sort(out[i].Covers)
		slices.Sort(out[i].Drops)
	}
	return out
}

// notLoggedRows groups the needed requests that are not logged by what
// they are about, who makes them and why they are not logged.
func (c *checker) notLoggedRows() []NotLoggedRow {
	type cellKey struct {
		label, ns, verb string
	}
	needed := map[cellKey][]*Principal{}
	for _, e := range c.cells {
		if len(e.needs) > 0 {
			k := cellKey{e.r.Label(), e.r.Namespace, e.r.Verb}
			if !slices.Contains(needed[k], e.p) {
				needed[k] = append(needed[k], e.p)
			}
		}
	}
	type rowKey struct {
		label, principals string
		gap               gap
	}
	type rowAgg struct {
		key        rowKey
		principals []string
		namespaced bool
		isResource bool
		nsVerbs    map[string][]string
		nsOrder    []string
		needs      []Need
	}
	type missKey struct {
		cellKey
		gap gap
	}
	missing := map[missKey][]*evaluated{}
	var missOrder []missKey
	for _, e := range c.cells {
		if len(e.needs) == 0 || e.logged() {
			continue
		}
		k := missKey{cellKey{e.r.Label(), e.r.Namespace, e.r.Verb}, e.gap}
		if _, ok := missing[k]; !ok {
			missOrder = append(missOrder, k)
		}
		missing[k] = append(missing[k], e)
	}
	var rows []*rowAgg
	index := map[rowKey]*rowAgg{}
	for _, k := range missOrder {
		es := missing[k]
		var who []string
		if len(es) == len(needed[k.cellKey]) && len(es) > 1 {
			who = []string{"everyone"}
		} else {
			for _, e := range es {
				who = append(who, e.p.Label())
			}
		}
		rk := rowKey{k.label, strings.Join(who, "\x00"), k.gap}
		r := index[rk]
		if r == nil {
			r = &rowAgg{key: rk, principals: who, namespaced: es[0].namespaced, isResource: es[0].r.IsResource(), nsVerbs: map[string][]string{}}
			index[rk] = r
			rows = append(rows, r)
		}
		if _, ok := r.nsVerbs[k.ns]; !ok {
			r.nsOrder = append(r.nsOrder, k.ns)
		}
		if !slices.Contains(r.nsVerbs[k.ns], k.verb) {
			r.nsVerbs[k.ns] = append(r.nsVerbs[k.ns], k.verb)
		}
		for _, e := range es {
			for _, n := range e.needs {
				mergeNeed(&r.needs, n)
			}
		}
	}
	var out []NotLoggedRow
	for _, r := range rows {
		// Namespaces with the same verbs share a row.
		type part struct {
			verbs []string
			nss   []string
		}
		var parts []*part
		for _, ns := range r.nsOrder {
			vs := r.nsVerbs[ns]
			sortVerbs(vs)
			i := slices.IndexFunc(parts, func(p *part) bool { return slices.Equal(p.verbs, vs) })
			if i < 0 {
				parts = append(parts, &part{verbs: vs})
				i = len(parts) - 1
			}
			if r.isResource {
				parts[i].nss = append(parts[i].nss, c.m.nsLabel(ns, r.namespaced))
			}
		}
		slices.SortFunc(r.needs, func(a, b Need) int { return strings.Compare(string(a.Class), string(b.Class)) })
		rule, line := c.at(r.key.gap.rule)
		for _, p := range parts {
			out = append(out, NotLoggedRow{Resource: r.key.label, Verbs: p.verbs, Namespaces: p.nss, Principals: r.principals,
				Needs: r.needs, Rule: rule, Line: line, Why: r.key.gap.why()})
		}
	}
	return nonNil(out)
}

// mergeNeed adds n to needs, a class once, core if any occurrence is.
func mergeNeed(needs *[]Need, n Need) {
	for i := range *needs {
		if (*needs)[i].Class == n.Class {
			(*needs)[i].Core = (*needs)[i].Core || n.Core
			return
		}
	}
	*needs = append(*needs, n)
}

// gapFindings reports, per class and per reason, the needed requests the
// policy does not log.
func (c *checker) gapFindings() {
	ids := map[Class]string{
		CHDAccess: "chd-access-not-logged", AdminAction: "admin-action-not-logged", LogAccess: "log-access-not-logged",
		InvalidAccess: "invalid-access-not-logged", CredentialChange: "credential-change-not-logged",
		AuditLogChange: "audit-change-not-logged", SystemObject: "system-object-not-logged",
	}
	for _, class := range Classes {
		var order []gap
		byGap := map[gap][]*evaluated{}
		for _, e := range c.cells {
			if e.logged() || !slices.ContainsFunc(e.needs, func(n Need) bool { return n.Class == class }) {
				continue
			}
			if _, ok := byGap[e.gap]; !ok {
				order = append(order, e.gap)
			}
			byGap[e.gap] = append(byGap[e.gap], e)
		}
		for _, g := range order {
			es := byGap[g]
			var core, supp []*cell
			for _, e := range es {
				if slices.Contains(e.needs, Need{class, true}) {
					core = append(core, e.cell)
				} else {
					supp = append(supp, e.cell)
				}
			}
			sev := posture.Medium
			what := fmt.Sprintf("%d further requests", len(supp))
			cells := supp
			if len(core) > 0 {
				sev = posture.High
				what = fmt.Sprintf("%d required requests", len(core))
				if len(supp) > 0 {
					what += fmt.Sprintf(" (and %d further)", len(supp))
				}
				cells = core
			}
			var cause string
			switch g.kind {
			case noRule:
				cause = "no rule matches them, so the default level None applies"
			case noneRule:
				cause = "this rule sets level None for them"
			case ruleStages:
				cause = "this rule omits every stage they produce (" + c.stagesOf(es) + ")"
			case policyStages:
				cause = "the policy's omitStages drop every stage they produce (" + c.stagesOf(es) + ")"
			}
			rule, line := c.at(g.rule)
			if g.kind == policyStages {
				rule, line = nil, c.p.Line("omitStages")
			}
			c.add(posture.Finding{ID: ids[class], Severity: sev, Requirement: string(class), Rule: rule, Line: line,
				Text: fmt.Sprintf("%s of %s are not logged: %s. Not logged: %s.", what, class.Title(), cause, c.m.describeCells(cells, 4))})
		}
	}
}

// stagesOf names the stages the requests produce.
func (c *checker) stagesOf(es []*evaluated) string {
	var out []string
	for _, e := range es {
		for _, s := range emittedStages(e.p, e.r) {
			if !slices.Contains(out, string(s)) {
				out = append(out, string(s))
			}
		}
	}
	return strings.Join(out, ", ")
}

// structure reports the catch-all and the rules no request reaches.
func (c *checker) structure() {
	rules := c.p.Spec.Rules
	catchAll := slices.IndexFunc(rules, unconditional)
	switch {
	case catchAll < 0:
		n := 0
		for _, e := range c.cells {
			if e.d.Rule < 0 {
				n++
			}
		}
		c.add(posture.Finding{ID: "no-catch-all", Severity: posture.High, Requirement: string(AdminAction),
			Text: fmt.Sprintf("The policy has no catch-all rule, so any request its rules do not name is not logged (kube-apiserver's default level is None): %d of the %d evaluations here, and every resource the matrix cannot foresee (custom resources, new APIs). End the rules with \"- level: Metadata\".", n, len(c.cells))})
	case rules[catchAll].Level == auditv1.LevelNone:
		rule, line := c.at(catchAll)
		c.add(posture.Finding{ID: "catch-all-none", Severity: posture.High, Requirement: string(AdminAction), Rule: rule, Line: line,
			Text: "The rule that matches every request has level None: whatever the rules before it do not name is not logged. Give it level Metadata."})
	}
	if catchAll >= 0 {
		for i := catchAll + 1; i < len(rules); i++ {
			rule, line := c.at(i)
			c.add(posture.Finding{ID: "unreachable-rule", Severity: posture.Medium, Requirement: "10.2.1", Rule: rule, Line: line,
				Text: fmt.Sprintf("Rule %d matches every request, so this rule never applies (the first matching rule wins). Move it above rule %d.", catchAll, catchAll)})
		}
	}
	// Rules that decide nothing in the matrix.
	first := make([]int, len(rules))
	matches := make([]int, len(rules))
	earlier := make([]map[int]bool, len(rules))
	for _, e := range c.cells {
		if e.d.Rule >= 0 {
			first[e.d.Rule]++
		}
		u := e.p
		if u.Kind == FailedAuthentication {
			u = nil
		}
		for i := range rules {
			if ruleMatches(&rules[i], u, e.r) {
				matches[i]++
				if e.d.Rule != i {
					if earlier[i] == nil {
						earlier[i] = map[int]bool{}
					}
					earlier[i][e.d.Rule] = true
				}
			}
		}
	}
	for i := range rules {
		if first[i] > 0 || (catchAll >= 0 && i > catchAll) {
			continue
		}
		rule, line := c.at(i)
		if matches[i] == 0 {
			c.add(posture.Finding{ID: "unmatched-rule", Severity: posture.Low, Requirement: "10.2.1", Rule: rule, Line: line,
				Text: "No request of the matrix matches this rule, although the matrix includes every user, group, namespace, resource and URL the policy names: its conditions may contradict each other (for example verbs that the named resources or URLs never see)."})
			continue
		}
		var by []string
		for j := range i {
			if earlier[i][j] {
				by = append(by, fmt.Sprint(j))
			}
		}
		c.add(posture.Finding{ID: "shadowed-rule", Severity: posture.Low, Requirement: "10.2.1", Rule: rule, Line: line,
			Text: fmt.Sprintf("Every request of the matrix that matches this rule is decided by an earlier rule (%s): check the order of the rules.", strings.Join(by, ", "))})
	}
}

// lint reports names that no request carries: verbs RBAC knows but audit
// events never have, and resources named in a group that does not serve them.
func (c *checker) lint() {
	for i, r := range c.p.Spec.Rules {
		rule, _ := c.at(i)
		for j, v := range r.Verbs {
			if slices.Contains(auditVerbs, v) {
				continue
			}
			msg := fmt.Sprintf("Verb %q never appears in an audit event, so this part of the rule matches nothing.", v)
			switch {
			case slices.Contains(authzOnlyVerbs, v):
				msg += " It is an RBAC verb: audit events carry the request verbs (get, list, watch, create, update, patch, delete, deletecollection) or, for non-resource URLs, the lower-case HTTP method."
			case suggest(v, auditVerbs) != "":
				msg += fmt.Sprintf(" Did you mean %q?", suggest(v, auditVerbs))
			}
			c.add(posture.Finding{ID: "unknown-verb", Severity: posture.Medium, Requirement: "10.2.1", Rule: rule,
				Line: c.p.Line(fmt.Sprintf("rules[%d].verbs[%d]", i, j)), Text: msg})
		}
		for j, gr := range r.Resources {
			served, known := knownGroups[gr.Group]
			if !known {
				continue
			}
			for k, res := range gr.Resources {
				if strings.Contains(res, "*") || slices.Contains(served, res) {
					continue
				}
				line := c.p.Line(fmt.Sprintf("rules[%d].resources[%d].resources[%d]", i, j, k))
				g := gr.Group
				if g == "" {
					g = `"" (core)`
				}
				msg := fmt.Sprintf("Group %s does not serve %q, so this entry matches nothing.", g, res)
				if others := groupsOf(res); len(others) > 0 {
					msg += fmt.Sprintf(" %q is served by group %s: set group to it.", res, quoteGroups(others))
				} else if s := suggest(res, served); s != "" {
					msg += fmt.Sprintf(" Did you mean %q?", s)
				}
				c.add(posture.Finding{ID: "resource-not-served", Severity: posture.Medium, Requirement: "10.2.1", Rule: rule, Line: line, Text: msg})
			}
		}
	}
}

func quoteGroups(gs []string) string {
	q := make([]string, len(gs))
	for i, g := range gs {
		q[i] = fmt.Sprintf("%q", g)
	}
	return strings.Join(q, " or ")
}

// stageFindings reports omitStages that lose what PCI DSS needs. See
// docs/POSTURE.md ("Stages") for the reasoning.
func (c *checker) stageFindings() {
	type source struct {
		rule   int // -1: the policy
		stages []auditv1.Stage
	}
	sources := []source{{-1, c.p.Spec.OmitStages}}
	for i, r := range c.p.Spec.Rules {
		sources = append(sources, source{i, r.OmitStages})
	}
	for _, s := range sources {
		// The requests the omission touches: those decided by the rule at
		// a level that logs (for the policy: by any rule, or none).
		var touched []*evaluated
		for _, e := range c.cells {
			if e.d.Level == auditv1.LevelNone || (s.rule >= 0 && e.d.Rule != s.rule) {
				continue
			}
			touched = append(touched, e)
		}
		if len(touched) == 0 {
			continue
		}
		rule, line := c.at(s.rule)
		if s.rule < 0 {
			line = c.p.Line("omitStages")
		}
		who := "This rule omits"
		if s.rule < 0 {
			who = "The policy omits"
		}
		if slices.Contains(s.stages, auditv1.StageResponseComplete) {
			c.add(posture.Finding{ID: "omit-response-complete", Severity: posture.High, Requirement: "10.2.2", Rule: rule, Line: line,
				Text: who + " ResponseComplete, the stage that carries the response status: the records of ordinary requests lose their success or failure indication, and with RequestReceived also omitted they are not written at all. Omit at most RequestReceived."})
		}
		if slices.Contains(s.stages, auditv1.StageResponseStarted) {
			failed := slices.ContainsFunc(touched, func(e *evaluated) bool { return e.p.Kind == FailedAuthentication })
			if failed {
				c.add(posture.Finding{ID: "omit-response-started", Severity: posture.High, Requirement: string(InvalidAccess), Rule: rule, Line: line,
					Text: who + " ResponseStarted. A request whose authentication fails is recorded at that stage only, so failed logins are not logged; and exec, attach, port-forward, log and watch streams are recorded only when they end (a stream cut by an apiserver restart not at all). Omit at most RequestReceived."})
			} else {
				c.add(posture.Finding{ID: "omit-response-started", Severity: posture.Medium, Requirement: string(AdminAction), Rule: rule, Line: line,
					Text: who + " ResponseStarted: exec, attach, port-forward, log and watch streams are recorded only when they end (a stream cut by an apiserver restart not at all), and an opening without a closing record can no longer show a stream still open. Omit at most RequestReceived."})
			}
		}
		if slices.Contains(s.stages, auditv1.StagePanic) {
			c.add(posture.Finding{ID: "omit-panic", Severity: posture.Low, Requirement: "10.2.1", Rule: rule, Line: line,
				Text: who + " Panic: a request that crashes its handler leaves no record of its outcome. Keep the stage; it is rare and costs nothing."})
		}
	}
}

// namespaceFindings reports writes logged in some namespaces only, and
// CDE namespaces with needed requests that are not logged.
func (c *checker) namespaceFindings() {
	type nsStat struct{ total, logged int }
	stats := map[string]*nsStat{}
	var order []string
	for _, e := range c.cells {
		if !e.namespaced || e.r.Namespace == "" || !isWrite(e.r.Verb) || !slices.Contains(e.needs, Need{AdminAction, true}) {
			continue
		}
		s := stats[e.r.Namespace]
		if s == nil {
			s = &nsStat{}
			stats[e.r.Namespace] = s
			order = append(order, e.r.Namespace)
		}
		s.total++
		if e.logged() {
			s.logged++
		}
	}
	var some, none []string
	var someTotal, someLogged int
	for _, ns := range order {
		switch s := stats[ns]; {
		case s.logged == 0:
			none = append(none, c.m.nsLabel(ns, true))
		default:
			some = append(some, c.m.nsLabel(ns, true))
			someTotal += s.total
			someLogged += s.logged
		}
	}
	if len(some) > 0 && len(none) > 0 {
		part := ""
		if someLogged < someTotal {
			part = fmt.Sprintf(" (and there only %d of the %d changes of the matrix)", someLogged, someTotal)
		}
		c.add(posture.Finding{ID: "writes-only-in-namespaces", Severity: posture.High, Requirement: string(AdminAction),
			Text: fmt.Sprintf("Changes to namespaced objects are logged only in %s%s; in %s no change is logged at all. A rule's namespaces list decides this: changes must be logged in every namespace.", strings.Join(some, ", "), part, strings.Join(none, ", "))})
	}
	for _, ns := range c.m.opts.CDENamespaces {
		var miss []*cell
		for _, e := range c.cells {
			if e.r.Namespace != ns || e.logged() {
				continue
			}
			if slices.Contains(e.needs, Need{CHDAccess, true}) || slices.Contains(e.needs, Need{AdminAction, true}) {
				miss = append(miss, e.cell)
			}
		}
		if len(miss) > 0 {
			c.add(posture.Finding{ID: "cde-namespace-uncovered", Severity: posture.High, Requirement: string(CHDAccess),
				Text: fmt.Sprintf("In CDE namespace %s, %d required requests (access to data, changes) are not logged: %s.", ns, len(miss), c.m.describeCells(miss, 4))})
		}
	}
}

// rbacFindings reports a policy with no rule that logs changes to RBAC
// objects, and RBAC changes logged without their bodies.
func (c *checker) rbacFindings() {
	isRBAC := func(e *evaluated) bool {
		return e.r.APIGroup == "rbac.authorization.k8s.io" && isWrite(e.r.Verb) && e.p.Individual()
	}
	var any, logged, shallow int
	for _, e := range c.cells {
		if !isRBAC(e) {
			continue
		}
		any++
		if e.logged() {
			logged++
			if e.d.Level == auditv1.LevelMetadata && e.r.Verb != "delete" && e.r.Verb != "deletecollection" {
				shallow++
			}
		}
	}
	if any > 0 && logged == 0 {
		c.add(posture.Finding{ID: "no-rbac-rule", Severity: posture.High, Requirement: string(CredentialChange),
			Text: "No rule logs changes to RBAC objects (roles, rolebindings, clusterroles, clusterrolebindings of rbac.authorization.k8s.io): granting or elevating privileges leaves no record. Add a rule for them, at RequestResponse to record which rights changed."})
	}
	if shallow > 0 {
		c.add(posture.Finding{ID: "rbac-without-body", Severity: posture.Low, Requirement: string(CredentialChange),
			Text: fmt.Sprintf("%d changes to RBAC objects are logged at Metadata: the record names the role or binding but not the rules or subjects it now has, so an elevation of privileges shows only as \"changed\". Log them at RequestResponse.", shallow)})
	}
}

// sensitiveFindings reports rules that write secret material to the log.
func (c *checker) sensitiveFindings() {
	type key struct {
		rule  int
		id    string
		level auditv1.Level
	}
	type agg struct {
		sev   posture.Severity
		cells []*cell
	}
	var order []key
	groups := map[key]*agg{}
	for _, e := range c.cells {
		if e.sens == notSensitive || !e.logged() || e.p.Kind == FailedAuthentication {
			continue
		}
		id, sev, ok := sensitiveFinding(e.sens, e.d.Level, e.r.Verb)
		if !ok {
			continue
		}
		k := key{e.d.Rule, id, e.d.Level}
		g := groups[k]
		if g == nil {
			g = &agg{sev: sev}
			groups[k] = g
			order = append(order, k)
		}
		g.sev = max(g.sev, sev)
		if !slices.ContainsFunc(g.cells, func(x *cell) bool { return x.r == e.r }) {
			g.cells = append(g.cells, e.cell)
		}
	}
	for _, k := range order {
		g := groups[k]
		rule, line := c.at(k.rule)
		what := c.m.describeCells(g.cells, 4)
		var text string
		switch k.id {
		case "secret-values-logged":
			text = fmt.Sprintf("Secret bodies are written to the audit log at %s: %s. Every reader of the log (and every copy: SIEM, archive) then holds the secrets. Log secrets at Metadata.", k.level, what)
		case "configmap-values-logged":
			text = fmt.Sprintf("ConfigMap bodies are written to the audit log at %s: %s. ConfigMaps often carry connection strings and keys. Log them at Metadata.", k.level, what)
		case "token-logged":
			text = fmt.Sprintf("Bearer tokens are written to the audit log at %s: %s (a TokenReview request carries the token it reviews; a TokenRequest response carries the token issued). Anyone who reads the log can use them. Log these at Metadata.", k.level, what)
		case "secret-read-at-request":
			text = fmt.Sprintf("Reads of secrets are logged at %s: %s. Reads carry no request body, so no value is written today, but Request adds nothing over Metadata here and leaks values as soon as the rule is widened to writes. Use Metadata.", k.level, what)
		}
		c.add(posture.Finding{ID: k.id, Severity: g.sev, Requirement: "8.3.2", Rule: rule, Line: line, Text: text})
	}
}

// sensitiveFinding decides whether a request of sensitivity s logged at
// level writes secret material, and how bad that is.
func sensitiveFinding(s sensitivity, level auditv1.Level, verb string) (string, posture.Severity, bool) {
	body := level == auditv1.LevelRequestResponse ||
		level == auditv1.LevelRequest && (verb == "create" || verb == "update" || verb == "patch")
	switch s {
	case secretValues:
		if body {
			return "secret-values-logged", posture.High, true
		}
		if level == auditv1.LevelRequest {
			return "secret-read-at-request", posture.Low, true
		}
	case configValues:
		if body {
			return "configmap-values-logged", posture.Medium, true
		}
	case issuedToken:
		if level == auditv1.LevelRequestResponse {
			return "token-logged", posture.High, true
		}
	case reviewedToken:
		if level == auditv1.LevelRequest || level == auditv1.LevelRequestResponse {
			return "token-logged", posture.High, true
		}
	}
	return "", 0, false
}

// verdicts derives a verdict per class, then for 10.2.2 and 8.3.2, from
// the coverage counts and the findings (rules in docs/POSTURE.md).
func (c *checker) verdicts() []Verdict {
	var out []Verdict
	worst := func(req string) posture.Severity {
		w := posture.Info
		for _, f := range c.findings {
			if f.Requirement == req {
				w = max(w, f.Severity)
			}
		}
		return w
	}
	for _, class := range Classes {
		v := Verdict{Verdict: posture.Verdict{Requirement: string(class), Title: class.Title()}}
		var coreMiss, suppMiss []*cell
		for _, e := range c.cells {
			for _, n := range e.needs {
				if n.Class != class {
					continue
				}
				if n.Core {
					v.Core++
					if e.logged() {
						v.CoreLogged++
					} else {
						coreMiss = append(coreMiss, e.cell)
					}
				} else {
					v.Supplementary++
					if e.logged() {
						v.SupplementaryLogged++
					} else {
						suppMiss = append(suppMiss, e.cell)
					}
				}
			}
		}
		w := worst(string(class))
		var why []string
		switch {
		case len(coreMiss) > 0:
			v.Status = posture.Fail
			why = append(why, fmt.Sprintf("%d of %d required requests are not logged, e.g. %s", len(coreMiss), v.Core, c.m.describeCells(coreMiss, 2)))
		case w == posture.High:
			v.Status = posture.Fail
			why = append(why, fmt.Sprintf("all %d required requests are logged, but a high finding stands", v.Core))
		case len(suppMiss) > 0 || w == posture.Medium:
			v.Status = posture.Partial
			why = append(why, fmt.Sprintf("all %d required requests are logged", v.Core))
		default:
			v.Status = posture.Pass
			why = append(why, fmt.Sprintf("all %d required and %d further requests are logged", v.Core, v.Supplementary))
		}
		if len(suppMiss) > 0 {
			why = append(why, fmt.Sprintf("%d of %d further requests are not logged, e.g. %s", len(suppMiss), v.Supplementary, c.m.describeCells(suppMiss, 2)))
		}
		if w >= posture.Medium {
			why = append(why, "see the "+w.String()+" findings for "+string(class))
		}
		v.Why = strings.Join(why, "; ")
		out = append(out, v)
	}
	// 10.2.2: the outcome survives.
	v := Verdict{Verdict: posture.Verdict{Requirement: "10.2.2", Title: "records keep the outcome (stage ResponseComplete)", Status: posture.Pass,
		Why: "no rule that logs omits ResponseComplete"}}
	if worst("10.2.2") == posture.High {
		v.Status = posture.Fail
		v.Why = "ResponseComplete is omitted: records lose the success or failure indication"
	}
	out = append(out, v)
	// 8.3.2: no secret material in the log.
	v = Verdict{Verdict: posture.Verdict{Requirement: "8.3.2", Title: "no credentials in the audit log", Status: posture.Pass,
		Why: "secrets, configmaps, token requests and token reviews are never logged with their bodies"}}
	switch worst("8.3.2") {
	case posture.High:
		v.Status = posture.Fail
		v.Why = "secret values or tokens are written to the log (see the 8.3.2 findings)"
	case posture.Medium:
		v.Status = posture.Partial
		v.Why = "configmap bodies are written to the log (see the 8.3.2 findings)"
	case posture.Low:
		v.Why = "no values are written today; see the low 8.3.2 findings"
	}
	out = append(out, v)
	return out
}
