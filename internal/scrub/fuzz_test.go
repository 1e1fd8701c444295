package scrub

import (
	"bytes"
	"encoding/json"
	"testing"
)

// oracle returns the spans of the plainly bounded PANs in b: maximal runs of
// 13–19 digits, not touching a letter, not part of a decimal fraction or an
// exponent, Luhn-valid, with a known IIN. It is a deliberately simple,
// independent reimplementation of the core rule: the scrubber must find
// every one of them, and its output must contain none.
func oracle(b []byte) [][2]int {
	var out [][2]int
	for i := 0; i < len(b); {
		if !isDigit(b[i]) {
			i++
			continue
		}
		j := i
		for j < len(b) && isDigit(b[j]) {
			j++
		}
		ok := j-i >= minPAN && j-i <= maxPAN
		if i > 0 {
			c := b[i-1]
			ok = ok && !isAlpha(c) && c != '.' && c != '-' && c != '+' && c != '%' && c != '\\'
		}
		if j < len(b) {
			ok = ok && !isAlpha(b[j]) && b[j] != '.'
		}
		if ok && luhn(b, i, j) {
			if _, known := iin(&Scrubber{}, b, i, j, j-i); known {
				out = append(out, [2]int{i, j})
			}
		}
		i = j
	}
	return out
}

func FuzzScrub(f *testing.F) {
	for _, tc := range golden {
		f.Add([]byte(tc.in))
	}
	for _, tc := range traps {
		f.Add([]byte(tc.in))
	}
	f.Add(readEvent(f, "lease-update.json"))
	f.Add(readEvent(f, "configmap-create.json"))
	s := New(Options{})
	f.Fuzz(func(t *testing.T, in []byte) {
		orig := bytes.Clone(in)
		out, hits := s.Bytes(nil, in)
		if !bytes.Equal(in, orig) {
			t.Fatal("input modified")
		}
		if len(out) != len(in) {
			t.Fatalf("length %d → %d", len(in), len(out))
		}
		// Only hit spans change, and within them only what masking may
		// touch: digits of a PAN (to the mask byte or another digit),
		// anything but sentinels in a track.
		covered := make([]bool, len(in))
		last := -1
		for _, h := range hits {
			if h.Offset < 0 || h.Len < minPAN || h.Offset+h.Len > len(in) || h.Offset < last {
				t.Fatalf("bad hit %+v (previous end %d)", h, last)
			}
			last = h.Offset
			for k := h.Offset; k < h.Offset+h.Len; k++ {
				covered[k] = true
			}
		}
		for k := range in {
			if in[k] != out[k] {
				if !covered[k] {
					t.Fatalf("byte %d changed outside hits: %q → %q", k, in[k], out[k])
				}
				if out[k] != '*' && !isDigit(out[k]) {
					t.Fatalf("byte %d changed to %q", k, out[k])
				}
			}
		}
		// Recall: every plainly bounded PAN of the input is masked.
		for _, sp := range oracle(in) {
			for k := sp[0]; k < sp[1]; k++ {
				if !covered[k] {
					t.Fatalf("missed PAN at %d–%d in %q", sp[0], sp[1], in)
				}
			}
		}
		// Nothing flaggable is left, and scrubbing again finds nothing.
		if left := oracle(out); len(left) != 0 {
			t.Fatalf("output %q still has a PAN at %v", out, left)
		}
		again, h2 := s.Bytes(nil, out)
		if len(h2) != 0 || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q → %q (%+v)", out, again, h2)
		}
		// String agrees with Bytes.
		if str, h3 := s.String(string(in)); str != string(out) || len(h3) != len(hits) {
			t.Fatalf("String = %q, Bytes = %q", str, out)
		}
		// Valid JSON stays valid JSON.
		if json.Valid(in) && !json.Valid(out) {
			t.Fatalf("JSON broken: %q → %q", in, out)
		}
	})
}
