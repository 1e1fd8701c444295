package scrub

import (
	"fmt"
	"slices"
)

// Kind says what a Hit found.
type Kind uint8

// The kinds of sensitive data the scrubber finds.
const (
	KindPAN    Kind = iota + 1 // a primary account number in free text
	KindTrack1                 // magnetic-stripe track 1 data (%B<PAN>^NAME^…?)
	KindTrack2                 // magnetic-stripe track 2 data (;<PAN>=YYMM…?)
)

// String returns "pan", "track1" or "track2".
func (k Kind) String() string {
	switch k {
	case KindPAN:
		return "pan"
	case KindTrack1:
		return "track1"
	case KindTrack2:
		return "track2"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Hit describes one masked finding. It never carries the number itself.
type Hit struct {
	Kind Kind
	// Offset and Len delimit the masked span in the input (and, since
	// masking preserves length, in the output): the PAN including its group
	// separators, or the whole track including its sentinels.
	Offset, Len int
	// Scheme is the card scheme the PAN's IIN belongs to ("visa",
	// "mastercard", …), or "" when it matched no known scheme (track data
	// with an unlisted IIN, or Options.AnyIIN).
	Scheme string
}

// Options configure a Scrubber. The zero value is the recommended setting.
type Options struct {
	// Mask replaces masked characters. Zero means '*'. It must be one of
	// '*', '#', 'x', 'X' or '_' (New panics otherwise): never a digit, a
	// separator or a character JSON or URLs would have to escape.
	Mask byte
	// AnyIIN masks Luhn-valid 13–19 digit numbers whatever their prefix,
	// trading more false positives for independence from the IIN table.
	AnyIIN bool
}

// Scrubber finds and masks card data. It is immutable after New and safe for
// concurrent use.
type Scrubber struct {
	mask   byte
	anyIIN bool
}

// New returns a Scrubber configured by opts.
func New(opts Options) *Scrubber {
	m := opts.Mask
	switch m {
	case 0:
		m = '*'
	case '*', '#', 'x', 'X', '_':
	default:
		panic(fmt.Sprintf("scrub: invalid mask byte %q", m))
	}
	return &Scrubber{mask: m, anyIIN: opts.AnyIIN}
}

// maxPasses bounds the rescans Bytes makes after masking (see Bytes). Each
// pass that finds anything masks at least three digits, and in practice the
// second pass finds nothing; the bound only guards against a logic error.
const maxPasses = 16

// Bytes appends src, with every PAN and track found masked, to dst and
// returns the extended buffer and what it found, in offset order. Masking
// never changes the length: the masked text occupies exactly len(src) bytes
// of out, and hit offsets index both src and that part of out.
//
// dst may be src[:0] to scrub in place; otherwise dst and src must not
// overlap. Text without a 13-digit stretch is copied and scanned at a cost
// of a few instructions per 13 bytes.
//
// The result is a fixed point: scrubbing it again finds nothing. (Masking
// can expose a new candidate — the kept last four digits of one grouped
// PAN followed by more digit groups — so Bytes rescans until clean.)
func (s *Scrubber) Bytes(dst, src []byte) (out []byte, hits []Hit) {
	base := len(dst)
	if len(dst) == 0 && cap(dst) >= len(src) && len(src) > 0 && &dst[:1][0] == &src[0] {
		out = dst[:len(src)] // in place: src is already there
	} else {
		out = append(dst, src...)
	}
	buf := out[base:]
	for pass := 0; pass < maxPasses; pass++ {
		n := len(hits)
		sc := newScanner(s, buf)
		for {
			m, ok := sc.next()
			if !ok {
				break
			}
			s.apply(buf, &m)
			hits = append(hits, m.hit())
		}
		if len(hits) == n {
			break
		}
		if pass > 0 {
			slices.SortFunc(hits, func(a, b Hit) int { return a.Offset - b.Offset })
		}
	}
	return out, hits
}

// String is Bytes for strings. It returns str itself, without allocating,
// when there is nothing to mask.
func (s *Scrubber) String(str string) (string, []Hit) {
	sc := newScanner(s, str)
	if _, ok := sc.next(); !ok {
		return str, nil
	}
	b := []byte(str)
	out, hits := s.Bytes(b[:0], b)
	return string(out), hits
}

// minPAN and maxPAN bound the number of digits in a PAN.
const (
	minPAN = 13
	maxPAN = 19
)

// keepFirst and keepLast are the PAN digits left readable (PCI DSS 3.4.1:
// at most the BIN and the last four).
const (
	keepFirst = 6
	keepLast  = 4
)

// Byte classes.
const (
	cDigit = 1 << iota
	cAlpha
	cSep   // group separator: ' ' or '-'
	cHex   // 0-9 a-f A-F
	cT1    // track 1 character allowed in name and discretionary data
	cSpace // JSON whitespace
)

// class is a read-only lookup table.
var class = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] |= cDigit | cHex
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] |= cAlpha
		t[c-'a'+'A'] |= cAlpha
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] |= cHex
		t[c-'a'+'A'] |= cHex
	}
	t[' '] |= cSep
	t['-'] |= cSep
	// ISO/IEC 7813 track 1 uses 0x20–0x5F; '%', '^' and '?' are sentinels
	// and separators, and '"' and '\\' are excluded so that a match never
	// spans a JSON string boundary or escape.
	for c := 0x20; c <= 0x5F; c++ {
		switch c {
		case '%', '^', '?', '"', '\\':
		default:
			t[c] |= cT1
		}
	}
	for _, c := range " \t\r\n" {
		t[c] |= cSpace
	}
	return t
}()

func isDigit(c byte) bool { return class[c]&cDigit != 0 }
func isAlpha(c byte) bool { return class[c]&cAlpha != 0 }
func isHex(c byte) bool   { return class[c]&cHex != 0 }

type text interface{ ~string | ~[]byte }

// match is one finding, with what apply needs to mask it.
type match struct {
	kind       Kind
	start, end int // masked span
	pan, panE  int // the PAN within it (with separators for grouped PANs)
	keepHead   int // sentinel bytes kept at start ("%B", "B", ";")
	keepTail   int // sentinel bytes kept at end ("?")
	zero       bool
	scheme     string
}

func (m *match) hit() Hit {
	return Hit{Kind: m.kind, Offset: m.start, Len: m.end - m.start, Scheme: m.scheme}
}

// apply masks m in b.
func (s *Scrubber) apply(b []byte, m *match) {
	digits := 0
	for _, c := range b[m.pan:m.panE] {
		if isDigit(c) {
			digits++
		}
	}
	last := -1 // last masked position
	for p, i := m.pan, 0; p < m.panE; p++ {
		if !isDigit(b[p]) {
			continue // separators keep their place
		}
		if i >= keepFirst && i < digits-keepLast {
			if m.zero {
				b[p] = '0'
			} else {
				b[p] = s.mask
			}
			last = p
		}
		i++
	}
	if m.zero && luhn(b, m.pan, m.panE) && last >= 0 {
		// Changing one digit by one changes the Luhn sum by 1 or 2, so
		// the filled number can never pass for a PAN.
		b[last] = '1'
	}
	for p := m.start + m.keepHead; p < m.pan; p++ {
		b[p] = s.mask
	}
	for p := m.panE; p < m.end-m.keepTail; p++ {
		b[p] = s.mask
	}
}

// A scanner returns the matches in b from left to right.
//
// Any PAN, grouped or not, spans at least minPAN bytes that are all digits
// or separators between digits, so it contains one of every minPAN
// consecutive positions: the scanner samples only every minPAN-th byte and
// expands into the surrounding stretch of digits and separators (a
// "region") when the sample is a digit or a separator between digits.
// Track data is anchored on its PAN and found the same way. A region with
// several matches is expanded once, so the cost stays linear.
type scanner[T text] struct {
	s      *Scrubber
	b      T
	from   int // no region extends before from (the end of the last match)
	i      int // next sample
	rs, re int // current region
	p      int // next group to try in the region; p >= re: none
}

func newScanner[T text](s *Scrubber, b T) scanner[T] {
	return scanner[T]{s: s, b: b, i: minPAN - 1}
}

// next returns the next match. The caller may mask it in b before calling
// next again.
func (sc *scanner[T]) next() (match, bool) {
	b, n := sc.b, len(sc.b)
	for {
		if sc.p < sc.re {
			if m, ok := sc.region(); ok {
				sc.from = m.end
				if m.end >= sc.re {
					sc.p, sc.re = 0, 0
					sc.i = m.end + minPAN - 1
				}
				return m, true
			}
			sc.i = sc.re + minPAN - 1
			sc.p, sc.re = 0, 0
		}
		i := sc.i
		for i < n {
			c := class[b[i]]
			if c&cDigit != 0 {
				break
			}
			if c&cSep != 0 && i+1 < n && isDigit(b[i+1]) && isDigit(b[i-1]) {
				i++
				break
			}
			i += minPAN
		}
		if i >= n {
			sc.i = i
			return match{}, false
		}
		rs, re := i, i+1
		for rs > sc.from {
			if isDigit(b[rs-1]) {
				rs--
			} else if class[b[rs-1]]&cSep != 0 && rs-2 >= sc.from && isDigit(b[rs-2]) {
				rs -= 2
			} else {
				break
			}
		}
		for re < n {
			if isDigit(b[re]) {
				re++
			} else if class[b[re]]&cSep != 0 && re+1 < n && isDigit(b[re+1]) {
				re += 2
			} else {
				break
			}
		}
		sc.i = re + minPAN - 1
		if re-rs >= minPAN {
			sc.rs, sc.re, sc.p = rs, re, rs
		}
	}
}

// group is one run of digits in a region.
type group struct{ s, e int }

// maxGroups bounds the groups in a grouped PAN: 19 digits in groups of at
// least three.
const maxGroups = maxPAN / minGroup

// Digits per group of a grouped PAN (4-4-4-4, 4-6-5, 4-6-4, 4-4-4-4-3, …).
const (
	minGroup = 3
	maxGroup = 6
)

// region looks for the leftmost PAN or track in the current region
// [rs, re) — runs of digits joined by single separators — starting with
// the group at p, and advances p past what it has looked at.
func (sc *scanner[T]) region() (match, bool) {
	s, b, rs, re := sc.s, sc.b, sc.rs, sc.re
	var g [maxGroups]group
	for sc.p < re {
		p := sc.p
		k := 0
		for q := p; k < len(g) && q < re; q++ { // q++ skips the separator
			gs := q
			for q < re && isDigit(b[q]) {
				q++
			}
			g[k] = group{gs, q}
			k++
		}
		m, ok := windows(s, b, g[:k], rs, re, false)
		if !ok && p == rs {
			// The region may start inside an escape (%20, \u0020) whose
			// hex digits are not part of the number.
			if e := escEnd(b, rs, g[0].e); e >= 0 {
				g[0].s = e
				m, ok = windows(s, b, g[:k], rs, re, true)
			}
		}
		if ok {
			sc.p = m.end + 1
			return m, true
		}
		sc.p = g[0].e + 1
	}
	return match{}, false
}

// windows looks for a PAN or track starting at g[0].
func windows[T text](s *Scrubber, b T, g []group, rs, re int, esc bool) (match, bool) {
	a := g[0]
	leftOK := esc || a.s != rs || leftBound(b, a.s)
	la := a.e - a.s
	if la >= minPAN && la <= maxPAN {
		return single(s, b, a, leftOK, a.e != re || rightBound(b, a.e))
	}
	if !leftOK || la < minGroup || la > maxGroup || len(g) < 2 {
		return match{}, false
	}
	// Grouped: groups of minGroup–maxGroup digits joined by one and the
	// same separator. Prefer the longest window that is a PAN.
	sep := b[a.e]
	var total [maxGroups]int
	total[0] = la
	j := 1
	for ; j < len(g); j++ {
		l := g[j].e - g[j].s
		if l < minGroup || l > maxGroup || b[g[j].s-1] != sep || total[j-1]+l > maxPAN {
			break
		}
		total[j] = total[j-1] + l
	}
	for j--; j >= 1 && total[j] >= minPAN; j-- {
		e := g[j].e
		if e == re && !rightBound(b, e) {
			continue
		}
		scheme, ok := iin(s, b, a.s, e, total[j])
		if ok && luhn(b, a.s, e) {
			return match{kind: KindPAN, start: a.s, end: e, pan: a.s, panE: e, scheme: scheme}, true
		}
	}
	return match{}, false
}

// single checks one contiguous run of 13–19 digits: track 1, track 2 or a
// plain PAN.
func single[T text](s *Scrubber, b T, a group, leftOK, rightOK bool) (match, bool) {
	n := len(b)
	if !luhn(b, a.s, a.e) {
		return match{}, false
	}
	scheme, known := iin(s, b, a.s, a.e, a.e-a.s)
	if a.e < n && a.s >= 1 && b[a.s-1] == 'B' && b[a.e] == '^' {
		if m, ok := track1(b, a, scheme); ok {
			return m, true
		}
	}
	if a.e < n && b[a.e] == '=' {
		if m, ok := track2(b, a, scheme, known && leftOK); ok {
			return m, true
		}
	}
	if !leftOK || !rightOK || !known {
		return match{}, false
	}
	return match{kind: KindPAN, start: a.s, end: a.e, pan: a.s, panE: a.e, zero: bareNumber(b, a.s, a.e), scheme: scheme}, true
}

// track1 matches [%]B<PAN>^<name, 0–26 chars>^<rest>, where rest runs to
// the end sentinel '?' (within the 79 characters of a track) or, without
// one, over the digits that follow (expiry, service code, discretionary
// data).
func track1[T text](b T, a group, scheme string) (match, bool) {
	n := len(b)
	q := a.e + 1
	for q < n && class[b[q]]&cT1 != 0 && q-a.e-1 < 26 {
		q++
	}
	if q >= n || b[q] != '^' {
		return match{}, false
	}
	start, head := a.s-1, 1
	if start >= 1 && b[start-1] == '%' {
		start, head = start-1, 2
	}
	r := q + 1
	end, tail := -1, 0
	for k := r; k < n && k-start < 79; k++ {
		c := b[k]
		if c == '?' {
			end, tail = k+1, 1
			break
		}
		if class[c]&cT1 == 0 && c != '^' {
			break
		}
	}
	if end < 0 {
		for end = r; end < n && isDigit(b[end]); end++ {
		}
	}
	return match{kind: KindTrack1, start: start, end: end, pan: a.s, panE: a.e, keepHead: head, keepTail: tail, scheme: scheme}, true
}

// track2 matches [;]<PAN>=<at least four of [0-9=]>[?]. Without the start
// sentinel the PAN must also pass the IIN and boundary checks (strong).
func track2[T text](b T, a group, scheme string, strong bool) (match, bool) {
	n := len(b)
	sentinel := a.s >= 1 && b[a.s-1] == ';'
	if !sentinel && !strong {
		return match{}, false
	}
	r := a.e + 1
	for r < n && (isDigit(b[r]) || b[r] == '=') {
		r++
	}
	if r-(a.e+1) < 4 {
		return match{}, false
	}
	end, tail := r, 0
	if r < n && b[r] == '?' {
		end, tail = r+1, 1
	}
	start, head := a.s, 0
	if sentinel {
		start, head = a.s-1, 1
	}
	return match{kind: KindTrack2, start: start, end: end, pan: a.s, panE: a.e, keepHead: head, keepTail: tail, scheme: scheme}, true
}

// leftBound reports whether a number may start at p: the byte before is
// not a letter or digit — except a letter ending an escape (\n, %2C,
// \u002C) — and not the point of a decimal fraction (1.4111…) or the sign of
// an exponent (1e-4111…).
func leftBound[T text](b T, p int) bool {
	if p == 0 {
		return true
	}
	c := b[p-1]
	switch {
	case isDigit(c):
		return false
	case isAlpha(c):
		if p >= 2 && b[p-2] == '\\' {
			switch c {
			case 'b', 'f', 'n', 'r', 't':
				return true
			}
		}
		if p >= 3 && b[p-3] == '%' && isHex(b[p-2]) && isHex(c) {
			return true
		}
		return p >= 6 && b[p-6] == '\\' && b[p-5] == 'u' && isHex(b[p-4]) && isHex(b[p-3]) && isHex(b[p-2]) && isHex(c)
	case c == '.':
		return p < 2 || !isDigit(b[p-2])
	case c == '-' || c == '+':
		return p < 3 || (b[p-2] != 'e' && b[p-2] != 'E') || !isDigit(b[p-3])
	}
	return true
}

// rightBound reports whether a number may end at p: the byte there is not
// a letter or digit, nor a decimal point followed by a digit.
func rightBound[T text](b T, p int) bool {
	if p >= len(b) {
		return true
	}
	c := b[p]
	if c == '.' {
		return p+1 >= len(b) || !isDigit(b[p+1])
	}
	return class[c]&(cDigit|cAlpha) == 0
}

// escEnd returns where an escape that the digits at rs continue ends —
// "%20" or "\u0020" before "4111…" — or -1 if there is none.
func escEnd[T text](b T, rs, ge int) int {
	switch {
	case rs >= 1 && b[rs-1] == '%':
		if rs+2 < ge {
			return rs + 2
		}
		return -1
	case rs >= 2 && b[rs-2] == '%' && isHex(b[rs-1]):
		if rs+1 < ge {
			return rs + 1
		}
		return -1
	}
	for e := rs - 2; e >= rs-5 && e >= 0; e-- {
		if b[e] == '\\' && b[e+1] == 'u' && e+6 < ge {
			ok := true
			for k := e + 2; k < e+6; k++ {
				ok = ok && isHex(b[k])
			}
			if ok {
				return e + 6
			}
		}
	}
	return -1
}

// bareNumber reports whether the digits [s, e) stand where a JSON number
// would: after ':', '[', ',' or at the start, before ',', ']', '}' or at the
// end, with an optional minus sign and whitespace. Masking them with '*'
// would make the JSON invalid, so they are masked with digits instead.
func bareNumber[T text](b T, s, e int) bool {
	p := s
	if p > 0 && b[p-1] == '-' {
		p--
	}
	for p > 0 && class[b[p-1]]&cSpace != 0 {
		p--
	}
	if p > 0 && b[p-1] != ':' && b[p-1] != '[' && b[p-1] != ',' {
		return false
	}
	q := e
	for q < len(b) && class[b[q]]&cSpace != 0 {
		q++
	}
	return q == len(b) || b[q] == ',' || b[q] == ']' || b[q] == '}'
}

// luhn reports whether the digits in [s, e), ignoring anything else, pass
// the Luhn (mod 10) check.
func luhn[T text](b T, s, e int) bool {
	sum, dbl := 0, false
	for i := e - 1; i >= s; i-- {
		c := b[i]
		if !isDigit(c) {
			continue
		}
		v := int(c - '0')
		if dbl {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
		dbl = !dbl
	}
	return sum%10 == 0
}
