package sigma

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/detect"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/golden"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

var t0 = time.Date(2025, 4, 20, 7, 0, 0, 0, time.UTC)

// scenario feeds events to a Set and a Correlator, numbering them.
type scenario struct {
	tb     testing.TB
	set    *Set
	corr   *Correlator
	seq    uint64
	alerts []alert.Alert
}

func newScenario(tb testing.TB, set *Set) *scenario {
	return &scenario{tb: tb, set: set, corr: NewCorrelator(set)}
}

func loadRules(tb testing.TB) *Set {
	tb.Helper()
	s, errs, err := LoadWith(os.DirFS("testdata"), "rules", Options{Now: testClock})
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range errs {
		tb.Fatalf("load: %v", e)
	}
	return s
}

// feed evaluates one event and returns the alerts it raised.
func (sc *scenario) feed(table, doc string, at time.Duration, user, source string) []alert.Alert {
	sc.seq++
	e := detect.NewEvent(sc.seq, event.Record{Table: table, Raw: []byte(doc), Time: t0.Add(at), Source: source, User: user})
	var out []alert.Alert
	sc.set.EvalCorrelate(e, sc.corr, func(a alert.Alert) { out = append(out, a) })
	sc.alerts = append(sc.alerts, out...)
	return out
}

func (sc *scenario) signin(ip, upn string, result int, at time.Duration) []alert.Alert {
	doc := fmt.Sprintf(`{"time":%q,"resultType":"%d","category":"SignInLogs","properties":{"ipAddress":%q,"userPrincipalName":%q,"status":{"errorCode":%d}}}`,
		t0.Add(at).Format(time.RFC3339), result, ip, upn, result)
	return sc.feed(event.TableSigninLogs, doc, at, upn, "entra-contoso")
}

func (sc *scenario) kube(verb, resource, sub, ns, name, user string, at time.Duration) []alert.Alert {
	doc := fmt.Sprintf(`{"kind":"Event","verb":%q,"user":{"username":%q},"objectRef":{"resource":%q,"subresource":%q,"namespace":%q,"name":%q},"responseStatus":{"code":200}}`,
		verb, user, resource, sub, ns, name)
	return sc.feed(event.TableKubeAudit, doc, at, user, "aks-cde")
}

func rulesOf(as []alert.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Kind+":"+a.RuleTitle)
	}
	return out
}

func wantAlerts(tb testing.TB, what string, got []alert.Alert, want ...string) {
	tb.Helper()
	g := rulesOf(got)
	if strings.Join(g, "\n") != strings.Join(want, "\n") {
		tb.Errorf("%s: alerts\n got %q\nwant %q", what, g, want)
	}
}

const (
	burst    = "threshold:Burst of failed sign-ins from one address"
	takeover = "sequence:Failed sign-ins followed by a successful sign-in"
	escalate = "sequence:Role binding then secret read by the same subject"
	spread   = "threshold:Secrets read in many namespaces"
	secret   = "match:Secret read"
	rare     = "threshold:Node lease renewals too rare"
	both     = "sequence:Azure sign-in and Kubernetes exec by the same person"
)

func TestEventCount(t *testing.T) {
	sc := newScenario(t, loadRules(t))
	for i := 0; i < 4; i++ {
		wantAlerts(t, "failure", sc.signin("198.51.100.7", "admin@contoso.com", 50126, time.Duration(i)*time.Minute))
	}
	wantAlerts(t, "another address", sc.signin("198.51.100.8", "admin@contoso.com", 50126, 4*time.Minute))
	got := sc.signin("198.51.100.7", "root@contoso.com", 50126, 5*time.Minute)
	wantAlerts(t, "fifth failure", got, burst)
	if len(got) == 1 {
		a := got[0]
		if a.Key != "5b0a2f4e-31a8-4d0e-9a43-0c8a6f2d7e03|IPAddress=198.51.100.7" || a.Fields["count"] != "5" ||
			fmt.Sprint(a.Seqs) != "[1 2 3 4 6]" || a.Severity != alert.High || !a.Time.Equal(t0.Add(5*time.Minute)) {
			t.Errorf("alert %+v", a)
		}
	}
	// The group starts afresh: four more do not fire.
	for i := 6; i < 10; i++ {
		wantAlerts(t, "after the alert", sc.signin("198.51.100.7", "admin@contoso.com", 50126, time.Duration(i)*time.Minute))
	}
	// The window slides: of failures 0, 3, 6, 9, 14, 17 and 18 minutes
	// in, no five fall within ten minutes; the one at 19 makes five
	// (9, 14, 17, 18, 19).
	sc2 := newScenario(t, loadRules(t))
	for _, m := range []int{0, 3, 6, 9, 14, 17, 18} {
		wantAlerts(t, fmt.Sprintf("sliding %dm", m), sc2.signin("203.0.113.9", "a@contoso.com", 50126, time.Duration(m)*time.Minute))
	}
	got = sc2.signin("203.0.113.9", "a@contoso.com", 50126, 19*time.Minute)
	wantAlerts(t, "sliding 19m", got, burst)
	if len(got) == 1 && fmt.Sprint(got[0].Seqs) != "[4 5 6 7 8]" {
		t.Errorf("alert %+v", got[0])
	}
}

func TestChainedCorrelation(t *testing.T) {
	sc := newScenario(t, loadRules(t))
	wantAlerts(t, "success before", sc.signin("198.51.100.7", "admin@contoso.com", 0, 0))
	for i := 1; i <= 4; i++ {
		sc.signin("198.51.100.7", "admin@contoso.com", 50126, time.Duration(i)*time.Minute)
	}
	wantAlerts(t, "burst", sc.signin("198.51.100.7", "admin@contoso.com", 50126, 5*time.Minute), burst)
	wantAlerts(t, "success from another address", sc.signin("198.51.100.99", "admin@contoso.com", 0, 20*time.Minute))
	got := sc.signin("198.51.100.7", "admin@contoso.com", 0, 30*time.Minute)
	wantAlerts(t, "success after the burst", got, takeover)
	if len(got) == 1 && (fmt.Sprint(got[0].Seqs) != "[2 3 4 5 6 8]" || got[0].Severity != alert.Critical || fmt.Sprint(got[0].MITRE) != "[T1110.001]") {
		t.Errorf("alert %+v", got[0])
	}
}

func TestTemporalOrdered(t *testing.T) {
	sc := newScenario(t, loadRules(t))
	wantAlerts(t, "read before binding", sc.kube("get", "secrets", "", "payments", "card-key", "mallory", 0), secret)
	wantAlerts(t, "binding", sc.kube("create", "clusterrolebindings", "", "", "mallory-admin", "mallory", time.Minute))
	wantAlerts(t, "read by another", sc.kube("get", "secrets", "", "payments", "card-key", "alice", 2*time.Minute), secret)
	wantAlerts(t, "system read", sc.kube("get", "secrets", "", "payments", "card-key", "system:serviceaccount:kube-system:x", 3*time.Minute))
	got := sc.kube("list", "secrets", "", "payments", "", "mallory", 6*time.Minute)
	wantAlerts(t, "read after binding", got, secret, escalate)
	if len(got) == 2 {
		a := got[1]
		if fmt.Sprint(a.Seqs) != "[2 5]" || a.Key != "6c1b3a5f-42b9-4e1f-8b54-1d9b7a3e8f03|user.username=mallory" || fmt.Sprint(a.PCI) != "[10.2.1.1 10.2.1.2 10.4.1.1]" {
			t.Errorf("alert %+v", a)
		}
	}
	wantAlerts(t, "binding again", sc.kube("create", "rolebindings", "", "payments", "x", "mallory", 10*time.Minute))
	wantAlerts(t, "read too late", sc.kube("get", "secrets", "", "payments", "card-key", "mallory", 26*time.Minute), secret)
}

func TestValueCount(t *testing.T) {
	sc := newScenario(t, loadRules(t))
	wantAlerts(t, "a", sc.kube("get", "secrets", "", "a", "k", "alice", 0), secret)
	wantAlerts(t, "b", sc.kube("get", "secrets", "", "b", "k", "alice", time.Minute), secret)
	wantAlerts(t, "a again", sc.kube("get", "secrets", "", "a", "k", "alice", 2*time.Minute), secret)
	wantAlerts(t, "c by bob", sc.kube("get", "secrets", "", "c", "k", "bob", 3*time.Minute), secret)
	got := sc.kube("get", "secrets", "", "c", "k", "alice", 4*time.Minute)
	wantAlerts(t, "c", got, secret, spread)
	if len(got) == 2 && (got[1].Fields["count"] != "3" || got[1].Fields["count_of"] != "objectRef.namespace" || fmt.Sprint(got[1].Seqs) != "[2 3 5]") {
		t.Errorf("alert %+v", got[1])
	}
}

func TestTemporalAliases(t *testing.T) {
	sc := newScenario(t, loadRules(t))
	wantAlerts(t, "exec", sc.kube("create", "pods", "exec", "payments", "web-0", "alice@contoso.com", 0))
	wantAlerts(t, "bob signs in", sc.signin("203.0.113.5", "bob@contoso.com", 0, time.Minute))
	wantAlerts(t, "alice signs in", sc.signin("203.0.113.5", "alice@contoso.com", 0, 10*time.Minute), both)
	wantAlerts(t, "bob execs too late", sc.kube("create", "pods", "exec", "payments", "web-0", "bob@contoso.com", 40*time.Minute))
}

func TestUpperBoundAtWindowEnd(t *testing.T) {
	sc := newScenario(t, loadRules(t))
	lease := func(node string, at time.Duration) []alert.Alert {
		return sc.kube("update", "leases", "", "kube-node-lease", node, "system:node:"+node, at)
	}
	wantAlerts(t, "node-1", lease("node-1", 0))
	wantAlerts(t, "node-2", lease("node-2", time.Minute))
	wantAlerts(t, "node-2 again", lease("node-2", 11*time.Minute))
	var got []alert.Alert
	sc.corr.Advance(t0.Add(30*time.Minute), func(a alert.Alert) { got = append(got, a) })
	wantAlerts(t, "before the window ends", got)
	sc.corr.Advance(t0.Add(62*time.Minute), func(a alert.Alert) { got = append(got, a) })
	wantAlerts(t, "window end", got, rare)
	if len(got) == 1 && got[0].Fields["objectRef.name"] != "node-1" {
		t.Errorf("alert %+v", got[0])
	}
}

func TestCorrelatorState(t *testing.T) {
	set := loadRules(t)
	sc := newScenario(t, set)
	for i := 0; i < 3; i++ {
		sc.signin("198.51.100.7", "admin@contoso.com", 50126, time.Duration(i)*time.Minute)
	}
	sc.kube("create", "rolebindings", "", "payments", "x", "mallory", 2*time.Minute)
	saved, err := json.Marshal(sc.corr)
	if err != nil {
		t.Fatal(err)
	}
	// A restart: the same rules, a new correlator restored from the state.
	restored := newScenario(t, loadRules(t))
	restored.seq = sc.seq
	if err := json.Unmarshal(saved, restored.corr); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(restored.corr)
	if string(again) != string(saved) {
		t.Errorf("state does not round-trip:\n%s\n%s", saved, again)
	}
	wantAlerts(t, "fourth", restored.signin("198.51.100.7", "admin@contoso.com", 50126, 3*time.Minute))
	wantAlerts(t, "fifth", restored.signin("198.51.100.7", "admin@contoso.com", 50126, 4*time.Minute), burst)
	wantAlerts(t, "read", restored.kube("get", "secrets", "", "payments", "k", "mallory", 5*time.Minute), secret, escalate)
	// A changed definition drops the state saved for the old one.
	files := map[string]string{}
	for _, name := range []string{"failed_signins.yml", "rbac_then_secret.yml", "quiet_cluster.yml"} {
		b, err := os.ReadFile(filepath.Join("testdata", "rules", name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = strings.Replace(string(b), "timespan: 10m", "timespan: 20m", 1)
	}
	changed, errs := loadFS(t, files, Options{})
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	sc3 := newScenario(t, changed)
	sc3.seq = sc.seq
	if err := json.Unmarshal(saved, sc3.corr); err != nil {
		t.Fatal(err)
	}
	sc3.signin("198.51.100.7", "admin@contoso.com", 50126, 3*time.Minute)
	wantAlerts(t, "fifth, state dropped", sc3.signin("198.51.100.7", "admin@contoso.com", 50126, 4*time.Minute))
	wantAlerts(t, "read, state kept", sc3.kube("get", "secrets", "", "payments", "k", "mallory", 5*time.Minute), secret, escalate)
	for _, bad := range []string{`{`, `{"version":9}`, `{"version":1,"correlations":{"6c1b3a5f-42b9-4e1f-8b54-1d9b7a3e8f04":{"fingerprint":"x"}}}`} {
		err := json.Unmarshal([]byte(bad), NewCorrelator(set))
		if bad == `{"version":1,"correlations":{"6c1b3a5f-42b9-4e1f-8b54-1d9b7a3e8f04":{"fingerprint":"x"}}}` {
			if err != nil {
				t.Errorf("stale fingerprint: %v", err)
			}
			continue
		}
		if err == nil {
			t.Errorf("Unmarshal(%s) succeeded", bad)
		}
	}
}

// TestNoGroupBy checks a correlation over all events of its rule.
func TestNoGroupBy(t *testing.T) {
	s, errs := loadFS(t, map[string]string{"r.yml": "title: deletes\nid: d1\nlogsource:\n    product: kubernetes\n    service: audit\ndetection:\n    s:\n        verb: delete\n    condition: s\n---\n" +
		"title: many deletes\nid: d2\ncorrelation:\n    type: event_count\n    rules: [d1]\n    timespan: 1m\n    condition:\n        gte: 2\n"}, Options{})
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	sc := newScenario(t, s)
	wantAlerts(t, "first", sc.kube("delete", "pods", "", "a", "x", "alice", 0))
	got := sc.kube("delete", "secrets", "", "b", "y", "bob", 30*time.Second)
	wantAlerts(t, "second", got, "threshold:many deletes")
	if len(got) == 1 && (got[0].Key != "d2" || got[0].Summary != "many deletes: 2 events within 1m for all events") {
		t.Errorf("alert %+v", got[0])
	}
}

// TestGenerate checks which rules raise alerts of their own.
func TestGenerate(t *testing.T) {
	set := loadRules(t)
	want := map[string]bool{"failed_signin": false, "successful_signin": false, "lease_renewed": false, "pod_exec": false,
		"rolebinding_created": false, "secret_read": true}
	for _, r := range set.Rules() {
		if r.Generate != want[r.Name] {
			t.Errorf("%s: Generate = %v, want %v", r.Name, r.Generate, want[r.Name])
		}
	}
}

// TestCorrelationErrors checks the rejections of correlation rules.
func TestCorrelationErrors(t *testing.T) {
	base := "title: b\nid: b1\nname: base\nlogsource:\n    product: kubernetes\n    service: audit\ndetection:\n    s:\n        verb: get\n    condition: s\n"
	cases := []struct{ name, corr, want string }{
		{"unmapped group-by", "title: c\nid: c1\ncorrelation:\n    type: event_count\n    rules: [base]\n    group-by: [Computer]\n    timespan: 5m\n    condition:\n        gte: 2\n",
			`corr.yml:4: correlation.group-by: rule b1: field "Computer" is not a member of a Kubernetes audit event`},
		{"temporal of one rule", "title: c\nid: c1\ncorrelation:\n    type: temporal\n    rules: [base]\n    group-by: [verb]\n    timespan: 5m\n",
			`corr.yml:4: correlation.rules: temporal correlates at least two rules`},
		{"temporal lt", "title: c\nid: c1\ncorrelation:\n    type: temporal\n    rules: [base, b1]\n    group-by: [verb]\n    timespan: 5m\n    condition:\n        lt: 2\n",
			`corr.yml:9: correlation.condition: temporal condition lt: cdewatch evaluates temporal correlations with gt or gte only`},
		{"rule listed twice", "title: c\nid: c1\ncorrelation:\n    type: temporal\n    rules: [base, b1]\n    group-by: [verb]\n    timespan: 5m\n",
			`corr.yml:4: correlation.rules: rule "b1" listed twice`},
		{"cycle", "title: c\nid: c1\nname: c\ncorrelation:\n    type: event_count\n    rules: [d]\n    group-by: [verb]\n    timespan: 5m\n    condition:\n        gte: 2\n---\ntitle: d\nid: d1\nname: d\ncorrelation:\n    type: event_count\n    rules: [c]\n    group-by: [verb]\n    timespan: 5m\n    condition:\n        gte: 2\n",
			`corr.yml:5: correlation.rules: correlation c1 refers to itself through its rules`},
		{"duplicate id", "title: c\nid: b1\ncorrelation:\n    type: event_count\n    rules: [base]\n    group-by: [verb]\n    timespan: 5m\n    condition:\n        gte: 2\n",
			`corr.yml:1: id: duplicate id "b1" (first in rules/base.yml:1)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := loadFS(t, map[string]string{"base.yml": base, "corr.yml": tc.corr}, Options{})
			if len(errs) == 0 {
				t.Fatal("loaded")
			}
			if got := strings.TrimPrefix(errs[0].Error(), "rules/"); !strings.HasPrefix(got, tc.want) {
				t.Errorf("error\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestCorrelationGolden replays a scripted morning through the example
// rules and compares every alert with testdata/correlation.golden.json.
func TestCorrelationGolden(t *testing.T) {
	sc := newScenario(t, loadRules(t))
	for i := 0; i < 5; i++ {
		sc.signin("198.51.100.7", "admin@contoso.com", 50126, time.Duration(i)*time.Minute)
	}
	sc.signin("198.51.100.7", "admin@contoso.com", 0, 7*time.Minute)
	sc.kube("create", "pods", "exec", "payments", "web-0", "admin@contoso.com", 8*time.Minute)
	sc.kube("create", "clusterrolebindings", "", "", "admin-everything", "admin@contoso.com", 9*time.Minute)
	for i, ns := range []string{"payments", "kube-system", "monitoring"} {
		sc.kube("get", "secrets", "", ns, "token", "admin@contoso.com", time.Duration(10+i)*time.Minute)
	}
	sc.kube("update", "leases", "", "kube-node-lease", "aks-cde-1", "system:node:aks-cde-1", 12*time.Minute)
	sc.corr.Advance(t0.Add(2*time.Hour), func(a alert.Alert) { sc.alerts = append(sc.alerts, a) })
	golden.Check(t, filepath.Join("testdata", "correlation.golden.json"), render(t, sc.alerts), *update)
}

var _ = fstest.MapFS{}
