package jsonscan

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// MaxDepth is how deeply SkipValid lets objects and arrays nest, as
// goccy/go-json's decoder does.
const MaxDepth = 10000

// SkipValid returns the offset after the value that starts at b[p] when
// that value is JSON as RFC 8259 defines it, in valid UTF-8, with no lone
// UTF-16 surrogate escape (\ud800 without its other half, which the RFC's
// grammar allows and DuckDB's JSON reader rejects) and nested at most
// MaxDepth deep; else -1. It is SkipValue and a validator in one pass.
func SkipValid(b []byte, p int) int {
	var small [64]byte
	end, _ := skipValid(b, p, 0, false, small[:0])
	return end
}

// A Validator checks values as SkipValid does, reusing its memory from
// call to call. Its zero value accepts, as encoding/json does, a \u escape
// of half a surrogate pair without the other half (which it decodes as
// U+FFFD); RejectLoneSurrogates makes SkipValid's checks. It is not safe
// for concurrent use.
type Validator struct {
	RejectLoneSurrogates bool
	stack                []byte
}

// Skip returns the offset after the valid value at b[p], which is nested
// in depth objects and arrays already (they count towards MaxDepth), or
// -1.
func (v *Validator) Skip(b []byte, p, depth int) int {
	end, stack := skipValid(b, p, depth, !v.RejectLoneSurrogates, v.stack[:0])
	v.stack = stack
	return end
}

// skipValid is SkipValid for a value nested depth deep, accepting lone
// surrogate escapes if lone; stack, empty, may have room for the open
// containers. It returns stack, grown, for reuse.
func skipValid(b []byte, p, depth int, lone bool, stack []byte) (int, []byte) {
	for {
		// A value starts at p.
		if p >= len(b) {
			return -1, stack
		}
		switch c := b[p]; c {
		case '{', '[':
			if depth+len(stack) >= MaxDepth {
				return -1, stack
			}
			stack = append(stack, c)
			p = SkipSpace(b, p+1)
			if p < len(b) && b[p] == c+2 { // '}' is '{'+2, ']' is '['+2
				stack = stack[:len(stack)-1]
				p++
				break
			}
			if c == '{' {
				if p = validKey(b, p, lone); p < 0 {
					return -1, stack
				}
			}
			continue
		case '"':
			if p = validString(b, p, lone); p < 0 {
				return -1, stack
			}
		case 't':
			if p = literal(b, p, "true"); p < 0 {
				return -1, stack
			}
		case 'f':
			if p = literal(b, p, "false"); p < 0 {
				return -1, stack
			}
		case 'n':
			if p = literal(b, p, "null"); p < 0 {
				return -1, stack
			}
		default:
			if p = SkipNumber(b, p); p < 0 {
				return -1, stack
			}
		}
		// After a value: close containers, or move to the next value.
		for {
			if len(stack) == 0 {
				return p, stack
			}
			top := stack[len(stack)-1]
			p = SkipSpace(b, p)
			if p >= len(b) {
				return -1, stack
			}
			if b[p] == top+2 {
				stack = stack[:len(stack)-1]
				p++
				continue
			}
			if b[p] != ',' {
				return -1, stack
			}
			p = SkipSpace(b, p+1)
			if top == '{' {
				if p = validKey(b, p, lone); p < 0 {
					return -1, stack
				}
			}
			break
		}
	}
}

// validKey checks a member's name and colon at b[p] and returns the offset
// of its value (after white space), or -1.
func validKey(b []byte, p int, lone bool) int {
	if p >= len(b) || b[p] != '"' {
		return -1
	}
	if p = validString(b, p, lone); p < 0 {
		return -1
	}
	p = SkipSpace(b, p)
	if p >= len(b) || b[p] != ':' {
		return -1
	}
	return SkipSpace(b, p+1)
}

// literal checks that b[p:] starts with lit and returns the offset after
// it, or -1.
func literal(b []byte, p int, lit string) int {
	if len(b)-p < len(lit) || string(b[p:p+len(lit)]) != lit {
		return -1
	}
	return p + len(lit)
}

// SkipNumber checks the number at b[p] (-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?,
// RFC 8259) and returns the offset after it, or -1.
func SkipNumber(b []byte, p int) int {
	if p < len(b) && b[p] == '-' {
		p++
	}
	switch {
	case p >= len(b):
		return -1
	case b[p] == '0':
		p++
	case '1' <= b[p] && b[p] <= '9':
		p = digits(b, p+1)
	default:
		return -1
	}
	if p < len(b) && b[p] == '.' {
		q := digits(b, p+1)
		if q == p+1 {
			return -1
		}
		p = q
	}
	if p < len(b) && (b[p] == 'e' || b[p] == 'E') {
		p++
		if p < len(b) && (b[p] == '+' || b[p] == '-') {
			p++
		}
		q := digits(b, p)
		if q == p {
			return -1
		}
		p = q
	}
	return p
}

func digits(b []byte, p int) int {
	for p < len(b) && '0' <= b[p] && b[p] <= '9' {
		p++
	}
	return p
}

// SpecialBytes returns a word whose lowest set bit is the high bit of the
// first byte of w (eight bytes of a string's content, little-endian) that
// is a quote, a backslash, a control character or not ASCII, or 0 when
// there is none. Bits above that one may be set wrongly.
func SpecialBytes(w uint64) uint64 {
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	q := w ^ (lsb * '"')
	s := w ^ (lsb * '\\')
	return ((q-lsb)&^q | (s-lsb)&^s | (w-lsb*0x20)&^w | w) & msb
}

// validString checks the string at b[p] ('"') — escapes, no control
// characters, valid UTF-8, no lone surrogate escape unless lone — and
// returns the offset after it, or -1.
func validString(b []byte, p int, lone bool) int {
	p++
	for {
		// Eight bytes at a time, up to the first byte that is a quote, a
		// backslash, a control character or not ASCII.
		for p+8 <= len(b) {
			m := SpecialBytes(binary.LittleEndian.Uint64(b[p:]))
			if m == 0 {
				p += 8
				continue
			}
			p += bits.TrailingZeros64(m) >> 3
			break
		}
		if p >= len(b) {
			return -1
		}
		switch c := b[p]; {
		case c == '"':
			return p + 1
		case c == '\\':
			if p = validEscape(b, p, lone); p < 0 {
				return -1
			}
		case c < 0x20:
			return -1
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(b[p:])
			if r == utf8.RuneError && size <= 1 {
				return -1
			}
			p += size
		default:
			p++
		}
	}
}

// validEscape checks the escape at b[p] ('\\') and returns the offset
// after it (after both halves of a surrogate pair), or -1. Half a pair
// alone is an error unless lone.
func validEscape(b []byte, p int, lone bool) int {
	if p+1 >= len(b) {
		return -1
	}
	switch b[p+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return p + 2
	case 'u':
	default:
		return -1
	}
	r := Hex4(b[p+2:])
	switch {
	case r < 0:
		return -1
	case lone || r < 0xd800 || r > 0xdfff:
		return p + 6
	case r >= 0xdc00: // a low half first
		return -1
	}
	// A high half: the low half must follow.
	p += 6
	if p+1 >= len(b) || b[p] != '\\' || b[p+1] != 'u' {
		return -1
	}
	if lo := Hex4(b[p+2:]); lo < 0xdc00 || lo > 0xdfff {
		return -1
	}
	return p + 6
}
