package kql

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the expectations of the golden files under testdata/parse")

// TestGolden runs the cases of testdata/parse/*.txt: each KQL input must
// parse to the expected canonical rendering, or fail with the expected
// error. With -update the expectations are rewritten from the results.
func TestGolden(t *testing.T) {
	total := 0
	for _, path := range goldenFiles(t) {
		gf := readGolden(t, path)
		got := make([]string, len(gf.cases))
		for i, c := range gf.cases {
			total++
			t.Run(strings.TrimSuffix(filepath.Base(path), ".txt")+"/"+c.name, func(t *testing.T) {
				got[i] = render(t, c.input)
				if !*update && got[i] != c.want {
					t.Errorf("%s:%d: %s\n--- input\n%s\n--- got\n%s\n--- want\n%s", path, c.line, c.name, c.input, got[i], c.want)
				}
			})
		}
		if *update {
			gf.write(t, got)
		}
	}
	t.Logf("%d golden cases", total)
}
