package azure

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	json "github.com/goccy/go-json"

	"github.com/cdewatch/cdewatch/internal/jsonscan"
)

// The helpers here read JSON that json.Valid has accepted: they only find
// the bounds of values and do not check them again.

// trimSpace returns b without JSON white space around it.
func trimSpace(b []byte) []byte {
	s, e := 0, len(b)
	for s < e && jsonscan.IsSpace(b[s]) {
		s++
	}
	for e > s && jsonscan.IsSpace(b[e-1]) {
		e--
	}
	return b[s:e]
}

// members calls fn with the name and the raw value of each member of the
// object obj, in order, until fn returns an error.
func members(obj []byte, fn func(name string, v []byte) error) error {
	p := jsonscan.SkipSpace(obj, 1)
	for p < len(obj) && obj[p] == '"' {
		ks := p
		p = jsonscan.SkipString(obj, p)
		name, err := unquote(obj[ks:p])
		if err != nil {
			return err
		}
		p = jsonscan.SkipSpace(obj, p)
		p = jsonscan.SkipSpace(obj, p+1) // ':'
		vs := p
		p = jsonscan.SkipValue(obj, p)
		if err := fn(name, obj[vs:p]); err != nil {
			return err
		}
		p = jsonscan.SkipSpace(obj, p)
		if p < len(obj) && obj[p] == ',' {
			p = jsonscan.SkipSpace(obj, p+1)
		}
	}
	return nil
}

// elements calls fn with each element of the array arr, in order, until fn
// returns an error.
func elements(arr []byte, fn func(i int, v []byte) error) error {
	p := jsonscan.SkipSpace(arr, 1)
	for i := 0; p < len(arr) && arr[p] != ']'; i++ {
		vs := p
		p = jsonscan.SkipValue(arr, p)
		if err := fn(i, arr[vs:p]); err != nil {
			return err
		}
		p = jsonscan.SkipSpace(arr, p)
		if p < len(arr) && arr[p] == ',' {
			p = jsonscan.SkipSpace(arr, p+1)
		}
	}
	return nil
}

var errNotString = errors.New("not a string")

// unquote returns the string the JSON string q encodes.
func unquote(q []byte) (string, error) {
	if len(q) < 2 || q[0] != '"' {
		return "", errNotString
	}
	in := q[1 : len(q)-1]
	if bytes.IndexByte(in, '\\') >= 0 {
		b, err := appendUnquoted(nil, q)
		return string(b), err
	}
	return string(in), nil
}

// appendUnquoted appends the bytes the JSON string q encodes to dst. A lone
// surrogate escape becomes U+FFFD, as with encoding/json.
func appendUnquoted(dst, q []byte) ([]byte, error) {
	if len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' {
		return dst, errNotString
	}
	return jsonscan.AppendUnescaped(dst, q[1:len(q)-1])
}

// text returns the value v as text: a string's content, a number or a
// boolean as written, "" for null or an absent value. Objects and arrays
// are an error.
func text(v []byte) (string, error) {
	if len(v) == 0 {
		return "", nil
	}
	switch v[0] {
	case '"':
		return unquote(v)
	case '{', '[':
		return "", errNotString
	case 'n':
		return "", nil
	}
	return string(v), nil
}

// isNull reports whether v is absent or null.
func isNull(v []byte) bool { return len(v) == 0 || string(v) == "null" }

// object returns v compacted when it is an object (or nil when absent or
// null), else an error.
func object(v []byte) ([]byte, error) {
	if isNull(v) {
		return nil, nil
	}
	if v[0] != '{' {
		return nil, errors.New("not an object")
	}
	return compact(v), nil
}

// dynamic returns v compacted: any JSON value but null, kept as a dynamic
// column keeps it.
func dynamic(v []byte) []byte {
	if isNull(v) {
		return nil
	}
	return compact(v)
}

// compact returns v without insignificant white space; v itself when it has
// none.
func compact(v []byte) []byte {
	if !hasSpace(v) {
		return v
	}
	var b strings.Builder
	b.Grow(len(v))
	for p := 0; p < len(v); {
		switch c := v[p]; {
		case c == '"':
			e := jsonscan.SkipString(v, p)
			b.Write(v[p:e])
			p = e
		case jsonscan.IsSpace(c):
			p++
		default:
			b.WriteByte(c)
			p++
		}
	}
	return []byte(b.String())
}

// hasSpace reports whether v has white space outside strings.
func hasSpace(v []byte) bool {
	for p := 0; p < len(v); {
		switch c := v[p]; {
		case c == '"':
			p = jsonscan.SkipString(v, p)
		case jsonscan.IsSpace(c):
			return true
		default:
			p++
		}
	}
	return false
}

// syntaxError returns the JSON decoder's description of what is wrong with
// b, which json.Valid rejected.
func syntaxError(b []byte) string {
	var v any
	err := json.Unmarshal(b, &v)
	if err == nil {
		return "malformed JSON"
	}
	return "malformed JSON: " + strings.TrimPrefix(err.Error(), "json: ")
}

func quote(s string) string { return strconv.Quote(s) }
