package sigma

import (
	"strconv"
	"strings"
	"testing"
)

func TestLower(t *testing.T) {
	for _, s := range []string{"", "a", "A", "abcdefgh", "abcdefgH", "Abcdefghijklmnop", "abcdefghijklmnoZ", "@[`{", "/api/v1/Namespaces",
		"ÉCOLE", "kubelet/v1.31.4 (linux/amd64) kubernetes/6ae7e8c", "ZZZZZZZZZ", "\x7f\x40\x5b\x60\x7b", "straße İ K"} {
		if got, want := lower(s), strings.ToLower(s); got != want {
			t.Errorf("lower(%q) = %q, want %q", s, got, want)
		}
	}
	for i := 0; i < 256; i++ {
		s := strings.Repeat("x", i%9) + string(rune(i))
		if got, want := lower(s), strings.ToLower(s); got != want {
			t.Errorf("lower(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestAppendNumber(t *testing.T) {
	for _, f := range []float64{0, 1, -1, 200, 403.5, 1e15, 1e21, -1e15 + 1, 0.1, 123456789012345, -0.0} {
		if got, want := string(appendNumber(nil, f)), strconv.FormatFloat(f, 'f', -1, 64); got != want {
			t.Errorf("appendNumber(%v) = %s, want %s", f, got, want)
		}
	}
}
