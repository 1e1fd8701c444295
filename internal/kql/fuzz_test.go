package kql

import (
	"testing"
	"time"
)

// FuzzParse checks that Parse never panics, returns within seconds on
// any input (the bound is loose so that a loaded machine does not fail it;
// it is there to catch a hang or a blow-up, TestLimits times the large
// inputs), reports errors as *Error at a place inside the query, gives
// every node a consistent position and renders every query it accepts to
// text that parses back to the same rendering. The corpus is seeded from
// the inputs of the golden files.
func FuzzParse(f *testing.F) {
	for _, path := range goldenFiles(f) {
		for _, c := range readGolden(f, path).cases {
			f.Add(c.input)
		}
	}
	f.Fuzz(func(t *testing.T, src string) {
		start := time.Now()
		q, err := Parse(src)
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("Parse took %v on %d bytes", d, len(src))
		}
		if err != nil {
			if q != nil {
				t.Fatalf("a query and an error: %v", err)
			}
			checkError(t, src, err)
			return
		}
		checkPositions(t, src, q)
		checkRoundTrip(t, src, q)
	})
}
