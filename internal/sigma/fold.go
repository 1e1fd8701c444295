package sigma

import (
	"strconv"
	"strings"
)

// lower returns s in lower case (strings.ToLower), checking eight bytes
// at a time whether there is anything to change: most texts of audit
// events are lower-case ASCII already.
func lower(s string) string {
	const hi = 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if w&hi != 0 {
			return strings.ToLower(s) // not ASCII
		}
		// A byte is upper case when it is ≥ 'A' (adding 0x3f sets its
		// high bit) and not > 'Z' (adding 0x25 does not). Bytes are below
		// 0x80, so the additions do not carry into the next byte.
		if (w+0x3f3f3f3f3f3f3f3f)&^(w+0x2525252525252525)&hi != 0 {
			return strings.ToLower(s)
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || ('A' <= c && c <= 'Z') {
			return strings.ToLower(s)
		}
	}
	return s
}

// appendNumber appends the shortest decimal form of f, as
// strconv.FormatFloat(f, 'f', -1, 64) writes it.
func appendNumber(b []byte, f float64) []byte {
	if f == float64(int64(f)) && f > -1e15 && f < 1e15 {
		return strconv.AppendInt(b, int64(f), 10)
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}
