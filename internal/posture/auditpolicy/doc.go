// Package auditpolicy reads Kubernetes audit policies (audit.k8s.io/v1
// Policy) strictly, evaluates them the way kube-apiserver does, checks them
// against PCI DSS v4.0.1 Requirement 10 and writes recommended ones.
//
// The check evaluates the policy over a matrix of requests: principals
// (people, cluster admins, service accounts, control-plane components,
// nodes, anonymous callers and requests whose authentication failed) times
// requests (reads and changes of the resources that hold cardholder data,
// credentials, workloads, RBAC, admission and other system-level objects,
// their interactive subresources, and non-resource URLs), in the CDE
// namespaces, the log pipeline's, kube-system, default and any other. Each
// request is classified by the 10.2.1.x classes it evidences; the findings
// and verdicts are derived from which of them the policy logs. The matrix,
// the classes and the verdict rules are documented in docs/POSTURE.md.
package auditpolicy
