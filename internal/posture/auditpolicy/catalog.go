package auditpolicy

import (
	"slices"
	"strings"
)

// Class is a PCI DSS v4.0.1 10.2.1.x event class.
type Class string

// The event classes of requirement 10.2.1.
const (
	CHDAccess        Class = "10.2.1.1"
	AdminAction      Class = "10.2.1.2"
	LogAccess        Class = "10.2.1.3"
	InvalidAccess    Class = "10.2.1.4"
	CredentialChange Class = "10.2.1.5"
	AuditLogChange   Class = "10.2.1.6"
	SystemObject     Class = "10.2.1.7"
)

// Classes lists the classes in order.
var Classes = []Class{CHDAccess, AdminAction, LogAccess, InvalidAccess, CredentialChange, AuditLogChange, SystemObject}

// Title says in a few words what the class is.
func (c Class) Title() string {
	switch c {
	case CHDAccess:
		return "individual access to cardholder data"
	case AdminAction:
		return "actions by individuals with administrative access"
	case LogAccess:
		return "access to audit logs"
	case InvalidAccess:
		return "invalid logical access attempts"
	case CredentialChange:
		return "changes to credentials, accounts and privileges"
	case AuditLogChange:
		return "initialization, stopping or pausing of audit logs"
	case SystemObject:
		return "creation and deletion of system-level objects"
	}
	return string(c)
}

var (
	readVerbs  = []string{"get", "list", "watch"}
	writeVerbs = []string{"create", "update", "patch", "delete", "deletecollection"}
	allVerbs   = slices.Concat(readVerbs, writeVerbs)
)

func isRead(v string) bool  { return slices.Contains(readVerbs, v) }
func isWrite(v string) bool { return slices.Contains(writeVerbs, v) }

// auditVerbs are the verbs audit events carry: the request verbs of
// resource requests and the lower-cased HTTP methods of non-resource ones.
var auditVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection",
	"post", "put", "head", "options", "proxy"}

// authzOnlyVerbs are RBAC verbs that never appear in an audit event: a
// policy rule naming only them matches nothing.
var authzOnlyVerbs = []string{"impersonate", "bind", "escalate", "approve", "sign", "attest", "use", "*"}

// apiResource is one entry of the request matrix's catalog: a resource (or
// subresource) and the verbs the matrix asks of it.
type apiResource struct {
	group, resource, sub string
	namespaced           bool
	verbs                []string
}

// matrixCatalog is what the matrix exercises: the resources that hold
// cardholder data, credentials, workloads, RBAC, admission and other
// system-level objects, with their interactive subresources.
var matrixCatalog = []apiResource{
	{"", "pods", "", true, allVerbs},
	{"", "pods", "log", true, []string{"get"}},
	{"", "pods", "exec", true, []string{"create", "get"}},
	{"", "pods", "attach", true, []string{"create", "get"}},
	{"", "pods", "portforward", true, []string{"create", "get"}},
	{"", "pods", "proxy", true, []string{"get", "create"}},
	{"", "pods", "ephemeralcontainers", true, []string{"patch"}},
	{"", "pods", "eviction", true, []string{"create"}},
	{"", "secrets", "", true, allVerbs},
	{"", "configmaps", "", true, allVerbs},
	{"", "services", "", true, allVerbs},
	{"", "services", "proxy", true, []string{"get"}},
	{"", "serviceaccounts", "", true, allVerbs},
	{"", "serviceaccounts", "token", true, []string{"create"}},
	{"", "persistentvolumeclaims", "", true, allVerbs},
	{"apps", "deployments", "", true, allVerbs},
	{"apps", "daemonsets", "", true, allVerbs},
	{"apps", "statefulsets", "", true, allVerbs},
	{"batch", "jobs", "", true, allVerbs},
	{"batch", "cronjobs", "", true, allVerbs},
	{"rbac.authorization.k8s.io", "roles", "", true, allVerbs},
	{"rbac.authorization.k8s.io", "rolebindings", "", true, allVerbs},
	{"networking.k8s.io", "networkpolicies", "", true, allVerbs},
	{"coordination.k8s.io", "leases", "", true, allVerbs},

	{"", "namespaces", "", false, allVerbs},
	{"", "nodes", "", false, allVerbs},
	{"", "nodes", "proxy", false, []string{"get"}},
	{"", "nodes", "status", false, []string{"patch"}},
	{"", "persistentvolumes", "", false, allVerbs},
	{"rbac.authorization.k8s.io", "clusterroles", "", false, allVerbs},
	{"rbac.authorization.k8s.io", "clusterrolebindings", "", false, allVerbs},
	{"apiextensions.k8s.io", "customresourcedefinitions", "", false, allVerbs},
	{"admissionregistration.k8s.io", "validatingwebhookconfigurations", "", false, allVerbs},
	{"admissionregistration.k8s.io", "mutatingwebhookconfigurations", "", false, allVerbs},
	{"admissionregistration.k8s.io", "validatingadmissionpolicies", "", false, allVerbs},
	{"admissionregistration.k8s.io", "validatingadmissionpolicybindings", "", false, allVerbs},
	{"apiregistration.k8s.io", "apiservices", "", false, allVerbs},
	{"storage.k8s.io", "storageclasses", "", false, allVerbs},
	{"scheduling.k8s.io", "priorityclasses", "", false, allVerbs},
	{"certificates.k8s.io", "certificatesigningrequests", "", false, allVerbs},
	{"certificates.k8s.io", "certificatesigningrequests", "approval", false, []string{"update"}},
	{"certificates.k8s.io", "certificatesigningrequests", "status", false, []string{"update"}},
	{"authentication.k8s.io", "tokenreviews", "", false, []string{"create"}},
	{"authorization.k8s.io", "subjectaccessreviews", "", false, []string{"create"}},
}

// nonResourcePaths are the non-resource URLs the matrix asks for.
var nonResourcePaths = []string{
	"/healthz", "/livez", "/readyz", "/version", "/openapi/v2", "/openapi/v3",
	"/api", "/api/v1", "/apis", "/apis/apps/v1",
	"/metrics", "/logs", "/logs/kube-apiserver-audit.log", "/debug/pprof/profile",
}

// isNoisePath reports read-only endpoints without data: health, version,
// discovery and OpenAPI documents.
func isNoisePath(p string) bool {
	for _, prefix := range []string{"/healthz", "/livez", "/readyz", "/version", "/openapi", "/api", "/.well-known"} {
		if p == prefix || strings.HasPrefix(p, prefix+"/") || strings.HasPrefix(p, prefix+"?") {
			return true
		}
	}
	return p == "/apis" || strings.HasPrefix(p, "/apis/")
}

// knownGroups lists, per built-in API group, the resources and
// subresources its servers offer. The lint uses it to spot names that no
// request can carry; groups not listed (custom resources) are not judged.
var knownGroups = map[string][]string{
	"": {"bindings", "componentstatuses", "configmaps", "endpoints", "events", "limitranges", "namespaces",
		"namespaces/finalize", "namespaces/status", "nodes", "nodes/proxy", "nodes/status",
		"persistentvolumeclaims", "persistentvolumeclaims/status", "persistentvolumes", "persistentvolumes/status",
		"pods", "pods/attach", "pods/binding", "pods/ephemeralcontainers", "pods/eviction", "pods/exec", "pods/log",
		"pods/portforward", "pods/proxy", "pods/resize", "pods/status", "podtemplates", "replicationcontrollers",
		"replicationcontrollers/scale", "replicationcontrollers/status", "resourcequotas", "resourcequotas/status",
		"secrets", "serviceaccounts", "serviceaccounts/token", "services", "services/proxy", "services/status"},
	"apps": {"controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
		"deployments/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets",
		"statefulsets/scale", "statefulsets/status"},
	"batch":                        {"cronjobs", "cronjobs/status", "jobs", "jobs/status"},
	"autoscaling":                  {"horizontalpodautoscalers", "horizontalpodautoscalers/status"},
	"policy":                       {"poddisruptionbudgets", "poddisruptionbudgets/status"},
	"rbac.authorization.k8s.io":    {"clusterrolebindings", "clusterroles", "rolebindings", "roles"},
	"networking.k8s.io":            {"ingressclasses", "ingresses", "ingresses/status", "ipaddresses", "networkpolicies", "servicecidrs", "servicecidrs/status"},
	"discovery.k8s.io":             {"endpointslices"},
	"events.k8s.io":                {"events"},
	"coordination.k8s.io":          {"leasecandidates", "leases"},
	"storage.k8s.io":               {"csidrivers", "csinodes", "csistoragecapacities", "storageclasses", "volumeattachments", "volumeattachments/status", "volumeattributesclasses"},
	"scheduling.k8s.io":            {"priorityclasses"},
	"node.k8s.io":                  {"runtimeclasses"},
	"certificates.k8s.io":          {"certificatesigningrequests", "certificatesigningrequests/approval", "certificatesigningrequests/status", "clustertrustbundles"},
	"authentication.k8s.io":        {"selfsubjectreviews", "tokenreviews"},
	"authorization.k8s.io":         {"localsubjectaccessreviews", "selfsubjectaccessreviews", "selfsubjectrulesreviews", "subjectaccessreviews"},
	"admissionregistration.k8s.io": {"mutatingadmissionpolicies", "mutatingadmissionpolicybindings", "mutatingwebhookconfigurations", "validatingadmissionpolicies", "validatingadmissionpolicies/status", "validatingadmissionpolicybindings", "validatingwebhookconfigurations"},
	"apiextensions.k8s.io":         {"customresourcedefinitions", "customresourcedefinitions/status"},
	"apiregistration.k8s.io":       {"apiservices", "apiservices/status"},
	"flowcontrol.apiserver.k8s.io": {"flowschemas", "flowschemas/status", "prioritylevelconfigurations", "prioritylevelconfigurations/status"},
	"resource.k8s.io":              {"deviceclasses", "resourceclaims", "resourceclaims/status", "resourceclaimtemplates", "resourceslices"},
}

// groupsOf returns the known groups that serve resource (a plain resource
// or resource/subresource).
func groupsOf(resource string) []string {
	var out []string
	for g, rs := range knownGroups {
		if slices.Contains(rs, resource) {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return out
}
