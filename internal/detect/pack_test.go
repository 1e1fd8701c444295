package detect

import (
	"bufio"
	"bytes"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/k8saudit"
)

// packConfig is testdata/pack/config.json: the lists the pack tests
// configure (cde_namespaces is also the classifier's CDENamespaces).
type packConfig struct {
	Lists map[string][]string `json:"lists"`
}

func loadPack(tb testing.TB) (*RuleSet, *k8saudit.Classifier) {
	tb.Helper()
	var cfg packConfig
	if err := json.Unmarshal(readFile(tb, "testdata/pack/config.json"), &cfg); err != nil {
		tb.Fatal(err)
	}
	rs, err := BuiltinRules(cfg.Lists)
	if err != nil {
		tb.Fatal(err)
	}
	return rs, k8saudit.NewClassifier(k8saudit.ClassifierConfig{CDENamespaces: cfg.Lists["cde_namespaces"]})
}

// readCases reads a JSON Lines file of test cases.
func readCases(tb testing.TB, path string) []testCase {
	tb.Helper()
	var cases []testCase
	sc := bufio.NewScanner(bytes.NewReader(readFile(tb, path)))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var c testCase
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			tb.Fatalf("%s:%d: %v", path, n, err)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return cases
}

// packResult is what the golden file of a rule's cases holds per case.
type packResult struct {
	Line  int          `json:"line"`
	Want  bool         `json:"want"`
	Why   string       `json:"why"`
	Fired []string     `json:"fired"` // every rule of the pack that fired
	Alert *alert.Alert `json:"alert,omitempty"`
}

// TestPack runs, for each rule of the built-in pack, the cases of
// testdata/pack/<rule id>.jsonl through the whole pack: the rule must fire
// on the cases that want it and stay silent on the others (near misses).
// The alerts are compared with testdata/pack/<rule id>.golden. A new case
// is a new line.
func TestPack(t *testing.T) {
	rs, cl := loadPack(t)
	files := glob(t, "testdata/pack/*.jsonl")
	var ids []string
	for _, r := range rs.Rules() {
		ids = append(ids, r.ID)
	}
	for _, f := range files {
		id := strings.TrimSuffix(filepath.Base(f), ".jsonl")
		if !slices.Contains(ids, id) {
			t.Errorf("%s: no rule %s in the pack", f, id)
		}
	}
	for _, r := range rs.Rules() {
		t.Run(r.ID, func(t *testing.T) {
			path := filepath.Join("testdata/pack", r.ID+".jsonl")
			cases := readCases(t, path)
			var fires, misses int
			var results []packResult
			for i, c := range cases {
				rec := c.record(t, cl)
				e := NewEvent(uint64(1000+i), rec)
				alerts := evalAll(rs, e)
				res := packResult{Line: i + 1, Want: c.Want, Why: c.Why, Fired: firedIDs(alerts)}
				got := false
				for j := range alerts {
					if alerts[j].Rule == r.ID {
						got = true
						res.Alert = &alerts[j]
					}
				}
				if got != c.Want {
					t.Errorf("%s:%d (%s): fired %v, want %v", path, i+1, c.Why, got, c.Want)
				}
				if m := r.Match(e); m != got {
					t.Errorf("%s:%d: Match = %v, Eval fired %v", path, i+1, m, got)
				}
				if c.Want {
					fires++
				} else {
					misses++
				}
				results = append(results, res)
			}
			if fires == 0 || misses == 0 {
				t.Errorf("%s: %d cases that fire and %d near misses; want at least one of each", path, fires, misses)
			}
			checkGolden(t, filepath.Join("testdata/pack", r.ID+".golden"), render(t, results))
		})
	}
}

// TestPackTags checks what every rule of the pack must carry.
func TestPackTags(t *testing.T) {
	rs, _ := loadPack(t)
	if len(rs.Rules()) < 20 {
		t.Errorf("the pack has %d rules", len(rs.Rules()))
	}
	for _, r := range rs.Rules() {
		if !strings.HasPrefix(r.ID, "pci.") || len(r.PCI) == 0 || len(r.MITRE) == 0 || r.Description == "" ||
			!r.Enabled || len(r.Tables) == 0 || r.Summary == r.Title {
			t.Errorf("%s (%s:%d): want a pci. id, PCI and MITRE tags, a description, a summary, enabled", r.ID, r.File, r.Line)
		}
	}
	// Without configuration the CDE rules have no namespace to watch.
	bare, err := BuiltinRules(nil)
	if err != nil {
		t.Fatal(err)
	}
	if items, ok := bare.List("cde_namespaces"); !ok || len(items) != 0 {
		t.Errorf("default cde_namespaces = %v, %v", items, ok)
	}
}
