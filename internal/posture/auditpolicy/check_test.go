package auditpolicy

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cdewatch/cdewatch/internal/posture"
)

// TestCheckGuideSample checks what the report says about the sample policy
// of Microsoft's AKS PCI guide (Requirement 10.2.2 there): it writes Secret
// bodies at RequestResponse in kube-system and default, logs changes in
// those two namespaces only, has no rule for RBAC objects and no catch-all.
func TestCheckGuideSample(t *testing.T) {
	p := mustParse(t, readTestdata(t, "guide-sample.yaml"))
	r := mustCheck(t, p, Options{CDENamespaces: []string{"payments", "vault"}})

	secrets := findingsWithID(r, "secret-values-logged")
	if len(secrets) != 1 {
		t.Fatalf("secret-values-logged findings: %+v", secrets)
	}
	f := secrets[0]
	if f.Severity != posture.High || f.Rule == nil || *f.Rule != 0 || f.Line != 5 || f.Requirement != "8.3.2" {
		t.Errorf("secret finding at %s, %s, %s", f.Where(), f.Severity, f.Requirement)
	}
	for _, want := range []string{"Secret bodies", "RequestResponse", "of secrets in default, kube-system."} {
		if !strings.Contains(f.Text, want) {
			t.Errorf("secret finding %q does not say %q", f.Text, want)
		}
	}

	writes := findingsWithID(r, "writes-only-in-namespaces")
	if len(writes) != 1 || !strings.Contains(writes[0].Text, "logged only in default, kube-system (and there only ") ||
		!strings.Contains(writes[0].Text, "in payments, vault, (any other namespace) no change is logged") {
		t.Errorf("writes-only-in-namespaces: %+v", writes)
	}
	if rbac := findingsWithID(r, "no-rbac-rule"); len(rbac) != 1 || rbac[0].Severity != posture.High || rbac[0].Requirement != "10.2.1.5" {
		t.Errorf("no-rbac-rule: %+v", rbac)
	}
	if ca := findingsWithID(r, "no-catch-all"); len(ca) != 1 || ca[0].Severity != posture.High {
		t.Errorf("no-catch-all: %+v", ca)
	}
	if low := findingsWithID(r, "secret-read-at-request"); len(low) != 1 || low[0].Severity != posture.Low || *low[0].Rule != 1 {
		t.Errorf("secret-read-at-request: %+v", low)
	}
	want := map[string]posture.Status{
		"10.2.1.1": posture.Fail, "10.2.1.2": posture.Fail, "10.2.1.3": posture.Fail, "10.2.1.4": posture.Fail,
		"10.2.1.5": posture.Fail, "10.2.1.6": posture.Fail, "10.2.1.7": posture.Fail, "10.2.2": posture.Pass, "8.3.2": posture.Fail,
	}
	for req, status := range want {
		if got := verdictOf(t, r, req); got != status {
			t.Errorf("%s: %s, want %s", req, got, status)
		}
	}
	if err := posture.Check(verdictsOf(r)); err == nil {
		t.Error("the sample policy passes")
	}
}

// TestCheckRepositoryPolicy checks that the policy the repository
// recommends (docs/audit-policy.yaml) fails no requirement.
func TestCheckRepositoryPolicy(t *testing.T) {
	p := mustParse(t, readFile(t, filepath.Join("..", "..", "..", "docs", "audit-policy.yaml")))
	for _, o := range []Options{{}, {CDENamespaces: []string{"payments", "vault"}}} {
		r := mustCheck(t, p, o)
		for _, v := range r.Verdicts {
			if v.Status == posture.Fail {
				t.Errorf("CDE %v: %s fails: %s", o.CDENamespaces, v.Requirement, v.Why)
			}
		}
	}
}

func verdictsOf(r *Report) []posture.Verdict {
	out := make([]posture.Verdict, len(r.Verdicts))
	for i, v := range r.Verdicts {
		out[i] = v.Verdict
	}
	return out
}

// TestCheckFindings runs small policies that each show one problem.
func TestCheckFindings(t *testing.T) {
	const catchAll = "- level: Metadata\n"
	type want struct {
		id   string
		rule int // -1: none
		sev  posture.Severity
		text string
	}
	tests := []struct {
		name     string
		src      string
		opts     Options
		want     []want
		verdicts map[string]posture.Status
		// clean: no finding above Low other than those in want.
		clean bool
	}{
		{
			name:  "catch-all only, RequestReceived omitted",
			src:   header + "omitStages: [RequestReceived]\nrules:\n" + catchAll,
			want:  []want{{"rbac-without-body", -1, posture.Low, "at Metadata"}},
			clean: true,
			verdicts: map[string]posture.Status{"10.2.1.1": posture.Pass, "10.2.1.2": posture.Pass, "10.2.1.3": posture.Pass,
				"10.2.1.4": posture.Pass, "10.2.1.5": posture.Pass, "10.2.1.6": posture.Pass, "10.2.1.7": posture.Pass,
				"10.2.2": posture.Pass, "8.3.2": posture.Pass},
		},
		{
			name: "ResponseStarted omitted: failed logins vanish",
			src:  header + "omitStages: [RequestReceived, ResponseStarted]\nrules:\n" + catchAll,
			want: []want{
				{"omit-response-started", -1, posture.High, "recorded at that stage only"},
				{"invalid-access-not-logged", -1, posture.High, "the policy's omitStages drop every stage they produce (ResponseStarted)"},
			},
			verdicts: map[string]posture.Status{"10.2.1.4": posture.Fail, "10.2.1.1": posture.Pass, "10.2.2": posture.Pass},
		},
		{
			name:     "ResponseComplete omitted by a rule",
			src:      header + "rules:\n- level: Metadata\n  omitStages: [ResponseComplete]\n",
			want:     []want{{"omit-response-complete", 0, posture.High, "success or failure"}},
			verdicts: map[string]posture.Status{"10.2.2": posture.Fail, "10.2.1.2": posture.Pass},
		},
		{
			name: "ResponseComplete and RequestReceived omitted",
			src:  header + "omitStages: [RequestReceived, ResponseComplete]\nrules:\n" + catchAll,
			want: []want{
				{"omit-response-complete", -1, posture.High, ""},
				{"admin-action-not-logged", -1, posture.High, "omitStages drop every stage they produce (RequestReceived, ResponseComplete"},
			},
			// Failed logins (ResponseStarted) stay; refused anonymous requests go.
			verdicts: map[string]posture.Status{"10.2.1.2": posture.Fail, "10.2.1.4": posture.Fail},
		},
		{
			name: "Panic omitted",
			src:  header + "omitStages: [Panic]\nrules:\n" + catchAll,
			want: []want{{"omit-panic", -1, posture.Low, "crashes its handler"}},
		},
		{
			name: "a person exempted",
			src:  header + "rules:\n- level: None\n  users: [bob@example.com]\n" + catchAll,
			want: []want{{"admin-action-not-logged", 0, posture.High, "this rule sets level None"}},
			verdicts: map[string]posture.Status{"10.2.1.2": posture.Fail, "10.2.1.1": posture.Fail, "10.2.1.5": posture.Fail,
				"10.2.1.4": posture.Pass},
		},
		{
			name: "a kube-system controller exempted for leases",
			src: header + "rules:\n- level: None\n  users: [\"system:serviceaccount:kube-system:leader\"]\n  verbs: [get, update]\n" +
				"  resources: [{group: coordination.k8s.io, resources: [leases]}]\n" + catchAll,
			clean:    true,
			want:     []want{{"rbac-without-body", -1, posture.Low, ""}},
			verdicts: map[string]posture.Status{"10.2.1.2": posture.Pass},
		},
		{
			name: "RBAC-only verb",
			src:  header + "rules:\n- level: RequestResponse\n  verbs: [bind, escalate]\n" + catchAll,
			want: []want{{"unknown-verb", 0, posture.Medium, "It is an RBAC verb"}, {"unmatched-rule", 0, posture.Low, ""}},
		},
		{
			name: "misspelt verb",
			src:  header + "rules:\n- level: Request\n  verbs: [delet]\n" + catchAll,
			want: []want{{"unknown-verb", 0, posture.Medium, `Did you mean "delete"?`}},
		},
		{
			name: "deployments in the core group",
			src:  header + "rules:\n- level: Request\n  resources:\n  - group: \"\"\n    resources: [deployments]\n" + catchAll,
			want: []want{{"resource-not-served", 0, posture.Medium, `"deployments" is served by group "apps"`}},
		},
		{
			name: "misspelt resource",
			src:  header + "rules:\n- level: Metadata\n  resources:\n  - group: \"\"\n    resources: [secret]\n" + catchAll,
			want: []want{{"resource-not-served", 0, posture.Medium, `Did you mean "secrets"?`}},
		},
		{
			name: "rule after the catch-all",
			src:  header + "rules:\n" + catchAll + "- level: None\n  verbs: [get]\n",
			want: []want{{"unreachable-rule", 1, posture.Medium, "Move it above rule 0"}},
		},
		{
			name: "catch-all at None",
			src:  header + "rules:\n- level: Metadata\n  resources: [{group: \"\", resources: [secrets]}]\n- level: None\n",
			want: []want{{"catch-all-none", 1, posture.High, ""}},
		},
		{
			name:     "token reviews at Request",
			src:      header + "rules:\n- level: Request\n  resources: [{group: authentication.k8s.io, resources: [tokenreviews]}]\n" + catchAll,
			want:     []want{{"token-logged", 0, posture.High, "TokenReview"}},
			verdicts: map[string]posture.Status{"8.3.2": posture.Fail},
		},
		{
			name:     "issued tokens at RequestResponse",
			src:      header + "rules:\n- level: RequestResponse\n  resources: [{group: \"\", resources: [serviceaccounts/token]}]\n" + catchAll,
			want:     []want{{"token-logged", 0, posture.High, "serviceaccounts/token"}},
			verdicts: map[string]posture.Status{"8.3.2": posture.Fail},
		},
		{
			name:     "configmap bodies",
			src:      header + "rules:\n- level: RequestResponse\n  resources: [{group: \"\", resources: [configmaps]}]\n" + catchAll,
			want:     []want{{"configmap-values-logged", 0, posture.Medium, "ConfigMap bodies"}},
			verdicts: map[string]posture.Status{"8.3.2": posture.Partial},
		},
		{
			name: "reads logged in the CDE namespace only",
			src:  header + "rules:\n- level: Metadata\n  namespaces: [payments]\n- level: Request\n  verbs: [create, update, patch, delete, deletecollection]\n",
			opts: Options{CDENamespaces: []string{"payments"}},
			want: []want{
				{"chd-access-not-logged", -1, posture.High, "list, watch of pods, secrets, configmaps in (all namespaces)"},
				{"no-catch-all", -1, posture.High, ""},
			},
			verdicts: map[string]posture.Status{"10.2.1.1": posture.Fail, "10.2.1.5": posture.Pass},
		},
		{
			name: "CDE namespace left out",
			src:  header + "rules:\n- level: None\n  namespaces: [vault]\n  resources: [{group: \"\", resources: [secrets]}]\n" + catchAll,
			opts: Options{CDENamespaces: []string{"payments", "vault"}},
			want: []want{{"cde-namespace-uncovered", -1, posture.High, "In CDE namespace vault"}},
		},
		{
			name: "shadowed rule",
			src:  header + "rules:\n- level: Metadata\n  resources: [{group: \"\", resources: [secrets]}]\n- level: None\n  verbs: [get]\n  resources: [{group: \"\", resources: [secrets]}]\n" + catchAll,
			want: []want{{"shadowed-rule", 1, posture.Low, "(0)"}},
		},
		{
			name: "contradictory rule",
			src:  header + "rules:\n- level: None\n  verbs: [list]\n  nonResourceURLs: [/healthz]\n" + catchAll,
			want: []want{{"unmatched-rule", 0, posture.Low, ""}},
		},
		{
			name:     "log pipeline namespace dropped",
			src:      header + "rules:\n- level: None\n  namespaces: [logging]\n  resources: [{group: apps, resources: [daemonsets]}]\n" + catchAll,
			opts:     Options{LogNamespaces: []string{"logging"}},
			want:     []want{{"audit-change-not-logged", 0, posture.High, "apps/daemonsets in logging"}},
			verdicts: map[string]posture.Status{"10.2.1.6": posture.Fail},
		},
		{
			name:     "log pipeline namespace not declared",
			src:      header + "rules:\n- level: None\n  namespaces: [logging]\n  resources: [{group: apps, resources: [daemonsets]}]\n" + catchAll,
			verdicts: map[string]posture.Status{"10.2.1.6": posture.Pass, "10.2.1.2": posture.Fail},
		},
		{
			name: "more names than the matrix takes",
			src:  header + "rules:\n- level: None\n  users: [" + manyUsers(2*maxNamed) + "]\n" + catchAll,
			want: []want{{"matrix-truncated", -1, posture.Info, ""}},
		},
		{
			name:     "failed authentication on health probes",
			src:      header + "rules:\n- level: None\n  nonResourceURLs: [/healthz*]\n" + catchAll,
			want:     []want{{"invalid-access-not-logged", 0, posture.Medium, "/healthz"}},
			verdicts: map[string]posture.Status{"10.2.1.4": posture.Partial},
		},
		{
			name:     "health probes dropped for identified callers only",
			src:      header + "rules:\n- level: None\n  userGroups: [\"system:authenticated\", \"system:unauthenticated\"]\n  nonResourceURLs: [/healthz*]\n" + catchAll,
			verdicts: map[string]posture.Status{"10.2.1.4": posture.Pass},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustCheck(t, mustParse(t, []byte(tt.src)), tt.opts)
			for _, w := range tt.want {
				found := slices.ContainsFunc(r.Findings, func(f posture.Finding) bool {
					rule := -1
					if f.Rule != nil {
						rule = *f.Rule
					}
					return f.ID == w.id && rule == w.rule && f.Severity == w.sev && strings.Contains(f.Text, w.text)
				})
				if !found {
					t.Errorf("no %s finding %s at rule %d saying %q; findings:\n%s", w.sev, w.id, w.rule, w.text, listFindings(r))
				}
			}
			if tt.clean {
				for _, f := range r.Findings {
					if f.Severity > posture.Low && !slices.ContainsFunc(tt.want, func(w want) bool { return w.id == f.ID }) {
						t.Errorf("unexpected finding %s %s: %s", f.Severity, f.ID, f.Text)
					}
				}
			}
			for req, status := range tt.verdicts {
				if got := verdictOf(t, r, req); got != status {
					t.Errorf("%s: %s, want %s", req, got, status)
				}
			}
		})
	}
}

func listFindings(r *Report) string {
	var b strings.Builder
	for _, f := range r.Findings {
		b.WriteString("  " + f.Severity.String() + " " + f.ID + " " + f.Where() + ": " + f.Text + "\n")
	}
	return b.String()
}

// TestCheckOptions checks that invalid namespaces are refused.
func TestCheckOptions(t *testing.T) {
	p := mustParse(t, []byte(header+"rules:\n- level: Metadata\n"))
	for _, o := range []Options{{CDENamespaces: []string{"Payments"}}, {LogNamespaces: []string{"a b"}}} {
		if _, err := Check(p, "x", o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// TestCheckPolicyNamedPrincipals checks that users and groups a policy
// names join the matrix, with a kind from their name.
func TestCheckPolicyNamedPrincipals(t *testing.T) {
	p := mustParse(t, []byte(header+`rules:
- level: None
  users: [bob@example.com, "system:serviceaccount:payments:api", "system:serviceaccount:kube-system:ctrl", "system:node:n9", "system:apiserver"]
  userGroups: [sre, "system:serviceaccounts:vault", "system:bootstrappers", "system:masters"]
  verbs: [get]
  resources: [{group: "", resources: [configmaps]}]
- level: Metadata
`))
	m := buildMatrix(p, Options{})
	kinds := map[string]PrincipalKind{}
	for _, pr := range m.principals {
		kinds[pr.Label()] = pr.Kind
	}
	want := map[string]PrincipalKind{
		"bob@example.com": Person, "system:serviceaccount:payments:api": ServiceAccount,
		"system:serviceaccount:kube-system:ctrl": Component, "system:node:n9": Node, "system:apiserver": Component,
		"(member of sre)": Person, "system:serviceaccount:vault:example": ServiceAccount,
		"(member of system:bootstrappers)": Component, "kubernetes-admin": Admin, "(failed authentication)": FailedAuthentication,
	}
	for name, k := range want {
		if kinds[name] != k {
			t.Errorf("%s: kind %q, want %q (principals %v)", name, kinds[name], k, kinds)
		}
	}
	if _, ok := kinds["(member of system:masters)"]; ok {
		t.Error("system:masters got a second principal")
	}
}

// manyUsers returns n distinct user names, comma-separated.
func manyUsers(n int) string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("user%d@example.com", i)
	}
	return strings.Join(names, ", ")
}
