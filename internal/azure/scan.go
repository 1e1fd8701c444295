package azure

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/bits"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	json "github.com/goccy/go-json"
)

// The helpers here read JSON that json.Valid has accepted: they only find
// the bounds of values and do not check them again.

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// trimSpace returns b without JSON white space around it.
func trimSpace(b []byte) []byte {
	s, e := 0, len(b)
	for s < e && isSpace(b[s]) {
		s++
	}
	for e > s && isSpace(b[e-1]) {
		e--
	}
	return b[s:e]
}

func skipSpace(b []byte, p int) int {
	for p < len(b) && isSpace(b[p]) {
		p++
	}
	return p
}

// skipString returns the offset after the string that starts at b[p].
func skipString(b []byte, p int) int {
	p++
	// Eight bytes at a time, up to the first quote or backslash.
	for p+8 <= len(b) {
		w := binary.LittleEndian.Uint64(b[p:])
		m := hasByte(w, '"') | hasByte(w, '\\')
		if m == 0 {
			p += 8
			continue
		}
		p += bits.TrailingZeros64(m) >> 3
		if b[p] == '"' {
			return p + 1
		}
		p += 2 // an escape: the backslash and the byte after it
	}
	for ; p < len(b); p++ {
		switch b[p] {
		case '"':
			return p + 1
		case '\\':
			p++
		}
	}
	return len(b)
}

// hasByte returns a word whose lowest set bit is the high bit of the first
// byte of w equal to c, or 0 when there is none (bits above it may be set
// wrongly).
func hasByte(w uint64, c byte) uint64 {
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	x := w ^ (lsb * uint64(c))
	return (x - lsb) &^ x & msb
}

// skipValue returns the offset after the value that starts at b[p].
func skipValue(b []byte, p int) int {
	switch b[p] {
	case '"':
		return skipString(b, p)
	case '{', '[':
		depth := 0
		for p < len(b) {
			switch b[p] {
			case '"':
				p = skipString(b, p)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return p + 1
				}
			}
			p++
		}
		return p
	default:
		for p < len(b) {
			switch b[p] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return p
			}
			p++
		}
		return p
	}
}

// members calls fn with the name and the raw value of each member of the
// object obj, in order, until fn returns an error.
func members(obj []byte, fn func(name string, v []byte) error) error {
	p := skipSpace(obj, 1)
	for p < len(obj) && obj[p] == '"' {
		ks := p
		p = skipString(obj, p)
		name, err := unquote(obj[ks:p])
		if err != nil {
			return err
		}
		p = skipSpace(obj, p)
		p = skipSpace(obj, p+1) // ':'
		vs := p
		p = skipValue(obj, p)
		if err := fn(name, obj[vs:p]); err != nil {
			return err
		}
		p = skipSpace(obj, p)
		if p < len(obj) && obj[p] == ',' {
			p = skipSpace(obj, p+1)
		}
	}
	return nil
}

// elements calls fn with each element of the array arr, in order, until fn
// returns an error.
func elements(arr []byte, fn func(i int, v []byte) error) error {
	p := skipSpace(arr, 1)
	for i := 0; p < len(arr) && arr[p] != ']'; i++ {
		vs := p
		p = skipValue(arr, p)
		if err := fn(i, arr[vs:p]); err != nil {
			return err
		}
		p = skipSpace(arr, p)
		if p < len(arr) && arr[p] == ',' {
			p = skipSpace(arr, p+1)
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
	in := q[1 : len(q)-1]
	for len(in) > 0 {
		i := bytes.IndexByte(in, '\\')
		if i < 0 {
			i = len(in)
		}
		dst = append(dst, in[:i]...)
		in = in[i:]
		if len(in) == 0 {
			break
		}
		if len(in) < 2 {
			return dst, errors.New("truncated escape")
		}
		switch c := in[1]; c {
		case '"', '\\', '/':
			dst = append(dst, c)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(in[2:])
			if !ok {
				return dst, errors.New("invalid \\u escape")
			}
			in = in[6:]
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(in[min(2, len(in)):]); ok && len(in) >= 6 && in[0] == '\\' && in[1] == 'u' {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						dst = utf8.AppendRune(dst, d)
						in = in[6:]
						continue
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default:
			return dst, errors.New("invalid escape")
		}
		in = in[2:]
	}
	return dst, nil
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
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
			e := skipString(v, p)
			b.Write(v[p:e])
			p = e
		case isSpace(c):
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
			p = skipString(v, p)
		case isSpace(c):
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
