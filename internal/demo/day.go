package demo

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// Day returns a synthetic but realistic day of kube-apiserver audit events
// for one cluster, as audit.k8s.io/v1 Event JSON objects (one []byte each,
// no trailing newline), covering the 24 hours starting at day (truncated to
// UTC midnight), sorted by stageTimestamp. Deterministic for a given (day,
// seed). Roughly 20,000–40,000 events.
//
// The package documentation tells the day's story and gives the audit
// policy it was recorded under.
func Day(day time.Time, seed uint64) [][]byte {
	u := day.UTC()
	start := time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC)
	g := newDayGen(start, seed)
	g.story()
	g.background()
	return g.render()
}

type dayGen struct {
	rng
	c          *cluster
	start, end time.Time
	reqs       []*request
	rvBase     int64
}

func newDayGen(start time.Time, seed uint64) *dayGen {
	r := rng{rand.New(rand.NewPCG(seed, uint64(start.Unix())))}
	g := &dayGen{rng: r, start: start, end: start.Add(24 * time.Hour)}
	g.rvBase = 40_000_000 + r.Int64N(20_000_000)
	g.c = newCluster(r, start)
	return g
}

// at is a time of the day: at(14, 22, 7) is 14:22:07 UTC, plus up to a
// second of jitter.
func (g *dayGen) at(h, m, s int) time.Time {
	return g.start.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second).Add(g.dur(0, time.Second))
}

// rv is the cluster's resourceVersion at t: etcd's revision only grows.
func (g *dayGen) rv(t time.Time) string {
	return strconv.FormatInt(g.rvBase+t.Sub(g.start).Milliseconds()/7, 10)
}

// call records a request by a, received at t and completed after d. path
// is the URL path, query its raw query. A code below 400 is an allowed
// request; callers record denials with deny and unauthenticated requests
// with unauthenticated.
func (g *dayGen) call(a *actor, t time.Time, d time.Duration, verb, path, query string, code int) *request {
	rf := ref(path)
	uri := path
	if query != "" {
		uri += "?" + query
	}
	level, received := policy(a.user, verb, rf)
	r := &request{
		level: level, id: g.uuid(), uri: uri, verb: verb, user: a.user, ips: a.ips, ua: a.ua, ref: rf,
		received: t, done: t.Add(d), stages: stageComplete, status: &respStatus{code: code},
	}
	if received {
		r.stages |= stageReceived
	}
	if rf != nil {
		r.urlRef = *rf
	}
	r.annotate("authorization.k8s.io/decision", "allow")
	r.annotate("authorization.k8s.io/reason", a.reason)
	g.reqs = append(g.reqs, r)
	return r
}

// fail records an allowed request that failed with st (404, 409, …).
func (g *dayGen) fail(a *actor, t time.Time, d time.Duration, verb, path, query string, st func(*objRef) *respStatus) *request {
	r := g.call(a, t, d, verb, path, query, 0)
	r.status = st(r.ref)
	if r.level == levelRequestResponse {
		r.respObj = r.status.object()
	}
	return r
}

// deny records a request the authorizer refused.
func (g *dayGen) deny(a *actor, t time.Time, verb, path, query string) *request {
	r := g.call(a, t, g.ms(1, 4), verb, path, query, 0)
	r.status = forbidden(a.user.name, verb, r.ref, path)
	r.annots = nil
	r.annotate("authorization.k8s.io/decision", "forbid")
	r.annotate("authorization.k8s.io/reason", "")
	if r.level == levelRequestResponse {
		r.respObj = r.status.object()
	}
	return r
}

// unauthenticated records a request whose credentials were rejected: the
// audit event comes from the failed-authentication handler, has no user
// and only the ResponseStarted stage.
func (g *dayGen) unauthenticated(t time.Time, ip, ua, verb, path, query string) *request {
	rf := ref(path)
	uri := path
	if query != "" {
		uri += "?" + query
	}
	level, _ := policy(&userInfo{}, verb, rf)
	st := unauthorized
	r := &request{
		level: level, id: g.uuid(), uri: uri, verb: verb, user: &userInfo{}, ips: []string{ip}, ua: ua, ref: rf,
		received: t, started: t.Add(g.ms(0.1, 0.6)), stages: stageStarted, status: &st,
	}
	g.reqs = append(g.reqs, r)
	return r
}

// watch records one watch by a of the collection at path, with the given
// selectors (already encoded, e.g. "fieldSelector=spec.nodeName%3Dx"),
// starting at t and timing out after seconds.
func (g *dayGen) watch(a *actor, t time.Time, path, selectors string, seconds int) *request {
	q := "allowWatchBookmarks=true&"
	if selectors != "" {
		q += selectors + "&"
	}
	timeout := time.Duration(seconds) * time.Second
	q += "resourceVersion=" + g.rv(t.Add(-g.dur(time.Second, time.Minute))) + "&timeout=" + timeout.String() +
		"&timeoutSeconds=" + strconv.Itoa(seconds) + "&watch=true"
	r := g.call(a, t, 0, "watch", path, q, 200)
	r.longRunning(g.ms(0.5, 4), t.Add(timeout).Add(g.ms(0.1, 2)))
	return r
}

// watchLoop keeps a client-go reflector's watch open from from to to:
// each watch times out after 5 to 10 minutes and is reopened at once.
func (g *dayGen) watchLoop(a *actor, path, selectors string, from, to time.Time) {
	t := from
	if !from.After(g.start) {
		t = g.start.Add(-g.dur(0, 10*time.Minute))
	}
	for t.Before(to) {
		r := g.watch(a, t, path, selectors, 300+g.IntN(300))
		t = r.done.Add(g.ms(0.5, 20))
	}
}

// every calls f about every period (± jitter) from from to to, starting at
// a random phase.
func (g *dayGen) every(from, to time.Time, period, jitter time.Duration, f func(time.Time)) {
	for t := from.Add(g.dur(0, period)); t.Before(to); t = t.Add(period + g.dur(-jitter, jitter)) {
		f(t)
	}
}

// render turns the recorded requests into the day's events.
func (g *dayGen) render() [][]byte {
	type ev struct {
		t time.Time
		r *request
		s stage
	}
	evs := make([]ev, 0, len(g.reqs)*5/4)
	for _, r := range g.reqs {
		for _, s := range [...]stage{stageReceived, stageStarted, stageComplete} {
			if r.stages&s == 0 {
				continue
			}
			t := r.stageTime(s)
			if t.Before(g.start) || !t.Before(g.end) {
				continue
			}
			evs = append(evs, ev{t, r, s})
		}
	}
	slices.SortStableFunc(evs, func(a, b ev) int { return a.t.Compare(b.t) })
	out := make([][]byte, len(evs))
	buf := make([]byte, 0, 1<<20)
	for i, e := range evs {
		if cap(buf)-len(buf) < 16<<10 {
			buf = make([]byte, 0, 1<<20)
		}
		n := len(buf)
		buf = e.r.appendEvent(buf, e.s)
		out[i] = buf[n:len(buf):len(buf)]
	}
	return out
}

// background is the steady traffic of a cluster at rest: heartbeats,
// reflector watches, add-ons polling, the payments applications reading
// their secrets and the kubelets renewing projected tokens.
func (g *dayGen) background() {
	c := g.c
	for _, n := range c.nodes {
		from := g.start
		if !n.joined.IsZero() {
			from = n.joined
		}
		g.kubelet(n, from)
		proxy := c.addon(g.rng, "kube-system", "kube-proxy", "system:node-proxier", "system:node-proxier",
			"kube-proxy-"+g.suffix(5), "kube-proxy/"+kubeVersion+" (linux/amd64) kubernetes/"+kubeCommit, n.ip, n)
		sel := "labelSelector=%21service.kubernetes.io%2Fheadless%2C%21service.kubernetes.io%2Fservice-proxy-name"
		start := from
		if !n.joined.IsZero() {
			start = n.joined.Add(g.dur(50*time.Second, 70*time.Second))
		}
		g.watchLoop(proxy, "/apis/discovery.k8s.io/v1/endpointslices", sel, start, g.end)
		g.watchLoop(proxy, "/api/v1/services", sel, start, g.end)
	}

	// Control plane: leader election (renewals thinned to one a minute) and
	// shared informers.
	kcmLeaseUID, schedLeaseUID := g.uuid(), g.uuid()
	leases := []struct {
		a    *actor
		name string
		uid  string
	}{{c.kcm, "kube-controller-manager", kcmLeaseUID}, {c.sched.from(ipSched, uaSched+"/leader-election"), "kube-scheduler", schedLeaseUID}}
	for _, l := range leases {
		conflicted := false
		g.every(g.start, g.end, time.Minute, 2*time.Second, func(t time.Time) {
			path := "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/" + l.name
			if !conflicted && t.Hour() == 4 && g.chance(0.2) {
				conflicted = true
				r := g.fail(l.a, t, g.ms(2, 6), "update", path, "timeout=5s", conflict)
				r.ref.uid, r.ref.resourceVersion = l.uid, g.rv(t.Add(-2*time.Minute))
				return
			}
			r := g.call(l.a, t, g.ms(2, 9), "update", path, "timeout=5s", 200)
			r.ref.uid, r.ref.resourceVersion = l.uid, g.rv(t.Add(-time.Minute))
		})
	}
	informers := c.kcm.from(ipKCM, uaKCM+"/shared-informers")
	for _, p := range []string{"/api/v1/pods", "/api/v1/nodes", "/apis/apps/v1/deployments", "/apis/apps/v1/replicasets", "/apis/discovery.k8s.io/v1/endpointslices"} {
		g.watchLoop(informers, p, "", g.start, g.end)
	}
	g.watchLoop(c.sched, "/api/v1/pods", "fieldSelector=status.phase%21%3DSucceeded%2Cstatus.phase%21%3DFailed", g.start, g.end)
	g.watchLoop(c.sched, "/api/v1/nodes", "", g.start, g.end)

	// CoreDNS, two replicas.
	for i := range 2 {
		n := c.nodes[i]
		dns := c.addon(g.rng, "kube-system", "coredns", "system:coredns", "system:coredns",
			"coredns-6f9c8b7d5-"+g.suffix(5), "coredns/v0.0.0 (linux/amd64) kubernetes/$Format",
			fmt.Sprintf("10.244.%d.%d", n.idx, 2+i), n)
		for _, p := range []string{"/apis/discovery.k8s.io/v1/endpointslices", "/api/v1/services", "/api/v1/namespaces"} {
			g.watchLoop(dns, p, "", g.start, g.end)
		}
	}

	// Prometheus service discovery.
	prom := c.addon(g.rng, "monitoring", "prometheus-k8s", "prometheus-k8s", "prometheus-k8s",
		"prometheus-k8s-0", "Prometheus/2.54.1", "10.244.2.31", c.nodes[2])
	for _, p := range []string{"/api/v1/pods", "/apis/discovery.k8s.io/v1/endpointslices", "/api/v1/services", "/api/v1/nodes"} {
		g.watchLoop(prom, p, "", g.start, g.end)
	}

	// ingress-nginx: informers and its leader lease (renewals thinned to
	// one every two minutes; the body is recorded at level Request).
	nginxPod := "ingress-nginx-controller-5d8f9c7b6-" + g.suffix(5)
	nginx := c.addon(g.rng, "ingress-nginx", "ingress-nginx", "ingress-nginx", "ingress-nginx",
		nginxPod, "nginx-ingress-controller/v1.11.3 (linux/amd64) ingress-nginx/b9b2a8f7e1c2d0a6f4c3e5d7b8a9c0d1e2f3a4b5",
		"10.244.1.17", c.nodes[1])
	for _, p := range []string{"/apis/networking.k8s.io/v1/ingresses", "/apis/networking.k8s.io/v1/ingressclasses",
		"/apis/discovery.k8s.io/v1/endpointslices", "/api/v1/services", "/api/v1/secrets"} {
		g.watchLoop(nginx, p, "", g.start, g.end)
	}
	nginxLease := nginx.withReason(`RBAC: allowed by RoleBinding "ingress-nginx/ingress-nginx" of Role "ingress-nginx" to ServiceAccount "ingress-nginx/ingress-nginx"`)
	leaseUID, acquired := g.uuid(), g.start.Add(-g.dur(30*time.Hour, 200*time.Hour))
	g.every(g.start, g.end, 2*time.Minute, 3*time.Second, func(t time.Time) {
		path := "/apis/coordination.k8s.io/v1/namespaces/ingress-nginx/leases/ingress-nginx-leader"
		r := g.call(nginxLease, t, g.ms(2, 8), "update", path, "", 200)
		prev := g.rv(t.Add(-2 * time.Minute))
		r.ref.uid, r.ref.resourceVersion = leaseUID, prev
		r.withBody(lease("ingress-nginx", "ingress-nginx-leader", leaseUID, prev, nginxPod, 30, acquired, t, 14, nil, acquired.Add(-40*24*time.Hour)), nil)
	})

	// Container Insights polls the inventory; the HPA controller checks
	// storefront/web (both thinned to every two minutes).
	ama := c.addon(g.rng, "kube-system", "ama-logs", "amalogsclusterrolebinding", "amalogsclusterrole",
		"ama-logs-rs-7b9d6c8f4-"+g.suffix(5), "ama-logs/v0.0.0 (linux/amd64) kubernetes/$Format", "10.244.0.21", c.nodes[0])
	g.every(g.start, g.end, 2*time.Minute, 5*time.Second, func(t time.Time) {
		g.call(ama, t, g.ms(15, 90), "list", "/api/v1/pods", "limit=500", 200)
		g.call(ama, t.Add(g.ms(100, 400)), g.ms(4, 20), "list", "/api/v1/nodes", "limit=500", 200)
	})
	hpa := c.controller(g.rng, "horizontal-pod-autoscaler")
	g.every(g.start, g.end, 2*time.Minute, time.Second, func(t time.Time) {
		g.call(hpa, t, g.ms(1, 4), "get", "/apis/apps/v1/namespaces/storefront/deployments/web/scale", "", 200)
		g.call(hpa, t.Add(g.ms(5, 12)), g.ms(3, 15), "list", "/apis/metrics.k8s.io/v1beta1/namespaces/storefront/pods",
			"labelSelector=app.kubernetes.io%2Fname%3Dweb", 200)
	})

	// The payments applications read their secrets; every pod's kubelet
	// renews its projected token.
	for _, w := range c.workloads {
		for _, p := range w.pods {
			g.podBackground(p)
		}
	}
}

// kubelet is one node's kubelet from from: lease renewals (every 40 s here,
// every 10 s on a real node), node status, reflector watches.
func (g *dayGen) kubelet(n *node, from time.Time) {
	a := n.actor()
	leaseUID := g.uuid()
	leasePath := "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/" + n.name
	g.every(from, g.end, 40*time.Second, time.Second, func(t time.Time) {
		r := g.call(a, t, g.ms(2, 12), "update", leasePath, "timeout=10s", 200)
		r.ref.uid, r.ref.resourceVersion = leaseUID, g.rv(t.Add(-40*time.Second))
	})
	g.every(from, g.end, 5*time.Minute, 2*time.Second, func(t time.Time) {
		g.call(a, t, g.ms(0.5, 2), "get", "/api/v1/nodes/"+n.name, "resourceVersion=0&timeout=10s", 200)
		g.call(a, t.Add(g.ms(3, 8)), g.ms(4, 15), "patch", "/api/v1/nodes/"+n.name+"/status", "timeout=10s", 200)
	})
	g.watchLoop(a, "/api/v1/pods", "fieldSelector=spec.nodeName%3D"+n.name, from, g.end)
	g.watchLoop(a, "/api/v1/nodes", "fieldSelector=metadata.name%3D"+n.name, from, g.end)
	g.watchLoop(a, "/api/v1/services", "", from, g.end)
}

// podBackground is what a pod does while it runs: its kubelet renews its
// token and, in payments, the application reads its secrets.
func (g *dayGen) podBackground(p *pod) {
	w := p.w
	kl := p.node.actor()
	for _, e := range p.tokens {
		if !p.runningAt(e.at) {
			continue
		}
		g.call(kl, e.at, g.ms(2, 9), "create", "/api/v1/namespaces/"+w.ns+"/serviceaccounts/"+w.sa+"/token", "", 201)
	}
	if w.ns != "payments" {
		return
	}
	read := func(secret string, period time.Duration) {
		from := p.start.Add(g.dur(2*time.Second, 5*time.Second))
		if from.Before(g.start) {
			from = g.start
		}
		end := g.end
		if !p.end.IsZero() {
			end = p.end
		}
		g.every(from, end, period, period/20, func(t time.Time) {
			g.call(g.c.podActor(p, t), t, g.ms(1, 5), "get", "/api/v1/namespaces/payments/secrets/"+secret, "", 200)
		})
	}
	if w.name == "card-processor" {
		read("card-encryption-key", 5*time.Minute)
		read("db-credentials", 15*time.Minute)
	} else {
		read("card-encryption-key", 10*time.Minute)
	}
}
