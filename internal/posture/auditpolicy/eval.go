package auditpolicy

import (
	"slices"
	"strings"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// Principal is who makes a request, as the audit policy sees it.
type Principal struct {
	// Name is the user name (user.username of the audit event).
	Name string `json:"name"`
	// Groups are the user's groups.
	Groups []string `json:"groups,omitempty"`
	// Kind says what sort of identity this is; it decides which PCI
	// classes the principal's requests evidence.
	Kind PrincipalKind `json:"kind"`
}

// PrincipalKind sorts identities.
type PrincipalKind string

// The kinds of principal.
const (
	// Person is an individual user (human, from an identity provider or a
	// client certificate).
	Person PrincipalKind = "person"
	// Admin is a member of system:masters (cluster-admin by certificate).
	Admin PrincipalKind = "admin"
	// ServiceAccount is a Kubernetes service account, which a person can
	// use interactively with its token.
	ServiceAccount PrincipalKind = "serviceaccount"
	// Node is a kubelet (system:node:*, group system:nodes).
	Node PrincipalKind = "node"
	// Component is a control-plane component (system:kube-controller-manager, …).
	Component PrincipalKind = "component"
	// Anonymous is system:anonymous (group system:unauthenticated).
	Anonymous PrincipalKind = "anonymous"
	// FailedAuthentication is a request whose credentials were refused:
	// kube-apiserver evaluates the policy for it with no user at all.
	FailedAuthentication PrincipalKind = "failed-authentication"
)

// Individual reports whether the principal's actions are those of an
// individual in the sense of PCI DSS 10.2.1.1 and 10.2.1.2.
func (p *Principal) Individual() bool {
	return p.Kind == Person || p.Kind == Admin || p.Kind == ServiceAccount
}

// Label names the principal in a report.
func (p *Principal) Label() string {
	if p.Kind == FailedAuthentication {
		return "(failed authentication)"
	}
	return p.Name
}

// Request is what a request asks for, as the audit policy sees it (the
// authorizer attributes of kube-apiserver).
type Request struct {
	Verb string `json:"verb"`
	// APIGroup, Resource, Subresource, Namespace and Name describe a
	// resource request; Resource is empty for a non-resource request.
	APIGroup    string `json:"api_group,omitempty"`
	Resource    string `json:"resource,omitempty"`
	Subresource string `json:"subresource,omitempty"`
	Namespace   string `json:"namespace,omitempty"`
	Name        string `json:"name,omitempty"`
	// Path is the URL path of a non-resource request.
	Path string `json:"path,omitempty"`
}

// IsResource reports whether r is a resource request.
func (r Request) IsResource() bool { return r.Resource != "" }

// Label names what r is about: "pods", "pods/exec",
// "rbac.authorization.k8s.io/roles" or the path of a non-resource request.
func (r Request) Label() string {
	if !r.IsResource() {
		return r.Path
	}
	s := r.Resource
	if r.Subresource != "" {
		s += "/" + r.Subresource
	}
	if r.APIGroup != "" {
		s = r.APIGroup + "/" + s
	}
	return s
}

// LongRunning reports whether kube-apiserver treats r as long-running:
// the verbs watch and proxy, and the subresources attach, exec, log,
// portforward and proxy (the check kube-apiserver installs with
// BasicLongRunningRequestCheck). A long-running request emits a
// ResponseStarted event when its response begins.
func (r Request) LongRunning() bool {
	if r.Verb == "watch" || r.Verb == "proxy" {
		return true
	}
	switch r.Subresource {
	case "attach", "exec", "log", "portforward", "proxy":
		return r.IsResource()
	}
	return false
}

// Decision is what a policy decides for one request.
type Decision struct {
	// Rule is the index of the first rule that matches; -1 when none does
	// and the default level (None) applies.
	Rule  int
	Level auditv1.Level
	// OmitStages are the stages not recorded: the policy's and the rule's.
	OmitStages []auditv1.Stage
}

// Evaluate returns the decision kube-apiserver takes for request r made by
// principal u; u nil or of kind FailedAuthentication means the request's
// credentials were refused (no user). It follows
// k8s.io/apiserver/pkg/audit/policy (the first matching rule wins; no match
// means None), and the tests hold it to that package.
func (p *Policy) Evaluate(u *Principal, r Request) Decision {
	if u != nil && u.Kind == FailedAuthentication {
		u = nil
	}
	for i := range p.Spec.Rules {
		rule := &p.Spec.Rules[i]
		if ruleMatches(rule, u, r) {
			return Decision{Rule: i, Level: rule.Level, OmitStages: unionStages(p.Spec.OmitStages, rule.OmitStages)}
		}
	}
	return Decision{Rule: -1, Level: auditv1.LevelNone, OmitStages: unionStages(p.Spec.OmitStages, nil)}
}

func unionStages(a, b []auditv1.Stage) []auditv1.Stage {
	var out []auditv1.Stage
	for _, s := range slices.Concat(a, b) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// ruleMatches mirrors ruleMatches of k8s.io/apiserver/pkg/audit/policy.
func ruleMatches(r *auditv1.PolicyRule, u *Principal, req Request) bool {
	if len(r.Users) > 0 {
		if u == nil || !slices.Contains(r.Users, u.Name) {
			return false
		}
	}
	if len(r.UserGroups) > 0 {
		if u == nil || !slices.ContainsFunc(u.Groups, func(g string) bool { return slices.Contains(r.UserGroups, g) }) {
			return false
		}
	}
	if len(r.Verbs) > 0 && !slices.Contains(r.Verbs, req.Verb) {
		return false
	}
	if len(r.Namespaces) > 0 || len(r.Resources) > 0 {
		return ruleMatchesResource(r, req)
	}
	if len(r.NonResourceURLs) > 0 {
		return !req.IsResource() && slices.ContainsFunc(r.NonResourceURLs, func(spec string) bool { return pathMatches(req.Path, spec) })
	}
	return true
}

func pathMatches(path, spec string) bool {
	if spec == "*" || spec == path {
		return true
	}
	return strings.HasSuffix(spec, "*") && strings.HasPrefix(path, strings.TrimRight(spec, "*"))
}

func ruleMatchesResource(r *auditv1.PolicyRule, req Request) bool {
	if !req.IsResource() {
		return false
	}
	if len(r.Namespaces) > 0 && !slices.Contains(r.Namespaces, req.Namespace) {
		return false
	}
	if len(r.Resources) == 0 {
		return true
	}
	combined := req.Resource
	if req.Subresource != "" {
		combined = req.Resource + "/" + req.Subresource
	}
	for _, gr := range r.Resources {
		if gr.Group != req.APIGroup && gr.Group != "*" {
			continue
		}
		if len(gr.Resources) == 0 {
			return true
		}
		for _, res := range gr.Resources {
			if len(gr.ResourceNames) > 0 && !slices.Contains(gr.ResourceNames, req.Name) {
				continue
			}
			if res == combined || res == "*" {
				return true
			}
			if req.Subresource != "" && strings.HasPrefix(res, "*/") && req.Subresource == strings.TrimPrefix(res, "*/") {
				return true
			}
			if strings.HasSuffix(res, "/*") && req.Resource == strings.TrimSuffix(res, "/*") {
				return true
			}
		}
	}
	return false
}

// emittedStages returns the stages kube-apiserver records for a request
// that no policy omits: a refused authentication produces one event, at
// ResponseStarted (WithFailedAuthenticationAudit in
// k8s.io/apiserver/pkg/endpoints/filters); a long-running request
// RequestReceived, ResponseStarted and ResponseComplete; any other request
// RequestReceived and ResponseComplete.
func emittedStages(u *Principal, r Request) []auditv1.Stage {
	switch {
	case u == nil || u.Kind == FailedAuthentication:
		return []auditv1.Stage{auditv1.StageResponseStarted}
	case r.LongRunning():
		return []auditv1.Stage{auditv1.StageRequestReceived, auditv1.StageResponseStarted, auditv1.StageResponseComplete}
	}
	return []auditv1.Stage{auditv1.StageRequestReceived, auditv1.StageResponseComplete}
}

// Recorded returns the stages of request r by u that the decision d
// writes to the audit log: none at level None.
func Recorded(d Decision, u *Principal, r Request) []auditv1.Stage {
	if d.Level == auditv1.LevelNone || d.Level == "" {
		return nil
	}
	var out []auditv1.Stage
	for _, s := range emittedStages(u, r) {
		if !slices.Contains(d.OmitStages, s) {
			out = append(out, s)
		}
	}
	return out
}
