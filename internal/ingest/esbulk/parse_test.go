package esbulk

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/ingest"
)

func TestParseBulk(t *testing.T) {
	type want struct {
		op, index, id string
		hasID         bool
		source        string
		errType       string
	}
	for _, tc := range []struct {
		name    string
		body    string
		urlIdx  string
		want    []want
		wantErr int // status of a request error
	}{
		{name: "index and create", body: `{"index":{"_index":"a","_id":"1"}}` + "\n{\"x\":1}\n" + `{"create":{}}` + "\n{\"y\":2}\n", urlIdx: "u",
			want: []want{{opIndex, "a", "1", true, `{"x":1}`, ""}, {opCreate, "u", "", false, `{"y":2}`, ""}}},
		{name: "crlf, blank lines, no final newline", body: "\r\n{\"index\":{}}\r\n{}\r\n\n  \n{\"create\":{\"_index\":\"b\"}}\n{\"z\":3}",
			want: []want{{opIndex, "", "", false, "{}", ""}, {opCreate, "b", "", false, `{"z":3}`, ""}}},
		{name: "numeric and escaped ids", body: `{"index":{"_id":12.5}}` + "\n{}\n" + `{"index":{"_id":"a\"b","_index":null}}` + "\n{}\n",
			want: []want{{opIndex, "", "12.5", true, "{}", ""}, {opIndex, "", `a"b`, true, "{}", ""}}},
		{name: "unknown metadata ignored", body: `{"create":{"_index":"i","routing":"r","pipeline":"p","version":3,"if_seq_no":1,"dynamic_templates":{"a":"b"},"require_alias":true}}` + "\n{}\n",
			want: []want{{opCreate, "i", "", false, "{}", ""}}},
		{name: "delete and update refused per item", body: `{"delete":{"_index":"i","_id":"1"}}` + "\n" + `{"update":{"_id":"2"}}` + "\n{\"doc\":{}}\n" + `{"index":{}}` + "\n{}\n",
			want: []want{{opDelete, "i", "1", true, "", "action_request_validation_exception"}, {opUpdate, "", "2", true, `{"doc":{}}`, "action_request_validation_exception"},
				{opIndex, "", "", false, "{}", ""}}},
		{name: "bad ids refused per item", body: `{"index":{"_id":""}}` + "\n{}\n" + `{"index":{"_id":"` + strings.Repeat("x", 513) + `"}}` + "\n{}\n",
			want: []want{{opIndex, "", "", true, "{}", "action_request_validation_exception"}, {opIndex, "", strings.Repeat("x", 513), true, "{}", "action_request_validation_exception"}}},
		{name: "empty source line kept", body: `{"index":{}}` + "\n\n",
			want: []want{{opIndex, "", "", false, "", ""}}},
		{name: "empty", body: " \n\n"},
		{name: "not an object", body: `"index"` + "\n{}\n", wantErr: 400},
		{name: "unknown action", body: `{"upsert":{}}` + "\n{}\n", wantErr: 400},
		{name: "null action", body: `{"index":null}` + "\n{}\n", wantErr: 400},
		{name: "string metadata", body: `{"index":"i"}` + "\n{}\n", wantErr: 400},
		{name: "numeric _index", body: `{"index":{"_index":5}}` + "\n{}\n", want: []want{{opIndex, "5", "", false, "{}", ""}}},
		{name: "bad _index type", body: `{"index":{"_index":[]}}` + "\n{}\n", wantErr: 400},
		{name: "bad _id type", body: `{"index":{"_id":{"a":1}}}` + "\n{}\n", wantErr: 400},
		{name: "missing source", body: `{"index":{}}`, wantErr: 400},
		{name: "too many", body: strings.Repeat(`{"index":{}}`+"\n{}\n", 4), wantErr: 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items, err := parseBulk([]byte(tc.body), tc.urlIdx, 3, nil)
			if tc.wantErr != 0 {
				var re *requestError
				if !errors.As(err, &re) || re.status != tc.wantErr {
					t.Fatalf("error %v, want a request error %d", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != len(tc.want) {
				t.Fatalf("%d items, want %d", len(items), len(tc.want))
			}
			for i, w := range tc.want {
				it := items[i]
				got := want{it.op, it.index, it.id, it.hasID, string(it.source), ""}
				if it.err != nil {
					got.errType = it.err.typ
				}
				if got != w {
					t.Errorf("item %d: %+v, want %+v", i, got, w)
				}
				if (it.op == opDelete) != (it.source == nil) {
					t.Errorf("item %d: op %s with source %q", i, it.op, it.source)
				}
			}
		})
	}
}

func TestAppOf(t *testing.T) {
	for _, tc := range []struct{ index, want string }{
		{"cdewatch-app-checkout", "checkout"},
		{"cdewatch-app-checkout-2026.11.26", "checkout"},
		{"cdewatch-app-checkout-2026-11-26", "checkout"},
		{"cdewatch-app-checkout-2026.11", "checkout"},
		{"cdewatch-app-card-vault", "card-vault"},
		{"cdewatch-app-2026.11.26", "2026.11.26"},
		{"cdewatch-app-", ""},
		{"logs-cdewatch-app-checkout", ""},
		{"fluent-bit", ""},
	} {
		if got := appOf(tc.index, DefaultAppIndexPrefix); got != tc.want {
			t.Errorf("appOf(%q) = %q, want %q", tc.index, got, tc.want)
		}
	}
}

func TestAssignSeqs(t *testing.T) {
	recs := func(keys ...string) []event.Record {
		out := make([]event.Record, len(keys))
		for i, k := range keys {
			out[i].Key = k
		}
		return out
	}
	const u = ^uint64(0) // unknown
	for _, tc := range []struct {
		name     string
		recs     []event.Record
		nKeyless int
		res      ingest.Result
		want     []uint64
	}{
		{"keyless", recs("", "", ""), 3, ingest.Result{Accepted: 3, FirstSeq: 10}, []uint64{10, 11, 12}},
		{"keyed fresh", recs("", "a", "b"), 1, ingest.Result{Accepted: 3, FirstSeq: 10}, []uint64{10, 11, 12}},
		{"repeat within batch", recs("", "a", "a", "b"), 1, ingest.Result{Accepted: 3, Duplicates: 1, FirstSeq: 10}, []uint64{10, 11, 11, 12}},
		{"all keyed stored before", recs("", "a", "b"), 1, ingest.Result{Accepted: 1, Duplicates: 2, FirstSeq: 10}, []uint64{10, u, u}},
		{"some keyed stored before", recs("", "", "a", "b"), 2, ingest.Result{Accepted: 3, Duplicates: 1, FirstSeq: 10}, []uint64{10, 11, u, u}},
		{"nothing stored", recs("a"), 0, ingest.Result{Duplicates: 1}, []uint64{u}},
		{"no dedup", recs("", "a", "a"), 1, ingest.Result{Accepted: 3, FirstSeq: 0}, []uint64{0, 1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seqs, known := assignSeqs(tc.recs, tc.nKeyless, tc.res)
			for i := range tc.want {
				got := seqs[i]
				if !known[i] {
					got = u
				}
				if got != tc.want[i] {
					t.Errorf("record %d: seq %d, want %d (all: %v %v)", i, int64(got), int64(tc.want[i]), seqs, known)
				}
			}
		})
	}
}

// FuzzBulk feeds arbitrary bodies to the NDJSON parser and the response
// encoder: no panic; every non-blank line is an action or a source and
// every line is at most one of them; a parsed body re-serialized parses to
// the same items; the answer is JSON with one entry per item.
func FuzzBulk(f *testing.F) {
	for _, s := range []string{
		`{"index":{"_index":"a","_id":"1"}}` + "\n{\"x\":1}\n",
		`{"create":{}}` + "\n" + `{"log":"x","kubernetes":{"pod_name":"p"}}` + "\n" + `{"delete":{"_id":"d"}}` + "\n",
		"\r\n{\"update\":{\"_id\":3}}\r\n{\"doc\":{}}\r\n\n",
		`{"index":{"_id":""}}` + "\n\"str\"\n",
		`{"index":{"_id":"a\u00e9\\"}}` + "\n[]\n",
		`{"index":{},"create":{}}` + "\n{}\n",
		`{"index":{"_index":null,"_id":null}}` + "\n{}",
		"",
		"\n",
		`{"index"`,
	} {
		f.Add([]byte(s), "url-index")
	}
	f.Fuzz(func(t *testing.T, body []byte, urlIndex string) {
		const maxItems = 50
		items, err := parseBulk(body, urlIndex, maxItems, nil)
		if err != nil {
			var re *requestError
			if !errors.As(err, &re) || (re.status != http.StatusBadRequest && re.status != http.StatusRequestEntityTooLarge) || re.reason == "" {
				t.Fatalf("error %v is not a request error", err)
			}
			return
		}
		if len(items) > maxItems {
			t.Fatalf("%d items over the limit", len(items))
		}
		lines := bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n"))
		if len(body) == 0 {
			lines = nil
		}
		nonBlank := 0
		for _, l := range lines {
			if !isBlank(l) {
				nonBlank++
			}
		}
		used, prev := 0, 0
		var rebuilt []byte
		for i, it := range items {
			if it.line <= prev {
				t.Fatalf("item %d at line %d after line %d", i, it.line, prev)
			}
			prev = it.line
			used++
			switch it.op {
			case opIndex, opCreate, opUpdate:
				if it.source == nil {
					t.Fatalf("item %d (%s) without source", i, it.op)
				}
				used++
			case opDelete:
				if it.source != nil {
					t.Fatalf("delete with a source")
				}
			default:
				t.Fatalf("item %d: op %q", i, it.op)
			}
			if (it.op == opDelete || it.op == opUpdate) && it.err == nil {
				t.Fatalf("item %d: %s accepted", i, it.op)
			}
			if !it.hasID && it.id != "" {
				t.Fatalf("item %d: id %q without hasID", i, it.id)
			}
			if !bytes.Contains(body, it.action) || !bytes.Contains(body, it.source) {
				t.Fatalf("item %d does not alias the body", i)
			}
			rebuilt = append(append(rebuilt, it.action...), '\n')
			if it.source != nil {
				rebuilt = append(append(rebuilt, it.source...), '\n')
			}
		}
		if used < nonBlank || used > len(lines) {
			t.Fatalf("%d lines used by %d items, body has %d lines, %d not blank", used, len(items), len(lines), nonBlank)
		}
		again, err := parseBulk(rebuilt, urlIndex, maxItems, nil)
		if err != nil || len(again) != len(items) {
			t.Fatalf("re-serialized body: %d items, %v; want %d", len(again), err, len(items))
		}
		for i := range items {
			a, b := items[i], again[i]
			if a.op != b.op || a.index != b.index || a.id != b.id || a.hasID != b.hasID || !bytes.Equal(a.source, b.source) || (a.err == nil) != (b.err == nil) {
				t.Fatalf("item %d: %+v re-parsed as %+v", i, a, b)
			}
		}

		results := make([]itemResult, len(items))
		for i := range items {
			results[i] = itemResult{id: items[i].id, err: items[i].err, seq: uint64(i), hasSeq: i%2 == 0}
		}
		resp := appendBulkResponse(nil, 3, items, results)
		var decoded struct {
			Took   int                          `json:"took"`
			Errors bool                         `json:"errors"`
			Items  []map[string]json.RawMessage `json:"items"`
		}
		if !utf8.Valid(resp) {
			t.Fatalf("response is not UTF-8")
		}
		if err := json.Unmarshal(resp, &decoded); err != nil {
			t.Fatalf("response %s: %v", resp, err)
		}
		if len(decoded.Items) != len(items) {
			t.Fatalf("response has %d items, want %d", len(decoded.Items), len(items))
		}
		anyErr := false
		for i, m := range decoded.Items {
			if len(m) != 1 || m[items[i].op] == nil {
				t.Fatalf("response item %d: %v", i, m)
			}
			anyErr = anyErr || items[i].err != nil
		}
		if decoded.Errors != anyErr {
			t.Fatalf("errors %v, want %v", decoded.Errors, anyErr)
		}
	})
}
