package kql

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goldenCase is one case of a testdata/parse file.
type goldenCase struct {
	name  string
	line  int // line of the "===" marker
	input string
	want  string
}

// goldenFile is a parsed testdata/parse file: a free-text header and cases.
type goldenFile struct {
	path   string
	header string
	cases  []goldenCase
}

const (
	caseMarker = "=== "
	wantMarker = "--- want"
)

// readGolden reads a golden file: optional header lines, then cases, each
// a "=== name" line, the KQL input, a "--- want" line and the expected
// output. Trailing blank lines of inputs and outputs are dropped.
func readGolden(tb testing.TB, path string) *goldenFile {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	gf := &goldenFile{path: path}
	var header []string
	var cur *goldenCase
	var in, want []string
	inWant := false
	flush := func() {
		if cur == nil {
			return
		}
		if !inWant {
			tb.Fatalf("%s:%d: case %q has no %q line", path, cur.line, cur.name, wantMarker)
		}
		cur.input = strings.Join(trimBlank(in), "\n")
		cur.want = strings.Join(trimBlank(want), "\n")
		gf.cases = append(gf.cases, *cur)
	}
	seen := map[string]bool{}
	for i, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, caseMarker):
			flush()
			name := strings.TrimSpace(line[len(caseMarker):])
			if name == "" || seen[name] {
				tb.Fatalf("%s:%d: case name %q is empty or repeated", path, i+1, name)
			}
			seen[name] = true
			cur = &goldenCase{name: name, line: i + 1}
			in, want, inWant = nil, nil, false
		case cur == nil:
			header = append(header, line)
		case line == wantMarker && !inWant:
			inWant = true
		case inWant:
			want = append(want, line)
		default:
			in = append(in, line)
		}
	}
	flush()
	gf.header = strings.Join(trimBlank(header), "\n")
	if len(gf.cases) == 0 {
		tb.Fatalf("%s: no cases", path)
	}
	return gf
}

// trimBlank drops trailing blank lines.
func trimBlank(lines []string) []string {
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// write writes the golden file back with the given outputs.
func (gf *goldenFile) write(tb testing.TB, got []string) {
	tb.Helper()
	var b strings.Builder
	if gf.header != "" {
		b.WriteString(gf.header + "\n\n")
	}
	for i, c := range gf.cases {
		fmt.Fprintf(&b, "%s%s\n%s\n%s\n%s\n\n", caseMarker, c.name, c.input, wantMarker, got[i])
	}
	if err := os.WriteFile(gf.path, []byte(strings.TrimRight(b.String(), "\n")+"\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// goldenFiles returns the golden files under testdata/parse.
func goldenFiles(tb testing.TB) []string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "parse", "*.txt"))
	if err != nil {
		tb.Fatal(err)
	}
	if len(files) == 0 {
		tb.Fatal("no golden files under testdata/parse")
	}
	return files
}

// render returns what a golden case expects for src: the canonical
// rendering, or "error: " and the error. It checks the invariants every
// result must meet on the way.
func render(tb testing.TB, src string) string {
	tb.Helper()
	q, err := Parse(src)
	if err != nil {
		checkError(tb, src, err)
		return "error: " + err.Error()
	}
	checkPositions(tb, src, q)
	checkRoundTrip(tb, src, q)
	return q.String()
}

// checkError checks that err is an *Error at a place inside src.
func checkError(tb testing.TB, src string, err error) {
	tb.Helper()
	var e *Error
	if !errors.As(err, &e) {
		tb.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	if e.Offset < 0 || e.Offset > len(src) || e.Msg == "" {
		tb.Fatalf("error %#v: offset outside the query (%d bytes) or no message", e, len(src))
	}
	if want := posOf(src, e.Offset); want != e.Pos {
		tb.Fatalf("error %v: position %+v, but offset %d is at %+v", e, e.Pos, e.Offset, want)
	}
}

// checkRoundTrip checks that the canonical rendering of q parses back to
// a tree with the same rendering. The rendering is longer and has more
// parentheses than the text it comes from, so it is parsed with larger
// limits.
func checkRoundTrip(tb testing.TB, src string, q *Query) {
	tb.Helper()
	text := q.String()
	q2, err := ParseWithLimits(text, Limits{
		MaxBytes:  8 * DefaultLimits.MaxBytes,
		MaxTokens: 8 * DefaultLimits.MaxTokens,
		MaxDepth:  4*DefaultLimits.MaxDepth + 16,
	})
	if err != nil {
		tb.Errorf("the rendering of\n%s\ndoes not parse: %v\nrendering:\n%s", src, err, text)
		return
	}
	if text2 := q2.String(); text2 != text {
		tb.Errorf("the rendering of\n%s\nchanges when parsed again:\n%s\n---\n%s", src, text, text2)
	}
}

// checkPositions checks the Pos of every node: inside the query, its line
// and column those of its offset, not before its parent's or its previous
// sibling's, and at the node's own text for names, calls and operators.
func checkPositions(tb testing.TB, src string, q *Query) {
	tb.Helper()
	var walk func(n Node, depth int)
	walk = func(n Node, depth int) {
		p := n.Position()
		if p.Offset < 0 || p.Offset > len(src) {
			tb.Fatalf("%T at offset %d, outside the query (%d bytes)", n, p.Offset, len(src))
		}
		if want := posOf(src, p.Offset); want != p {
			tb.Fatalf("%T: position %+v, but offset %d is at %+v", n, p, p.Offset, want)
		}
		if msg := textAt(src, n); msg != "" {
			tb.Fatalf("%T at %s: %s", n, p, msg)
		}
		prev := p.Offset
		for _, c := range Children(n) {
			cp := c.Position()
			if cp.Offset < prev {
				tb.Fatalf("%T at %s comes before %s (parent %T at %s)", c, cp, posOf(src, prev), n, p)
			}
			prev = cp.Offset
			walk(c, depth+1)
		}
	}
	walk(q, 0)
}

// textAt returns why the text at n's position does not fit n, or "".
func textAt(src string, n Node) string {
	rest := src[n.Position().Offset:]
	want := ""
	switch n := n.(type) {
	case *Ident:
		if !strings.HasPrefix(rest, "[") && !strings.HasPrefix(rest, n.Name) {
			want = n.Name
		}
	case *Call:
		if !strings.HasPrefix(rest, n.Name) {
			want = n.Name
		}
	case *TableRef:
		if !strings.HasPrefix(rest, "[") && !strings.HasPrefix(rest, n.Name) {
			want = n.Name
		}
	case *Where:
		if !strings.HasPrefix(rest, "where") && !strings.HasPrefix(rest, "filter") {
			want = "where"
		}
	case *Summarize:
		want = prefixOr(rest, "summarize")
	case *Join:
		want = prefixOr(rest, "join")
	case *Union:
		want = prefixOr(rest, "union")
	case *Sort:
		if !strings.HasPrefix(rest, "order") && !strings.HasPrefix(rest, "sort") {
			want = "order"
		}
	case *Project:
		want = prefixOr(rest, "project")
	case *Extend:
		want = prefixOr(rest, "extend")
	case *Dynamic:
		want = prefixOr(rest, "dynamic")
	}
	if want != "" {
		return fmt.Sprintf("expected %q at %q", want, firstLine(rest))
	}
	return ""
}

func prefixOr(s, p string) string {
	if strings.HasPrefix(s, p) {
		return ""
	}
	return p
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 40 {
		s = s[:40]
	}
	return s
}
