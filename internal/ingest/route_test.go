package ingest

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/golden"
	"github.com/cdewatch/cdewatch/internal/k8saudit"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// routed is what a golden file holds of a routed record.
type routed struct {
	Table, Time, User, Action, Outcome, OriginIP, UserAgent, Resource, Key, PCI, Missing string
	Status                                                                               int
	RawIsInput                                                                           bool
}

// TestRouterDocuments routes each testdata/documents/*.json (with the
// hint app "checkout" for names starting with "app-") and compares the
// record with its .golden file.
func TestRouterDocuments(t *testing.T) {
	rt := &Router{Classifier: k8saudit.NewClassifier(k8saudit.ClassifierConfig{CDENamespaces: []string{"payments"}})}
	received := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for _, in := range golden.Glob(t, "testdata/documents/*.json") {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			doc := golden.Read(t, in)
			r, err := rt.Document(doc, "aks-prod", received, Hint{})
			if err != nil {
				t.Fatal(err)
			}
			got := routed{Table: r.Table, User: r.User, Action: r.Action, Outcome: string(r.Outcome), OriginIP: r.OriginIP,
				UserAgent: r.UserAgent, Resource: r.Resource, Key: r.Key, PCI: r.PCI.String(), Missing: r.Missing().String(), Status: r.Status,
				RawIsInput: string(r.Raw) == strings.TrimSpace(string(doc))}
			if !r.Time.IsZero() {
				got.Time = r.Time.Format(time.RFC3339Nano)
			}
			golden.Check(t, filepath.Join("testdata", "documents", name+".golden"), golden.JSON(t, got), *update)
		})
	}
}

func TestRouterHintApp(t *testing.T) {
	rt := &Router{Classifier: k8saudit.NewClassifier(k8saudit.ClassifierConfig{})}
	r, err := rt.Document([]byte(`{"action":"read","resource":"cards/1"}`), "shop", time.Now(), Hint{App: "checkout"})
	if err != nil || r.Table != event.TableAppAccess || !strings.Contains(string(r.Raw), `"app":"checkout"`) {
		t.Fatalf("hinted app record: %+v %v", r, err)
	}
}

func TestRouterErrors(t *testing.T) {
	rt := &Router{Classifier: k8saudit.NewClassifier(k8saudit.ClassifierConfig{})}
	for _, doc := range []string{``, `[1,2]`, `"text"`, `{"a":`, `{"log":"x"} trailing`, "{" + strings.Repeat(" ", MaxDocumentBytes) + "}"} {
		if _, err := rt.Document([]byte(doc), "s", time.Now(), Hint{}); err == nil {
			t.Errorf("Document(%.40q) accepted", doc)
		}
	}
}

func FuzzRouterDocument(f *testing.F) {
	for _, in := range golden.Glob(f, "testdata/documents/*.json") {
		f.Add(golden.Read(f, in))
	}
	rt := &Router{Classifier: k8saudit.NewClassifier(k8saudit.ClassifierConfig{})}
	f.Fuzz(func(t *testing.T, doc []byte) {
		r, err := rt.Document(doc, "s", time.Unix(0, 0), Hint{})
		if err != nil {
			return
		}
		if r.Table == "" || len(r.Raw) == 0 {
			t.Fatalf("record without table or raw: %+v", r)
		}
		if _, err := r.MarshalBinary(); err != nil {
			t.Fatal(err)
		}
	})
}
