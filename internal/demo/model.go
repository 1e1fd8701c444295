package demo

import (
	"encoding/binary"
	"github.com/cdewatch/cdewatch/internal/jsonscan"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Audit levels and stages, as in audit.k8s.io/v1.
const (
	levelMetadata        = "Metadata"
	levelRequest         = "Request"
	levelRequestResponse = "RequestResponse"
)

type stage uint8

const (
	stageReceived stage = 1 << iota
	stageStarted
	stageComplete
)

func (s stage) String() string {
	switch s {
	case stageReceived:
		return "RequestReceived"
	case stageStarted:
		return "ResponseStarted"
	}
	return "ResponseComplete"
}

// pair is one entry of a string map kept in key order.
type pair struct{ k, v string }

// userInfo is authentication/v1 UserInfo. extra holds one value per key,
// sorted by key.
type userInfo struct {
	name   string
	uid    string
	groups []string
	extra  []pair
}

func (u *userInfo) inGroup(g string) bool { return slices.Contains(u.groups, g) }

func (u *userInfo) appendJSON(b []byte) []byte {
	b = append(b, '{')
	n := 0
	sep := func() {
		if n > 0 {
			b = append(b, ',')
		}
		n++
	}
	if u.name != "" {
		sep()
		b = append(b, `"username":`...)
		b = jsonscan.AppendString(b, u.name, true)
	}
	if u.uid != "" {
		sep()
		b = append(b, `"uid":`...)
		b = jsonscan.AppendString(b, u.uid, true)
	}
	if len(u.groups) > 0 {
		sep()
		b = append(b, `"groups":`...)
		b = appendValue(b, u.groups)
	}
	if len(u.extra) > 0 {
		sep()
		b = append(b, `"extra":{`...)
		for i, p := range u.extra {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonscan.AppendString(b, p.k, true)
			b = append(b, ":["...)
			b = jsonscan.AppendString(b, p.v, true)
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// objRef is audit.k8s.io/v1 ObjectReference.
type objRef struct {
	resource, namespace, name, uid, apiGroup, apiVersion, resourceVersion, subresource string
}

func (o *objRef) appendJSON(b []byte) []byte {
	b = append(b, '{')
	n := 0
	for _, f := range [...]struct{ k, v string }{
		{"resource", o.resource}, {"namespace", o.namespace}, {"name", o.name}, {"uid", o.uid},
		{"apiGroup", o.apiGroup}, {"apiVersion", o.apiVersion}, {"resourceVersion", o.resourceVersion},
		{"subresource", o.subresource},
	} {
		if f.v == "" {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = jsonscan.AppendString(b, f.k, true)
		b = append(b, ':')
		b = jsonscan.AppendString(b, f.v, true)
	}
	return append(b, '}')
}

// qualified is the resource as kube-apiserver names it in messages
// ("leases.coordination.k8s.io").
func (o *objRef) qualified() string {
	if o.apiGroup == "" {
		return o.resource
	}
	return o.resource + "." + o.apiGroup
}

// statusDetails and respStatus are metav1.StatusDetails and the bounded
// copy of metav1.Status the audit event carries.
type statusDetails struct{ name, group, kind, uid string }

type respStatus struct {
	status, message, reason string
	details                 *statusDetails
	code                    int
}

func (s *respStatus) appendJSON(b []byte) []byte {
	b = append(b, `{"metadata":{}`...)
	if s.status != "" {
		b = append(b, `,"status":`...)
		b = jsonscan.AppendString(b, s.status, true)
	}
	if s.message != "" {
		b = append(b, `,"message":`...)
		b = jsonscan.AppendString(b, s.message, true)
	}
	if s.reason != "" {
		b = append(b, `,"reason":`...)
		b = jsonscan.AppendString(b, s.reason, true)
	}
	if d := s.details; d != nil {
		b = append(b, `,"details":{`...)
		n := 0
		for _, f := range [...]struct{ k, v string }{{"name", d.name}, {"group", d.group}, {"kind", d.kind}, {"uid", d.uid}} {
			if f.v == "" {
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = jsonscan.AppendString(b, f.k, true)
			b = append(b, ':')
			b = jsonscan.AppendString(b, f.v, true)
		}
		b = append(b, '}')
	}
	if s.code != 0 {
		b = append(b, `,"code":`...)
		b = strconv.AppendInt(b, int64(s.code), 10)
	}
	return append(b, '}')
}

// object is the full metav1.Status, as a responseObject.
func (s *respStatus) object() []byte {
	b := append([]byte(nil), `{"kind":"Status","apiVersion":"v1",`...)
	inner := s.appendJSON(nil)
	return append(b, inner[1:]...)
}

// request is one API request; it yields one audit event per recorded stage,
// all with the same auditID.
type request struct {
	level    string
	id       string
	uri      string
	verb     string
	user     *userInfo
	imp      *userInfo
	ips      []string
	ua       string
	ref      *objRef
	urlRef   objRef // ref as known from the URL alone, at RequestReceived
	status   *respStatus
	reqObj   []byte
	respObj  []byte
	received time.Time
	started  time.Time // ResponseStarted, for long-running requests
	done     time.Time // ResponseComplete
	annots   []pair
	stages   stage
}

// withBody records the request and response bodies the level allows.
func (r *request) withBody(reqObj, respObj any) *request {
	if reqObj != nil && (r.level == levelRequest || r.level == levelRequestResponse) {
		r.reqObj = toJSON(reqObj)
	}
	if respObj != nil && r.level == levelRequestResponse {
		r.respObj = toJSON(respObj)
	}
	return r
}

func toJSON(v any) []byte {
	switch v := v.(type) {
	case []byte:
		return v
	case raw:
		return v
	}
	return render(v)
}

// annotate adds an annotation, keeping keys sorted.
func (r *request) annotate(k, v string) *request {
	i, found := slices.BinarySearchFunc(r.annots, k, func(p pair, k string) int { return strings.Compare(p.k, k) })
	if found {
		r.annots[i].v = v
		return r
	}
	r.annots = slices.Insert(r.annots, i, pair{k, v})
	return r
}

// longRunning marks the request as a watch, exec or other upgrade: the
// response starts after d and completes at done.
func (r *request) longRunning(d time.Duration, done time.Time) *request {
	r.started = r.received.Add(d)
	r.done = done
	r.stages |= stageStarted
	return r
}

func (r *request) stageTime(s stage) time.Time {
	switch s {
	case stageReceived:
		return r.received
	case stageStarted:
		return r.started
	}
	return r.done
}

// appendEvent appends the audit event of stage s.
func (r *request) appendEvent(b []byte, s stage) []byte {
	b = append(b, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":`...)
	b = jsonscan.AppendString(b, r.level, true)
	b = append(b, `,"auditID":`...)
	b = jsonscan.AppendString(b, r.id, true)
	b = append(b, `,"stage":`...)
	b = jsonscan.AppendString(b, s.String(), true)
	b = append(b, `,"requestURI":`...)
	b = jsonscan.AppendString(b, r.uri, true)
	b = append(b, `,"verb":`...)
	b = jsonscan.AppendString(b, r.verb, true)
	b = append(b, `,"user":`...)
	b = r.user.appendJSON(b)
	if r.imp != nil {
		b = append(b, `,"impersonatedUser":`...)
		b = r.imp.appendJSON(b)
	}
	if len(r.ips) > 0 {
		b = append(b, `,"sourceIPs":`...)
		b = appendValue(b, r.ips)
	}
	if r.ua != "" {
		b = append(b, `,"userAgent":`...)
		b = jsonscan.AppendString(b, r.ua, true)
	}
	if r.ref != nil {
		b = append(b, `,"objectRef":`...)
		if s == stageReceived {
			b = r.urlRef.appendJSON(b)
		} else {
			b = r.ref.appendJSON(b)
		}
	}
	if s != stageReceived {
		if r.status != nil {
			b = append(b, `,"responseStatus":`...)
			b = r.status.appendJSON(b)
		}
		if r.reqObj != nil {
			b = append(b, `,"requestObject":`...)
			b = append(b, r.reqObj...)
		}
		if r.respObj != nil && s == stageComplete {
			b = append(b, `,"responseObject":`...)
			b = append(b, r.respObj...)
		}
	}
	b = append(b, `,"requestReceivedTimestamp":`...)
	b = appendMicro(b, r.received)
	b = append(b, `,"stageTimestamp":`...)
	b = appendMicro(b, r.stageTime(s))
	if s != stageReceived && len(r.annots) > 0 {
		b = append(b, `,"annotations":{`...)
		for i, p := range r.annots {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonscan.AppendString(b, p.k, true)
			b = append(b, ':')
			b = jsonscan.AppendString(b, p.v, true)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// policy returns the audit level of a request and whether its
// RequestReceived stage is recorded, following the demo cluster's policy
// (see the package documentation).
func policy(u *userInfo, verb string, ref *objRef) (level string, received bool) {
	if ref == nil {
		return levelMetadata, false
	}
	res := ref.resource
	if ref.subresource != "" {
		res += "/" + ref.subresource
	}
	write := isWrite(verb)
	switch {
	case ref.apiGroup == "coordination.k8s.io" && res == "leases" && (verb == "get" || verb == "update") &&
		(u.name == "system:kube-controller-manager" || u.name == "system:kube-scheduler" ||
			u.name == "system:serviceaccount:kube-system:cloud-controller-manager"):
		return levelMetadata, false
	case u.inGroup("system:nodes") && (verb == "get" || verb == "update" || verb == "patch") &&
		((ref.apiGroup == "coordination.k8s.io" && res == "leases") || (ref.apiGroup == "" && res == "nodes/status")):
		return levelMetadata, false
	case ref.apiGroup == "" && (res == "secrets" || res == "configmaps" || res == "serviceaccounts/token"),
		ref.apiGroup == "authentication.k8s.io" && res == "tokenreviews":
		return levelMetadata, false
	case ref.apiGroup == "" && (res == "pods/exec" || res == "pods/attach" || res == "pods/portforward" ||
		res == "pods/proxy" || res == "services/proxy" || res == "nodes/proxy"):
		return levelMetadata, true
	case ref.apiGroup == "" && res == "serviceaccounts",
		ref.apiGroup == "rbac.authorization.k8s.io" && !strings.Contains(res, "/"),
		ref.apiGroup == "certificates.k8s.io" && strings.HasPrefix(res, "certificatesigningrequests"):
		return levelRequestResponse, true
	case write && (ref.apiGroup == "admissionregistration.k8s.io" || ref.apiGroup == "apiextensions.k8s.io" ||
		ref.apiGroup == "auditregistration.k8s.io"):
		return levelRequestResponse, true
	case write:
		return levelRequest, false
	}
	return levelMetadata, false
}

func isWrite(verb string) bool {
	switch verb {
	case "create", "update", "patch", "delete", "deletecollection":
		return true
	}
	return false
}

// rng wraps the random source with the helpers the generators need.
type rng struct{ *rand.Rand }

// uuid returns a random (version 4) UUID.
func (r rng) uuid() string {
	var u [16]byte
	binary.LittleEndian.PutUint64(u[:8], r.Uint64())
	binary.LittleEndian.PutUint64(u[8:], r.Uint64())
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	b := make([]byte, 36)
	j := 0
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j] = hexDigits[c>>4]
		b[j+1] = hexDigits[c&0xf]
		j += 2
	}
	return string(b)
}

// hex returns n random hex digits.
func (r rng) hex(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = hexDigits[r.IntN(16)]
	}
	return string(b)
}

// suffix returns n characters of the alphabet Kubernetes uses for generated
// names (k8s.io/apimachinery/pkg/util/rand).
func (r rng) suffix(n int) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

// dur returns a random duration in [lo, hi), in whole microseconds.
func (r rng) dur(lo, hi time.Duration) time.Duration {
	a, b := lo.Microseconds(), hi.Microseconds()
	if b <= a {
		return time.Duration(a) * time.Microsecond
	}
	return time.Duration(a+r.Int64N(b-a)) * time.Microsecond
}

// ms returns a random latency in [lo, hi) milliseconds, in microseconds.
func (r rng) ms(lo, hi float64) time.Duration {
	return r.dur(time.Duration(lo*float64(time.Millisecond)), time.Duration(hi*float64(time.Millisecond)))
}

func (r rng) chance(p float64) bool { return r.Float64() < p }

// b64 returns n random characters of the standard base64 alphabet.
func (r rng) b64(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(64)]
	}
	return string(b)
}
