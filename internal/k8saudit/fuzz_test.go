package k8saudit

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
)

// FuzzDecode checks that Decode and DecodeLine never panic, that what they
// accept is JSON (by encoding/json) and that every item they return is a
// valid UTF-8 object within the limit, a part of the input. It normalizes
// the items too, to fuzz the classifier with them, and checks the decoder
// against the JSON decoder (see checkDecoder) on the input and on the items.
// The corpus is seeded from the test data and the cases of TestDecoderCases.
func FuzzDecode(f *testing.F) {
	for _, pattern := range []string{"decode/*.json", "decode/*.jsonl", "classify/*.json", "bench/*.json"} {
		for _, file := range glob(f, filepath.Join("testdata", pattern)) {
			b := readFile(f, file)
			f.Add(b, uint16(0))
			f.Add(b, uint16(1024))
			for line := range bytes.Lines(b) {
				f.Add(line, uint16(0))
			}
		}
	}
	for _, c := range decoderCases {
		if len(c.in) < 1000 {
			f.Add([]byte(c.in), uint16(0))
		}
	}
	c := NewClassifier(testConfig)
	f.Fuzz(func(t *testing.T, body []byte, limit uint16) {
		lim := Limits{MaxEventBytes: int(limit)}
		items, err := Decode(body, lim)
		checkFuzzResult(t, "Decode", body, items, err, lim)
		for i := range items {
			c.Normalize(&items[i], testSource, testReceived)
			checkDecoder(t, items[i].Raw)
		}
		checkDecoder(t, body)

		it, err := DecodeLine(body, lim)
		var line []Item
		if err == nil {
			line = []Item{it}
		}
		checkFuzzResult(t, "DecodeLine", body, line, err, lim)
		if err != nil {
			var de *DecodeError
			if errors.As(err, &de) && de.Index != 0 {
				t.Errorf("DecodeLine: error index %d, want 0", de.Index)
			}
		}
	})
}

func checkFuzzResult(t *testing.T, fn string, body []byte, items []Item, err error, lim Limits) {
	t.Helper()
	if err != nil {
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Fatalf("%s: error %v (%T) is not a *DecodeError", fn, err, err)
		}
		if items != nil || de.Index < -1 || de.Reason == "" {
			t.Fatalf("%s: %d items with error %#v", fn, len(items), de)
		}
		return
	}
	if !json.Valid(body) {
		t.Fatalf("%s accepted invalid JSON %q", fn, body)
	}
	for i := range items {
		it := &items[i]
		checkItemRaw(t, it, lim)
		if offsetIn(body, it.Raw) < 0 {
			t.Fatalf("%s: item %d: Raw is not a part of the input", fn, i)
		}
		if !json.Valid(it.Raw) {
			t.Fatalf("%s: item %d: Raw %q is not JSON", fn, i, it.Raw)
		}
	}
}
