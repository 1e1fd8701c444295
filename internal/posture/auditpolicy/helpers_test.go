package auditpolicy

import (
	"flag"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	auditpkg "k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/cdewatch/cdewatch/internal/golden"
	"github.com/cdewatch/cdewatch/internal/posture"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

func checkGolden(tb testing.TB, path string, got []byte) {
	tb.Helper()
	golden.Check(tb, path, got, *update)
}

// mustParse parses a policy the test expects to be valid.
func mustParse(tb testing.TB, src []byte) *Policy {
	tb.Helper()
	p, err := Parse(src)
	if err != nil {
		tb.Fatalf("parse: %v\n%s", err, src)
	}
	return p
}

// mustCheck runs Check and fails the test on error.
func mustCheck(tb testing.TB, p *Policy, o Options) *Report {
	tb.Helper()
	r, err := Check(p, "test.yaml", o)
	if err != nil {
		tb.Fatal(err)
	}
	assertKnownIDs(tb, r.Findings)
	return r
}

// assertKnownIDs fails when a finding's ID is not in FindingIDs (and so
// not documented).
func assertKnownIDs(tb testing.TB, fs []posture.Finding) {
	tb.Helper()
	for _, f := range fs {
		if !slices.Contains(FindingIDs(), f.ID) {
			tb.Errorf("finding ID %q is not in FindingIDs", f.ID)
		}
	}
}

// kubeEvaluator is kube-apiserver's own policy evaluator
// (k8s.io/apiserver/pkg/audit/policy) for the policy.
func kubeEvaluator(tb testing.TB, p *Policy) auditpkg.PolicyRuleEvaluator {
	tb.Helper()
	var internal audit.Policy
	// The conversion shares slices; the evaluator rewrites the rules' stages.
	if err := auditv1.Convert_v1_Policy_To_audit_Policy(p.Spec.DeepCopy(), &internal, nil); err != nil {
		tb.Fatal(err)
	}
	return policy.NewPolicyRuleEvaluator(&internal)
}

// kubeDecision asks kube-apiserver's evaluator for the level and omitted
// stages of request r by u (nil or FailedAuthentication: no user).
func kubeDecision(ev auditpkg.PolicyRuleEvaluator, u *Principal, r Request) (auditv1.Level, []auditv1.Stage) {
	attrs := authorizer.AttributesRecord{
		Verb: r.Verb, Namespace: r.Namespace, APIGroup: r.APIGroup, Resource: r.Resource,
		Subresource: r.Subresource, Name: r.Name, ResourceRequest: r.IsResource(), Path: r.Path,
	}
	if u != nil && u.Kind != FailedAuthentication {
		attrs.User = &user.DefaultInfo{Name: u.Name, Groups: u.Groups}
	}
	rc := ev.EvaluatePolicyRule(attrs)
	var stages []auditv1.Stage
	for _, s := range rc.OmitStages {
		if !slices.Contains(stages, auditv1.Stage(s)) {
			stages = append(stages, auditv1.Stage(s))
		}
	}
	slices.Sort(stages)
	return auditv1.Level(rc.Level), stages
}

// verdictOf returns the status of requirement req in r.
func verdictOf(tb testing.TB, r *Report, req string) posture.Status {
	tb.Helper()
	for _, v := range r.Verdicts {
		if v.Requirement == req {
			return v.Status
		}
	}
	tb.Fatalf("no verdict for %s", req)
	return ""
}

// findingsWithID returns the findings of r with the id.
func findingsWithID(r *Report, id string) []posture.Finding {
	var out []posture.Finding
	for _, f := range r.Findings {
		if f.ID == id {
			out = append(out, f)
		}
	}
	return out
}

// TestFindingIDsDocumented checks that docs/POSTURE.md describes every
// finding ID.
func TestFindingIDsDocumented(t *testing.T) {
	doc := string(readFile(t, filepath.Join("..", "..", "..", "docs", "POSTURE.md")))
	for _, id := range FindingIDs() {
		if !strings.Contains(doc, "| `"+id+"` |") {
			t.Errorf("docs/POSTURE.md has no table row for %s", id)
		}
	}
}
