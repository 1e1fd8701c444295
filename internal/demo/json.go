package demo

import (
	"fmt"
	"github.com/cdewatch/cdewatch/internal/jsonscan"
	"slices"
	"strconv"
	"time"
)

// The events are written by hand rather than with encoding/json: the output
// must keep the field order kube-apiserver uses (the order of the Go structs
// in k8s.io/api), which maps cannot give, and a day of events must be quick
// to produce. Strings are escaped the way encoding/json escapes them,
// including the HTML characters (&, <, >) that kube-apiserver's encoder also
// escapes.

// O is a JSON object written in the order given: key, value, key, value, …
// A value may be a string, int, int64, bool, nil, O, A, M, []string, raw,
// time.Time (written as metav1.Time, seconds) or micro (metav1.MicroTime).
type O []any

// A is a JSON array.
type A []any

// M is a string map, written with sorted keys as Go map encoding does.
type M map[string]string

// OM is a string map left out of its object when empty, as ObjectMeta's
// labels and annotations are (omitempty).
type OM map[string]string

// raw is JSON that is already encoded.
type raw []byte

// micro is a time written with microseconds, as metav1.MicroTime.
type micro time.Time

const (
	layoutSeconds = "2006-01-02T15:04:05Z"
	layoutMicro   = "2006-01-02T15:04:05.000000Z"
)

// render encodes v as compact JSON.
func render(v any) []byte {
	return appendValue(make([]byte, 0, 512), v)
}

func appendValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return jsonscan.AppendString(b, v, true)
	case int:
		return strconv.AppendInt(b, int64(v), 10)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case bool:
		return strconv.AppendBool(b, v)
	case time.Time:
		b = append(b, '"')
		b = v.UTC().AppendFormat(b, layoutSeconds)
		return append(b, '"')
	case micro:
		b = append(b, '"')
		b = time.Time(v).UTC().AppendFormat(b, layoutMicro)
		return append(b, '"')
	case raw:
		return append(b, v...)
	case []string:
		b = append(b, '[')
		for i, s := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonscan.AppendString(b, s, true)
		}
		return append(b, ']')
	case M:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonscan.AppendString(b, k, true)
			b = append(b, ':')
			b = jsonscan.AppendString(b, v[k], true)
		}
		return append(b, '}')
	case OM:
		return appendValue(b, M(v))
	case O:
		b = append(b, '{')
		n := 0
		for i := 0; i+1 < len(v); i += 2 {
			if m, ok := v[i+1].(OM); ok && len(m) == 0 {
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = jsonscan.AppendString(b, v[i].(string), true)
			b = append(b, ':')
			b = appendValue(b, v[i+1])
		}
		return append(b, '}')
	case A:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, e)
		}
		return append(b, ']')
	}
	panic(fmt.Sprintf("demo: cannot encode %T", v))
}

// get returns the value of key in o, or nil.
func (o O) get(key string) any {
	for i := 0; i+1 < len(o); i += 2 {
		if o[i] == key {
			return o[i+1]
		}
	}
	return nil
}

// set sets key to v in o, appending it when o has no such key.
func (o O) set(key string, v any) O {
	for i := 0; i+1 < len(o); i += 2 {
		if o[i] == key {
			o[i+1] = v
			return o
		}
	}
	return append(o, key, v)
}

// name is metadata.name of the object o.
func (o O) name() string {
	m, _ := o.get("metadata").(O)
	n, _ := m.get("name").(string)
	return n
}

const hexDigits = "0123456789abcdef"

// appendMicro appends t as a JSON metav1.MicroTime string.
func appendMicro(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, layoutMicro)
	return append(b, '"')
}
