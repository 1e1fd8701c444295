package k8saudit

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// The decode golden tests: each testdata/decode/NAME.json is a body given to
// Decode, each testdata/decode/NAME.jsonl a log file whose lines are given
// to DecodeLine, and NAME.golden holds the outcome. An optional
// NAME.limits.json holds the Limits to decode with.

type goldenError struct {
	Index int    `json:"index"`
	Error string `json:"error"`
}

type goldenItem struct {
	Offset int    `json:"offset"` // of Raw in the input
	Length int    `json:"length"`
	Key    string `json:"key"`
	Event  *Event `json:"event"`
}

type goldenDecode struct {
	Error *goldenError `json:"error,omitempty"`
	Items []goldenItem `json:"items"`
}

type goldenLine struct {
	Line  int          `json:"line"`
	Error *goldenError `json:"error,omitempty"`
	Item  *goldenItem  `json:"item,omitempty"`
}

func limitsFor(tb testing.TB, input string) Limits {
	tb.Helper()
	var lim Limits
	b, err := os.ReadFile(strings.TrimSuffix(strings.TrimSuffix(input, ".jsonl"), ".json") + ".limits.json")
	if errors.Is(err, os.ErrNotExist) {
		return lim
	}
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(b, &lim); err != nil {
		tb.Fatal(err)
	}
	return lim
}

func toGoldenError(tb testing.TB, err error) *goldenError {
	tb.Helper()
	var de *DecodeError
	if !errors.As(err, &de) {
		tb.Fatalf("error %v (%T) is not a *DecodeError", err, err)
	}
	return &goldenError{Index: de.Index, Error: err.Error()}
}

// checkItem checks the invariants of a decoded item and returns its golden
// form.
func checkItem(tb testing.TB, input []byte, it *Item, lim Limits) goldenItem {
	tb.Helper()
	off := offsetIn(input, it.Raw)
	if off < 0 {
		tb.Errorf("item %s: Raw is not a sub-slice of the input", it.Event.Key())
	}
	checkItemRaw(tb, it, lim)
	return goldenItem{Offset: off, Length: len(it.Raw), Key: it.Event.Key(), Event: &it.Event}
}

// checkItemRaw checks what Decode promises of every item.
func checkItemRaw(tb testing.TB, it *Item, lim Limits) {
	tb.Helper()
	switch {
	case !utf8.Valid(it.Raw):
		tb.Errorf("item %s: Raw is not valid UTF-8", it.Event.Key())
	case len(it.Raw) > lim.maxEvent():
		tb.Errorf("item %s: Raw has %d bytes, over the limit of %d", it.Event.Key(), len(it.Raw), lim.maxEvent())
	case len(it.Raw) < 2 || it.Raw[0] != '{' || it.Raw[len(it.Raw)-1] != '}':
		tb.Errorf("item %s: Raw %q is not an object", it.Event.Key(), it.Raw)
	case it.Event.AuditID == "" || it.Event.Stage == "":
		tb.Errorf("item %q: empty auditID or stage", it.Event.Key())
	}
}

func TestDecodeGolden(t *testing.T) {
	for _, input := range glob(t, filepath.Join("testdata", "decode", "*.json*")) {
		if strings.HasSuffix(input, ".limits.json") {
			continue
		}
		name := filepath.Base(input)
		t.Run(name, func(t *testing.T) {
			body := readFile(t, input)
			lim := limitsFor(t, input)
			var got []byte
			if strings.HasSuffix(input, ".jsonl") {
				got = render(t, decodeLines(t, body, lim))
			} else {
				var g goldenDecode
				items, err := Decode(body, lim)
				if err != nil {
					if items != nil {
						t.Errorf("Decode returned %d items with error %v", len(items), err)
					}
					g.Error = toGoldenError(t, err)
				}
				g.Items = []goldenItem{}
				for i := range items {
					g.Items = append(g.Items, checkItem(t, body, &items[i], lim))
				}
				got = render(t, g)
			}
			checkGolden(t, strings.TrimSuffix(strings.TrimSuffix(input, ".jsonl"), ".json")+".golden", got)
		})
	}
}

func decodeLines(tb testing.TB, file []byte, lim Limits) []goldenLine {
	tb.Helper()
	var out []goldenLine
	for i, line := range bytes.SplitAfter(file, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		g := goldenLine{Line: i + 1}
		it, err := DecodeLine(line, lim)
		if err != nil {
			g.Error = toGoldenError(tb, err)
			if g.Error.Index != 0 {
				tb.Errorf("line %d: DecodeLine error index %d, want 0", i+1, g.Error.Index)
			}
		} else {
			gi := checkItem(tb, line, &it, lim)
			g.Item = &gi
		}
		out = append(out, g)
	}
	return out
}

// TestDecodeAllOrNothing checks that an error in any item of a list fails
// the whole list and names that item.
func TestDecodeAllOrNothing(t *testing.T) {
	body := benchList(t, 5)
	items, err := Decode(body, Limits{})
	if err != nil || len(items) != 5 {
		t.Fatalf("Decode = %d items, %v", len(items), err)
	}
	for i := range items {
		bad := bytes.Replace(body, []byte(`"auditID":"`+items[i].Event.AuditID+`"`), []byte(`"auditID":""`), 1)
		got, err := Decode(bad, Limits{})
		var de *DecodeError
		if got != nil || !errors.As(err, &de) || de.Index != i || de.Reason != "missing auditID" {
			t.Errorf("item %d without auditID: Decode = %d items, %v", i, len(got), err)
		}
	}
}

// TestDecodeErrorUnwrap checks that a malformed event's error wraps the JSON
// decoder's error.
func TestDecodeErrorUnwrap(t *testing.T) {
	_, err := Decode([]byte(`{"items":[{"auditID":"a","stage":"ResponseComplete","stageTimestamp":"yesterday"}]}`), Limits{})
	var de *DecodeError
	if !errors.As(err, &de) || de.Index != 0 {
		t.Fatalf("Decode error = %v, want an error of item 0", err)
	}
	if errors.Unwrap(err) == nil {
		t.Errorf("error %v wraps nothing", err)
	}
}

// TestDecodeLineTrailingNewline checks that the newline of a log line is not
// part of Raw.
func TestDecodeLineTrailingNewline(t *testing.T) {
	line := []byte("{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"auditID\":\"x\",\"stage\":\"ResponseComplete\"}\r\n")
	it, err := DecodeLine(line, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if want := bytes.TrimSpace(line); !bytes.Equal(it.Raw, want) {
		t.Errorf("Raw = %q, want %q", it.Raw, want)
	}
	if it.Event.Key() != "x/ResponseComplete" {
		t.Errorf("Key = %q", it.Event.Key())
	}
}

// TestDecodeLimitBoundary checks that an event of exactly MaxEventBytes is
// accepted and one byte more is not.
func TestDecodeLimitBoundary(t *testing.T) {
	ev := []byte(`{"auditID":"x","stage":"ResponseComplete"}`)
	if _, err := DecodeLine(ev, Limits{MaxEventBytes: len(ev)}); err != nil {
		t.Errorf("event of exactly the limit: %v", err)
	}
	if _, err := DecodeLine(ev, Limits{MaxEventBytes: len(ev) - 1}); err == nil {
		t.Errorf("event over the limit accepted")
	}
	big := []byte(`{"auditID":"x","stage":"ResponseComplete","userAgent":"` + strings.Repeat("a", DefaultMaxEventBytes) + `"}`)
	if _, err := DecodeLine(big, Limits{}); err == nil {
		t.Errorf("event over the default limit accepted")
	}
}
