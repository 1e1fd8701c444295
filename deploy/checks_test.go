package deploy_test

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/cdewatch/cdewatch/internal/config"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
)

// check is one property every variant must have. It returns every
// violation it finds.
type check struct {
	name string
	fn   func(*bundle) []error
}

// checks are run on every kustomize build and chart rendering.
var checks = []check{
	{"namespace enforces restricted pod security", checkNamespace},
	{"service account mounts no token", checkServiceAccount},
	{"one replica with a persistent volume", checkStatefulSet},
	{"pod security", checkPodSecurity},
	{"resources", checkResources},
	{"probes", checkProbes},
	{"configuration files come from mounted Secrets and ConfigMaps", checkConfigFiles},
	{"services expose the listeners", checkServices},
	{"network policy", checkNetworkPolicy},
	{"storage", checkStorage},
	{"image", checkImage},
}

// runChecks runs every check on b and returns the violations, each
// prefixed with its check's name.
func runChecks(b *bundle) []error {
	var out []error
	for _, c := range checks {
		for _, err := range c.fn(b) {
			out = append(out, fmt.Errorf("%s: %w", c.name, err))
		}
	}
	return out
}

// withServer runs fn on b's cdewatch server, or reports why there is none.
func withServer(b *bundle, fn func(*server) []error) []error {
	s, err := b.server()
	if err != nil {
		return []error{err}
	}
	return fn(s)
}

func checkNamespace(b *bundle) []error {
	if len(b.namespaces) != 1 {
		return []error{fmt.Errorf("want one Namespace, have %d", len(b.namespaces))}
	}
	ns := b.namespaces[0]
	var errs []error
	for _, mode := range []string{"enforce", "audit", "warn"} {
		k := "pod-security.kubernetes.io/" + mode
		if v := ns.Labels[k]; v != string(psaapi.LevelRestricted) {
			errs = append(errs, fmt.Errorf("Namespace %s: label %s=%q, want restricted", ns.Name, k, v))
		}
	}
	for _, o := range b.objects {
		m, err := metaOf(o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		switch o.GetObjectKind().GroupVersionKind().Kind {
		case "Namespace", "StorageClass":
			continue
		}
		if m.Namespace != ns.Name {
			errs = append(errs, fmt.Errorf("%s %s is in namespace %q, want %q", o.GetObjectKind().GroupVersionKind().Kind, m.Name, m.Namespace, ns.Name))
		}
	}
	return errs
}

func checkServiceAccount(b *bundle) []error {
	return withServer(b, func(s *server) []error {
		var errs []error
		if s.pod.ServiceAccountName == "" {
			errs = append(errs, fmt.Errorf("the pod names no service account (it would get the namespace's default)"))
		}
		found := false
		for _, sa := range b.serviceAccounts {
			if sa.Name != s.pod.ServiceAccountName {
				continue
			}
			found = true
			if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
				errs = append(errs, fmt.Errorf("ServiceAccount %s: automountServiceAccountToken must be false (cdewatch calls no Kubernetes API)", sa.Name))
			}
		}
		if !found {
			errs = append(errs, fmt.Errorf("ServiceAccount %q of the pod is not among the objects", s.pod.ServiceAccountName))
		}
		if s.pod.AutomountServiceAccountToken == nil || *s.pod.AutomountServiceAccountToken {
			errs = append(errs, fmt.Errorf("pod: automountServiceAccountToken must be false"))
		}
		for _, v := range s.pod.Volumes {
			if v.Projected != nil {
				for _, src := range v.Projected.Sources {
					if src.ServiceAccountToken != nil {
						errs = append(errs, fmt.Errorf("volume %s projects a service account token", v.Name))
					}
				}
			}
		}
		return errs
	})
}

func checkStatefulSet(b *bundle) []error {
	return withServer(b, func(s *server) []error {
		var errs []error
		sts := s.sts
		if sts.Spec.Replicas == nil || *sts.Spec.Replicas != 1 {
			errs = append(errs, fmt.Errorf("StatefulSet %s: replicas must be set to 1: the ledger is locked by one process per data directory", sts.Name))
		}
		if sts.Spec.PodManagementPolicy != appsv1.OrderedReadyPodManagement {
			errs = append(errs, fmt.Errorf("StatefulSet %s: podManagementPolicy %q, want OrderedReady", sts.Name, sts.Spec.PodManagementPolicy))
		}
		if p := sts.Spec.PersistentVolumeClaimRetentionPolicy; p == nil ||
			p.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType || p.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
			errs = append(errs, fmt.Errorf("StatefulSet %s: persistentVolumeClaimRetentionPolicy must retain the ledger's claim when deleted and scaled", sts.Name))
		}
		sel, err := metav1.LabelSelectorAsSelector(sts.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(sts.Spec.Template.Labels)) {
			errs = append(errs, fmt.Errorf("StatefulSet %s: selector %v does not select its pod template's labels %v", sts.Name, sts.Spec.Selector, sts.Spec.Template.Labels))
		}
		headless := false
		for _, svc := range b.services {
			if svc.Name == sts.Spec.ServiceName && svc.Spec.ClusterIP == corev1.ClusterIPNone {
				headless = true
			}
		}
		if !headless {
			errs = append(errs, fmt.Errorf("StatefulSet %s: serviceName %q must name a headless Service among the objects", sts.Name, sts.Spec.ServiceName))
		}
		if g := s.pod.TerminationGracePeriodSeconds; g == nil || *g < 30 {
			errs = append(errs, fmt.Errorf("terminationGracePeriodSeconds must be at least 30: serve takes up to 15s to stop the HTTP server, then drains and fsyncs"))
		}
		return errs
	})
}

// checkPodSecurity runs the Pod Security Admission library's restricted
// checks (the real admission code) and the stricter rules of this
// deployment on top.
func checkPodSecurity(b *bundle) []error {
	return withServer(b, func(s *server) []error {
		var errs []error
		ev, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
		if err != nil {
			return []error{err}
		}
		lv := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
		for _, r := range ev.EvaluatePod(lv, &s.sts.Spec.Template.ObjectMeta, s.pod) {
			if !r.Allowed {
				errs = append(errs, fmt.Errorf("restricted Pod Security refuses the pod: %s: %s", r.ForbiddenReason, r.ForbiddenDetail))
			}
		}
		psc := s.pod.SecurityContext
		if psc == nil {
			return append(errs, fmt.Errorf("pod has no securityContext"))
		}
		if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
			errs = append(errs, fmt.Errorf("pod securityContext: runAsNonRoot must be true"))
		}
		if psc.RunAsUser == nil || *psc.RunAsUser == 0 {
			errs = append(errs, fmt.Errorf("pod securityContext: runAsUser must be a non-zero UID"))
		}
		if psc.FSGroup == nil || *psc.FSGroup == 0 {
			errs = append(errs, fmt.Errorf("pod securityContext: fsGroup must be set (the data volume and Secret files are group-owned by it)"))
		}
		if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			errs = append(errs, fmt.Errorf("pod securityContext: seccompProfile must be RuntimeDefault"))
		}
		if s.pod.HostNetwork || s.pod.HostPID || s.pod.HostIPC {
			errs = append(errs, fmt.Errorf("pod shares a host namespace"))
		}
		for _, v := range s.pod.Volumes {
			if v.HostPath != nil {
				errs = append(errs, fmt.Errorf("volume %s is a hostPath", v.Name))
			}
		}
		all := slices.Concat(s.pod.InitContainers, s.pod.Containers)
		for _, c := range all {
			sc := c.SecurityContext
			if sc == nil {
				errs = append(errs, fmt.Errorf("container %s has no securityContext", c.Name))
				continue
			}
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				errs = append(errs, fmt.Errorf("container %s: readOnlyRootFilesystem must be true", c.Name))
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				errs = append(errs, fmt.Errorf("container %s: allowPrivilegeEscalation must be false", c.Name))
			}
			if sc.Privileged != nil && *sc.Privileged {
				errs = append(errs, fmt.Errorf("container %s: privileged", c.Name))
			}
			if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
				errs = append(errs, fmt.Errorf("container %s: capabilities must drop ALL and add none", c.Name))
			}
			if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
				errs = append(errs, fmt.Errorf("container %s: runAsUser 0", c.Name))
			}
			for _, p := range c.Ports {
				if p.HostPort != 0 {
					errs = append(errs, fmt.Errorf("container %s: hostPort %d", c.Name, p.HostPort))
				}
			}
			// Secrets are files, never environment values (which leak into
			// crash dumps, /proc and child processes).
			if len(c.EnvFrom) > 0 {
				errs = append(errs, fmt.Errorf("container %s: envFrom: secrets and settings are mounted files", c.Name))
			}
			for _, e := range c.Env {
				if e.ValueFrom != nil && (e.ValueFrom.SecretKeyRef != nil || e.ValueFrom.ConfigMapKeyRef != nil) {
					errs = append(errs, fmt.Errorf("container %s: env %s comes from a Secret or ConfigMap: mount it as a file", c.Name, e.Name))
				}
			}
		}
		return errs
	})
}

func checkResources(b *bundle) []error {
	return withServer(b, func(s *server) []error {
		var errs []error
		for _, c := range slices.Concat(s.pod.InitContainers, s.pod.Containers) {
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				req, hasReq := c.Resources.Requests[r]
				lim, hasLim := c.Resources.Limits[r]
				if !hasReq || !hasLim {
					errs = append(errs, fmt.Errorf("container %s: set both requests and limits of %s", c.Name, r))
					continue
				}
				if req.Cmp(lim) > 0 {
					errs = append(errs, fmt.Errorf("container %s: %s request %s above limit %s", c.Name, r, req.String(), lim.String()))
				}
			}
		}
		// DuckDB's memory cap must leave room for the Go heap and buffers.
		if s.cfg.Index.Enabled {
			lim := s.container.Resources.Limits[corev1.ResourceMemory]
			if err := memoryBudget(s.cfg, lim.Value(), lim.String()); err != nil {
				errs = append(errs, err)
			}
		}
		return errs
	})
}

// memoryBudget checks that DuckDB's memory cap (index.memory_limit) and
// what Go's heap holds (the index's stage and the redelivery window, each
// about twice over: Go's heap grows to twice what it holds) fit in a memory
// limit of limit bytes (shown as shown).
func memoryBudget(cfg *config.Config, limit int64, shown string) error {
	if cfg.Index.MemoryLimit == "" {
		return fmt.Errorf("index.memory_limit is empty: DuckDB would take 80%% of the node's memory, not of the memory limit %s", shown)
	}
	n, err := duckdbBytes(cfg.Index.MemoryLimit)
	switch stage, dedup := int64(cfg.Index.StageMemory), dedupKeyBytes*int64(cfg.Ingest.DedupMaxKeys); {
	case err != nil:
		return fmt.Errorf("index.memory_limit: %w", err)
	case n*10 > limit*8:
		return fmt.Errorf("index.memory_limit %s must stay under 80%% of the memory limit %s", cfg.Index.MemoryLimit, shown)
	case (n+2*(stage+dedup))*10 > limit*9:
		return fmt.Errorf("index.memory_limit %s plus twice index.stage_memory %v and the redelivery window (ingest.dedup_max_keys %d, %d MB) must stay under 90%% of the memory limit %s",
			cfg.Index.MemoryLimit, cfg.Index.StageMemory, cfg.Ingest.DedupMaxKeys, dedup/1e6, shown)
	}
	return nil
}

// dedupKeyBytes is the heap the redelivery window holds per key of
// ingest.dedup_max_keys at its bound (BenchmarkDedup: 303 MB for 10 million).
const dedupKeyBytes = 32

// duckdbBytes reads a DuckDB memory size such as "1536MB" or "4GiB"
// (KB, MB, GB, TB are powers of 1000; KiB, MiB, GiB, TiB of 1024).
func duckdbBytes(v string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	t := strings.TrimSpace(v)
	for _, u := range units {
		if num, ok := strings.CutSuffix(t, u.suffix); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
			if err != nil || f <= 0 {
				break
			}
			return int64(f * float64(u.mult)), nil
		}
	}
	return 0, fmt.Errorf("%q: want a size such as 1536MB or 2GiB", v)
}

// portOf resolves a probe's or Service's target port to the container port.
func portOf(c *corev1.Container, p intstr.IntOrString) (corev1.ContainerPort, bool) {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp, true
		}
	}
	return corev1.ContainerPort{}, false
}

func checkProbes(b *bundle) []error {
	return withServer(b, func(s *server) []error {
		var errs []error
		scheme := corev1.URISchemeHTTP
		if s.cfg.TLS.Cert != "" {
			scheme = corev1.URISchemeHTTPS
		}
		for _, p := range []struct {
			kind  string
			probe *corev1.Probe
			path  string
		}{
			{"startupProbe", s.container.StartupProbe, "/healthz"},
			{"livenessProbe", s.container.LivenessProbe, "/healthz"},
			{"readinessProbe", s.container.ReadinessProbe, "/readyz"},
		} {
			if p.probe == nil || p.probe.HTTPGet == nil {
				errs = append(errs, fmt.Errorf("%s: want an httpGet probe of %s", p.kind, p.path))
				continue
			}
			g := p.probe.HTTPGet
			if g.Path != p.path {
				errs = append(errs, fmt.Errorf("%s: path %q, want %q", p.kind, g.Path, p.path))
			}
			cp, ok := portOf(s.container, g.Port)
			if !ok || cp.ContainerPort != s.apiPort {
				errs = append(errs, fmt.Errorf("%s: port %s is not the container port of listen %q (%d)", p.kind, g.Port.String(), s.cfg.Listen, s.apiPort))
			}
			if g.Scheme != scheme {
				errs = append(errs, fmt.Errorf("%s: scheme %q, want %q (tls.cert set: %v)", p.kind, g.Scheme, scheme, s.cfg.TLS.Cert != ""))
			}
			if p.probe.TimeoutSeconds < 2 {
				errs = append(errs, fmt.Errorf("%s: timeoutSeconds %d: allow a busy server at least 2s", p.kind, p.probe.TimeoutSeconds))
			}
		}
		if sp := s.container.StartupProbe; sp != nil && sp.PeriodSeconds*sp.FailureThreshold < 300 {
			errs = append(errs, fmt.Errorf("startupProbe allows %ds: opening a large ledger can take minutes; allow at least 300s", sp.PeriodSeconds*sp.FailureThreshold))
		}
		return errs
	})
}

func checkConfigFiles(b *bundle) []error {
	return withServer(b, func(s *server) []error {
		var errs []error
		// The data directory is the persistent volume.
		m := s.mountContaining(s.cfg.Data)
		if m == nil || m.Name != "data" || m.ReadOnly {
			errs = append(errs, fmt.Errorf("data %q is not where the volumeClaimTemplate \"data\" is mounted read-write", s.cfg.Data))
		}
		if d := s.cfg.Archive.RestoreTestDir; d != "" {
			if m := s.mountContaining(d); m == nil || m.Name != "data" {
				errs = append(errs, fmt.Errorf("archive.restore_test_dir %s must be on the data volume (the root file system is read-only)", d))
			}
		}
		if len(s.cfg.AuditFiles) > 0 {
			errs = append(errs, fmt.Errorf("audit_files reads host files, which restricted Pod Security forbids in a pod; use the webhook or Kafka"))
		}
		if s.cfg.Detect.RulesDir != "" || s.cfg.Detect.SigmaDir != "" {
			for _, d := range []string{s.cfg.Detect.RulesDir, s.cfg.Detect.SigmaDir} {
				if d == "" {
					continue
				}
				if m, v := s.mountFor(path.Join(d, "x")); m == nil || v == nil || v.ConfigMap == nil {
					errs = append(errs, fmt.Errorf("rules directory %s is not a mounted ConfigMap", d))
				}
			}
		}
		for _, f := range files(s.cfg) {
			m, v := s.mountFor(f.path)
			switch {
			case m == nil || v == nil:
				errs = append(errs, fmt.Errorf("%s %s: no volume is mounted at %s", f.key, f.path, path.Dir(f.path)))
				continue
			case f.secret && v.Secret == nil:
				errs = append(errs, fmt.Errorf("%s %s holds a secret but volume %s is not a Secret", f.key, f.path, v.Name))
				continue
			case v.Secret == nil && v.ConfigMap == nil:
				errs = append(errs, fmt.Errorf("%s %s: volume %s is neither a Secret nor a ConfigMap", f.key, f.path, v.Name))
				continue
			}
			if !m.ReadOnly {
				errs = append(errs, fmt.Errorf("%s: mount %s must be readOnly", f.key, m.MountPath))
			}
			if sv := v.Secret; sv != nil {
				// cdewatch reads these files at start: a missing Secret must
				// keep the pod from starting, with the reason in its events.
				if sv.Optional != nil && *sv.Optional {
					errs = append(errs, fmt.Errorf("%s %s: Secret volume %s is optional, but the file is read at start", f.key, f.path, v.Name))
				}
				mode := int32(0o644)
				if sv.DefaultMode != nil {
					mode = *sv.DefaultMode
				}
				if mode&0o007 != 0 || mode&0o040 == 0 {
					errs = append(errs, fmt.Errorf("Secret volume %s: defaultMode %#o, want group-readable (fsGroup) and nothing for others, e.g. 0440", v.Name, mode))
				}
			}
		}
		// Every Secret volume, used or not, keeps its files from others.
		for _, v := range s.pod.Volumes {
			if v.Secret == nil {
				continue
			}
			if v.Secret.DefaultMode == nil || *v.Secret.DefaultMode&0o007 != 0 {
				errs = append(errs, fmt.Errorf("Secret volume %s: set defaultMode without world bits, e.g. 0440", v.Name))
			}
		}
		return errs
	})
}

// exposed reports whether a non-headless Service of b selects the pod and
// forwards to the container port cp.
func exposed(b *bundle, s *server, cp corev1.ContainerPort) bool {
	for _, svc := range b.services {
		if svc.Spec.ClusterIP == corev1.ClusterIPNone || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(s.sts.Spec.Template.Labels)) {
			continue
		}
		for _, sp := range svc.Spec.Ports {
			if got, ok := portOf(s.container, sp.TargetPort); ok && got.ContainerPort == cp.ContainerPort && sp.Protocol == cp.Protocol {
				return true
			}
		}
	}
	return false
}

func checkServices(b *bundle) []error {
	return withServer(b, func(s *server) []error {
		var errs []error
		for _, svc := range b.services {
			if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(s.sts.Spec.Template.Labels)) {
				errs = append(errs, fmt.Errorf("Service %s: selector %v does not select the cdewatch pod", svc.Name, svc.Spec.Selector))
			}
			for _, sp := range svc.Spec.Ports {
				cp, ok := portOf(s.container, sp.TargetPort)
				if !ok {
					errs = append(errs, fmt.Errorf("Service %s port %s: targetPort %s is no container port", svc.Name, sp.Name, sp.TargetPort.String()))
				} else if cp.Protocol != sp.Protocol {
					errs = append(errs, fmt.Errorf("Service %s port %s: protocol %s, container port %s", svc.Name, sp.Name, sp.Protocol, cp.Protocol))
				}
			}
		}
		want := []listener{{"listen", s.apiPort, corev1.ProtocolTCP}}
		ls, err := listeners(s.cfg)
		if err != nil {
			return append(errs, err)
		}
		for _, l := range append(want, ls...) {
			cp, ok := portOf(s.container, intstr.FromInt32(l.port))
			switch {
			case !ok || cp.Protocol != l.protocol:
				errs = append(errs, fmt.Errorf("%s: %s port %d is not a container port", l.key, l.protocol, l.port))
			case !exposed(b, s, cp):
				errs = append(errs, fmt.Errorf("%s: port %d is not exposed by a Service", l.key, l.port))
			}
		}
		return errs
	})
}

// allowsIn reports whether an ingress rule admits traffic to cp.
func allowsIn(s *server, r networkingv1.NetworkPolicyIngressRule, cp corev1.ContainerPort) bool {
	for _, p := range r.Ports {
		if p.Port == nil {
			continue
		}
		got, ok := portOf(s.container, *p.Port)
		proto := corev1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		if ok && got.ContainerPort == cp.ContainerPort && proto == cp.Protocol {
			return true
		}
	}
	return false
}

func checkNetworkPolicy(b *bundle) []error {
	return withServer(b, func(s *server) []error {
		var errs []error
		var np *networkingv1.NetworkPolicy
		for _, p := range b.networkPolicies {
			sel, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector)
			if err == nil && !sel.Empty() && sel.Matches(labels.Set(s.sts.Spec.Template.Labels)) {
				if np != nil {
					errs = append(errs, fmt.Errorf("NetworkPolicies %s and %s both select the pod: keep one", np.Name, p.Name))
				}
				np = p
			}
		}
		if np == nil {
			return append(errs, fmt.Errorf("no NetworkPolicy selects the cdewatch pod"))
		}
		if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
			errs = append(errs, fmt.Errorf("NetworkPolicy %s: policyTypes %v, want Ingress and Egress", np.Name, np.Spec.PolicyTypes))
		}
		for i, r := range np.Spec.Ingress {
			if len(r.From) == 0 {
				errs = append(errs, fmt.Errorf("ingress[%d] admits every source: name them (namespaceSelector, podSelector, ipBlock)", i))
			}
			if len(r.Ports) == 0 {
				errs = append(errs, fmt.Errorf("ingress[%d] admits every port: name the ports", i))
			}
			for _, f := range r.From {
				if f.IPBlock != nil && (f.IPBlock.CIDR == "0.0.0.0/0" || f.IPBlock.CIDR == "::/0") {
					errs = append(errs, fmt.Errorf("ingress[%d] admits the whole internet (%s)", i, f.IPBlock.CIDR))
				}
				if f.NamespaceSelector != nil && len(f.NamespaceSelector.MatchLabels) == 0 && len(f.NamespaceSelector.MatchExpressions) == 0 {
					errs = append(errs, fmt.Errorf("ingress[%d] admits every namespace: select them by label", i))
				}
			}
			for _, p := range r.Ports {
				if p.Port == nil {
					errs = append(errs, fmt.Errorf("ingress[%d]: a port entry without a port admits them all", i))
				} else if _, ok := portOf(s.container, *p.Port); !ok {
					errs = append(errs, fmt.Errorf("ingress[%d]: port %s is no container port", i, p.Port.String()))
				}
			}
		}
		ls, err := listeners(s.cfg)
		if err != nil {
			return append(errs, err)
		}
		for _, l := range append([]listener{{"listen", s.apiPort, corev1.ProtocolTCP}}, ls...) {
			cp, ok := portOf(s.container, intstr.FromInt32(l.port))
			if !ok {
				continue // reported by the services check
			}
			if !slices.ContainsFunc(np.Spec.Ingress, func(r networkingv1.NetworkPolicyIngressRule) bool { return allowsIn(s, r, cp) }) {
				errs = append(errs, fmt.Errorf("%s: no ingress rule admits port %d", l.key, l.port))
			}
		}
		dnsUDP, dnsTCP := false, false
		for i, r := range np.Spec.Egress {
			if len(r.To) == 0 {
				errs = append(errs, fmt.Errorf("egress[%d] allows every destination: name them", i))
			}
			if len(r.Ports) == 0 {
				errs = append(errs, fmt.Errorf("egress[%d] allows every port: name the ports", i))
			}
			for _, p := range r.Ports {
				if p.Port != nil && p.Port.IntValue() == 53 {
					if p.Protocol != nil && *p.Protocol == corev1.ProtocolUDP {
						dnsUDP = true
					} else {
						dnsTCP = true
					}
				}
			}
		}
		if !dnsUDP || !dnsTCP {
			errs = append(errs, fmt.Errorf("egress: cluster DNS (53/UDP and 53/TCP) is not allowed"))
		}
		ds, err := destinations(s.cfg)
		if err != nil {
			return append(errs, err)
		}
		for _, d := range ds {
			if !slices.ContainsFunc(np.Spec.Egress, func(r networkingv1.NetworkPolicyEgressRule) bool {
				return slices.ContainsFunc(r.Ports, func(p networkingv1.NetworkPolicyPort) bool {
					return p.Port != nil && p.Port.IntValue() == int(d.port) && (p.Protocol == nil || *p.Protocol == corev1.ProtocolTCP)
				})
			}) {
				errs = append(errs, fmt.Errorf("%s connects to port %d, which no egress rule allows", d.key, d.port))
			}
		}
		return errs
	})
}

func checkStorage(b *bundle) []error {
	return withServer(b, func(s *server) []error {
		var errs []error
		vcts := s.sts.Spec.VolumeClaimTemplates
		if len(vcts) != 1 || vcts[0].Name != "data" {
			return []error{fmt.Errorf("want one volumeClaimTemplate named data, have %d", len(vcts))}
		}
		pvc := vcts[0]
		if !slices.Equal(pvc.Spec.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}) &&
			!slices.Equal(pvc.Spec.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOncePod}) {
			errs = append(errs, fmt.Errorf("volumeClaimTemplate data: accessModes %v, want ReadWriteOnce (one writer)", pvc.Spec.AccessModes))
		}
		min := resource.MustParse("10Gi")
		if q, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; !ok || q.Cmp(min) < 0 {
			errs = append(errs, fmt.Errorf("volumeClaimTemplate data: request at least %s of storage", min.String()))
		}
		for _, v := range s.pod.Volumes {
			if v.Name == "data" {
				errs = append(errs, fmt.Errorf("pod volume %q hides the volumeClaimTemplate of the same name", v.Name))
			}
		}
		if pvc.Spec.StorageClassName != nil {
			for _, sc := range b.storageClasses {
				if sc.Name != *pvc.Spec.StorageClassName {
					continue
				}
				if sc.ReclaimPolicy == nil || *sc.ReclaimPolicy != corev1.PersistentVolumeReclaimRetain {
					errs = append(errs, fmt.Errorf("StorageClass %s: reclaimPolicy must be Retain: the audit trail outlives its claim", sc.Name))
				}
				if sc.AllowVolumeExpansion == nil || !*sc.AllowVolumeExpansion {
					errs = append(errs, fmt.Errorf("StorageClass %s: allowVolumeExpansion must be true: the ledger grows", sc.Name))
				}
			}
		}
		for _, sc := range b.storageClasses {
			if pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != sc.Name {
				errs = append(errs, fmt.Errorf("StorageClass %s is shipped but the data volume does not use it", sc.Name))
			}
		}
		return errs
	})
}

func checkImage(b *bundle) []error {
	return withServer(b, func(s *server) []error {
		var errs []error
		for _, c := range slices.Concat(s.pod.InitContainers, s.pod.Containers) {
			img := c.Image
			last := img[strings.LastIndex(img, "/")+1:]
			switch {
			case strings.Contains(img, "@sha256:"):
			case !strings.Contains(last, ":") || strings.HasSuffix(last, ":latest"):
				errs = append(errs, fmt.Errorf("container %s: image %q: pin a version tag or digest", c.Name, img))
			}
			if c.ImagePullPolicy == "" {
				errs = append(errs, fmt.Errorf("container %s: set imagePullPolicy", c.Name))
			}
		}
		return errs
	})
}

// metaOf returns an object's metadata.
func metaOf(o any) (*metav1.ObjectMeta, error) {
	a, ok := o.(interface{ GetObjectMeta() metav1.Object })
	if !ok {
		return nil, fmt.Errorf("%T has no object metadata", o)
	}
	m, ok := a.GetObjectMeta().(*metav1.ObjectMeta)
	if !ok {
		return nil, fmt.Errorf("%T: unexpected metadata type", o)
	}
	return m, nil
}
