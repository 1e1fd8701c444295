package index

import (
	"bytes"
	"database/sql"
	stdjson "encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestScanMembers(t *testing.T) {
	names := []string{"level", "auditID", "user", "objectRef"}
	tests := []struct {
		name string
		in   string
		ok   bool
		want []string // raw values by name, "" for absent
		// invalid names the members found that are not JSON validJSON
		// accepts in valid UTF-8 (the others found are)
		invalid []string
	}{
		{"plain", `{"level":"Metadata","auditID":"a1","user":{"username":"u","groups":["g"]},"objectRef":null}`, true,
			[]string{`"Metadata"`, `"a1"`, `{"username":"u","groups":["g"]}`, `null`}, nil},
		{"white space", " \n{ \"level\" :\t\"Request\" ,\r\n \"x\" : [1, 2, {\"y\": \"}\"}] } ", true,
			[]string{`"Request"`, "", "", ""}, nil},
		{"empty", `{}`, true, []string{"", "", "", ""}, nil},
		{"case-insensitive, last wins", `{"Level":"a","LEVEL":"b","AuditID":"c"}`, true, []string{`"b"`, `"c"`, "", ""}, nil},
		{"exact match then folded: last wins", `{"level":"a","Level":"b"}`, true, []string{`"b"`, "", "", ""}, nil},
		{"escaped key", `{"le\u0076el":"x"}`, true, []string{`"x"`, "", "", ""}, nil},
		{"escapes in values", `{"level":"a\"b\\","user":{"k":"\\\"}"}}`, true, []string{`"a\"b\\"`, "", `{"k":"\\\"}"}`, ""}, nil},
		{"numbers and literals", `{"level":-1.5e3,"auditID":true,"user":false}`, true, []string{`-1.5e3`, `true`, `false`, ""}, nil},
		{"not an object", `["level"]`, false, nil, nil},
		{"truncated", `{"level":"a`, false, nil, nil},
		{"truncated object", `{"user":{"a":1}`, false, nil, nil},
		{"missing colon", `{"level" "a"}`, false, nil, nil},
		{"missing comma", `{"level":"a" "auditID":"b"}`, false, nil, nil},
		{"empty input", ``, false, nil, nil},
		{"values the stage rejects", "{\"level\":01,\"auditID\":\"\\ud800\",\"user\":{\"a\":[1,]},\"objectRef\":\"\xff\"}", true,
			[]string{`01`, `"\ud800"`, `{"a":[1,]}`, "\"\xff\""}, []string{"level", "auditID", "user", "objectRef"}},
		{"valid next to invalid", `{"level":NaN,"user":{"a":[1e5,"\ud834\udd1e"]}}`, true,
			[]string{`NaN`, "", `{"a":[1e5,"\ud834\udd1e"]}`, ""}, []string{"level"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, valid := make([][]byte, len(names)), make([]bool, len(names))
			ok := scanMembers([]byte(tt.in), names, out, valid)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			for i, w := range tt.want {
				if string(out[i]) != w {
					t.Errorf("%s = %q, want %q", names[i], out[i], w)
				}
				if want := w != "" && !slices.Contains(tt.invalid, names[i]); valid[i] != want {
					t.Errorf("%s valid = %v, want %v", names[i], valid[i], want)
				}
				if valid[i] && (!validJSON(out[i]) || !utf8.Valid(out[i])) {
					t.Errorf("%s = %q is marked valid", names[i], out[i])
				}
			}
		})
	}
}

func TestStringAndTimeValues(t *testing.T) {
	for in, want := range map[string]string{
		`"abc"`: "abc", `"a\u00e9\n"`: "aé\n", `null`: "", `12`: "", ``: "", `"\ud83d\ude00"`: "😀",
	} {
		if got := cellString(stringValue([]byte(in))); got != want {
			t.Errorf("stringValue(%s) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		`"2026-01-02T03:04:05.123456Z"`:      "2026-01-02T03:04:05.123456Z",
		`"2026-01-02T05:04:05.123456+02:00"`: "2026-01-02T03:04:05.123456Z",
		`"2026-01-02T03:04:05Z"`:             "2026-01-02T03:04:05Z",
		`""`:                                 "<nil>",
		`null`:                               "<nil>",
		`"yesterday"`:                        "<nil>",
	} {
		got := "<nil>"
		if v := timeValue([]byte(in)); v.k != cellNull {
			got = time.UnixMicro(int64(v.n)).UTC().Format("2006-01-02T15:04:05.999999999Z07:00")
		}
		if got != want {
			t.Errorf("timeValue(%s) = %s, want %s", in, got, want)
		}
	}
}

// FuzzScanMembers checks the scanner against encoding/json: it must not
// panic on any input, must say of each value whether validJSON accepts it
// in valid UTF-8, and on a valid object with distinct plain keys it must
// find every member with exactly the bytes of its value.
func FuzzScanMembers(f *testing.F) {
	for _, s := range []string{
		`{"level":"Metadata","user":{"username":"u"},"sourceIPs":["1.2.3.4"]}`,
		`{"a":"\"","b":[{"c":"]"}],"d":-0.5e-3,"e":null}`,
		`{"a":{"b":{"c":{"d":[[[]]]}}}}`, `{`, `{"a"`, `{"a":`, `{"a":"\`, `{"a":1}x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, ok := objectMembers(b)
		var keys, vals [][]byte
		if ok {
			for {
				k, v, valid, ok := m.next()
				if !ok {
					break
				}
				if len(v) == 0 || v[0] == ' ' {
					t.Fatalf("empty or unstripped value for key %q", k)
				}
				if want := validJSON(v) && utf8.Valid(v); valid != want {
					t.Fatalf("value %q of key %q: valid %v, want %v", v, k, valid, want)
				}
				keys, vals = append(keys, k), append(vals, v)
			}
			ok = !m.failed()
		}
		var want map[string]stdjson.RawMessage
		if !utf8.Valid(b) || stdjson.Unmarshal(b, &want) != nil || want == nil {
			// Not an object (anything but a panic is fine), or not
			// UTF-8, which the index makes valid before scanning.
			return
		}
		if !ok {
			t.Fatalf("scanner rejects a valid object: %q", b)
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if bytes.IndexByte(k, '\\') >= 0 || seen[string(k)] {
				return // escaped or duplicate keys: TestScanMembers covers them
			}
			seen[string(k)] = true
		}
		for i, k := range keys {
			if w, ok := want[string(k)]; !ok || !bytes.Equal(w, vals[i]) {
				t.Fatalf("key %q: value %q, encoding/json has %q", k, vals[i], w)
			}
		}
		if len(seen) != len(want) {
			t.Fatalf("found %d members, encoding/json %d", len(seen), len(want))
		}
	})
}

// validJSONCases are texts of a dynamic column and whether the stage keeps
// them (else they become NULL).
var validJSONCases = []struct {
	text string
	ok   bool
}{
	{`{"name":"<a&b>","e":"\u00e9","n":1.50}`, true},
	{`"\ud834\udd1e"`, true}, // a surrogate pair
	{`"\\ud800"`, true},      // an escaped backslash, then "ud800"
	{`"x\u0041\\\"\/"`, true},
	{` [1e999, -0, null, true] `, true},
	{strings.Repeat("[", 10000) + strings.Repeat("]", 10000), true},
	{`"\ud800"`, false}, // a lone high half
	{`"\udc00\ud800"`, false},
	{`"\ud800\u0041"`, false},
	{`"\ud800\\"`, false},
	{`{"a":1,}`, false}, // DuckDB's extensions
	{`[NaN]`, false},
	{`[-Infinity]`, false},
	{`{"username":bad}`, false},
	{`{} x`, false},
	{``, false},
	{`"\u12"`, false},
	{"\"a\tb\"", false},
	{strings.Repeat("[", 10001) + strings.Repeat("]", 10001), false},
}

func TestValidJSON(t *testing.T) {
	for _, c := range validJSONCases {
		if got := validJSON([]byte(c.text)); got != c.ok {
			t.Errorf("validJSON(%.60q) = %v, want %v", c.text, got, c.ok)
		}
	}
}

// surrogateEscape matches a \u escape of half a surrogate pair (or text
// that looks like one: an escaped backslash, then "ud800").
var surrogateEscape = regexp.MustCompile(`(?i)\\ud[89a-f]`)

// FuzzValidJSON checks validJSON against DuckDB, whose JSON functions must
// read whatever it accepts, and against encoding/json, whose JSON it must
// accept unless it has a surrogate escape, which may be lone (short texts
// only: longer ones may nest deeper than it allows). jsonscan's
// FuzzSkipValid checks lone surrogates exactly.
func FuzzValidJSON(f *testing.F) {
	for _, c := range validJSONCases {
		f.Add([]byte(c.text))
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	f.Fuzz(func(t *testing.T, b []byte) {
		ok := validJSON(b)
		if !utf8.Valid(b) {
			return // the stage makes text valid UTF-8 before it checks JSON
		}
		if ok {
			var duck bool
			if err := db.QueryRow(`SELECT json_valid(?::VARCHAR)`, string(b)).Scan(&duck); err != nil {
				t.Fatal(err)
			}
			if !duck {
				t.Fatalf("validJSON accepts %q, which DuckDB's JSON functions reject", b)
			}
		}
		if !ok && len(b) < 10000 && stdjson.Valid(b) && !surrogateEscape.Match(b) {
			t.Fatalf("validJSON rejects %q, which is JSON", b)
		}
	})
}
