package jsonscan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// skipValidCases are values and where SkipValid says they end (-1: not
// valid).
var skipValidCases = []struct {
	in  string
	end int
}{
	{`{"a":[1,"]",{}]} x`, 16},
	{`{ "a" : [ 1 , 2 ] , "b" : { } }`, 31},
	{`[]`, 2},
	{`[ ]`, 3},
	{`{}`, 2},
	{`"abc",`, 5},
	{`"a\"b\\\/\b\f\n\r\t"`, 20},
	{`"\u00e9\ud834\udd1e"`, 20},
	{`"é😀"`, 8},
	{`"0123456789abcdef\"0123456789"`, 30},
	{`0`, 1},
	{`-0.5e-3]`, 7},
	{`1E+10`, 5},
	{`123,`, 3},
	{`true}`, 4},
	{`false`, 5},
	{`null`, 4},
	{strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth), 2 * MaxDepth},
	// Not JSON, or not what DuckDB reads.
	{strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1), -1},
	{`"\ud800"`, -1},
	{`"\udc00\ud800"`, -1},
	{`"\ud800\u0041"`, -1},
	{`"\ud800\\"`, -1},
	{`"\u12"`, -1},
	{`"\x"`, -1},
	{"\"a\tb\"", -1},
	{"\"a\x00b\"", -1},
	{"\"a\xffb\"", -1},
	{"\"\xed\xa0\x80\"", -1}, // a surrogate encoded in UTF-8
	{"\"abcdefgh\xc3\"", -1},
	{`"unterminated`, -1},
	{`{"a":1,}`, -1},
	{`[1,]`, -1},
	{`[,1]`, -1},
	{`{"a" 1}`, -1},
	{`{"a":}`, -1},
	{`{a:1}`, -1},
	{`[1 2]`, -1},
	{`[1}`, -1},
	{`{"a":1]`, -1},
	{`01`, 1}, // the value is 0; what follows is the caller's
	{`-`, -1},
	{`1.`, -1},
	{`.5`, -1},
	{`1e`, -1},
	{`+1`, -1},
	{`NaN`, -1},
	{`tru`, -1},
	{`nul`, -1},
	{``, -1},
	{`[`, -1},
	{`{"a":1`, -1},
}

func TestSkipValid(t *testing.T) {
	for _, c := range skipValidCases {
		if got := SkipValid([]byte(c.in), 0); got != c.end {
			t.Errorf("SkipValid(%.60q) = %d, want %d", c.in, got, c.end)
		}
	}
}

// loneSurrogate reports whether the JSON text b has a \u escape of one
// half of a surrogate pair without the other half right after it.
func loneSurrogate(b []byte) bool {
	for {
		i := bytes.IndexByte(b, '\\')
		if i < 0 || i+1 >= len(b) {
			return false
		}
		if b[i+1] != 'u' {
			b = b[i+2:]
			continue
		}
		if i+6 > len(b) {
			return false
		}
		r := Hex4(b[i+2:])
		b = b[i+6:]
		switch {
		case r < 0xd800 || r > 0xdfff:
		case r >= 0xdc00:
			return true
		case len(b) < 6 || b[0] != '\\' || b[1] != 'u':
			return true
		default:
			if lo := Hex4(b[2:]); lo < 0xdc00 || lo > 0xdfff {
				return true
			}
			b = b[6:]
		}
	}
}

// FuzzSkipValid checks SkipValid against encoding/json: a text is one valid
// value (with white space around it) exactly when encoding/json says it is
// JSON, it is valid UTF-8 and has no lone surrogate escape (texts nested
// less than MaxDepth deep); and on such a text SkipValid ends where
// SkipValue does.
func FuzzSkipValid(f *testing.F) {
	for _, c := range skipValidCases {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p := SkipSpace(b, 0)
		end := SkipValid(b, p)
		whole := end >= 0 && SkipSpace(b, end) == len(b)
		if len(b) < MaxDepth {
			want := json.Valid(b) && utf8.Valid(b) && !loneSurrogate(b)
			if whole != want {
				t.Fatalf("SkipValid(%q) = %d (one valid value: %v), want %v", b, end, whole, want)
			}
		}
		if whole {
			if v := SkipValue(b, p); v != end {
				t.Fatalf("SkipValid(%q) = %d, SkipValue = %d", b, end, v)
			}
		}
	})
}

// TestValidator checks a Validator's options: lone surrogate escapes and
// the depth a value is nested in already.
func TestValidator(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, c := range []struct {
		name  string
		lone  bool
		depth int
		in    string
		end   int
	}{
		{"lone surrogate rejected", false, 0, `"\ud800"`, -1},
		{"lone surrogate accepted", true, 0, `"\ud800"`, 8},
		{"low half first accepted", true, 0, `["\udc00\ud800"]`, 16},
		{"pair either way", false, 0, `"\ud834\udd1e"`, 14},
		{"bad escape either way", true, 0, `"\u12"`, -1},
		{"nested to the limit", false, 2, deep(MaxDepth - 2), 2 * (MaxDepth - 2)},
		{"nested past the limit", false, 2, deep(MaxDepth - 1), -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := Validator{RejectLoneSurrogates: !c.lone}
			for range 2 { // the second call reuses the first's memory
				if got := v.Skip([]byte(c.in), 0, c.depth); got != c.end {
					t.Fatalf("Skip(%.40q) = %d, want %d", c.in, got, c.end)
				}
			}
		})
	}
}
