package kql

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpusExample is one line of kql-docs/kql_doc_examples.jsonl.
type corpusExample struct {
	SourceFile string `json:"source_file"`
	Heading    string `json:"heading"`
	Query      string `json:"query"`
	// ExpectedOutput is the output the docs show, usually a markdown table
	// (TestConformance compares it).
	ExpectedOutput string `json:"expected_output_markdown"`
}

// loadCorpus reads the KQL documentation examples from the corpora
// directory named by CDEWATCH_CORPORA, skipping the test when it is unset.
func loadCorpus(tb testing.TB) []corpusExample {
	tb.Helper()
	dir := os.Getenv("CDEWATCH_CORPORA")
	if dir == "" {
		tb.Skip("CDEWATCH_CORPORA is not set: set it to the corpora directory (../shared/corpora, relative to the module root) to parse the KQL documentation examples")
	}
	if !filepath.IsAbs(dir) {
		// relative to the module root, where the project's commands run
		root, err := moduleRoot()
		if err != nil {
			tb.Fatal(err)
		}
		dir = filepath.Join(root, dir)
	}
	path := filepath.Join(dir, "kql-docs", "kql_doc_examples.jsonl")
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []corpusExample
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var ex corpusExample
		if err := json.Unmarshal(sc.Bytes(), &ex); err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
		out = append(out, ex)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// moduleRoot returns the directory of the go.mod above the working
// directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// TestCorpus parses every query of the KQL documentation examples and
// reports the pass rate with the failures. Every query that parses must
// also survive a round trip through Format.
func TestCorpus(t *testing.T) {
	examples := loadCorpus(t)
	var failures []string
	reasons := map[string]int{}
	for i, ex := range examples {
		q, err := Parse(ex.Query)
		if err != nil {
			failures = append(failures, fmt.Sprintf("#%d %s (%s): %v", i, ex.SourceFile, ex.Heading, err))
			var e *Error
			if errors.As(err, &e) {
				reasons[e.Msg]++
			}
			continue
		}
		checkRoundTrip(t, ex.Query, q)
		checkPositions(t, ex.Query, q)
		checkChildren(t, ex.SourceFile, q)
	}
	pass := len(examples) - len(failures)
	t.Logf("parsed %d of %d KQL documentation examples (%.1f%%)", pass, len(examples), 100*float64(pass)/float64(len(examples)))
	if len(failures) > 0 {
		var byReason []string
		for _, r := range sortedKeys(reasons) {
			byReason = append(byReason, fmt.Sprintf("%3d  %s", reasons[r], r))
		}
		t.Logf("failures by reason:\n%s", strings.Join(byReason, "\n"))
		t.Logf("%d failures:\n%s", len(failures), strings.Join(failures, "\n"))
	}
}
