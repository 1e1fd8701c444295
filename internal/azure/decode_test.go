package azure

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"github.com/cdewatch/cdewatch/internal/k8saudit"
)

// The golden tests: each testdata/decode/NAME.json is a body given to
// DecodeBody, each NAME.jsonl a blob given to DecodeLines, and NAME.golden
// holds the outcome.

type goldenError struct {
	Line        int    `json:"line,omitempty"`
	Index       int    `json:"index"`
	Field       string `json:"field,omitempty"`
	Error       string `json:"error"`
	Unsupported bool   `json:"unsupported,omitempty"`
	Size        int    `json:"size"`
}

type goldenAudit struct {
	Key         string          `json:"key"`
	PodName     string          `json:"podName,omitempty"`
	Stream      string          `json:"stream,omitempty"`
	ContainerID string          `json:"containerId,omitempty"`
	Raw         string          `json:"raw"` // the event bytes for the ledger
	Event       *k8saudit.Event `json:"event"`
}

type goldenRecord struct {
	Line          int           `json:"line,omitempty"`
	Index         int           `json:"index"`
	RawOffset     int           `json:"rawOffset"` // of Raw in a body, -1 for lines
	RawLength     int           `json:"rawLength"`
	Kind          Kind          `json:"kind"`
	Category      string        `json:"category"`
	Time          time.Time     `json:"time"`
	ResourceID    string        `json:"resourceId"`
	OperationName string        `json:"operationName,omitempty"`
	Audit         *goldenAudit  `json:"audit,omitempty"`
	Activity      *Activity     `json:"activity,omitempty"`
	SignIn        *SignIn       `json:"signIn,omitempty"`
	ControlPlane  *ControlPlane `json:"controlPlane,omitempty"`
}

type goldenOutput struct {
	Error   *goldenError   `json:"error,omitempty"`
	Records []goldenRecord `json:"records"`
	Bad     []goldenError  `json:"bad"`
}

func toGoldenError(tb testing.TB, err error) goldenError {
	tb.Helper()
	var e *Error
	if !errors.As(err, &e) {
		tb.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	if e.Reason == "" {
		tb.Errorf("error %v has no reason", err)
	}
	return goldenError{Line: e.Line, Index: e.Index, Field: e.Field, Error: e.Error(),
		Unsupported: errors.Is(err, ErrUnsupportedCategory), Size: e.Size}
}

// checkRecord checks what the decoders promise of every record and returns
// its golden form. input is the body, nil for lines.
func checkRecord(tb testing.TB, input []byte, r *Record) goldenRecord {
	tb.Helper()
	g := goldenRecord{Line: r.Line, Index: r.Index, RawOffset: -1, RawLength: len(r.Raw), Kind: r.Kind,
		Category: r.Category, Time: r.Time, ResourceID: r.ResourceID, OperationName: r.OperationName,
		Activity: r.Activity, SignIn: r.SignIn, ControlPlane: r.ControlPlane}
	if input != nil {
		if g.RawOffset = offsetIn(input, r.Raw); g.RawOffset < 0 {
			tb.Errorf("record %d: Raw is not a part of the body", r.Index)
		}
	}
	if !json.Valid(r.Raw) || r.Raw[0] != '{' || !utf8.Valid(r.Raw) {
		tb.Errorf("record %d: Raw %q is not a JSON object of valid UTF-8", r.Index, r.Raw)
	}
	if r.Category == "" || r.Time.Location() != time.UTC {
		tb.Errorf("record %d: category %q, time %v", r.Index, r.Category, r.Time)
	}
	n := 0
	if r.Audit != nil {
		n++
		a := r.Audit
		if !json.Valid(a.Raw) || !utf8.Valid(a.Raw) || a.Raw[0] != '{' || a.Raw[len(a.Raw)-1] != '}' {
			tb.Errorf("record %d: audit Raw %q is not a trimmed JSON object", r.Index, a.Raw)
		}
		if a.Event.AuditID == "" || a.Event.Stage == "" {
			tb.Errorf("record %d: audit event without auditID or stage", r.Index)
		}
		g.Audit = &goldenAudit{Key: a.Event.Key(), PodName: a.PodName, Stream: a.Stream, ContainerID: a.ContainerID,
			Raw: string(a.Raw), Event: &a.Event}
	}
	for _, set := range []bool{r.Activity != nil, r.SignIn != nil, r.ControlPlane != nil} {
		if set {
			n++
		}
	}
	want := map[Kind]bool{KindAudit: r.Audit != nil, KindActivity: r.Activity != nil, KindSignIn: r.SignIn != nil, KindControlPlane: r.ControlPlane != nil}
	if n != 1 || !want[r.Kind] {
		tb.Errorf("record %d: kind %q with %d payloads", r.Index, r.Kind, n)
	}
	return g
}

func decodeGolden(tb testing.TB, input string) goldenOutput {
	tb.Helper()
	in := readFile(tb, input)
	g := goldenOutput{Records: []goldenRecord{}, Bad: []goldenError{}}
	if strings.HasSuffix(input, ".jsonl") {
		err := DecodeLines(bytes.NewReader(in), Limits{}, func(r Record) error {
			g.Records = append(g.Records, checkRecord(tb, nil, &r))
			return nil
		}, func(e *Error) error {
			g.Bad = append(g.Bad, toGoldenError(tb, e))
			return nil
		})
		if err != nil {
			tb.Fatalf("DecodeLines: %v", err)
		}
		return g
	}
	recs, bad, err := DecodeBody(in, Limits{})
	if err != nil {
		if recs != nil || bad != nil {
			tb.Errorf("DecodeBody returned %d records and %d errors with %v", len(recs), len(bad), err)
		}
		ge := toGoldenError(tb, err)
		g.Error = &ge
	}
	for i := range recs {
		g.Records = append(g.Records, checkRecord(tb, in, &recs[i]))
	}
	for _, e := range bad {
		g.Bad = append(g.Bad, toGoldenError(tb, e))
	}
	return g
}

func TestDecodeGolden(t *testing.T) {
	for _, input := range glob(t, filepath.Join("testdata", "decode", "*.json*")) {
		t.Run(filepath.Base(input), func(t *testing.T) {
			got := render(t, decodeGolden(t, input))
			checkGolden(t, strings.TrimSuffix(strings.TrimSuffix(input, ".jsonl"), ".json")+".golden", got)
		})
	}
}

// TestAuditStringAndObject checks that properties.log as a string and as
// the same event as an object decode to the same event, the string's
// trailing newline not part of Raw.
func TestAuditStringAndObject(t *testing.T) {
	ev := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a\u00e9/\"q\"","stage":"ResponseComplete","verb":"get","user":{"username":"alice"}}`
	str, _ := json.Marshal(ev + "\n")
	for _, log := range []string{string(str), ev} {
		body := `{"records":[{"time":"2025-01-01T00:00:00Z","category":"kube-audit","properties":{"log":` + log + `}}]}`
		recs, bad, err := DecodeBody([]byte(body), Limits{})
		if err != nil || len(bad) != 0 || len(recs) != 1 {
			t.Fatalf("log %s: %d records, %v, %v", log, len(recs), bad, err)
		}
		a := recs[0].Audit
		if a.Event.AuditID != `aé/"q"` {
			t.Errorf("log %s: auditID %q", log, a.Event.AuditID)
		}
		var x, y any
		if json.Unmarshal(a.Raw, &x) != nil || json.Unmarshal([]byte(ev), &y) != nil || fmt.Sprint(x) != fmt.Sprint(y) {
			t.Errorf("log %s: Raw %s is not the event", log, a.Raw)
		}
	}
}

// TestGoodRecordsSurvive checks that each record of a body is decoded
// whatever its neighbours are: a bad record never hides a good one.
func TestGoodRecordsSurvive(t *testing.T) {
	good := `{"time":"2025-01-01T00:00:00Z","category":"guard","properties":{"log":"I0101 00:00:00.0 1 x.go:1] ok"}}`
	bads := []string{`{"category":"guard"}`, `"x"`, `null`, `{"time":"2025-01-01T00:00:00Z","category":"kube-audit","properties":{"log":"{}"}}`}
	for _, b := range bads {
		body := `{"records":[` + good + `,` + b + `,` + good + `]}`
		recs, bad, err := DecodeBody([]byte(body), Limits{})
		if err != nil || len(recs) != 2 || len(bad) != 1 || bad[0].Index != 1 || recs[1].Index != 2 {
			t.Errorf("bad record %s: %d records, %v, %v", b, len(recs), bad, err)
		}
	}
}

func TestBodyLimits(t *testing.T) {
	rec := `{"time":"2025-01-01T00:00:00Z","category":"guard","properties":{"log":"` + strings.Repeat("a", 100) + `"}}`
	body := []byte(`{"records":[` + rec + `,` + rec + `]}`)
	if _, _, err := DecodeBody(body, Limits{MaxBodyBytes: len(body)}); err != nil {
		t.Errorf("body of exactly the limit: %v", err)
	}
	_, _, err := DecodeBody(body, Limits{MaxBodyBytes: len(body) - 1})
	if err == nil || !strings.Contains(err.Error(), "exceeds the limit") {
		t.Errorf("body over the limit: %v", err)
	}
	recs, bad, err := DecodeBody(body, Limits{MaxRecordBytes: len(rec) - 1})
	if err != nil || len(recs) != 0 || len(bad) != 2 || !strings.Contains(bad[1].Error(), "record 1: record of") {
		t.Errorf("records over the limit: %d records, %v, %v", len(recs), bad, err)
	}
	if recs, _, _ := DecodeBody(body, Limits{MaxRecordBytes: len(rec)}); len(recs) != 2 {
		t.Errorf("records of exactly the limit: %d records", len(recs))
	}
	// The audit event limit applies to the event after the second decoding.
	ev := `{\"auditID\":\"a\",\"stage\":\"ResponseComplete\",\"userAgent\":\"` + strings.Repeat("u", 300) + `\"}`
	abody := []byte(`{"records":[{"time":"2025-01-01T00:00:00Z","category":"kube-audit","properties":{"log":"` + ev + `"}}]}`)
	_, bad, _ = DecodeBody(abody, Limits{Audit: k8saudit.Limits{MaxEventBytes: 300}})
	if len(bad) != 1 || !strings.Contains(bad[0].Error(), "record 0: properties.log: not a Kubernetes audit event: event of") {
		t.Errorf("audit event over the limit: %v", bad)
	}
}

func TestLinesLimit(t *testing.T) {
	rec := `{"time":"2025-01-01T00:00:00Z","category":"guard","properties":{"log":"x"}}`
	long := `{"time":"2025-01-01T00:00:00Z","category":"guard","properties":{"log":"` + strings.Repeat("y", 200<<10) + `"}}`
	in := rec + "\n" + long + "\r\n" + rec + "\n" + rec // the last line without a newline
	var lines []int
	var errs []string
	for _, r := range []io.Reader{strings.NewReader(in), iotest.OneByteReader(strings.NewReader(in)), iotest.HalfReader(strings.NewReader(in))} {
		lines, errs = nil, nil
		err := DecodeLines(r, Limits{MaxLineBytes: 100 << 10}, func(r Record) error {
			lines = append(lines, r.Line)
			return nil
		}, func(e *Error) error {
			errs = append(errs, e.Error())
			return nil
		})
		if err != nil || fmt.Sprint(lines) != "[1 3 4]" || len(errs) != 1 || errs[0] != "line 2: line exceeds the limit of 102400 bytes" {
			t.Errorf("lines %v, errors %q, %v", lines, errs, err)
		}
	}
	// Exactly the limit, with and without \r\n.
	for _, end := range []string{"\n", "\r\n", ""} {
		lines = nil
		err := DecodeLines(strings.NewReader(rec+end), Limits{MaxLineBytes: len(rec)}, func(r Record) error {
			lines = append(lines, r.Line)
			return nil
		}, nil)
		if err != nil || len(lines) != 1 {
			t.Errorf("line of exactly the limit ending %q: %v, %v", end, lines, err)
		}
	}
	err := DecodeLines(strings.NewReader(rec+"\n"), Limits{MaxLineBytes: len(rec) - 1}, func(Record) error { return nil }, nil)
	if err == nil {
		t.Errorf("line over the limit accepted")
	}
}

// TestLinesStop checks that DecodeLines stops at the first bad line when
// bad is nil and at the first error of fn.
func TestLinesStop(t *testing.T) {
	in := "{\"time\":\"2025-01-01T00:00:00Z\",\"category\":\"guard\",\"properties\":{\"log\":\"x\"}}\n{}\n{\"time\":\"2025-01-01T00:00:00Z\",\"category\":\"guard\",\"properties\":{\"log\":\"x\"}}\n"
	n := 0
	err := DecodeLines(strings.NewReader(in), Limits{}, func(Record) error { n++; return nil }, nil)
	var e *Error
	if !errors.As(err, &e) || e.Line != 2 || n != 1 || err.Error() != "line 2: category: missing" {
		t.Errorf("bad nil: %d records, %v", n, err)
	}
	stop := errors.New("stop")
	if err := DecodeLines(strings.NewReader(in), Limits{}, func(Record) error { return stop }, nil); err != stop {
		t.Errorf("fn error: %v", err)
	}
	rerr := errors.New("disk on fire")
	if err := DecodeLines(iotest.ErrReader(rerr), Limits{}, func(Record) error { return nil }, nil); err != rerr {
		t.Errorf("reader error: %v", err)
	}
}

func TestErrorUnwrap(t *testing.T) {
	body := `{"records":[{"time":"2025-01-01T00:00:00Z","category":"kube-audit","properties":{"log":"{\"stage\":\"x\"}"}}]}`
	_, bad, _ := DecodeBody([]byte(body), Limits{})
	var de *k8saudit.DecodeError
	if len(bad) != 1 || !errors.As(bad[0], &de) || de.Reason != "missing auditID" {
		t.Errorf("errors %v do not wrap the k8saudit error", bad)
	}
	if got, want := bad[0].Error(), "record 0: properties.log: not a Kubernetes audit event: missing auditID"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
}

func TestParseResourceID(t *testing.T) {
	for _, c := range []struct {
		id   string
		want ResourceRef
	}{
		{"/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG1/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/C1",
			ResourceRef{"S1", "RG1", "MICROSOFT.CONTAINERSERVICE", "MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS", "C1"}},
		{"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st/blobServices/default",
			ResourceRef{"s", "rg", "Microsoft.Storage", "Microsoft.Storage/storageAccounts/blobServices", "default"}},
		{"/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv/providers/Microsoft.Authorization/roleAssignments/ra1",
			ResourceRef{"s", "rg", "Microsoft.Authorization", "Microsoft.Authorization/roleAssignments", "ra1"}},
		{"/subscriptions/s/resourceGroups/rg", ResourceRef{"s", "rg", "", "", "rg"}},
		{"/subscriptions/s", ResourceRef{"s", "", "", "", "s"}},
		{"/tenants/t/providers/Microsoft.aadiam", ResourceRef{"", "", "Microsoft.aadiam", "Microsoft.aadiam", ""}},
		{"", ResourceRef{}},
		{"garbage", ResourceRef{}},
	} {
		if got := ParseResourceID(c.id); got != c.want {
			t.Errorf("ParseResourceID(%q) = %+v, want %+v", c.id, got, c.want)
		}
	}
}

func TestAppendUnquoted(t *testing.T) {
	for _, s := range []string{"", "plain", "a\"b\\c/d\b\f\n\r\t", "é€😀", "\u2028\u2029", "\x01\x1f"} {
		q, _ := json.Marshal(s)
		got, err := appendUnquoted(nil, q)
		var want string
		_ = json.Unmarshal(q, &want)
		if err != nil || string(got) != want {
			t.Errorf("appendUnquoted(%s) = %q, %v; want %q", q, got, err, want)
		}
	}
	for _, q := range []string{`"\ud83d\ude00"`, `"\ud83dx"`, `"\ude00"`, `"\ud83d\u0041"`, `"\u00e9\/"`} {
		got, err := appendUnquoted(nil, []byte(q))
		var want string
		_ = json.Unmarshal([]byte(q), &want)
		if err != nil || string(got) != want {
			t.Errorf("appendUnquoted(%s) = %q, %v; want %q", q, got, err, want)
		}
	}
}
