package detect

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const detectionDoc = "../../docs/DETECTION.md"

// generatedSection matches a section of docs/DETECTION.md that the tests
// write: between <!-- begin NAME --> and <!-- end NAME -->.
var generatedSection = regexp.MustCompile(`(?s)(<!-- begin ([a-z-]+) \(generated[^>]*-->\n).*?(<!-- end ([a-z-]+) -->)`)

// TestDetectionDoc checks that the pack's tables in docs/DETECTION.md are
// those of the rule files (rewritten with -update).
func TestDetectionDoc(t *testing.T) {
	rs, err := BuiltinRules(nil)
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]string{
		"pack-table": packTable(rs),
		"pack-lists": packLists(rs),
		"pack-rules": packRules(rs),
	}
	doc := readFile(t, detectionDoc)
	seen := map[string]bool{}
	out := generatedSection.ReplaceAllFunc(doc, func(m []byte) []byte {
		sub := generatedSection.FindSubmatch(m)
		name := string(sub[2])
		body, ok := sections[name]
		if !ok {
			t.Errorf("%s: unknown generated section %q", detectionDoc, name)
			return m
		}
		seen[name] = true
		return []byte(string(sub[1]) + body + string(sub[3]))
	})
	for name := range sections {
		if !seen[name] {
			t.Errorf("%s: no generated section %q", detectionDoc, name)
		}
	}
	if *update {
		if err := os.WriteFile(detectionDoc, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if string(out) != string(doc) {
		t.Errorf("%s: the pack's tables differ from the rule files (run go test ./internal/detect -run TestDetectionDoc -update)", detectionDoc)
	}
}

func packTable(rs *RuleSet) string {
	var b strings.Builder
	b.WriteString("| rule | what it catches | table | PCI DSS | MITRE ATT&CK | severity |\n|---|---|---|---|---|---|\n")
	for _, r := range rs.Rules() {
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s | %s | %s | %s |\n", r.ID, anchor(r.ID), r.Title,
			strings.Join(r.Tables, ", "), strings.Join(r.PCI, ", "), strings.Join(r.MITRE, ", "), r.Severity)
	}
	return b.String()
}

func anchor(id string) string { return strings.ReplaceAll(id, ".", "") }

func packLists(rs *RuleSet) string {
	var b strings.Builder
	b.WriteString("| list | default items |\n|---|---|\n")
	for _, n := range rs.ListNames() {
		items, _ := rs.List(n)
		q := make([]string, len(items))
		for i, s := range items {
			q[i] = "`" + s + "`"
		}
		def := strings.Join(q, ", ")
		if def == "" {
			def = "(empty)"
		}
		fmt.Fprintf(&b, "| `%s` | %s |\n", n, strings.ReplaceAll(def, "|", `\|`))
	}
	return b.String()
}

func packRules(rs *RuleSet) string {
	var b strings.Builder
	for _, r := range rs.Rules() {
		fmt.Fprintf(&b, "#### %s\n\n%s. %s\n\nSeverity %s; PCI DSS %s; MITRE ATT&CK %s; %s. Alert key: %s. Summary: `%s`. Defined in `internal/detect/rules/%s`; cases in `internal/detect/testdata/pack/%s.jsonl`.\n\n",
			r.ID, r.Title, strings.TrimSpace(r.Description), r.Severity, strings.Join(r.PCI, ", "),
			strings.Join(r.MITRE, ", "), strings.Join(r.Tables, ", "), "`"+strings.Join(r.Key, "`, `")+"`",
			r.Summary, r.File, r.ID)
	}
	return b.String()
}

// TestDetectionDocExamples loads the rule files shown in docs/DETECTION.md
// and checks that the error messages it shows are what the loader says.
func TestDetectionDocExamples(t *testing.T) {
	doc := string(readFile(t, detectionDoc))
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(doc, -1)
	if len(blocks) == 0 {
		t.Fatal("no YAML example")
	}
	for i, b := range blocks {
		rs, err := loadText(t, map[string]string{"example.yaml": b[1]}, nil)
		if err != nil {
			t.Errorf("example %d: %v", i, err)
			continue
		}
		if len(rs.Rules()) == 0 {
			t.Errorf("example %d has no rules", i)
		}
	}
	// The errors shown come from testdata/load (file names aside).
	var shown []string
	for _, f := range glob(t, "testdata/load/*.err") {
		name := strings.TrimSuffix(filepath.Base(f), ".err") + ".yaml"
		text := strings.ReplaceAll(string(readFile(t, f)), name, "pci.yaml")
		for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
			_, rest, _ := strings.Cut(line, ":")
			shown = append(shown, rest)
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^pci\.yaml:(.*)$`).FindAllStringSubmatch(doc, -1) {
		found := false
		for _, s := range shown {
			if s == m[1] {
				found = true
			}
		}
		if !found {
			t.Errorf("docs show an error no test produces: pci.yaml:%s", m[1])
		}
	}
}
