package detect

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/k8saudit"
)

// corpora returns the directory of the shared test corpora, or skips.
func corpora(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("CDEWATCH_CORPORA")
	if dir == "" {
		tb.Skip("CDEWATCH_CORPORA is not set: skipping the replay of the Falco corpus (.ci/run sets it to ../shared/corpora)")
	}
	return dir
}

// falcoMapping is testdata/falco/mapping.yaml.
type falcoMapping struct {
	CDENamespaces []string          `yaml:"cde_namespaces"`
	Covered       map[string]string `yaml:"covered"`
	NotCovered    map[string]string `yaml:"not_covered"`
	Exceptions    map[string]string `yaml:"exceptions"`
}

// falcoCase is a case of Falco's falco_k8s_audit_tests.yaml.
type falcoCase struct {
	Name         string
	Detect       bool             `yaml:"detect"`
	DetectCounts []map[string]int `yaml:"detect_counts"`
	RulesFile    []string         `yaml:"rules_file"`
	Opts         string           `yaml:"addl_cmdline_opts"`
	Trace        string
}

var traceParam = regexp.MustCompile(`open_params=trace_files/k8s_audit/(\S+)`)

func readFalcoCases(tb testing.TB, path string) []falcoCase {
	tb.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(readFile(tb, path), &doc); err != nil {
		tb.Fatal(err)
	}
	root := doc.Content[0]
	var cases []falcoCase
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "trace_files" {
			continue
		}
		mux := root.Content[i+1]
		for j := 0; j+1 < len(mux.Content); j += 2 {
			var c falcoCase
			if err := mux.Content[j+1].Decode(&c); err != nil {
				tb.Fatalf("%s: case %s: %v", path, mux.Content[j].Value, err)
			}
			c.Name = mux.Content[j].Value
			m := traceParam.FindStringSubmatch(c.Opts)
			if m == nil {
				tb.Fatalf("%s: case %s names no trace file", path, c.Name)
			}
			c.Trace = m[1]
			cases = append(cases, c)
		}
	}
	if len(cases) == 0 {
		tb.Fatalf("%s: no test cases", path)
	}
	return cases
}

// falcoRuleNames returns the names of the rules the Falco rule files
// define.
func falcoRuleNames(tb testing.TB, files []string) map[string]bool {
	tb.Helper()
	names := map[string]bool{}
	for _, f := range files {
		var items []map[string]any
		if err := yaml.Unmarshal(readFile(tb, f), &items); err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		for _, it := range items {
			if n, ok := it["rule"].(string); ok {
				names[strings.TrimSpace(n)] = true
			}
		}
	}
	return names
}

// traceResult is what the pack does with one trace file.
type traceResult struct {
	events int
	fired  map[string]int
	err    string
}

// replay decodes a trace file as the ingest path would (a whole body: an
// Event or EventList; else one event per line, the log backend's format),
// normalizes each event and evaluates the pack.
func replay(tb testing.TB, rs *RuleSet, cde []string, path string) traceResult {
	tb.Helper()
	body := readFile(tb, path)
	cl := k8saudit.NewClassifier(k8saudit.ClassifierConfig{CDENamespaces: cde})
	res := traceResult{fired: map[string]int{}}
	items, err := k8saudit.Decode(body, k8saudit.Limits{})
	if err != nil {
		items = nil
		for _, line := range bytes.Split(body, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			it, lerr := k8saudit.DecodeLine(line, k8saudit.Limits{})
			if lerr != nil {
				res.err = lerr.Error()
				continue
			}
			items = append(items, it)
		}
	}
	for i := range items {
		rec := cl.Normalize(&items[i], "falco-trace", testReceived)
		res.events++
		rs.Eval(NewEvent(uint64(res.events), *rec), func(a alert.Alert) { res.fired[a.Rule]++ })
	}
	return res
}

// falcoRow is a row of the agreement table.
type falcoRow struct {
	name, trace, expect, rule, fired, verdict, why string
}

// Verdicts.
const (
	verdictMet        = "met"
	verdictNotMet     = "**not met**"
	verdictNotCovered = "not covered"
	verdictSilent     = "agree (both silent)"
	verdictExtra      = "cdewatch fires"
)

func formatCounts(m map[string]int) string {
	if len(m) == 0 {
		return "—"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// TestFalcoAgreement replays every Kubernetes audit trace file of Falco's
// test suite through the built-in pack and compares the detections with
// Falco's expectations (testdata/falco/mapping.yaml says which pack rule
// covers which Falco rule). A covered expectation must be met, and the
// pack must stay silent where Falco expects nothing, unless the mapping
// lists the case with a reason. The table is docs/DETECTION-FALCO.md
// (rewritten with -update).
func TestFalcoAgreement(t *testing.T) {
	dir := corpora(t)
	var m falcoMapping
	if err := yaml.Unmarshal(readFile(t, "testdata/falco/mapping.yaml"), &m); err != nil {
		t.Fatal(err)
	}
	rs, err := BuiltinRules(map[string][]string{"cde_namespaces": m.CDENamespaces})
	if err != nil {
		t.Fatal(err)
	}
	ruleFiles := []string{filepath.Join(dir, "falco-plugins/at-commit-cced3065/plugins/k8saudit/rules/k8s_audit_rules.yaml")}
	extra, _ := filepath.Glob(filepath.Join(dir, "falco/test/rules/k8s_audit/*.yaml"))
	extra2, _ := filepath.Glob(filepath.Join(dir, "falco/test/rules/k8s_audit/*/*.yaml"))
	falcoRules := falcoRuleNames(t, append(append(ruleFiles, extra...), extra2...))
	for name, id := range m.Covered {
		if !falcoRules[name] {
			t.Errorf("mapping: covered Falco rule %q is not in Falco's rule files", name)
		}
		if rs.Rule(id) == nil {
			t.Errorf("mapping: Falco rule %q is covered by %q, which is not in the pack", name, id)
		}
		if _, both := m.NotCovered[name]; both {
			t.Errorf("mapping: Falco rule %q is both covered and not covered", name)
		}
	}
	for name := range m.NotCovered {
		if !falcoRules[name] {
			t.Errorf("mapping: not-covered Falco rule %q is not in Falco's rule files", name)
		}
	}

	cases := readFalcoCases(t, filepath.Join(dir, "falco/test/falco_k8s_audit_tests.yaml"))
	traces := map[string]traceResult{}
	var rows []falcoRow
	var nCases, nDetect, nExpect, nCovered, nMet, nNotMet, nNotCovered, nSilent, nAgree, nExtra int
	usedExceptions := map[string]bool{}
	for _, c := range cases {
		nCases++
		res, ok := traces[c.Trace]
		if !ok {
			res = replay(t, rs, m.CDENamespaces, filepath.Join(dir, "falco/test/trace_files/k8s_audit", c.Trace))
			traces[c.Trace] = res
		}
		fired := formatCounts(res.fired)
		if res.err != "" {
			fired += " (decode error: " + res.err + ")"
		}
		exception, hasException := m.Exceptions[c.Name]
		if !c.Detect || len(c.DetectCounts) == 0 {
			nSilent++
			row := falcoRow{name: c.Name, trace: c.Trace, expect: "nothing", rule: "—", fired: fired}
			if len(res.fired) == 0 {
				nAgree++
				row.verdict = verdictSilent
			} else {
				nExtra++
				row.verdict = verdictExtra
				row.why = exception
				usedExceptions[c.Name] = true
				if !hasException {
					t.Errorf("%s (%s): Falco expects nothing, the pack fires %s, and the mapping gives no reason", c.Name, c.Trace, fired)
				}
			}
			rows = append(rows, row)
			continue
		}
		nDetect++
		for _, dc := range c.DetectCounts {
			for falcoRule, count := range dc {
				nExpect++
				row := falcoRow{name: c.Name, trace: c.Trace, expect: fmt.Sprintf("%s ×%d", falcoRule, count), fired: fired}
				id, covered := m.Covered[falcoRule]
				switch {
				case covered:
					nCovered++
					row.rule = id
					if res.fired[id] > 0 {
						nMet++
						row.verdict = verdictMet
					} else {
						nNotMet++
						row.verdict = verdictNotMet
						row.why = exception
						usedExceptions[c.Name] = true
						if !hasException {
							t.Errorf("%s (%s): Falco expects %s, covered by %s, which did not fire (fired: %s)", c.Name, c.Trace, falcoRule, id, fired)
						}
					}
				default:
					why, known := m.NotCovered[falcoRule]
					if !known {
						t.Errorf("%s: Falco rule %q is neither covered nor not covered in the mapping", c.Name, falcoRule)
					}
					nNotCovered++
					row.rule = "—"
					row.verdict = verdictNotCovered
					row.why = why
				}
				rows = append(rows, row)
			}
		}
	}
	for name := range m.Exceptions {
		if !usedExceptions[name] {
			t.Errorf("mapping: exception for %s, which agrees with Falco or is not a case: remove it", name)
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, `# cdewatch and Falco: agreement on Falco's Kubernetes audit test suite

Generated by `+"`CDEWATCH_CORPORA=../shared/corpora go test ./internal/detect -run TestFalcoAgreement -update`"+`;
the same test without `+"`-update`"+` checks that this page is current, and fails when an
expectation covered by the pack is not met, or when the pack fires where Falco expects
nothing, unless the mapping gives the reason. Do not edit by hand.

**Sources** (not copied into the project; Apache-2.0): falcosecurity/falco @ 2583ea9bfdb2,
`+"`test/falco_k8s_audit_tests.yaml`"+` (the cases: trace file, rule files, expected detections) and
`+"`test/trace_files/k8s_audit/*.json`"+`; falcosecurity/plugins @ cced3065,
`+"`plugins/k8saudit/rules/k8s_audit_rules.yaml`"+` (the Falco rules the expectations were written for).

**How**: each trace file is decoded as the ingest path decodes audit events (`+"`k8saudit.Decode`"+`,
else `+"`k8saudit.DecodeLine`"+` line by line), normalized by `+"`k8saudit.Classifier`"+` with
CDENamespaces %v, and evaluated by `+"`detect.BuiltinRules`"+` with the same cde_namespaces: the traces'
workloads run in "default", which the replay takes for the cardholder data environment. Which pack
rule covers which Falco rule is kept in `+"`internal/detect/testdata/falco/mapping.yaml`"+`; the pack's
rules are described in [DETECTION.md](DETECTION.md).

## Figures

- %d test cases: %d expect a detection, %d expect none.
- %d expected detections: **%d covered by the pack: %d met, %d not met**; %d are of Falco rules the pack does not cover (the table says why).
- Where Falco expects nothing: the pack agrees in %d cases and fires in %d (each explained in the table: Falco is silent there only because the case loads an image allow-list the pack does not have).

## Agreement table

| Falco test case | trace file | Falco expects | cdewatch rule | cdewatch fired | verdict | why |
|---|---|---|---|---|---|---|
`, m.CDENamespaces, nCases, nDetect, nSilent, nExpect, nCovered, nMet, nNotMet, nNotCovered, nAgree, nExtra)
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	for _, r := range rows {
		rule := r.rule
		if rule != "—" {
			rule = "`" + rule + "`"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", esc(r.name), esc(r.trace), esc(r.expect), rule,
			esc(r.fired), r.verdict, esc(r.why))
	}
	b.WriteString("\n## Falco's rules and the pack\n\n| Falco rule | cdewatch rule | note |\n|---|---|---|\n")
	var names []string
	for n := range falcoRules {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if id, ok := m.Covered[n]; ok {
			fmt.Fprintf(&b, "| %s | `%s` | %s |\n", esc(n), id, esc(coverNote(n, id)))
		} else if why, ok := m.NotCovered[n]; ok {
			fmt.Fprintf(&b, "| %s | — | %s |\n", esc(n), esc(why))
		} else {
			fmt.Fprintf(&b, "| %s | — | not named by any test case of the suite |\n", esc(n))
		}
	}
	checkGolden(t, "../../docs/DETECTION-FALCO.md", []byte(b.String()))
}

// coverNote says how a pack rule differs in scope from the Falco rule it
// covers.
func coverNote(falcoRule, id string) string {
	notes := map[string]string{
		"pci.privileged-pod-in-cde":         "CDE namespaces only; pod templates of workloads too; no image allow-list",
		"pci.hostpath-pod-in-cde":           "CDE namespaces only; any hostPath, not only sensitive paths; no image allow-list",
		"pci.hostnetwork-pod-in-cde":        "CDE namespaces only; no image allow-list",
		"pci.hostpid-pod-in-cde":            "CDE namespaces only; hostPID and hostIPC in one rule",
		"pci.exec-into-cde-pod":             "CDE namespaces only; exec, attach, port-forward and debug containers; successful requests",
		"pci.anonymous-request-allowed":     "also the system:unauthenticated group; version and OIDC discovery paths excluded",
		"pci.binding-to-admin-role":         "ClusterRoleBindings and RoleBindings, create, update and patch; admin_roles list",
		"pci.wildcard-role":                 "create, update and patch",
		"pci.role-grants-pod-exec":          "also attach, port-forward and ephemeral containers; create, update and patch",
		"pci.clusterrolebinding-created":    "ClusterRoleBindings only (Falco's name says Role too; its condition is ClusterRoleBindings)",
		"pci.system-role-modified":          "changes by system identities excluded",
		"pci.secret-read-outside-allowlist": "CDE namespaces only, outside an allow-list; secrets and configmaps; get, list, watch",
	}
	if n, ok := notes[id]; ok {
		return n
	}
	return ""
}

// TestFalcoTracesDecode checks that the replay reads every trace file but
// the one Falco itself rejects.
func TestFalcoTracesDecode(t *testing.T) {
	dir := corpora(t)
	rs, err := BuiltinRules(nil)
	if err != nil {
		t.Fatal(err)
	}
	files := glob(t, filepath.Join(dir, "falco/test/trace_files/k8s_audit/*.json"))
	var events int
	for _, f := range files {
		res := replay(t, rs, nil, f)
		events += res.events
		bad := filepath.Base(f) == "fal_01_003.json" // {"kind": 0}: Falco's own "not recognized" case
		if (res.err != "") != bad || (res.events == 0) != bad {
			t.Errorf("%s: %d events, error %q", filepath.Base(f), res.events, res.err)
		}
	}
	// 52 JSON values, one of them {"kind": 0}.
	if events != 51 {
		t.Errorf("%d trace files hold %d events, want 51", len(files), events)
	}
}
