package detect

import (
	"bytes"
	"encoding/json"
	"flag"
	"testing"
	"testing/fstest"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/azure"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/golden"
	"github.com/cdewatch/cdewatch/internal/k8saudit"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata and the generated docs")

func readFile(tb testing.TB, path string) []byte { tb.Helper(); return golden.Read(tb, path) }

func glob(tb testing.TB, pattern string) []string { tb.Helper(); return golden.Glob(tb, pattern) }

func render(tb testing.TB, v any) []byte { tb.Helper(); return golden.JSON(tb, v) }

func checkGolden(tb testing.TB, path string, got []byte) {
	tb.Helper()
	golden.Check(tb, path, got, *update)
}

// testReceived is the received time of the records the tests build.
var testReceived = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// testCase is one line of a test data file: a source event, given as it
// arrives (a Kubernetes audit event, an Azure export record, a cdewatch
// self-audit action), and whether the rule under test fires on it.
type testCase struct {
	Want  bool            `json:"want"`
	Why   string          `json:"why"`
	Kube  json.RawMessage `json:"kube,omitempty"`
	Azure json.RawMessage `json:"azure,omitempty"`
	Self  *selfCase       `json:"self,omitempty"`
}

type selfCase struct {
	Action  string         `json:"action"`
	User    string         `json:"user"`
	Origin  string         `json:"origin"`
	Details map[string]any `json:"details"`
}

// record builds the ledger record of a test case the way the ingest path
// does: k8saudit's decoder and classifier, azure's decoder, a SelfAudit.
func (c *testCase) record(tb testing.TB, cl *k8saudit.Classifier) event.Record {
	tb.Helper()
	switch {
	case c.Kube != nil:
		return kubeRecord(tb, cl, c.Kube)
	case c.Azure != nil:
		return azureRecord(tb, c.Azure)
	case c.Self != nil:
		r, err := event.SelfAudit{Action: c.Self.Action, User: c.Self.User, OriginIP: c.Self.Origin,
			Details: c.Self.Details}.Record(testReceived)
		if err != nil {
			tb.Fatal(err)
		}
		return *r
	}
	tb.Fatal("test case without kube, azure or self")
	return event.Record{}
}

func kubeRecord(tb testing.TB, cl *k8saudit.Classifier, raw []byte) event.Record {
	tb.Helper()
	// The ledger keeps the bytes as received: compact them as a webhook
	// body would carry them, so that Raw has no stray white space.
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		tb.Fatal(err)
	}
	it, err := k8saudit.DecodeLine(b.Bytes(), k8saudit.Limits{})
	if err != nil {
		tb.Fatal(err)
	}
	return *cl.Normalize(&it, "aks-cde-prod", testReceived)
}

func azureRecord(tb testing.TB, raw []byte) event.Record {
	tb.Helper()
	r, err := azure.DecodeRecord(raw, azure.Limits{})
	if err != nil {
		tb.Fatal(err)
	}
	rec, ok := r.Event()
	if !ok {
		tb.Fatalf("azure record of kind %v has no ledger record", r.Kind)
	}
	rec.Source, rec.Received = "sub-cde", testReceived
	return rec
}

// loadText loads rule files given as text.
func loadText(tb testing.TB, files map[string]string, lists map[string][]string) (*RuleSet, error) {
	tb.Helper()
	fsys := fstest.MapFS{}
	for name, text := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(text)}
	}
	return LoadRules(fsys, lists)
}

// evalAll returns the alerts of the rule set on the event.
func evalAll(rs *RuleSet, e *Event) []alert.Alert {
	var out []alert.Alert
	rs.Eval(e, func(a alert.Alert) { out = append(out, a) })
	return out
}

func firedIDs(alerts []alert.Alert) []string {
	ids := []string{}
	for _, a := range alerts {
		ids = append(ids, a.Rule)
	}
	return ids
}
