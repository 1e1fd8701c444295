package scrub

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func readEvent(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return bytes.TrimSpace(b)
}
