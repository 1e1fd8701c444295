package jsonscan

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func TestSkip(t *testing.T) {
	cases := []struct {
		in         string
		str, value int
	}{
		{`"abc" x`, 5, 5},
		{`"a\"b\\" x`, 8, 8},
		{`"0123456789abcdef\"0123456789" x`, 30, 30},
		{`"unterminated`, -1, -1},
		{`{"a":[1,"]",{}]} x`, -1, 16},
		{`[1, 2`, -1, -1},
		{`123,`, -1, 3},
		{`true}`, -1, 4},
		{``, -1, -1},
	}
	for _, c := range cases {
		if c.in != "" && c.in[0] == '"' {
			if got := SkipString([]byte(c.in), 0); got != c.str {
				t.Errorf("SkipString(%q) = %d, want %d", c.in, got, c.str)
			}
		}
		if got := SkipValue([]byte(c.in), 0); got != c.value {
			t.Errorf("SkipValue(%q) = %d, want %d", c.in, got, c.value)
		}
	}
	if got := SkipSpace([]byte(" \t\r\nx"), 0); got != 4 {
		t.Errorf("SkipSpace = %d, want 4", got)
	}
}

func TestAppendUnescaped(t *testing.T) {
	cases := []struct{ in, want, err string }{
		{`plain`, "plain", ""},
		{`a\n\t\"\\\/b`, "a\n\t\"\\/b", ""},
		{`\u00e9\u20ac`, "é€", ""},
		{`\ud83d\ude00`, "😀", ""},
		{`\ud83dx`, "\uFFFDx", ""},
		{`\ud83d\u0041`, "\uFFFDA", ""},
		{`\x`, "", "invalid escape"},
		{`\u12`, "", "invalid \\u escape"},
		{`\`, "", "truncated escape"},
	}
	for _, c := range cases {
		got, err := AppendUnescaped(nil, []byte(c.in))
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("AppendUnescaped(%q): error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || string(got) != c.want {
			t.Errorf("AppendUnescaped(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

// FuzzAppendUnescaped checks the unescaper against encoding/json on every
// valid UTF-8 string encoding/json accepts (the decoders reject invalid
// UTF-8 before they unescape; encoding/json would replace it).
func FuzzAppendUnescaped(f *testing.F) {
	for _, s := range []string{`a\nb`, `\ud83d\ude00`, `\ud83d`, `\u00zz`, `x\"y`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if !utf8.ValidString(in) {
			return
		}
		q := []byte(`"` + in + `"`)
		var want string
		if err := json.Unmarshal(q, &want); err != nil {
			return
		}
		if end := SkipString(q, 0); end != len(q) {
			t.Fatalf("SkipString(%q) = %d, want %d", q, end, len(q))
		}
		got, err := AppendUnescaped(nil, []byte(in))
		if err != nil || string(got) != want {
			t.Fatalf("AppendUnescaped(%q) = %q, %v; encoding/json gives %q", in, got, err, want)
		}
	})
}

// AppendString writes what encoding/json writes, with and without HTML
// escaping.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "q\"b\\s", "\n\r\t\x00\x1f", "<a>&", "\u2028\u2029", "\xff\xfe", "é😀", "a\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, html := range []bool{false, true} {
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(html)
			if err := enc.Encode(s); err != nil {
				t.Fatal(err)
			}
			want := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
			if got := AppendString(nil, s, html); !bytes.Equal(got, want) {
				t.Fatalf("AppendString(%q, html=%v) = %s, want %s", s, html, got, want)
			}
		}
	})
}

func TestNext(t *testing.T) {
	for _, tc := range []struct {
		in      string
		p       int
		closing byte
		want    int
		more    bool
	}{
		{`1 , 2]`, 1, ']', 4, true},
		{`1  ]x`, 1, ']', 4, false},
		{`1}`, 1, ']', -1, false},
		{`1  `, 1, '}', -1, false},
		{`1,2`, -1, ']', -1, false},
	} {
		if got, more := Next([]byte(tc.in), tc.p, tc.closing); got != tc.want || more != tc.more {
			t.Errorf("Next(%q, %d) = %d, %v; want %d, %v", tc.in, tc.p, got, more, tc.want, tc.more)
		}
	}
}
