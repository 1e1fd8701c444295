package ingest

import (
	"strings"
	"testing"
)

func TestJSONPathAt(t *testing.T) {
	doc := `{"a":"x","b":{"c":[1,"4111 1111",{"d":"here"}]},"e":"tail"}`
	for _, tc := range []struct {
		at   string // the text whose first byte is looked up
		want string
	}{
		{`"x"`, "a"},
		{`"4111 1111"`, "b.c[1]"},
		{`1111"`, "b.c[1]"},
		{`"here"`, "b.c[2].d"},
		{`"tail"`, "e"},
		{`1,`, "b.c[0]"},
		{`{"a"`, ""}, // not inside a scalar value
	} {
		off := strings.Index(doc, tc.at)
		if got := JSONPathAt([]byte(doc), off); got != tc.want {
			t.Errorf("JSONPathAt at %q = %q, want %q", tc.at, got, tc.want)
		}
	}
	if got := JSONPathAt([]byte("not json 4111111111111111"), 12); got != "" {
		t.Errorf("not JSON: got %q", got)
	}
}
