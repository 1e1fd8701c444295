package otlp

import (
	"encoding/base64"
	"encoding/hex"
	"github.com/cdewatch/cdewatch/internal/jsonscan"
	"math"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// maxDepth bounds the nesting of maps and arrays rendered; a value nested
// deeper is rendered as the string "(nested too deep)". The protobuf
// decoder stops at 100 levels already; OTLP/JSON has no such limit.
const maxDepth = 64

// tooDeep replaces a value nested deeper than maxDepth.
const tooDeep = "(nested too deep)"

// Render appends to dst the JSON document of one OTLP log record, as
// internal/logdoc/FORMAT.md describes it ("OTLP log records as
// documents"):
//
//	{"time", "observedTime", "severityText", "severityNumber", "body",
//	 "attributes", "resource", "scope": {"name", "version"}, "traceId",
//	 "spanId", "flags"}
//
// in that order, members that are empty (a zero time or number, an empty
// string, map or id, an empty body) left out. time is the record's time,
// else its observed time, as RFC 3339 with nanoseconds in UTC. Attribute
// maps keep the order the sender used (a repeated key keeps its first
// value, as pdata's Get does); values keep their OTLP type: strings, bools,
// ints, doubles (with a fraction or an exponent, so that they read back as
// doubles; NaN and the infinities as the strings "NaN", "Infinity" and
// "-Infinity"), arrays, maps, and bytes as base64. Invalid UTF-8 is
// replaced by U+FFFD. The output depends only on the input.
func Render(res pcommon.Resource, scope pcommon.InstrumentationScope, lr plog.LogRecord, dst []byte) []byte {
	return appendRecord(dst, lr, appendResource(nil, res), appendScope(nil, scope))
}

// appendResource renders the resource's attributes as a JSON object, or
// nothing when it has none.
func appendResource(dst []byte, res pcommon.Resource) []byte {
	if res.Attributes().Len() == 0 {
		return dst
	}
	return appendMap(dst, res.Attributes(), 0)
}

// appendScope renders the scope as {"name", "version"}, or nothing when
// both are empty.
func appendScope(dst []byte, scope pcommon.InstrumentationScope) []byte {
	if scope.Name() == "" && scope.Version() == "" {
		return dst
	}
	o := object{dst: dst}
	if s := scope.Name(); s != "" {
		o.key("name")
		o.dst = jsonscan.AppendString(o.dst, s, false)
	}
	if s := scope.Version(); s != "" {
		o.key("version")
		o.dst = jsonscan.AppendString(o.dst, s, false)
	}
	return o.close()
}

// appendRecord renders lr with the resource and scope objects already
// rendered (nil when empty): a request's records share them.
func appendRecord(dst []byte, lr plog.LogRecord, res, scope []byte) []byte {
	o := object{dst: dst}
	ts, obs := lr.Timestamp(), lr.ObservedTimestamp()
	if ts == 0 {
		ts = obs
	}
	if ts != 0 {
		o.key("time")
		o.dst = appendTime(o.dst, ts)
	}
	if obs != 0 {
		o.key("observedTime")
		o.dst = appendTime(o.dst, obs)
	}
	if s := lr.SeverityText(); s != "" {
		o.key("severityText")
		o.dst = jsonscan.AppendString(o.dst, s, false)
	}
	if n := lr.SeverityNumber(); n != 0 {
		o.key("severityNumber")
		o.dst = strconv.AppendInt(o.dst, int64(n), 10)
	}
	if b := lr.Body(); !emptyValue(b) {
		o.key("body")
		o.dst = appendValue(o.dst, b, 0)
	}
	if a := lr.Attributes(); a.Len() > 0 {
		o.key("attributes")
		o.dst = appendMap(o.dst, a, 0)
	}
	if len(res) > 0 {
		o.key("resource")
		o.dst = append(o.dst, res...)
	}
	if len(scope) > 0 {
		o.key("scope")
		o.dst = append(o.dst, scope...)
	}
	if id := lr.TraceID(); !id.IsEmpty() {
		o.key("traceId")
		o.dst = appendHex(o.dst, id[:])
	}
	if id := lr.SpanID(); !id.IsEmpty() {
		o.key("spanId")
		o.dst = appendHex(o.dst, id[:])
	}
	if f := lr.Flags(); f != 0 {
		o.key("flags")
		o.dst = strconv.AppendUint(o.dst, uint64(f), 10)
	}
	return o.close()
}

// object writes the members of a JSON object.
type object struct {
	dst []byte
	n   int // members written
}

func (o *object) key(k string) {
	if o.n == 0 {
		o.dst = append(o.dst, '{')
	} else {
		o.dst = append(o.dst, ',')
	}
	o.n++
	o.dst = jsonscan.AppendString(o.dst, k, false)
	o.dst = append(o.dst, ':')
}

func (o *object) close() []byte {
	if o.n == 0 {
		return append(o.dst, '{', '}')
	}
	return append(o.dst, '}')
}

// emptyValue reports a body that FORMAT.md leaves out: none, or "".
func emptyValue(v pcommon.Value) bool {
	switch v.Type() {
	case pcommon.ValueTypeEmpty:
		return true
	case pcommon.ValueTypeStr:
		return v.Str() == ""
	}
	return false
}

func appendTime(dst []byte, ts pcommon.Timestamp) []byte {
	dst = append(dst, '"')
	dst = time.Unix(0, int64(ts)).UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

func appendHex(dst, id []byte) []byte {
	dst = append(dst, '"')
	dst = hex.AppendEncode(dst, id)
	return append(dst, '"')
}

// appendValue renders one OTLP value.
func appendValue(dst []byte, v pcommon.Value, depth int) []byte {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return jsonscan.AppendString(dst, v.Str(), false)
	case pcommon.ValueTypeBool:
		return strconv.AppendBool(dst, v.Bool())
	case pcommon.ValueTypeInt:
		return strconv.AppendInt(dst, v.Int(), 10)
	case pcommon.ValueTypeDouble:
		return appendDouble(dst, v.Double())
	case pcommon.ValueTypeBytes:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, v.Bytes().AsRaw())
		return append(dst, '"')
	case pcommon.ValueTypeMap:
		if depth >= maxDepth {
			return jsonscan.AppendString(dst, tooDeep, false)
		}
		return appendMap(dst, v.Map(), depth+1)
	case pcommon.ValueTypeSlice:
		if depth >= maxDepth {
			return jsonscan.AppendString(dst, tooDeep, false)
		}
		s := v.Slice()
		dst = append(dst, '[')
		for i := range s.Len() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendValue(dst, s.At(i), depth+1)
		}
		return append(dst, ']')
	}
	return append(dst, "null"...)
}

// appendDouble renders a double so that it reads back as one: 3 as 3.0,
// NaN and the infinities (which JSON lacks) as strings.
func appendDouble(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(dst, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(dst, `"-Infinity"`...)
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'g', -1, 64)
	for _, c := range dst[start:] {
		if c == '.' || c == 'e' {
			return dst
		}
	}
	return append(dst, '.', '0')
}

// appendMap renders a map as a JSON object in the sender's order, a
// repeated key keeping its first value.
func appendMap(dst []byte, m pcommon.Map, depth int) []byte {
	o := object{dst: dst}
	var small [16]string
	seen := small[:0]
	var many map[string]struct{}
	for k, v := range m.All() {
		if many != nil {
			if _, dup := many[k]; dup {
				continue
			}
			many[k] = struct{}{}
		} else {
			if contains(seen, k) {
				continue
			}
			if len(seen) < cap(small)*4 {
				seen = append(seen, k)
			} else {
				many = make(map[string]struct{}, m.Len())
				for _, s := range seen {
					many[s] = struct{}{}
				}
				many[k] = struct{}{}
			}
		}
		o.key(k)
		o.dst = appendValue(o.dst, v, depth)
	}
	return o.close()
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
