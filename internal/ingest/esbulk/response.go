package esbulk

import (
	"github.com/cdewatch/cdewatch/internal/jsonscan"
	"net/http"
	"strconv"
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
		b = jsonscan.AppendString(b, it.index, false)
		if res.id != "" {
			b = append(b, `,"_id":`...)
			b = jsonscan.AppendString(b, res.id, false)
		}
		if e := res.err; e != nil {
			b = append(b, `,"status":`...)
			b = strconv.AppendInt(b, int64(e.status), 10)
			b = append(b, `,"error":{"type":`...)
			b = jsonscan.AppendString(b, e.typ, false)
			b = append(b, `,"reason":`...)
			b = jsonscan.AppendString(b, e.reason, false)
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
	b = jsonscan.AppendString(b, typ, false)
	b = append(b, `,"reason":`...)
	b = jsonscan.AppendString(b, reason, false)
	b = append(b, `}],"type":`...)
	b = jsonscan.AppendString(b, typ, false)
	b = append(b, `,"reason":`...)
	b = jsonscan.AppendString(b, reason, false)
	b = append(b, `},"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	return append(b, "}\n"...)
}

// writeError answers with Elasticsearch's error object.
func writeError(w http.ResponseWriter, r *http.Request, status int, typ, reason string) {
	writeJSON(w, r, status, appendError(nil, status, typ, reason))
}
