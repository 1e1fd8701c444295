package syslog

import (
	"bytes"
	"time"
	"unicode/utf8"
)

// ParseOptions configure Parse. The zero value is the default: RFC 3164
// timestamps in UTC placed near the current time, and a message without
// PRI taken as <13>.
type ParseOptions struct {
	// Now is the time an RFC 3164 timestamp, which has no year, is placed
	// near: the year is the one that puts the timestamp closest to Now
	// without being more than a month after it. Zero means time.Now().
	Now time.Time
	// Location is the zone of timestamps that carry none (RFC 3164, and
	// RFC 3339 timestamps without offset in RFC 3164 messages); nil means
	// UTC.
	Location *time.Location
	// RequirePRI makes a message without PRI an error ("PRI: missing
	// '<'") instead of a message with NoPRI set.
	RequirePRI bool
}

// Parse parses one syslog message with the default options.
func Parse(b []byte) (Message, error) { return ParseOptions{}.Parse(b) }

// Parse parses one syslog message, b without its transport framing. The
// format is detected: a PRI followed by a version digit and a space is RFC
// 5424 and parsed strictly; anything else is RFC 3164, parsed leniently.
// A *ParseError says why a message cannot be parsed. The Message does not
// alias b.
func (o ParseOptions) Parse(b []byte) (Message, error) {
	var m Message
	if len(b) == 0 {
		return m, perr(0, "empty message")
	}
	p := 0
	if b[0] == '<' {
		pri, n, err := parsePRI(b)
		if err != nil {
			return Message{}, err
		}
		m.Facility, m.Severity = Facility(pri>>3), Severity(pri&7)
		p = n
		if v, n, ok := version(b[p:]); ok {
			if v != 1 {
				return Message{}, perr(p, "VERSION: syslog protocol version %d is not supported (only 1, RFC 5424)", v)
			}
			m.Format, m.Version = RFC5424, 1
			if err := parse5424(&m, b, p+n); err != nil {
				return Message{}, err
			}
			return m, nil
		}
	} else {
		if o.RequirePRI {
			return m, perr(0, "PRI: missing '<'")
		}
		m.NoPRI = true
		m.Facility, m.Severity = DefaultPRI>>3, DefaultPRI&7
	}
	m.Format = RFC3164
	o.parse3164(&m, b, p)
	return m, nil
}

// parsePRI parses "<" 1*3DIGIT ">" at the start of b (b[0] is '<').
func parsePRI(b []byte) (pri, n int, err error) {
	i := 1
	for i < len(b) && i <= 3 && isDigit(b[i]) {
		pri = pri*10 + int(b[i]-'0')
		i++
	}
	switch {
	case i == 1 && i < len(b) && b[i] == '>':
		return 0, 0, perr(1, "PRI: no value between '<' and '>'")
	case i == 1:
		return 0, 0, perr(1, "PRI: no digits after '<'")
	case i < len(b) && isDigit(b[i]):
		return 0, 0, perr(1, "PRI: more than 3 digits")
	case i >= len(b) || b[i] != '>':
		return 0, 0, perr(i, "PRI: missing '>'")
	case pri > 191:
		return 0, 0, perr(1, "PRI: value %d is out of range 0-191", pri)
	}
	return pri, i + 1, nil
}

// version recognizes an RFC 5424 VERSION and its SP: a non-zero digit, at
// most two more digits, a space and then the start of a TIMESTAMP (a digit
// or the NILVALUE).
func version(b []byte) (v, n int, ok bool) {
	if len(b) < 3 || b[0] < '1' || b[0] > '9' {
		return 0, 0, false
	}
	i := 0
	for i < len(b) && i < 3 && isDigit(b[i]) {
		v = v*10 + int(b[i]-'0')
		i++
	}
	if i+1 >= len(b) || b[i] != ' ' || !(isDigit(b[i+1]) || b[i+1] == '-') {
		return 0, 0, false
	}
	return v, i + 1, true
}

// Header field limits of RFC 5424 §6.
const (
	maxHostname = 255
	maxAppName  = 48
	maxProcID   = 128
	maxMsgID    = 32
	maxSDName   = 32
)

// parse5424 parses what follows "<PRI>1 ".
func parse5424(m *Message, b []byte, p int) error {
	if b[p] == '-' {
		p++
	} else {
		t, n, reason := parseRFC3339(b[p:], nil)
		if reason != "" {
			return perr(p+n, "TIMESTAMP: %s", reason)
		}
		m.Timestamp = t
		p += n
	}
	if p >= len(b) {
		return perr(p, "HOSTNAME: missing, the message ends after TIMESTAMP")
	}
	if b[p] != ' ' {
		return perr(p, "TIMESTAMP: unexpected %q after it, want SP", b[p])
	}
	p++
	var err error
	if m.Hostname, p, err = headerField(b, p, "HOSTNAME", "APP-NAME", maxHostname); err != nil {
		return err
	}
	if m.AppName, p, err = headerField(b, p, "APP-NAME", "PROCID", maxAppName); err != nil {
		return err
	}
	if m.ProcID, p, err = headerField(b, p, "PROCID", "MSGID", maxProcID); err != nil {
		return err
	}
	if m.MsgID, p, err = headerField(b, p, "MSGID", "STRUCTURED-DATA", maxMsgID); err != nil {
		return err
	}
	if p >= len(b) {
		return perr(p, "STRUCTURED-DATA: missing, the message ends after MSGID")
	}
	if p, err = parseSD(m, b, p); err != nil {
		return err
	}
	if p < len(b) {
		if b[p] != ' ' {
			return perr(p, "STRUCTURED-DATA: unexpected %q after it, want SP before MSG", b[p])
		}
		setMessage(m, b[p+1:])
	}
	return nil
}

// headerField parses a header field of PRINTUSASCII ending in SP (which
// it skips) before the field next; "-" (NILVALUE) is returned as "".
func headerField(b []byte, p int, name, next string, limit int) (string, int, error) {
	s := p
	for p < len(b) && b[p] != ' ' {
		if c := b[p]; c < 33 || c > 126 {
			return "", p, perr(p, "%s: byte %#02x is not printable US-ASCII", name, c)
		}
		p++
	}
	switch {
	case p == s && p >= len(b):
		return "", p, perr(p, "%s: missing, the message ends before it", name)
	case p == s:
		return "", p, perr(p, "%s: empty (two SPs in a row)", name)
	case p-s > limit:
		return "", p, perr(s, "%s: %d bytes, longer than the %d RFC 5424 allows", name, p-s, limit)
	case p >= len(b):
		return "", p, perr(p, "%s: missing, the message ends after %s", next, name)
	}
	if p-s == 1 && b[s] == '-' {
		return "", p + 1, nil
	}
	return string(b[s:p]), p + 1, nil
}

// parseSD parses STRUCTURED-DATA: the NILVALUE or SD-ELEMENTs.
func parseSD(m *Message, b []byte, p int) (int, error) {
	if b[p] == '-' {
		return p + 1, nil
	}
	if b[p] != '[' {
		return p, perr(p, "STRUCTURED-DATA: want '-' or '[', found %q", b[p])
	}
	for p < len(b) && b[p] == '[' {
		start := p
		p++
		id, np, err := sdName(b, p, "SD-ID")
		if err != nil {
			return np, err
		}
		p = np
		el := SDElement{ID: id}
		for {
			if p >= len(b) {
				return p, perr(start, "SD-ELEMENT %s: not closed by ']'", id)
			}
			if b[p] == ']' {
				p++
				break
			}
			if b[p] != ' ' {
				return p, perr(p, "SD-ELEMENT %s: want SP or ']', found %q", id, b[p])
			}
			p++
			name, np, err := sdName(b, p, "PARAM-NAME")
			if err != nil {
				return np, err
			}
			p = np
			if p >= len(b) || b[p] != '=' {
				return p, perr(p, "SD-PARAM %s: want '=' after the name", name)
			}
			p++
			if p >= len(b) || b[p] != '"' {
				return p, perr(p, "SD-PARAM %s: want '\"' to open the value", name)
			}
			p++
			val, np, ok := sdValue(b, p)
			if !ok {
				return np, perr(p-1, "SD-PARAM %s: value not closed by '\"'", name)
			}
			p = np
			el.Params = append(el.Params, SDParam{Name: name, Value: val})
		}
		m.StructuredData = append(m.StructuredData, el)
	}
	return p, nil
}

// sdName parses an SD-NAME: 1 to 32 PRINTUSASCII except '=', SP, ']' and
// '"'.
func sdName(b []byte, p int, what string) (string, int, error) {
	s := p
	for p < len(b) {
		c := b[p]
		if c == '=' || c == ' ' || c == ']' || c == '"' {
			break
		}
		if c < 33 || c > 126 {
			return "", p, perr(p, "%s: byte %#02x is not printable US-ASCII", what, c)
		}
		p++
	}
	switch {
	case p == s && p >= len(b):
		return "", p, perr(p, "%s: missing, the message ends before it", what)
	case p == s:
		return "", p, perr(p, "%s: empty, found %q", what, b[p])
	case p-s > maxSDName:
		return "", p, perr(s, "%s: %d bytes, longer than the %d RFC 5424 allows", what, p-s, maxSDName)
	}
	return string(b[s:p]), p, nil
}

// sdValue parses a PARAM-VALUE after its opening quote, up to and past the
// closing quote. `\"`, `\\` and `\]` are unescaped; a backslash before any
// other character is kept, as RFC 5424 §6.3.3 requires.
func sdValue(b []byte, p int) (string, int, bool) {
	s := p
	esc := false
	for p < len(b) {
		switch b[p] {
		case '"':
			v := b[s:p]
			if esc {
				v = unescape(v)
			}
			return validString(v), p + 1, true
		case '\\':
			esc = true
			if p+1 < len(b) && (b[p+1] == '"' || b[p+1] == '\\' || b[p+1] == ']') {
				p++
			}
		}
		p++
	}
	return "", p, false
}

func unescape(v []byte) []byte {
	out := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) && (v[i+1] == '"' || v[i+1] == '\\' || v[i+1] == ']') {
			i++
		}
		out = append(out, v[i])
	}
	return out
}

var bom = []byte{0xEF, 0xBB, 0xBF}

// setMessage sets MSG: without a leading BOM and trailing CR, LF and NUL,
// as valid UTF-8.
func setMessage(m *Message, b []byte) {
	if bytes.HasPrefix(b, bom) {
		m.BOM = true
		b = b[len(bom):]
	}
	for len(b) > 0 {
		if c := b[len(b)-1]; c != '\n' && c != '\r' && c != 0 {
			break
		}
		b = b[:len(b)-1]
	}
	m.Message = validString(b)
}

// validString returns b as a string, invalid UTF-8 replaced by U+FFFD.
func validString(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return string(bytes.ToValidUTF8(b, []byte("\uFFFD")))
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// num reads n decimal digits at b[i:].
func num(b []byte, i, n int) (int, bool) {
	if i+n > len(b) {
		return 0, false
	}
	v := 0
	for _, c := range b[i : i+n] {
		if !isDigit(c) {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// parseRFC3339 parses an RFC 3339 date-time at the start of b:
// YYYY-MM-DDTHH:MM:SS[.1-9 digits](Z|±HH:MM), which must end b or be
// followed by SP. With loc nil the offset is required (RFC 5424);
// otherwise a timestamp without one is in loc. On failure it returns the
// offset of the problem and a reason.
func parseRFC3339(b []byte, loc *time.Location) (time.Time, int, string) {
	y, ok1 := num(b, 0, 4)
	mo, ok2 := num(b, 5, 2)
	d, ok3 := num(b, 8, 2)
	if !ok1 || !ok2 || !ok3 || b[4] != '-' || b[7] != '-' {
		return time.Time{}, 0, "not an RFC 3339 date (YYYY-MM-DD)"
	}
	if len(b) <= 10 || b[10] != 'T' {
		return time.Time{}, 10, "want 'T' between date and time"
	}
	h, ok1 := num(b, 11, 2)
	mi, ok2 := num(b, 14, 2)
	s, ok3 := num(b, 17, 2)
	if !ok1 || !ok2 || !ok3 || b[13] != ':' || b[16] != ':' {
		return time.Time{}, 11, "not an RFC 3339 time (hh:mm:ss)"
	}
	if reason := checkDate(y, mo, d, h, mi, s); reason != "" {
		return time.Time{}, 0, reason
	}
	i := 19
	ns, n, reason := fraction(b, i)
	if reason != "" {
		return time.Time{}, i, reason
	}
	i += n
	zone := loc
	switch {
	case i < len(b) && b[i] == 'Z':
		zone = time.UTC
		i++
	case i < len(b) && (b[i] == '+' || b[i] == '-'):
		oh, ok1 := num(b, i+1, 2)
		om, ok2 := num(b, i+4, 2)
		if !ok1 || !ok2 || b[i+3] != ':' || oh > 23 || om > 59 {
			return time.Time{}, i, "time offset is not ±hh:mm"
		}
		off := (oh*60 + om) * 60
		if b[i] == '-' {
			off = -off
		}
		if off == 0 {
			zone = time.UTC
		} else {
			zone = time.FixedZone("", off)
		}
		i += 6
	case loc == nil:
		return time.Time{}, i, "missing time offset ('Z' or ±hh:mm)"
	}
	if i < len(b) && b[i] != ' ' {
		return time.Time{}, i, "unexpected " + quoteByte(b[i]) + " after it, want SP"
	}
	return time.Date(y, time.Month(mo), d, h, mi, s, ns, zone), i, ""
}

// fraction parses an optional "." and 1 to 9 digits at b[i:] as
// nanoseconds.
func fraction(b []byte, i int) (ns, n int, reason string) {
	if i >= len(b) || b[i] != '.' {
		return 0, 0, ""
	}
	j := i + 1
	for j < len(b) && isDigit(b[j]) {
		if j-i > 9 {
			return 0, 0, "more than 9 digits of fractional seconds"
		}
		ns = ns*10 + int(b[j]-'0')
		j++
	}
	if j == i+1 {
		return 0, 0, "no digits after '.'"
	}
	for k := j - i - 1; k < 9; k++ {
		ns *= 10
	}
	return ns, j - i, ""
}

// checkDate checks the ranges of a date and time (leap seconds are not
// allowed, RFC 5424 §6.2.3).
func checkDate(y, mo, d, h, mi, s int) string {
	switch {
	case mo < 1 || mo > 12:
		return "month out of range 01-12"
	case d < 1 || d > daysIn(time.Month(mo), y):
		return "day out of range for the month"
	case h > 23:
		return "hour out of range 00-23"
	case mi > 59:
		return "minute out of range 00-59"
	case s > 59:
		return "second out of range 00-59"
	}
	return ""
}

func daysIn(m time.Month, y int) int {
	switch m {
	case time.February:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

func quoteByte(c byte) string {
	if c >= 32 && c < 127 && c != '\'' {
		return "'" + string(rune(c)) + "'"
	}
	const hex = "0123456789abcdef"
	return "0x" + string([]byte{hex[c>>4], hex[c&15]})
}

// parse3164 parses what follows the PRI (or the start of a message without
// one) as RFC 3164: TIMESTAMP SP [HOSTNAME SP] [TAG] CONTENT. It cannot
// fail: without a TIMESTAMP the whole is CONTENT, as RFC 3164 §4.3.2 says
// a relay must take it.
func (o ParseOptions) parse3164(m *Message, b []byte, p int) {
	loc := o.Location
	if loc == nil {
		loc = time.UTC
	}
	if t, n, ok := o.timestamp3164(b[p:], loc); ok {
		m.Timestamp = t
		p += n
		if p < len(b) {
			p++ // the SP timestamp3164 checked
		}
		if host, np, ok := hostname3164(b, p); ok {
			m.Hostname = host
			p = np
		}
		p = tag3164(m, b, p)
	}
	setMessage(m, b[p:])
}

var months = map[[3]byte]time.Month{
	{'j', 'a', 'n'}: time.January, {'f', 'e', 'b'}: time.February, {'m', 'a', 'r'}: time.March,
	{'a', 'p', 'r'}: time.April, {'m', 'a', 'y'}: time.May, {'j', 'u', 'n'}: time.June,
	{'j', 'u', 'l'}: time.July, {'a', 'u', 'g'}: time.August, {'s', 'e', 'p'}: time.September,
	{'o', 'c', 't'}: time.October, {'n', 'o', 'v'}: time.November, {'d', 'e', 'c'}: time.December,
}

// timestamp3164 recognizes the timestamps RFC 3164 senders use, followed
// by SP or the end: "Mmm dd hh:mm:ss", "Mmm  d hh:mm:ss" and "Mmm d
// hh:mm:ss", each with optional fractional seconds and optionally with a
// year before the time ("Mmm dd yyyy hh:mm:ss"), and RFC 3339 date-times
// (rsyslog's RSYSLOG_ForwardFormat).
func (o ParseOptions) timestamp3164(b []byte, loc *time.Location) (time.Time, int, bool) {
	if len(b) > 0 && isDigit(b[0]) {
		t, n, reason := parseRFC3339(b, loc)
		return t, n, reason == ""
	}
	if len(b) < 14 || b[3] != ' ' {
		return time.Time{}, 0, false
	}
	mon, ok := months[[3]byte{lower(b[0]), lower(b[1]), lower(b[2])}]
	if !ok {
		return time.Time{}, 0, false
	}
	i := 4
	if b[i] == ' ' {
		i++
	}
	d := 0
	for j := 0; j < 2 && i < len(b) && isDigit(b[i]); j++ {
		d = d*10 + int(b[i]-'0')
		i++
	}
	if i >= len(b) || b[i] != ' ' || d == 0 {
		return time.Time{}, 0, false
	}
	i++
	year := -1
	if y, ok := num(b, i, 4); ok && i+4 < len(b) && b[i+4] == ' ' {
		year = y
		i += 5
	}
	h, ok1 := num(b, i, 2)
	mi, ok2 := num(b, i+3, 2)
	s, ok3 := num(b, i+6, 2)
	if !ok1 || !ok2 || !ok3 || b[i+2] != ':' || b[i+5] != ':' {
		return time.Time{}, 0, false
	}
	i += 8
	ns, n, reason := fraction(b, i)
	if reason != "" {
		return time.Time{}, 0, false
	}
	i += n
	if i < len(b) && b[i] != ' ' {
		return time.Time{}, 0, false
	}
	if year >= 0 {
		if checkDate(year, int(mon), d, h, mi, s) != "" {
			return time.Time{}, 0, false
		}
		return time.Date(year, mon, d, h, mi, s, ns, loc), i, true
	}
	if checkDate(2000, int(mon), d, h, mi, s) != "" { // 2000: a leap year, so Feb 29 passes
		return time.Time{}, 0, false
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	return placeYear(now.In(loc), mon, d, h, mi, s, ns, loc), i, true
}

// placeYear returns the date with the year that puts it closest to now
// but not more than a month after now: the latest such year.
func placeYear(now time.Time, mon time.Month, d, h, mi, s, ns int, loc *time.Location) time.Time {
	limit := now.AddDate(0, 1, 0)
	for y := now.Year() + 1; y >= now.Year()-8; y-- {
		if d > daysIn(mon, y) { // Feb 29 of a common year
			continue
		}
		if t := time.Date(y, mon, d, h, mi, s, ns, loc); !t.After(limit) {
			return t
		}
	}
	return time.Date(now.Year(), mon, d, h, mi, s, ns, loc) // not reached: a leap year is within 8 years
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// hostname3164 recognizes an RFC 3164 HOSTNAME at b[p:]: letters, digits,
// '.', '-', '_' and ':' (IPv6), not ending in ':' (that is a TAG), followed
// by SP.
func hostname3164(b []byte, p int) (string, int, bool) {
	s := p
	for p < len(b) && b[p] != ' ' {
		c := b[p]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '.' || c == '-' || c == '_' || c == ':') {
			return "", s, false
		}
		p++
	}
	if p == s || p >= len(b) || b[p-1] == ':' || p-s > maxHostname {
		return "", s, false
	}
	if p-s == 1 && b[s] == '-' {
		return "", p + 1, true
	}
	return string(b[s:p]), p + 1, true
}

// tag3164 recognizes an RFC 3164 TAG at b[p:] and sets AppName and ProcID:
// "name: ", "name[pid]: " or "name[pid] " (rsyslog forwards a message
// without colon so), where name is 1 to 48 printable US-ASCII characters
// other than ':', '[' and ']', and pid 1 to 128 of them other than ']'.
// The SP may be the end of the message instead. A word without ':' or
// [pid] is not taken for a tag: it is CONTENT. It returns where CONTENT
// starts.
func tag3164(m *Message, b []byte, p int) int {
	s := p
	for p < len(b) {
		c := b[p]
		if c <= ' ' || c > 126 || c == ':' || c == '[' || c == ']' {
			break
		}
		p++
	}
	if p == s || p-s > maxAppName || p >= len(b) {
		return s
	}
	name, pid := b[s:p], []byte(nil)
	switch b[p] {
	case ':':
		p++
	case '[':
		q := p + 1
		for q < len(b) && b[q] != ']' {
			if c := b[q]; c <= ' ' || c > 126 {
				return s
			}
			q++
		}
		if q >= len(b) || q == p+1 || q-p-1 > maxProcID {
			return s
		}
		pid = b[p+1 : q]
		p = q + 1
		if p < len(b) && b[p] == ':' {
			p++
		}
	default:
		return s
	}
	if p < len(b) {
		if b[p] != ' ' {
			return s
		}
		p++
	}
	if !(len(name) == 1 && name[0] == '-') {
		m.AppName = string(name)
	}
	if !(len(pid) == 1 && pid[0] == '-') {
		m.ProcID = string(pid)
	}
	return p
}
