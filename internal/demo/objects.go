package demo

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Object builders: request and response bodies as kube-apiserver records
// them. Fields follow the order of the k8s.io/api structs; patches, which
// clients compute from maps, have sorted keys. managedFields are left out
// (the policy sets omitManagedFields).

func (w *workload) labels() M {
	l := M{"app.kubernetes.io/name": w.name, "app.kubernetes.io/part-of": w.ns}
	if w.cde {
		l["pci.corp.example/scope"] = "cde"
	}
	return l
}

func (w *workload) selector() M { return M{"app.kubernetes.io/name": w.name} }

func (w *workload) scheme() string {
	if w.port == 8443 {
		return "HTTPS"
	}
	return "HTTP"
}

func (w *workload) container(tag string) O {
	portName := "http"
	if w.port == 8443 {
		portName = "https"
	}
	return O{
		"name", w.name,
		"image", w.image + ":" + tag,
		"ports", A{O{"name", portName, "containerPort", w.port, "protocol", "TCP"}},
		"resources", O{"limits", M{"cpu": "1", "memory": "512Mi"}, "requests", M{"cpu": "250m", "memory": "256Mi"}},
		"readinessProbe", O{"httpGet", O{"path", "/healthz", "port", w.port, "scheme", w.scheme()},
			"timeoutSeconds", 1, "periodSeconds", 10, "successThreshold", 1, "failureThreshold", 3},
		"terminationMessagePath", "/dev/termination-log",
		"terminationMessagePolicy", "File",
		"imagePullPolicy", "IfNotPresent",
		"securityContext", O{"capabilities", O{"drop", A{"ALL"}}, "runAsNonRoot", true,
			"readOnlyRootFilesystem", true, "allowPrivilegeEscalation", false},
	}
}

func (w *workload) podSpec(tag, nodeName string, volumes bool) O {
	var spec O
	if volumes {
		spec = append(spec, "volumes", A{O{"name", "kube-api-access-" + w.hash[:5], "projected", O{
			"sources", A{
				O{"serviceAccountToken", O{"expirationSeconds", 3607, "path", "token"}},
				O{"configMap", O{"name", "kube-root-ca.crt", "items", A{O{"key", "ca.crt", "path", "ca.crt"}}}},
			},
			"defaultMode", 420}}})
	}
	c := w.container(tag)
	if volumes {
		c = append(c, "volumeMounts", A{O{"name", "kube-api-access-" + w.hash[:5], "readOnly", true,
			"mountPath", "/var/run/secrets/kubernetes.io/serviceaccount"}})
	}
	spec = append(spec,
		"containers", A{c},
		"restartPolicy", "Always",
		"terminationGracePeriodSeconds", 30,
		"dnsPolicy", "ClusterFirst",
		"serviceAccountName", w.sa,
		"serviceAccount", w.sa,
	)
	if nodeName != "" {
		spec = append(spec, "nodeName", nodeName)
	}
	spec = append(spec,
		"securityContext", O{"seccompProfile", O{"type", "RuntimeDefault"}},
		"schedulerName", "default-scheduler",
	)
	return spec
}

func (w *workload) template(tag, sha string) O {
	return O{
		"metadata", O{"creationTimestamp", nil, "labels", w.labels(), "annotations", M{"ci.corp.example/commit": sha}},
		"spec", w.podSpec(tag, "", false),
	}
}

// lastApplied is the kubectl.kubernetes.io/last-applied-configuration
// annotation kubectl apply writes: the manifest, keys sorted.
func (w *workload) lastApplied(tag, sha string) string {
	portName := "http"
	if w.port == 8443 {
		portName = "https"
	}
	labels := w.labels()
	spec := O{}
	if w.name != "web" { // web is scaled by its HorizontalPodAutoscaler
		spec = append(spec, "replicas", w.replicas)
	}
	spec = append(spec,
		"selector", O{"matchLabels", w.selector()},
		"template", O{
			"metadata", O{"annotations", M{"ci.corp.example/commit": sha}, "labels", labels},
			"spec", O{
				"containers", A{O{
					"image", w.image + ":" + tag,
					"name", w.name,
					"ports", A{O{"containerPort", w.port, "name", portName}},
					"readinessProbe", O{"httpGet", O{"path", "/healthz", "port", w.port, "scheme", w.scheme()}},
					"resources", O{"limits", M{"cpu": "1", "memory": "512Mi"}, "requests", M{"cpu": "250m", "memory": "256Mi"}},
					"securityContext", O{"allowPrivilegeEscalation", false, "capabilities", O{"drop", A{"ALL"}},
						"readOnlyRootFilesystem", true, "runAsNonRoot", true},
				}},
				"securityContext", O{"seccompProfile", O{"type", "RuntimeDefault"}},
				"serviceAccountName", w.sa,
			},
		})
	m := O{
		"apiVersion", "apps/v1",
		"kind", "Deployment",
		"metadata", O{"annotations", M{}, "labels", labels, "name", w.name, "namespace", w.ns},
		"spec", spec,
	}
	return string(render(m)) + "\n"
}

// deployment is the Deployment as stored. observed is the generation the
// deployment controller has seen; rs is the newest ReplicaSet's name.
func (w *workload) deployment(rv string, observed, ready int, progressing string, at time.Time) O {
	cond := func(typ, reason, msg string) O {
		return O{"type", typ, "status", "True", "lastUpdateTime", at, "lastTransitionTime", w.created.Add(2 * time.Minute),
			"reason", reason, "message", msg}
	}
	return O{
		"kind", "Deployment",
		"apiVersion", "apps/v1",
		"metadata", O{
			"name", w.name, "namespace", w.ns, "uid", w.uid, "resourceVersion", rv,
			"generation", w.generation, "creationTimestamp", w.created,
			"labels", w.labels(),
			"annotations", M{
				"deployment.kubernetes.io/revision":                strconv.Itoa(w.revision),
				"kubectl.kubernetes.io/last-applied-configuration": w.lastApplied(w.tag, w.sha),
			},
		},
		"spec", O{
			"replicas", w.replicas,
			"selector", O{"matchLabels", w.selector()},
			"template", w.template(w.tag, w.sha),
			"strategy", O{"type", "RollingUpdate", "rollingUpdate", O{"maxUnavailable", "25%", "maxSurge", "25%"}},
			"revisionHistoryLimit", 10,
			"progressDeadlineSeconds", 600,
		},
		"status", O{
			"observedGeneration", observed,
			"replicas", w.replicas, "updatedReplicas", ready, "readyReplicas", w.replicas, "availableReplicas", w.replicas,
			"conditions", A{
				cond("Available", "MinimumReplicasAvailable", "Deployment has minimum availability."),
				cond("Progressing", progressing, fmt.Sprintf("ReplicaSet %q has successfully progressed.", w.name+"-"+w.hash)),
			},
		},
	}
}

// deploymentPatch is the strategic merge patch kubectl apply sends when a
// new image is rolled out.
func (w *workload) deploymentPatch(tag, sha string) O {
	return O{
		"metadata", O{"annotations", M{"kubectl.kubernetes.io/last-applied-configuration": w.lastApplied(tag, sha)}},
		"spec", O{"template", O{
			"metadata", O{"annotations", M{"ci.corp.example/commit": sha}},
			"spec", O{
				"$setElementOrder/containers", A{O{"name", w.name}},
				"containers", A{O{"image", w.image + ":" + tag, "name", w.name}},
			},
		}},
	}
}

func (w *workload) replicaSet(hash, rsUID, rv string, replicas, ready int, created time.Time, create bool) O {
	labels := w.labels()
	labels["pod-template-hash"] = hash
	meta := O{"name", w.name + "-" + hash, "namespace", w.ns}
	if !create {
		meta = append(meta, "uid", rsUID, "resourceVersion", rv, "generation", 1+replicas%3)
	}
	var ts any = created.Truncate(time.Second)
	if create {
		ts = nil
	}
	meta = append(meta, "creationTimestamp", ts,
		"labels", labels,
		"annotations", M{"deployment.kubernetes.io/desired-replicas": strconv.Itoa(w.replicas),
			"deployment.kubernetes.io/max-replicas": strconv.Itoa(w.replicas + (w.replicas+3)/4),
			"deployment.kubernetes.io/revision":     strconv.Itoa(w.revision)},
		"ownerReferences", A{O{"apiVersion", "apps/v1", "kind", "Deployment", "name", w.name, "uid", w.uid,
			"controller", true, "blockOwnerDeletion", true}})
	sel := w.selector()
	sel["pod-template-hash"] = hash
	tl := w.template(w.tag, w.sha)
	tl.get("metadata").(O).set("labels", labels)
	o := O{
		"kind", "ReplicaSet", "apiVersion", "apps/v1",
		"metadata", meta,
		"spec", O{"replicas", replicas, "selector", O{"matchLabels", sel}, "template", tl},
	}
	if create {
		return append(o, "status", O{"replicas", 0})
	}
	return append(o, "status", O{"replicas", replicas, "fullyLabeledReplicas", replicas, "readyReplicas", ready,
		"availableReplicas", ready, "observedGeneration", 1 + replicas%3})
}

// podCreate is the Pod a ReplicaSet controller sends.
func (w *workload) podCreate(hash, rsUID string) O {
	labels := w.labels()
	labels["pod-template-hash"] = hash
	return O{
		"kind", "Pod", "apiVersion", "v1",
		"metadata", O{
			"generateName", w.name + "-" + hash + "-",
			"namespace", w.ns,
			"creationTimestamp", nil,
			"labels", labels,
			"annotations", M{"ci.corp.example/commit": w.sha},
			"ownerReferences", A{O{"apiVersion", "apps/v1", "kind", "ReplicaSet", "name", w.name + "-" + hash,
				"uid", rsUID, "controller", true, "blockOwnerDeletion", true}},
		},
		"spec", w.podSpec(w.tag, "", false),
		"status", O{},
	}
}

func binding(p *pod) O {
	return O{
		"kind", "Binding", "apiVersion", "v1",
		"metadata", O{"name", p.name, "namespace", p.w.ns, "uid", p.uid, "creationTimestamp", nil},
		"target", O{"kind", "Node", "name", p.node.name},
	}
}

// podStatusPatch is the patch a kubelet sends as a pod starts (ready=false)
// or becomes ready.
func podStatusPatch(p *pod, containerID, imageID string, started, at time.Time, ready bool) O {
	st := "False"
	if ready {
		st = "True"
	}
	conds := A{
		O{"lastTransitionTime", at, "status", st, "type", "Ready"},
		O{"lastTransitionTime", at, "status", st, "type", "ContainersReady"},
	}
	cs := O{
		"containerID", "containerd://" + containerID,
		"image", p.w.image + ":" + p.w.tag,
		"imageID", p.w.image + "@sha256:" + imageID,
		"lastState", O{},
		"name", p.w.name,
		"ready", ready,
		"restartCount", 0,
		"started", true,
		"state", O{"running", O{"startedAt", started.Truncate(time.Second)}},
		"volumeMounts", A{O{"mountPath", "/var/run/secrets/kubernetes.io/serviceaccount", "name", "kube-api-access-" + p.hash[:5],
			"readOnly", true, "recursiveReadOnly", "Disabled"}},
	}
	status := O{
		"$setElementOrder/conditions", A{O{"type", "PodReadyToStartContainers"}, O{"type", "Initialized"},
			O{"type", "Ready"}, O{"type", "ContainersReady"}, O{"type", "PodScheduled"}},
		"conditions", conds,
		"containerStatuses", A{cs},
	}
	if !ready {
		status = append(status,
			"hostIP", p.node.ip, "hostIPs", A{O{"ip", p.node.ip}},
			"phase", "Running", "podIP", p.ip, "podIPs", A{O{"ip", p.ip}},
			"startTime", p.start)
	}
	return O{"metadata", O{"uid", p.uid}, "status", status}
}

// coreEvent is a core/v1 Event as the kubelet and the controllers send it.
func coreEvent(ns, kind, name, uid, apiVersion, rv, fieldPath, reason, msg, component, host, typ string, at time.Time) O {
	inv := O{"kind", kind, "namespace", ns, "name", name, "uid", uid, "apiVersion", apiVersion, "resourceVersion", rv}
	if fieldPath != "" {
		inv = append(inv, "fieldPath", fieldPath)
	}
	if ns == "" {
		inv = O{"kind", kind, "name", name, "uid", uid}
		ns = "default"
	}
	src := O{"component", component}
	if host != "" {
		src = append(src, "host", host)
	}
	inst := host
	if inst == "" {
		inst = component
	}
	return O{
		"kind", "Event", "apiVersion", "v1",
		"metadata", O{"name", fmt.Sprintf("%s.%x", name, at.UnixNano()), "namespace", ns, "creationTimestamp", nil},
		"involvedObject", inv,
		"reason", reason,
		"message", msg,
		"source", src,
		"firstTimestamp", at, "lastTimestamp", at,
		"count", 1,
		"type", typ,
		"eventTime", nil,
		"reportingComponent", component,
		"reportingInstance", inst,
	}
}

// scheduledEvent is the events.k8s.io/v1 Event the scheduler sends.
func scheduledEvent(p *pod, at time.Time) O {
	return O{
		"kind", "Event", "apiVersion", "events.k8s.io/v1",
		"metadata", O{"name", fmt.Sprintf("%s.%x", p.name, at.UnixNano()), "namespace", p.w.ns, "creationTimestamp", nil},
		"eventTime", micro(at),
		"reportingController", "default-scheduler",
		"reportingInstance", "default-scheduler-kube-scheduler-6c9f7d8b5-q2w4r",
		"action", "Binding",
		"reason", "Scheduled",
		"regarding", O{"kind", "Pod", "namespace", p.w.ns, "name", p.name, "uid", p.uid, "apiVersion", "v1"},
		"note", fmt.Sprintf("Successfully assigned %s/%s to %s", p.w.ns, p.name, p.node.name),
		"type", "Normal",
		"deprecatedSource", O{},
		"deprecatedFirstTimestamp", nil,
		"deprecatedLastTimestamp", nil,
	}
}

// endpointSlice is the EndpointSlice of w's Service with pods as endpoints.
func (w *workload) endpointSlice(pods []*pod, rv string, ready func(*pod) bool) O {
	eps := A{}
	for _, p := range pods {
		r := ready(p)
		eps = append(eps, O{
			"addresses", A{p.ip},
			"conditions", O{"ready", r, "serving", r, "terminating", false},
			"targetRef", O{"kind", "Pod", "namespace", w.ns, "name", p.name, "uid", p.uid},
			"nodeName", p.node.name,
			"zone", "westeurope-" + strconv.Itoa(1+p.node.idx%3),
		})
	}
	portName := "http"
	if w.port == 8443 {
		portName = "https"
	}
	return O{
		"kind", "EndpointSlice", "apiVersion", "discovery.k8s.io/v1",
		"metadata", O{
			"name", w.sliceName, "generateName", w.name + "-", "namespace", w.ns,
			"uid", w.sliceUID, "resourceVersion", rv, "generation", 40 + len(rv)%17,
			"creationTimestamp", w.created,
			"labels", M{"endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
				"kubernetes.io/service-name": w.name, "app.kubernetes.io/name": w.name},
			"ownerReferences", A{O{"apiVersion", "v1", "kind", "Service", "name", w.name, "uid", w.svcUID,
				"controller", true, "blockOwnerDeletion", true}},
		},
		"addressType", "IPv4",
		"endpoints", eps,
		"ports", A{O{"name", portName, "protocol", "TCP", "port", w.port}},
	}
}

func lease(ns, name, uid, rv, holder string, seconds int, acquired, renewed time.Time, transitions int, owner *node, created time.Time) O {
	meta := O{"name", name, "namespace", ns}
	if uid != "" {
		meta = append(meta, "uid", uid, "resourceVersion", rv, "creationTimestamp", created)
	} else {
		meta = append(meta, "creationTimestamp", nil)
	}
	if owner != nil {
		meta = append(meta, "ownerReferences", A{O{"apiVersion", "v1", "kind", "Node", "name", owner.name, "uid", owner.uid}})
	}
	spec := O{"holderIdentity", holder, "leaseDurationSeconds", seconds}
	if !acquired.IsZero() {
		spec = append(spec, "acquireTime", micro(acquired))
	}
	spec = append(spec, "renewTime", micro(renewed))
	if transitions > 0 {
		spec = append(spec, "leaseTransitions", transitions)
	}
	return O{"kind", "Lease", "apiVersion", "coordination.k8s.io/v1", "metadata", meta, "spec", spec}
}

func deleteOptions(apiVersion string, extra ...any) O {
	return append(O{"kind", "DeleteOptions", "apiVersion", apiVersion}, extra...)
}

func statusSuccess(name, group, kind, uid string) O {
	d := O{"name", name}
	if group != "" {
		d = append(d, "group", group)
	}
	d = append(d, "kind", kind, "uid", uid)
	return O{"kind", "Status", "apiVersion", "v1", "metadata", O{}, "status", "Success", "details", d}
}

// fakeCSR returns a base64-encoded PEM certificate request. The DER inside
// is random: it has the shape of a CSR, not the content of one.
func fakeCSR(r rng, n int) string {
	body := "MIIB" + r.b64(n-4)
	var sb strings.Builder
	sb.WriteString("-----BEGIN CERTIFICATE REQUEST-----\n")
	for i := 0; i < len(body); i += 64 {
		sb.WriteString(body[i:min(i+64, len(body))])
		sb.WriteByte('\n')
	}
	sb.WriteString("-----END CERTIFICATE REQUEST-----\n")
	return base64.StdEncoding.EncodeToString([]byte(sb.String()))
}

// secretData is the base64 of a value that cannot be mistaken for a real
// credential or card number.
func secretData(r rng, label string) string {
	return base64.StdEncoding.EncodeToString([]byte("demo-only-" + label + "-" + r.hex(24)))
}

var cdeSecretKeys = map[string][]string{
	"card-encryption-key": {"key-id", "key.bin"},
	"db-credentials":      {"password", "username"},
}
