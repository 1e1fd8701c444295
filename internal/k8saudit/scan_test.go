package k8saudit

import (
	"bytes"
	"errors"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	json "github.com/goccy/go-json"

	"github.com/cdewatch/cdewatch/internal/jsonscan"
)

// checkDecoder checks that when the decoder accepts raw, raw is valid UTF-8
// JSON that the JSON decoder decodes to the same Event, and reports whether
// the decoder accepted it.
func checkDecoder(t *testing.T, raw []byte) bool {
	t.Helper()
	if len(raw) == 0 || raw[0] != '{' {
		return false
	}
	// As if more events were to follow, for the blocks to be shared.
	d := decoder{b: raw, left: 3}
	var got Event
	if d.event(&got, 0) != len(raw) {
		return false
	}
	if !utf8.Valid(raw) {
		t.Fatalf("decoder accepted invalid UTF-8 %q", raw)
	}
	var want Event
	if err := json.UnmarshalWithOption(raw, &want, json.DecodeNoCopyString()); err != nil {
		t.Fatalf("decoder accepted %q, which the JSON decoder rejects: %v", raw, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoder and JSON decoder differ on %q:\n%s\n%s", raw, dump(&got), dump(&want))
	}
	return true
}

// dump shows the fields of ev, with nil slices and maps told apart from
// empty ones.
func dump(ev *Event) string {
	var b strings.Builder
	v := reflect.ValueOf(ev).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() == reflect.Pointer && !f.IsNil() {
			f = f.Elem()
		}
		var s string
		switch {
		case (f.Kind() == reflect.Slice || f.Kind() == reflect.Map) && f.IsNil():
			s = "nil"
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Uint8:
			s = string(f.Bytes())
		case f.Type() == reflect.TypeFor[time.Time]():
			s = f.Interface().(time.Time).String()
		default:
			m, _ := json.Marshal(f.Interface())
			s = string(m)
		}
		b.WriteString(v.Type().Field(i).Name + ": " + s + "\n")
	}
	return b.String()
}

// TestDecoderTestData checks that the decoder decodes every event of the
// test data that Decode accepts, as the JSON decoder does.
func TestDecoderTestData(t *testing.T) {
	var files []string
	for _, pattern := range []string{"decode/*.json", "decode/*.jsonl", "classify/*.json", "bench/*.json"} {
		files = append(files, glob(t, filepath.Join("testdata", pattern))...)
	}
	n := 0
	for _, file := range files {
		if strings.HasSuffix(file, ".limits.json") || strings.HasSuffix(file, ".config.json") {
			continue
		}
		body := readFile(t, file)
		var items []Item
		if strings.HasSuffix(file, ".jsonl") {
			for line := range bytes.Lines(body) {
				if it, err := DecodeLine(line, Limits{}); err == nil {
					items = append(items, it)
				}
			}
		} else {
			items, _ = Decode(body, Limits{})
		}
		for _, it := range items {
			if !checkDecoder(t, it.Raw) {
				t.Errorf("%s: decoder declines %s", file, it.Raw)
			}
			n++
		}
	}
	if n < 20 {
		t.Errorf("only %d events in the test data", n)
	}
}

// TestDecoderCases checks the decoder on the rarer forms of events, whether
// it decodes or declines them.
func TestDecoderCases(t *testing.T) {
	for _, c := range decoderCases {
		t.Run("", func(t *testing.T) {
			checkDecoder(t, []byte(c.in))
			d := decoder{b: []byte(c.in), left: 1}
			var ev Event
			if got := d.event(&ev, 0) == len(c.in); got != c.accept {
				t.Errorf("decoder.event(%s) = %v, want %v", c.in, got, c.accept)
			}
		})
	}
}

var decoderCases = []struct {
	in     string
	accept bool
}{
	{`{}`, true},
	{`{ }`, true},
	{`{"auditID":"a"} `, false},
	{`{"auditID":"a"}{}`, false},
	{`{"auditID":"a","stage":"b"}`, true},
	{"{ \"auditID\" :\t\"a\" ,\r\n\"stage\" : \"b\" }", true},
	{`{"auditID":null,"stage":"b"}`, true},
	{`{"auditID":"a","auditID":"b"}`, false},
	{`{"AuditID":"a"}`, false},
	{`{"auditid":"a"}`, false},
	{`{"aud\u0069tID":"a"}`, false},
	{`{"ſtage":"a"}`, false},
	{`{"\u212aind":"a"}`, false},
	{`{"auditID":5}`, false},
	{`{"auditID":"a\u0026b\n\"\\\/\b\f\r\t\u00e9\ud83d\ude00"}`, true},
	{`{"auditID":"\ud800x"}`, true},
	{`{"requestObject":{"a":["\ud800","\udc00\ud800"]},"x":"\ud83d\u0041"}`, true}, // skipped values too
	{`{"requestObject":{"a":"\x"}}`, false},
	{`{"auditID":"\udc00\ud800\ud800"}`, true},
	{`{"auditID":"\ud83d\u0041"}`, true},
	{`{"auditID":"\ud83d\\"}`, true},
	{`{"auditID":"\ud83d\u"}`, false},
	{`{"auditID":"\q"}`, false},
	{"{\"auditID\":\"a\x01\"}", false},
	{"{\"auditID\":\"a\xff\"}", false},
	{"{\"auditID\":\"a\xed\xa0\x80\"}", false},
	{`{"auditID":"é€😀"}`, true},
	{`{"x":"é€😀","requestObject":{"é":1}}`, true},
	{`{"é":1}`, false},
	{`{"user":null,"impersonatedUser":null,"objectRef":null,"responseStatus":null}`, true},
	{`{"user":{},"impersonatedUser":{},"objectRef":{},"responseStatus":{}}`, true},
	{`{"user":[]}`, false},
	{`{"user":{"username":"u","uid":"1","groups":["a","b"],"extra":{"k":["v"],"e":[],"k2":["x","y"]}}}`, true},
	{`{"user":{"groups":[]}}`, true},
	{`{"user":{"groups":null,"extra":null}}`, true},
	{`{"user":{"groups":[null]}}`, false},
	{`{"user":{"groups":["a",null]}}`, false},
	{`{"user":{"groups":[1]}}`, false},
	{`{"user":{"groups":"a"}}`, false},
	{`{"user":{"extra":{"k":null}}}`, false},
	{`{"user":{"extra":{"k":"v"}}}`, false},
	{`{"user":{"extra":{"k":["a"],"k":["b"]}}}`, true},
	{`{"user":{"extra":{"k\u0041":["a"]}}}`, true},
	{`{"user":{"Username":"u"}}`, false},
	{`{"user":{"username":"u","username":"v"}}`, false},
	{`{"user":{"other":{"a":[1,2,{"b":null}]}}}`, true},
	{`{"sourceIPs":["10.0.0.1", "10.0.0.2" ]}`, true},
	{`{"sourceIPs":[]}`, true},
	{`{"sourceIPs":[,]}`, false},
	{`{"sourceIPs":["a",]}`, false},
	{`{"annotations":{"a":"1","b":""}}`, true},
	{`{"annotations":{}}`, true},
	{`{"annotations":{"a":"1","a":"2"}}`, true},
	{`{"annotations":{"a":null}}`, false},
	{`{"annotations":{"a":1}}`, false},
	{`{"annotations":{"a\u00e9":"\u00e9"}}`, true},
	{`{"annotations":[]}`, false},
	{`{"objectRef":{"resource":"r","namespace":"n","name":"x","uid":"u","apiGroup":"g","apiVersion":"v","resourceVersion":"1","subresource":"s","extra":1}}`, true},
	{`{"objectRef":{"Resource":"r"}}`, false},
	{`{"objectRef":"x"}`, false},
	{`{"responseStatus":{"metadata":{},"code":200,"status":"Failure","reason":"Forbidden","message":"m"}}`, true},
	{`{"responseStatus":{"code":-0}}`, true},
	{`{"responseStatus":{"code":-12}}`, true},
	{`{"responseStatus":{"code":null}}`, true},
	{`{"responseStatus":{"code":1.0}}`, false},
	{`{"responseStatus":{"code":1e2}}`, false},
	{`{"responseStatus":{"code":999999999}}`, true},
	{`{"responseStatus":{"code":-999999999}}`, true},
	{`{"responseStatus":{"code":999999999999999999}}`, strconv.IntSize == 64},
	{`{"responseStatus":{"code":9999999999999999999}}`, false},
	{`{"responseStatus":{"code":"200"}}`, false},
	{`{"responseStatus":{"code":01}}`, false},
	{`{"requestObject":null,"responseObject":"x"}`, true},
	{`{"requestObject":{ "a" : [ 1, -2.5e+3, true, false, null, "s", {} , [] ] } }`, true},
	{`{"requestObject":{"a":1,}}`, false},
	{`{"requestObject":{"a" 1}}`, false},
	{`{"requestObject":{1:1}}`, false},
	{`{"requestObject":[1 2]}`, false},
	{`{"requestObject":[1,]}`, false},
	{`{"requestObject":{"a":1]}`, false},
	{`{"requestObject":tru}`, false},
	{`{"requestObject":nul}`, false},
	{`{"requestObject":-}`, false},
	{`{"requestObject":1.}`, false},
	{`{"requestObject":1e}`, false},
	{`{"requestObject":.1}`, false},
	{`{"requestObject":+1}`, false},
	{`{"requestObject":0x1}`, false},
	{`{"requestObject":NaN}`, false},
	{`{"x":1}`, true},
	{`{"x":-0.0e-0}`, true},
	{`{"x":[[[]]]}`, true},
	{`{"x":[[[]]}`, false},
	{`{"x":"\u00"}`, false},
	{`{"stageTimestamp":"2025-04-20T16:29:59.991226Z","requestReceivedTimestamp":"2025-04-20T16:29:59Z","timestamp":null}`, true},
	{`{"stageTimestamp":"2025-04-20T16:29:59.991226+02:00"}`, true},
	{`{"stageTimestamp":"2025-04-20T16:29:59,991226Z"}`, true},
	{`{"stageTimestamp":"2025-04-20T16:29:59.1234567891Z"}`, true},
	{`{"stageTimestamp":"2024-02-29T00:00:00Z"}`, true},
	{`{"stageTimestamp":"2025-02-29T00:00:00Z"}`, false},
	{`{"stageTimestamp":"2025-04-20T16:29:60Z"}`, false},
	{`{"stageTimestamp":"yesterday"}`, false},
	{`{"stageTimestamp":"2025-04-20T16:29:59\u002e1Z"}`, false},
	{`{"stageTimestamp":5}`, false},
	{`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","requestURI":"/api?a=1\u0026b=2","verb":"get","userAgent":"x"}`, true},
	{`{"x":` + strings.Repeat("[", maxDepth-1) + strings.Repeat("]", maxDepth-1) + `}`, true},
	{`{"x":` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `}`, false},
	{`{"requestObject":` + strings.Repeat(`{"a":`, maxDepth-1) + `1` + strings.Repeat("}", maxDepth-1) + `}`, true},
	{`{"requestObject":` + strings.Repeat(`{"a":`, maxDepth) + `1` + strings.Repeat("}", maxDepth) + `}`, false},
	{`{"user":{"x":` + strings.Repeat("[", maxDepth-2) + strings.Repeat("]", maxDepth-2) + `}}`, true},
	{`{"user":{"x":` + strings.Repeat("[", maxDepth-1) + strings.Repeat("]", maxDepth-1) + `}}`, false},
	{`{"auditID":"a"`, false},
	{`{"auditID":"a",`, false},
	{`{"auditID":"a`, false},
	{`{"auditID"`, false},
	{`{"auditID":`, false},
	{`{`, false},
}

// TestDecodeListItems checks the items and errors of lists against those of
// their items decoded alone: a list has the items that DecodeLine gives for
// each, or the error of the first item with one, or an error of the body as
// a whole when it has one, whether the kind comes before the items or after.
func TestDecodeListItems(t *testing.T) {
	ok := `{"auditID":"a","stage":"s","user":{"username":"u"}}`
	items := []string{
		ok,
		`{"auditID":"b","stage":"s","User":{"username":"u"}}`, // left to the JSON decoder
		`{"auditID":"c","stage":"s","user":{"username":1}}`,
		`{"stage":"s"}`,
		`{"auditID":"d","stage":"s","x":"` + "\xff" + `"}`,
		`{"auditID":"e","stage":"s","x":]}`, // ends at ']' for the body
		`{"auditID":"f","stage":"s","x":"` + strings.Repeat("x", 100) + `"}`,
		`{"auditID":"g","kind":"Pod","stage":"s"}`,
		`5`,
		`{"auditID":"h"`,
	}
	lim := Limits{MaxEventBytes: 120}
	broken := func(it string) bool { return jsonscan.SkipValue([]byte(it), 0) != len(it) }
	for _, a := range items {
		for _, b := range items {
			if broken(a) && broken(b) {
				continue // they may make one item together
			}
			for _, meta := range []string{`{}`, `{"a":}`} {
				list := []string{ok, a, b}
				joined := strings.Join(list, ",")
				for _, body := range []string{
					`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":` + meta + `,"items":[` + joined + `]}`,
					`{"metadata":` + meta + `,"items":[` + joined + `],"apiVersion":"audit.k8s.io/v1","kind":"EventList"}`,
				} {
					checkList(t, []byte(body), list, meta == `{}`, lim)
				}
			}
		}
	}
}

func checkList(t *testing.T, body []byte, list []string, metaOK bool, lim Limits) {
	t.Helper()
	got, err := Decode(body, lim)
	var de *DecodeError
	if err != nil && !errors.As(err, &de) {
		t.Fatalf("%s: error %v is not a *DecodeError", body, err)
	}
	bodyErr := !metaOK
	for _, it := range list {
		bodyErr = bodyErr || jsonscan.SkipValue([]byte(it), 0) != len(it) // the array is broken
	}
	if bodyErr {
		if err == nil || de.Index != -1 {
			t.Errorf("%s: %d items, error %v; want an error of the body", body, len(got), err)
		}
		return
	}
	var want []Item
	for i, it := range list {
		w, werr := DecodeLine([]byte(it), lim)
		if werr != nil {
			if err == nil || de.Index != i || de.Reason != werr.(*DecodeError).Reason {
				t.Errorf("%s: error %v; want that of item %d, %v", body, err, i, werr)
			}
			return
		}
		want = append(want, w)
	}
	if err != nil || len(got) != len(want) {
		t.Fatalf("%s: %d items, error %v; want %d items", body, len(got), err, len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i].Raw, want[i].Raw) || !reflect.DeepEqual(got[i].Event, want[i].Event) {
			t.Errorf("%s: item %d differs from its DecodeLine", body, i)
		}
	}
}

// TestParseTimestamp checks parseTimestamp against time.Time's
// UnmarshalJSON.
func TestParseTimestamp(t *testing.T) {
	for _, s := range []string{
		"2025-04-20T16:29:59Z", "2025-04-20T16:29:59.9Z", "2025-04-20T16:29:59.123456789Z",
		"0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "2000-02-29T12:00:00Z",
		"1900-02-29T12:00:00Z", "2025-04-31T00:00:00Z", "2025-00-01T00:00:00Z", "2025-13-01T00:00:00Z",
		"2025-04-20T16:29:59.Z", "2025-04-20T16:29:59.1234567890Z", "2025-04-20T24:00:00Z",
		"2025-04-20T16:60:00Z", "2025-04-20T16:29:59z", "2025-04-20 16:29:59Z", "2025-04-20T16:29:59+00:00",
		"-025-04-20T16:29:59Z", "2025-04-20T16:29:5aZ", "2025-04-20T16:29:59.1a3Z", "+2025-04-20T16:29:59Z",
	} {
		checkTimestamp(t, s)
	}
}

func FuzzTimestamp(f *testing.F) {
	f.Add("2025-04-20T16:29:59.988453Z")
	f.Add("2024-02-29T00:00:00Z")
	f.Fuzz(checkTimestamp)
}

func checkTimestamp(t *testing.T, s string) {
	got, ok := parseTimestamp([]byte(s))
	var want time.Time
	err := want.UnmarshalJSON([]byte(`"` + s + `"`))
	if ok && (err != nil || !reflect.DeepEqual(got, want)) {
		t.Errorf("parseTimestamp(%q) = %v, UnmarshalJSON: %v, %v", s, got, want, err)
	}
	if !ok && err == nil && len(s) == len("2006-01-02T15:04:05Z") && s[len(s)-1] == 'Z' && s[10] == 'T' {
		t.Errorf("parseTimestamp(%q) declines a plain timestamp", s)
	}
}
