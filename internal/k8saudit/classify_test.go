package k8saudit

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/event"
)

// The classify golden tests: each testdata/classify/NAME.json is a body
// (an EventList or a single Event) whose items one Classifier normalizes in
// order, and NAME.golden holds the records. The Classifier's configuration
// is testConfig, or NAME.config.json when it exists.

// testConfig is the configuration of the classify tests: a cluster whose
// cardholder data lives in the namespaces payments and card-vault.
var testConfig = ClassifierConfig{
	CDENamespaces:   []string{"payments", "card-vault"},
	PrivilegedUsers: []string{"breakglass@contoso.com"},
}

const testSource = "aks-cde-prod"

// testReceived is in a zone other than UTC, to check that records are UTC.
var testReceived = time.Date(2025, 4, 20, 18, 30, 5, 500_000_000, time.FixedZone("CEST", 2*3600))

// goldenRecord is the JSON rendering of an event.Record, PCI classes by name.
type goldenRecord struct {
	Key       string        `json:"key"`
	Time      time.Time     `json:"time"`
	Received  time.Time     `json:"received"`
	Source    string        `json:"source"`
	Table     string        `json:"table"`
	User      string        `json:"user"`
	Action    string        `json:"action"`
	Outcome   event.Outcome `json:"outcome"`
	Status    int           `json:"status"`
	OriginIP  string        `json:"originIP"`
	UserAgent string        `json:"userAgent"`
	Resource  string        `json:"resource"`
	PCI       []string      `json:"pci"`
}

func toGoldenRecord(r *event.Record) goldenRecord {
	pci := r.PCI.Names()
	if pci == nil {
		pci = []string{}
	}
	return goldenRecord{
		Key: r.Key, Time: r.Time, Received: r.Received, Source: r.Source, Table: r.Table,
		User: r.User, Action: r.Action, Outcome: r.Outcome, Status: r.Status,
		OriginIP: r.OriginIP, UserAgent: r.UserAgent, Resource: r.Resource, PCI: pci,
	}
}

func configFor(tb testing.TB, input string) ClassifierConfig {
	tb.Helper()
	b, err := os.ReadFile(strings.TrimSuffix(input, ".json") + ".config.json")
	if errors.Is(err, os.ErrNotExist) {
		return testConfig
	}
	if err != nil {
		tb.Fatal(err)
	}
	var cfg ClassifierConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// checkRecord checks what Normalize promises of every record, beyond the
// golden rendering.
func checkRecord(tb testing.TB, it *Item, r *event.Record) {
	tb.Helper()
	if len(r.Raw) != len(it.Raw) || len(r.Raw) > 0 && &r.Raw[0] != &it.Raw[0] {
		tb.Errorf("%s: Raw is not the item's bytes", r.Key)
	}
	if r.Time.Location() != time.UTC || r.Received.Location() != time.UTC {
		tb.Errorf("%s: times %v, %v are not UTC", r.Key, r.Time, r.Received)
	}
	b, err := r.MarshalBinary()
	if err != nil {
		tb.Fatalf("%s: MarshalBinary: %v", r.Key, err)
	}
	var back event.Record
	if err := back.UnmarshalBinary(b); err != nil {
		tb.Fatalf("%s: UnmarshalBinary: %v", r.Key, err)
	}
	if back.Key != r.Key || back.PCI != r.PCI || !back.Time.Equal(r.Time) || !bytes.Equal(back.Raw, r.Raw) {
		tb.Errorf("%s: record does not survive its binary encoding", r.Key)
	}
}

func TestClassifyGolden(t *testing.T) {
	for _, input := range glob(t, filepath.Join("testdata", "classify", "*.json")) {
		if strings.HasSuffix(input, ".config.json") {
			continue
		}
		name := filepath.Base(input)
		t.Run(name, func(t *testing.T) {
			items, err := Decode(readFile(t, input), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			c := NewClassifier(configFor(t, input))
			records := []goldenRecord{}
			for i := range items {
				r := c.Normalize(&items[i], testSource, testReceived)
				checkRecord(t, &items[i], r)
				records = append(records, toGoldenRecord(r))
			}
			checkGolden(t, strings.TrimSuffix(input, ".json")+".golden", render(t, records))
		})
	}
}

// learnedAdminItems returns the binding of testdata/classify/learned-admin.json
// and the request by its subject that follows it.
func learnedAdminItems(tb testing.TB) (binding, action *Item) {
	tb.Helper()
	items, err := Decode(readFile(tb, filepath.Join("testdata", "classify", "learned-admin.json")), Limits{})
	if err != nil {
		tb.Fatal(err)
	}
	for i := range items {
		ev := &items[i].Event
		switch {
		case binding == nil && ev.Verb == "create" && ev.ObjectRef != nil && ev.ObjectRef.Resource == "clusterrolebindings" && ev.Stage == StageResponseComplete:
			binding = &items[i]
		case binding != nil && action == nil && ev.User.Username == "mallory@contoso.com":
			action = &items[i]
		}
	}
	if binding == nil || action == nil {
		tb.Fatal("learned-admin.json lacks the binding or the subject's request")
	}
	return binding, action
}

// TestLearnedAdminsPerSource checks that a binding learned from one cluster
// does not make its subjects administrators of another.
func TestLearnedAdminsPerSource(t *testing.T) {
	binding, action := learnedAdminItems(t)
	c := NewClassifier(testConfig)
	c.Normalize(binding, "cluster-a", testReceived)
	if r := c.Normalize(action, "cluster-a", testReceived); r.PCI&event.AdminAction == 0 {
		t.Errorf("cluster-a: subject of the binding is not an administrator: %v", r.PCI)
	}
	if r := c.Normalize(action, "cluster-b", testReceived); r.PCI&event.AdminAction != 0 {
		t.Errorf("cluster-b: binding of cluster-a made its subject an administrator: %v", r.PCI)
	}
}

// TestClassifierDefaults checks that nil lists take the defaults and empty
// lists mean none.
func TestClassifierDefaults(t *testing.T) {
	binding, action := learnedAdminItems(t)
	masters := &Item{Event: Event{AuditID: "m", Stage: StageResponseComplete, Verb: "get",
		User: UserInfo{Username: "masterclient", Groups: []string{"system:masters", "system:authenticated"}}}}

	c := NewClassifier(ClassifierConfig{})
	if r := c.Normalize(masters, testSource, testReceived); r.PCI&event.AdminAction == 0 {
		t.Errorf("default config: system:masters member is not an administrator")
	}
	c.Normalize(binding, testSource, testReceived)
	if r := c.Normalize(action, testSource, testReceived); r.PCI&event.AdminAction == 0 {
		t.Errorf("default config: cluster-admin binding not learned")
	}

	c = NewClassifier(ClassifierConfig{PrivilegedGroups: []string{}, AdminRoles: []string{}})
	if r := c.Normalize(masters, testSource, testReceived); r.PCI&event.AdminAction != 0 {
		t.Errorf("empty PrivilegedGroups: system:masters member is an administrator")
	}
	c.Normalize(binding, testSource, testReceived)
	if r := c.Normalize(action, testSource, testReceived); r.PCI&event.AdminAction != 0 {
		t.Errorf("empty AdminRoles: cluster-admin binding learned")
	}
}

// TestNormalizeConcurrent runs Normalize from several goroutines while
// bindings are learned and forgotten (run with -race).
func TestNormalizeConcurrent(t *testing.T) {
	items, err := Decode(readFile(t, filepath.Join("testdata", "classify", "learned-admin.json")), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	c := NewClassifier(testConfig)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for n := range 200 {
				it := &items[(g+n)%len(items)]
				if r := c.Normalize(it, testSource, testReceived); r.Key != it.Event.Key() {
					t.Errorf("record key %q, want %q", r.Key, it.Event.Key())
					return
				}
			}
		})
	}
	wg.Wait()
}
