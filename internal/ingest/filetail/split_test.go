package filetail

import (
	"bytes"
	"slices"
	"testing"
)

// splitAll feeds data to a splitter in chunks of the given sizes (cycled;
// sizes of 0 count as 1) and returns the lines and the unfinished rest.
func splitAll(limit int, data []byte, sizes []int) (lines [][]byte, rest []byte) {
	s := newSplitter(limit)
	for i := 0; len(data) > 0; i++ {
		n := 1
		if len(sizes) > 0 {
			n = max(sizes[i%len(sizes)], 1)
		}
		chunk := data[:min(n, len(data))]
		data = data[len(chunk):]
		for len(chunk) > 0 {
			line, k, ok := s.next(chunk)
			chunk = chunk[k:]
			if ok {
				lines = append(lines, bytes.Clone(line))
			}
		}
	}
	if s.pending() {
		rest = bytes.Clone(s.rest())
	}
	return lines, rest
}

// splitRef is the obvious definition: split on '\n', cut each line to max+1
// bytes; the bytes after the last '\n' are the rest.
func splitRef(max int, data []byte) (lines [][]byte, rest []byte) {
	parts := bytes.Split(data, []byte{'\n'})
	for _, p := range parts[:len(parts)-1] {
		lines = append(lines, p[:min(len(p), max+1)])
	}
	last := parts[len(parts)-1]
	if len(last) > 0 {
		rest = last[:min(len(last), max+1)]
	}
	return lines, rest
}

func TestSplitLines(t *testing.T) {
	tests := []struct {
		name  string
		max   int
		data  string
		sizes []int
	}{
		{"empty", 8, "", nil},
		{"one line", 8, "abc\n", []int{100}},
		{"empty lines", 8, "\n\n\n", []int{1}},
		{"no newline", 8, "abc", []int{2}},
		{"exactly max", 4, "abcd\nefgh\n", []int{3}},
		{"max+1", 4, "abcde\n", []int{1}},
		{"long line whole chunk", 4, "abcdefghijk\nxy\n", []int{100}},
		{"long line byte by byte", 4, "abcdefghijk\nxy\n", []int{1}},
		{"long unfinished", 4, "ab\ncdefghij", []int{2, 5}},
		{"crlf kept", 8, "a\r\nb\r\n", []int{2}},
		{"mixed chunks", 5, "one\ntwo\nthree-long\nfour\n\nfive", []int{1, 2, 3, 7, 11}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantLines, wantRest := splitRef(tc.max, []byte(tc.data))
			gotLines, gotRest := splitAll(tc.max, []byte(tc.data), tc.sizes)
			if !slices.EqualFunc(gotLines, wantLines, bytes.Equal) {
				t.Errorf("lines = %q, want %q", gotLines, wantLines)
			}
			if !bytes.Equal(gotRest, wantRest) {
				t.Errorf("rest = %q, want %q", gotRest, wantRest)
			}
		})
	}
}

// FuzzSplitLines checks that any chunking of the input gives the same lines
// (and unfinished rest) as splitting it whole.
func FuzzSplitLines(f *testing.F) {
	f.Add([]byte("a\nbb\nccc\n"), []byte{1, 2, 3}, uint8(2))
	f.Add([]byte("no newline at all"), []byte{5}, uint8(4))
	f.Add([]byte("\n\n\nx\n"), []byte{0}, uint8(0))
	f.Add([]byte("a very long line that is cut\nshort\n"), []byte{7, 1}, uint8(3))
	f.Fuzz(func(t *testing.T, data, cuts []byte, maxb uint8) {
		max := 1 + int(maxb)%64
		sizes := make([]int, len(cuts))
		for i, c := range cuts {
			sizes[i] = int(c)
		}
		wantLines, wantRest := splitRef(max, data)
		gotLines, gotRest := splitAll(max, data, sizes)
		if !slices.EqualFunc(gotLines, wantLines, bytes.Equal) {
			t.Fatalf("lines = %q, want %q", gotLines, wantLines)
		}
		if !bytes.Equal(gotRest, wantRest) {
			t.Fatalf("rest = %q, want %q", gotRest, wantRest)
		}
		wholeLines, wholeRest := splitAll(max, data, []int{len(data) + 1})
		if !slices.EqualFunc(gotLines, wholeLines, bytes.Equal) || !bytes.Equal(gotRest, wholeRest) {
			t.Fatalf("chunked split differs from whole split")
		}
	})
}

func BenchmarkSplit(b *testing.B) {
	line := bytes.Repeat([]byte("x"), 511)
	line = append(line, '\n')
	data := bytes.Repeat(line, 512)
	s := newSplitter(defaultMaxLineBytes)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		p := data
		for len(p) > 0 {
			_, n, _ := s.next(p)
			p = p[n:]
		}
	}
}
