package auditpolicy

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/audit/policy"

	"github.com/cdewatch/cdewatch/internal/posture"
)

// cdeDeclarations are the CDE declarations the generated policy is tested for.
var cdeDeclarations = [][]string{
	{"payments", "vault"},
	{"payments"},
	{"card-vault", "tokenizer", "checkout", "kube-system"},
	{"on", "true", "123"}, // valid names YAML would read as booleans and numbers unquoted
}

func generatedPolicies(tb testing.TB) [][]byte {
	tb.Helper()
	var out [][]byte
	for _, cde := range cdeDeclarations {
		src, err := Generate(GenerateOptions{CDENamespaces: cde})
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, src)
	}
	return out
}

// TestGeneratePasses checks that the generated policy decodes as a valid
// audit.k8s.io/v1 Policy (by Parse and by kube-apiserver's loader) and that
// the checker passes it, with no finding above info, for several CDE
// declarations, whatever the log pipeline's namespace.
func TestGeneratePasses(t *testing.T) {
	for i, src := range generatedPolicies(t) {
		cde := cdeDeclarations[i]
		t.Run(strings.Join(cde, ","), func(t *testing.T) {
			p := mustParse(t, src)
			if _, err := policy.LoadPolicyFromBytes(src); err != nil {
				t.Fatalf("kube-apiserver refuses the generated policy: %v", err)
			}
			for _, ns := range cde {
				if !slices.ContainsFunc(p.Spec.Rules, func(r auditv1.PolicyRule) bool { return slices.Contains(r.Namespaces, ns) }) {
					t.Errorf("no rule names CDE namespace %q", ns)
				}
			}
			for _, logNS := range [][]string{nil, {"logging", "kube-system"}} {
				r := mustCheck(t, p, Options{CDENamespaces: cde, LogNamespaces: logNS})
				for _, v := range r.Verdicts {
					if v.Status != posture.Pass {
						t.Errorf("log namespaces %v: %s is %s: %s", logNS, v.Requirement, v.Status, v.Why)
					}
				}
				for _, f := range r.Findings {
					if f.Severity > posture.Info {
						t.Errorf("log namespaces %v: finding %s %s: %s", logNS, f.Severity, f.ID, f.Text)
					}
				}
			}
			// Checked without the declaration, every namespace counts as CDE.
			r := mustCheck(t, p, Options{})
			for _, v := range r.Verdicts {
				if v.Status == posture.Fail {
					t.Errorf("undeclared: %s fails: %s", v.Requirement, v.Why)
				}
			}
		})
	}
}

// TestGenerateErrors checks the refused declarations.
func TestGenerateErrors(t *testing.T) {
	tests := []struct {
		cde  []string
		want string
	}{
		{nil, "no CDE namespaces"},
		{[]string{"Payments"}, `"Payments"`},
		{[]string{"pay_ments"}, `"pay_ments"`},
		{[]string{""}, `""`},
		{[]string{strings.Repeat("a", 64)}, "63"},
	}
	for _, tt := range tests {
		if _, err := Generate(GenerateOptions{CDENamespaces: tt.cde}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want an error naming %s", tt.cde, err, tt.want)
		}
	}
}

// TestGenerateDeduplicates checks that a namespace named twice appears once.
func TestGenerateDeduplicates(t *testing.T) {
	src, err := Generate(GenerateOptions{CDENamespaces: []string{"payments", "payments"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), `namespaces: ["payments"]`) {
		t.Errorf("namespaces not deduplicated:\n%s", src)
	}
}

// TestGenerateGolden pins the generated policy's text.
func TestGenerateGolden(t *testing.T) {
	src, err := Generate(GenerateOptions{CDENamespaces: []string{"payments", "vault"}})
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, filepath.Join("testdata", "generated-payments-vault.yaml.golden"), src)
}
