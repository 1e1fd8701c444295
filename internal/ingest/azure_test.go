package ingest

import (
	"os"
	"path/filepath"
	"testing"
)

// TestAzureDecodeShapes: an Event Hubs body, JSON lines, and a single
// record (indented over several lines) are all read.
func TestAzureDecodeShapes(t *testing.T) {
	dir := filepath.Join("..", "azure", "testdata", "decode")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a := &Azure{}
	for _, tc := range []struct {
		name      string
		body      []byte
		good, bad int
	}{
		{"event hubs body", read("eventhubs-activity.json"), 3, 0},
		{"blob lines", read("pt1h-kube-audit.jsonl"), 4, 4}, // the sample has four bad lines
		{"lines with bad ones", read("lines-mixed.jsonl"), 3, 5},
		{"single record", []byte("{\n  \"time\": \"2025-04-20T16:29:59Z\",\n  \"category\": \"guard\",\n  \"properties\": {\"log\": \"I0420 ok\"}\n}\n"), 1, 0},
		{"single bad record", []byte(`{"time":"yesterday","category":"guard","properties":{"log":"x"}}`), 0, 1},
	} {
		recs, bad, err := a.Decode(tc.body)
		if err != nil || len(recs) != tc.good || len(bad) != tc.bad {
			t.Errorf("%s: %d good, %d bad, err %v; want %d, %d", tc.name, len(recs), len(bad), err, tc.good, tc.bad)
		}
	}
	if _, _, err := a.Decode([]byte(`{"records": 5}`)); err == nil {
		t.Error("records not an array: accepted")
	}
}
