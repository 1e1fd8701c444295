package demo

import (
	"encoding/base64"
	"fmt"
	"time"
)

// nodeJoin is a new VM of the scale set joining at t: TLS bootstrap with a
// bootstrap token (a CSR the controller manager approves and signs), node
// registration, its first lease, and the DaemonSet pods it gets. It returns
// the time the node is ready for pods.
func (g *dayGen) nodeJoin(n *node, t time.Time) time.Time {
	c := g.c
	n.joined = t
	tokenID := g.suffix(6)
	boot := &actor{
		user: &userInfo{name: "system:bootstrap:" + tokenID, groups: []string{"system:bootstrappers", "system:authenticated"}},
		ua:   uaKubelet, ips: []string{n.ip},
		reason: `RBAC: allowed by ClusterRoleBinding "kubelet-bootstrap" of ClusterRole "system:node-bootstrapper" to Group "system:bootstrappers"`,
	}
	csrName := "csr-" + g.suffix(5)
	csrUID := g.uuid()
	request := fakeCSR(g.rng, 300)
	usages := []string{"digital signature", "client auth"}
	const signer = "kubernetes.io/kube-apiserver-client-kubelet"
	spec := func() O {
		return O{"request", request, "signerName", signer, "usages", usages,
			"username", boot.user.name, "groups", boot.user.groups}
	}
	created := t.Add(4 * time.Millisecond).Truncate(time.Second)
	csr := func(rv string, conds A, cert string) O {
		st := O{}
		if conds != nil {
			st = append(st, "conditions", conds)
		}
		if cert != "" {
			st = append(st, "certificate", cert)
		}
		return O{"kind", "CertificateSigningRequest", "apiVersion", "certificates.k8s.io/v1",
			"metadata", O{"name", csrName, "generateName", "csr-", "uid", csrUID, "resourceVersion", rv, "creationTimestamp", created},
			"spec", spec(), "status", st}
	}
	r := g.call(boot, t, g.ms(5, 15), "create", "/apis/certificates.k8s.io/v1/certificatesigningrequests", "", 201)
	r.withBody(O{"kind", "CertificateSigningRequest", "apiVersion", "certificates.k8s.io/v1",
		"metadata", O{"generateName", "csr-", "creationTimestamp", nil},
		"spec", O{"request", request, "signerName", signer, "usages", usages}, "status", O{}},
		csr(g.rv(t), nil, ""))
	rv0 := g.rv(t)
	lr := g.call(boot, r.done.Add(g.ms(2, 10)), g.ms(2, 6), "list", "/apis/certificates.k8s.io/v1/certificatesigningrequests",
		"fieldSelector=metadata.name%3D"+csrName+"&limit=500&resourceVersion=0", 200)
	lr.withBody(nil, O{"kind", "CertificateSigningRequestList", "apiVersion", "certificates.k8s.io/v1",
		"metadata", O{"resourceVersion", rv0}, "items", A{csr(rv0, nil, "")[4:]}})
	wr := g.call(boot, lr.done.Add(g.ms(1, 4)), 0, "watch", "/apis/certificates.k8s.io/v1/certificatesigningrequests",
		"allowWatchBookmarks=true&fieldSelector=metadata.name%3D"+csrName+"&resourceVersion="+rv0+"&timeoutSeconds=900&watch=true", 200)

	cc := c.controller(g.rng, "certificate-controller")
	t = r.done.Add(g.ms(20, 120))
	sar := g.call(cc, t, g.ms(1, 4), "create", "/apis/authorization.k8s.io/v1/subjectaccessreviews", "", 201)
	sar.withBody(O{"kind", "SubjectAccessReview", "apiVersion", "authorization.k8s.io/v1", "metadata", O{"creationTimestamp", nil},
		"spec", O{"resourceAttributes", O{"verb", "create", "group", "certificates.k8s.io", "resource", "certificatesigningrequests", "subresource", "nodeclient"},
			"user", boot.user.name, "groups", boot.user.groups},
		"status", O{"allowed", false}}, nil)
	t = sar.done.Add(g.ms(2, 8))
	approved := O{"type", "Approved", "status", "True", "reason", "AutoApproved",
		"message", "Auto approving kubelet client certificate after SubjectAccessReview.", "lastUpdateTime", t.Truncate(time.Second)}
	prev := g.rv(t.Add(-50 * time.Millisecond))
	r = g.call(cc, t, g.ms(4, 12), "update", "/apis/certificates.k8s.io/v1/certificatesigningrequests/"+csrName+"/approval", "", 200)
	r.ref.uid, r.ref.resourceVersion = csrUID, prev
	r.withBody(csr(prev, A{append(approved, "lastTransitionTime", nil)}, ""), csr(g.rv(t), A{append(approved, "lastTransitionTime", t.Truncate(time.Second))}, ""))
	t = r.done.Add(g.ms(10, 60))
	signed := A{append(approved, "lastTransitionTime", t.Truncate(time.Second))}
	cert := fakeCert(g.rng)
	prev = g.rv(t.Add(-20 * time.Millisecond))
	r = g.call(c.controller(g.rng, "certificate-controller"), t, g.ms(4, 12), "update",
		"/apis/certificates.k8s.io/v1/certificatesigningrequests/"+csrName+"/status", "", 200)
	r.ref.uid, r.ref.resourceVersion = csrUID, prev
	r.withBody(csr(prev, signed, cert), csr(g.rv(t), signed, cert))
	wr.longRunning(g.ms(1, 4), r.done.Add(g.ms(2, 20)))

	// Registration with the new client certificate.
	kl := n.actor()
	t = wr.done.Add(g.ms(300, 1200))
	r = g.call(kl, t, g.ms(8, 25), "create", "/api/v1/nodes", "", 201)
	r.ref.name = n.name
	r.withBody(nodeObject(g.rng, n), nil)
	leasePath := "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/"
	lg := g.fail(kl, r.done.Add(g.ms(20, 80)), g.ms(1, 3), "get", leasePath+n.name, "timeout=10s", notFound)
	lc := g.call(kl, lg.done.Add(g.ms(1, 5)), g.ms(3, 10), "create", leasePath[:len(leasePath)-1], "timeout=10s", 201)
	lc.ref.name = n.name
	lc.withBody(lease("kube-node-lease", n.name, "", "", n.name, 40, time.Time{}, lc.received, 0, n, time.Time{}), nil)
	g.call(kl, lc.done.Add(g.ms(5, 20)), g.ms(4, 15), "patch", "/api/v1/nodes/"+n.name+"/status", "timeout=10s", 200)
	et := lc.done.Add(g.ms(50, 200))
	for _, e := range []struct{ reason, msg string }{
		{"Starting", "Starting kubelet."},
		{"NodeHasSufficientMemory", "Node " + n.name + " status is now: NodeHasSufficientMemory"},
		{"NodeHasNoDiskPressure", "Node " + n.name + " status is now: NodeHasNoDiskPressure"},
		{"NodeHasSufficientPID", "Node " + n.name + " status is now: NodeHasSufficientPID"},
		{"NodeAllocatableEnforced", "Updated Node Allocatable limit across pods"},
	} {
		g.event(kl, et, "", "Node", n.name, n.name, "", "", e.reason, e.msg, "kubelet", n.name, "Normal")
		et = et.Add(g.ms(2, 30))
	}
	nc := c.controller(g.rng, "node-controller")
	g.event(nc, et.Add(g.dur(time.Second, 4*time.Second)), "", "Node", n.name, n.uid, "", "", "RegisteredNode",
		"Node "+n.name+" event: Registered Node "+n.name+" in Controller", "node-controller", "", "Normal")

	// The DaemonSets' pods for the node, and the cloud node manager
	// initializing it.
	ds := c.controller(g.rng, "daemon-set-controller")
	t = et.Add(g.dur(2*time.Second, 5*time.Second))
	for _, d := range []struct{ name, image string }{
		{"kube-proxy", "mcr.microsoft.com/oss/kubernetes/kube-proxy:v1.31.2"},
		{"cloud-node-manager", "mcr.microsoft.com/oss/kubernetes/azure-cloud-node-manager:v1.31.1"},
		{"azure-cns", "mcr.microsoft.com/containernetworking/azure-cns:v1.6.13"},
		{"ama-logs", "mcr.microsoft.com/azuremonitor/containerinsights/ciprod:3.1.24"},
		{"csi-azuredisk-node", "mcr.microsoft.com/oss/kubernetes-csi/azuredisk-csi:v1.30.5"},
		{"csi-azurefile-node", "mcr.microsoft.com/oss/kubernetes-csi/azurefile-csi:v1.30.6"},
	} {
		r := g.call(ds, t, g.ms(6, 20), "create", "/api/v1/namespaces/kube-system/pods", "", 201)
		r.withBody(daemonPod(g.rng, d.name, d.image, n), nil)
		name := d.name + "-" + g.suffix(5)
		g.event(ds, r.done.Add(g.ms(1, 4)), "kube-system", "DaemonSet", d.name, g.uuid(), "apps/v1", "", "SuccessfulCreate",
			"Created pod: "+name, "daemonset-controller", "", "Normal")
		podUID := g.uuid()
		b := g.call(c.sched, r.done.Add(g.ms(5, 40)), g.ms(2, 8), "create", "/api/v1/namespaces/kube-system/pods/"+name+"/binding", "", 201)
		b.withBody(O{"kind", "Binding", "apiVersion", "v1",
			"metadata", O{"name", name, "namespace", "kube-system", "uid", podUID, "creationTimestamp", nil},
			"target", O{"kind", "Node", "name", n.name}}, nil)
		b.ref.uid = podUID
		t = t.Add(g.ms(30, 200))
	}
	cnm := c.addon(g.rng, "kube-system", "cloud-node-manager", "cloud-node-manager", "cloud-node-manager",
		"cloud-node-manager-"+g.suffix(5), "cloud-node-manager/v0.0.0 (linux/amd64) kubernetes/$Format", n.ip, n)
	t = t.Add(g.dur(15*time.Second, 30*time.Second))
	zone := fmt.Sprintf("westeurope-%d", 1+n.idx%3)
	r = g.call(cnm, t, g.ms(5, 15), "patch", "/api/v1/nodes/"+n.name, "", 200)
	r.withBody(O{"metadata", O{"labels", M{"failure-domain.beta.kubernetes.io/region": "westeurope", "failure-domain.beta.kubernetes.io/zone": zone,
		"node.kubernetes.io/instance-type": "Standard_D4ds_v5", "topology.kubernetes.io/region": "westeurope", "topology.kubernetes.io/zone": zone}},
		"spec", O{"taints", nil}}, nil)
	r = g.call(cnm, r.done.Add(g.ms(5, 20)), g.ms(5, 15), "patch", "/api/v1/nodes/"+n.name+"/status", "", 200)
	r.withBody(O{"status", O{"$setElementOrder/addresses", A{O{"type", "InternalIP"}, O{"type", "Hostname"}},
		"addresses", A{O{"address", n.ip, "type", "InternalIP"}, O{"address", n.name, "type", "Hostname"}}}}, nil)
	return r.done.Add(g.dur(5*time.Second, 15*time.Second))
}

func fakeCert(r rng) string {
	body := "MIIC" + r.b64(640)
	pem := "-----BEGIN CERTIFICATE-----\n"
	for i := 0; i < len(body); i += 64 {
		pem += body[i:min(i+64, len(body))] + "\n"
	}
	pem += "-----END CERTIFICATE-----\n"
	return base64.StdEncoding.EncodeToString([]byte(pem))
}

// nodeObject is the Node a kubelet registers.
func nodeObject(r rng, n *node) O {
	zone := fmt.Sprintf("westeurope-%d", 1+n.idx%3)
	return O{
		"kind", "Node", "apiVersion", "v1",
		"metadata", O{
			"name", n.name, "creationTimestamp", nil,
			"labels", M{
				"agentpool": "nodepool1", "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
				"kubernetes.azure.com/agentpool": "nodepool1", "kubernetes.azure.com/cluster": "MC_rg-pci-prod_aks-pci-prod_westeurope",
				"kubernetes.azure.com/mode": "system", "kubernetes.azure.com/node-image-version": "AKSUbuntu-2204gen2containerd-202410.15.0",
				"kubernetes.azure.com/role": "agent", "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": n.name,
				"kubernetes.io/os": "linux", "node.kubernetes.io/instance-type": "Standard_D4ds_v5",
				"topology.kubernetes.io/region": "westeurope", "topology.kubernetes.io/zone": zone,
			},
			"annotations", M{"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
		},
		"spec", O{
			"providerID", fmt.Sprintf("%s%d", vmssID, n.idx),
			"taints", A{O{"key", "node.cloudprovider.kubernetes.io/uninitialized", "value", "true", "effect", "NoSchedule"}},
		},
		"status", O{
			"capacity", M{"cpu": "4", "ephemeral-storage": "129886128Ki", "hugepages-1Gi": "0", "hugepages-2Mi": "0", "memory": "16375740Ki", "pods": "110"},
			"allocatable", M{"cpu": "3860m", "ephemeral-storage": "119703055367", "hugepages-1Gi": "0", "hugepages-2Mi": "0", "memory": "12798396Ki", "pods": "110"},
			"conditions", A{
				O{"type", "MemoryPressure", "status", "False", "lastHeartbeatTime", nil, "lastTransitionTime", nil,
					"reason", "KubeletHasSufficientMemory", "message", "kubelet has sufficient memory available"},
				O{"type", "DiskPressure", "status", "False", "lastHeartbeatTime", nil, "lastTransitionTime", nil,
					"reason", "KubeletHasNoDiskPressure", "message", "kubelet has no disk pressure"},
				O{"type", "PIDPressure", "status", "False", "lastHeartbeatTime", nil, "lastTransitionTime", nil,
					"reason", "KubeletHasSufficientPID", "message", "kubelet has sufficient PID available"},
				O{"type", "Ready", "status", "False", "lastHeartbeatTime", nil, "lastTransitionTime", nil,
					"reason", "KubeletNotReady", "message", "container runtime status check may not have completed yet"},
			},
			"addresses", A{O{"type", "InternalIP", "address", n.ip}, O{"type", "Hostname", "address", n.name}},
			"daemonEndpoints", O{"kubeletEndpoint", O{"Port", 10250}},
			"nodeInfo", O{"machineID", r.hex(32), "systemUUID", r.uuid(), "bootID", r.uuid(),
				"kernelVersion", "5.15.0-1073-azure", "osImage", "Ubuntu 22.04.5 LTS", "containerRuntimeVersion", "containerd://1.7.22-1",
				"kubeletVersion", kubeVersion, "kubeProxyVersion", kubeVersion, "operatingSystem", "linux", "architecture", "amd64"},
		},
	}
}

// daemonPod is the Pod a DaemonSet controller creates for node n.
func daemonPod(r rng, name, image string, n *node) O {
	return O{
		"kind", "Pod", "apiVersion", "v1",
		"metadata", O{
			"generateName", name + "-", "namespace", "kube-system", "creationTimestamp", nil,
			"labels", M{"component": name, "controller-revision-hash": r.suffix(10)[:8] + "7", "k8s-app": name,
				"kubernetes.azure.com/managedby": "aks", "pod-template-generation": "3"},
			"ownerReferences", A{O{"apiVersion", "apps/v1", "kind", "DaemonSet", "name", name, "uid", r.uuid(),
				"controller", true, "blockOwnerDeletion", true}},
		},
		"spec", O{
			"containers", A{O{"name", name, "image", image,
				"resources", O{"requests", M{"cpu": "10m", "memory": "64Mi"}},
				"terminationMessagePath", "/dev/termination-log", "terminationMessagePolicy", "File", "imagePullPolicy", "IfNotPresent"}},
			"restartPolicy", "Always", "terminationGracePeriodSeconds", 30, "dnsPolicy", "ClusterFirst",
			"serviceAccountName", name, "serviceAccount", name,
			"affinity", O{"nodeAffinity", O{"requiredDuringSchedulingIgnoredDuringExecution", O{"nodeSelectorTerms", A{
				O{"matchFields", A{O{"key", "metadata.name", "operator", "In", "values", A{n.name}}}}}}}},
			"schedulerName", "default-scheduler",
			"tolerations", A{O{"operator", "Exists"}},
			"priorityClassName", "system-node-critical",
		},
		"status", O{},
	}
}

// breakglassCSR: at 15:48 the platform admin creates a client-certificate
// signing request for a year-long certificate outside Entra ID and
// approves it herself.
func (g *dayGen) breakglassCSR(t time.Time) {
	a := g.c.alice
	const name = "breakglass-alice"
	path := "/apis/certificates.k8s.io/v1/certificatesigningrequests/" + name
	request := fakeCSR(g.rng, 340)
	const signer = "kubernetes.io/kube-apiserver-client"
	applied := string(render(O{"apiVersion", "certificates.k8s.io/v1", "kind", "CertificateSigningRequest",
		"metadata", O{"annotations", M{}, "name", name},
		"spec", O{"expirationSeconds", 31536000, "request", request, "signerName", signer, "usages", A{"client auth"}}})) + "\n"
	uid := g.uuid()
	created := t
	stored := func(rv string, conds A, cert string) O {
		st := O{}
		if conds != nil {
			st = append(st, "conditions", conds)
		}
		if cert != "" {
			st = append(st, "certificate", cert)
		}
		return O{"kind", "CertificateSigningRequest", "apiVersion", "certificates.k8s.io/v1",
			"metadata", O{"name", name, "uid", uid, "resourceVersion", rv, "creationTimestamp", created.Truncate(time.Second),
				"annotations", M{"kubectl.kubernetes.io/last-applied-configuration": applied}},
			"spec", O{"request", request, "signerName", signer, "expirationSeconds", 31536000, "usages", A{"client auth"},
				"username", a.user.name, "groups", a.user.groups, "extra", O{"oid", A{a.user.extra[0].v}}},
			"status", st}
	}
	r := g.fail(a, t, g.ms(1, 4), "get", path, "", notFound)
	t = r.done.Add(g.ms(5, 20))
	created = t
	r = g.call(a, t, g.ms(5, 14), "create", "/apis/certificates.k8s.io/v1/certificatesigningrequests",
		"fieldManager=kubectl-client-side-apply&fieldValidation=Strict", 201)
	r.ref.name = name
	r.withBody(O{"kind", "CertificateSigningRequest", "apiVersion", "certificates.k8s.io/v1",
		"metadata", O{"name", name, "creationTimestamp", nil, "annotations", M{"kubectl.kubernetes.io/last-applied-configuration": applied}},
		"spec", O{"request", request, "signerName", signer, "expirationSeconds", 31536000, "usages", A{"client auth"}},
		"status", O{}}, stored(g.rv(t), nil, ""))

	// kubectl certificate approve, two minutes later.
	t = g.after(r, 90*time.Second, 150*time.Second)
	rv := g.rv(created)
	r = g.call(a, t, g.ms(1, 4), "get", path, "", 200).withBody(nil, stored(rv, nil, ""))
	t = r.done.Add(g.ms(3, 10))
	approved := O{"type", "Approved", "status", "True", "reason", "KubectlApprove",
		"message", "This CSR was approved by kubectl certificate approve.", "lastUpdateTime", t.Truncate(time.Second)}
	r = g.call(a, t, g.ms(4, 12), "update", path+"/approval", "", 200)
	r.ref.uid, r.ref.resourceVersion = uid, rv
	r.withBody(stored(rv, A{append(approved, "lastTransitionTime", nil)}, ""),
		stored(g.rv(t), A{append(approved, "lastTransitionTime", t.Truncate(time.Second))}, ""))
	cond := A{append(approved, "lastTransitionTime", t.Truncate(time.Second))}

	t = r.done.Add(g.ms(10, 60))
	cert := fakeCert(g.rng)
	prev := g.rv(r.done)
	r = g.call(g.c.controller(g.rng, "certificate-controller"), t, g.ms(4, 12), "update", path+"/status", "", 200)
	r.ref.uid, r.ref.resourceVersion = uid, prev
	r.withBody(stored(prev, cond, cert), stored(g.rv(t), cond, cert))

	g.call(a, g.after(r, 20*time.Second, 50*time.Second), g.ms(1, 4), "get", path, "", 200).withBody(nil, stored(g.rv(t), cond, cert))
}

// deleteNamespace: at 16:05 the platform admin deletes the loadtest
// namespace; the namespace controller empties and finalizes it.
func (g *dayGen) deleteNamespace(t time.Time) {
	c := g.c
	a := c.alice
	const ns = "loadtest"
	nsUID := c.nsUID[ns]
	created := g.start.AddDate(0, 0, -9).Add(g.dur(9*time.Hour, 17*time.Hour)).Truncate(time.Second)
	r := g.call(a, t, g.ms(4, 12), "list", "/api/v1/namespaces", "limit=500", 200)
	t = g.after(r, 10*time.Second, 30*time.Second)
	del := g.call(a, t, g.ms(6, 18), "delete", "/api/v1/namespaces/"+ns, "", 200).
		withBody(deleteOptions("v1", "propagationPolicy", "Background"), nil)
	deleted := del.done.Truncate(time.Second)
	wl := g.call(a, del.done.Add(g.ms(3, 10)), g.ms(2, 6), "list", "/api/v1/namespaces",
		"fieldSelector=metadata.name%3D"+ns+"&limit=500", 200)

	nc := c.controller(g.rng, "namespace-controller")
	conds := func(at time.Time, remaining bool) A {
		cs := A{
			O{"type", "NamespaceDeletionDiscoveryFailure", "status", "False", "lastTransitionTime", at, "reason", "ResourcesDiscovered", "message", "All resources successfully discovered"},
			O{"type", "NamespaceDeletionGroupVersionParsingFailure", "status", "False", "lastTransitionTime", at, "reason", "ParsedGroupVersions", "message", "All legacy kube types successfully parsed"},
			O{"type", "NamespaceDeletionContentFailure", "status", "False", "lastTransitionTime", at, "reason", "ContentDeleted", "message", "All content successfully deleted, may be waiting on finalization"},
		}
		if remaining {
			return append(cs, O{"type", "NamespaceContentRemaining", "status", "True", "lastTransitionTime", at, "reason", "SomeResourcesRemain", "message", "Some resources are remaining: pods. has 2 resource instances"})
		}
		return append(cs, O{"type", "NamespaceContentRemaining", "status", "False", "lastTransitionTime", at, "reason", "ContentRemoved", "message", "All content successfully removed"},
			O{"type", "NamespaceFinalizersRemaining", "status", "False", "lastTransitionTime", at, "reason", "ContentHasNoFinalizers", "message", "All content-preserving finalizers finished"})
	}
	nsObj := func(rv string, finalizers A, cs A) O {
		spec := O{}
		if finalizers != nil {
			spec = O{"finalizers", finalizers}
		}
		return O{"kind", "Namespace", "apiVersion", "v1",
			"metadata", O{"name", ns, "uid", nsUID, "resourceVersion", rv, "creationTimestamp", created, "deletionTimestamp", deleted,
				"labels", M{"kubernetes.io/metadata.name": ns, "purpose": "load-testing"}},
			"spec", spec, "status", O{"phase", "Terminating", "conditions", cs}}
	}
	t = del.done.Add(g.ms(20, 80))
	prev := g.rv(del.done)
	r = g.call(nc, t, g.ms(3, 10), "update", "/api/v1/namespaces/"+ns+"/status", "", 200)
	r.ref.uid, r.ref.resourceVersion = nsUID, prev
	r.withBody(nsObj(prev, A{"kubernetes"}, conds(t.Truncate(time.Second), true)), nil)

	type res struct{ path, gv string }
	var resources []res
	for _, p := range []string{"configmaps", "endpoints", "events", "limitranges", "persistentvolumeclaims", "pods", "podtemplates",
		"replicationcontrollers", "resourcequotas", "secrets", "serviceaccounts", "services"} {
		resources = append(resources, res{"/api/v1/namespaces/" + ns + "/" + p, "v1"})
	}
	for _, p := range []string{"apps/v1/controllerrevisions", "apps/v1/daemonsets", "apps/v1/deployments", "apps/v1/replicasets",
		"apps/v1/statefulsets", "autoscaling/v2/horizontalpodautoscalers", "batch/v1/cronjobs", "batch/v1/jobs",
		"coordination.k8s.io/v1/leases", "discovery.k8s.io/v1/endpointslices", "events.k8s.io/v1/events",
		"networking.k8s.io/v1/ingresses", "networking.k8s.io/v1/networkpolicies", "policy/v1/poddisruptionbudgets",
		"rbac.authorization.k8s.io/v1/rolebindings", "rbac.authorization.k8s.io/v1/roles", "storage.k8s.io/v1/csistoragecapacities"} {
		i := len(p) - len(lastSegment(p)) - 1
		resources = append(resources, res{"/apis/" + p[:i] + "/namespaces/" + ns + "/" + lastSegment(p), p[:i]})
	}
	t = r.done.Add(g.ms(5, 20))
	list := func(rv string, items A) O {
		return O{"kind", "PartialObjectMetadataList", "apiVersion", "meta.k8s.io/v1", "metadata", O{"resourceVersion", rv}, "items", items}
	}
	for _, rs := range resources {
		dc := g.call(nc, t, g.ms(2, 15), "deletecollection", rs.path, "", 200)
		dc.withBody(deleteOptions(rs.gv, "propagationPolicy", "Background"), nil)
		if dc.level == levelRequestResponse {
			var items A
			if lastSegment(rs.path) == "serviceaccounts" {
				for _, sa := range []string{"default", "locust"} {
					items = append(items, O{"metadata", O{"name", sa, "namespace", ns, "uid", g.uuid(), "resourceVersion", g.rv(created.Add(time.Hour)),
						"creationTimestamp", created}})
				}
			}
			dc.respObj = render(list(g.rv(dc.done), items))
		}
		l := g.call(nc, dc.done.Add(g.ms(1, 4)), g.ms(1, 5), "list", rs.path, "", 200)
		if l.level == levelRequestResponse {
			l.respObj = render(list(g.rv(l.done), A{}))
		}
		t = l.done.Add(g.ms(1, 6))
	}

	// The two locust pods terminate; their kubelets remove them.
	var last time.Time
	for i, name := range []string{"locust-master-" + g.suffix(10)[:9] + "-" + g.suffix(5), "locust-worker-" + g.suffix(10)[:9] + "-" + g.suffix(5)} {
		n := c.nodes[i]
		dt := del.done.Add(g.dur(4*time.Second, 12*time.Second))
		g.call(n.actor(), dt, g.ms(4, 12), "delete", "/api/v1/namespaces/"+ns+"/pods/"+name, "", 200).
			withBody(deleteOptions("v1", "gracePeriodSeconds", 0, "preconditions", O{"uid", g.uuid()}), nil)
		if dt.After(last) {
			last = dt
		}
	}
	t = last.Add(g.dur(time.Second, 5*time.Second))
	if t.Before(r.done) {
		t = r.done.Add(time.Second)
	}
	prev = g.rv(t.Add(-time.Second))
	r = g.call(nc, t, g.ms(3, 10), "update", "/api/v1/namespaces/"+ns+"/status", "", 200)
	r.ref.uid, r.ref.resourceVersion = nsUID, prev
	r.withBody(nsObj(prev, A{"kubernetes"}, conds(t.Truncate(time.Second), false)), nil)
	t = r.done.Add(g.ms(5, 30))
	prev = g.rv(r.done)
	r = g.call(nc, t, g.ms(3, 10), "update", "/api/v1/namespaces/"+ns+"/finalize", "", 200)
	r.ref.uid, r.ref.resourceVersion = nsUID, prev
	r.withBody(nsObj(prev, nil, conds(t.Truncate(time.Second), false)), nil)

	w := g.call(a, wl.done.Add(g.ms(1, 4)), 0, "watch", "/api/v1/namespaces",
		"allowWatchBookmarks=true&fieldSelector=metadata.name%3D"+ns+"&resourceVersion="+g.rv(wl.done)+"&watch=true", 200)
	w.longRunning(g.ms(1, 4), r.done.Add(g.ms(3, 20)))
}

func lastSegment(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}
