package demo

import (
	"fmt"
	"strings"
	"time"
)

// The demo cluster: AKS cluster aks-pci-prod, Kubernetes v1.31.2, one node
// pool, the card-data environment in namespace payments.
const (
	kubeVersion = "v1.31.2"
	kubeCommit  = "5864a46"
	nodePrefix  = "aks-nodepool1-27386523-vmss00000"
	vmssID      = "azure:///subscriptions/6b1f3c2e-9d84-4a0f-8c5e-2f7a9d3b1c40/resourceGroups/mc_rg-pci-prod_aks-pci-prod_westeurope/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-27386523-vmss/virtualMachines/"
	registry    = "acrpciprod.azurecr.io"

	uaKubectl = "kubectl/" + kubeVersion + " (linux/amd64) kubernetes/" + kubeCommit
	uaKubelet = "kubelet/" + kubeVersion + " (linux/amd64) kubernetes/" + kubeCommit
	uaKCM     = "kube-controller-manager/" + kubeVersion + " (linux/amd64) kubernetes/" + kubeCommit
	uaSched   = "kube-scheduler/" + kubeVersion + " (linux/amd64) kubernetes/" + kubeCommit

	// Control-plane components run in the AKS-managed control plane and
	// reach the API server from there.
	ipKCM   = "172.31.22.14"
	ipSched = "172.31.22.15"

	// Public addresses (documentation ranges, RFC 5737).
	ipCorpEgress = "198.51.100.23"  // office egress
	ipVPN        = "198.51.100.77"  // VPN egress, used out of hours
	ipContractor = "198.51.100.201" // the contractor's office
	ipAttacker   = "203.0.113.47"   // never seen before the night of the incident

	groupPlatformAdmins = "3f2c9a1e-7b4d-4e8a-9c61-0d5e8f2a7b13"
	groupOncall         = "a8d41c7e-2f6b-4b9d-8e35-71c0f9a2d6e4"
	groupContractors    = "5e9b7d20-c3a1-4f86-b2d7-9a0e4c6f8131"
	groupCI             = "c1d2e3f4-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
)

// actor is whoever sends a request: identity, client and address, and the
// reason the authorizer gives when it allows the request.
type actor struct {
	user   *userInfo
	ua     string
	ips    []string
	reason string
}

type node struct {
	idx       int
	name, uid string
	ip        string
	joined    time.Time // zero for nodes that were there before the day
}

func (n *node) actor() *actor {
	return &actor{
		user: &userInfo{name: "system:node:" + n.name, groups: []string{"system:nodes", "system:authenticated"}},
		ua:   uaKubelet,
		ips:  []string{n.ip},
	}
}

// tokenEpoch is one projected service account token of a pod: the kubelet
// requests it at at, and the pod presents it (by its JTI) until the next.
type tokenEpoch struct {
	at  time.Time
	jti string
}

type pod struct {
	w          *workload
	name, uid  string
	ip         string
	node       *node
	start, end time.Time // end is zero while the pod runs
	tokens     []tokenEpoch
	hash       string
}

func (p *pod) runningAt(t time.Time) bool {
	return !t.Before(p.start) && (p.end.IsZero() || t.Before(p.end))
}

func (p *pod) jtiAt(t time.Time) string {
	j := ""
	for _, e := range p.tokens {
		if e.at.After(t) {
			break
		}
		j = e.jti
	}
	if j == "" && len(p.tokens) > 0 {
		j = p.tokens[0].jti
	}
	return j
}

type workload struct {
	ns, name   string
	sa, saUID  string
	uid        string
	image      string // repository, without tag
	tag        string
	sha        string
	replicas   int
	hash       string // current pod-template-hash
	rsUID      string
	rsCreated  time.Time
	revision   int
	generation int
	created    time.Time
	port       int
	cde        bool
	sliceName  string // the EndpointSlice of its Service
	sliceUID   string
	epUID      string // its Endpoints
	svcUID     string
	pods       []*pod
	appAgent   string // user agent of the application's own API client
	roleReason string // authorization reason of the application's secret reads
}

func (w *workload) running(t time.Time) []*pod {
	var out []*pod
	for _, p := range w.pods {
		if p.runningAt(t) {
			out = append(out, p)
		}
	}
	return out
}

func (w *workload) saName() string { return "system:serviceaccount:" + w.ns + ":" + w.sa }

// cluster is the state every generator draws from.
type cluster struct {
	nodes      []*node
	workloads  []*workload
	nsUID      map[string]string
	saUID      map[string]string
	ctrlJTI    map[string]string
	podIPNext  []int
	alice      *actor
	bob        *actor
	mallory    *actor
	ci         *actor
	anonymous  *userInfo
	kcm, sched *actor
}

func newCluster(r rng, start time.Time) *cluster {
	c := &cluster{nsUID: map[string]string{}, saUID: map[string]string{}, ctrlJTI: map[string]string{}}
	for i := range 4 {
		c.nodes = append(c.nodes, &node{idx: i, name: fmt.Sprintf("%s%d", nodePrefix, i), uid: r.uuid(), ip: fmt.Sprintf("10.224.0.%d", 4+i)})
		c.podIPNext = append(c.podIPNext, 10+r.IntN(40))
	}
	for _, ns := range []string{"default", "kube-system", "kube-node-lease", "payments", "storefront", "monitoring", "ingress-nginx", "loadtest", "gatekeeper-system"} {
		c.nsUID[ns] = r.uuid()
	}
	aad := func(name, group, oid string) *userInfo {
		return &userInfo{name: name, groups: []string{group, "system:authenticated"}, extra: []pair{{"oid", oid}}}
	}
	c.alice = &actor{
		user:   aad("alice@corp.example", groupPlatformAdmins, "0c7e4b9a-1d2f-4e63-8a5b-6f9d0e1c2b3a"),
		ua:     uaKubectl,
		ips:    []string{ipCorpEgress},
		reason: `RBAC: allowed by ClusterRoleBinding "platform-admins" of ClusterRole "cluster-admin" to Group "` + groupPlatformAdmins + `"`,
	}
	c.bob = &actor{
		user:   aad("bob@corp.example", groupOncall, "7a2d9e4f-3b1c-4d8e-9f60-5c2b8a1e7d94"),
		ua:     "kubectl/v1.29.10 (darwin/arm64) kubernetes/0fa26ae",
		ips:    []string{ipVPN},
		reason: `RBAC: allowed by RoleBinding "oncall-payments/payments" of ClusterRole "admin" to Group "` + groupOncall + `"`,
	}
	c.mallory = &actor{
		user:   aad("mallory@contractor.example", groupContractors, "e4f1a7c2-8d3b-4a95-b06e-2d9c7f1a5b38"),
		ua:     "kubectl/v1.28.4 (windows/amd64) kubernetes/bae2c62",
		ips:    []string{ipContractor},
		reason: `RBAC: allowed by RoleBinding "contractors-view/storefront" of ClusterRole "view" to Group "` + groupContractors + `"`,
	}
	c.ci = &actor{
		user:   aad("ci-deployer@corp.example", groupCI, "9b8c7d6e-5f4a-4b3c-8d2e-1f0a9b8c7d6e"),
		ua:     uaKubectl,
		ips:    []string{"192.0.2.41"},
		reason: `RBAC: allowed by ClusterRoleBinding "ci-deployer" of ClusterRole "cluster-admin" to User "ci-deployer@corp.example"`,
	}
	c.anonymous = &userInfo{name: "system:anonymous", groups: []string{"system:unauthenticated"}}
	c.kcm = &actor{
		user:   &userInfo{name: "system:kube-controller-manager", groups: []string{"system:authenticated"}},
		ua:     uaKCM + "/leader-election",
		ips:    []string{ipKCM},
		reason: `RBAC: allowed by ClusterRoleBinding "system:kube-controller-manager" of ClusterRole "system:kube-controller-manager" to User "system:kube-controller-manager"`,
	}
	c.sched = &actor{
		user:   &userInfo{name: "system:kube-scheduler", groups: []string{"system:authenticated"}},
		ua:     uaSched + "/scheduler",
		ips:    []string{ipSched},
		reason: `RBAC: allowed by ClusterRoleBinding "system:kube-scheduler" of ClusterRole "system:kube-scheduler" to User "system:kube-scheduler"`,
	}

	long := start.AddDate(0, -4, -r.IntN(20)).Add(r.dur(0, 24*time.Hour))
	add := func(ns, name, sa, image, tag string, replicas, port int, cde bool) *workload {
		w := &workload{
			ns: ns, name: name, sa: sa, saUID: c.sa(r, ns, sa), uid: r.uuid(), image: registry + "/" + image, tag: tag,
			sha: r.hex(40), replicas: replicas, hash: r.suffix(10), rsUID: r.uuid(), revision: 10 + r.IntN(30),
			created: long, port: port, cde: cde, sliceName: name + "-" + r.suffix(5), sliceUID: r.uuid(), epUID: r.uuid(), svcUID: r.uuid(),
			appAgent: name + "/v0.0.0 (linux/amd64) kubernetes/$Format",
		}
		w.generation = w.revision + r.IntN(4)
		w.rsCreated = start.AddDate(0, 0, -1-r.IntN(20)).Add(r.dur(0, 24*time.Hour)).Truncate(time.Second)
		c.workloads = append(c.workloads, w)
		return w
	}
	cp := add("payments", "card-processor", "card-processor", "payments/card-processor", "3.14.2", 2, 8443, true)
	cp.roleReason = `RBAC: allowed by RoleBinding "card-processor-secrets/payments" of Role "card-processor-secrets" to ServiceAccount "card-processor/payments"`
	tk := add("payments", "tokenizer", "tokenizer", "payments/tokenizer", "1.9.0", 2, 8443, true)
	tk.roleReason = `RBAC: allowed by RoleBinding "tokenizer-keys/payments" of Role "tokenizer-keys" to ServiceAccount "tokenizer/payments"`
	add("storefront", "web", "web", "storefront/web", "2.41.0", 3, 8080, false)
	add("storefront", "cart", "cart", "storefront/cart", "1.22.3", 2, 8080, false)

	// Pods running when the day starts, spread over the three original nodes.
	for _, w := range c.workloads {
		for i := range w.replicas {
			c.newPod(r, w, c.nodes[(i+len(w.name))%3], w.created.Add(r.dur(time.Hour, 30*24*time.Hour)), start)
		}
	}
	return c
}

// sa returns the UID of a service account, creating it on first use.
func (c *cluster) sa(r rng, ns, name string) string {
	k := ns + "/" + name
	if u, ok := c.saUID[k]; ok {
		return u
	}
	u := r.uuid()
	c.saUID[k] = u
	return u
}

func (c *cluster) workload(ns, name string) *workload {
	for _, w := range c.workloads {
		if w.ns == ns && w.name == name {
			return w
		}
	}
	panic("demo: no workload " + ns + "/" + name)
}

// newPod adds a pod of w on n started at t. Its projected token is renewed
// about every 48 minutes (80% of the 3607 s the kubelet asks for) up to
// horizon.
func (c *cluster) newPod(r rng, w *workload, n *node, t, horizon time.Time) *pod {
	ip := c.podIPNext[n.idx]
	c.podIPNext[n.idx]++
	p := &pod{
		w: w, name: w.name + "-" + w.hash + "-" + r.suffix(5), uid: r.uuid(),
		ip: fmt.Sprintf("10.244.%d.%d", n.idx, ip), node: n, start: t, hash: w.hash,
	}
	// The first token is requested as the pod starts; for pods older than
	// the day the renewals settle into a phase of their own.
	at := t.Add(r.ms(300, 900))
	for ; at.Before(horizon.Add(24 * time.Hour)); at = at.Add(r.dur(47*time.Minute, 49*time.Minute)) {
		p.tokens = append(p.tokens, tokenEpoch{at: at, jti: r.uuid()})
	}
	w.pods = append(w.pods, p)
	return p
}

// podActor is the service account of p, presenting its token at t.
func (c *cluster) podActor(p *pod, t time.Time) *actor {
	w := p.w
	return &actor{
		user: &userInfo{
			name: w.saName(), uid: w.saUID,
			groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + w.ns, "system:authenticated"},
			extra: []pair{
				{"authentication.kubernetes.io/credential-id", "JTI=" + p.jtiAt(t)},
				{"authentication.kubernetes.io/node-name", p.node.name},
				{"authentication.kubernetes.io/node-uid", p.node.uid},
				{"authentication.kubernetes.io/pod-name", p.name},
				{"authentication.kubernetes.io/pod-uid", p.uid},
			},
		},
		ua:     w.appAgent,
		ips:    []string{p.ip},
		reason: w.roleReason,
	}
}

// controller is a kube-controller-manager controller, which uses its own
// service account's credentials.
func (c *cluster) controller(r rng, name string) *actor {
	jti, ok := c.ctrlJTI[name]
	if !ok {
		jti = r.uuid()
		c.ctrlJTI[name] = jti
	}
	sa := "system:serviceaccount:kube-system:" + name
	return &actor{
		user: &userInfo{
			name: sa, uid: c.sa(r, "kube-system", name),
			groups: []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"},
			extra:  []pair{{"authentication.kubernetes.io/credential-id", "JTI=" + jti}},
		},
		ua:     uaKCM + "/" + sa,
		ips:    []string{ipKCM},
		reason: `RBAC: allowed by ClusterRoleBinding "system:controller:` + name + `" of ClusterRole "system:controller:` + name + `" to ServiceAccount "` + name + `/kube-system"`,
	}
}

// addon is a cluster add-on running as a pod with a service account bound
// by a ClusterRoleBinding.
func (c *cluster) addon(r rng, ns, sa, binding, role, podName, ua, ip string, n *node) *actor {
	nsGroup := "system:serviceaccounts:" + ns
	key := ns + "/" + podName
	jti, ok := c.ctrlJTI[key]
	if !ok {
		jti = r.uuid()
		c.ctrlJTI[key] = jti
	}
	podUID, ok := c.ctrlJTI[key+"#uid"]
	if !ok {
		podUID = r.uuid()
		c.ctrlJTI[key+"#uid"] = podUID
	}
	return &actor{
		user: &userInfo{
			name: "system:serviceaccount:" + ns + ":" + sa, uid: c.sa(r, ns, sa),
			groups: []string{"system:serviceaccounts", nsGroup, "system:authenticated"},
			extra: []pair{
				{"authentication.kubernetes.io/credential-id", "JTI=" + jti},
				{"authentication.kubernetes.io/node-name", n.name},
				{"authentication.kubernetes.io/node-uid", n.uid},
				{"authentication.kubernetes.io/pod-name", podName},
				{"authentication.kubernetes.io/pod-uid", podUID},
			},
		},
		ua:     ua,
		ips:    []string{ip},
		reason: `RBAC: allowed by ClusterRoleBinding "` + binding + `" of ClusterRole "` + role + `" to ServiceAccount "` + sa + `/` + ns + `"`,
	}
}

// withReason returns a copy of a with another authorization reason.
func (a *actor) withReason(reason string) *actor {
	b := *a
	b.reason = reason
	return &b
}

// from returns a copy of a sending from ip with user agent ua ("" keeps it).
func (a *actor) from(ip, ua string) *actor {
	b := *a
	b.ips = []string{ip}
	if ua != "" {
		b.ua = ua
	}
	return &b
}

const reasonDiscovery = `RBAC: allowed by ClusterRoleBinding "system:discovery" of ClusterRole "system:discovery" to Group "system:authenticated"`

// forbidden builds the 403 kube-apiserver's authorization filter returns.
func forbidden(user, verb string, ref *objRef, path string) *respStatus {
	if ref == nil {
		return &respStatus{
			status: "Failure", reason: "Forbidden", code: 403, details: &statusDetails{},
			message: fmt.Sprintf("forbidden: User %q cannot %s path %q", user, verb, path),
		}
	}
	res := ref.resource
	if ref.subresource != "" {
		res += "/" + ref.subresource
	}
	scope := fmt.Sprintf("in the namespace %q", ref.namespace)
	if ref.namespace == "" {
		scope = "at the cluster scope"
	}
	why := fmt.Sprintf("User %q cannot %s resource %q in API group %q %s", user, verb, res, ref.apiGroup, scope)
	msg := fmt.Sprintf("%s is forbidden: %s", ref.qualified(), why)
	if ref.name != "" {
		msg = fmt.Sprintf("%s %q is forbidden: %s", ref.qualified(), ref.name, why)
	}
	return &respStatus{
		status: "Failure", message: msg, reason: "Forbidden", code: 403,
		details: &statusDetails{name: ref.name, group: ref.apiGroup, kind: ref.resource},
	}
}

func notFound(ref *objRef) *respStatus {
	return &respStatus{
		status: "Failure", message: fmt.Sprintf("%s %q not found", ref.qualified(), ref.name), reason: "NotFound", code: 404,
		details: &statusDetails{name: ref.name, group: ref.apiGroup, kind: ref.resource},
	}
}

func conflict(ref *objRef) *respStatus {
	return &respStatus{
		status: "Failure", reason: "Conflict", code: 409,
		message: fmt.Sprintf("Operation cannot be fulfilled on %s %q: the object has been modified; please apply your changes to the latest version and try again", ref.qualified(), ref.name),
		details: &statusDetails{name: ref.name, group: ref.apiGroup, kind: ref.resource},
	}
}

var unauthorized = respStatus{status: "Failure", message: "Unauthorized", reason: "Unauthorized", code: 401}

// ref builds an objectRef from an API path such as
// "/apis/apps/v1/namespaces/storefront/deployments/web/status".
func ref(path string) *objRef {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	o := &objRef{}
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		o.apiVersion = parts[1]
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		o.apiGroup, o.apiVersion = parts[1], parts[2]
		parts = parts[3:]
	default:
		return nil
	}
	if len(parts) > 2 && parts[0] == "namespaces" && parts[2] != "status" && parts[2] != "finalize" {
		o.namespace = parts[1]
		parts = parts[2:]
	}
	if len(parts) > 0 {
		o.resource = parts[0]
	}
	if len(parts) > 1 {
		o.name = parts[1]
		if o.resource == "namespaces" {
			o.namespace = parts[1]
		}
	}
	if len(parts) > 2 {
		o.subresource = parts[2]
	}
	return o
}
