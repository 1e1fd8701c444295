// Package demo produces synthetic kube-apiserver audit events
// (audit.k8s.io/v1 Event JSON) for demonstrations, tests and load
// generation: Day is one day of one cluster, told as a story; Generator is
// an endless stream of events of the same cluster for benchmarks.
//
// # The cluster
//
// AKS cluster aks-pci-prod (Kubernetes v1.31.2, West Europe) processes card
// payments. Its card-data environment is namespace payments: deployments
// card-processor and tokenizer, secrets card-encryption-key and
// db-credentials. Outside the CDE: storefront (web, cart), monitoring
// (Prometheus), ingress-nginx and kube-system. One node pool of three VMs,
// aks-nodepool1-27386523-vmss000000 to 000002 (10.224.0.4–6); pods on
// 10.244.x.y; the AKS-managed control plane reaches the API server from
// 172.31.22.x. People sign in with Entra ID (user names are UPNs, groups
// are object IDs, user.extra carries the oid). Public addresses are from
// the documentation ranges (192.0.2.0/24 GitHub runners, 198.51.100.0/24
// the company, 203.0.113.0/24 strangers).
//
// # The day (UTC)
//
// All day: kubelets renew their leases and report node status, open
// reflector watches (pods, their node, services); the controller manager
// and the scheduler renew leader leases and watch; CoreDNS, kube-proxy,
// Prometheus and ingress-nginx watch; Container Insights lists pods and
// nodes; the HPA checks storefront/web. Every kubelet renews its pods'
// projected service-account tokens (serviceaccounts/token create, about
// every 48 minutes), and the payments applications read their secrets
// (card-processor: card-encryption-key every 5 min, db-credentials every
// 15 min; tokenizer: card-encryption-key every 10 min), presenting
// pod-bound tokens whose JTI changes with each renewal.
//
//   - 02:09–02:30 the CI service principal ci-deployer@corp.example is used
//     from 203.0.113.47, an address never seen before: discovery, kubectl
//     auth can-i --list, create ServiceAccount kube-system/cluster-ops,
//     at 02:13 ClusterRoleBinding cluster-ops-admin to cluster-admin, a
//     year-long token for it; with that token the service account lists all
//     secrets, reads both payments secrets and deletes the
//     ValidatingWebhookConfiguration gatekeeper-validating-webhook-configuration.
//   - 03:40 a scan from 203.0.113.0/24: anonymous requests (system:anonymous:
//     /version allowed, everything else 403), then 64 requests with invalid
//     bearer tokens (401; these events have an empty user and only the
//     ResponseStarted stage, as kube-apiserver's failed-authentication
//     handler records them).
//   - 07:41 on-call engineer bob@corp.example, over the VPN: lists payments
//     pods, reads logs, kubectl exec into a card-processor pod (kubectl
//     v1.29, SPDY: pods/exec with verb create, code 101), reads secret
//     db-credentials.
//   - 09:05, 10:42, 13:30, 15:10, 16:55 CI (from GitHub runners) rolls out
//     storefront/web, payments/card-processor, storefront/cart,
//     payments/tokenizer, storefront/web: kubectl apply (a strategic-merge
//     Deployment patch), then the deployment and ReplicaSet controllers,
//     the scheduler and the kubelets replace the pods one by one, and
//     kubectl rollout status watches.
//   - 09:31 and 14:40 platform admin alice@corp.example (cluster-admin
//     through ClusterRoleBinding platform-admins) looks at nodes and pods.
//   - 11:20 alice widens Role payments/card-processor-secrets from get on
//     two named secrets to get/list/watch on all secrets, then checks with
//     kubectl auth can-i --as (impersonatedUser).
//   - 12:47 contractor mallory@contractor.example (view on storefront) tries
//     payments: list pods, list secrets, get card-encryption-key, get a
//     card-processor pod (all 403), then pods/exec with curl (403).
//   - 14:05 alice execs into a storefront pod with kubectl v1.31, which
//     uses WebSocket: pods/exec with verb get.
//   - 14:15 the HPA scales storefront/web to 5; the pods do not fit; at
//     14:22 node aks-nodepool1-27386523-vmss000003 joins (TLS bootstrap CSR
//     auto-approved, create nodes, its lease, DaemonSet pods) and takes
//     them. 19:40 the HPA scales back to 3.
//   - 15:48 alice creates CSR breakglass-alice (kube-apiserver-client, one
//     year) and approves it herself.
//   - 16:05 alice deletes namespace loadtest; the namespace controller
//     empties and finalizes it.
//   - Business hours: a storefront cart pod fails readiness probes now and
//     then (Warning events).
//
// Heartbeats are thinned to keep a day near 30,000 events: kubelet leases
// every 40 s (10 s on a real node), leader-election renewals every minute
// (2 s), ingress-nginx's every two minutes, the HPA and Container Insights
// polls every two minutes.
//
// # The audit policy
//
// The day is recorded under docs/audit-policy.yaml with its None rules
// logged at Metadata instead (so the noise they drop is there to be
// seen) and RequestReceived kept only for the rules marked below:
//
//	apiVersion: audit.k8s.io/v1
//	kind: Policy
//	omitManagedFields: true
//	rules:
//	  - level: Metadata          # discovery, health (None in docs/audit-policy.yaml)
//	    nonResourceURLs: ["/healthz*", "/livez*", "/readyz*", "/version", "/openapi/*", "/api", "/apis", "/api/*", "/apis/*"]
//	    omitStages: ["RequestReceived"]
//	  - level: Metadata          # leader election (None there)
//	    users: ["system:kube-controller-manager", "system:kube-scheduler", "system:serviceaccount:kube-system:cloud-controller-manager"]
//	    verbs: ["get", "update"]
//	    resources: [{group: coordination.k8s.io, resources: ["leases"]}]
//	    omitStages: ["RequestReceived"]
//	  - level: Metadata          # node heartbeats (None there)
//	    userGroups: ["system:nodes"]
//	    verbs: ["get", "update", "patch"]
//	    resources: [{group: coordination.k8s.io, resources: ["leases"]}, {group: "", resources: ["nodes/status"]}]
//	    omitStages: ["RequestReceived"]
//	  - level: Metadata
//	    resources: [{group: "", resources: ["secrets", "configmaps", "serviceaccounts/token"]}, {group: authentication.k8s.io, resources: ["tokenreviews"]}]
//	    omitStages: ["RequestReceived"]
//	  - level: Metadata          # RequestReceived kept
//	    resources: [{group: "", resources: ["pods/exec", "pods/attach", "pods/portforward", "pods/proxy", "services/proxy", "nodes/proxy"]}]
//	  - level: RequestResponse   # RequestReceived kept
//	    resources: [{group: "", resources: ["serviceaccounts"]}, {group: rbac.authorization.k8s.io, resources: ["roles", "rolebindings", "clusterroles", "clusterrolebindings"]},
//	                {group: certificates.k8s.io, resources: ["certificatesigningrequests", "certificatesigningrequests/approval", "certificatesigningrequests/status"]}]
//	  - level: RequestResponse   # RequestReceived kept
//	    resources: [{group: admissionregistration.k8s.io}, {group: apiextensions.k8s.io}, {group: auditregistration.k8s.io}]
//	    verbs: ["create", "update", "patch", "delete", "deletecollection"]
//	  - level: Request
//	    verbs: ["create", "update", "patch", "delete", "deletecollection"]
//	    omitStages: ["RequestReceived"]
//	  - level: Metadata
//	    omitStages: ["RequestReceived"]
//
// Long-running requests (watches, exec) also have a ResponseStarted stage.
// Watches that straddle midnight appear with the stages that fall inside
// the day.
//
// Everything secret is fake: secret values are base64 of "demo-only-…"
// strings, certificate requests and certificates are random base64 in PEM
// armour, and no digit string in the output is a valid card number.
package demo
