package auditpolicy

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/cdewatch/cdewatch/internal/posture"
)

// TestEvaluateAgreesWithKubeAPIServer holds Evaluate to kube-apiserver's
// evaluator (k8s.io/apiserver/pkg/audit/policy) on every request of the
// matrix, for the test policies and for random ones.
func TestEvaluateAgreesWithKubeAPIServer(t *testing.T) {
	policies := map[string]*Policy{
		"guide-sample":      mustParse(t, readTestdata(t, "guide-sample.yaml")),
		"docs/audit-policy": mustParse(t, readFile(t, filepath.Join("..", "..", "..", "docs", "audit-policy.yaml"))),
	}
	for i, src := range generatedPolicies(t) {
		policies[fmt.Sprintf("generated-%d", i)] = mustParse(t, src)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 40 {
		policies[fmt.Sprintf("random-%02d", i)] = FromSpec(randomPolicy(rng))
	}
	for name, p := range policies {
		t.Run(name, func(t *testing.T) {
			ev := kubeEvaluator(t, p)
			m := buildMatrix(p, Options{CDENamespaces: []string{"payments"}})
			for _, c := range m.cells {
				d := p.Evaluate(c.p, c.r)
				level, stages := kubeDecision(ev, c.p, c.r)
				if d.Level != level || !slices.Equal(d.OmitStages, stages) {
					t.Fatalf("%s by %s: Evaluate gives %s omitting %v (rule %d), kube-apiserver %s omitting %v",
						c.r.Label(), c.p.Label(), d.Level, d.OmitStages, d.Rule, level, stages)
				}
			}
		})
	}
}

// randomPolicy draws a policy from the names the matrix uses, so that its
// conditions match some requests and miss others.
func randomPolicy(rng *rand.Rand) auditv1.Policy {
	pick := func(from []string) []string {
		if rng.IntN(2) == 0 {
			return nil
		}
		var out []string
		for _, s := range from {
			if rng.IntN(3) == 0 {
				out = append(out, s)
			}
		}
		return out
	}
	var p auditv1.Policy
	if rng.IntN(3) == 0 {
		p.OmitStages = []auditv1.Stage{stages[rng.IntN(len(stages))]}
	}
	for range 1 + rng.IntN(6) {
		r := auditv1.PolicyRule{
			Level:      levels[rng.IntN(len(levels))],
			Users:      pick([]string{"alice@example.com", "kubernetes-admin", "system:kube-scheduler", "system:anonymous"}),
			UserGroups: pick([]string{"system:masters", "system:nodes", "system:authenticated", "system:unauthenticated", "system:serviceaccounts"}),
			Verbs:      pick(allVerbs),
		}
		if rng.IntN(4) == 0 {
			r.NonResourceURLs = pick([]string{"/healthz*", "/logs", "/logs/*", "*", "/api"})
		} else {
			r.Namespaces = pick([]string{"payments", "kube-system", "", "default"})
			for range rng.IntN(3) {
				gr := auditv1.GroupResources{Group: []string{"", "apps", "rbac.authorization.k8s.io", "*"}[rng.IntN(4)]}
				gr.Resources = pick([]string{"pods", "pods/exec", "pods/*", "*/log", "*", "secrets", "roles", "deployments"})
				if len(gr.Resources) > 0 && rng.IntN(4) == 0 {
					gr.ResourceNames = []string{"example"}
				}
				r.Resources = append(r.Resources, gr)
			}
		}
		if rng.IntN(4) == 0 {
			r.OmitStages = []auditv1.Stage{stages[rng.IntN(len(stages))]}
		}
		p.Rules = append(p.Rules, r)
	}
	return p
}

// TestRecorded checks which stages a decision writes for the three kinds
// of request.
func TestRecorded(t *testing.T) {
	alice := &Principal{Name: "alice", Kind: Person}
	failed := &Principal{Kind: FailedAuthentication}
	get := Request{Verb: "get", Resource: "secrets", Namespace: "a", Name: "x"}
	exec := Request{Verb: "create", Resource: "pods", Subresource: "exec", Namespace: "a", Name: "x"}
	rr, rs, rc := auditv1.StageRequestReceived, auditv1.StageResponseStarted, auditv1.StageResponseComplete
	tests := []struct {
		name string
		d    Decision
		u    *Principal
		r    Request
		want []auditv1.Stage
	}{
		{"none level", Decision{Level: auditv1.LevelNone}, alice, get, nil},
		{"plain request", Decision{Level: auditv1.LevelMetadata}, alice, get, []auditv1.Stage{rr, rc}},
		{"received omitted", Decision{Level: auditv1.LevelMetadata, OmitStages: []auditv1.Stage{rr}}, alice, get, []auditv1.Stage{rc}},
		{"both omitted", Decision{Level: auditv1.LevelMetadata, OmitStages: []auditv1.Stage{rr, rc}}, alice, get, nil},
		{"long-running", Decision{Level: auditv1.LevelMetadata, OmitStages: []auditv1.Stage{rr}}, alice, exec, []auditv1.Stage{rs, rc}},
		{"failed authentication", Decision{Level: auditv1.LevelMetadata, OmitStages: []auditv1.Stage{rr}}, failed, get, []auditv1.Stage{rs}},
		{"failed authentication, started omitted", Decision{Level: auditv1.LevelRequest, OmitStages: []auditv1.Stage{rs}}, failed, get, nil},
		{"nil user", Decision{Level: auditv1.LevelMetadata}, nil, get, []auditv1.Stage{rs}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Recorded(tt.d, tt.u, tt.r); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestLongRunning lists the requests kube-apiserver treats as long-running.
func TestLongRunning(t *testing.T) {
	tests := []struct {
		r    Request
		want bool
	}{
		{Request{Verb: "watch", Resource: "pods"}, true},
		{Request{Verb: "get", Resource: "pods", Subresource: "log"}, true},
		{Request{Verb: "create", Resource: "pods", Subresource: "exec"}, true},
		{Request{Verb: "get", Resource: "nodes", Subresource: "proxy"}, true},
		{Request{Verb: "get", Resource: "pods"}, false},
		{Request{Verb: "patch", Resource: "nodes", Subresource: "status"}, false},
		{Request{Verb: "get", Path: "/logs"}, false},
	}
	for _, tt := range tests {
		if got := tt.r.LongRunning(); got != tt.want {
			t.Errorf("%s %s: long-running %v, want %v", tt.r.Verb, tt.r.Label(), got, tt.want)
		}
	}
}

// TestCheckRandomPolicies runs Check over random policies and holds the
// report to its invariants: a verdict per class plus 10.2.2 and 8.3.2,
// counts that add up, a failing verdict exactly when a required request is
// not logged or a high finding stands, findings with known severities.
func TestCheckRandomPolicies(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 60 {
		p := FromSpec(randomPolicy(rng))
		r, err := Check(p, "random", Options{CDENamespaces: []string{"payments"}, LogNamespaces: []string{"logging"}})
		if err != nil {
			t.Fatal(err)
		}
		assertKnownIDs(t, r.Findings)
		if len(r.Verdicts) != len(Classes)+2 {
			t.Fatalf("policy %d: %d verdicts", i, len(r.Verdicts))
		}
		for _, v := range r.Verdicts[:len(Classes)] {
			if v.CoreLogged > v.Core || v.SupplementaryLogged > v.Supplementary {
				t.Fatalf("policy %d: %s counts %+v", i, v.Requirement, v)
			}
			high := slices.ContainsFunc(r.Findings, func(f posture.Finding) bool {
				return f.Requirement == v.Requirement && f.Severity == posture.High
			})
			if fail := v.CoreLogged < v.Core || high; fail != (v.Status == posture.Fail) {
				t.Fatalf("policy %d: %s is %s with %d/%d required logged, high finding %v", i, v.Requirement, v.Status, v.CoreLogged, v.Core, high)
			}
		}
		notLogged := 0
		for _, row := range r.NotLogged {
			if len(row.Verbs) == 0 || len(row.Principals) == 0 || len(row.Needs) == 0 {
				t.Fatalf("policy %d: empty row %+v", i, row)
			}
			notLogged++
		}
		if (notLogged == 0) != (r.Matrix.NeededNotLogged == 0) {
			t.Fatalf("policy %d: %d rows for %d needed requests not logged", i, notLogged, r.Matrix.NeededNotLogged)
		}
	}
}
