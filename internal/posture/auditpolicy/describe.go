package auditpolicy

import (
	"fmt"
	"slices"
	"strings"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// nsLabel names a namespace in a report: the stand-in for unnamed
// namespaces, cluster-wide reads and cluster-scoped objects get words.
func (m *matrix) nsLabel(ns string, namespaced bool) string {
	switch {
	case ns == m.other:
		return otherLabel
	case ns == "" && namespaced:
		return "(all namespaces)"
	case ns == "":
		return "(cluster-scoped)"
	}
	return ns
}

// verbOrder sorts verbs reads first, then writes, then the rest.
func verbOrder(v string) int {
	if i := slices.Index(allVerbs, v); i >= 0 {
		return i
	}
	return len(allVerbs)
}

func sortVerbs(vs []string) {
	slices.SortStableFunc(vs, func(a, b string) int { return verbOrder(a) - verbOrder(b) })
}

// describeCells summarizes requests in a line: the verbs, what they are
// about and where, grouping the resources that share verbs and places.
// At most maxGroups groups are named; the rest are counted.
func (m *matrix) describeCells(cells []*cell, maxGroups int) string {
	type agg struct {
		label string
		verbs []string
		nss   []string
	}
	var order []string
	byLabel := map[string]*agg{}
	for _, c := range cells {
		l := c.r.Label()
		a := byLabel[l]
		if a == nil {
			a = &agg{label: l}
			byLabel[l] = a
			order = append(order, l)
		}
		if !slices.Contains(a.verbs, c.r.Verb) {
			a.verbs = append(a.verbs, c.r.Verb)
		}
		if c.r.IsResource() {
			ns := m.nsLabel(c.r.Namespace, c.namespaced)
			if !slices.Contains(a.nss, ns) {
				a.nss = append(a.nss, ns)
			}
		}
	}
	type group struct {
		verbs, nss, labels []string
	}
	var groups []*group
	for _, l := range order {
		a := byLabel[l]
		sortVerbs(a.verbs)
		i := slices.IndexFunc(groups, func(g *group) bool { return slices.Equal(g.verbs, a.verbs) && slices.Equal(g.nss, a.nss) })
		if i < 0 {
			groups = append(groups, &group{verbs: a.verbs, nss: a.nss})
			i = len(groups) - 1
		}
		groups[i].labels = append(groups[i].labels, l)
	}
	var parts []string
	for i, g := range groups {
		if i == maxGroups {
			kinds := "kinds"
			if len(groups)-maxGroups == 1 {
				kinds = "kind"
			}
			parts = append(parts, fmt.Sprintf("and %d more %s of request", len(groups)-maxGroups, kinds))
			break
		}
		s := strings.Join(g.verbs, ", ") + " of " + joinLimit(g.labels, 6)
		if len(g.nss) > 0 && !(len(g.nss) == 1 && g.nss[0] == "(cluster-scoped)") {
			s += " in " + joinLimit(g.nss, 8)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// joinLimit joins up to n items and counts the rest.
func joinLimit(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(" and %d more", len(items)-n)
}

// selects describes what a rule matches, in the words of its fields.
func selects(r auditv1.PolicyRule) string {
	var parts []string
	if len(r.Users) > 0 {
		parts = append(parts, "users "+strings.Join(r.Users, ", "))
	}
	if len(r.UserGroups) > 0 {
		parts = append(parts, "groups "+strings.Join(r.UserGroups, ", "))
	}
	if len(r.Verbs) > 0 {
		parts = append(parts, "verbs "+strings.Join(r.Verbs, ", "))
	}
	if len(r.Namespaces) > 0 {
		ns := make([]string, len(r.Namespaces))
		for i, n := range r.Namespaces {
			ns[i] = n
			if n == "" {
				ns[i] = `"" (cluster-scoped)`
			}
		}
		parts = append(parts, "namespaces "+strings.Join(ns, ", "))
	}
	if len(r.Resources) > 0 {
		var rs []string
		for _, gr := range r.Resources {
			g := gr.Group
			if g == "" {
				g = "core"
			}
			s := g + ":"
			if len(gr.Resources) == 0 {
				s += " (all)"
			} else {
				s += " " + strings.Join(gr.Resources, ", ")
			}
			if len(gr.ResourceNames) > 0 {
				s += " named " + strings.Join(gr.ResourceNames, ", ")
			}
			rs = append(rs, s)
		}
		parts = append(parts, "resources "+strings.Join(rs, "; "))
	}
	if len(r.NonResourceURLs) > 0 {
		parts = append(parts, "URLs "+strings.Join(r.NonResourceURLs, ", "))
	}
	if len(r.OmitStages) > 0 {
		ss := make([]string, len(r.OmitStages))
		for i, s := range r.OmitStages {
			ss[i] = string(s)
		}
		parts = append(parts, "omits "+strings.Join(ss, ", "))
	}
	if len(parts) == 0 {
		return "every request"
	}
	return strings.Join(parts, "; ")
}

// unconditional reports a rule that matches every request.
func unconditional(r auditv1.PolicyRule) bool {
	return len(r.Users) == 0 && len(r.UserGroups) == 0 && len(r.Verbs) == 0 && len(r.Resources) == 0 &&
		len(r.Namespaces) == 0 && len(r.NonResourceURLs) == 0
}
