package detect

import (
	"errors"
	"io/fs"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/event"
)

// fuzzTables are the tables the fuzzed events are put in.
var fuzzTables = []string{event.TableKubeAudit, event.TableAzureActivity, event.TableCdewatchAudit, event.TableSigninLogs}

// FuzzLoad loads a fuzzed rule file and, when it loads, evaluates it on
// fixed events and on a fuzzed document: neither may panic, a load error
// must be *LoadErrors, and Eval and Match must agree.
func FuzzLoad(f *testing.F) {
	files, _ := fs.Glob(builtin, "rules/*.yaml")
	loadCases, _ := filepath.Glob("testdata/load/*.yaml")
	for _, p := range files {
		b, err := fs.ReadFile(builtin, p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, []byte(langDoc))
	}
	for _, p := range loadCases {
		f.Add(readFile(f, p), []byte(`{"verb":"get"}`))
	}
	f.Add([]byte(oneRule(`{field: requestObject.spec.containers.securityContext.privileged, equals: true}`)),
		[]byte(`{"requestObject":{"spec":{"containers":[[{"securityContext":{"privileged":true}}],{"a":[1,[2,[3]]]}]}}}`))
	f.Add([]byte(oneRule(`{any: [{field: a.b.c, regex: '^x'}, {not: {field: "0", cidr: 10.0.0.0/8}}]}`)),
		[]byte(`{"a":{"b.c":"x","b":{"c":["y","x"]}},"0":"10.1.1.1"}`))
	f.Fuzz(func(t *testing.T, rules, doc []byte) {
		rs, err := LoadRules(fstest.MapFS{"f.yaml": {Data: rules}}, nil)
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("error %v is not a *LoadError", err)
			}
			return
		}
		events := []*Event{langEvent(), NewEvent(2, event.Record{Raw: doc})}
		for _, e := range events {
			for _, table := range fuzzTables {
				e.Rec.Table = table
				fired := map[string]bool{}
				rs.Eval(e, func(a alert.Alert) { fired[a.Rule] = true })
				for _, r := range rs.Rules() {
					if r.Enabled && r.Match(e) != fired[r.ID] {
						t.Fatalf("rule %s: Match %v, Eval fired %v", r.ID, r.Match(e), fired[r.ID])
					}
				}
			}
		}
	})
}

// TestEvalConcurrent evaluates one rule set from several goroutines (run
// with -race).
func TestEvalConcurrent(t *testing.T) {
	rs, cl := loadPack(t)
	var events []*Event
	for _, f := range glob(t, "testdata/pack/*.jsonl") {
		for i, c := range readCases(t, f) {
			events = append(events, NewEvent(uint64(i), c.record(t, cl)))
		}
	}
	want := make([]int, len(events))
	for i, e := range events {
		want[i] = len(evalAll(rs, e))
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; round < 5; round++ {
				for i, e := range events {
					if got := len(evalAll(rs, e)); got != want[i] {
						t.Errorf("event %d: %d alerts, want %d", i, got, want[i])
						return
					}
					for _, r := range rs.Rules() {
						r.Match(e)
					}
				}
			}
		}()
	}
	wg.Wait()
}
