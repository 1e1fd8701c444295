package syslog

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics and that what it returns keeps
// its promises (checkInvariants): an error is a *ParseError inside the
// input; a message has PRI parts in range, header fields of printable
// US-ASCII other than the NILVALUE, valid UTF-8 text without trailers, and
// parsing its RFC 5424 encoding gives the same message back. It also
// checks that parsing is deterministic.
//
// Seeds: the golden test inputs. Run with
// go test ./internal/syslog -run '^$' -fuzz FuzzParse -fuzztime 1m
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "parse", "*.txt"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	if fh, err := os.Open(filepath.Join("testdata", "lines.test")); err == nil {
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			line := sc.Text()
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if s, err := strconv.Unquote(line); err == nil {
				line = s
			}
			f.Add([]byte(line))
		}
		fh.Close()
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := testOptions().Parse(in)
		checkInvariants(t, in, m, err)
		m2, err2 := testOptions().Parse(in)
		if (err == nil) != (err2 == nil) || err == nil && !sameMessage(m, m2) {
			t.Fatalf("Parse is not deterministic on %q", in)
		}
	})
}
