package health

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// scanIDStage agrees with encoding/json wherever it answers, and never
// panics.
func FuzzScanIDStage(f *testing.F) {
	for _, s := range []string{
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"6e1f3b6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b","stage":"ResponseComplete","verb":"get"}`,
		`{"auditID":"a","stage":"RequestReceived","objectRef":{"auditID":"inner"},"list":[1,"}",{"stage":"x"}]}`,
		`{"auditID":"a","stage":"b","auditID":"c"}`,
		`{"auditID":"a\u0030","stage":"b"}`,
		`{"stage":"Panic"  ,  "auditID" :"z"}`,
		`{"auditID":"a","stage":"b"} trailing`,
		`{"auditID":"a","stage":`,
		`[]`, `{}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		id, stage, ok := scanIDStage(raw)
		if !ok {
			if id != "" || stage != "" {
				t.Fatalf("declined with values %q %q", id, stage)
			}
			return
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) != nil {
			return // not JSON: the ledger's audit records are
		}
		var wantID, wantStage string
		if json.Unmarshal(m["auditID"], &wantID) != nil || json.Unmarshal(m["stage"], &wantStage) != nil {
			t.Fatalf("scanIDStage(%q) = %q, %q; encoding/json finds no such strings", raw, id, stage)
		}
		if id != wantID || stage != wantStage {
			t.Fatalf("scanIDStage(%q) = %q, %q; encoding/json: %q, %q", raw, id, stage, wantID, wantStage)
		}
		if !bytes.Contains(raw, []byte(id)) || !bytes.Contains(raw, []byte(stage)) {
			t.Fatalf("values not from the input")
		}
	})
}

// splitKey takes the stage after the last slash, and gives back the key.
func FuzzSplitKey(f *testing.F) {
	for _, s := range []string{"a/RequestReceived", "a/b/Panic", "/ResponseComplete", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		id, stage, ok := splitKey(key)
		if !ok {
			return
		}
		if id == "" || id+"/"+stage != key || strings.Contains(stage, "/") {
			t.Fatalf("splitKey(%q) = %q, %q", key, id, stage)
		}
	})
}

// UnmarshalState accepts what MarshalState writes and declines the rest
// without panicking; what it accepts it writes back the same way.
func FuzzUnmarshalState(f *testing.F) {
	h := goldenScenario(f)
	st, err := h.m.MarshalState()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(st)
	f.Add([]byte(`{"v":1,"next":3,"sources":[{"source":"a","all":{"last":5,"gaps":{"n":1,"pos":[[12,1]]}},"skew":{"cur":{"n":1,"neg":[[3,1]]}}}]}`))
	f.Add([]byte(`{"v":1,"sources":[{"source":"a","all":{},"audit":{"pending":[{"id":"x","at":1}]}}],"open":[{"id":"F0123456789abcdef","control":"c"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := New(Config{Audit: (&auditLog{}).audit})
		if err != nil {
			t.Fatal(err)
		}
		if m.UnmarshalState(b) != nil {
			return
		}
		once, err := m.MarshalState()
		if err != nil {
			t.Fatal(err)
		}
		m2, _ := New(Config{Audit: (&auditLog{}).audit})
		if err := m2.UnmarshalState(once); err != nil {
			t.Fatalf("state written by MarshalState declined: %v", err)
		}
		twice, err := m2.MarshalState()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(once, twice) {
			t.Fatalf("state changes when written again:\n%s\n%s", once, twice)
		}
		// The restored monitor works.
		m2.Summary()
		m2.Tick(t.Context(), t0.Add(time.Hour))
	})
}
