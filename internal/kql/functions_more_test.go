package kql

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// The functions of functions_more.go are tested end to end by
// testdata/semantics/functions_more.test; these tests cover the parsers
// and helpers directly: edge cases, and fuzzing for panics and
// round trips.

// FuzzMoreParseCSV checks that parse_csv's reader never panics and that a
// record without quotes or line breaks splits on its commas.
func FuzzMoreParseCSV(f *testing.F) {
	for _, s := range []string{"", "a,b", `aa,"b,b,b",cc,"Escaping quotes: ""Title""","line1` + "\n" + `line2"`, "record1,a\nrecord2,b", `"unclosed`, `"a"x,b`, ",,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := mfParseCSV(s)
		if len(got) == 0 {
			t.Fatalf("parse_csv(%q) gave no field", s)
		}
		if !strings.ContainsAny(s, "\"\r\n") {
			want := strings.Split(s, ",")
			if len(got) != len(want) {
				t.Fatalf("parse_csv(%q) = %v, want %v", s, got, want)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("parse_csv(%q) = %v, want %v", s, got, want)
				}
			}
		}
	})
}

// FuzzMoreWindowsArgs checks that the command line splitter never panics
// and that plain words separated by spaces come back as they are.
func FuzzMoreWindowsArgs(f *testing.F) {
	for _, s := range []string{"", "echo \"hello world!\"", `"C:\Program Files\a.exe" -x "a b" c\\\"d`, `a\\\\"b c"`, `"unclosed`, `x ""`, "\t a \t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := mfWindowsArgs(s)
		if strings.ContainsAny(s, "\"\\") {
			return
		}
		plain := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' })
		if len(plain)+len(got) > 0 && !reflect.DeepEqual(got, plain) {
			t.Fatalf("args(%q) = %q, want %q", s, got, plain)
		}
	})
}

// FuzzMoreParseVersion checks that parse_version orders versions as
// their parts do.
func FuzzMoreParseVersion(f *testing.F) {
	f.Add(uint32(1), uint32(2), uint32(3), uint32(4), uint32(1), uint32(2), uint32(3), uint32(5))
	f.Add(uint32(0), uint32(0), uint32(7), uint32(0), uint32(0), uint32(2), uint32(0), uint32(0))
	f.Fuzz(func(t *testing.T, a1, a2, a3, a4, b1, b2, b3, b4 uint32) {
		const top = 99999999
		a := []uint32{a1 % (top + 1), a2 % (top + 1), a3 % (top + 1), a4 % (top + 1)}
		b := []uint32{b1 % (top + 1), b2 % (top + 1), b3 % (top + 1), b4 % (top + 1)}
		text := func(p []uint32) string {
			s := make([]string, len(p))
			for i, x := range p {
				s[i] = formatUint(x)
			}
			return strings.Join(s, ".")
		}
		va, ok1 := mfParseVersion(text(a))
		vb, ok2 := mfParseVersion(text(b))
		if !ok1 || !ok2 {
			t.Fatalf("%s or %s does not parse", text(a), text(b))
		}
		// a double keeps about 16 digits: only the first two parts are
		// compared exactly
		cmp := 0
		for i := 0; i < 2 && cmp == 0; i++ {
			switch {
			case a[i] < b[i]:
				cmp = -1
			case a[i] > b[i]:
				cmp = 1
			}
		}
		if cmp < 0 && !(va < vb) || cmp > 0 && !(va > vb) {
			t.Fatalf("parse_version(%s) = %v and parse_version(%s) = %v are out of order", text(a), va, text(b), vb)
		}
	})
}

// formatUint writes a decimal number.
func formatUint(x uint32) string {
	b, _ := json.Marshal(x)
	return string(b)
}

// FuzzMoreTextParsers runs the other text parsers on any input: none may
// panic, and their results keep simple invariants.
func FuzzMoreTextParsers(f *testing.F) {
	for _, s := range []string{"", `C:\temp\file.txt`, "file://C:/temp/file.txt:some.exe", `\\shared\users\temp\file.txt.gz`, "/usr/lib/temp/file.txt",
		"k1=v1&k2=v2&k3=%zz", "?a=1&&b", "192.168.1.1/24", "fe80::85d:e82c:9446:7994/120", "::192.168.1.1/30", "1.2.3.4.5", "05:04:54 127.0.0.1 GET",
		"$.a.b", "$['a']['b']", `$["x`, "1.2.3.4", "académie-française", "xn--mller-kva", "0.0.3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := mfParsePath(s)
		if len(p) != 7 {
			t.Fatalf("parse_path(%q) has %d fields", s, len(p))
		}
		if _, err := mfParseJSON(mfJSON(mfParseURLQuery(s))); err != nil {
			t.Fatalf("parse_urlquery(%q) is not JSON: %v", s, err)
		}
		if a, prefix, ok := mfParseIPv6(s); ok {
			if prefix < 0 || prefix > 128 {
				t.Fatalf("ipv6 %q: prefix %d", s, prefix)
			}
			if m := mfMask6(a, prefix); mfMask6(m, prefix) != m {
				t.Fatalf("ipv6 %q: masking is not idempotent", s)
			}
		}
		if v, prefix, ok := mfParseIPv4(s); ok {
			if prefix < 0 || prefix > 32 {
				t.Fatalf("ipv4 %q: prefix %d", s, prefix)
			}
			if q, _ := mfDottedQuad(mfQuad(v)); q != v {
				t.Fatalf("ipv4 %q does not round-trip", s)
			}
		}
		mfIPv4Tokens(s)
		if keys, ok := mfJSONPathKeys(s); ok && len(keys) == 0 {
			t.Fatalf("JSONPath %q parsed to no key", s)
		}
		if _, ok := mfParseVersion(s); ok && strings.Count(s, ".") > 3 {
			t.Fatalf("version %q has more than four parts", s)
		}
		if utf8.ValidString(s) {
			enc, ok := mfPunyEncode(s)
			if ok {
				if dec, ok := mfPunyDecode(enc); !ok || dec != s {
					t.Fatalf("punycode(%q) = %q decodes to %q, %v", s, enc, dec, ok)
				}
			}
		}
		mfPunyDecode(s)
	})
}

// FuzzMoreJSON checks that JSON decoded with mfParseJSON and written with
// mfJSON is the same value.
func FuzzMoreJSON(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":[1,2.5,"x",null,true]}`, `[]`, `"s<>&"`, `{"k":{"k":{"k":[]}}}`, `1e400`, `{"a":1,"a":2}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := mfParseJSON(s)
		var std any
		stdErr := json.Unmarshal([]byte(s), &std)
		if err != nil || stdErr != nil {
			// numbers out of a double's range are kept as written
			return
		}
		out := mfJSON(v)
		var back any
		if err := json.Unmarshal([]byte(out), &back); err != nil {
			t.Fatalf("%q: mfJSON wrote %q: %v", s, out, err)
		}
		if !reflect.DeepEqual(back, std) {
			t.Fatalf("%q: round trip gave %q", s, out)
		}
	})
}

// FuzzMoreIndexOf checks indexof against a plain search and never panics
// on any start, length and occurrence.
func FuzzMoreIndexOf(f *testing.F) {
	f.Add("abcdefgabcdefg", "cde", int64(1), int64(10), int64(2))
	f.Add("ababaa", "a.a", int64(0), int64(-1), int64(2))
	f.Add("", "", int64(-5), int64(-2), int64(0))
	f.Fuzz(func(t *testing.T, s, sub string, start, length, occ int64) {
		if !utf8.ValidString(s) || !utf8.ValidString(sub) {
			return
		}
		got, _ := udfIndexOf.Fn([]any{s, sub, start, length, occ})
		if start == 0 && length == -1 && occ == 1 {
			want := int64(-1)
			if i := strings.Index(s, sub); i >= 0 {
				want = int64(utf8.RuneCountInString(s[:i]))
			}
			if got != want {
				t.Fatalf("indexof(%q, %q) = %v, want %v", s, sub, got, want)
			}
		}
		if n, ok := got.(int64); ok && n >= 0 && !strings.HasPrefix(string([]rune(s)[n:]), sub) {
			t.Fatalf("indexof(%q, %q, %d, %d, %d) = %d, not a match", s, sub, start, length, occ, n)
		}
		if _, err := mfRegex(sub); err == nil {
			udfIndexOfRegex.Fn([]any{s, sub, start, length, occ})
		}
		udfArrayIndexOf.Fn([]any{`["` + strings.Repeat("a", int(uint8(length))) + `", 1, null]`, sub, start, length, occ})
	})
}

// TestMoreUDFNulls checks that every udf taking nulls (NullArgs false)
// survives null and malformed arguments.
func TestMoreUDFNulls(t *testing.T) {
	for _, u := range moreUDFs() {
		n := len(u.Args)
		if u.Variadic != "" {
			n += 2
		}
		nulls := make([]any, n)
		bad := make([]any, n)
		for i := range bad {
			bad[i] = "{not json"
		}
		if !u.NullArgs {
			if _, err := u.Fn(nulls); err != nil {
				t.Errorf("%s(nulls): %v", u.Name, err)
			}
		}
		typ := func(i int) string {
			if i < len(u.Args) {
				return u.Args[i]
			}
			return u.Variadic
		}
		for i := range bad {
			switch typ(i) {
			case tyLong, tyInt:
				bad[i] = int64(-1)
			case tyReal:
				bad[i] = math.NaN()
			case tyBool:
				bad[i] = true
			case tyDateTime:
				bad[i] = nil
			}
		}
		if typ(0) == tyDateTime {
			continue
		}
		if _, err := u.Fn(bad); err != nil {
			t.Errorf("%s(malformed): %v", u.Name, err)
		}
	}
}

// TestMoreArrayCompare checks the order array_sort_asc gives to mixed
// values: numbers, then strings (datetimes by time), then the rest.
func TestMoreArrayCompare(t *testing.T) {
	v, err := mfParseJSON(`[true, "b", 10, "2024-01-01T10:00:00.5000000Z", "2024-01-01T10:00:00Z", 2, {"a":1}, "a"]`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := udfArraySort.Fn([]any{true, true, mfJSON(v)})
	if err != nil {
		t.Fatal(err)
	}
	want := `[2,10,"2024-01-01T10:00:00Z","2024-01-01T10:00:00.5000000Z","a","b",true,{"a":1}]`
	if got != want {
		t.Errorf("sorted: %v\nwant:   %v", got, want)
	}
}

// TestMoreUnits checks that each convert_* unit converts to itself and
// round-trips through the base unit.
func TestMoreUnits(t *testing.T) {
	for kind, units := range mfUnits {
		for name, u := range units {
			for _, v := range []float64{0.5, 1, 123.25} {
				if u.nonlinear && v > 1 {
					continue
				}
				back := mfFromBase(u, mfToBase(u, v))
				if math.Abs(back-v) > 1e-9*math.Abs(v) {
					t.Errorf("%s %s: %v round-trips to %v", kind, name, v, back)
				}
			}
		}
	}
	// the numbers of units the documentation lists
	want := map[string]int{"angle": 16, "energy": 36, "force": 15, "length": 36, "mass": 25, "speed": 32, "temperature": 10, "volume": 52}
	for kind, n := range want {
		if len(mfUnits[kind]) != n {
			t.Errorf("%s: %d units, want %d", kind, len(mfUnits[kind]), n)
		}
	}
}
