package detect

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/k8saudit"
)

// replicate returns a rule set of n rules of table: copies of the rule
// set's rules of that table under new ids (each copy evaluates its
// condition afresh: nothing is shared between rules at evaluation).
func replicate(tb testing.TB, rs *RuleSet, table string, n int) *RuleSet {
	tb.Helper()
	var base []*Rule
	for _, r := range rs.rules {
		if r.Enabled && r.appliesTo(table) {
			base = append(base, r)
		}
	}
	if len(base) == 0 {
		tb.Fatalf("no rules of %s", table)
	}
	rules := make([]*Rule, 0, n)
	for i := 0; len(rules) < n; i++ {
		r := *base[i%len(base)]
		r.ID = fmt.Sprintf("%s.copy%d", r.ID, i/len(base))
		r.Tables = []string{table}
		rules = append(rules, &r)
	}
	return newRuleSet(rules, rs.paths, nil)
}

// benchEvents are the benchmark's events as the detector sees them:
// ledger records built by the ingest path.
func benchEvents(tb testing.TB, cde []string) []struct {
	name string
	ev   *Event
} {
	tb.Helper()
	cl := k8saudit.NewClassifier(k8saudit.ClassifierConfig{CDENamespaces: cde})
	var out []struct {
		name string
		ev   *Event
	}
	for _, f := range []struct{ name, path, user string }{
		{"lease-update", "../k8saudit/testdata/bench/lease-update.json", ""},
		{"secret-get", "testdata/bench/secret-get.json", ""},
		// The same read by a kubelet, an allowed reader: no rule fires.
		{"secret-get-kubelet", "testdata/bench/secret-get.json", "system:node:aks-cde-28934471-vmss000002"},
	} {
		raw := bytes.TrimSpace(readFile(tb, f.path))
		if f.user != "" {
			raw = bytes.Replace(raw, []byte(`"alice@contoso.com"`), []byte(`"`+f.user+`"`), 1)
		}
		it, err := k8saudit.DecodeLine(raw, k8saudit.Limits{})
		if err != nil {
			tb.Fatal(err)
		}
		rec := cl.Normalize(&it, "aks-cde-prod", testReceived)
		out = append(out, struct {
			name string
			ev   *Event
		}{f.name, NewEvent(1, *rec)})
	}
	return out
}

// BenchmarkRules measures the evaluation of the built-in pack (its rules
// of KubeAuditLogs) and of 100 such rules on realistic audit events: a
// kubelet's lease update (2 KB, RequestResponse; no rule fires), a user's
// read of a CDE secret (1 KB, Metadata; the secret rule fires and its
// alert is built — in the 100-rule set, each of its copies) and the same
// read by a kubelet, an allowed reader (no rule fires). Sub-benchmarks:
//
//   - eval: RuleSet.Eval as the detector calls it, reading the fields from
//     Raw (the one-pass scan) and evaluating the rules;
//   - rules: the rules alone, on fields already read;
//   - scan: the one-pass scan of Raw alone;
//   - json-decode: for comparison, decoding Raw into map[string]any (what
//     Event.Doc does), which the rules avoid.
//
// ns/event/100rules scales ns/op to 100 rules evaluated.
func BenchmarkRules(b *testing.B) {
	cde := []string{"payments"}
	pack, err := BuiltinRules(map[string][]string{"cde_namespaces": cde})
	if err != nil {
		b.Fatal(err)
	}
	sets := []struct {
		name string
		rs   *RuleSet
	}{
		{"pack", pack},
		{"100rules", replicate(b, pack, event.TableKubeAudit, 100)},
	}
	emit := func(alert.Alert) {}
	for _, set := range sets {
		tr := set.rs.tables[event.TableKubeAudit]
		n := float64(len(tr.rules))
		for _, ev := range benchEvents(b, cde) {
			e := ev.ev
			b.Run(set.name+"/"+ev.name+"/eval", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					set.rs.Eval(e, emit)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)*100/n, "ns/event/100rules")
			})
			b.Run(set.name+"/"+ev.name+"/rules", func(b *testing.B) {
				sc := newScratch(set.rs.paths)
				sc.reset(tr.plan, &e.Rec)
				sc.readAll()
				b.ReportAllocs()
				for b.Loop() {
					set.rs.evalRules(tr, e, sc, emit)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)*100/n, "ns/event/100rules")
			})
			b.Run(set.name+"/"+ev.name+"/scan", func(b *testing.B) {
				sc := newScratch(set.rs.paths)
				b.ReportAllocs()
				for b.Loop() {
					sc.reset(tr.plan, &e.Rec)
					sc.readAll()
				}
			})
		}
	}
	for _, ev := range benchEvents(b, cde) {
		b.Run("json-decode/"+ev.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e := NewEvent(1, ev.ev.Rec)
				if e.Doc() == nil {
					b.Fatal("not JSON")
				}
			}
		})
	}
}

// TestBenchRulesFire checks what the benchmark's events do with the pack.
func TestBenchRulesFire(t *testing.T) {
	pack, err := BuiltinRules(map[string][]string{"cde_namespaces": {"payments"}})
	if err != nil {
		t.Fatal(err)
	}
	hundred := replicate(t, pack, event.TableKubeAudit, 100)
	if got := len(hundred.tables[event.TableKubeAudit].rules); got != 100 {
		t.Fatalf("replicated set has %d rules", got)
	}
	want := map[string]int{"lease-update": 0, "secret-get": 1, "secret-get-kubelet": 0}
	for _, ev := range benchEvents(t, []string{"payments"}) {
		if got := len(evalAll(pack, ev.ev)); got != want[ev.name] {
			t.Errorf("%s: %d alerts from the pack, want %d", ev.name, got, want[ev.name])
		}
	}
}
