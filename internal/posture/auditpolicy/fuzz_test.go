package auditpolicy

import (
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/audit/policy"
)

// FuzzParse checks that Parse never panics, that it refuses with an *Error
// holding at least one problem, and that what it accepts kube-apiserver's
// loader accepts too, reads the same, and evaluates the same on a sample of
// requests. (Check, whose matrix takes milliseconds, runs over random
// policies in TestCheckRandomPolicies instead.)
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"testdata/*.yaml", "testdata/invalid/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			f.Add(readFile(f, file))
		}
	}
	for _, src := range generatedPolicies(f) {
		f.Add(src)
	}
	f.Add([]byte(header + "rules:\n- level: Metadata\n  nonResourceURLs: [\"/logs*\"]\n"))
	f.Add([]byte(`{"apiVersion":"audit.k8s.io/v1","kind":"Policy","rules":[{"level":"None","users":["a"]}]}`))
	sample := []Request{
		{Verb: "get", Resource: "secrets", Namespace: "payments", Name: "x"},
		{Verb: "create", Resource: "pods", Subresource: "exec", Namespace: "kube-system", Name: "x"},
		{Verb: "list", APIGroup: "rbac.authorization.k8s.io", Resource: "clusterroles"},
		{Verb: "get", Path: "/healthz"},
	}
	users := []*Principal{
		{Name: "a", Groups: []string{"system:authenticated"}, Kind: Person},
		{Name: "system:anonymous", Groups: []string{"system:unauthenticated"}, Kind: Anonymous},
		{Kind: FailedAuthentication},
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		p, err := Parse(src)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || len(pe.Problems) == 0 || p != nil {
				t.Fatalf("error %v (%T) with policy %v", err, err, p)
			}
			return
		}
		theirs, err := policy.LoadPolicyFromBytes(src)
		if err != nil {
			t.Fatalf("Parse accepts what kube-apiserver refuses (%v):\n%s", err, src)
		}
		var ours audit.Policy
		if err := auditv1.Convert_v1_Policy_To_audit_Policy(p.Spec.DeepCopy(), &ours, nil); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(&ours, theirs) {
			t.Fatalf("read differently:\nours   %+v\ntheirs %+v\n%s", ours, *theirs, src)
		}
		ev := kubeEvaluator(t, p)
		for _, u := range users {
			for _, r := range sample {
				d := p.Evaluate(u, r)
				level, stages := kubeDecision(ev, u, r)
				if d.Level != level || !slices.Equal(d.OmitStages, stages) {
					t.Fatalf("%s by %s: %s %v, kube-apiserver %s %v", r.Label(), u.Label(), d.Level, d.OmitStages, level, stages)
				}
			}
		}
	})
}
