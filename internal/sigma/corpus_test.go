package sigma

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/cdewatch/cdewatch/internal/golden"
)

// crafted is one test data file of testdata/corpus: an event made to
// match (or nearly match) a corpus rule, and why.
type crafted struct {
	Why   string          `json:"why"`
	Event json.RawMessage `json:"event"`
}

// corpusRejections are the corpus rules cdewatch rejects, with the
// feature each lacks (a substring of the reason).
var corpusRejections = map[string]string{
	"azure_legacy_authentication_protocols.yml": `field "ActivityDetails" is neither a SigninLogs column nor a path into the sign-in export record (all unmapped: ActivityDetails, ClientApp, Username)`,
}

// TestCorpus loads the SigmaHQ Kubernetes audit, Azure and GKE rules of
// the shared corpus: each loads or is rejected for an unsupported feature,
// and each loaded rule fires on its crafted event
// (testdata/corpus/<rule file>.match.json) and stays silent on its near
// miss (.miss.json), both decoded by cdewatch's own decoders.
func TestCorpus(t *testing.T) {
	dir := corporaDir(t)
	s, errs, err := LoadWith(os.DirFS(dir), "rules", Options{Now: testClock})
	if err != nil {
		t.Fatal(err)
	}
	rejected := map[string]bool{}
	for _, e := range errs {
		base := filepath.Base(e.File)
		want, ok := corpusRejections[base]
		switch {
		case !ok:
			t.Errorf("unexpected rejection: %v", e)
		case !e.Unsupported():
			t.Errorf("%s rejected as invalid, want an unsupported feature: %v", base, e)
		case !strings.Contains(e.Error(), want):
			t.Errorf("%s: reason %q, want it to contain %q", base, e.Error(), want)
		}
		rejected[base] = true
	}
	for base := range corpusRejections {
		if !rejected[base] {
			t.Errorf("%s loaded, want it rejected", base)
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "rules", "*", "*", "*", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(s.Rules())+len(errs), len(files); got != want {
		t.Errorf("%d rules loaded and %d rejected, want %d (one per corpus file)", len(s.Rules()), len(errs), want)
	}
	used := map[string]bool{}
	for _, r := range s.Rules() {
		name := strings.TrimSuffix(filepath.Base(r.File), ".yml")
		table := ""
		if len(r.Tables) > 0 {
			table = r.Tables[0]
		}
		t.Run(name, func(t *testing.T) {
			for i, kind := range []string{"match", "miss"} {
				path := filepath.Join("testdata", "corpus", name+"."+kind+".json")
				used[path] = true
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("no crafted %s event for %s (%s): %v", kind, r.ID, r.Title, err)
				}
				var c crafted
				if err := json.Unmarshal(data, &c); err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				e := ledgerEvent(t, table, c.Event, uint64(100+i))
				want := kind == "match"
				if table == "" {
					// A log source with no cdewatch table: the matcher alone.
					if got := r.Match(e); got != want {
						t.Errorf("%s (%s): Match = %v, want %v", path, c.Why, got, want)
					}
					if a := collect(s, e); len(a) != 0 {
						t.Errorf("%s: rules fired on a record of no table: %v", path, a)
					}
					continue
				}
				fired := false
				for _, a := range collect(s, e) {
					if a.Rule == r.ID {
						fired = true
						if a.Kind != "match" || a.RuleTitle != r.Title || a.Severity != r.Severity || len(a.Seqs) != 1 || a.Seqs[0] != e.Seq {
							t.Errorf("%s: alert %+v", path, a)
						}
					}
				}
				if fired != want {
					t.Errorf("%s (%s): fired = %v, want %v", path, c.Why, fired, want)
				}
				if got := r.Match(e); got != want {
					t.Errorf("%s: Match = %v, want %v", path, got, want)
				}
			}
		})
	}
	for _, path := range golden.Glob(t, filepath.Join("testdata", "corpus", "*.json")) {
		if !used[path] {
			t.Errorf("%s: no loaded corpus rule uses it", path)
		}
	}
	// Summary for docs/SIGMA.md.
	count := map[string]int{}
	for _, r := range s.Rules() {
		count[r.Logsource.Product+"/"+r.Logsource.Service]++
	}
	keys := make([]string, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("loaded %-22s %d", k, count[k])
	}
	for _, e := range errs {
		t.Logf("rejected %v", e)
	}
}
