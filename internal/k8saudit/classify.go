package k8saudit

import (
	"strings"
	"sync"
	"time"

	json "github.com/goccy/go-json"

	"github.com/cdewatch/cdewatch/internal/event"
)

// API groups the classifier looks at.
const (
	groupCore         = ""
	groupRBAC         = "rbac.authorization.k8s.io"
	groupCertificates = "certificates.k8s.io"
)

// ClassifierConfig says which namespaces hold cardholder data and which
// identities are administrators. The lists are matched exactly.
type ClassifierConfig struct {
	// CDENamespaces are the namespaces holding cardholder data. With none,
	// no event is classified as access to cardholder data.
	CDENamespaces []string
	// PrivilegedUsers are usernames treated as administrators, e.g.
	// "system:serviceaccount:flux-system:kustomize-controller".
	PrivilegedUsers []string
	// PrivilegedGroups are groups whose members are treated as
	// administrators. Nil means ["system:masters"]; an empty, non-nil list
	// means none.
	PrivilegedGroups []string
	// AdminRoles are cluster roles whose bindings make their subjects
	// administrators (see Classifier). Nil means ["cluster-admin"]; an
	// empty, non-nil list means none.
	AdminRoles []string
}

// Classifier turns audit events into normalized records with the PCI DSS
// 10.2.1.x classes they evidence. It is safe for concurrent use.
//
// Besides the configured lists, a Classifier learns administrators from the
// events it normalizes: a successful create, update or patch of a
// ClusterRoleBinding or RoleBinding whose roleRef is a ClusterRole named in
// AdminRoles makes the binding's subjects administrators (users and service
// accounts by username, "system:serviceaccount:<namespace>:<name>" for the
// latter, groups by name), and a successful delete of the binding, or an
// update to another role, forgets what was learned from it. What is learned
// is kept in memory per source (cluster), so a binding in one cluster never
// makes an identity privileged in another. It is rebuilt only from the events
// seen since the Classifier was made and is lost on restart: the
// configuration lists are the durable source of administrators, and
// ClusterRoleBindings that exist before cdewatch starts watching must be
// listed there. What is learned also depends on the order events are
// normalized in, and a deletecollection of bindings forgets nothing (the
// deleted names are not in its event).
type Classifier struct {
	cde        set
	users      set
	groups     set
	adminRoles set

	mu      sync.RWMutex
	learned map[string]*learnedAdmins // by source
}

type set map[string]struct{}

func newSet(list []string) set {
	s := make(set, len(list))
	for _, v := range list {
		s[v] = struct{}{}
	}
	return s
}

func (s set) has(v string) bool { _, ok := s[v]; return ok }

// NewClassifier returns a Classifier for cfg. It keeps copies of the lists.
func NewClassifier(cfg ClassifierConfig) *Classifier {
	groups := cfg.PrivilegedGroups
	if groups == nil {
		groups = []string{"system:masters"}
	}
	roles := cfg.AdminRoles
	if roles == nil {
		roles = []string{"cluster-admin"}
	}
	return &Classifier{
		cde:        newSet(cfg.CDENamespaces),
		users:      newSet(cfg.PrivilegedUsers),
		groups:     newSet(groups),
		adminRoles: newSet(roles),
		learned:    make(map[string]*learnedAdmins),
	}
}

// Normalize builds the record of it, which must have come from Decode or
// DecodeLine. source is the cluster name bound to the sender's credential;
// received is when cdewatch accepted the event.
//
// The six PCI DSS 10.2.2 details are filled in as follows:
//   - User is user.username, empty when authentication failed (kube-apiserver
//     knows no user then); for an impersonated request it is
//     "<username> (as <impersonated username>)", e.g. "alice (as bob)": the
//     authenticated individual first, then the identity whose permissions the
//     request used.
//   - Action is the verb and the resource, with its subresource, e.g.
//     "get secrets" or "create pods/exec"; for a non-resource request the verb
//     and the path of the request URI, e.g. "get /healthz".
//   - Time is stageTimestamp, else requestReceivedTimestamp, else the
//     v1beta1 timestamp, else received; UTC.
//   - Outcome is success for a response code below 400 (101 Switching
//     Protocols included: exec, attach and port-forward upgrade the
//     connection), failure from 400 on, unknown without a response status
//     (the RequestReceived stage); Status is the code, 0 when there is none.
//   - OriginIP is the last of sourceIPs, the connection's address, which
//     unlike the forwarding headers before it the client cannot choose;
//     UserAgent is the client-reported user agent.
//   - Resource is "<namespace>/<resource>/<name>/<subresource>" without the
//     empty parts, e.g. "payments/secrets/card-key", "nodes/node-1",
//     "payments/pods/web-0/exec"; a namespace object is
//     "namespaces/<name>"; a non-resource request has the URI path.
//
// The classes (see event.Class) combine:
//   - CHDAccess: get, list or watch of secrets or configmaps in a CDE
//     namespace (or list and watch across all namespaces, which include
//     them), and any request to the exec, attach or portforward subresource
//     of a pod in a CDE namespace.
//   - AdminAction: any request by an administrator (see Classifier),
//     whether the authenticated or the impersonated user.
//   - InvalidAccess: a response code of 401 (authentication failed) or 403
//     (forbidden, by authorization or by admission).
//   - CredentialChange: create, update, patch, delete or deletecollection of
//     serviceaccounts and their token subresource (token requests),
//     certificatesigningrequests and their subresources (approval, status),
//     roles, rolebindings, clusterroles, clusterrolebindings, and of secrets
//     whose type, when the request or response object shows it, is
//     kubernetes.io/service-account-token or bootstrap.kubernetes.io/token.
//   - SystemObject: create, delete or deletecollection of namespaces and of
//     cluster-scoped objects (an object reference without namespace, e.g.
//     nodes, clusterroles, persistentvolumes, customresourcedefinitions,
//     webhook configurations), but not of the review resources
//     (tokenreviews, *subjectaccessreviews, selfsubjectrulesreviews,
//     selfsubjectreviews), which are queries, not objects.
//
// The classes say what a request was about, not whether it succeeded: a
// denied read of a CDE secret is CHDAccess and InvalidAccess with Outcome
// failure.
//
// Every stage is classified, and the same way, from the event's content:
// only what needs the response (Status, Outcome, InvalidAccess and the
// learning of administrators, which takes a 2xx code) differs between the
// RequestReceived event of a request, which has no response status, and its
// later events. A request thus yields up to three records with the same
// auditID and, InvalidAccess aside, the same classes. Callers counting requests should count one record per
// auditID, the one of its last stage: ResponseComplete or Panic, or
// ResponseStarted for a failed authentication (401), which kube-apiserver
// logs as a single ResponseStarted event.
func (c *Classifier) Normalize(it *Item, source string, received time.Time) *event.Record {
	ev := &it.Event
	received = received.UTC()
	r := &event.Record{
		Time:      eventTime(ev, received),
		Received:  received,
		Source:    source,
		Table:     event.TableKubeAudit,
		Key:       ev.Key(),
		User:      userString(ev),
		UserAgent: ev.UserAgent,
		Raw:       it.Raw,
	}
	if n := len(ev.SourceIPs); n > 0 {
		r.OriginIP = ev.SourceIPs[n-1]
	}
	r.Status, r.Outcome = outcome(ev)
	r.Action, r.Resource = actionResource(ev)
	r.PCI = c.classify(ev, source, r.Status)
	c.learn(ev, source, r.Status)
	return r
}

func eventTime(ev *Event, received time.Time) time.Time {
	for _, t := range [...]time.Time{ev.StageTimestamp, ev.RequestReceivedTimestamp, ev.Timestamp} {
		if !t.IsZero() {
			return t.UTC()
		}
	}
	return received
}

func userString(ev *Event) string {
	u := ev.User.Username
	if iu := ev.ImpersonatedUser; iu != nil && iu.Username != "" {
		return u + " (as " + iu.Username + ")"
	}
	return u
}

func outcome(ev *Event) (int, event.Outcome) {
	if ev.ResponseStatus == nil || ev.ResponseStatus.Code == 0 {
		return 0, event.Unknown
	}
	code := ev.ResponseStatus.Code
	switch {
	case code >= 400:
		return code, event.Failure
	case code >= 100:
		return code, event.Success
	}
	return code, event.Unknown
}

// uriPath returns the path of a request URI.
func uriPath(uri string) string {
	if i := strings.IndexAny(uri, "?#"); i >= 0 {
		return uri[:i]
	}
	return uri
}

func actionResource(ev *Event) (action, resource string) {
	ref := ev.ObjectRef
	if ref == nil || ref.Resource == "" {
		p := uriPath(ev.RequestURI)
		return join(" ", ev.Verb, p), p
	}
	res := ref.Resource
	if ref.Subresource != "" {
		res += "/" + ref.Subresource
	}
	ns := ref.Namespace
	if ref.Resource == "namespaces" && ref.APIGroup == groupCore {
		// The namespace of a namespace object is the object itself.
		ns = ""
	}
	return join(" ", ev.Verb, res), join("/", ns, ref.Resource, ref.Name, ref.Subresource)
}

// join joins the non-empty parts with sep.
func join(sep string, parts ...string) string {
	n := 0
	for _, p := range parts {
		if p != "" {
			n += len(p) + len(sep)
		}
	}
	var b strings.Builder
	b.Grow(n)
	for _, p := range parts {
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(sep)
		}
		b.WriteString(p)
	}
	return b.String()
}

func isRead(verb string) bool { return verb == "get" || verb == "list" || verb == "watch" }

func isWrite(verb string) bool {
	switch verb {
	case "create", "update", "patch", "delete", "deletecollection":
		return true
	}
	return false
}

// reviewResources are the cluster-scoped resources of queries to the
// authenticator and authorizer: creating one stores nothing.
var reviewResources = set{
	"tokenreviews":              {},
	"subjectaccessreviews":      {},
	"selfsubjectaccessreviews":  {},
	"selfsubjectrulesreviews":   {},
	"selfsubjectreviews":        {},
	"localsubjectaccessreviews": {},
}

// credentialSecretTypes are the secret types that hold Kubernetes credentials.
var credentialSecretTypes = set{
	"kubernetes.io/service-account-token": {},
	"bootstrap.kubernetes.io/token":       {},
}

func (c *Classifier) classify(ev *Event, source string, status int) event.Class {
	var cls event.Class
	if status == 401 || status == 403 {
		cls |= event.InvalidAccess
	}
	if c.isAdmin(ev, source) {
		cls |= event.AdminAction
	}
	ref := ev.ObjectRef
	if ref == nil || ref.Resource == "" {
		return cls
	}
	verb := ev.Verb
	switch ref.APIGroup {
	case groupCore:
		switch ref.Resource {
		case "secrets", "configmaps":
			if ref.Subresource == "" && isRead(verb) && c.readsCDE(ref.Namespace, verb) {
				cls |= event.CHDAccess
			}
			if ref.Resource == "secrets" && ref.Subresource == "" && isWrite(verb) && credentialSecret(ev) {
				cls |= event.CredentialChange
			}
		case "pods":
			switch ref.Subresource {
			case "exec", "attach", "portforward":
				if c.cde.has(ref.Namespace) {
					cls |= event.CHDAccess
				}
			}
		case "serviceaccounts":
			if (ref.Subresource == "" || ref.Subresource == "token") && isWrite(verb) {
				cls |= event.CredentialChange
			}
		}
	case groupRBAC:
		switch ref.Resource {
		case "roles", "rolebindings", "clusterroles", "clusterrolebindings":
			if isWrite(verb) {
				cls |= event.CredentialChange
			}
		}
	case groupCertificates:
		if ref.Resource == "certificatesigningrequests" && isWrite(verb) {
			cls |= event.CredentialChange
		}
	}
	switch verb {
	case "create", "delete", "deletecollection":
		if ref.Subresource != "" {
			break
		}
		if ref.APIGroup == groupCore && ref.Resource == "namespaces" ||
			ref.Namespace == "" && !reviewResources.has(ref.Resource) {
			// Namespaced resources can only be listed and watched
			// across namespaces: without a namespace, these verbs
			// address a cluster-scoped resource.
			cls |= event.SystemObject
		}
	}
	return cls
}

// readsCDE reports whether a read of secrets or configmaps in namespace ns
// (all namespaces when empty) reaches a CDE namespace.
func (c *Classifier) readsCDE(ns, verb string) bool {
	if ns == "" {
		return verb != "get" && len(c.cde) > 0
	}
	return c.cde.has(ns)
}

// credentialSecret reports whether the request or response object of a
// secrets request shows a credential secret type.
func credentialSecret(ev *Event) bool {
	for _, raw := range [...][]byte{ev.RequestObject, ev.ResponseObject} {
		if len(raw) == 0 || raw[0] != '{' {
			continue
		}
		var s struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(raw, &s) == nil && s.Type != "" {
			return credentialSecretTypes.has(s.Type)
		}
	}
	return false
}

// isAdmin reports whether the authenticated or the impersonated user is an
// administrator.
func (c *Classifier) isAdmin(ev *Event, source string) bool {
	c.mu.RLock()
	l := c.learned[source]
	ok := c.privileged(&ev.User, l) || ev.ImpersonatedUser != nil && c.privileged(ev.ImpersonatedUser, l)
	c.mu.RUnlock()
	return ok
}

// privileged reports whether u is an administrator; c.mu is read-locked.
func (c *Classifier) privileged(u *UserInfo, l *learnedAdmins) bool {
	if u.Username != "" && (c.users.has(u.Username) || l != nil && l.users[u.Username] > 0) {
		return true
	}
	for _, g := range u.Groups {
		if c.groups.has(g) || l != nil && l.groups[g] > 0 {
			return true
		}
	}
	return false
}

// learnedAdmins are the administrators learned from the bindings of one
// source.
type learnedAdmins struct {
	bindings map[string][]subject // by binding key
	users    map[string]int       // username → number of bindings
	groups   map[string]int       // group → number of bindings
}

type subject struct {
	group bool
	name  string
}

func (l *learnedAdmins) count(subs []subject, d int) {
	for _, s := range subs {
		m := l.users
		if s.group {
			m = l.groups
		}
		if m[s.name] += d; m[s.name] <= 0 {
			delete(m, s.name)
		}
	}
}

// binding is what the classifier reads of a ClusterRoleBinding or RoleBinding.
type binding struct {
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	RoleRef struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
	} `json:"roleRef"`
	Subjects []struct {
		Kind      string `json:"kind"`
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"subjects"`
}

// learn updates the administrators learned from bindings with a successful
// binding change.
func (c *Classifier) learn(ev *Event, source string, status int) {
	ref := ev.ObjectRef
	if ref == nil || ref.APIGroup != groupRBAC || ref.Subresource != "" ||
		ref.Resource != "clusterrolebindings" && ref.Resource != "rolebindings" ||
		status < 200 || status > 299 {
		return
	}
	cluster := ref.Resource == "clusterrolebindings"
	key := func(ns, name string) string {
		if cluster {
			return "ClusterRoleBinding/" + name
		}
		return "RoleBinding/" + ns + "/" + name
	}
	switch ev.Verb {
	case "delete":
		if ref.Name != "" {
			c.setBinding(source, key(ref.Namespace, ref.Name), nil)
		}
	case "create", "update", "patch":
		// The response object is the binding as stored; the request object
		// of a patch is only the patch.
		for _, raw := range [...][]byte{ev.ResponseObject, ev.RequestObject} {
			var b binding
			if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &b) != nil || b.RoleRef.Kind == "" {
				continue
			}
			name, ns := b.Metadata.Name, b.Metadata.Namespace
			if name == "" {
				name = ref.Name
			}
			if ns == "" {
				ns = ref.Namespace
			}
			if name == "" {
				return
			}
			var subs []subject
			if b.RoleRef.Kind == "ClusterRole" && c.adminRoles.has(b.RoleRef.Name) {
				for _, s := range b.Subjects {
					switch s.Kind {
					case "User":
						subs = append(subs, subject{name: s.Name})
					case "Group":
						subs = append(subs, subject{group: true, name: s.Name})
					case "ServiceAccount":
						sns := s.Namespace
						if sns == "" {
							sns = ns
						}
						subs = append(subs, subject{name: "system:serviceaccount:" + sns + ":" + s.Name})
					}
				}
			}
			c.setBinding(source, key(ns, name), subs)
			return
		}
	}
}

// setBinding records the subjects an admin binding grants, replacing what
// the binding granted before; nil forgets the binding.
func (c *Classifier) setBinding(source, key string, subs []subject) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.learned[source]
	if l == nil {
		if subs == nil {
			return
		}
		l = &learnedAdmins{bindings: map[string][]subject{}, users: map[string]int{}, groups: map[string]int{}}
		c.learned[source] = l
	}
	if old, ok := l.bindings[key]; ok {
		l.count(old, -1)
		delete(l.bindings, key)
	}
	if subs != nil {
		l.bindings[key] = subs
		l.count(subs, +1)
	}
}
