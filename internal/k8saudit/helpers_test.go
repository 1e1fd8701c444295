package k8saudit

import (
	"flag"
	"testing"

	"github.com/cdewatch/cdewatch/internal/golden"
	"github.com/cdewatch/cdewatch/internal/jsonscan"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// offsetIn returns the offset of sub in b when sub is a sub-slice of b (the
// same memory), or -1.
func offsetIn(b, sub []byte) int { return jsonscan.SubsliceOffset(b, sub) }

// readFile, glob, render and checkGolden are the shared golden-file
// helpers, with this package's -update flag.
func readFile(tb testing.TB, path string) []byte { tb.Helper(); return golden.Read(tb, path) }

func glob(tb testing.TB, pattern string) []string { tb.Helper(); return golden.Glob(tb, pattern) }

func render(tb testing.TB, v any) []byte { tb.Helper(); return golden.JSON(tb, v) }

func checkGolden(tb testing.TB, path string, got []byte) {
	tb.Helper()
	golden.Check(tb, path, got, *update)
}
