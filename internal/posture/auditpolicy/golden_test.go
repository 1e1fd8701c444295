package auditpolicy

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestReportGolden pins the text and JSON reports of the test policies.
func TestReportGolden(t *testing.T) {
	tests := []struct {
		file string
		opts Options
	}{
		{"guide-sample.yaml", Options{CDENamespaces: []string{"payments", "vault"}}},
		{"stages.yaml", Options{CDENamespaces: []string{"payments"}, LogNamespaces: []string{"logging"}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r, err := Check(mustParse(t, readTestdata(t, tt.file)), tt.file, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			assertKnownIDs(t, r.Findings)
			var text, js bytes.Buffer
			if err := r.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if err := r.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			base := filepath.Join("testdata", strings.TrimSuffix(tt.file, ".yaml"))
			checkGolden(t, base+".text.golden", text.Bytes())
			checkGolden(t, base+".json.golden", js.Bytes())
		})
	}
}

// TestParseErrorsGolden pins the wording of the errors for the files
// under testdata/invalid.
func TestParseErrorsGolden(t *testing.T) {
	var out bytes.Buffer
	for _, file := range globTestdata(t, filepath.Join("testdata", "invalid", "*.yaml")) {
		_, err := Parse(readFile(t, file))
		var pe *Error
		if !errors.As(err, &pe) {
			t.Fatalf("%s: got %v, want an *Error", file, err)
		}
		fmt.Fprintf(&out, "== %s\n%s\n", filepath.Base(file), err)
	}
	checkGolden(t, filepath.Join("testdata", "invalid", "errors.golden"), out.Bytes())
}

func globTestdata(tb testing.TB, pattern string) []string {
	tb.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		tb.Fatalf("no test data matches %s (%v)", pattern, err)
	}
	return files
}
