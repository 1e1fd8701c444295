package demo

import (
	"bytes"
	"encoding/json"
	"github.com/cdewatch/cdewatch/internal/jsonscan"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var testDay = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

// auditEvent mirrors the audit.k8s.io/v1 Event fields the tests look at.
type auditEvent struct {
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	Level      string `json:"level"`
	AuditID    string `json:"auditID"`
	Stage      string `json:"stage"`
	RequestURI string `json:"requestURI"`
	Verb       string `json:"verb"`
	User       struct {
		Username string              `json:"username"`
		UID      string              `json:"uid"`
		Groups   []string            `json:"groups"`
		Extra    map[string][]string `json:"extra"`
	} `json:"user"`
	ImpersonatedUser *struct {
		Username string `json:"username"`
	} `json:"impersonatedUser"`
	SourceIPs []string `json:"sourceIPs"`
	UserAgent string   `json:"userAgent"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
		APIGroup    string `json:"apiGroup"`
		APIVersion  string `json:"apiVersion"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Status  string `json:"status"`
		Message string `json:"message"`
		Reason  string `json:"reason"`
		Code    int    `json:"code"`
	} `json:"responseStatus"`
	RequestObject            json.RawMessage   `json:"requestObject"`
	ResponseObject           json.RawMessage   `json:"responseObject"`
	RequestReceivedTimestamp string            `json:"requestReceivedTimestamp"`
	StageTimestamp           string            `json:"stageTimestamp"`
	Annotations              map[string]string `json:"annotations"`
}

func (e *auditEvent) resource() string {
	if e.ObjectRef == nil {
		return ""
	}
	if e.ObjectRef.Subresource != "" {
		return e.ObjectRef.Resource + "/" + e.ObjectRef.Subresource
	}
	return e.ObjectRef.Resource
}

func (e *auditEvent) namespace() string {
	if e.ObjectRef == nil {
		return ""
	}
	return e.ObjectRef.Namespace
}

func (e *auditEvent) code() int {
	if e.ResponseStatus == nil {
		return 0
	}
	return e.ResponseStatus.Code
}

func decode(tb testing.TB, b []byte) *auditEvent {
	tb.Helper()
	var e auditEvent
	if err := json.Unmarshal(b, &e); err != nil {
		tb.Fatalf("invalid JSON: %v\n%s", err, b)
	}
	return &e
}

func parseMicro(tb testing.TB, s string) time.Time {
	tb.Helper()
	if !microRE.MatchString(s) {
		tb.Fatalf("timestamp %q is not RFC 3339 UTC with microseconds", s)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		tb.Fatalf("timestamp %q: %v", s, err)
	}
	return t
}

var (
	microRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`)
	uuidRE  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
)

// day returns the test day's raw and decoded events, computed once.
var day = sync.OnceValues(func() ([][]byte, []*auditEvent) {
	raw := Day(testDay, 1)
	evs := make([]*auditEvent, len(raw))
	for i, b := range raw {
		var e auditEvent
		if err := json.Unmarshal(b, &e); err == nil {
			evs[i] = &e
		}
	}
	return raw, evs
})

func dayEvents(tb testing.TB) ([][]byte, []*auditEvent) {
	tb.Helper()
	raw, evs := day()
	for i, e := range evs {
		if e == nil {
			decode(tb, raw[i]) // reports the error
		}
	}
	return raw, evs
}

func TestDayDeterministic(t *testing.T) {
	raw, _ := dayEvents(t)
	again := Day(testDay.Add(13*time.Hour+7*time.Minute), 1) // any time of the day
	if len(again) != len(raw) {
		t.Fatalf("second run: %d events, first: %d", len(again), len(raw))
	}
	for i := range raw {
		if !bytes.Equal(raw[i], again[i]) {
			t.Fatalf("event %d differs:\n%s\n%s", i, raw[i], again[i])
		}
	}
	other := Day(testDay, 2)
	if len(other) == len(raw) && bytes.Equal(other[0], raw[0]) && bytes.Equal(other[len(other)/2], raw[len(raw)/2]) {
		t.Error("seed 2 gives the same day as seed 1")
	}
}

func TestDayWellFormed(t *testing.T) {
	raw, evs := dayEvents(t)
	if n := len(raw); n < 20000 || n > 40000 {
		t.Errorf("%d events, want 20,000-40,000", n)
	}
	end := testDay.Add(24 * time.Hour)
	var prev time.Time
	seen := map[[2]string]bool{}
	for i, e := range evs {
		b := raw[i]
		if len(b) == 0 || b[len(b)-1] != '}' {
			t.Fatalf("event %d does not end with '}': %q", i, b[max(0, len(b)-10):])
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, b); err != nil || !bytes.Equal(compact.Bytes(), b) {
			t.Fatalf("event %d is not compact JSON: %v", i, err)
		}
		if e.Kind != "Event" || e.APIVersion != "audit.k8s.io/v1" {
			t.Fatalf("event %d: kind %q apiVersion %q", i, e.Kind, e.APIVersion)
		}
		if !uuidRE.MatchString(e.AuditID) {
			t.Fatalf("event %d: auditID %q is not a UUID", i, e.AuditID)
		}
		switch e.Stage {
		case "RequestReceived", "ResponseStarted", "ResponseComplete":
		default:
			t.Fatalf("event %d: stage %q", i, e.Stage)
		}
		k := [2]string{e.AuditID, e.Stage}
		if seen[k] {
			t.Fatalf("event %d: duplicate (auditID, stage) %v", i, k)
		}
		seen[k] = true
		st := parseMicro(t, e.StageTimestamp)
		rt := parseMicro(t, e.RequestReceivedTimestamp)
		if st.Before(testDay) || !st.Before(end) {
			t.Fatalf("event %d: stageTimestamp %s outside the day", i, e.StageTimestamp)
		}
		if st.Before(prev) {
			t.Fatalf("event %d: stageTimestamp %s before the previous %s", i, st, prev)
		}
		prev = st
		if st.Before(rt) {
			t.Fatalf("event %d: stage %s before the request was received %s", i, st, rt)
		}
		checkShape(t, e, b)
	}
}

// checkShape checks an event has what its level and stage allow, in the
// order kube-apiserver writes the fields.
func checkShape(tb testing.TB, e *auditEvent, b []byte) {
	tb.Helper()
	switch e.Level {
	case "Metadata", "Request", "RequestResponse":
	default:
		tb.Fatalf("level %q: %s", e.Level, b)
	}
	if e.Verb == "" || e.RequestURI == "" || !strings.HasPrefix(e.RequestURI, "/") {
		tb.Fatalf("verb %q requestURI %q: %s", e.Verb, e.RequestURI, b)
	}
	if (e.Stage == "RequestReceived") != (e.ResponseStatus == nil) {
		tb.Fatalf("stage %s with responseStatus %v: %s", e.Stage, e.ResponseStatus, b)
	}
	if e.RequestObject != nil && e.Level == "Metadata" || e.ResponseObject != nil && e.Level != "RequestResponse" {
		tb.Fatalf("bodies beyond level %s: %s", e.Level, b)
	}
	if e.ResponseObject != nil && e.Stage != "ResponseComplete" {
		tb.Fatalf("responseObject at stage %s: %s", e.Stage, b)
	}
	if e.Stage != "RequestReceived" && e.code() != 401 {
		d := e.Annotations["authorization.k8s.io/decision"]
		if _, ok := e.Annotations["authorization.k8s.io/reason"]; !ok || (d != "allow" && d != "forbid") {
			tb.Fatalf("authorization annotations missing: %s", b)
		}
		if (d == "forbid") != (e.code() == 403) {
			tb.Fatalf("decision %s with code %d: %s", d, e.code(), b)
		}
	}
	order := []string{"kind", "apiVersion", "level", "auditID", "stage", "requestURI", "verb", "user", "impersonatedUser",
		"sourceIPs", "userAgent", "objectRef", "responseStatus", "requestObject", "responseObject",
		"requestReceivedTimestamp", "stageTimestamp", "annotations"}
	last := -1
	for _, k := range topLevelKeys(tb, b) {
		i := slices.Index(order, k)
		if i <= last {
			tb.Fatalf("field %q out of order or unknown: %s", k, b)
		}
		last = i
	}
}

func topLevelKeys(tb testing.TB, b []byte) []string {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		tb.Fatalf("not an object: %v", err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			tb.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			tb.Fatal(err)
		}
	}
	return keys
}

// The stages of one request agree on everything but the stage.
func TestDayStagesAgree(t *testing.T) {
	_, evs := dayEvents(t)
	first := map[string]*auditEvent{}
	multi := 0
	for _, e := range evs {
		f, ok := first[e.AuditID]
		if !ok {
			first[e.AuditID] = e
			continue
		}
		multi++
		if f.RequestURI != e.RequestURI || f.Verb != e.Verb || f.User.Username != e.User.Username ||
			f.RequestReceivedTimestamp != e.RequestReceivedTimestamp || f.Level != e.Level {
			t.Fatalf("stages of %s disagree:\n%+v\n%+v", e.AuditID, f, e)
		}
	}
	if multi < 1000 {
		t.Errorf("only %d events share an auditID with an earlier stage", multi)
	}
}

// The incidents of the day's story are there.
func TestDayIncidents(t *testing.T) {
	_, evs := dayEvents(t)
	tests := []struct {
		name            string
		user, verb, res string
		ns              string
		code            int
		from, to        string // window of the stage timestamp, "15:04"
		min             int
	}{
		{"CI credentials create a service account at night", "ci-deployer@corp.example", "create", "serviceaccounts", "kube-system", 201, "02:00", "02:30", 1},
		{"cluster-admin binding for a service account", "ci-deployer@corp.example", "create", "clusterrolebindings", "", 201, "02:13", "02:15", 1},
		{"token request for it", "ci-deployer@corp.example", "create", "serviceaccounts/token", "kube-system", 201, "02:00", "02:30", 1},
		{"the service account lists all secrets", "system:serviceaccount:kube-system:cluster-ops", "list", "secrets", "", 200, "02:00", "03:00", 1},
		{"the service account reads CDE secrets", "system:serviceaccount:kube-system:cluster-ops", "get", "secrets", "payments", 200, "02:00", "03:00", 2},
		{"admission webhook deleted", "system:serviceaccount:kube-system:cluster-ops", "delete", "validatingwebhookconfigurations", "", 200, "02:00", "03:00", 1},
		{"anonymous requests forbidden", "system:anonymous", "list", "secrets", "payments", 403, "03:30", "04:00", 1},
		{"burst of 401s", "", "get", "secrets", "payments", 401, "03:30", "04:00", 5},
		{"more 401s", "", "list", "secrets", "", 401, "03:30", "04:00", 5},
		{"on-call exec into card-processor", "bob@corp.example", "create", "pods/exec", "payments", 101, "07:30", "08:00", 1},
		{"on-call reads a payments secret", "bob@corp.example", "get", "secrets", "payments", 200, "07:30", "08:30", 1},
		{"CI deploys in business hours", "ci-deployer@corp.example", "patch", "deployments", "payments", 200, "08:00", "18:00", 2},
		{"CI deploys storefront", "ci-deployer@corp.example", "patch", "deployments", "storefront", 200, "08:00", "18:00", 3},
		{"role change in payments", "alice@corp.example", "patch", "roles", "payments", 200, "11:00", "12:00", 1},
		{"contractor lists payments secrets", "mallory@contractor.example", "list", "secrets", "payments", 403, "12:30", "13:30", 1},
		{"contractor gets a payments secret", "mallory@contractor.example", "get", "secrets", "payments", 403, "12:30", "13:30", 1},
		{"contractor tries exec", "mallory@contractor.example", "create", "pods/exec", "payments", 403, "12:30", "13:30", 1},
		{"admin exec over WebSocket", "alice@corp.example", "get", "pods/exec", "storefront", 101, "14:00", "14:30", 1},
		{"node joins", "system:node:aks-nodepool1-27386523-vmss000003", "create", "nodes", "", 201, "14:20", "14:30", 1},
		{"CSR created", "alice@corp.example", "create", "certificatesigningrequests", "", 201, "15:30", "16:00", 1},
		{"CSR approved", "alice@corp.example", "update", "certificatesigningrequests/approval", "", 200, "15:30", "16:00", 1},
		{"namespace deleted", "alice@corp.example", "delete", "namespaces", "loadtest", 200, "16:00", "16:30", 1},
		{"namespace finalized", "system:serviceaccount:kube-system:namespace-controller", "update", "namespaces/finalize", "loadtest", 200, "16:00", "16:30", 1},
		{"card-processor reads its key all day", "system:serviceaccount:payments:card-processor", "get", "secrets", "payments", 200, "00:00", "23:59", 500},
		{"tokenizer reads its key", "system:serviceaccount:payments:tokenizer", "get", "secrets", "payments", 200, "00:00", "23:59", 200},
		{"kubelet tokens", "system:node:aks-nodepool1-27386523-vmss000001", "create", "serviceaccounts/token", "payments", 201, "00:00", "23:59", 20},
		{"kubelet leases", "system:node:aks-nodepool1-27386523-vmss000000", "update", "leases", "kube-node-lease", 200, "00:00", "23:59", 2000},
		{"leader election", "system:kube-controller-manager", "update", "leases", "kube-system", 200, "00:00", "23:59", 1000},
	}
	clock := func(s string) time.Time {
		c, err := time.Parse("15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return testDay.Add(time.Duration(c.Hour())*time.Hour + time.Duration(c.Minute()+1)*time.Minute)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from, to := clock(tt.from).Add(-time.Minute), clock(tt.to)
			n := 0
			for _, e := range evs {
				if e.Stage == "RequestReceived" || e.User.Username != tt.user || e.Verb != tt.verb ||
					e.resource() != tt.res || e.namespace() != tt.ns || e.code() != tt.code {
					continue
				}
				if tt.code == 101 && e.Stage != "ResponseComplete" {
					continue
				}
				ts := parseMicro(t, e.StageTimestamp)
				if ts.Before(from) || !ts.Before(to) {
					continue
				}
				n++
			}
			if n < tt.min {
				t.Errorf("%d events (%s %s %s in %q, code %d, %s-%s), want at least %d",
					n, tt.user, tt.verb, tt.res, tt.ns, tt.code, tt.from, tt.to, tt.min)
			}
		})
	}
}

// The night's ClusterRoleBinding is recorded with its body.
func TestDayClusterAdminBinding(t *testing.T) {
	_, evs := dayEvents(t)
	for _, e := range evs {
		if e.resource() != "clusterrolebindings" || e.Verb != "create" || e.Stage != "ResponseComplete" {
			continue
		}
		var crb struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Subjects []struct{ Kind, Name, Namespace string } `json:"subjects"`
			RoleRef  struct{ APIGroup, Kind, Name string }    `json:"roleRef"`
		}
		if err := json.Unmarshal(e.RequestObject, &crb); err != nil {
			t.Fatalf("requestObject: %v", err)
		}
		if crb.Kind != "ClusterRoleBinding" || crb.RoleRef.Name != "cluster-admin" || len(crb.Subjects) != 1 ||
			crb.Subjects[0].Kind != "ServiceAccount" || crb.Metadata.Name != e.ObjectRef.Name {
			t.Errorf("unexpected binding %+v", crb)
		}
		if e.ResponseObject == nil || e.Level != "RequestResponse" {
			t.Errorf("binding recorded at level %s without its response", e.Level)
		}
		if ts := e.StageTimestamp; !strings.HasPrefix(ts[11:], "02:13") {
			t.Errorf("binding at %s, want 02:13", ts)
		}
		return
	}
	t.Fatal("no ClusterRoleBinding created")
}

// Failed authentication is recorded as kube-apiserver records it: no user,
// ResponseStarted only, no authorization annotations.
func TestDayUnauthenticated(t *testing.T) {
	_, evs := dayEvents(t)
	n := 0
	for _, e := range evs {
		if e.code() != 401 {
			continue
		}
		n++
		if e.User.Username != "" || e.Stage != "ResponseStarted" || len(e.Annotations) != 0 || e.ResponseStatus.Reason != "Unauthorized" {
			t.Fatalf("unexpected 401 event %+v", e)
		}
	}
	if n < 30 {
		t.Errorf("%d 401s, want a burst of at least 30", n)
	}
}

// Nothing in a day looks like a card number: no run of 13 to 19 digits
// passes the Luhn check.
func TestDayNoCardNumbers(t *testing.T) {
	raw, _ := dayEvents(t)
	digits := regexp.MustCompile(`\d{13,19}`)
	for i, b := range raw {
		for _, m := range digits.FindAll(b, -1) {
			for l := 13; l <= len(m); l++ {
				for s := 0; s+l <= len(m); s++ {
					if luhn(m[s : s+l]) {
						t.Fatalf("event %d has a Luhn-valid digit run %s", i, m[s:s+l])
					}
				}
			}
		}
	}
}

func luhn(d []byte) bool {
	sum := 0
	for i := range d {
		n := int(d[len(d)-1-i] - '0')
		if i%2 == 1 {
			n *= 2
			if n > 9 {
				n -= 9
			}
		}
		sum += n
	}
	return sum%10 == 0
}

func TestAppendString(t *testing.T) {
	tests := []string{
		"", "plain", `quote " and \ backslash`, "a&b<c>d", "tab\tnew\nline\rcr", "\x00\x01\x1f\x7f",
		"unicode é ü 漢字", "line\u2028sep\u2029para", "bad \xff utf8", `{"json":"inside"}`,
	}
	for _, s := range tests {
		t.Run(s, func(t *testing.T) {
			want, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			if got := jsonscan.AppendString(nil, s, true); !bytes.Equal(got, want) {
				t.Errorf("jsonscan.AppendString(%q, true) = %s, want %s", s, got, want)
			}
		})
	}
}

func TestGeneratorSizes(t *testing.T) {
	g := NewGenerator(42)
	at := time.Date(2026, 11, 26, 10, 15, 30, 123456000, time.UTC)
	ids := map[string]bool{}
	verbs, users, resources := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i := range 1000 {
		ts := at.Add(time.Duration(i) * 3 * time.Millisecond)
		b := g.NextAt(ts)
		if len(b) < 1536 || len(b) > 2048 {
			t.Fatalf("event %d is %d bytes, want 1.5-2 KB: %s", i, len(b), b)
		}
		e := decode(t, b)
		checkShape(t, e, b)
		if e.Level != "Request" && e.Level != "RequestResponse" {
			t.Fatalf("event %d at level %s", i, e.Level)
		}
		if e.RequestObject == nil && e.ResponseObject == nil {
			t.Fatalf("event %d has no body: %s", i, b)
		}
		if got := parseMicro(t, e.StageTimestamp); !got.Equal(ts) {
			t.Fatalf("stageTimestamp %s, want %s", got, ts)
		}
		if ids[e.AuditID] {
			t.Fatalf("event %d repeats auditID %s", i, e.AuditID)
		}
		ids[e.AuditID] = true
		verbs[e.Verb], users[e.User.Username], resources[e.resource()] = true, true, true
	}
	if len(verbs) < 4 || len(users) < 10 || len(resources) < 12 {
		t.Errorf("too little variety: %d verbs, %d users, %d resources", len(verbs), len(users), len(resources))
	}
}

func TestGeneratorSeeds(t *testing.T) {
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	a, b, c := NewGenerator(1), NewGenerator(1), NewGenerator(2)
	ids := map[string]bool{}
	for i := range 500 {
		ts := at.Add(time.Duration(i) * time.Millisecond)
		ea, eb, ec := a.NextAt(ts), b.NextAt(ts), c.NextAt(ts)
		if !bytes.Equal(ea, eb) {
			t.Fatalf("same seed, event %d differs", i)
		}
		for _, e := range [][]byte{ea, ec} {
			id := decode(t, e).AuditID
			if ids[id] {
				t.Fatalf("auditID %s repeated across seeds", id)
			}
			ids[id] = true
		}
	}
	if e := decode(t, NewGenerator(3).Next()); time.Since(parseMicro(t, e.StageTimestamp)) > time.Minute {
		t.Errorf("Next stamped %s, want now", e.StageTimestamp)
	}
}

func BenchmarkGeneratorNext(b *testing.B) {
	g := NewGenerator(1)
	b.SetBytes(int64(len(g.Next())))
	b.ReportAllocs()
	for b.Loop() {
		g.Next()
	}
}

func BenchmarkDay(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Day(testDay, 1)
	}
}
