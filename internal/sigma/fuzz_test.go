package sigma

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/detect"
	"github.com/cdewatch/cdewatch/internal/event"
)

// FuzzLoad loads arbitrary rule text and evaluates what loads on an
// arbitrary document in every table: neither may panic.
func FuzzLoad(f *testing.F) {
	docs := []string{
		`{"verb":"create","objectRef":{"resource":"pods","subresource":"exec"},"requestURI":"/bin/sh","responseStatus":{"code":403}}`,
		`{"resultType":"50126","properties":{"ipAddress":"10.0.0.1","status":{"errorCode":50126},"deviceDetail":{}}}`,
		`[1,"a",null,{"a":[[]]}]`, `null`, `not json`, `{"a":{"b":{"c":[1,2,{"d":"e"}]}}}`,
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "rules", "*.yml"))
	for i, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, []byte(docs[i%len(docs)]))
	}
	for _, d := range docs {
		f.Add([]byte(kubeRule("    sel:\n        requestURI|contains|all: [a, b]\n        verb|re|i: '^(get|list)$'\n    k: [x, 'y*z']\n    condition: 1 of them and not k")), []byte(d))
	}
	f.Add([]byte("title: t\nid: x\nlogsource: {product: azure, service: signinlogs}\ndetection: {s: {Status|contains: MFA, DeviceDetail.trusttype: [null, '']}, condition: s}\n"), []byte(docs[1]))
	f.Add([]byte("title: t\nid: x\nlogsource: {product: kubernetes, service: audit}\ndetection: {s: {sourceIPs|cidr: 10.0.0.0/8, requestObject.a|windash|base64offset|contains: -e}, condition: s}\n---\ntitle: c\nid: y\ncorrelation: {type: value_count, rules: [x], group-by: [verb], timespan: 1s, condition: {field: objectRef.name, gte: 2}}\n"), []byte(docs[0]))
	f.Fuzz(func(t *testing.T, rule, doc []byte) {
		start := time.Now()
		defer func() {
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("took %v", d)
			}
		}()
		s, errs := Parse("fuzz.yml", rule, Options{Now: testClock})
		for _, e := range errs {
			if e.Error() == "" || e.Err == nil {
				t.Fatalf("empty error %#v", e)
			}
		}
		c := NewCorrelator(s)
		for i, table := range []string{event.TableKubeAudit, event.TableAzureActivity, event.TableSigninLogs, ""} {
			e := detect.NewEvent(uint64(i), event.Record{Table: table, Raw: doc, Time: testReceived.Add(time.Duration(i) * time.Minute)})
			for _, r := range s.Rules() {
				r.Match(e)
			}
			s.EvalCorrelate(e, c, func(alert.Alert) {})
		}
		c.Advance(testReceived.Add(48*time.Hour), func(alert.Alert) {})
		b, err := c.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if err := NewCorrelator(s).UnmarshalJSON(b); err != nil {
			t.Fatal(err)
		}
	})
}
