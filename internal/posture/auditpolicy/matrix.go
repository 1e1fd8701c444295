package auditpolicy

import (
	"slices"
	"strconv"
	"strings"
)

// Options describe the cluster a policy is checked for.
type Options struct {
	// CDENamespaces are the namespaces that store, process or transmit
	// cardholder data. Empty means undeclared: every namespace is then
	// treated as if it did.
	CDENamespaces []string
	// LogNamespaces run the audit and log pipeline (collectors,
	// forwarders, their configuration). Empty means kube-system.
	LogNamespaces []string
}

func (o Options) logNamespaces() []string {
	if len(o.LogNamespaces) == 0 {
		return []string{"kube-system"}
	}
	return o.LogNamespaces
}

// Need is a class a request evidences. Core needs are what the
// requirement names outright; a core request falling to None fails the
// requirement, a supplementary one makes it partial.
type Need struct {
	Class Class `json:"class"`
	Core  bool  `json:"core"`
}

// sensitivity says which secret material a request's bodies carry.
type sensitivity int

const (
	notSensitive  sensitivity = iota
	secretValues              // secrets: the values in data/stringData
	configValues              // configmaps: configuration, sometimes keys
	issuedToken               // serviceaccounts/token: the token is in the response
	reviewedToken             // tokenreviews: the token is in the request
)

// cell is one request by one principal in the matrix.
type cell struct {
	p          *Principal
	r          Request
	namespaced bool
	needs      []Need
	sens       sensitivity
}

// matrix is the set of requests a policy is evaluated over.
type matrix struct {
	principals []*Principal
	cells      []cell
	// other is the namespace that stands for every namespace the policy
	// and the options do not name.
	other    string
	requests int
	opts     Options
	// truncated is set when the policy names more users, groups,
	// namespaces, resources or URLs than the matrix takes.
	truncated bool
}

// otherLabel is how reports name the namespace that stands for all
// namespaces the policy does not name.
const otherLabel = "(any other namespace)"

// buildMatrix derives the request matrix for p: fixed principals and
// requests, plus every user, group, namespace, resource, name and URL the
// policy itself names, so that each rule's conditions are exercised.
func buildMatrix(p *Policy, o Options) *matrix {
	m := &matrix{opts: o}
	named := collectNames(p)
	m.truncated = named.truncated

	// Namespaces.
	var nss []string
	addNS := func(ns string) {
		if ns != "" && !slices.Contains(nss, ns) {
			nss = append(nss, ns)
		}
	}
	for _, ns := range o.CDENamespaces {
		addNS(ns)
	}
	addNS("default")
	addNS("kube-system")
	for _, ns := range o.logNamespaces() {
		addNS(ns)
	}
	for _, ns := range named.namespaces {
		addNS(ns)
	}
	m.other = unique("(other)", nss)
	nss = append(nss, m.other)

	m.principals = principals(o, named)

	// Requests.
	var reqs []struct {
		r          Request
		namespaced bool
	}
	addReq := func(r Request, namespaced bool) {
		reqs = append(reqs, struct {
			r          Request
			namespaced bool
		}{r, namespaced})
	}
	catalog := slices.Clone(matrixCatalog)
	for _, gr := range named.resources {
		if !slices.ContainsFunc(catalog, func(a apiResource) bool { return a.group == gr.group && a.resource == gr.resource && a.sub == gr.sub }) {
			verbs := allVerbs
			if gr.sub != "" {
				verbs = []string{"get", "create", "update", "patch"}
			}
			// Unknown scope: asked both in namespaces and cluster-wide.
			catalog = append(catalog, apiResource{gr.group, gr.resource, gr.sub, true, verbs},
				apiResource{gr.group, gr.resource, gr.sub, false, verbs})
		}
	}
	for _, a := range catalog {
		names := []string{unique("example", named.objectNames)}
		for _, n := range named.resourceNames[a.group+"/"+a.resource] {
			names = append(names, n)
		}
		scopes := []string{""}
		if a.namespaced {
			scopes = nss
		}
		for _, ns := range scopes {
			for _, v := range a.verbs {
				if objectless(v, a.sub) {
					addReq(Request{Verb: v, APIGroup: a.group, Resource: a.resource, Subresource: a.sub, Namespace: ns}, a.namespaced)
					continue
				}
				for _, n := range names {
					addReq(Request{Verb: v, APIGroup: a.group, Resource: a.resource, Subresource: a.sub, Namespace: ns, Name: n}, a.namespaced)
				}
			}
		}
		if a.namespaced && a.sub == "" {
			// Reads across all namespaces (kubectl get -A) carry no namespace.
			for _, v := range []string{"list", "watch"} {
				if slices.Contains(a.verbs, v) {
					addReq(Request{Verb: v, APIGroup: a.group, Resource: a.resource}, true)
				}
			}
		}
	}
	paths := slices.Clone(nonResourcePaths)
	for _, u := range named.urls {
		if !slices.Contains(paths, u) {
			paths = append(paths, u)
		}
	}
	for _, path := range paths {
		addReq(Request{Verb: "get", Path: path}, false)
	}
	m.requests = len(reqs)

	for _, pr := range m.principals {
		for _, rq := range reqs {
			c := cell{p: pr, r: rq.r, namespaced: rq.namespaced}
			c.needs = m.classify(pr, rq.r, rq.namespaced)
			c.sens = sensitivityOf(rq.r)
			m.cells = append(m.cells, c)
		}
	}
	return m
}

// objectless reports verbs that address a collection rather than one
// named object (kube-apiserver then has no name in the attributes).
func objectless(verb, sub string) bool {
	if sub != "" {
		return false
	}
	return verb == "list" || verb == "watch" || verb == "create" || verb == "deletecollection"
}

// principals returns the fixed principals and those the policy names.
func principals(o Options, named names) []*Principal {
	saNS := "default"
	if len(o.CDENamespaces) > 0 {
		saNS = o.CDENamespaces[0]
	}
	ps := []*Principal{
		{Name: "alice@example.com", Groups: []string{"system:authenticated"}, Kind: Person},
		{Name: "kubernetes-admin", Groups: []string{"system:masters", "system:authenticated"}, Kind: Admin},
		serviceAccount(saNS, "default"),
		{Name: "system:kube-controller-manager", Groups: []string{"system:authenticated"}, Kind: Component},
		{Name: "system:kube-scheduler", Groups: []string{"system:authenticated"}, Kind: Component},
		{Name: "system:node:node-1", Groups: []string{"system:nodes", "system:authenticated"}, Kind: Node},
		{Name: "system:anonymous", Groups: []string{"system:unauthenticated"}, Kind: Anonymous},
		{Kind: FailedAuthentication},
	}
	has := func(name string) bool {
		return slices.ContainsFunc(ps, func(p *Principal) bool { return p.Kind != FailedAuthentication && p.Name == name })
	}
	for _, u := range named.users {
		if has(u) {
			continue
		}
		switch {
		case strings.HasPrefix(u, "system:serviceaccount:kube-system:"):
			// The service accounts of kube-system are the control plane's
			// controllers (--use-service-account-credentials).
			sa := serviceAccount("kube-system", strings.TrimPrefix(u, "system:serviceaccount:kube-system:"))
			sa.Kind = Component
			ps = append(ps, sa)
		case strings.HasPrefix(u, "system:serviceaccount:"):
			ns, name, _ := strings.Cut(strings.TrimPrefix(u, "system:serviceaccount:"), ":")
			ps = append(ps, serviceAccount(ns, name))
		case strings.HasPrefix(u, "system:node:"):
			ps = append(ps, &Principal{Name: u, Groups: []string{"system:nodes", "system:authenticated"}, Kind: Node})
		case strings.HasPrefix(u, "system:"):
			ps = append(ps, &Principal{Name: u, Groups: []string{"system:authenticated"}, Kind: Component})
		default:
			ps = append(ps, &Principal{Name: u, Groups: []string{"system:authenticated"}, Kind: Person})
		}
	}
	for _, g := range named.groups {
		if slices.ContainsFunc(ps, func(p *Principal) bool { return slices.Contains(p.Groups, g) }) {
			continue
		}
		switch {
		case g == "system:serviceaccounts":
			// Every service account has it; the one above does.
		case strings.HasPrefix(g, "system:serviceaccounts:"):
			sa := serviceAccount(strings.TrimPrefix(g, "system:serviceaccounts:"), "example")
			if !has(sa.Name) {
				ps = append(ps, sa)
			}
		case strings.HasPrefix(g, "system:"):
			ps = append(ps, &Principal{Name: unique("(member of "+g+")", named.users), Groups: []string{g, "system:authenticated"}, Kind: Component})
		default:
			ps = append(ps, &Principal{Name: unique("(member of "+g+")", named.users), Groups: []string{g, "system:authenticated"}, Kind: Person})
		}
	}
	return ps
}

func serviceAccount(ns, name string) *Principal {
	return &Principal{
		Name:   "system:serviceaccount:" + ns + ":" + name,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
		Kind:   ServiceAccount,
	}
}

// unique returns base, or base with a number appended, so that it is not
// in taken.
func unique(base string, taken []string) string {
	s := base
	for i := 2; slices.Contains(taken, s); i++ {
		s = base + "-" + strconv.Itoa(i)
	}
	return s
}

// names are what a policy's rules name.
type names struct {
	users, groups, namespaces, urls, objectNames []string
	resources                                    []groupResource
	// resourceNames maps "group/resource" to the object names rules list.
	resourceNames map[string][]string
	// truncated is set when the policy names more than the matrix takes.
	truncated bool
}

type groupResource struct{ group, resource, sub string }

// maxNamed bounds how many names of each sort (users, groups,
// namespaces, URLs, resources, object names) the matrix takes from a
// policy, so that its size stays proportional to a real policy's; the
// report says when names were left out.
const maxNamed = 24

func collectNames(p *Policy) names {
	n := names{resourceNames: map[string][]string{}}
	add := func(list *[]string, v string) {
		if slices.Contains(*list, v) {
			return
		}
		if len(*list) >= maxNamed {
			n.truncated = true
			return
		}
		*list = append(*list, v)
	}
	for _, r := range p.Spec.Rules {
		for _, u := range r.Users {
			add(&n.users, u)
		}
		for _, g := range r.UserGroups {
			add(&n.groups, g)
		}
		for _, ns := range r.Namespaces {
			if ns != "" {
				add(&n.namespaces, ns)
			}
		}
		for _, u := range r.NonResourceURLs {
			if u == "*" || u == "" {
				continue
			}
			// A sample path the URL matches: the prefix of a wildcard,
			// completed when it ends a path segment.
			path := strings.TrimSuffix(u, "*")
			if strings.HasSuffix(path, "/") {
				path += "x"
			}
			add(&n.urls, path)
		}
		for _, gr := range r.Resources {
			if gr.Group == "*" {
				continue
			}
			for _, res := range gr.Resources {
				if strings.Contains(res, "*") {
					continue
				}
				base, sub, _ := strings.Cut(res, "/")
				g := groupResource{gr.Group, base, sub}
				if !slices.Contains(n.resources, g) {
					if len(n.resources) < maxNamed {
						n.resources = append(n.resources, g)
					} else {
						n.truncated = true
					}
				}
				for _, name := range gr.ResourceNames {
					key := gr.Group + "/" + base
					if !slices.Contains(n.resourceNames[key], name) {
						if len(n.resourceNames[key]) < 4 {
							n.resourceNames[key] = append(n.resourceNames[key], name)
						} else {
							n.truncated = true
						}
					}
					add(&n.objectNames, name)
				}
			}
		}
	}
	return n
}

func (m *matrix) isCDE(r Request, namespaced bool) bool {
	if !r.IsResource() || !namespaced {
		return false
	}
	if len(m.opts.CDENamespaces) == 0 || r.Namespace == "" {
		// Undeclared: every namespace; no namespace: a read across all
		// namespaces, which includes the CDE ones.
		return true
	}
	return slices.Contains(m.opts.CDENamespaces, r.Namespace)
}

func (m *matrix) isLogNamespace(ns string) bool {
	return ns != "" && slices.Contains(m.opts.logNamespaces(), ns)
}

// classify returns the classes request r by p evidences. The rules are
// documented in docs/POSTURE.md ("The request matrix").
func (m *matrix) classify(p *Principal, r Request, namespaced bool) []Need {
	noise := !r.IsResource() && isNoisePath(r.Path)
	switch p.Kind {
	case FailedAuthentication:
		return []Need{{InvalidAccess, !noise}}
	case Anonymous:
		if noise {
			return nil // the public health and version endpoints
		}
		return []Need{{InvalidAccess, true}} // refused by RBAC: an invalid attempt
	}
	var needs []Need
	add := func(c Class, core bool) { needs = append(needs, Need{c, core}) }
	ind := p.Individual()
	label := r.Label()
	interactive := r.IsResource() && r.Resource == "pods" && slices.Contains([]string{"exec", "attach", "portforward"}, r.Subresource)

	// 10.2.1.1: reads of data in the CDE, and interactive access to its pods.
	if ind && m.isCDE(r, namespaced) {
		switch {
		case interactive, isRead(r.Verb) && slices.Contains([]string{"secrets", "configmaps", "pods", "pods/log"}, label):
			add(CHDAccess, true)
		case label == "pods/proxy" || label == "services/proxy" || isRead(r.Verb) && label == "persistentvolumeclaims":
			add(CHDAccess, false)
		case isRead(r.Verb) && !isBuiltin(r):
			add(CHDAccess, false) // a custom resource may hold data
		}
	}
	// 10.2.1.2: every change, interactive stream and proxy by an
	// individual; their other requests (and lease renewals, which carry
	// leader election, not administration) as supplementary.
	if ind {
		switch {
		case r.IsResource() && isWrite(r.Verb) && label == "coordination.k8s.io/leases":
			add(AdminAction, false)
		case r.IsResource() && (isWrite(r.Verb) || interactive || label == "nodes/proxy" || label == "pods/proxy" || label == "services/proxy"):
			add(AdminAction, true)
		case !noise:
			add(AdminAction, false)
		}
	}
	// 10.2.1.3: the apiserver's /logs, the kubelet's logs through the
	// node proxy, and the logs of the log pipeline's pods.
	if !noise {
		switch {
		case !r.IsResource() && (r.Path == "/logs" || strings.HasPrefix(r.Path, "/logs/")),
			label == "nodes/proxy",
			label == "pods/log" && m.isLogNamespace(r.Namespace):
			add(LogAccess, ind)
		case interactive && m.isLogNamespace(r.Namespace):
			add(LogAccess, false)
		}
	}
	// 10.2.1.5: changes to secrets, service accounts and their tokens,
	// RBAC and certificate requests.
	if isWrite(r.Verb) && slices.Contains([]string{"secrets", "serviceaccounts", "serviceaccounts/token",
		"rbac.authorization.k8s.io/roles", "rbac.authorization.k8s.io/rolebindings",
		"rbac.authorization.k8s.io/clusterroles", "rbac.authorization.k8s.io/clusterrolebindings",
		"certificates.k8s.io/certificatesigningrequests", "certificates.k8s.io/certificatesigningrequests/approval",
		"certificates.k8s.io/certificatesigningrequests/status"}, label) {
		add(CredentialChange, ind)
	}
	// 10.2.1.6: changes to the log pipeline's workloads and configuration.
	if isWrite(r.Verb) && m.isLogNamespace(r.Namespace) && slices.Contains([]string{"apps/daemonsets", "apps/deployments",
		"apps/statefulsets", "configmaps", "secrets", "pods"}, label) {
		add(AuditLogChange, ind)
	}
	// 10.2.1.7: creation and deletion of system-level objects.
	if r.Verb == "create" || r.Verb == "delete" || r.Verb == "deletecollection" {
		switch label {
		case "namespaces", "nodes", "persistentvolumes",
			"rbac.authorization.k8s.io/roles", "rbac.authorization.k8s.io/rolebindings",
			"rbac.authorization.k8s.io/clusterroles", "rbac.authorization.k8s.io/clusterrolebindings",
			"apiextensions.k8s.io/customresourcedefinitions",
			"admissionregistration.k8s.io/validatingwebhookconfigurations",
			"admissionregistration.k8s.io/mutatingwebhookconfigurations",
			"admissionregistration.k8s.io/validatingadmissionpolicies",
			"admissionregistration.k8s.io/validatingadmissionpolicybindings",
			"apiregistration.k8s.io/apiservices", "storage.k8s.io/storageclasses":
			add(SystemObject, true)
		case "scheduling.k8s.io/priorityclasses", "networking.k8s.io/networkpolicies":
			add(SystemObject, false)
		}
	}
	return needs
}

// isBuiltin reports whether r's group is one Kubernetes serves itself.
func isBuiltin(r Request) bool {
	_, ok := knownGroups[r.APIGroup]
	return ok
}

func sensitivityOf(r Request) sensitivity {
	switch r.Label() {
	case "secrets":
		return secretValues
	case "configmaps":
		return configValues
	case "serviceaccounts/token":
		return issuedToken
	case "authentication.k8s.io/tokenreviews":
		return reviewedToken
	}
	return notSensitive
}
