package auditpolicy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/audit/policy"
)

const header = "apiVersion: audit.k8s.io/v1\nkind: Policy\n"

// TestParseErrors checks that each kind of mistake is refused with the
// line it is on and words that say what is wrong.
func TestParseErrors(t *testing.T) {
	aliasBomb := header + "rules: [&r {level: None, verbs: [v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15, v16]}, " +
		strings.Repeat("*r, ", 20000) + "*r]\n"
	tests := []struct {
		name     string
		src      string
		wantLine int
		want     string
	}{
		{"empty", "", 0, "the file is empty"},
		{"comments only", "# nothing\n", 0, "the file is empty"},
		{"not yaml", header + "rules: [\n", 3, "not valid YAML"},
		{"tab indentation", header + "rules:\n\t- level: None\n", 4, "not valid YAML"},
		{"a list", "- a\n- b\n", 1, "the document is a list, not a mapping"},
		{"a string", "hello\n", 1, `the string "hello"`},
		{"no kind", "apiVersion: audit.k8s.io/v1\nrules: []\n", 1, "no kind"},
		{"deployment", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n", 2, `kind is "Deployment", not Policy`},
		{"audit event", `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata"}`, 1, "audit log record"},
		{"kubeconfig", "apiVersion: v1\nkind: Config\nclusters: []\n", 2, "kubeconfig"},
		{"v1beta1", "apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules:\n- level: Metadata\n", 1, "removed in Kubernetes 1.24"},
		{"no apiVersion", "kind: Policy\nrules:\n- level: Metadata\n", 1, "no apiVersion"},
		{"other apiVersion", "apiVersion: v1\nkind: Policy\n", 1, `apiVersion is "v1"`},
		{"two documents", header + "rules:\n- level: Metadata\n---\n" + header + "rules: []\n", 5, "second YAML document"},
		{"no rules", header + "rules: []\n", 3, "no rules"},
		{"rules absent", header + "omitStages: [RequestReceived]\n", 0, "no rules"},
		{"unknown top-level field", header + "spec:\n  rules: []\n", 3, `unknown field "spec"`},
		{"unknown rule field", header + "rules:\n- level: None\n  namespace: [kube-system]\n", 5, `unknown field "namespace" (did you mean "namespaces"?); kube-apiserver would only warn`},
		{"capitalized field", header + "rules:\n- Level: None\n", 4, `unknown field "Level" (did you mean "level"?)`},
		{"bad level", header + "rules:\n- level: Metadata\n- level: Full\n", 5, `"Full" is not a level`},
		{"level case", header + "rules:\n- level: metadata\n", 4, "did you mean Metadata?"},
		{"no level", header + "rules:\n- verbs: [get]\n", 4, "no level"},
		{"repeated field", header + "rules:\n- level: None\n  level: Metadata\n", 5, "repeated field (first at line 4)"},
		{"verbs not a list", header + "rules:\n- level: None\n  verbs: get\n", 5, `expected a list, got the string "get"`},
		{"number as namespace", header + "rules:\n- level: None\n  namespaces: [2024]\n", 5, `expected a string, got the number "2024"`},
		{"YAML 1.1 boolean", header + "rules:\n- level: None\n  namespaces: [on]\n", 5, "read as a boolean by kube-apiserver's YAML parser"},
		{"rule not a mapping", header + "rules:\n- Metadata\n", 4, "expected a mapping"},
		{"bad stage", header + "omitStages: [ResponseCompleted]\nrules:\n- level: None\n", 3, "did you mean ResponseComplete?"},
		{"bad rule stage", header + "rules:\n- level: None\n  omitStages: [Started]\n", 5, `"Started" is not a stage`},
		{"url without slash", header + "rules:\n- level: None\n  nonResourceURLs: [healthz]\n", 5, "must begin with /"},
		{"url star inside", header + "rules:\n- level: None\n  nonResourceURLs: [/api/*/x]\n", 5, "may only be the last character"},
		{"urls and resources", header + "rules:\n- level: None\n  nonResourceURLs: [/metrics]\n  resources: [{group: \"\"}]\n", 5, "not both"},
		{"group with version", header + "rules:\n- level: None\n  resources:\n  - group: rbac.authorization.k8s.io/v1\n", 6, `without its version: "rbac.authorization.k8s.io"`},
		{"resourceNames alone", header + "rules:\n- level: None\n  resources:\n  - group: \"\"\n    resourceNames: [x]\n", 7, "resourceNames needs resources"},
		{"merge key", header + "metadata:\n  annotations: &b {level: None}\nrules:\n- <<: *b\n", 6, "merge keys"},
		{"quoted boolean", header + "omitManagedFields: \"yes\"\nrules:\n- level: None\n", 3, "expected true or false"},
		{"metadata unknown field", header + "metadata:\n  nam: x\nrules:\n- level: None\n", 4, `unknown field "nam"`},
		{"metadata wrong type", header + "metadata: [x]\nrules:\n- level: None\n", 3, "expected a mapping (object metadata)"},
		{"alias bomb", aliasBomb, 3, "expands (through aliases)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.src))
			if err == nil {
				t.Fatalf("accepted:\n%s\nas %+v", tt.src, p.Spec)
			}
			var pe *Error
			if !errors.As(err, &pe) || len(pe.Problems) == 0 {
				t.Fatalf("error %T %v is not an *Error with problems", err, err)
			}
			first := pe.Problems[0]
			if first.Line != tt.wantLine {
				t.Errorf("line %d, want %d (%v)", first.Line, tt.wantLine, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

// TestParseTooBig checks the size bound.
func TestParseTooBig(t *testing.T) {
	big := header + "rules:\n- level: Metadata\n#" + strings.Repeat("x", MaxPolicyBytes) + "\n"
	if _, err := Parse([]byte(big)); err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("got %v, want a size error", err)
	}
}

// TestParseLines checks the line numbers recorded for rules and fields.
func TestParseLines(t *testing.T) {
	p := mustParse(t, readTestdata(t, "guide-sample.yaml"))
	for i, want := range []int{5, 11, 16} {
		if got := p.RuleLine(i); got != want {
			t.Errorf("rule %d at line %d, want %d", i, got, want)
		}
	}
	if got := p.Line("rules[0].resources[0].resources[2]"); got != 10 {
		t.Errorf("rules[0].resources[0].resources[2] at line %d, want 10", got)
	}
	if got := p.Line("rules[1].verbs"); got != 12 {
		t.Errorf("rules[1].verbs at line %d, want 12", got)
	}
	if got := FromSpec(p.Spec).RuleLine(0); got != 0 {
		t.Errorf("a policy built in code has line %d, want 0", got)
	}
}

// TestParseAgreesWithKubeAPIServer decodes valid policies with
// kube-apiserver's own loader (k8s.io/apiserver/pkg/audit/policy) and
// checks that both read the same policy.
func TestParseAgreesWithKubeAPIServer(t *testing.T) {
	srcs := map[string][]byte{
		"guide-sample.yaml":      readTestdata(t, "guide-sample.yaml"),
		"docs/audit-policy.yaml": readFile(t, filepath.Join("..", "..", "..", "docs", "audit-policy.yaml")),
		"json": []byte(`{"apiVersion":"audit.k8s.io/v1","kind":"Policy","metadata":{"name":"p","labels":{"a":"b"}},` +
			`"omitStages":["RequestReceived"],"omitManagedFields":true,"rules":[{"level":"None","users":["u"],` +
			`"omitManagedFields":false,"resources":[{"group":"*","resources":["pods/*"],"resourceNames":["x"]}]},{"level":"Metadata"}]}`),
		"aliases": []byte(header + "rules:\n- level: Request\n  verbs: &w [create, update]\n- level: RequestResponse\n  verbs: *w\n- &all {level: Metadata}\n- *all\n"),
		"nulls":   []byte(header + "omitStages: ~\nrules:\n- level: Metadata\n  verbs: null\n  namespaces: []\n"),
	}
	for i, src := range generatedPolicies(t) {
		srcs[fmt.Sprintf("generated-%d", i)] = src
	}
	for name, src := range srcs {
		t.Run(name, func(t *testing.T) {
			ours := mustParse(t, src)
			theirs, err := policy.LoadPolicyFromBytes(src)
			if err != nil {
				t.Fatalf("kube-apiserver refuses what Parse accepts: %v", err)
			}
			var converted audit.Policy
			if err := auditv1.Convert_v1_Policy_To_audit_Policy(ours.Spec.DeepCopy(), &converted, nil); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(&converted, theirs) {
				t.Errorf("policies differ:\nours   %+v\ntheirs %+v", converted, *theirs)
			}
		})
	}
}

// TestParseStricterThanKubeAPIServer shows why Parse refuses unknown
// fields: kube-apiserver accepts them with a warning and drops them, so a
// misspelt condition silently widens a None rule.
func TestParseStricterThanKubeAPIServer(t *testing.T) {
	src := []byte(header + "rules:\n- level: None\n  namespace: [kube-system]\n- level: Metadata\n")
	if _, err := Parse(src); err == nil {
		t.Fatal("Parse accepted an unknown field")
	}
	theirs, err := policy.LoadPolicyFromBytes(src)
	if err != nil {
		t.Fatalf("kube-apiserver refused it too (%v); the error message's claim is wrong", err)
	}
	if n := len(theirs.Rules[0].Namespaces); n != 0 {
		t.Fatalf("kube-apiserver kept %d namespaces; the error message's claim is wrong", n)
	}
	// And a YAML 1.1 boolean is refused by both.
	src = []byte(header + "rules:\n- level: None\n  namespaces: [on]\n- level: Metadata\n")
	if _, err := policy.LoadPolicyFromBytes(src); err == nil {
		t.Fatal("kube-apiserver accepted namespaces: [on]; the YAML 1.1 problem message is wrong")
	}
}

func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	return readFile(tb, filepath.Join("testdata", name))
}

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
