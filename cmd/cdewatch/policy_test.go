package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cdewatch/cdewatch/internal/posture"
	"github.com/cdewatch/cdewatch/internal/posture/auditpolicy"
	"github.com/cdewatch/cdewatch/internal/posture/azurediag"
)

var (
	policyTestdata  = filepath.Join("..", "..", "internal", "posture", "auditpolicy", "testdata")
	postureTestdata = filepath.Join("..", "..", "internal", "posture", "azurediag", "testdata")
)

// TestPolicyCheck runs `cdewatch policy check` on the AKS guide's sample
// policy, the repository's policy and broken files, and checks the report,
// the error and how main would exit.
func TestPolicyCheck(t *testing.T) {
	sample := filepath.Join(policyTestdata, "guide-sample.yaml")
	tests := []struct {
		name     string
		args     []string
		stdin    string
		exit     int // as run() maps the error
		contains []string
	}{
		{"guide sample", []string{"check", "--cde-namespaces", "payments,vault", sample}, "", 1, []string{
			"secret-values-logged  [8.3.2]  rule 0 (line 5)",
			"Changes to namespaced objects are logged only in default, kube-system (and there only",
			"no-rbac-rule", "no-catch-all", "Result: FAIL",
		}},
		{"flags after the file", []string{"check", sample, "--format", "json"}, "", 1, []string{`"id": "secret-values-logged"`}},
		{"repository policy", []string{"check", filepath.Join("..", "..", "docs", "audit-policy.yaml")}, "", 0, []string{"Result: no requirement fails"}},
		{"standard input", []string{"check", "-"}, "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n", 0, []string{"Audit policy -: 1 rule,"}},
		{"not a policy", []string{"check", "-"}, "apiVersion: apps/v1\nkind: Deployment\n", 1, nil},
		{"missing file", []string{"check", filepath.Join(t.TempDir(), "nope.yaml")}, "", 1, nil},
		{"no file", []string{"check"}, "", 2, nil},
		{"two files", []string{"check", sample, sample}, "", 2, nil},
		{"bad format", []string{"check", "--format", "yaml", sample}, "", 2, nil},
		{"bad namespace", []string{"check", "--cde-namespaces", "Payments", sample}, "", 2, nil},
		{"no subcommand", nil, "", 2, nil},
		{"unknown subcommand", []string{"lint", sample}, "", 2, nil},
		{"help", []string{"-h"}, "", 0, []string{"cdewatch policy check"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := policyCommand(tt.args, strings.NewReader(tt.stdin), &stdout, &stderr)
			if got := exitOf(err); got != tt.exit {
				t.Fatalf("exit %d (%v), want %d\n%s", got, err, tt.exit, stdout.String())
			}
			for _, want := range tt.contains {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("output does not contain %q:\n%s", want, stdout.String())
				}
			}
		})
	}
}

// exitOf mirrors how run() turns a command's error into an exit status.
func exitOf(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	return 1
}

// TestPolicyCheckErrors checks the wording of the errors a user sees.
func TestPolicyCheckErrors(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := policyCommand([]string{"check", "-"}, strings.NewReader("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Full\n"), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), `- is not a valid audit policy:`) || !strings.Contains(err.Error(), `line 4: rules[0].level: "Full" is not a level`) {
		t.Errorf("got %v", err)
	}
	err = policyCommand([]string{"check", "--cde-namespaces", "payments", filepath.Join(policyTestdata, "guide-sample.yaml")}, nil, &stdout, &stderr)
	var fe *posture.FailedError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "10.2.1.5") {
		t.Errorf("got %v, want the failing requirements", err)
	}
}

// TestPolicyCheckJSON checks that the JSON report is the package's report.
func TestPolicyCheckJSON(t *testing.T) {
	path := filepath.Join(policyTestdata, "guide-sample.yaml")
	var stdout, stderr bytes.Buffer
	_ = policyCommand([]string{"check", "--format", "json", "--cde-namespaces", "payments", path}, nil, &stdout, &stderr)
	var got auditpolicy.Report
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout.String())
	}
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := auditpolicy.Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	want, err := auditpolicy.Check(p, path, auditpolicy.Options{CDENamespaces: []string{"payments"}})
	if err != nil {
		t.Fatal(err)
	}
	var wantJSON bytes.Buffer
	if err := want.WriteJSON(&wantJSON); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stdout.Bytes(), wantJSON.Bytes()) {
		t.Error("the command's JSON report differs from the package's")
	}
	if len(got.Verdicts) != 9 || got.Source != path {
		t.Errorf("report %d verdicts, source %q", len(got.Verdicts), got.Source)
	}
}

// TestPolicyGenerate writes a policy with --out, checks it with the check
// command for the same declaration, and checks the usage errors.
func TestPolicyGenerate(t *testing.T) {
	out := filepath.Join(t.TempDir(), "audit-policy.yaml")
	var stdout, stderr bytes.Buffer
	if err := policyCommand([]string{"generate", "--cde-namespaces", "payments, vault", "--out", out}, nil, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if stdout.Len() != 0 || !strings.Contains(stderr.String(), "wrote "+out) {
		t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
	written, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	if err := policyCommand([]string{"check", "--cde-namespaces", "payments,vault", out}, nil, &stdout, &stderr); err != nil {
		t.Fatalf("the generated policy fails its own check: %v\n%s", err, stdout.String())
	}
	for _, v := range []string{"10.2.1.1", "10.2.1.7", "8.3.2"} {
		if !strings.Contains(stdout.String(), v) {
			t.Errorf("no verdict %s", v)
		}
	}
	stdout.Reset()
	if err := policyCommand([]string{"generate", "--cde-namespaces", "payments,vault"}, nil, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stdout.Bytes(), written) {
		t.Error("--out and standard output differ")
	}
	for _, args := range [][]string{{"generate"}, {"generate", "--cde-namespaces", "Pay"}, {"generate", "--cde-namespaces", "a", "extra"}} {
		if err := policyCommand(args, nil, &stdout, &stderr); !errors.Is(err, errUsage) {
			t.Errorf("%q: got %v, want a usage error", args, err)
		}
	}
}

// TestPostureAzure runs `cdewatch posture azure` on the test exports.
func TestPostureAzure(t *testing.T) {
	file := func(name string) string { return filepath.Join(postureTestdata, name) }
	tests := []struct {
		name     string
		args     []string
		stdin    string
		exit     int
		contains []string
	}{
		{"good with lifecycle", []string{"azure", "--lifecycle", file("lifecycle-400d.json"), file("good.json")}, "", 0,
			[]string{"lifecycle-ok", "Result: no requirement fails"}},
		{"admin only", []string{"azure", file("admin-only.json")}, "", 1, []string{"kube-audit-admin-only", "Result: FAIL (10.2.1, 10.5.1)"}},
		{"no destination", []string{"azure", file("no-destination.json"), "--format", "json"}, "", 1, []string{`"id": "no-destination"`}},
		{"short retention", []string{"azure", file("short-retention.json")}, "", 1, []string{"retention-short"}},
		{"list", []string{"azure", file("list.json")}, "", 0, []string{"setting to-cdewatch"}},
		{"standard input", []string{"azure", "-"}, `[]`, 1, []string{"no-settings"}},
		{"not an export", []string{"azure", "-"}, `{"name": "x"}`, 1, nil},
		{"bad lifecycle", []string{"azure", "--lifecycle", file("good.json"), file("good.json")}, "", 1, nil},
		{"no file", []string{"azure"}, "", 2, nil},
		{"bad format", []string{"azure", "--format", "csv", file("good.json")}, "", 2, nil},
		{"unknown check", []string{"gcp", file("good.json")}, "", 2, nil},
		{"nothing", nil, "", 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := postureCommand(tt.args, strings.NewReader(tt.stdin), &stdout, &stderr)
			if got := exitOf(err); got != tt.exit {
				t.Fatalf("exit %d (%v), want %d\n%s", got, err, tt.exit, stdout.String())
			}
			for _, want := range tt.contains {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("output does not contain %q:\n%s", want, stdout.String())
				}
			}
		})
	}
}

// TestPostureAzureErrors checks the wording of a decode error.
func TestPostureAzureErrors(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := postureCommand([]string{"azure", "-"}, strings.NewReader(`{"logs": [{"category": "kube-audit", "enabled": "yes"}]}`), &stdout, &stderr)
	var de *azurediag.DecodeError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "- is not a diagnostic settings export: logs.enabled: expected true or false") {
		t.Errorf("got %v", err)
	}
}
