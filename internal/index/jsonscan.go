package index

import (
	"bytes"
	"time"

	json "github.com/goccy/go-json"

	"github.com/cdewatch/cdewatch/internal/jsonscan"
)

// This file finds the members of a JSON object and the raw bytes of their
// values without building a tree: the index needs a handful of strings and
// the original text of the dynamic columns, which DuckDB parses when a
// query reads it. Finding a value's end also checks that it is valid
// (jsonscan.SkipValid), so that the stage need not check it again. The
// scanner expects JSON, as the ledger's records were when they were
// accepted; on input that is not a well-formed object, it stops and reports
// failure rather than guess, and never reads out of bounds.

// scanMembers sets out[i] to the raw value of the member of the object b
// named names[i], matched as Go's JSON decoders match struct fields:
// exactly, or else ignoring ASCII case; the last of duplicate members wins.
// If valid is not nil, valid[i] reports whether out[i] is JSON that
// validJSON accepts, in valid UTF-8. It reports false if b is not a
// well-formed object, leaving out partly set.
func scanMembers(b []byte, names []string, out [][]byte, valid []bool) bool {
	m, ok := objectMembers(b)
	if !ok {
		return false
	}
	for {
		key, v, checked, ok := m.next()
		if !ok {
			return !m.failed()
		}
		if i := memberIndex(key, names); i >= 0 {
			out[i] = v
			if valid != nil {
				valid[i] = checked
			}
		}
	}
}

// memberIndex returns the index in names of the raw key k, or -1.
func memberIndex(k []byte, names []string) int {
	for i, n := range names {
		if string(k) == n {
			return i
		}
	}
	if bytes.IndexByte(k, '\\') >= 0 {
		s, ok := decodeString(append(append([]byte{'"'}, k...), '"'))
		if !ok {
			return -1
		}
		k = []byte(s)
		for i, n := range names {
			if string(k) == n {
				return i
			}
		}
	}
	for i, n := range names {
		if foldEqual(k, n) {
			return i
		}
	}
	return -1
}

// foldEqual reports whether k equals the ASCII name n ignoring ASCII case.
func foldEqual(k []byte, n string) bool {
	if len(k) != len(n) {
		return false
	}
	for i := 0; i < len(k); i++ {
		if lowerASCII(k[i]) != lowerASCII(n[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// members iterates over the members of a JSON object.
type members struct {
	b   []byte
	p   int
	bad bool
}

// objectMembers returns an iterator over the object in b (which may be
// surrounded by white space), and false if b does not hold an object.
func objectMembers(b []byte) (members, bool) {
	p := jsonscan.SkipSpace(b, 0)
	if p >= len(b) || b[p] != '{' {
		return members{}, false
	}
	return members{b: b, p: p + 1}, true
}

// next returns the next member's key (raw: escapes are not decoded) and
// value (raw JSON), and whether the value is JSON that validJSON accepts,
// in valid UTF-8 (checked in the same pass that finds its end). It returns
// ok false at the end of the object or on malformed input, after which
// failed reports which.
func (m *members) next() (key, val []byte, valid, ok bool) {
	if m.bad || m.b == nil {
		return nil, nil, false, false
	}
	b := m.b
	p := jsonscan.SkipSpace(b, m.p)
	if p < len(b) && b[p] == ',' {
		p = jsonscan.SkipSpace(b, p+1)
	} else if p < len(b) && b[p] == '}' {
		m.b = nil
		return nil, nil, false, false
	}
	if p >= len(b) || b[p] != '"' {
		m.bad = true
		return nil, nil, false, false
	}
	end := jsonscan.SkipString(b, p)
	if end < 0 {
		m.bad = true
		return nil, nil, false, false
	}
	key = b[p+1 : end-1]
	p = jsonscan.SkipSpace(b, end)
	if p >= len(b) || b[p] != ':' {
		m.bad = true
		return nil, nil, false, false
	}
	p = jsonscan.SkipSpace(b, p+1)
	end = jsonscan.SkipValid(b, p)
	valid = end >= 0 && delimits(b, end)
	if !valid {
		// Not valid JSON (or only its start is): find its end as the
		// scanner does any value's.
		if end = jsonscan.SkipValue(b, p); end < 0 || !delimits(b, end) {
			m.bad = true
			return nil, nil, false, false
		}
	}
	val = b[p:end]
	m.p = jsonscan.SkipSpace(b, end)
	return key, val, valid, true
}

// delimits reports whether a member's value may end at b[p]: white space,
// then a comma or the end of the object.
func delimits(b []byte, p int) bool {
	p = jsonscan.SkipSpace(b, p)
	return p < len(b) && (b[p] == ',' || b[p] == '}')
}

// failed reports whether iteration stopped on malformed input.
func (m *members) failed() bool { return m.bad }

// isNull reports whether the raw value v is JSON null.
func isNull(v []byte) bool { return string(v) == "null" }

// decodeString decodes the raw value v as a JSON string.
func decodeString(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	in := v[1 : len(v)-1]
	if bytes.IndexByte(in, '\\') < 0 {
		return string(in), true
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", false
	}
	return s, true
}

// stringValue returns the value of a string column from the raw value v:
// the string's bytes (a sub-slice of v when it has no escapes), or "" for
// an absent value, null or anything that is not a string.
func stringValue(v []byte) cell {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return text("")
	}
	in := v[1 : len(v)-1]
	if bytes.IndexByte(in, '\\') < 0 {
		return textBytes(in)
	}
	s, _ := decodeString(v)
	return text(s)
}

// checkedString is stringValue, for a string column, of a value scanned
// from valid JSON (scanMembers' valid): its text is valid UTF-8, which the
// stage does not check again.
func checkedString(v []byte, valid bool) cell {
	c := stringValue(v)
	c.checked = valid
	return c
}

// timeValue decodes the raw value v as an RFC 3339 timestamp, the form
// time.Time has in JSON. It returns NULL for an absent value,
// null, "" and anything that does not parse.
func timeValue(v []byte) cell {
	s := v
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return cell{}
	}
	s = s[1 : len(s)-1]
	if len(s) == 0 || bytes.IndexByte(s, '\\') >= 0 {
		return cell{}
	}
	t, err := time.Parse(time.RFC3339Nano, string(s))
	if err != nil {
		return cell{}
	}
	return at(t)
}

// dynamicValue returns the value of a dynamic column from the raw value v:
// NULL for an absent value or JSON null, else the JSON text,
// which the stage checks (text that validJSON rejects becomes NULL).
func dynamicValue(v []byte) cell {
	if len(v) == 0 || isNull(v) {
		return cell{}
	}
	return textBytes(v)
}

// checkedDynamicValue is dynamicValue for a value known to be valid
// (scanMembers' valid): the stage does not check it again.
func checkedDynamicValue(v []byte, valid bool) cell {
	c := dynamicValue(v)
	c.checked = valid && c.k == cellText
	return c
}

// validJSON reports whether b is JSON that DuckDB's JSON type takes and its
// JSON functions read: JSON as RFC 8259 defines it, nested at most 10,000
// deep, with no lone UTF-16 surrogate escape (\ud800 without its pair),
// which the RFC's grammar allows and DuckDB rejects (jsonscan.SkipValid).
// DuckDB's own extensions (NaN, Infinity, trailing commas) are rejected
// too. Invalid UTF-8 is rejected: the stage repairs it first.
func validJSON(b []byte) bool {
	end := jsonscan.SkipValid(b, jsonscan.SkipSpace(b, 0))
	return end >= 0 && jsonscan.SkipSpace(b, end) == len(b)
}
