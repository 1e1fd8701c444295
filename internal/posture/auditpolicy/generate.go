package auditpolicy

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
)

// GenerateOptions describe the cluster a policy is generated for.
type GenerateOptions struct {
	// CDENamespaces are the namespaces that store, process or transmit
	// cardholder data; at least one.
	CDENamespaces []string
}

// Generate writes a recommended audit policy (YAML, with the reasons as
// comments) for the declared cardholder data environment. Its choices are
// explained in docs/POSTURE.md ("The generated policy"); Check passes it.
func Generate(o GenerateOptions) ([]byte, error) {
	var nss []string
	for _, ns := range o.CDENamespaces {
		if msgs := utilvalidation.IsDNS1123Label(ns); len(msgs) > 0 {
			return nil, fmt.Errorf("CDE namespace %q: %s", ns, strings.Join(msgs, "; "))
		}
		if !slices.Contains(nss, ns) {
			nss = append(nss, ns)
		}
	}
	if len(nss) == 0 {
		return nil, errors.New("no CDE namespaces: name the namespaces that hold cardholder data")
	}
	quoted := make([]string, len(nss))
	for i, ns := range nss {
		quoted[i] = strconv.Quote(ns) // "on", "true" or "123" would not stay strings unquoted
	}
	return []byte(strings.NewReplacer(
		"{{CDE}}", strings.Join(nss, ", "),
		"{{CDE_LIST}}", "["+strings.Join(quoted, ", ")+"]",
	).Replace(policyTemplate)), nil
}

// policyTemplate is the recommended policy. Order matters: the first rule
// that matches a request sets its level.
const policyTemplate = `# Kubernetes audit policy for a cluster in PCI DSS scope (--audit-policy-file).
# Written by cdewatch policy generate for the cardholder data environment
# (CDE) in namespaces: {{CDE}}.
# The first rule that matches a request sets its level; the last rule catches
# everything else, because without a match kube-apiserver logs nothing.
apiVersion: audit.k8s.io/v1
kind: Policy
# RequestReceived only repeats what ResponseComplete records, without the
# outcome. ResponseStarted stays: it is the only record of a failed
# authentication (10.2.1.4) and the opening record of exec, attach,
# port-forward, log and watch streams. ResponseComplete and Panic carry the
# outcome (10.2.2).
omitStages: ["RequestReceived"]
# Bodies are recorded without metadata.managedFields: noise, no evidence.
omitManagedFields: true
rules:
  # Secrets, configmaps, issued tokens and token reviews: who, what, when and
  # the outcome (10.2.1.1, 10.2.1.5), never the bodies, which hold the values
  # and tokens (8.3.2). This rule comes first so no later rule can log them
  # at a deeper level.
  - level: Metadata
    resources:
      - group: ""
        resources: ["secrets", "configmaps", "serviceaccounts/token"]
      - group: authentication.k8s.io
        resources: ["tokenreviews"]

  # Interactive access to workloads and nodes: the streams have no body
  # worth recording, the fact of the stream is the evidence (10.2.1.1,
  # 10.2.1.2, 10.2.1.3 for kubelet logs read through nodes/proxy).
  - level: Metadata
    resources:
      - group: ""
        resources: ["pods/exec", "pods/attach", "pods/portforward", "pods/proxy", "pods/log",
                    "services/proxy", "nodes/proxy"]

  # Identities and rights (10.2.1.5, 10.2.1.7): the full request and
  # response, to show who was granted what.
  - level: RequestResponse
    verbs: ["create", "update", "patch", "delete", "deletecollection"]
    resources:
      - group: ""
        resources: ["serviceaccounts"]
      - group: rbac.authorization.k8s.io
        resources: ["roles", "rolebindings", "clusterroles", "clusterrolebindings"]
      - group: certificates.k8s.io
        resources: ["certificatesigningrequests", "certificatesigningrequests/approval",
                    "certificatesigningrequests/status"]

  # Admission, API extension and aggregation (10.2.1.7): these can change or
  # intercept every later request, so their changes are recorded in full.
  - level: RequestResponse
    verbs: ["create", "update", "patch", "delete", "deletecollection"]
    resources:
      - group: admissionregistration.k8s.io
      - group: apiextensions.k8s.io
      - group: apiregistration.k8s.io

  # Changes in the CDE namespaces (10.2.1.2): the full request and response.
  - level: RequestResponse
    namespaces: {{CDE_LIST}}
    verbs: ["create", "update", "patch", "delete", "deletecollection"]

  # Every other request in the CDE namespaces, reads included (10.2.1.1).
  - level: Metadata
    namespaces: {{CDE_LIST}}

  # Health and version probes by callers who authenticated (or came
  # anonymously, as load balancers do): frequent and without data. A probe
  # whose credentials are refused has no user, does not match this rule and
  # is logged by the catch-all (10.2.1.4).
  - level: None
    userGroups: ["system:authenticated", "system:unauthenticated"]
    verbs: ["get"]
    nonResourceURLs: ["/healthz*", "/livez*", "/readyz*", "/version"]

  # Leader-election and heartbeat leases renewed by the control plane and the
  # kubelets: several requests a second, no data. Reduced to these principals
  # and verbs; other changes to leases are logged.
  - level: None
    users: ["system:kube-controller-manager", "system:kube-scheduler"]
    verbs: ["get", "update"]
    resources:
      - group: coordination.k8s.io
        resources: ["leases"]
  - level: None
    userGroups: ["system:nodes"]
    verbs: ["get", "update"]
    resources:
      - group: coordination.k8s.io
        resources: ["leases"]

  # Events written by components: high volume; their metadata is enough.
  - level: Metadata
    verbs: ["create", "update", "patch"]
    resources:
      - group: ""
        resources: ["events"]
      - group: events.k8s.io
        resources: ["events"]

  # Every other change: the request body (10.2.1.2, 10.2.1.6, 10.2.1.7).
  - level: Request
    verbs: ["create", "update", "patch", "delete", "deletecollection"]

  # Catch-all: every other request, reads included, at Metadata. Keep it
  # last: without it the default level is None.
  - level: Metadata
`
