// Package jsonscan holds the byte-level JSON scanning the decoders share
// (k8saudit, index, azure): skipping white space, strings and whole values
// without decoding them, eight bytes at a time where it pays. SkipValue and
// SkipString find boundaries only; what a value holds is checked by whoever
// decodes it, or by SkipValid, which finds a value's end and validates it
// in one pass.
package jsonscan

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// IsSpace reports whether c is JSON white space.
func IsSpace(c byte) bool {
	return c <= ' ' && (c == ' ' || c == '\t' || c == '\n' || c == '\r')
}

// SkipSpace returns the offset of the first byte at or after p that is
// not white space (len(b) when there is none).
func SkipSpace(b []byte, p int) int {
	for p < len(b) && IsSpace(b[p]) {
		p++
	}
	return p
}

// SkipString returns the offset after the string that starts at b[p] ('"'),
// or -1 when it is not terminated. Escapes are only skipped, not checked.
func SkipString(b []byte, p int) int {
	p++
	// Eight bytes at a time, up to the first quote or backslash.
	for p+8 <= len(b) {
		w := binary.LittleEndian.Uint64(b[p:])
		m := hasByte(w, '"') | hasByte(w, '\\')
		if m == 0 {
			p += 8
			continue
		}
		p += bits.TrailingZeros64(m) >> 3
		if b[p] == '"' {
			return p + 1
		}
		p += 2 // an escape: the backslash and the byte after it
	}
	for ; p < len(b); p++ {
		if c := b[p]; c == '"' {
			return p + 1
		} else if c == '\\' {
			p++
		}
	}
	return -1
}

// hasByte returns a word whose lowest set bit is the high bit of the first
// byte of w equal to c, or 0 when there is none. Bits above that one may be
// set wrongly.
func hasByte(w uint64, c byte) uint64 {
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	x := w ^ (lsb * uint64(c))
	return (x - lsb) &^ x & msb
}

// structural marks the bytes SkipValue stops at inside objects and arrays.
var structural = [256]bool{'"': true, '{': true, '[': true, '}': true, ']': true}

// SkipValue returns the offset after the value that starts at b[p], or -1
// when there is none. Objects and arrays are skipped by counting brackets and
// skipping strings: their content is checked later.
func SkipValue(b []byte, p int) int {
	if p >= len(b) {
		return -1
	}
	switch c := b[p]; c {
	case '"':
		return SkipString(b, p)
	case '{', '[':
		depth := 0
		for p < len(b) {
			c := b[p]
			if !structural[c] {
				p++
				continue
			}
			switch c {
			case '"':
				if p = SkipString(b, p); p < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			default: // '}', ']'
				depth--
				if depth == 0 {
					return p + 1
				}
			}
			p++
		}
		return -1
	default:
		// A number or a literal: up to the next delimiter.
		s := p
		for p < len(b) {
			switch b[p] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				if p == s {
					return -1
				}
				return p
			}
			p++
		}
		if p == s {
			return -1
		}
		return p
	}
}

// Hex4 returns the value of the four hexadecimal digits of h, or -1.
func Hex4(h []byte) rune {
	if len(h) < 4 {
		return -1
	}
	var r rune
	for _, c := range h[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// AppendUnescaped appends to dst the bytes that in, the content of a JSON
// string between its quotes, encodes. A lone surrogate escape becomes
// U+FFFD, as with encoding/json; a malformed escape is an error. Bytes
// that are not escapes are copied as they are: check UTF-8 first.
func AppendUnescaped(dst, in []byte) ([]byte, error) {
	for len(in) > 0 {
		i := bytes.IndexByte(in, '\\')
		if i < 0 {
			i = len(in)
		}
		dst = append(dst, in[:i]...)
		in = in[i:]
		if len(in) == 0 {
			break
		}
		if len(in) < 2 {
			return dst, errors.New("truncated escape")
		}
		switch c := in[1]; c {
		case '"', '\\', '/':
			dst = append(dst, c)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := Hex4(in[2:])
			if r < 0 {
				return dst, errors.New("invalid \\u escape")
			}
			in = in[6:]
			if utf16.IsSurrogate(r) {
				if r2 := Hex4(in[min(2, len(in)):]); r2 >= 0 && len(in) >= 6 && in[0] == '\\' && in[1] == 'u' {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						dst = utf8.AppendRune(dst, d)
						in = in[6:]
						continue
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default:
			return dst, errors.New("invalid escape")
		}
		in = in[2:]
	}
	return dst, nil
}

// SubsliceOffset returns the offset of sub in b when sub is a sub-slice of
// b (the same memory, as the decoders' raw values are of their input), or
// -1.
func SubsliceOffset(b, sub []byte) int {
	if len(sub) == 0 || cap(sub) > cap(b) {
		return -1
	}
	off := cap(b) - cap(sub)
	if off > len(b)-len(sub) || &b[off] != &sub[0] {
		return -1
	}
	return off
}

const hexDigits = "0123456789abcdef"

// AppendString appends s to dst as a JSON string, escaped as encoding/json
// does: quotes, backslashes and control characters escaped (\n, \r, \t,
// \b, \f, else \u00XX), U+2028 and U+2029 escaped, invalid UTF-8 replaced by
// U+FFFD, and with html also <, > and & escaped (\u003c, …).
func AppendString(dst []byte, s string, html bool) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && (!html || (c != '<' && c != '>' && c != '&')) {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Next moves past the white space after a member or element ending at p
// and the comma or closing bracket after that. It returns the offset
// after them (and after the white space following a comma) and whether
// there was a comma, or -1 when p < 0 or neither follows.
func Next(b []byte, p int, closing byte) (int, bool) {
	if p < 0 {
		return -1, false
	}
	p = SkipSpace(b, p)
	if p >= len(b) {
		return -1, false
	}
	switch b[p] {
	case ',':
		return SkipSpace(b, p+1), true
	case closing:
		return p + 1, false
	}
	return -1, false
}
