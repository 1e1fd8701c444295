package kql

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// gooTypes are the words that, immediately followed by '(', start a typed
// literal whose contents are taken raw up to the next ')': datetime(2024-01-31
// 10:00), time(1.12:00:00), int(null), guid(...). It is Kusto's lexical rule;
// dynamic(...) and typeof(...) are parsed as structures instead.
var gooTypes = map[string]bool{
	"bool": true, "boolean": true, "guid": true, "datetime": true, "date": true,
	"time": true, "timespan": true, "long": true, "int": true, "real": true,
	"double": true, "decimal": true,
}

// punctuation, longest first where one is a prefix of another.
var punctuation = []string{
	"..", "==", "!=", "<>", "<=", ">=", "=~", "!~", "=>",
	"|", "(", ")", "[", "]", "{", "}", ",", ";", ":", "=", "<", ">",
	"+", "-", "*", "/", "%", ".",
}

// lexer turns the query text into tokens.
type lexer struct {
	src       string
	off       int
	maxTokens int
	toks      []token

	// cursor for positions: posAt advances it monotonically.
	curOff, curLine, curCol int
}

// lex returns the tokens of src, ending with a tEOF token.
func lex(src string, maxTokens int) (toks []token, err error) {
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(*Error)
			if !ok {
				panic(r)
			}
			toks, err = nil, e
		}
	}()
	if !utf8.ValidString(src) {
		off := 0
		for off < len(src) {
			r, n := utf8.DecodeRuneInString(src[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		panic(&Error{Pos: posOf(src, off), Msg: "the query is not valid UTF-8 text"})
	}
	l := &lexer{src: src, maxTokens: maxTokens, curLine: 1, curCol: 1}
	l.toks = make([]token, 0, min(len(src)/3+1, 1024))
	for {
		t := l.next()
		if t.kind != tEOF && len(l.toks) >= l.maxTokens {
			l.fail(t.pos.Offset, "the query is too long: more than %d tokens", l.maxTokens)
		}
		l.toks = append(l.toks, t)
		if t.kind == tEOF {
			return l.toks, nil
		}
	}
}

// posAt returns the Pos of byte offset off, which must not be before the
// last offset asked for (tokens come in order).
func (l *lexer) posAt(off int) Pos {
	if off < l.curOff {
		return posOf(l.src, off)
	}
	for l.curOff < off {
		r, n := utf8.DecodeRuneInString(l.src[l.curOff:])
		l.curOff += n
		if r == '\n' {
			l.curLine++
			l.curCol = 1
		} else {
			l.curCol++
		}
	}
	return Pos{Line: l.curLine, Col: l.curCol, Offset: off}
}

// posOf computes the Pos of byte offset off in src from the start.
func posOf(src string, off int) Pos {
	line, col := 1, 1
	for i, r := range src {
		if i >= off {
			break
		}
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return Pos{Line: line, Col: col, Offset: off}
}

// fail stops lexing with an error at byte offset off.
func (l *lexer) fail(off int, format string, args ...any) {
	panic(&Error{Pos: posOf(l.src, off), Msg: fmt.Sprintf(format, args...)})
}

// skipTrivia skips whitespace and // comments, reporting whether it skipped
// anything and whether a blank line was among it.
func (l *lexer) skipTrivia() (space, blank bool) {
	sawNewline, onlySpace := false, false
	for l.off < len(l.src) {
		c := l.src[l.off]
		switch {
		case c == '\n':
			if sawNewline && onlySpace {
				blank = true
			}
			sawNewline, onlySpace = true, true
			l.off++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			l.off++
		case c == '/' && strings.HasPrefix(l.src[l.off:], "//"):
			onlySpace = false
			for l.off < len(l.src) && l.src[l.off] != '\n' {
				l.off++
			}
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRuneInString(l.src[l.off:])
			if !unicode.IsSpace(r) {
				return space, blank
			}
			l.off += n
		default:
			return space, blank
		}
		space = true
	}
	return space, blank
}

// next returns the next token.
func (l *lexer) next() token {
	space, blank := l.skipTrivia()
	start := l.off
	t := token{pos: l.posAt(start), spaceBefore: space, blankBefore: blank}
	if l.off >= len(l.src) {
		t.kind, t.end = tEOF, l.off
		return t
	}
	c := l.src[l.off]
	switch {
	case c == '\'' || c == '"':
		t.kind, t.val = tString, l.quoted(c)
	case c == '@' && l.peekByte(1) == '\'' || c == '@' && l.peekByte(1) == '"':
		l.off++
		t.kind, t.val = tString, l.verbatim(l.src[l.off])
	case (c == 'h' || c == 'H') && isStringStart(l.src[l.off+1:]):
		l.off++
		t.kind, t.obfuscated = tString, true
		if l.src[l.off] == '@' {
			l.off++
			t.val = l.verbatim(l.src[l.off])
		} else if l.src[l.off] == '`' || l.src[l.off] == '~' {
			t.val = l.multiline()
		} else {
			t.val = l.quoted(l.src[l.off])
		}
	case strings.HasPrefix(l.src[l.off:], "```") || strings.HasPrefix(l.src[l.off:], "~~~"):
		t.kind, t.val = tString, l.multiline()
	case c >= '0' && c <= '9':
		t.kind = l.number()
	case c == '_' || isLetter(c) || c >= utf8.RuneSelf && l.letterAt(l.off) ||
		c == '$' && (isLetter(l.peekByte(1)) || l.peekByte(1) == '_'):
		l.ident()
		t.kind = tIdent
		word := l.src[start:l.off]
		switch {
		case word == "in" && l.peekByte(0) == '~':
			l.off++
			t.kind = tOpWord
		case gooTypes[word] && l.peekByte(0) == '(':
			t.kind, t.val = tGoo, l.goo(word, start)
		}
	case c == '!' && (isLetter(l.peekByte(1)) || l.peekByte(1) == '_'):
		l.off++
		l.ident()
		if l.src[start+1:l.off] == "in" && l.peekByte(0) == '~' {
			l.off++
		}
		t.kind = tOpWord
	default:
		for _, p := range punctuation {
			if strings.HasPrefix(l.src[l.off:], p) {
				l.off += len(p)
				t.kind = tPunct
				break
			}
		}
		if t.kind != tPunct {
			r, _ := utf8.DecodeRuneInString(l.src[l.off:])
			switch {
			case r == '!':
				l.fail(start, "unexpected character '!': use '!=' or '!~' to compare, not(...) to negate, or a negated operator such as '!contains' or '!in'")
			case r == '`':
				l.fail(start, "unexpected character '`': multi-line strings are enclosed in ``` (three backquotes)")
			case r < ' ' || r == 0x7f:
				l.fail(start, "unexpected control character %U", r)
			default:
				l.fail(start, "unexpected character '%c'", r)
			}
		}
	}
	if t.kind != tString && t.kind != tGoo {
		t.text = l.src[start:l.off]
	} else if t.kind == tGoo {
		t.text = l.src[start : strings.IndexByte(l.src[start:], '(')+start]
	} else {
		t.text = l.src[start:l.off]
	}
	t.end = l.off
	return t
}

func (l *lexer) peekByte(i int) byte {
	if l.off+i < len(l.src) {
		return l.src[l.off+i]
	}
	return 0
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// letterAt reports whether the character at off is a (Unicode) letter.
func (l *lexer) letterAt(off int) bool {
	r, _ := utf8.DecodeRuneInString(l.src[off:])
	return unicode.IsLetter(r)
}

// isStringStart reports whether s starts a string literal after an h prefix.
func isStringStart(s string) bool {
	return strings.HasPrefix(s, "'") || strings.HasPrefix(s, "\"") ||
		strings.HasPrefix(s, "@'") || strings.HasPrefix(s, "@\"") ||
		strings.HasPrefix(s, "```") || strings.HasPrefix(s, "~~~")
}

// ident consumes identifier characters: letters, digits, '_' (and a
// leading '$').
func (l *lexer) ident() {
	if l.peekByte(0) == '$' {
		l.off++
	}
	for l.off < len(l.src) {
		c := l.src[l.off]
		switch {
		case c == '_' || isLetter(c) || isDigit(c):
			l.off++
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRuneInString(l.src[l.off:])
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
				return
			}
			l.off += n
		default:
			return
		}
	}
}

// timespanUnits maps every unit a timespan literal may carry to its length
// in ticks (100 ns).
var timespanUnits = map[string]int64{
	"d": 864e9, "day": 864e9, "days": 864e9,
	"h": 36e9, "hr": 36e9, "hrs": 36e9, "hour": 36e9, "hours": 36e9,
	"m": 6e8, "min": 6e8, "minute": 6e8, "minutes": 6e8,
	"s": 1e7, "sec": 1e7, "second": 1e7, "seconds": 1e7,
	"ms": 1e4, "milli": 1e4, "millis": 1e4, "millisec": 1e4, "millisecond": 1e4, "milliseconds": 1e4,
	"micro": 10, "micros": 10, "microsec": 10, "microsecond": 10, "microseconds": 10,
	"nano": 0, "nanos": 0, "nanosec": 0, "nanosecond": 0, "nanoseconds": 0, // 1/100 tick: see timespanTicks
	"tick": 1, "ticks": 1,
}

// number consumes a numeric literal: 123, 0x1F, 1.5, 1e-3, 2., or a
// timespan 1d, 1.5h, 100ms.
func (l *lexer) number() tokenKind {
	start := l.off
	if l.src[l.off] == '0' && (l.peekByte(1) == 'x' || l.peekByte(1) == 'X') {
		l.off += 2
		n := 0
		for l.off < len(l.src) && isHex(l.src[l.off]) {
			l.off++
			n++
		}
		if n == 0 {
			l.fail(start, "invalid hexadecimal literal '%s': digits expected after 0x", l.src[start:l.off])
		}
		if l.off < len(l.src) && (isLetter(l.src[l.off]) || l.src[l.off] == '_') {
			l.ident()
			l.fail(start, "invalid number literal '%s'", l.src[start:l.off])
		}
		return tLong
	}
	kind := tLong
	l.digits()
	if l.peekByte(0) == '.' && l.peekByte(1) != '.' {
		l.off++
		l.digits()
		kind = tReal
	}
	if c := l.peekByte(0); c == 'e' || c == 'E' {
		i := 1
		if s := l.peekByte(1); s == '+' || s == '-' {
			i = 2
		}
		if isDigit(l.peekByte(i)) {
			l.off += i
			l.digits()
			kind = tReal
		}
	}
	if l.off < len(l.src) && (isLetter(l.src[l.off]) || l.src[l.off] == '_') {
		unitStart := l.off
		l.ident()
		unit := l.src[unitStart:l.off]
		if l.src[start:l.off] == "3Dchart" { // the one word that starts with a digit: a render chart type
			return tIdent
		}
		if _, ok := timespanUnits[unit]; ok && !strings.ContainsAny(l.src[start:unitStart], "eE") {
			return tTimespan
		}
		msg := fmt.Sprintf("invalid number literal '%s'", l.src[start:l.off])
		if s := Suggest(unit, timespanUnitNames); s != "" {
			msg += fmt.Sprintf(" (did you mean '%s%s'?)", l.src[start:unitStart], s)
		} else if isDigit(l.src[start]) && !strings.ContainsAny(l.src[start:unitStart], ".eE") {
			msg += ": a timespan takes a unit such as d, h, m, s, ms, microsecond or tick"
		}
		l.fail(start, "%s", msg)
	}
	return kind
}

var timespanUnitNames = []string{"d", "h", "m", "s", "ms", "min", "sec", "hr", "day", "days", "hour", "hours", "minute", "minutes", "second", "seconds", "millisecond", "milliseconds", "microsecond", "microseconds", "nanosecond", "nanoseconds", "tick", "ticks"}

func (l *lexer) digits() {
	for l.off < len(l.src) && isDigit(l.src[l.off]) {
		l.off++
	}
}

func isHex(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// quoted consumes a '...' or "..." literal at l.off and returns its decoded
// value.
func (l *lexer) quoted(q byte) string {
	start := l.off
	l.off++
	var b strings.Builder
	for {
		if l.off >= len(l.src) || l.src[l.off] == '\n' || l.src[l.off] == '\r' {
			l.fail(start, "unterminated string literal (a quoted string ends on the line it starts; use ```...``` for text over several lines)")
		}
		c := l.src[l.off]
		switch {
		case c == q:
			l.off++
			return b.String()
		case c == '\\':
			l.escape(&b)
		case c == 0:
			l.fail(l.off, "NUL character in string literal")
		default:
			b.WriteByte(c)
			l.off++
		}
	}
}

// escape decodes the escape sequence at l.off into b.
func (l *lexer) escape(b *strings.Builder) {
	start := l.off
	l.off++
	if l.off >= len(l.src) {
		l.fail(start, "unterminated string literal")
	}
	c := l.src[l.off]
	l.off++
	simple := map[byte]byte{'\'': '\'', '"': '"', '\\': '\\', 'a': '\a', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t', 'v': '\v'}
	if v, ok := simple[c]; ok {
		b.WriteByte(v)
		return
	}
	var r rune
	switch {
	case c == 'u' || c == 'U' || c == 'x':
		n := map[byte]int{'u': 4, 'U': 8, 'x': 2}[c]
		if l.off+n > len(l.src) {
			l.fail(start, "invalid escape sequence in string literal: \\%c needs %d hexadecimal digits", c, n)
		}
		v, err := strconv.ParseUint(l.src[l.off:l.off+n], 16, 32)
		if err != nil {
			l.fail(start, "invalid escape sequence in string literal: \\%c needs %d hexadecimal digits", c, n)
		}
		l.off += n
		r = rune(v)
	case c >= '0' && c <= '7':
		v := int(c - '0')
		for i := 0; i < 2 && l.off < len(l.src) && l.src[l.off] >= '0' && l.src[l.off] <= '7' && v*8+int(l.src[l.off]-'0') < 256; i++ {
			v = v*8 + int(l.src[l.off]-'0')
			l.off++
		}
		r = rune(v)
	default:
		if c >= utf8.RuneSelf {
			l.off--
			_, n := utf8.DecodeRuneInString(l.src[l.off:])
			l.off += n
		}
		l.fail(start, "invalid escape sequence '%s' in string literal (a backslash is written '\\\\', or use a verbatim string @'...')", l.src[start:l.off])
	}
	if r == 0 {
		l.fail(start, "NUL character in string literal")
	}
	if !utf8.ValidRune(r) {
		l.fail(start, "invalid escape sequence '%s': not a valid Unicode character", l.src[start:l.off])
	}
	b.WriteRune(r)
}

// verbatim consumes the quoted part of an @'...' literal at l.off: no
// escapes, a doubled quote stands for one.
func (l *lexer) verbatim(q byte) string {
	start := l.off - 1
	l.off++
	var b strings.Builder
	for {
		if l.off >= len(l.src) || l.src[l.off] == '\n' || l.src[l.off] == '\r' {
			l.fail(start, "unterminated verbatim string literal")
		}
		c := l.src[l.off]
		if c == 0 {
			l.fail(l.off, "NUL character in string literal")
		}
		l.off++
		if c == q {
			if l.peekByte(0) != q {
				return b.String()
			}
			l.off++
		}
		b.WriteByte(c)
	}
}

// multiline consumes a ```...``` (or ~~~...~~~) literal: raw text, may span
// lines.
func (l *lexer) multiline() string {
	start := l.off
	fence := l.src[l.off : l.off+3]
	l.off += 3
	end := strings.Index(l.src[l.off:], fence)
	if end < 0 {
		l.fail(start, "unterminated multi-line string literal: no closing %s", fence)
	}
	s := l.src[l.off : l.off+end]
	if i := strings.IndexByte(s, 0); i >= 0 {
		l.fail(l.off+i, "NUL character in string literal")
	}
	l.off += end + 3
	return s
}

// goo consumes the parenthesised raw contents of a typed literal such as
// datetime(...) and returns them (without the parentheses).
func (l *lexer) goo(word string, start int) string {
	open := l.off
	end := strings.IndexByte(l.src[open:], ')')
	if end < 0 {
		l.fail(start, "unterminated %s(...) literal: missing ')'", word)
	}
	l.off = open + end + 1
	return l.src[open+1 : open+end]
}
