package esbulk

import (
	"net/http"
	"strconv"
	"unicode/utf8"
)

// itemResult is the outcome of one bulk item.
type itemResult struct {
	id     string // the _id answered; "" for none
	seq    uint64 // the ledger seq, when hasSeq
	hasSeq bool
	err    *itemError
}

// appendBulkResponse appends the bulk API's answer: {"took", "errors",
// "items": [{op: {...}}]} in the member order Elasticsearch writes.
func appendBulkResponse(b []byte, took int64, items []item, results []itemResult) []byte {
	errs := false
	for i := range results {
		if results[i].err != nil {
			errs = true
			break
		}
	}
	b = append(b, `{"took":`...)
	b = strconv.AppendInt(b, took, 10)
	b = append(b, `,"errors":`...)
	b = strconv.AppendBool(b, errs)
	b = append(b, `,"items":[`...)
	for i := range items {
		if i > 0 {
			b = append(b, ',')
		}
		it, res := &items[i], &results[i]
		b = append(b, `{"`...)
		b = append(b, it.op...)
		b = append(b, `":{"_index":`...)
		b = appendString(b, it.index)
		if res.id != "" {
			b = append(b, `,"_id":`...)
			b = appendString(b, res.id)
		}
		if e := res.err; e != nil {
			b = append(b, `,"status":`...)
			b = strconv.AppendInt(b, int64(e.status), 10)
			b = append(b, `,"error":{"type":`...)
			b = appendString(b, e.typ)
			b = append(b, `,"reason":`...)
			b = appendString(b, e.reason)
			b = append(b, `}}}`...)
			continue
		}
		b = append(b, `,"_version":1,"result":"created","_shards":{"total":1,"successful":1,"failed":0}`...)
		if res.hasSeq {
			b = append(b, `,"_seq_no":`...)
			b = strconv.AppendUint(b, res.seq, 10)
		}
		b = append(b, `,"_primary_term":1,"status":201}}`...)
	}
	return append(b, "]}\n"...)
}

// appendError appends Elasticsearch's error object:
// {"error":{"root_cause":[{"type","reason"}],"type","reason"},"status"}.
func appendError(b []byte, status int, typ, reason string) []byte {
	b = append(b, `{"error":{"root_cause":[{"type":`...)
	b = appendString(b, typ)
	b = append(b, `,"reason":`...)
	b = appendString(b, reason)
	b = append(b, `}],"type":`...)
	b = appendString(b, typ)
	b = append(b, `,"reason":`...)
	b = appendString(b, reason)
	b = append(b, `},"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	return append(b, "}\n"...)
}

// writeError answers with Elasticsearch's error object.
func writeError(w http.ResponseWriter, r *http.Request, status int, typ, reason string) {
	writeJSON(w, r, status, appendError(nil, status, typ, reason))
}

// appendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
