package demo

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"time"
)

// Generator produces realistic audit events for load generation: each
// Next() is a distinct event (unique auditID), 1.5–2 KB of JSON at level
// RequestResponse or Request, with the mix of verbs, users and resources a
// busy cluster has. Not safe for concurrent use; make one per goroutine.
//
// The events come from the same cluster as Day, recorded under a verbose
// policy (bodies for every request, the writes of system components
// included). Generators with different seeds produce different auditIDs;
// two generators with the same seed produce the same events.
type Generator struct {
	src   *rand.PCG
	r     rng
	c     *cluster
	ref   time.Time // the cluster's reference time
	total int
}

// Sizes of generated events, in bytes.
const (
	genMin = 1536
	genMax = 2000
)

// NewGenerator returns a generator seeded with seed.
func NewGenerator(seed uint64) *Generator {
	src := rand.NewPCG(seed, 0x9e3779b97f4a7c15)
	g := &Generator{src: src, r: rng{rand.New(src)}}
	g.ref = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g.c = newCluster(g.r, g.ref)
	for _, s := range scenarios {
		g.total += s.weight
	}
	return g
}

// Next returns the next event, with the current time as its stage
// timestamp.
func (g *Generator) Next() []byte { return g.NextAt(time.Now()) }

// NextAt is Next with a given stage timestamp.
func (g *Generator) NextAt(t time.Time) []byte {
	t = t.UTC().Truncate(time.Microsecond)
	target := genMin + 24 + g.r.IntN(genMax-110-genMin-24)
	var b []byte
	for attempt := 0; ; attempt++ {
		s := g.pick()
		save := *g.src
		b = g.build(s, t, 0, b)
		if len(b) >= genMin && len(b) <= genMax || attempt == 100 {
			return b
		}
		if len(b) > genMax || !s.pads {
			continue // try another kind of request
		}
		// Grow the event with metadata until it reaches the target size.
		for k := 1; k <= maxFillers; k++ {
			*g.src = save
			b = g.build(s, t, k, b)
			if len(b) >= target {
				break
			}
		}
		if len(b) >= genMin && len(b) <= genMax {
			return b
		}
	}
}

func (g *Generator) build(s scenario, t time.Time, k int, b []byte) []byte {
	r := s.build(g, t, k)
	return r.appendEvent(b[:0:0], stageComplete)
}

func (g *Generator) pick() scenario {
	n := g.r.IntN(g.total)
	for _, s := range scenarios {
		if n < s.weight {
			return s
		}
		n -= s.weight
	}
	return scenarios[0]
}

// scenario is one kind of request. build must draw the same random numbers
// for every k: k only adds metadata (pads) to reach a size.
type scenario struct {
	name   string
	weight int
	pads   bool
	build  func(g *Generator, t time.Time, k int) *request
}

// req records a request completed at t after lat.
func (g *Generator) req(a *actor, t time.Time, lat time.Duration, level, verb, path, query string, code int) *request {
	rf := ref(path)
	uri := path
	if query != "" {
		uri += "?" + query
	}
	r := &request{
		level: level, id: g.r.uuid(), uri: uri, verb: verb, user: a.user, ips: a.ips, ua: a.ua, ref: rf,
		received: t.Add(-lat), done: t, stages: stageComplete, status: &respStatus{code: code},
	}
	if rf != nil {
		r.urlRef = *rf
	}
	r.annotate("authorization.k8s.io/decision", "allow")
	r.annotate("authorization.k8s.io/reason", a.reason)
	return r
}

func (g *Generator) node() *node { return g.c.nodes[g.r.IntN(len(g.c.nodes))] }

// workload returns a workload with its times moved relative to t.
func (g *Generator) workload(t time.Time) *workload {
	w := g.c.workloads[g.r.IntN(len(g.c.workloads))]
	return g.shift(w, t)
}

func (g *Generator) shift(w *workload, t time.Time) *workload {
	v := *w
	v.created = t.Add(w.created.Sub(g.ref)).Truncate(time.Second)
	v.rsCreated = t.Add(w.rsCreated.Sub(g.ref)).Truncate(time.Second)
	return &v
}

func (g *Generator) pod(w *workload) *pod {
	orig := w.pods[g.r.IntN(len(w.pods))]
	p := *orig
	p.w = w
	p.start = p.start.Add(w.created.Sub(orig.w.created)).Truncate(time.Second)
	return &p
}

func (g *Generator) rv(t time.Time) string {
	return strconv.FormatInt(48_000_000+(t.Unix()%10_000_000)*9+int64(g.r.IntN(9)), 10)
}

const maxFillers = 18

// fillers are annotations real clusters carry on their objects (Helm, CI,
// Prometheus, reloaders); the generator adds the first k of them to reach a
// size. Values derive from the object, not from the random source.
func fillers(k int, name, ns string) OM {
	m := OM{}
	h := func(key string, n int) string {
		sum := sha256.Sum256([]byte(ns + "/" + name + "/" + key))
		return hex.EncodeToString(sum[:])[:n]
	}
	all := []pair{
		{"meta.helm.sh/release-name", name},
		{"meta.helm.sh/release-namespace", ns},
		{"checksum/config", h("config", 64)},
		{"prometheus.io/scrape", "true"},
		{"prometheus.io/port", "9102"},
		{"ci.corp.example/commit", h("commit", 40)},
		{"ci.corp.example/pipeline", "https://github.com/corp-example/" + ns + "/actions/runs/" + h("run", 10)},
		{"ci.corp.example/deployed-by", "ci-deployer@corp.example"},
		{"pci.corp.example/owner", "team-" + ns + "@corp.example"},
		{"checksum/secret", h("secret", 64)},
		{"reloader.stakater.com/auto", "true"},
		{"prometheus.io/path", "/metrics"},
		{"ci.corp.example/ticket", "CHG-" + h("ticket", 6)},
		{"cluster-autoscaler.kubernetes.io/safe-to-evict", "true"},
		{"checksum/tls", h("tls", 64)},
		{"argocd.argoproj.io/sync-wave", "2"},
		{"pci.corp.example/data-classification", "internal"},
		{"kubectl.kubernetes.io/default-container", name},
	}
	for i := 0; i < k && i < len(all); i++ {
		m[all[i].k] = all[i].v
	}
	return m
}

// stableUUID derives a UUID from s, for objects whose identity must not
// change from one event to the next.
func stableUUID(s string) string {
	f := fnv.New128a()
	f.Write([]byte(s))
	u := f.Sum(nil)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	b := make([]byte, 0, 36)
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return string(b)
}

func merge(a M, b OM) OM {
	m := OM{}
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}

var scenarios = []scenario{
	{"kubelet-lease", 14, false, genNodeLease},
	{"leader-lease", 6, false, genLeaderLease},
	{"pod-status", 10, false, genPodStatus},
	{"node-status", 6, true, genNodeStatus},
	{"event", 10, false, genEvent},
	{"secret-get", 6, true, genSecretGet},
	{"configmap", 6, true, genConfigMap},
	{"endpoints", 8, true, genEndpoints},
	{"subjectaccessreview", 6, false, genSAR},
	{"deployment-patch", 3, true, genDeploymentPatch},
	{"rolebinding", 1, true, genRoleBinding},
	{"serviceaccount", 2, true, genServiceAccount},
	{"forbidden", 1, false, genForbidden},
	{"namespace", 2, true, genNamespace},
	{"service", 3, true, genService},
	{"configmap-list", 3, true, genConfigMapList},
}

func genNodeLease(g *Generator, t time.Time, _ int) *request {
	n := g.node()
	uid := stableUUID("lease/" + n.name)
	prev := g.rv(t.Add(-10 * time.Second))
	r := g.req(n.actor(), t, g.r.ms(2, 12), levelRequest, "update",
		"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/"+n.name, "timeout=10s", 200)
	r.ref.uid, r.ref.resourceVersion = uid, prev
	created := t.Add(-g.r.dur(20*24*time.Hour, 90*24*time.Hour)).Truncate(time.Second)
	body := lease("kube-node-lease", n.name, uid, prev, n.name, 40, time.Time{}, r.received, 0, n, created)
	body.set("metadata", body.get("metadata").(O).set("managedFields", leaseFields("kubelet", r.received.Add(-10*time.Second), n, false)))
	return r.withBody(body, nil)
}

// leaseFields is the managedFields entry of a lease's holder: a client
// updating a lease sends back the object it read, managed fields included
// (the generator's policy does not omit them).
func leaseFields(manager string, t time.Time, owner *node, leader bool) A {
	spec := O{"f:holderIdentity", O{}, "f:leaseDurationSeconds", O{}, "f:renewTime", O{}}
	if leader {
		spec = O{"f:acquireTime", O{}, "f:holderIdentity", O{}, "f:leaseDurationSeconds", O{}, "f:leaseTransitions", O{}, "f:renewTime", O{}}
	}
	f := O{"f:spec", spec}
	if owner != nil {
		f = O{"f:metadata", O{"f:ownerReferences", O{".", O{}, `k:{"uid":"` + owner.uid + `"}`, O{}}}, "f:spec", spec}
	}
	return A{O{"manager", manager, "operation", "Update", "apiVersion", "coordination.k8s.io/v1", "time", t.Truncate(time.Second),
		"fieldsType", "FieldsV1", "fieldsV1", f}}
}

func genLeaderLease(g *Generator, t time.Time, _ int) *request {
	type ll struct {
		a              *actor
		ns, name, host string
		seconds        int
	}
	c := g.c
	pick := []ll{
		{c.kcm, "kube-system", "kube-controller-manager", "kube-controller-manager-7d9c6b8f4-" + g.r.suffix(5), 15},
		{c.sched.from(ipSched, uaSched+"/leader-election"), "kube-system", "kube-scheduler", "kube-scheduler-6c9f7d8b5-" + g.r.suffix(5), 15},
	}[g.r.IntN(2)]
	holder := pick.host + "_" + g.r.uuid()
	uid := stableUUID("lease/" + pick.ns + "/" + pick.name)
	prev := g.rv(t.Add(-2 * time.Second))
	q := "timeout=5s"
	r := g.req(pick.a, t, g.r.ms(2, 9), levelRequest, "update", "/apis/coordination.k8s.io/v1/namespaces/"+pick.ns+"/leases/"+pick.name, q, 200)
	r.ref.uid, r.ref.resourceVersion = uid, prev
	acquired := t.Add(-g.r.dur(time.Hour, 300*time.Hour))
	created := acquired.Add(-g.r.dur(24*time.Hour, 90*24*time.Hour)).Truncate(time.Second)
	tr := 3 + g.r.IntN(40)
	body := lease(pick.ns, pick.name, uid, prev, holder, pick.seconds, acquired, r.received, tr, nil, created)
	body.set("metadata", body.get("metadata").(O).set("managedFields", leaseFields(pick.name, r.received.Add(-2*time.Second), nil, true)))
	return r.withBody(body, nil)
}

func genPodStatus(g *Generator, t time.Time, _ int) *request {
	w := g.workload(t)
	p := g.pod(w)
	r := g.req(p.node.actor(), t, g.r.ms(3, 12), levelRequest, "patch", "/api/v1/namespaces/"+w.ns+"/pods/"+p.name+"/status", "", 200)
	started := t.Add(-g.r.dur(5*time.Second, 30*time.Second))
	return r.withBody(podStatusPatch(p, g.r.hex(64), g.r.hex(64), started, t.Truncate(time.Second), g.r.IntN(2) == 0), nil)
}

func genNodeStatus(g *Generator, t time.Time, k int) *request {
	n := g.node()
	r := g.req(n.actor(), t, g.r.ms(4, 15), levelRequest, "patch", "/api/v1/nodes/"+n.name+"/status", "timeout=10s", 200)
	hb := t.Add(-g.r.ms(5, 40)).Truncate(time.Second)
	conds := A{}
	for _, c := range []string{"MemoryPressure", "DiskPressure", "PIDPressure", "Ready"} {
		conds = append(conds, O{"lastHeartbeatTime", hb, "type", c})
	}
	status := O{
		"$setElementOrder/conditions", A{O{"type", "MemoryPressure"}, O{"type", "DiskPressure"}, O{"type", "PIDPressure"}, O{"type", "Ready"}},
		"conditions", conds,
	}
	if k > 0 {
		var images A
		for i := 0; i < k && i < len(g.c.workloads)*2; i++ {
			w := g.c.workloads[i%len(g.c.workloads)]
			tag := w.tag
			if i >= len(g.c.workloads) {
				tag = "prev"
			}
			sum := sha256.Sum256([]byte(w.image + ":" + tag))
			images = append(images, O{"names", A{w.image + "@sha256:" + hex.EncodeToString(sum[:]), w.image + ":" + tag},
				"sizeBytes", 30_000_000 + int(binary.BigEndian.Uint32(sum[:4])%40_000_000)})
		}
		status = append(status, "images", images)
	}
	return r.withBody(O{"status", status}, nil)
}

func genEvent(g *Generator, t time.Time, _ int) *request {
	w := g.workload(t)
	p := g.pod(w)
	at := t.Add(-g.r.ms(2, 8)).Truncate(time.Second)
	var reason, msg, typ string
	switch g.r.IntN(4) {
	case 0:
		reason, typ = "Unhealthy", "Warning"
		msg = fmt.Sprintf("Readiness probe failed: Get %q: context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
			fmt.Sprintf("%s://%s:%d/healthz", map[bool]string{true: "https", false: "http"}[w.port == 8443], p.ip, w.port))
	case 1:
		reason, typ = "Pulled", "Normal"
		msg = fmt.Sprintf("Successfully pulled image %q in 1.873s (1.873s including waiting). Image size: %d bytes.", w.image+":"+w.tag, 40_000_000+g.r.IntN(30_000_000))
	case 2:
		reason, typ = "BackOff", "Warning"
		msg = fmt.Sprintf("Back-off restarting failed container %s in pod %s_%s(%s)", w.name, p.name, w.ns, p.uid)
	default:
		reason, typ = "Killing", "Normal"
		msg = fmt.Sprintf("Container %s failed liveness probe, will be restarted", w.name)
	}
	body := coreEvent(w.ns, "Pod", p.name, p.uid, "v1", g.rv(at), "spec.containers{"+w.name+"}", reason, msg, "kubelet", p.node.name, typ, at)
	r := g.req(p.node.actor(), t, g.r.ms(2, 8), levelRequest, "create", "/api/v1/namespaces/"+w.ns+"/events", "", 201)
	r.ref.name = body.name()
	return r.withBody(body, nil)
}

func genSecretGet(g *Generator, t time.Time, k int) *request {
	c := g.c
	w := g.shift(c.workloads[g.r.IntN(2)], t) // the payments applications
	p := g.pod(w)
	secret := "card-encryption-key"
	if w.name == "card-processor" && g.r.IntN(3) == 0 {
		secret = "db-credentials"
	}
	a := c.podActor(p, t)
	r := g.req(a, t, g.r.ms(1, 5), levelRequestResponse, "get", "/api/v1/namespaces/payments/secrets/"+secret, "", 200)
	data := M{}
	for _, key := range cdeSecretKeys[secret] {
		data[key] = secretData(g.r, key)
	}
	created := w.created.Add(g.r.dur(time.Hour, 48*time.Hour))
	return r.withBody(nil, O{"kind", "Secret", "apiVersion", "v1",
		"metadata", O{"name", secret, "namespace", "payments", "uid", g.r.uuid(), "resourceVersion", g.rv(created), "creationTimestamp", created,
			"labels", M{"app.kubernetes.io/part-of": "payments", "pci.corp.example/scope": "cde"},
			"annotations", merge(M{"pci.corp.example/rotation": "90d"}, fillers(k, secret, "payments"))},
		"data", data, "type", "Opaque"})
}

func genConfigMap(g *Generator, t time.Time, k int) *request {
	c := g.c
	if g.r.IntN(2) == 0 {
		a := c.addon(g.r, "ingress-nginx", "ingress-nginx", "ingress-nginx", "ingress-nginx", "ingress-nginx-controller-5d8f9c7b6-k2x4p",
			"nginx-ingress-controller/v1.11.3 (linux/amd64) ingress-nginx/b9b2a8f7e1c2d0a6f4c3e5d7b8a9c0d1e2f3a4b5", "10.244.1.17", c.nodes[1])
		r := g.req(a, t, g.r.ms(1, 4), levelRequestResponse, "get", "/api/v1/namespaces/ingress-nginx/configmaps/ingress-nginx-controller", "", 200)
		created := t.Add(-g.r.dur(30*24*time.Hour, 200*24*time.Hour)).Truncate(time.Second)
		return r.withBody(nil, O{"kind", "ConfigMap", "apiVersion", "v1",
			"metadata", O{"name", "ingress-nginx-controller", "namespace", "ingress-nginx", "uid", g.r.uuid(), "resourceVersion", g.rv(created),
				"creationTimestamp", created,
				"labels", M{"app.kubernetes.io/component": "controller", "app.kubernetes.io/name": "ingress-nginx"},
				"annotations", fillers(k, "ingress-nginx-controller", "ingress-nginx")},
			"data", M{"allow-snippet-annotations": "false", "hsts": "true", "use-forwarded-headers": "true"}})
	}
	// The cluster autoscaler writes its status every 10 seconds.
	a := c.controller(g.r, "cluster-autoscaler").withReason(`RBAC: allowed by ClusterRoleBinding "cluster-autoscaler" of ClusterRole "cluster-autoscaler" to ServiceAccount "cluster-autoscaler/kube-system"`)
	a.ua = "cluster-autoscaler/v1.31.0 (linux/amd64) kubernetes/$Format"
	prev := g.rv(t.Add(-10 * time.Second))
	uid := stableUUID("configmap/kube-system/cluster-autoscaler-status")
	r := g.req(a, t, g.r.ms(2, 8), levelRequest, "update", "/api/v1/namespaces/kube-system/configmaps/cluster-autoscaler-status", "", 200)
	r.ref.uid, r.ref.resourceVersion = uid, prev
	probe := t.Add(-g.r.ms(50, 900)).Format("2006-01-02 15:04:05.999999999 -0700 MST")
	ready := 3 + g.r.IntN(2)
	status := fmt.Sprintf("time: %s\nautoscalerStatus: Running\nclusterWide:\n  health:\n    status: Healthy\n    nodeCounts:\n      registered:\n        total: %d\n        ready: %d\n        notStarted: 0\n    lastProbeTime: %q\n  scaleUp:\n    status: NoActivity\n  scaleDown:\n    status: NoCandidates\n", probe, ready, ready, probe)
	created := t.Add(-g.r.dur(30*24*time.Hour, 200*24*time.Hour)).Truncate(time.Second)
	return r.withBody(O{"kind", "ConfigMap", "apiVersion", "v1",
		"metadata", O{"name", "cluster-autoscaler-status", "namespace", "kube-system", "uid", uid, "resourceVersion", prev,
			"creationTimestamp", created, "annotations", merge(M{"cluster-autoscaler.kubernetes.io/last-updated": probe}, fillers(k/3, "cluster-autoscaler", "kube-system"))},
		"data", M{"status": status}}, nil)
}

func genSAR(g *Generator, t time.Time, _ int) *request {
	c := g.c
	w := g.workload(t)
	p := g.pod(w)
	caller := c.addon(g.r, "monitoring", "prometheus-k8s", "prometheus-k8s", "prometheus-k8s", "prometheus-k8s-0",
		"kube-rbac-proxy/v0.0.0 (linux/amd64) kubernetes/$Format", "10.244.2.31", c.nodes[2]).
		withReason(`RBAC: allowed by ClusterRoleBinding "kube-rbac-proxy" of ClusterRole "kube-rbac-proxy" to ServiceAccount "prometheus-k8s/monitoring"`)
	sa := c.podActor(p, t).user
	spec := O{"nonResourceAttributes", O{"path", "/metrics", "verb", "get"}, "user", sa.name, "groups", sa.groups, "uid", sa.uid}
	r := g.req(caller, t, g.r.ms(1, 4), levelRequest, "create", "/apis/authorization.k8s.io/v1/subjectaccessreviews", "", 201)
	return r.withBody(
		O{"kind", "SubjectAccessReview", "apiVersion", "authorization.k8s.io/v1", "metadata", O{"creationTimestamp", nil},
			"spec", spec, "status", O{"allowed", false}},
		O{"kind", "SubjectAccessReview", "apiVersion", "authorization.k8s.io/v1", "metadata", O{"creationTimestamp", nil},
			"spec", spec, "status", O{"allowed", true,
				"reason", `RBAC: allowed by ClusterRoleBinding "metrics-reader" of ClusterRole "system:monitoring" to Group "system:serviceaccounts"`}})
}

// genDeploymentPatch is a pipeline stamping a deployment with its release
// metadata and image (kubectl patch).
func genDeploymentPatch(g *Generator, t time.Time, k int) *request {
	w := g.workload(t)
	a := g.c.ci.from(fmt.Sprintf("192.0.2.%d", 10+g.r.IntN(50)), "")
	r := g.req(a, t, g.r.ms(8, 25), levelRequest, "patch", "/apis/apps/v1/namespaces/"+w.ns+"/deployments/"+w.name,
		"fieldManager=kubectl-patch", 200)
	sha := g.r.hex(40)
	tag := fmt.Sprintf("%s.%d", w.tag[:len(w.tag)-2], g.r.IntN(20))
	return r.withBody(O{
		"metadata", O{"annotations", merge(M{"ci.corp.example/release": tag}, fillers(k, w.name, w.ns))},
		"spec", O{"template", O{
			"metadata", O{"annotations", M{"ci.corp.example/commit": sha}},
			"spec", O{"containers", A{O{"name", w.name, "image", w.image + ":" + tag}}},
		}},
	}, nil)
}

// genEndpoints is the endpoints controller publishing a service's pods.
func genEndpoints(g *Generator, t time.Time, k int) *request {
	w := g.workload(t)
	var addrs A
	for i := 0; i < 1+k/2 && i < 10; i++ {
		p := w.pods[i%len(w.pods)]
		name, ip := p.name, p.ip
		if i >= len(w.pods) {
			name = w.name + "-" + w.hash + "-" + g.r.suffix(5)
			ip = "10.244." + strconv.Itoa(i%4) + "." + strconv.Itoa(60+i)
		}
		addrs = append(addrs, O{"ip", ip, "nodeName", g.c.nodes[i%4].name,
			"targetRef", O{"kind", "Pod", "namespace", w.ns, "name", name, "uid", stableUUID(name)}})
	}
	portName := "http"
	if w.port == 8443 {
		portName = "https"
	}
	prev := g.rv(t.Add(-g.r.dur(10*time.Second, 5*time.Minute)))
	r := g.req(g.c.controller(g.r, "endpoint-controller"), t, g.r.ms(3, 10), levelRequest, "update",
		"/api/v1/namespaces/"+w.ns+"/endpoints/"+w.name, "", 200)
	r.ref.uid, r.ref.resourceVersion = w.epUID, prev
	return r.withBody(O{"kind", "Endpoints", "apiVersion", "v1",
		"metadata", O{"name", w.name, "namespace", w.ns, "uid", w.epUID, "resourceVersion", prev, "creationTimestamp", w.created,
			"labels", w.selector(), "annotations", M{"endpoints.kubernetes.io/last-change-trigger-time": t.Add(-g.r.ms(5, 50)).Truncate(time.Second).Format(time.RFC3339)}},
		"subsets", A{O{"addresses", addrs, "ports", A{O{"name", portName, "port", w.port, "protocol", "TCP"}}}}}, nil)
}

func genRoleBinding(g *Generator, t time.Time, k int) *request {
	w := g.workload(t)
	a := g.c.ci.from(fmt.Sprintf("192.0.2.%d", 10+g.r.IntN(50)), "")
	name := w.name + "-config-reader"
	subjects := A{O{"kind", "ServiceAccount", "name", w.sa, "namespace", w.ns}}
	roleRef := O{"apiGroup", "rbac.authorization.k8s.io", "kind", "Role", "name", "config-reader"}
	ann := fillers(k, name, w.ns)
	r := g.req(a, t, g.r.ms(5, 14), levelRequest, "create", "/apis/rbac.authorization.k8s.io/v1/namespaces/"+w.ns+"/rolebindings",
		"fieldManager=kubectl-client-side-apply&fieldValidation=Strict", 201)
	r.ref.name = name
	return r.withBody(
		O{"kind", "RoleBinding", "apiVersion", "rbac.authorization.k8s.io/v1",
			"metadata", O{"name", name, "namespace", w.ns, "creationTimestamp", nil, "labels", w.selector(), "annotations", ann},
			"subjects", subjects, "roleRef", roleRef},
		O{"kind", "RoleBinding", "apiVersion", "rbac.authorization.k8s.io/v1",
			"metadata", O{"name", name, "namespace", w.ns, "uid", g.r.uuid(), "resourceVersion", g.rv(t), "creationTimestamp", t.Truncate(time.Second),
				"labels", w.selector(), "annotations", ann},
			"subjects", subjects, "roleRef", roleRef})
}

func genServiceAccount(g *Generator, t time.Time, k int) *request {
	w := g.workload(t)
	a := g.c.alice
	r := g.req(a, t, g.r.ms(1, 4), levelRequestResponse, "get", "/api/v1/namespaces/"+w.ns+"/serviceaccounts/"+w.sa, "", 200)
	return r.withBody(nil, O{"kind", "ServiceAccount", "apiVersion", "v1",
		"metadata", O{"name", w.sa, "namespace", w.ns, "uid", w.saUID, "resourceVersion", g.rv(w.created), "creationTimestamp", w.created,
			"labels", w.labels(),
			"annotations", merge(M{"azure.workload.identity/client-id": w.svcUID, "azure.workload.identity/tenant-id": "2b6c1f0e-5a3d-4c8e-9f17-6d0b4a2e8c31"},
				fillers(k, w.sa, w.ns))}})
}

func genForbidden(g *Generator, t time.Time, _ int) *request {
	c := g.c
	w := g.shift(c.workloads[g.r.IntN(2)], t) // payments
	p := g.pod(w)
	m := c.mallory
	var verb, path, query string
	switch g.r.IntN(3) {
	case 0:
		verb, path, query = "create", "/api/v1/namespaces/payments/pods/"+p.name+"/exec", "command=sh&container="+w.name+"&stdin=true&stdout=true&tty=true"
	case 1:
		verb, path = "get", "/api/v1/namespaces/payments/secrets/card-encryption-key"
	default:
		verb, path, query = "list", "/api/v1/namespaces/payments/secrets", "limit=500"
	}
	r := g.req(m, t, g.r.ms(1, 4), levelRequestResponse, verb, path, query, 0)
	r.status = forbidden(m.user.name, verb, r.ref, path)
	r.annots = nil
	r.annotate("authorization.k8s.io/decision", "forbid")
	r.annotate("authorization.k8s.io/reason", "")
	r.respObj = r.status.object()
	return r
}

func genNamespace(g *Generator, t time.Time, k int) *request {
	w := g.workload(t)
	a := g.c.alice
	r := g.req(a, t, g.r.ms(1, 4), levelRequestResponse, "get", "/api/v1/namespaces/"+w.ns, "", 200)
	labels := M{"kubernetes.io/metadata.name": w.ns}
	if w.cde {
		labels["pod-security.kubernetes.io/enforce"] = "restricted"
		labels["pod-security.kubernetes.io/enforce-version"] = "latest"
		labels["pci.corp.example/scope"] = "cde"
	}
	return r.withBody(nil, O{"kind", "Namespace", "apiVersion", "v1",
		"metadata", O{"name", w.ns, "uid", g.c.nsUID[w.ns], "resourceVersion", g.rv(w.created), "creationTimestamp", w.created.Add(-time.Hour),
			"labels", labels, "annotations", fillers(k+2, w.ns, w.ns)},
		"spec", O{"finalizers", A{"kubernetes"}}, "status", O{"phase", "Active"}})
}

func genService(g *Generator, t time.Time, k int) *request {
	w := g.workload(t)
	a := g.c.ci.from(fmt.Sprintf("192.0.2.%d", 10+g.r.IntN(50)), "")
	r := g.req(a, t, g.r.ms(1, 4), levelRequestResponse, "get", "/api/v1/namespaces/"+w.ns+"/services/"+w.name, "", 200)
	portName := "http"
	if w.port == 8443 {
		portName = "https"
	}
	ip := "10.0." + strconv.Itoa(100+len(w.name)) + "." + strconv.Itoa(10+len(w.ns))
	return r.withBody(nil, O{"kind", "Service", "apiVersion", "v1",
		"metadata", O{"name", w.name, "namespace", w.ns, "uid", w.svcUID, "resourceVersion", g.rv(w.created), "creationTimestamp", w.created,
			"labels", w.labels(), "annotations", fillers(k, w.name, w.ns)},
		"spec", O{"ports", A{O{"name", portName, "protocol", "TCP", "port", 443, "targetPort", w.port}},
			"selector", w.selector(), "clusterIP", ip, "clusterIPs", A{ip}, "type", "ClusterIP", "sessionAffinity", "None",
			"ipFamilies", A{"IPv4"}, "ipFamilyPolicy", "SingleStack", "internalTrafficPolicy", "Cluster"},
		"status", O{"loadBalancer", O{}}})
}

// genConfigMapList is someone listing an application's configuration by
// label (kubectl get configmaps -l).
func genConfigMapList(g *Generator, t time.Time, k int) *request {
	w := g.workload(t)
	a := []*actor{g.c.alice, g.c.bob, g.c.ci.from("192.0.2.33", "")}[g.r.IntN(3)]
	r := g.req(a, t, g.r.ms(2, 8), levelRequestResponse, "list", "/api/v1/namespaces/"+w.ns+"/configmaps",
		"labelSelector=app.kubernetes.io%2Fname%3D"+w.name+"&limit=500", 200)
	name := w.name + "-config-" + w.hash[:5] + "mk"
	created := t.Add(-g.r.dur(time.Hour, 30*24*time.Hour)).Truncate(time.Second)
	return r.withBody(nil, O{"kind", "ConfigMapList", "apiVersion", "v1", "metadata", O{"resourceVersion", g.rv(t)},
		"items", A{O{"metadata", O{"name", name, "namespace", w.ns, "uid", stableUUID(w.ns + "/" + name), "resourceVersion", g.rv(created),
			"creationTimestamp", created, "labels", w.labels(), "annotations", fillers(k, name, w.ns)},
			"data", M{"LOG_LEVEL": "info", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.monitoring:4317", "UPSTREAM_TIMEOUT": "5s"}}}})
}
