package k8saudit

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	json "github.com/goccy/go-json"

	"github.com/cdewatch/cdewatch/internal/jsonscan"
)

// DefaultMaxEventBytes is the item size limit when Limits.MaxEventBytes is 0.
// kube-apiserver's truncating backend caps events at 100 KiB by default.
const DefaultMaxEventBytes = 256 << 10

// Limits bound what Decode accepts.
type Limits struct {
	// MaxEventBytes bounds the size of one event as sent; 0 (or less)
	// means DefaultMaxEventBytes. The size of the body as a whole is the
	// caller's to bound, before reading it.
	MaxEventBytes int
}

func (l Limits) maxEvent() int {
	if l.MaxEventBytes <= 0 {
		return DefaultMaxEventBytes
	}
	return l.MaxEventBytes
}

// Item is one decoded event with its original bytes.
//
// Raw is exactly the bytes of the event as received, without the white space
// around it. It is a sub-slice of the input, and the strings, RequestObject
// and ResponseObject of Event may refer to the input too: the caller must not
// modify the input while Items are in use.
type Item struct {
	Raw   []byte
	Event Event
}

// DecodeError names the problem and the item index (Index -1 for the body as
// a whole). It unwraps to the JSON decoder's error when there is one.
type DecodeError struct {
	Index  int
	Reason string

	err error
}

// Error returns e.g. "item 3: invalid UTF-8" or "body: malformed JSON: …".
func (e *DecodeError) Error() string {
	if e.Index < 0 {
		return "body: " + e.Reason
	}
	return "item " + strconv.Itoa(e.Index) + ": " + e.Reason
}

// Unwrap returns the underlying error, if any.
func (e *DecodeError) Unwrap() error { return e.err }

func bodyError(reason string) *DecodeError { return &DecodeError{Index: -1, Reason: reason} }

func itemError(i int, reason string) *DecodeError { return &DecodeError{Index: i, Reason: reason} }

// Decode accepts what kube-apiserver's webhook backend POSTs: an
// audit.k8s.io/v1 EventList. It also accepts a single Event, and the
// audit.k8s.io/v1beta1 versions of both, or bodies without apiVersion and
// kind as older clusters and hand-written clients send them: with kind "", a
// body with an "items" member is a list and any other body a single event.
// Any other kind or apiVersion is an error, as is a list item with a kind
// other than "" or Event.
//
// Every item must be a JSON object of valid UTF-8, at most
// Limits.MaxEventBytes long, with a non-empty auditID and stage. Decode checks
// every item before it returns: either all items are returned or none, with a
// *DecodeError naming the first problem and the index of its item (0 for a
// single event; -1 for problems of the body as a whole). An empty list yields
// no items and no error.
//
// The items refer to body (see Item).
func Decode(body []byte, lim Limits) ([]Item, error) {
	limit := lim.maxEvent()
	start, end := trimSpace(body)
	if start == end {
		return nil, bodyError("malformed JSON: empty body")
	}
	if body[start] != '{' {
		if isValueStart(body[start]) {
			return nil, bodyError("not a JSON object")
		}
		return nil, bodyError(fmt.Sprintf("malformed JSON: invalid character %q at offset %d", body[start], start))
	}
	h := header{d: decoder{limit: limit}}
	if err := h.scan(body, start, end); err != nil {
		return nil, err
	}
	switch h.apiVersion {
	case "", APIVersionV1, APIVersionV1beta1:
	default:
		return nil, bodyError(fmt.Sprintf("unsupported apiVersion %q", h.apiVersion))
	}
	var list bool
	switch h.kind {
	case KindEventList:
		list = true
	case KindEvent:
	case "":
		list = h.hasItems
	default:
		return nil, bodyError(fmt.Sprintf("unsupported kind %q", h.kind))
	}
	if !list {
		it := make([]Item, 1)
		d := decoder{limit: limit, left: 1}
		if err := d.item(&it[0], body[start:end], 0); err != nil {
			return nil, err
		}
		return it, nil
	}
	if h.itemsBad {
		return nil, bodyError("items is not an array")
	}
	if err := h.validateOthers(body); err != nil {
		return nil, err
	}
	// The items were decoded as they were found: the kind and apiVersion
	// that make the body a list allow one wherever they are.
	if h.itemErr != nil {
		return nil, h.itemErr
	}
	if h.list == nil {
		return []Item{}, nil
	}
	return h.list, nil
}

// DecodeLine decodes one line of the log backend's JSON file format, which
// writes one Event object per line. The checks are Decode's for one item and
// errors have Index 0. White space around the object, such as the line's
// newline, is not part of Item.Raw. The item refers to line (see Item).
func DecodeLine(line []byte, lim Limits) (Item, error) {
	var it Item
	start, end := trimSpace(line)
	if start == end {
		return Item{}, itemError(0, "malformed JSON: empty line")
	}
	d := decoder{limit: lim.maxEvent(), left: 1}
	if err := d.item(&it, line[start:end], 0); err != nil {
		return Item{}, err
	}
	return it, nil
}

// item checks raw, which has no surrounding white space, and decodes it into
// it.
func (d *decoder) item(it *Item, raw []byte, i int) error {
	decoded := false
	if len(raw) <= d.limit && raw[0] == '{' {
		d.b = raw
		decoded = d.event(&it.Event, 0) == len(raw)
	}
	return d.settle(it, raw, i, decoded)
}

// settle checks the item it of raw, the event at index i. The decoder has
// decoded the event into it if decoded; else it.Event is reset and the JSON
// decoder decides.
func (d *decoder) settle(it *Item, raw []byte, i int, decoded bool) error {
	if len(raw) > d.limit {
		return itemError(i, fmt.Sprintf("event of %d bytes exceeds the limit of %d bytes", len(raw), d.limit))
	}
	if raw[0] != '{' {
		return itemError(i, "not a JSON object")
	}
	if !decoded {
		it.Event = Event{}
		if !utf8.Valid(raw) {
			return itemError(i, "invalid UTF-8")
		}
		// Strings without escapes refer to raw instead of being copied:
		// raw is kept alive by Item.Raw anyway.
		if err := json.UnmarshalWithOption(raw, &it.Event, json.DecodeNoCopyString()); err != nil {
			return &DecodeError{Index: i, Reason: "malformed event: " + err.Error(), err: err}
		}
	}
	ev := &it.Event
	switch ev.Kind {
	case "", KindEvent:
	default:
		return itemError(i, fmt.Sprintf("unsupported kind %q", ev.Kind))
	}
	switch ev.APIVersion {
	case "", APIVersionV1, APIVersionV1beta1:
	default:
		return itemError(i, fmt.Sprintf("unsupported apiVersion %q", ev.APIVersion))
	}
	if ev.AuditID == "" {
		return itemError(i, "missing auditID")
	}
	if ev.Stage == "" {
		return itemError(i, "missing stage")
	}
	it.Raw = raw
	return nil
}

// span is a range of the input, [start, end).
type span struct{ start, end int }

// header is what Decode needs of the top-level object: its kind, apiVersion
// and items, found by one pass over the body. The pass decodes the items as
// it finds them unless the kind or apiVersion before them rule out a list.
type header struct {
	kind, apiVersion string
	hasItems         bool   // the object has an "items" member
	itemsBad         bool   // … which is neither an array nor null
	others           []span // values of the other members
	seen             uint8  // members seen of kind, apiVersion and items

	d       decoder
	list    []Item // the items up to the first with an error, itemErr
	itemErr error
	unit    int // the size of the first item
}

const (
	seenKind = 1 << iota
	seenAPIVersion
	seenItems
)

func syntaxError(reason string, off int) *DecodeError {
	return bodyError(fmt.Sprintf("malformed JSON: %s at offset %d", reason, off))
}

// scan scans the object at body[start:end], which begins with '{'. It checks
// the structure of the object and of the items array; the values it skips are
// checked later.
func (h *header) scan(body []byte, start, end int) error {
	b := body[:end]
	p := jsonscan.SkipSpace(b, start+1)
	empty := p < len(b) && b[p] == '}'
	if empty {
		p++
	}
	for !empty {
		if p >= len(b) || b[p] != '"' {
			return syntaxError("expected a member name", p)
		}
		ks := p
		p = jsonscan.SkipString(b, p)
		if p < 0 {
			return syntaxError("unterminated string", ks)
		}
		key, err := memberName(b[ks:p])
		if err != nil {
			return syntaxError("invalid member name", ks)
		}
		p = jsonscan.SkipSpace(b, p)
		if p >= len(b) || b[p] != ':' {
			return syntaxError("expected ':'", p)
		}
		p = jsonscan.SkipSpace(b, p+1)
		vs := p
		switch key {
		case "kind", "apiVersion":
			bit := uint8(seenKind)
			if key == "apiVersion" {
				bit = seenAPIVersion
			}
			if h.seen&bit != 0 {
				return bodyError(fmt.Sprintf("duplicate member %q", key))
			}
			h.seen |= bit
			if p < len(b) && b[p] == '"' {
				p = jsonscan.SkipString(b, p)
				if p < 0 {
					return syntaxError("unterminated string", vs)
				}
				var s string
				if e, esc := scanString(b, vs+1); e == p-1 && !esc {
					s = string(b[vs+1 : p-1])
				} else if err := json.Unmarshal(b[vs:p], &s); err != nil {
					return &DecodeError{Index: -1, Reason: fmt.Sprintf("malformed %s: %v", key, err), err: err}
				}
				if key == "kind" {
					h.kind = s
				} else {
					h.apiVersion = s
				}
			} else if p = jsonscan.SkipValue(b, p); p < 0 {
				return syntaxError("invalid value", vs)
			} else if string(b[vs:p]) != "null" {
				return bodyError(key + " is not a string")
			}
		case "items":
			if h.seen&seenItems != 0 {
				return bodyError(`duplicate member "items"`)
			}
			h.seen |= seenItems
			h.hasItems = true
			if p < len(b) && b[p] == '[' {
				var err error
				if p, err = h.scanItems(b, p); err != nil {
					return err
				}
				break
			}
			if p = jsonscan.SkipValue(b, p); p < 0 {
				return syntaxError("invalid value", vs)
			}
			if string(b[vs:p]) != "null" {
				h.itemsBad = true
			}
		default:
			// Names are case-sensitive, as for Kubernetes' decoder: a
			// list whose items were missed for "Items" would lose them.
			if strings.EqualFold(key, "items") || strings.EqualFold(key, "kind") || strings.EqualFold(key, "apiVersion") {
				return bodyError(fmt.Sprintf("unknown member %q (names are case-sensitive)", key))
			}
			if p = jsonscan.SkipValue(b, p); p < 0 {
				return syntaxError("invalid value", vs)
			}
			h.others = append(h.others, span{vs, p})
		}
		p = jsonscan.SkipSpace(b, p)
		if p >= len(b) {
			return syntaxError("unexpected end of input", p)
		}
		if b[p] == ',' {
			p = jsonscan.SkipSpace(b, p+1)
			continue
		}
		if b[p] == '}' {
			p++
			break
		}
		return syntaxError(fmt.Sprintf("invalid character %q after member value", b[p]), p)
	}
	if p != end {
		return syntaxError("data after the top-level object", p)
	}
	return nil
}

// scanItems scans the array at b[p], the items, and decodes them unless the
// members before it rule out a list.
func (h *header) scanItems(b []byte, p int) (int, error) {
	p = jsonscan.SkipSpace(b, p+1)
	if p < len(b) && b[p] == ']' {
		return p + 1, nil
	}
	decode := h.mayBeList()
	for n := 0; ; n++ {
		if p >= len(b) {
			return 0, syntaxError("unexpected end of input", p)
		}
		vs := p
		if decode && h.itemErr == nil {
			p = h.decodeItem(b, p, n)
		} else {
			p = jsonscan.SkipValue(b, p)
		}
		if p < 0 {
			return 0, syntaxError(fmt.Sprintf("invalid value of item %d", n), vs)
		}
		p = jsonscan.SkipSpace(b, p)
		if p >= len(b) {
			return 0, syntaxError("unexpected end of input", p)
		}
		switch b[p] {
		case ',':
			p = jsonscan.SkipSpace(b, p+1)
		case ']':
			return p + 1, nil
		default:
			return 0, syntaxError(fmt.Sprintf("invalid character %q after array element", b[p]), p)
		}
	}
}

// mayBeList reports whether the kind and apiVersion seen so far allow a list.
func (h *header) mayBeList() bool {
	switch h.apiVersion {
	case "", APIVersionV1, APIVersionV1beta1:
		return h.kind == "" || h.kind == KindEventList
	}
	return false
}

// decodeItem decodes the item i at b[p] into h.list and returns the offset
// after it, or -1 if it is not a value. From the first item with an error on,
// the items are only scanned: the error is Decode's unless the body has one.
func (h *header) decodeItem(b []byte, p, i int) int {
	d := &h.d
	if i > 0 {
		d.left = 1 + (len(b)-p)/h.unit
	}
	h.list = append(h.list, Item{})
	it := &h.list[i]
	q := -1
	if b[p] == '{' {
		d.b = b
		q = d.event(&it.Event, p)
	}
	decoded := q >= 0
	if !decoded {
		if q = jsonscan.SkipValue(b, p); q < 0 {
			return -1
		}
	}
	if err := d.settle(it, b[p:q], i, decoded); err != nil {
		h.itemErr = err
		h.list = nil
		return q
	}
	if i == 0 {
		// Most lists are full webhook batches: guess their length from the
		// size of the first item to avoid growing the slice many times, up
		// to a bound, an Item being far larger than the smallest JSON
		// object.
		h.unit = q - p
		h.list = slices.Grow(h.list, min(1024, (len(b)-q)/h.unit))
	}
	return q
}

// validateOthers checks the values of the members other than kind,
// apiVersion and items (metadata, typically) that the scan skipped.
func (h *header) validateOthers(body []byte) error {
	for _, sp := range h.others {
		if !json.Valid(body[sp.start:sp.end]) {
			return syntaxError("invalid value", sp.start)
		}
	}
	return nil
}

// memberName returns the name of the quoted string q.
func memberName(q []byte) (string, error) {
	plain := true
	for _, c := range q[1 : len(q)-1] {
		if c < 0x20 || c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		return string(q[1 : len(q)-1]), nil
	}
	// Escapes, or control characters, which the decoder rejects.
	var s string
	err := json.Unmarshal(q, &s)
	return s, err
}

func isValueStart(c byte) bool {
	switch c {
	case '[', '"', 't', 'f', 'n', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return true
	}
	return false
}

// trimSpace returns the bounds of b without JSON white space around it.
func trimSpace(b []byte) (start, end int) {
	end = len(b)
	for start < end && jsonscan.IsSpace(b[start]) {
		start++
	}
	for end > start && jsonscan.IsSpace(b[end-1]) {
		end--
	}
	return start, end
}
