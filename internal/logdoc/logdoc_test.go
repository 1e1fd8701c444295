package logdoc

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cdewatch/cdewatch/internal/golden"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestExtract reads every testdata/*.json document and compares what
// Extract found with testdata/*.golden.
func TestExtract(t *testing.T) {
	for _, in := range golden.Glob(t, "testdata/*.json") {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			c, ok := Extract(golden.Read(t, in))
			if !ok {
				t.Fatal("not read as a document")
			}
			golden.Check(t, filepath.Join("testdata", name+".golden"), golden.JSON(t, c), *update)
		})
	}
}

func TestExtractNotObject(t *testing.T) {
	for _, in := range []string{``, `[]`, `"x"`, `{`, `null`} {
		if _, ok := Extract([]byte(in)); ok {
			t.Errorf("Extract(%q) read a document", in)
		}
	}
}

func TestSplitImage(t *testing.T) {
	for _, tc := range []struct{ in, image, tag string }{
		{"nginx", "nginx", ""},
		{"nginx:1.27", "nginx", "1.27"},
		{"localhost:5000/app", "localhost:5000/app", ""},
		{"localhost:5000/app:v2", "localhost:5000/app", "v2"},
		{"repo/app@sha256:abc", "repo/app", "sha256:abc"},
	} {
		if i, tg := splitImage(tc.in); i != tc.image || tg != tc.tag {
			t.Errorf("splitImage(%q) = %q, %q; want %q, %q", tc.in, i, tg, tc.image, tc.tag)
		}
	}
}

func FuzzExtract(f *testing.F) {
	for _, in := range golden.Glob(f, "testdata/*.json") {
		f.Add(golden.Read(f, in))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, ok := Extract(doc)
		if !ok && c != (Container{}) {
			t.Fatalf("not a document but fields found: %+v", c)
		}
		if !c.Time.IsZero() && c.Time.Location().String() != "UTC" {
			t.Fatalf("time not UTC: %v", c.Time)
		}
	})
}
