package azure

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
)

// seed adds the test data files, whole and line by line.
func seed(f *testing.F, add func([]byte)) {
	for _, file := range glob(f, filepath.Join("testdata", "decode", "*.json*")) {
		b := readFile(f, file)
		add(b)
		for line := range bytes.Lines(b) {
			add(line)
		}
	}
	add(benchBody(f, 3, true))
	add(benchBody(f, 3, false))
}

// FuzzDecodeBody checks that DecodeBody never panics, accepts only JSON
// (by encoding/json) with a records array, returns a record or an error for
// each of its elements and only records that keep their promises (see
// checkRecord and checkAuditRaw).
func FuzzDecodeBody(f *testing.F) {
	seed(f, func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, body []byte) {
		recs, bad, err := DecodeBody(body, Limits{MaxRecordBytes: 1 << 16})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Index != -1 || e.Line != 0 || e.Reason == "" || recs != nil || bad != nil {
				t.Fatalf("body error %#v with %d records, %d bad", err, len(recs), len(bad))
			}
			return
		}
		if !json.Valid(bytes.TrimPrefix(body, bom)) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		var doc struct {
			Records []json.RawMessage `json:"records"`
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(bytes.TrimPrefix(body, bom), &m) != nil || json.Unmarshal(m["records"], &doc.Records) != nil {
			t.Fatalf("encoding/json cannot read the records of %q", body)
		}
		if len(recs)+len(bad) != len(doc.Records) {
			t.Fatalf("%d records + %d errors for %d elements", len(recs), len(bad), len(doc.Records))
		}
		checkResults(t, body, recs, bad, doc.Records)
	})
}

// FuzzDecodeLines checks that DecodeLines never panics, reports problems
// as *Error with their line, in order, and returns only records that keep
// their promises.
func FuzzDecodeLines(f *testing.F) {
	seed(f, func(b []byte) { f.Add(b, uint16(0)) })
	f.Add([]byte("{\"time\":\"2025-01-01T00:00:00Z\",\"category\":\"guard\",\"properties\":{\"log\":\"x\"}}\n"), uint16(40))
	f.Fuzz(func(t *testing.T, data []byte, limit uint16) {
		lim := Limits{MaxLineBytes: int(limit)}
		lastLine, lastIndex := 0, -2
		order := func(line, index int) {
			if line < lastLine || line == lastLine && index <= lastIndex && index != -1 || line < 1 {
				t.Fatalf("line %d index %d after line %d index %d", line, index, lastLine, lastIndex)
			}
			lastLine, lastIndex = line, index
		}
		var recs []Record
		var bad []*Error
		err := DecodeLines(bytes.NewReader(data), lim, func(r Record) error {
			order(r.Line, r.Index)
			recs = append(recs, r)
			return nil
		}, func(e *Error) error {
			if e.Reason == "" || e.Line < 1 {
				t.Fatalf("error %#v", e)
			}
			order(e.Line, e.Index)
			bad = append(bad, e)
			return nil
		})
		if err != nil {
			t.Fatalf("DecodeLines: %v", err)
		}
		max := lim.MaxLineBytes
		if max <= 0 {
			max = DefaultMaxLineBytes
		}
		for i := range recs {
			if len(recs[i].Raw) > max {
				t.Fatalf("record of %d bytes from a line over the limit %d", len(recs[i].Raw), max)
			}
		}
		checkResults(t, nil, recs, nil, nil)
	})
}

// checkResults checks the records (with checkRecord) and errors of an input;
// elems, when known, are the elements of the records array as encoding/json
// reads them.
func checkResults(t *testing.T, body []byte, recs []Record, bad []*Error, elems []json.RawMessage) {
	for i := range recs {
		r := &recs[i]
		checkRecord(t, body, r)
		if elems != nil && !bytes.Equal(r.Raw, elems[r.Index]) {
			t.Fatalf("record %d: Raw %q, encoding/json reads %q", r.Index, r.Raw, elems[r.Index])
		}
		checkAuditRaw(t, r)
	}
	for _, e := range bad {
		if e.Index < 0 || e.Reason == "" || (elems != nil && !bytes.Equal(e.Raw, elems[e.Index])) {
			t.Fatalf("record error %#v", e)
		}
	}
}

// checkAuditRaw checks the second decoding of properties.log against
// encoding/json's.
func checkAuditRaw(t *testing.T, r *Record) {
	if r.Audit == nil {
		return
	}
	var rec map[string]json.RawMessage
	var props map[string]json.RawMessage
	if json.Unmarshal(r.Raw, &rec) != nil {
		t.Fatalf("record %q", r.Raw)
	}
	for k, v := range rec {
		if k == "properties" {
			_ = json.Unmarshal(v, &props)
		}
	}
	var log string
	if json.Unmarshal(props["log"], &log) != nil {
		return // an object
	}
	if want := bytes.TrimSpace([]byte(log)); !bytes.Equal(r.Audit.Raw, want) {
		t.Fatalf("audit Raw %q, encoding/json decodes the log to %q", r.Audit.Raw, want)
	}
}
