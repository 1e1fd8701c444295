package sigma

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/azure"
	"github.com/cdewatch/cdewatch/internal/detect"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/golden"
	"github.com/cdewatch/cdewatch/internal/k8saudit"
)

var testReceived = time.Date(2025, 4, 20, 16, 30, 0, 0, time.UTC)

// testClock is the Alert.Detected clock of the tests.
func testClock() time.Time { return testReceived.Add(time.Second) }

// corporaDir returns the SigmaHQ corpus folder, skipping the test when
// CDEWATCH_CORPORA is unset.
func corporaDir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("CDEWATCH_CORPORA")
	if dir == "" {
		tb.Skip("CDEWATCH_CORPORA is unset: set it to the shared corpora folder (e.g. ../shared/corpora) to test the SigmaHQ rules")
	}
	return filepath.Join(dir, "sigma")
}

// loadOne loads one rule file's text, failing on any load error.
func loadOne(tb testing.TB, yml string) *Set {
	tb.Helper()
	s, errs := Parse("test.yml", []byte(yml), Options{Now: testClock})
	for _, e := range errs {
		tb.Fatalf("load: %v", e)
	}
	return s
}

// loadFS loads rule files given as name → text.
func loadFS(tb testing.TB, files map[string]string, opts Options) (*Set, []*LoadError) {
	tb.Helper()
	fsys := fstest.MapFS{}
	for name, text := range files {
		fsys["rules/"+name] = &fstest.MapFile{Data: []byte(text)}
	}
	if opts.Now == nil {
		opts.Now = testClock
	}
	s, errs, err := LoadWith(fsys, "rules", opts)
	if err != nil {
		tb.Fatal(err)
	}
	return s, errs
}

// rawEvent wraps a JSON document as the event of a ledger record of
// table, with no normalized fields.
func rawEvent(table, doc string) *detect.Event {
	return detect.NewEvent(1, event.Record{Table: table, Raw: []byte(doc), Time: testReceived})
}

// ledgerEvent builds the ledger record cdewatch stores for raw, through
// the real decoders: an audit event (k8saudit) or an Azure diagnostic
// export record (azure); table "" wraps raw as it is.
func ledgerEvent(tb testing.TB, table string, raw []byte, seq uint64) *detect.Event {
	tb.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		tb.Fatal(err)
	}
	raw = b.Bytes()
	switch table {
	case event.TableKubeAudit:
		it, err := k8saudit.DecodeLine(raw, k8saudit.Limits{})
		if err != nil {
			tb.Fatalf("not an audit event cdewatch accepts: %v", err)
		}
		c := k8saudit.NewClassifier(k8saudit.ClassifierConfig{CDENamespaces: []string{"payments"}})
		return detect.NewEvent(seq, *c.Normalize(&it, "aks-cde", testReceived))
	case event.TableAzureActivity, event.TableSigninLogs:
		r, err := azure.DecodeRecord(raw, azure.Limits{})
		if err != nil {
			tb.Fatalf("not an Azure record cdewatch accepts: %v", err)
		}
		rec, ok := r.Event()
		if !ok {
			tb.Fatalf("Azure record of kind %v has no ledger record", r.Kind)
		}
		if rec.Table != table {
			tb.Fatalf("Azure record is for table %s, want %s", rec.Table, table)
		}
		rec.Source, rec.Received = "sub-cde", testReceived
		return detect.NewEvent(seq, rec)
	}
	return detect.NewEvent(seq, event.Record{Raw: raw, Received: testReceived})
}

// collect evaluates e and returns the alerts.
func collect(s *Set, e *detect.Event) []alert.Alert {
	var out []alert.Alert
	s.Eval(e, func(a alert.Alert) { out = append(out, a) })
	return out
}

func render(tb testing.TB, v any) []byte { tb.Helper(); return golden.JSON(tb, v) }
