package deploy_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cdewatch/cdewatch/internal/config"
	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsyaml "sigs.k8s.io/yaml"
)

// render renders and decodes one variant, failing the test on any error.
func render(tb testing.TB, v variant) *bundle {
	tb.Helper()
	docs, err := v.render(tb)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := decodeAll(v.name, docs)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// variantNamed returns the variant called name.
func variantNamed(tb testing.TB, name string) variant {
	tb.Helper()
	for _, v := range variants() {
		if v.name == name {
			return v
		}
	}
	tb.Fatalf("no variant %q", name)
	return variant{}
}

// TestVariants renders every kustomize build and chart variant, decodes
// every object strictly into the Kubernetes API types and runs every check.
func TestVariants(t *testing.T) {
	for _, v := range variants() {
		t.Run(v.name, func(t *testing.T) {
			b := render(t, v)
			for _, err := range runChecks(b) {
				t.Error(err)
			}
		})
	}
}

// TestOverlaysWireTheirInputs checks what each overlay is for: AKS reads
// Event Hubs from an Azure Disk volume, self-managed takes the webhook at a
// fixed address and syslog over TLS.
func TestOverlaysWireTheirInputs(t *testing.T) {
	tests := []struct {
		variants []string
		check    func(*bundle, *server) error
	}{
		{[]string{"kustomize/overlays/aks", "helm/ci/aks-values.yaml"}, func(b *bundle, s *server) error {
			if len(s.cfg.Kafka) != 1 || s.cfg.Kafka[0].EventHubsConnectionStringFile == "" || s.cfg.Kafka[0].Format != "azure" {
				return fmt.Errorf("want one Kafka input reading Event Hubs (format azure), have %+v", s.cfg.Kafka)
			}
			sc := s.sts.Spec.VolumeClaimTemplates[0].Spec.StorageClassName
			if sc == nil || len(b.storageClasses) != 1 || b.storageClasses[0].Name != *sc || b.storageClasses[0].Provisioner != "disk.csi.azure.com" {
				return fmt.Errorf("the data volume must use the shipped Azure Disk StorageClass")
			}
			return nil
		}},
		{[]string{"kustomize/overlays/self-managed", "helm/ci/self-managed-values.yaml"}, func(b *bundle, s *server) error {
			if s.cfg.TLS.Cert == "" {
				return fmt.Errorf("kube-apiserver sends its token only over https: TLS must be on")
			}
			if len(s.cfg.Syslog) != 1 || s.cfg.Syslog[0].Network != "tls" || s.cfg.Syslog[0].ClientCAFile == "" {
				return fmt.Errorf("want one syslog listener over TLS with client certificates, have %+v", s.cfg.Syslog)
			}
			for _, svc := range b.services {
				if svc.Name == "cdewatch" && svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone {
					return nil
				}
			}
			return fmt.Errorf("Service cdewatch needs a fixed clusterIP for kube-apiserver's webhook kubeconfig")
		}},
	}
	for _, tt := range tests {
		for _, name := range tt.variants {
			t.Run(name, func(t *testing.T) {
				b := render(t, variantNamed(t, name))
				s, err := b.server()
				if err != nil {
					t.Fatal(err)
				}
				if err := tt.check(b, s); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

// TestStrictDecoding shows that the decoder refuses what the API server
// would silently drop or reject.
func TestStrictDecoding(t *testing.T) {
	tests := []struct {
		name, doc string
		wantErr   bool
	}{
		{"valid", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\n", false},
		{"unknown field", "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: x}\nspec: {replica: 1}\n", true},
		{"misspelt nested field", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers:\n    - name: c\n      securityContext: {readOnlyRootFileSystem: true}\n", true},
		{"duplicate field", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x}\nautomountServiceAccountToken: false\nautomountServiceAccountToken: true\n", true},
		{"unknown kind", "apiVersion: example.com/v1\nkind: Frobnicator\nmetadata: {name: x}\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := decoder().Decode([]byte(tt.doc), nil, nil)
			if (err != nil) != tt.wantErr {
				t.Errorf("Decode error = %v, want error: %v", err, tt.wantErr)
			}
		})
	}
}

// TestChecksCatchMistakes breaks a correct deployment in one place at a
// time and expects the checks to name the mistake: each check can fail.
func TestChecksCatchMistakes(t *testing.T) {
	const sm, aks = "kustomize/overlays/self-managed", "kustomize/overlays/aks"
	ctr := func(b *bundle) *corev1.Container { return &b.statefulSets[0].Spec.Template.Spec.Containers[0] }
	pod := func(b *bundle) *corev1.PodSpec { return &b.statefulSets[0].Spec.Template.Spec }
	volume := func(b *bundle, name string) *corev1.Volume {
		for i, v := range pod(b).Volumes {
			if v.Name == name {
				return &pod(b).Volumes[i]
			}
		}
		panic("no volume " + name)
	}
	editConfig := func(old, new string) func(*bundle) {
		return func(b *bundle) {
			for _, cm := range b.configMaps {
				if c, ok := cm.Data["cdewatch.yaml"]; ok {
					if !strings.Contains(c, old) {
						panic(fmt.Sprintf("configuration has no %q", old))
					}
					cm.Data["cdewatch.yaml"] = strings.Replace(c, old, new, 1)
				}
			}
		}
	}
	ptr := func(b bool) *bool { return &b }
	tests := []struct {
		name, variant string
		mutate        func(*bundle)
		want          string
	}{
		{"privileged container", sm, func(b *bundle) { ctr(b).SecurityContext.Privileged = ptr(true) }, "privileged"},
		{"writable root file system", sm, func(b *bundle) { ctr(b).SecurityContext.ReadOnlyRootFilesystem = ptr(false) }, "readOnlyRootFilesystem must be true"},
		{"privilege escalation", sm, func(b *bundle) { ctr(b).SecurityContext.AllowPrivilegeEscalation = nil }, "allowPrivilegeEscalation must be false"},
		{"capability added", sm, func(b *bundle) { ctr(b).SecurityContext.Capabilities.Add = []corev1.Capability{"NET_ADMIN"} }, "capabilities must drop ALL"},
		{"root user", sm, func(b *bundle) { var root int64; pod(b).SecurityContext.RunAsUser = &root }, "runAsUser"},
		{"no seccomp profile", sm, func(b *bundle) {
			pod(b).SecurityContext.SeccompProfile = nil
			ctr(b).SecurityContext.SeccompProfile = nil
		}, "seccompProfile"},
		{"host path", sm, func(b *bundle) {
			pod(b).Volumes = append(pod(b).Volumes, corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log"}}})
		}, "hostPath"},
		{"secret in the environment", sm, func(b *bundle) {
			ctr(b).Env = append(ctr(b).Env, corev1.EnvVar{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}}})
		}, "comes from a Secret"},
		{"token mounted", sm, func(b *bundle) { b.serviceAccounts[0].AutomountServiceAccountToken = ptr(true) }, "automountServiceAccountToken must be false"},
		{"two replicas", sm, func(b *bundle) { n := int32(2); b.statefulSets[0].Spec.Replicas = &n }, "replicas must be set to 1"},
		{"claims deleted with the StatefulSet", sm, func(b *bundle) { b.statefulSets[0].Spec.PersistentVolumeClaimRetentionPolicy = nil }, "persistentVolumeClaimRetentionPolicy"},
		{"short grace period", sm, func(b *bundle) { g := int64(5); pod(b).TerminationGracePeriodSeconds = &g }, "terminationGracePeriodSeconds"},
		{"readiness on /healthz", sm, func(b *bundle) { ctr(b).ReadinessProbe.HTTPGet.Path = "/healthz" }, `readinessProbe: path "/healthz"`},
		{"liveness on the syslog port", sm, func(b *bundle) { ctr(b).LivenessProbe.HTTPGet.Port = intstr.FromString("syslog-tls") }, "livenessProbe: port"},
		{"plain-http probe of a TLS server", sm, func(b *bundle) { ctr(b).StartupProbe.HTTPGet.Scheme = corev1.URISchemeHTTP }, "startupProbe: scheme"},
		{"no memory limit", sm, func(b *bundle) { delete(ctr(b).Resources.Limits, corev1.ResourceMemory) }, "requests and limits of memory"},
		{"DuckDB over the memory limit", sm, editConfig("memory_limit: 1536MB", "memory_limit: 3600MB"), "index.memory_limit"},
		{"stage over the memory limit", sm, editConfig("stage_memory: 768MiB", "stage_memory: 1536MiB"), "twice index.stage_memory"},
		{"redelivery window over the memory limit", sm, editConfig("pci:", "ingest:\n  dedup_max_keys: 40000000\npci:"), "ingest.dedup_max_keys 40000000"},
		{"listen port not the container port", sm, editConfig(`listen: ":8470"`, `listen: ":9000"`), `listen: TCP port 9000`},
		{"invalid configuration", sm, editConfig("pci:", "bogus: 1\npci:"), "not valid cdewatch configuration"},
		{"TLS key outside the mounts", sm, editConfig("/etc/cdewatch/tls/tls.key", "/etc/cdewatch/other/tls.key"), "tls.key /etc/cdewatch/other/tls.key: no volume"},
		{"secret from a ConfigMap", sm, func(b *bundle) {
			v := volume(b, "notifiers")
			v.Secret = nil
			v.ConfigMap = &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cdewatch-config"}}
		}, "is not a Secret"},
		{"required secret optional", sm, func(b *bundle) { volume(b, "notifiers").Secret.Optional = ptr(true) }, "is optional, but the file is read at start"},
		{"world-readable secret", sm, func(b *bundle) { m := int32(0o444); volume(b, "tls").Secret.DefaultMode = &m }, "defaultMode"},
		{"data off the volume", sm, editConfig("data: /var/lib/cdewatch", "data: /tmp/cdewatch"), "volumeClaimTemplate \"data\""},
		{"ingress from anywhere", sm, func(b *bundle) { b.networkPolicies[0].Spec.Ingress[0].From = nil }, "admits every source"},
		{"ingress from the internet", sm, func(b *bundle) {
			b.networkPolicies[0].Spec.Ingress[1].From[0].IPBlock.CIDR = "0.0.0.0/0"
		}, "whole internet"},
		{"no egress policy", sm, func(b *bundle) {
			b.networkPolicies[0].Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
		}, "want Ingress and Egress"},
		{"notifier unreachable", sm, func(b *bundle) {
			e := b.networkPolicies[0].Spec.Egress
			b.networkPolicies[0].Spec.Egress = slices.DeleteFunc(e, func(r networkingv1.NetworkPolicyEgressRule) bool { return r.Ports[0].Port.IntValue() == 443 })
		}, "notifiers[0].url connects to port 443"},
		{"Event Hubs unreachable", aks, func(b *bundle) {
			e := b.networkPolicies[0].Spec.Egress
			b.networkPolicies[0].Spec.Egress = slices.DeleteFunc(e, func(r networkingv1.NetworkPolicyEgressRule) bool { return r.Ports[0].Port.IntValue() == 9093 })
		}, "kafka[0] connects to port 9093"},
		{"syslog port not admitted", sm, func(b *bundle) { b.networkPolicies[0].Spec.Ingress = b.networkPolicies[0].Spec.Ingress[:2] }, "syslog[0]: no ingress rule"},
		{"syslog not in the Service", sm, func(b *bundle) {
			for _, svc := range b.services {
				svc.Spec.Ports = slices.DeleteFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "syslog-tls" })
			}
		}, "syslog[0]: port 6514 is not exposed"},
		{"namespace only baseline", sm, func(b *bundle) { b.namespaces[0].Labels["pod-security.kubernetes.io/enforce"] = "baseline" }, "pod-security.kubernetes.io/enforce"},
		{"object in another namespace", sm, func(b *bundle) { b.serviceAccounts[0].Namespace = "default" }, `is in namespace "default"`},
		{"image not pinned", sm, func(b *bundle) { ctr(b).Image = "registry.example.com/cdewatch/cdewatch:latest" }, "pin a version"},
		{"small volume", sm, func(b *bundle) {
			b.statefulSets[0].Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("1Gi")
		}, "request at least"},
		{"storage class deletes the disk", aks, func(b *bundle) { d := corev1.PersistentVolumeReclaimDelete; b.storageClasses[0].ReclaimPolicy = &d }, "reclaimPolicy must be Retain"},
	}
	// Each mutation starts from a fresh rendering of its variant.
	fresh := map[string]func() *bundle{}
	for _, name := range []string{sm, aks} {
		docs, err := variantNamed(t, name).render(t)
		if err != nil {
			t.Fatal(err)
		}
		if errs := runChecks(mustDecode(t, name, docs)); len(errs) > 0 {
			t.Fatalf("%s does not pass the checks before any change: %v", name, errors.Join(errs...))
		}
		fresh[name] = func() *bundle { return mustDecode(t, name, docs) }
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := fresh[tt.variant]()
			tt.mutate(b)
			errs := runChecks(b)
			if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), tt.want) }) {
				t.Errorf("no check reported %q; got %v", tt.want, errors.Join(errs...))
			}
		})
	}
}

func mustDecode(tb testing.TB, name string, docs [][]byte) *bundle {
	tb.Helper()
	b, err := decodeAll(name, docs)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestHelmMatchesKustomize renders each chart variant and its kustomize
// twin and compares them object by object, after removing what differs by
// design: Helm's bookkeeping labels and annotations, kustomize's
// content-hash suffix of the ConfigMap name, the order of named list items,
// and the formatting of the configuration file (compared as parsed by
// internal/config).
func TestHelmMatchesKustomize(t *testing.T) {
	byTwin := map[string][]variant{}
	for _, v := range variants() {
		byTwin[v.twin] = append(byTwin[v.twin], v)
	}
	for twin, vs := range byTwin {
		if len(vs) != 2 {
			t.Errorf("twin %s has %d variants, want a kustomize build and a chart rendering", twin, len(vs))
			continue
		}
		t.Run(twin, func(t *testing.T) {
			a, b := normalized(t, render(t, vs[0])), normalized(t, render(t, vs[1]))
			for _, k := range sortedKeys(a, b) {
				switch {
				case a[k] == "":
					t.Errorf("%s has %s, %s does not", vs[1].name, k, vs[0].name)
				case b[k] == "":
					t.Errorf("%s has %s, %s does not", vs[0].name, k, vs[1].name)
				case a[k] != b[k]:
					t.Errorf("%s differs (- %s, + %s):\n%s", k, vs[0].name, vs[1].name, lineDiff(a[k], b[k]))
				}
			}
		})
	}
}

var kustomizeHash = regexp.MustCompile(`^(.+)-[a-z0-9]{10}$`)

// normalized returns each object of b as YAML by kind/name, with the
// differences by design removed.
func normalized(tb testing.TB, b *bundle) map[string]string {
	tb.Helper()
	unhash := func(name string) string {
		if m := kustomizeHash.FindStringSubmatch(name); m != nil && strings.HasSuffix(m[1], "-config") {
			return m[1]
		}
		return name
	}
	out := map[string]string{}
	for _, o := range b.objects {
		o = o.DeepCopyObject()
		m, err := metaOf(o)
		if err != nil {
			tb.Fatal(err)
		}
		clean(m.Labels, m.Annotations)
		switch x := o.(type) {
		case *corev1.ConfigMap:
			x.Name = unhash(x.Name)
			for k, v := range x.Data {
				c, err := config.Parse([]byte(v))
				if err != nil {
					tb.Fatalf("ConfigMap %s key %s: %v", x.Name, k, err)
				}
				y, err := yaml.Marshal(c)
				if err != nil {
					tb.Fatal(err)
				}
				x.Data[k] = string(y)
			}
		case *appsv1.StatefulSet:
			t := &x.Spec.Template
			clean(t.Labels, t.Annotations)
			for i := range x.Spec.VolumeClaimTemplates {
				clean(x.Spec.VolumeClaimTemplates[i].Labels, x.Spec.VolumeClaimTemplates[i].Annotations)
			}
			for i := range t.Spec.Volumes {
				if cm := t.Spec.Volumes[i].ConfigMap; cm != nil {
					cm.Name = unhash(cm.Name)
				}
			}
			slices.SortFunc(t.Spec.Volumes, func(a, b corev1.Volume) int { return strings.Compare(a.Name, b.Name) })
			for i := range t.Spec.Containers {
				c := &t.Spec.Containers[i]
				slices.SortFunc(c.Ports, func(a, b corev1.ContainerPort) int { return strings.Compare(a.Name, b.Name) })
				slices.SortFunc(c.VolumeMounts, func(a, b corev1.VolumeMount) int { return strings.Compare(a.MountPath, b.MountPath) })
			}
		case *corev1.Service:
			slices.SortFunc(x.Spec.Ports, func(a, b corev1.ServicePort) int { return strings.Compare(a.Name, b.Name) })
		}
		y, err := sigsyaml.Marshal(o)
		if err != nil {
			tb.Fatal(err)
		}
		out[kindName(o, m.Name)] = string(y)
	}
	return out
}

// clean removes Helm's bookkeeping from labels and annotations.
func clean(labels, annotations map[string]string) {
	for _, k := range []string{"helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/version"} {
		delete(labels, k)
	}
	for _, k := range []string{"helm.sh/resource-policy", "checksum/config"} {
		delete(annotations, k)
	}
}

func kindName(o runtime.Object, name string) string {
	return o.GetObjectKind().GroupVersionKind().Kind + "/" + name
}

func sortedKeys(ms ...map[string]string) []string {
	var keys []string
	for _, m := range ms {
		for k := range m {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	return keys
}

// lineDiff shows the lines of a and b that differ, as a unified diff
// without context would (longest common subsequence).
func lineDiff(a, b string) string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var sb strings.Builder
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			i, j = i+1, j+1
		case j < len(y) && (i == len(x) || lcs[i][j+1] >= lcs[i+1][j]):
			fmt.Fprintf(&sb, "+ %s\n", y[j])
			j++
		default:
			fmt.Fprintf(&sb, "- %s\n", x[i])
			i++
		}
	}
	return sb.String()
}

// TestHelmProbeSchemeFollowsTLS renders the chart with TLS turned off (a
// null value deletes the default) and expects plain-HTTP probes that pass
// every check, so the scheme is derived from the configuration, not fixed.
func TestHelmProbeSchemeFollowsTLS(t *testing.T) {
	values := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(values, []byte("config:\n  tls: null\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	docs, err := helmTemplate(t, chartDir, values)
	if err != nil {
		t.Fatal(err)
	}
	b := mustDecode(t, "helm without TLS", docs)
	for _, err := range runChecks(b) {
		t.Error(err)
	}
	if got := b.statefulSets[0].Spec.Template.Spec.Containers[0].ReadinessProbe.HTTPGet.Scheme; got != corev1.URISchemeHTTP {
		t.Errorf("readiness probe scheme %q without TLS, want HTTP", got)
	}
}
