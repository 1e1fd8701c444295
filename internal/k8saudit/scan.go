package k8saudit

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/cdewatch/cdewatch/internal/jsonscan"
)

// maxDepth is the nesting depth of objects and arrays that the JSON decoder
// accepts, the event object included.
const maxDepth = jsonscan.MaxDepth

// decoder decodes events in one pass over their bytes, checking their JSON
// syntax and UTF-8 as it goes. It handles the shape of the events
// kube-apiserver writes and declines the rest: malformed JSON or UTF-8, a
// value of the wrong type, a member name with escapes, not in ASCII or in
// another case than its field's, a field given twice, a null array element or
// map value, a status code that is not an integer of at most maxCodeDigits
// digits, a timestamp that does not parse, nesting deeper than maxDepth.
// settle leaves what it declines to the JSON decoder, which gives the outcome
// and the error; for every event the decoder accepts, the JSON decoder gives
// the same Event.
//
// Strings without escapes and the raw request and response objects refer to
// the input, and the string slices, object references, statuses and
// impersonated users of the events of one call share blocks of memory.
type decoder struct {
	b     []byte // the input
	limit int    // the size limit of an event

	// left is the number of events still to decode in this call, the
	// current one included, which sizes the blocks.
	left int

	tmp     []string           // elements of the array being decoded
	skipper jsonscan.Validator // checks the values skipped

	strs  []string
	refs  []ObjectReference
	stats []Status
	users []UserInfo
}

// Fields of Event, by bit.
const (
	evUnknown = iota
	evKind
	evAPIVersion
	evLevel
	evAuditID
	evStage
	evRequestURI
	evVerb
	evUser
	evImpersonatedUser
	evSourceIPs
	evUserAgent
	evObjectRef
	evResponseStatus
	evRequestObject
	evResponseObject
	evRequestReceivedTimestamp
	evStageTimestamp
	evTimestamp
	evAnnotations
	evFolded // a name matching a field in another case
)

// Fields of UserInfo, ObjectReference and Status.
const (
	fUnknown = iota
	fUsername
	fUID
	fGroups
	fExtra
	fResource
	fNamespace
	fName
	fAPIGroup
	fAPIVersion
	fResourceVersion
	fSubresource
	fCode
	fStatus
	fReason
	fMessage
	fFolded
)

var (
	eventNames  = []string{"kind", "apiVersion", "level", "auditID", "stage", "requestURI", "verb", "user", "impersonatedUser", "sourceIPs", "userAgent", "objectRef", "responseStatus", "requestObject", "responseObject", "requestReceivedTimestamp", "stageTimestamp", "timestamp", "annotations"}
	userNames   = []string{"username", "uid", "groups", "extra"}
	refNames    = []string{"resource", "namespace", "name", "uid", "apiGroup", "apiVersion", "resourceVersion", "subresource"}
	statusNames = []string{"code", "status", "reason", "message"}
)

func eventField(k []byte) int {
	switch string(k) {
	case "kind":
		return evKind
	case "apiVersion":
		return evAPIVersion
	case "level":
		return evLevel
	case "auditID":
		return evAuditID
	case "stage":
		return evStage
	case "requestURI":
		return evRequestURI
	case "verb":
		return evVerb
	case "user":
		return evUser
	case "impersonatedUser":
		return evImpersonatedUser
	case "sourceIPs":
		return evSourceIPs
	case "userAgent":
		return evUserAgent
	case "objectRef":
		return evObjectRef
	case "responseStatus":
		return evResponseStatus
	case "requestObject":
		return evRequestObject
	case "responseObject":
		return evResponseObject
	case "requestReceivedTimestamp":
		return evRequestReceivedTimestamp
	case "stageTimestamp":
		return evStageTimestamp
	case "timestamp":
		return evTimestamp
	case "annotations":
		return evAnnotations
	}
	if foldsTo(k, eventNames) {
		return evFolded
	}
	return evUnknown
}

func userField(k []byte) int {
	switch string(k) {
	case "username":
		return fUsername
	case "uid":
		return fUID
	case "groups":
		return fGroups
	case "extra":
		return fExtra
	}
	if foldsTo(k, userNames) {
		return fFolded
	}
	return fUnknown
}

func refField(k []byte) int {
	switch string(k) {
	case "resource":
		return fResource
	case "namespace":
		return fNamespace
	case "name":
		return fName
	case "uid":
		return fUID
	case "apiGroup":
		return fAPIGroup
	case "apiVersion":
		return fAPIVersion
	case "resourceVersion":
		return fResourceVersion
	case "subresource":
		return fSubresource
	}
	if foldsTo(k, refNames) {
		return fFolded
	}
	return fUnknown
}

func statusField(k []byte) int {
	switch string(k) {
	case "code":
		return fCode
	case "status":
		return fStatus
	case "reason":
		return fReason
	case "message":
		return fMessage
	}
	if foldsTo(k, statusNames) {
		return fFolded
	}
	return fUnknown
}

// foldsTo reports whether the ASCII name k equals one of names but for case,
// which the JSON decoder takes as that field.
func foldsTo(k []byte, names []string) bool {
	for _, n := range names {
		if len(n) != len(k) {
			continue
		}
		i := 0
		for i < len(k) && lower(k[i]) == lower(n[i]) {
			i++
		}
		if i == len(k) {
			return true
		}
	}
	return false
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// event decodes the object at p into ev, which is zero, and returns the
// offset after it, or -1 for what it declines.
func (d *decoder) event(ev *Event, p int) int {
	b := d.b
	p = jsonscan.SkipSpace(b, p+1)
	if p < len(b) && b[p] == '}' {
		return p + 1
	}
	var seen uint32
	for {
		var k []byte
		if k, p = d.memberName(p); p < 0 {
			return -1
		}
		f := eventField(k)
		if f == evFolded || seen&(1<<f) != 0 && f != evUnknown {
			return -1
		}
		seen |= 1 << f
		switch f {
		case evUnknown:
			p = d.skip(p, 1)
		case evKind:
			p = d.str(p, &ev.Kind)
		case evAPIVersion:
			p = d.str(p, &ev.APIVersion)
		case evLevel:
			p = d.str(p, &ev.Level)
		case evAuditID:
			p = d.str(p, &ev.AuditID)
		case evStage:
			p = d.str(p, &ev.Stage)
		case evRequestURI:
			p = d.str(p, &ev.RequestURI)
		case evVerb:
			p = d.str(p, &ev.Verb)
		case evUser:
			switch b[p] {
			case '{':
				p = d.userInfo(p, &ev.User)
			case 'n':
				p = d.null(p)
			default:
				p = -1
			}
		case evImpersonatedUser:
			switch b[p] {
			case '{':
				u := d.newUser()
				ev.ImpersonatedUser = u
				p = d.userInfo(p, u)
			case 'n':
				p = d.null(p)
			default:
				p = -1
			}
		case evSourceIPs:
			ev.SourceIPs, p = d.strSlice(p)
		case evUserAgent:
			p = d.str(p, &ev.UserAgent)
		case evObjectRef:
			switch b[p] {
			case '{':
				r := d.newRef()
				ev.ObjectRef = r
				p = d.objectRef(p, r)
			case 'n':
				p = d.null(p)
			default:
				p = -1
			}
		case evResponseStatus:
			switch b[p] {
			case '{':
				s := d.newStatus()
				ev.ResponseStatus = s
				p = d.status(p, s)
			case 'n':
				p = d.null(p)
			default:
				p = -1
			}
		case evRequestObject:
			ev.RequestObject, p = d.raw(p)
		case evResponseObject:
			ev.ResponseObject, p = d.raw(p)
		case evRequestReceivedTimestamp:
			p = d.time(p, &ev.RequestReceivedTimestamp)
		case evStageTimestamp:
			p = d.time(p, &ev.StageTimestamp)
		case evTimestamp:
			p = d.time(p, &ev.Timestamp)
		case evAnnotations:
			ev.Annotations, p = d.strMap(p)
		}
		var more bool
		if p, more = d.next(p, '}'); !more {
			return p
		}
	}
}

// next is jsonscan.Next over the decoder's input.
func (d *decoder) next(p int, closing byte) (int, bool) { return jsonscan.Next(d.b, p, closing) }

// memberName decodes the name of the member at p (a plain name, without
// escapes, in ASCII) and moves past it and the colon after it to the value.
func (d *decoder) memberName(p int) ([]byte, int) {
	b := d.b
	if p >= len(b) || b[p] != '"' {
		return nil, -1
	}
	s := p + 1
	e := s
	for ; e+8 <= len(b); e += 8 {
		if m := jsonscan.SpecialBytes(binary.LittleEndian.Uint64(b[e:])); m != 0 {
			e += bits.TrailingZeros64(m) >> 3
			break
		}
	}
	for e < len(b) && !textSpecial[b[e]] {
		e++
	}
	if e >= len(b) || b[e] != '"' {
		return nil, -1
	}
	p = jsonscan.SkipSpace(b, e+1)
	if p >= len(b) || b[p] != ':' {
		return nil, -1
	}
	p = jsonscan.SkipSpace(b, p+1)
	if p >= len(b) {
		return nil, -1
	}
	return b[s:e], p
}

func (d *decoder) userInfo(p int, u *UserInfo) int {
	b := d.b
	p = jsonscan.SkipSpace(b, p+1)
	if p < len(b) && b[p] == '}' {
		return p + 1
	}
	var seen uint32
	for {
		var k []byte
		if k, p = d.memberName(p); p < 0 {
			return -1
		}
		f := userField(k)
		if f == fFolded || seen&(1<<f) != 0 && f != fUnknown {
			return -1
		}
		seen |= 1 << f
		switch f {
		case fUnknown:
			p = d.skip(p, 2)
		case fUsername:
			p = d.str(p, &u.Username)
		case fUID:
			p = d.str(p, &u.UID)
		case fGroups:
			u.Groups, p = d.strSlice(p)
		case fExtra:
			u.Extra, p = d.strSliceMap(p)
		}
		var more bool
		if p, more = d.next(p, '}'); !more {
			return p
		}
	}
}

func (d *decoder) objectRef(p int, r *ObjectReference) int {
	b := d.b
	p = jsonscan.SkipSpace(b, p+1)
	if p < len(b) && b[p] == '}' {
		return p + 1
	}
	var seen uint32
	for {
		var k []byte
		if k, p = d.memberName(p); p < 0 {
			return -1
		}
		f := refField(k)
		if f == fFolded || seen&(1<<f) != 0 && f != fUnknown {
			return -1
		}
		seen |= 1 << f
		switch f {
		case fUnknown:
			p = d.skip(p, 2)
		case fResource:
			p = d.str(p, &r.Resource)
		case fNamespace:
			p = d.str(p, &r.Namespace)
		case fName:
			p = d.str(p, &r.Name)
		case fUID:
			p = d.str(p, &r.UID)
		case fAPIGroup:
			p = d.str(p, &r.APIGroup)
		case fAPIVersion:
			p = d.str(p, &r.APIVersion)
		case fResourceVersion:
			p = d.str(p, &r.ResourceVersion)
		case fSubresource:
			p = d.str(p, &r.Subresource)
		}
		var more bool
		if p, more = d.next(p, '}'); !more {
			return p
		}
	}
}

func (d *decoder) status(p int, s *Status) int {
	b := d.b
	p = jsonscan.SkipSpace(b, p+1)
	if p < len(b) && b[p] == '}' {
		return p + 1
	}
	var seen uint32
	for {
		var k []byte
		if k, p = d.memberName(p); p < 0 {
			return -1
		}
		f := statusField(k)
		if f == fFolded || seen&(1<<f) != 0 && f != fUnknown {
			return -1
		}
		seen |= 1 << f
		switch f {
		case fUnknown:
			p = d.skip(p, 2)
		case fCode:
			p = d.code(p, &s.Code)
		case fStatus:
			p = d.str(p, &s.Status)
		case fReason:
			p = d.str(p, &s.Reason)
		case fMessage:
			p = d.str(p, &s.Message)
		}
		var more bool
		if p, more = d.next(p, '}'); !more {
			return p
		}
	}
}

// str decodes the string or null at p into *dst, which is empty.
func (d *decoder) str(p int, dst *string) int {
	switch d.b[p] {
	case '"':
		*dst, p = d.stringValue(p)
		return p
	case 'n':
		return d.null(p)
	}
	return -1
}

// stringValue decodes the string at p, which starts with its quote.
func (d *decoder) stringValue(p int) (string, int) {
	b := d.b
	s := p + 1
	// Eight bytes at a time, up to the closing quote, the rest of the
	// string being left to scanString.
	e := s
	for ; e+8 <= len(b); e += 8 {
		if m := jsonscan.SpecialBytes(binary.LittleEndian.Uint64(b[e:])); m != 0 {
			e += bits.TrailingZeros64(m) >> 3
			break
		}
	}
	esc := false
	if e >= len(b) || b[e] != '"' {
		if e, esc = scanString(b, e); e < 0 {
			return "", -1
		}
	}
	if esc {
		return unescape(b[s:e]), e + 1
	}
	if e == s {
		return "", e + 1
	}
	return unsafe.String(&b[s], e-s), e + 1
}

func (d *decoder) null(p int) int {
	if len(d.b)-p >= 4 && string(d.b[p:p+4]) == "null" {
		return p + 4
	}
	return -1
}

// strSlice decodes the array of strings or null at p.
func (d *decoder) strSlice(p int) ([]string, int) {
	b := d.b
	switch b[p] {
	case '[':
	case 'n':
		return nil, d.null(p)
	default:
		return nil, -1
	}
	p = jsonscan.SkipSpace(b, p+1)
	if p < len(b) && b[p] == ']' {
		return []string{}, p + 1
	}
	tmp := d.tmp[:0]
	for {
		if p >= len(b) || b[p] != '"' {
			d.tmp = tmp
			return nil, -1
		}
		var s string
		s, p = d.stringValue(p)
		tmp = append(tmp, s)
		var more bool
		if p, more = d.next(p, ']'); !more {
			d.tmp = tmp
			if p < 0 {
				return nil, -1
			}
			return d.strings(tmp), p
		}
	}
}

// strMap decodes the object of strings or null at p.
func (d *decoder) strMap(p int) (map[string]string, int) {
	b := d.b
	switch b[p] {
	case '{':
	case 'n':
		return nil, d.null(p)
	default:
		return nil, -1
	}
	m := make(map[string]string)
	p = jsonscan.SkipSpace(b, p+1)
	if p < len(b) && b[p] == '}' {
		return m, p + 1
	}
	for {
		var k, v string
		if k, p = d.mapKey(p); p < 0 || b[p] != '"' {
			return nil, -1
		}
		v, p = d.stringValue(p)
		m[k] = v
		var more bool
		if p, more = d.next(p, '}'); !more {
			if p < 0 {
				return nil, -1
			}
			return m, p
		}
	}
}

// strSliceMap decodes the object of arrays of strings or null at p.
func (d *decoder) strSliceMap(p int) (map[string][]string, int) {
	b := d.b
	switch b[p] {
	case '{':
	case 'n':
		return nil, d.null(p)
	default:
		return nil, -1
	}
	m := make(map[string][]string)
	p = jsonscan.SkipSpace(b, p+1)
	if p < len(b) && b[p] == '}' {
		return m, p + 1
	}
	for {
		var k string
		var v []string
		if k, p = d.mapKey(p); p < 0 || b[p] != '[' {
			return nil, -1
		}
		v, p = d.strSlice(p)
		m[k] = v
		var more bool
		if p, more = d.next(p, '}'); !more {
			if p < 0 {
				return nil, -1
			}
			return m, p
		}
	}
}

// mapKey decodes the name of the member at p and moves past it and the
// colon after it to the value.
func (d *decoder) mapKey(p int) (string, int) {
	b := d.b
	if p >= len(b) || b[p] != '"' {
		return "", -1
	}
	k, p := d.stringValue(p)
	if p < 0 {
		return "", -1
	}
	p = jsonscan.SkipSpace(b, p)
	if p >= len(b) || b[p] != ':' {
		return "", -1
	}
	p = jsonscan.SkipSpace(b, p+1)
	if p >= len(b) {
		return "", -1
	}
	return k, p
}

// maxCodeDigits is the number of digits of the status codes the decoder
// decodes, which an int holds whatever their value.
const maxCodeDigits = 9 + 9*(strconv.IntSize/64)

// code decodes the integer or null at p into *dst, which is 0. It declines
// numbers with a fraction or an exponent and those of more than
// maxCodeDigits digits.
func (d *decoder) code(p int, dst *int) int {
	b := d.b
	if b[p] == 'n' {
		return d.null(p)
	}
	s := p
	if p = jsonscan.SkipNumber(b, p); p < 0 {
		return -1
	}
	neg := b[s] == '-'
	digits := b[s:p]
	if neg {
		digits = digits[1:]
	}
	if len(digits) > maxCodeDigits {
		return -1
	}
	n := 0
	for _, c := range digits {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	*dst = n
	return p
}

// time decodes the timestamp or null at p into *dst, which is zero, as
// time.Time's UnmarshalJSON does: the string is not unescaped.
func (d *decoder) time(p int, dst *time.Time) int {
	b := d.b
	switch b[p] {
	case '"':
	case 'n':
		return d.null(p)
	default:
		return -1
	}
	s := p
	e, esc := scanString(b, p+1)
	if e < 0 || esc {
		return -1
	}
	if t, ok := parseTimestamp(b[s+1 : e]); ok {
		*dst = t
	} else if err := dst.UnmarshalJSON(b[s : e+1]); err != nil {
		return -1
	}
	return e + 1
}

// raw returns the value at p as it is.
func (d *decoder) raw(p int) ([]byte, int) {
	s := p
	if p = d.skip(p, 1); p < 0 {
		return nil, -1
	}
	return d.b[s:p:p], p
}

// skip checks the value at p, within depth objects and arrays, as
// encoding/json accepts it (a lone surrogate escape included), and returns
// the offset after it.
func (d *decoder) skip(p, depth int) int { return d.skipper.Skip(d.b, p, depth) }

// textSpecial marks the bytes that end a run of plain string content.
var textSpecial = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	for c := 0x80; c < 0x100; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// scanString checks the content of the string that starts at p, after its
// quote: its escapes, the absence of control characters, and UTF-8. It
// returns the offset of the closing quote, or -1, and whether there are
// escapes.
func scanString(b []byte, p int) (int, bool) {
	esc := false
	for {
		// Eight bytes at a time, up to the first one that is not plain
		// text.
		for ; p+8 <= len(b); p += 8 {
			if m := jsonscan.SpecialBytes(binary.LittleEndian.Uint64(b[p:])); m != 0 {
				p += bits.TrailingZeros64(m) >> 3
				goto special
			}
		}
		for p < len(b) && !textSpecial[b[p]] {
			p++
		}
		if p >= len(b) {
			return -1, esc
		}
	special:
		switch c := b[p]; {
		case c == '"':
			return p, esc
		case c == '\\':
			esc = true
			if p+1 >= len(b) {
				return -1, esc
			}
			switch b[p+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p += 2
			case 'u':
				if len(b)-p < 6 || jsonscan.Hex4(b[p+2:p+6]) < 0 {
					return -1, esc
				}
				p += 6
			default:
				return -1, esc
			}
		case c < 0x20:
			return -1, esc
		default:
			r, n := utf8.DecodeRune(b[p:])
			if r == utf8.RuneError && n == 1 {
				return -1, esc
			}
			p += n
		}
	}
}

// unescape returns the content of a string with escapes, which scanString
// has checked, as encoding/json decodes it: a \u escape of half a surrogate
// pair without the other half is U+FFFD.
func unescape(s []byte) string {
	// scanString has checked the escapes
	out, _ := jsonscan.AppendUnescaped(make([]byte, 0, len(s)), s)
	return unsafe.String(unsafe.SliceData(out), len(out))
}

// parseTimestamp parses the usual form of kube-apiserver's timestamps,
// "2006-01-02T15:04:05Z" with an optional fraction of 1 to 9 digits, and
// reports false for any other. What it parses, time.Time's UnmarshalJSON
// parses to the same time.
func parseTimestamp(s []byte) (time.Time, bool) {
	const base = len("2006-01-02T15:04:05")
	if len(s) < base+1 || len(s) > base+11 || s[len(s)-1] != 'Z' ||
		s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, false
	}
	nsec := 0
	if frac := s[base : len(s)-1]; len(frac) > 0 {
		if len(frac) < 2 || frac[0] != '.' {
			return time.Time{}, false
		}
		n, ok := digits(frac[1:])
		if !ok {
			return time.Time{}, false
		}
		for range 10 - len(frac) {
			n *= 10
		}
		nsec = n
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
}

// digits returns the value of the decimal digits of s.
func digits(s []byte) (int, bool) {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// strings returns a copy of src in the current block.
func (d *decoder) strings(src []string) []string {
	n := len(src)
	if n > len(d.strs) {
		size := n
		if d.left > 1 {
			size = max(n, min(8*d.left, 1024))
		}
		d.strs = make([]string, size)
	}
	s := d.strs[:n:n]
	d.strs = d.strs[n:]
	copy(s, src)
	return s
}

// blockLen is the number of values of a kind to allocate at once.
func (d *decoder) blockLen() int { return max(1, min(d.left, 64)) }

func (d *decoder) newRef() *ObjectReference {
	if len(d.refs) == 0 {
		d.refs = make([]ObjectReference, d.blockLen())
	}
	r := &d.refs[0]
	d.refs = d.refs[1:]
	return r
}

func (d *decoder) newStatus() *Status {
	if len(d.stats) == 0 {
		d.stats = make([]Status, d.blockLen())
	}
	s := &d.stats[0]
	d.stats = d.stats[1:]
	return s
}

func (d *decoder) newUser() *UserInfo {
	if len(d.users) == 0 {
		d.users = make([]UserInfo, d.blockLen())
	}
	u := &d.users[0]
	d.users = d.users[1:]
	return u
}
