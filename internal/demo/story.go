package demo

import (
	"fmt"
	"strings"
	"time"
)

// story records the day's people, deployments and incidents. It runs before
// background, which needs the pods the rollouts create.
func (g *dayGen) story() {
	c := g.c
	g.nightChain(g.at(2, 9, 14))
	g.authScan(g.at(3, 40, 2))
	g.oncall(g.at(7, 41, 30))
	g.rollout(c.workload("storefront", "web"), g.at(9, 5, 12), "2.42.0")
	g.adminRoutine(g.at(9, 31, 5))
	g.rollout(c.workload("payments", "card-processor"), g.at(10, 42, 40), "3.15.0")
	g.roleChange(g.at(11, 20, 3))
	g.contractor(g.at(12, 47, 21))
	g.rollout(c.workload("storefront", "cart"), g.at(13, 30, 55), "1.23.0")
	g.adminExec(g.at(14, 5, 44))
	g.scaleOut(g.at(14, 15, 30))
	g.adminRoutine(g.at(14, 40, 10))
	g.rollout(c.workload("payments", "tokenizer"), g.at(15, 10, 2), "1.9.1")
	g.breakglassCSR(g.at(15, 48, 36))
	g.deleteNamespace(g.at(16, 5, 18))
	g.rollout(c.workload("storefront", "web"), g.at(16, 55, 40), "2.42.1")
	g.scaleIn(g.at(19, 40, 12))
	g.probeFlaps()
}

// discovery is kubectl refreshing its discovery cache.
func (g *dayGen) discovery(a *actor, t time.Time) time.Time {
	d := a.withReason(reasonDiscovery)
	r := g.call(d, t, g.ms(1, 4), "get", "/api", "timeout=32s", 200)
	r = g.call(d, r.done.Add(g.ms(1, 5)), g.ms(2, 9), "get", "/apis", "timeout=32s", 200)
	return r.done.Add(g.ms(5, 40))
}

// after returns the time a person takes to type the next command.
func (g *dayGen) after(r *request, lo, hi time.Duration) time.Time { return r.done.Add(g.dur(lo, hi)) }

// nightChain: at 02:09 the CI service principal's credentials are used from
// an address never seen before. It checks its rights, creates a service
// account, binds it to cluster-admin (02:13), mints a year-long token for
// it, and with that token reads the CDE secrets and deletes the policy
// admission webhook.
func (g *dayGen) nightChain(t time.Time) {
	c := g.c
	ci := c.ci.from(ipAttacker, "")
	t = g.discovery(ci, t)
	r := g.call(ci, t, g.ms(3, 9), "create", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", "", 201)
	r.withBody(O{"kind", "SelfSubjectRulesReview", "apiVersion", "authorization.k8s.io/v1",
		"metadata", O{"creationTimestamp", nil}, "spec", O{"namespace", "default"},
		"status", O{"resourceRules", nil, "nonResourceRules", nil, "incomplete", false}}, nil)

	g.call(ci, g.at(2, 10, 20), g.ms(8, 30), "list", "/api/v1/namespaces/kube-system/serviceaccounts", "limit=500", 200).
		withBody(nil, O{"kind", "ServiceAccountList", "apiVersion", "v1", "metadata", O{"resourceVersion", g.rv(g.at(2, 10, 20))}, "items", A{}})

	saUID := c.sa(g.rng, "kube-system", "cluster-ops")
	t = g.at(2, 11, 2)
	created := t.Add(4 * time.Millisecond)
	saReq := O{"kind", "ServiceAccount", "apiVersion", "v1",
		"metadata", O{"name", "cluster-ops", "namespace", "kube-system", "creationTimestamp", nil}}
	saResp := O{"kind", "ServiceAccount", "apiVersion", "v1",
		"metadata", O{"name", "cluster-ops", "namespace", "kube-system", "uid", saUID, "resourceVersion", g.rv(created), "creationTimestamp", created}}
	r = g.call(ci, t, g.ms(5, 14), "create", "/api/v1/namespaces/kube-system/serviceaccounts",
		"fieldManager=kubectl-create&fieldValidation=Strict", 201)
	r.ref.name = "cluster-ops"
	r.withBody(saReq, saResp)

	t = g.start.Add(2*time.Hour + 13*time.Minute + 27*time.Second).Add(g.dur(0, time.Second))
	crbUID := g.uuid()
	subjects := A{O{"kind", "ServiceAccount", "name", "cluster-ops", "namespace", "kube-system"}}
	roleRef := O{"apiGroup", "rbac.authorization.k8s.io", "kind", "ClusterRole", "name", "cluster-admin"}
	r = g.call(ci, t, g.ms(6, 16), "create", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
		"fieldManager=kubectl-create&fieldValidation=Strict", 201)
	r.ref.name = "cluster-ops-admin"
	r.withBody(
		O{"kind", "ClusterRoleBinding", "apiVersion", "rbac.authorization.k8s.io/v1",
			"metadata", O{"name", "cluster-ops-admin", "creationTimestamp", nil}, "subjects", subjects, "roleRef", roleRef},
		O{"kind", "ClusterRoleBinding", "apiVersion", "rbac.authorization.k8s.io/v1",
			"metadata", O{"name", "cluster-ops-admin", "uid", crbUID, "resourceVersion", g.rv(t), "creationTimestamp", t.Add(5 * time.Millisecond)},
			"subjects", subjects, "roleRef", roleRef})

	t = g.at(2, 14, 5)
	g.call(ci, t, g.ms(4, 11), "create", "/api/v1/namespaces/kube-system/serviceaccounts/cluster-ops/token", "", 201)

	sa := &actor{
		user: &userInfo{
			name: "system:serviceaccount:kube-system:cluster-ops", uid: saUID,
			groups: []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"},
			extra:  []pair{{"authentication.kubernetes.io/credential-id", "JTI=" + g.uuid()}},
		},
		ua: uaKubectl, ips: []string{ipAttacker},
		reason: `RBAC: allowed by ClusterRoleBinding "cluster-ops-admin" of ClusterRole "cluster-admin" to ServiceAccount "cluster-ops/kube-system"`,
	}
	r = g.call(sa, g.at(2, 16, 30), g.ms(20, 60), "list", "/api/v1/secrets", "limit=500", 200)
	r = g.call(sa, g.after(r, 20*time.Second, 50*time.Second), g.ms(2, 6), "list", "/api/v1/namespaces/payments/pods", "limit=500", 200)
	r = g.call(sa, g.after(r, 15*time.Second, 30*time.Second), g.ms(1, 4), "get", "/api/v1/namespaces/payments/secrets/card-encryption-key", "", 200)
	g.call(sa, g.after(r, 15*time.Second, 40*time.Second), g.ms(1, 4), "get", "/api/v1/namespaces/payments/secrets/db-credentials", "", 200)

	r = g.call(sa, g.at(2, 29, 10), g.ms(3, 9), "list", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations", "limit=500", 200)
	t = g.at(2, 29, 51)
	const hook = "gatekeeper-validating-webhook-configuration"
	r = g.call(sa, t, g.ms(5, 15), "delete", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/"+hook, "", 200)
	hookUID := g.uuid()
	r.withBody(deleteOptions("admissionregistration.k8s.io/v1", "propagationPolicy", "Background"),
		statusSuccess(hook, "admissionregistration.k8s.io", "validatingwebhookconfigurations", hookUID))
	r.status.status = "Success"
	r.status.details = &statusDetails{name: hook, group: "admissionregistration.k8s.io", kind: "validatingwebhookconfigurations", uid: hookUID}
}

// authScan: at 03:40 someone on the internet probes the API server, first
// without credentials (anonymous: allowed /version, forbidden elsewhere),
// then with a handful of stolen or expired bearer tokens (401s).
func (g *dayGen) authScan(t time.Time) {
	anon := &actor{user: g.c.anonymous, ua: "curl/8.5.0", ips: []string{"203.0.113.61"},
		reason: `RBAC: allowed by ClusterRoleBinding "system:public-info-viewer" of ClusterRole "system:public-info-viewer" to Group "system:unauthenticated"`}
	r := g.call(anon, t, g.ms(0.5, 2), "get", "/version", "", 200)
	for _, p := range []struct{ verb, path string }{
		{"get", "/api"},
		{"list", "/api/v1/namespaces/payments/secrets"},
		{"list", "/api/v1/namespaces/kube-system/secrets"},
		{"list", "/api/v1/pods"},
		{"list", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"},
		{"get", "/api/v1/namespaces/payments/secrets/card-encryption-key"},
	} {
		r = g.deny(anon, g.after(r, 300*time.Millisecond, 4*time.Second), p.verb, p.path, "")
	}

	targets := []struct{ verb, path string }{
		{"list", "/api/v1/namespaces/payments/secrets"},
		{"get", "/api/v1/namespaces/payments/secrets/card-encryption-key"},
		{"get", "/api/v1/namespaces/payments/secrets/db-credentials"},
		{"list", "/api/v1/namespaces/payments/pods"},
		{"list", "/api/v1/namespaces/kube-system/secrets"},
		{"list", "/api/v1/secrets"},
		{"list", "/api/v1/nodes"},
		{"list", "/api/v1/namespaces"},
		{"create", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"},
	}
	clients := []struct{ ip, ua string }{
		{"203.0.113.61", "curl/8.5.0"},
		{"203.0.113.88", "OpenAPI-Generator/29.0.0/python"},
		{"203.0.113.142", "Go-http-client/1.1"},
	}
	t = r.done.Add(g.dur(20*time.Second, 40*time.Second))
	for i := range 64 {
		cl := clients[(i/8)%len(clients)]
		tg := targets[g.IntN(len(targets))]
		q := ""
		if tg.verb == "list" && cl.ua == "Go-http-client/1.1" {
			q = "limit=500"
		}
		g.unauthenticated(t, cl.ip, cl.ua, tg.verb, tg.path, q)
		t = t.Add(g.ms(150, 9000))
	}
}

// oncall: at 07:41 the on-call engineer, paged about card-processor
// latency, connects over the VPN, looks at the pods and logs, opens a
// shell in a card-processor pod and reads the database credentials.
func (g *dayGen) oncall(t time.Time) {
	c := g.c
	bob := c.bob
	t = g.discovery(bob, t)
	r := g.call(bob, t, g.ms(4, 12), "list", "/api/v1/namespaces/payments/pods", "limit=500", 200)
	p := c.workload("payments", "card-processor").running(t)[0]
	podPath := "/api/v1/namespaces/payments/pods/" + p.name
	r = g.call(bob, g.after(r, 10*time.Second, 40*time.Second), g.ms(2, 5), "get", podPath, "", 200)
	r = g.call(bob, r.done.Add(g.ms(3, 8)), g.ms(80, 400), "get", podPath+"/log", "container=card-processor&tailLines=200", 200)
	r = g.call(bob, g.after(r, 30*time.Second, 90*time.Second), g.ms(2, 5), "get", podPath, "", 200)
	exec := g.call(bob, r.done.Add(g.ms(3, 8)), 0, "create", podPath+"/exec",
		"command=%2Fbin%2Fsh&container=card-processor&stdin=true&stdout=true&tty=true", 101)
	exec.longRunning(g.ms(30, 90), exec.received.Add(g.dur(5*time.Minute, 8*time.Minute)))
	r = g.call(bob, exec.done.Add(g.dur(40*time.Second, 2*time.Minute)), g.ms(1, 4), "get",
		"/api/v1/namespaces/payments/secrets/db-credentials", "", 200)
	g.call(bob, g.after(r, 2*time.Minute, 4*time.Minute), g.ms(4, 12), "list", "/api/v1/namespaces/payments/pods", "limit=500", 200)
}

// adminRoutine is the platform admin looking around: nodes, their usage,
// all pods, one node in detail.
func (g *dayGen) adminRoutine(t time.Time) {
	c := g.c
	a := c.alice
	t = g.discovery(a, t)
	r := g.call(a, t, g.ms(4, 12), "list", "/api/v1/nodes", "limit=500", 200)
	r = g.call(a, g.after(r, 5*time.Second, 20*time.Second), g.ms(5, 20), "list", "/apis/metrics.k8s.io/v1beta1/nodes", "", 200)
	r = g.call(a, g.after(r, 10*time.Second, 40*time.Second), g.ms(20, 80), "list", "/api/v1/pods", "limit=500", 200)
	n := c.nodes[g.IntN(3)]
	r = g.call(a, g.after(r, 20*time.Second, time.Minute), g.ms(2, 6), "get", "/api/v1/nodes/"+n.name, "", 200)
	r = g.call(a, r.done.Add(g.ms(2, 6)), g.ms(5, 20), "list", "/api/v1/pods",
		"fieldSelector=spec.nodeName%3D"+n.name+"%2Cstatus.phase%21%3DFailed%2Cstatus.phase%21%3DSucceeded&limit=500", 200)
	r = g.call(a, r.done.Add(g.ms(2, 6)), g.ms(1, 4), "get", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/"+n.name, "", 200)
	g.call(a, r.done.Add(g.ms(2, 6)), g.ms(3, 12), "list", "/api/v1/events",
		"fieldSelector=involvedObject.kind%3DNode%2CinvolvedObject.name%3D"+n.name+"%2CinvolvedObject.namespace%3D%2CinvolvedObject.uid%3D"+n.name+"&limit=500", 200)
}

// roleChange: at 11:20 the platform admin widens the card-processor's Role
// in payments from two named secrets to every secret (get, list, watch),
// then checks the result impersonating the service account.
func (g *dayGen) roleChange(t time.Time) {
	a := g.c.alice
	roleUID, created := g.uuid(), g.c.workload("payments", "card-processor").created
	path := "/apis/rbac.authorization.k8s.io/v1/namespaces/payments/roles/card-processor-secrets"
	role := func(rv string, broad bool) O {
		rule := O{"verbs", A{"get"}, "apiGroups", A{""}, "resources", A{"secrets"}, "resourceNames", A{"card-encryption-key", "db-credentials"}}
		if broad {
			rule = O{"verbs", A{"get", "list", "watch"}, "apiGroups", A{""}, "resources", A{"secrets"}}
		}
		return O{"kind", "Role", "apiVersion", "rbac.authorization.k8s.io/v1",
			"metadata", O{"name", "card-processor-secrets", "namespace", "payments", "uid", roleUID, "resourceVersion", rv,
				"creationTimestamp", created, "labels", M{"app.kubernetes.io/name": "card-processor", "app.kubernetes.io/part-of": "payments"}},
			"rules", A{rule}}
	}
	oldRV := g.rv(created.Add(48 * time.Hour))
	r := g.call(a, t, g.ms(2, 6), "get", path, "", 200).withBody(nil, role(oldRV, false))
	t = g.after(r, 50*time.Second, 2*time.Minute)
	r = g.call(a, t, g.ms(5, 14), "patch", path, "fieldManager=kubectl-edit&fieldValidation=Strict", 200)
	r.withBody(O{"rules", A{O{"apiGroups", A{""}, "resources", A{"secrets"}, "verbs", A{"get", "list", "watch"}}}}, role(g.rv(t), true))

	t = g.after(r, 30*time.Second, 70*time.Second)
	r = g.call(a.withReason(`RBAC: allowed by ClusterRoleBinding "system:basic-user" of ClusterRole "system:basic-user" to Group "system:authenticated"`),
		t, g.ms(2, 6), "create", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "", 201)
	r.imp = &userInfo{name: "system:serviceaccount:payments:card-processor",
		groups: []string{"system:serviceaccounts", "system:serviceaccounts:payments", "system:authenticated"}}
	r.withBody(O{"kind", "SelfSubjectAccessReview", "apiVersion", "authorization.k8s.io/v1",
		"metadata", O{"creationTimestamp", nil},
		"spec", O{"resourceAttributes", O{"namespace", "payments", "verb", "list", "resource", "secrets"}},
		"status", O{"allowed", false}}, nil)
}

// contractor: at 12:47 a contractor with read access to storefront tries
// payments: pods, secrets, one secret by name, a shell (kubectl stops at
// the forbidden pod lookup, so the exec is retried with curl).
func (g *dayGen) contractor(t time.Time) {
	c := g.c
	m := c.mallory
	t = g.discovery(m, t)
	r := g.call(m, t, g.ms(4, 12), "list", "/api/v1/namespaces/storefront/pods", "limit=500", 200)
	r = g.deny(m, g.after(r, 20*time.Second, 50*time.Second), "list", "/api/v1/namespaces/payments/pods", "limit=500")
	r = g.deny(m, g.after(r, 15*time.Second, 40*time.Second), "list", "/api/v1/namespaces/payments/secrets", "limit=500")
	r = g.deny(m, g.after(r, 10*time.Second, 30*time.Second), "get", "/api/v1/namespaces/payments/secrets/card-encryption-key", "")
	p := c.workload("payments", "card-processor").running(r.done)[0]
	podPath := "/api/v1/namespaces/payments/pods/" + p.name
	r = g.deny(m, g.after(r, 40*time.Second, 90*time.Second), "get", podPath, "")
	r = g.deny(m.from(ipContractor, "curl/8.4.0"), g.after(r, 90*time.Second, 3*time.Minute), "create", podPath+"/exec",
		"command=sh&container=card-processor&stdin=true&stdout=true&tty=true")
	g.call(m, g.after(r, 2*time.Minute, 5*time.Minute), g.ms(3, 9), "list", "/api/v1/namespaces/storefront/deployments", "limit=500", 200)
}

// adminExec: at 14:05 the platform admin reads a storefront pod's nginx
// configuration. kubectl v1.30 and later run exec over WebSocket, which
// kube-apiserver records with verb get.
func (g *dayGen) adminExec(t time.Time) {
	a := g.c.alice
	p := g.c.workload("storefront", "web").running(t)[0]
	podPath := "/api/v1/namespaces/storefront/pods/" + p.name
	r := g.call(a, t, g.ms(2, 5), "get", podPath, "", 200)
	exec := g.call(a, r.done.Add(g.ms(3, 8)), 0, "get", podPath+"/exec",
		"command=cat&command=%2Fetc%2Fnginx%2Fconf.d%2Fdefault.conf&container=web&stderr=true&stdout=true", 101)
	exec.longRunning(g.ms(25, 70), exec.received.Add(g.ms(400, 1500)))
}

// pickNode spreads new pods over the nodes that are up at t.
func (g *dayGen) pickNode(t time.Time, i int) *node {
	var up []*node
	for _, n := range g.c.nodes {
		if n.joined.IsZero() || n.joined.Add(2*time.Minute).Before(t) {
			up = append(up, n)
		}
	}
	return up[(i+g.IntN(len(up)))%len(up)]
}

func (g *dayGen) event(a *actor, t time.Time, ns, kind, name, uid, apiVersion, fieldPath, reason, msg, component, host, typ string) *request {
	body := coreEvent(ns, kind, name, uid, apiVersion, g.rv(t.Add(-time.Second)), fieldPath, reason, msg, component, host, typ, t)
	evNS := ns
	if evNS == "" {
		evNS = "default"
	}
	r := g.call(a, t, g.ms(2, 8), "create", "/api/v1/namespaces/"+evNS+"/events", "", 201).withBody(body, nil)
	r.ref.name = body.name()
	return r
}

// rollout is CI deploying a new image of w with kubectl apply, and the
// controllers, scheduler and kubelets carrying it out one pod at a time.
func (g *dayGen) rollout(w *workload, t time.Time, tag string) {
	c := g.c
	ci := c.ci.from(fmt.Sprintf("192.0.2.%d", 10+g.IntN(50)), "")
	disc := ci.withReason(reasonDiscovery)
	t = g.discovery(ci, t)
	r := g.call(disc, t, g.ms(3, 10), "get", "/openapi/v3", "timeout=32s", 200)
	r = g.call(disc, r.done.Add(g.ms(2, 6)), g.ms(10, 40), "get", "/openapi/v3/apis/apps/v1",
		"hash="+strings.ToUpper(g.hex(128))+"&timeout=32s", 200)
	dpath := "/apis/apps/v1/namespaces/" + w.ns + "/deployments/" + w.name
	r = g.call(ci, r.done.Add(g.ms(5, 20)), g.ms(2, 6), "get", dpath, "", 200)
	sha := g.hex(40)
	patch := g.call(ci, r.done.Add(g.ms(3, 10)), g.ms(8, 25), "patch", dpath,
		"fieldManager=kubectl-client-side-apply&fieldValidation=Strict", 200).withBody(w.deploymentPatch(tag, sha), nil)

	oldHash, oldRS, oldCreated, oldPods := w.hash, w.rsUID, w.rsCreated, w.running(patch.received)
	w.tag, w.sha = tag, sha
	w.generation++
	w.revision++
	w.hash, w.rsUID, w.rsCreated = g.suffix(10), g.uuid(), patch.done.Add(10*time.Millisecond)

	dc := c.controller(g.rng, "deployment-controller")
	rsc := c.controller(g.rng, "replicaset-controller")
	t = patch.done.Add(g.ms(5, 20))
	r = g.call(dc, t, g.ms(4, 12), "create", "/apis/apps/v1/namespaces/"+w.ns+"/replicasets", "", 201)
	r.ref.name = w.name + "-" + w.hash
	r.withBody(w.replicaSet(w.hash, w.rsUID, "", 0, 0, t, true), nil)
	g.deploymentStatus(dc, w, r.done.Add(g.ms(2, 8)), w.generation, 0, "ReplicaSetUpdated")

	rolloutStatus := g.call(ci, patch.done.Add(g.ms(200, 600)), g.ms(2, 6), "list", "/apis/apps/v1/namespaces/"+w.ns+"/deployments",
		"fieldSelector=metadata.name%3D"+w.name+"&limit=500", 200)

	for i, old := range oldPods {
		t = t.Add(g.dur(500*time.Millisecond, 2*time.Second))
		g.scaleRS(dc, w, w.hash, w.rsUID, w.rsCreated, "up", i+1, i, t)
		_, ready := g.createPod(rsc, w, g.pickNode(t, i), t.Add(g.ms(10, 40)))
		t = ready.Add(g.ms(30, 300))
		g.scaleRS(dc, w, oldHash, oldRS, oldCreated, "down", len(oldPods)-i-1, len(oldPods)-i-1, t)
		g.stopPod(rsc, old, t.Add(g.ms(10, 40)))
		t = t.Add(g.dur(time.Second, 3*time.Second))
	}
	done := g.deploymentStatus(dc, w, t, w.generation, len(oldPods), "NewReplicaSetAvailable")
	wr := g.call(ci, rolloutStatus.done.Add(g.ms(1, 4)), 0, "watch", "/apis/apps/v1/namespaces/"+w.ns+"/deployments",
		"allowWatchBookmarks=true&fieldSelector=metadata.name%3D"+w.name+"&resourceVersion="+g.rv(rolloutStatus.done)+"&watch=true", 200)
	wr.longRunning(g.ms(1, 4), done.done.Add(g.ms(5, 30)))
}

// deploymentStatus is the deployment controller updating w's status.
func (g *dayGen) deploymentStatus(dc *actor, w *workload, t time.Time, observed, updated int, progressing string) *request {
	prev := g.rv(t.Add(-g.dur(time.Second, 10*time.Second)))
	r := g.call(dc, t, g.ms(3, 10), "update", "/apis/apps/v1/namespaces/"+w.ns+"/deployments/"+w.name+"/status", "", 200)
	r.ref.uid, r.ref.resourceVersion = w.uid, prev
	return r.withBody(w.deployment(prev, observed, updated, progressing, t), nil)
}

// scaleRS is the deployment controller setting a ReplicaSet's replicas.
func (g *dayGen) scaleRS(dc *actor, w *workload, hash, rsUID string, created time.Time, dir string, replicas, ready int, t time.Time) {
	prev := g.rv(t.Add(-g.dur(time.Second, 30*time.Second)))
	r := g.call(dc, t, g.ms(3, 10), "update", "/apis/apps/v1/namespaces/"+w.ns+"/replicasets/"+w.name+"-"+hash, "", 200)
	r.ref.uid, r.ref.resourceVersion = rsUID, prev
	r.withBody(w.replicaSet(hash, rsUID, prev, replicas, ready, created, false), nil)
	g.event(dc, r.done.Add(g.ms(1, 5)), w.ns, "Deployment", w.name, w.uid, "apps/v1", "", "ScalingReplicaSet",
		fmt.Sprintf("Scaled %s replica set %s-%s to %d", dir, w.name, hash, replicas), "deployment-controller", "", "Normal")
}

// createPod is the ReplicaSet controller creating a pod of w, which the
// scheduler binds to n and its kubelet starts. It returns the pod and the
// time it becomes ready.
func (g *dayGen) createPod(rsc *actor, w *workload, n *node, t time.Time) (*pod, time.Time) {
	r := g.call(rsc, t, g.ms(6, 20), "create", "/api/v1/namespaces/"+w.ns+"/pods", "", 201).withBody(w.podCreate(w.hash, w.rsUID), nil)
	g.admission(r, w.ns)
	p := g.c.newPod(g.rng, w, n, r.done.Add(g.ms(3, 30)), g.start)
	g.event(rsc, r.done.Add(g.ms(1, 4)), w.ns, "ReplicaSet", w.name+"-"+w.hash, w.rsUID, "apps/v1", "", "SuccessfulCreate",
		"Created pod: "+p.name, "replicaset-controller", "", "Normal")
	return p, g.startPod(p)
}

// admission adds the annotations admission plugins leave on pod creations.
func (g *dayGen) admission(r *request, ns string) {
	r.annotate("mutation.webhook.admission.k8s.io/round_0_index_0",
		`{"configuration":"azure-wi-webhook-mutating-webhook-configuration","webhook":"mutation.azure-workload-identity.io","mutated":false}`)
	if ns == "payments" {
		r.annotate("pod-security.kubernetes.io/enforce-policy", "restricted:latest")
	}
}

// startPod is the scheduler binding p and its kubelet starting it; it
// returns the time p is ready.
func (g *dayGen) startPod(p *pod) time.Time {
	c, w := g.c, p.w
	t := p.start
	r := g.call(c.sched, t, g.ms(2, 8), "create", "/api/v1/namespaces/"+w.ns+"/pods/"+p.name+"/binding", "", 201).withBody(binding(p), nil)
	r.ref.uid = p.uid
	ev := scheduledEvent(p, r.done)
	r = g.call(c.sched, r.done.Add(g.ms(1, 5)), g.ms(2, 8), "create", "/apis/events.k8s.io/v1/namespaces/"+w.ns+"/events", "", 201).withBody(ev, nil)
	r.ref.name = ev.name()

	kl := p.node.actor()
	image := w.image + ":" + w.tag
	fp := "spec.containers{" + w.name + "}"
	t = t.Add(g.ms(300, 900))
	kev := func(reason, msg string) {
		g.event(kl, t, w.ns, "Pod", p.name, p.uid, "v1", fp, reason, msg, "kubelet", p.node.name, "Normal")
	}
	kev("Pulling", fmt.Sprintf("Pulling image %q", image))
	pull := g.ms(900, 4000)
	t = t.Add(pull)
	kev("Pulled", fmt.Sprintf("Successfully pulled image %q in %s (%s including waiting). Image size: %d bytes.",
		image, pull.Round(time.Millisecond), (pull+g.ms(1, 30)).Round(time.Millisecond), 40_000_000+g.IntN(30_000_000)))
	t = t.Add(g.ms(20, 200))
	kev("Created", "Created container "+w.name)
	t = t.Add(g.ms(50, 400))
	kev("Started", "Started container "+w.name)
	started := t
	cid, iid := g.hex(64), g.hex(64)
	t = t.Add(g.ms(10, 100))
	r = g.call(kl, t, g.ms(3, 12), "patch", "/api/v1/namespaces/"+w.ns+"/pods/"+p.name+"/status", "", 200)
	r.withBody(podStatusPatch(p, cid, iid, started, t.Truncate(time.Second), false), nil)
	ready := t.Add(g.dur(4*time.Second, 12*time.Second))
	r = g.call(kl, ready, g.ms(3, 12), "patch", "/api/v1/namespaces/"+w.ns+"/pods/"+p.name+"/status", "", 200)
	r.withBody(podStatusPatch(p, cid, iid, started, ready.Truncate(time.Second), true), nil)
	g.endpoints(w, r.done.Add(g.ms(5, 30)))
	return r.done
}

// stopPod is the ReplicaSet controller deleting p and its kubelet stopping
// it and removing the pod object.
func (g *dayGen) stopPod(rsc *actor, p *pod, t time.Time) {
	w := p.w
	path := "/api/v1/namespaces/" + w.ns + "/pods/" + p.name
	r := g.call(rsc, t, g.ms(5, 15), "delete", path, "", 200).withBody(deleteOptions("v1"), nil)
	p.end = r.done
	g.event(rsc, r.done.Add(g.ms(1, 4)), w.ns, "ReplicaSet", w.name+"-"+p.hash, "", "apps/v1", "", "SuccessfulDelete",
		"Deleted pod: "+p.name, "replicaset-controller", "", "Normal")
	kl := p.node.actor()
	g.event(kl, r.done.Add(g.ms(20, 80)), w.ns, "Pod", p.name, p.uid, "v1", "spec.containers{"+w.name+"}", "Killing",
		"Stopping container "+w.name, "kubelet", p.node.name, "Normal")
	g.endpoints(w, r.done.Add(g.ms(10, 40)))
	g.call(kl, r.done.Add(g.dur(2*time.Second, 8*time.Second)), g.ms(4, 12), "delete", path, "", 200).
		withBody(deleteOptions("v1", "gracePeriodSeconds", 0, "preconditions", O{"uid", p.uid}), nil)
}

// endpoints is the EndpointSlice and Endpoints controllers publishing w's
// pods at t.
func (g *dayGen) endpoints(w *workload, t time.Time) {
	c := g.c
	pods := w.running(t)
	ready := func(p *pod) bool { return t.Sub(p.start) > 6*time.Second }
	prev := g.rv(t.Add(-g.dur(10*time.Second, 5*time.Minute)))
	r := g.call(c.controller(g.rng, "endpointslice-controller"), t, g.ms(3, 10), "update",
		"/apis/discovery.k8s.io/v1/namespaces/"+w.ns+"/endpointslices/"+w.sliceName, "", 200)
	r.ref.uid, r.ref.resourceVersion = w.sliceUID, prev
	r.withBody(w.endpointSlice(pods, prev, ready), nil)

	var addrs A
	for _, p := range pods {
		if ready(p) {
			addrs = append(addrs, O{"ip", p.ip, "nodeName", p.node.name, "targetRef", O{"kind", "Pod", "namespace", w.ns, "name", p.name, "uid", p.uid}})
		}
	}
	portName := "http"
	if w.port == 8443 {
		portName = "https"
	}
	prev = g.rv(t.Add(-g.dur(10*time.Second, 5*time.Minute)))
	r = g.call(c.controller(g.rng, "endpoint-controller"), t.Add(g.ms(1, 6)), g.ms(3, 10), "update",
		"/api/v1/namespaces/"+w.ns+"/endpoints/"+w.name, "", 200)
	r.ref.uid, r.ref.resourceVersion = w.epUID, prev
	r.withBody(O{"kind", "Endpoints", "apiVersion", "v1",
		"metadata", O{"name", w.name, "namespace", w.ns, "uid", w.epUID, "resourceVersion", prev, "creationTimestamp", w.created,
			"labels", w.selector(), "annotations", M{"endpoints.kubernetes.io/last-change-trigger-time": t.Truncate(time.Second).Format(time.RFC3339)}},
		"subsets", A{O{"addresses", addrs, "ports", A{O{"name", portName, "port", w.port, "protocol", "TCP"}}}}}, nil)
}

// scaleOut: at 14:15 the lunchtime peak makes the HPA scale storefront/web
// from 3 to 5; the new pods do not fit, the cluster autoscaler adds a node
// (14:22) and the scheduler places them there.
func (g *dayGen) scaleOut(t time.Time) {
	c := g.c
	w := c.workload("storefront", "web")
	hpa := c.controller(g.rng, "horizontal-pod-autoscaler")
	prev := g.rv(t.Add(-3 * time.Hour))
	r := g.call(hpa, t, g.ms(3, 10), "update", "/apis/apps/v1/namespaces/storefront/deployments/web/scale", "", 200)
	r.ref.uid, r.ref.resourceVersion = w.uid, prev
	r.withBody(O{"kind", "Scale", "apiVersion", "autoscaling/v1",
		"metadata", O{"name", "web", "namespace", "storefront", "uid", w.uid, "resourceVersion", prev, "creationTimestamp", w.created},
		"spec", O{"replicas", 5}, "status", O{"replicas", 3, "selector", "app.kubernetes.io/name=web"}}, nil)
	g.event(hpa, r.done.Add(g.ms(1, 4)), "storefront", "HorizontalPodAutoscaler", "web", g.uuid(), "autoscaling/v2", "", "SuccessfulRescale",
		"New size: 5; reason: cpu resource utilization (percentage of request) above target", "horizontal-pod-autoscaler", "", "Normal")
	w.replicas = 5
	dc := c.controller(g.rng, "deployment-controller")
	rsc := c.controller(g.rng, "replicaset-controller")
	t = r.done.Add(g.ms(10, 40))
	g.scaleRS(dc, w, w.hash, w.rsUID, w.rsCreated, "up", 5, 3, t)

	n := c.nodes[3]
	join := g.start.Add(14*time.Hour + 22*time.Minute + 7*time.Second).Add(g.dur(0, time.Second))
	ready := g.nodeJoin(n, join)

	var pending []*pod
	for i := range 2 {
		ct := t.Add(g.ms(20, 60) * time.Duration(i+1))
		cr := g.call(rsc, ct, g.ms(6, 20), "create", "/api/v1/namespaces/storefront/pods", "", 201).withBody(w.podCreate(w.hash, w.rsUID), nil)
		g.admission(cr, "storefront")
		p := c.newPod(g.rng, w, n, ready.Add(g.ms(50, 400)*time.Duration(i+1)), g.start)
		pending = append(pending, p)
		g.event(rsc, cr.done.Add(g.ms(1, 4)), "storefront", "ReplicaSet", w.name+"-"+w.hash, w.rsUID, "apps/v1", "", "SuccessfulCreate",
			"Created pod: "+p.name, "replicaset-controller", "", "Normal")
		ft := cr.done.Add(g.ms(5, 30))
		ev := O{"kind", "Event", "apiVersion", "events.k8s.io/v1",
			"metadata", O{"name", fmt.Sprintf("%s.%x", p.name, ft.UnixNano()), "namespace", "storefront", "creationTimestamp", nil},
			"eventTime", micro(ft), "reportingController", "default-scheduler",
			"reportingInstance", "default-scheduler-kube-scheduler-6c9f7d8b5-q2w4r",
			"action", "Scheduling", "reason", "FailedScheduling",
			"regarding", O{"kind", "Pod", "namespace", "storefront", "name", p.name, "uid", p.uid, "apiVersion", "v1"},
			"note", "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
			"type", "Warning", "deprecatedSource", O{}, "deprecatedFirstTimestamp", nil, "deprecatedLastTimestamp", nil}
		er := g.call(c.sched, ft, g.ms(2, 8), "create", "/apis/events.k8s.io/v1/namespaces/storefront/events", "", 201).withBody(ev, nil)
		er.ref.name = ev.name()
		ca := c.controller(g.rng, "cluster-autoscaler").withReason(`RBAC: allowed by ClusterRoleBinding "cluster-autoscaler" of ClusterRole "cluster-autoscaler" to ServiceAccount "cluster-autoscaler/kube-system"`)
		ca.ua = "cluster-autoscaler/v1.31.0 (linux/amd64) kubernetes/$Format"
		g.event(ca, ft.Add(g.dur(8*time.Second, 15*time.Second)), "storefront", "Pod", p.name, p.uid, "v1", "", "TriggeredScaleUp",
			"pod triggered scale-up: [{aks-nodepool1-27386523-vmss 3->4 (max: 5)}]", "cluster-autoscaler", "", "Normal")
	}
	for _, p := range pending {
		g.startPod(p)
	}
}

// scaleIn: at 19:40 the HPA scales storefront/web back to 3.
func (g *dayGen) scaleIn(t time.Time) {
	c := g.c
	w := c.workload("storefront", "web")
	hpa := c.controller(g.rng, "horizontal-pod-autoscaler")
	prev := g.rv(t.Add(-time.Hour))
	r := g.call(hpa, t, g.ms(3, 10), "update", "/apis/apps/v1/namespaces/storefront/deployments/web/scale", "", 200)
	r.ref.uid, r.ref.resourceVersion = w.uid, prev
	r.withBody(O{"kind", "Scale", "apiVersion", "autoscaling/v1",
		"metadata", O{"name", "web", "namespace", "storefront", "uid", w.uid, "resourceVersion", prev, "creationTimestamp", w.created},
		"spec", O{"replicas", 3}, "status", O{"replicas", 5, "selector", "app.kubernetes.io/name=web"}}, nil)
	g.event(hpa, r.done.Add(g.ms(1, 4)), "storefront", "HorizontalPodAutoscaler", "web", g.uuid(), "autoscaling/v2", "", "SuccessfulRescale",
		"New size: 3; reason: All metrics below target", "horizontal-pod-autoscaler", "", "Normal")
	running := w.running(t)
	w.replicas = 3
	t = r.done.Add(g.ms(10, 40))
	g.scaleRS(c.controller(g.rng, "deployment-controller"), w, w.hash, w.rsUID, w.rsCreated, "down", 3, 3, t)
	rsc := c.controller(g.rng, "replicaset-controller")
	for i := 3; i < len(running); i++ {
		g.stopPod(rsc, running[i], t.Add(g.ms(20, 80)*time.Duration(i)))
	}
}

// probeFlaps: in business hours a storefront cart pod fails readiness
// probes now and then; its kubelet records a Warning event and bumps its
// count.
func (g *dayGen) probeFlaps() {
	w := g.c.workload("storefront", "cart")
	for t := g.at(10, 0, 0).Add(g.dur(0, 30*time.Minute)); t.Before(g.at(17, 30, 0)); t = t.Add(g.dur(25*time.Minute, 65*time.Minute)) {
		pods := w.running(t)
		if len(pods) == 0 {
			continue
		}
		p := pods[g.IntN(len(pods))]
		msg := fmt.Sprintf("Readiness probe failed: Get %q: context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
			fmt.Sprintf("http://%s:%d/healthz", p.ip, w.port))
		kl := p.node.actor()
		r := g.event(kl, t, w.ns, "Pod", p.name, p.uid, "v1", "spec.containers{cart}", "Unhealthy", msg, "kubelet", p.node.name, "Warning")
		name := r.ref.name
		at := t
		for n := 2; n <= 2+g.IntN(4); n++ {
			at = at.Add(g.dur(9*time.Second, 11*time.Second))
			g.call(kl, at, g.ms(2, 7), "patch", "/api/v1/namespaces/storefront/events/"+name, "", 200).
				withBody(O{"count", n, "lastTimestamp", at.Truncate(time.Second)}, nil)
		}
	}
}
