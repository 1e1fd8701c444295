// Package detect turns ledger records into alerts: rules evaluated on each
// record as the detector tails the ledger.
package detect

import (
	"strconv"
	"strings"
	"sync"

	json "github.com/goccy/go-json"

	"github.com/cdewatch/cdewatch/internal/event"
)

// Event is what rules see of one ledger record: its normalized fields and
// its original document (Raw), decoded once, on first use.
type Event struct {
	Seq uint64
	Rec event.Record

	once sync.Once
	doc  any // Raw decoded as JSON; nil if Raw is not JSON
}

// NewEvent wraps the record at seq.
func NewEvent(seq uint64, rec event.Record) *Event { return &Event{Seq: seq, Rec: rec} }

// Doc returns Raw decoded as JSON (maps, slices, strings, float64, bool,
// nil), or nil when Raw is not JSON. It decodes once, and is safe for
// concurrent use.
func (e *Event) Doc() any {
	e.once.Do(func() {
		var v any
		if json.Unmarshal(e.Rec.Raw, &v) == nil {
			e.doc = v
		}
	})
	return e.doc
}

// Record fields by name, reachable as "cdewatch.<name>" from rules.
var recordFields = map[string]func(*event.Record) string{
	"source":   func(r *event.Record) string { return r.Source },
	"table":    func(r *event.Record) string { return r.Table },
	"user":     func(r *event.Record) string { return r.User },
	"action":   func(r *event.Record) string { return r.Action },
	"outcome":  func(r *event.Record) string { return string(r.Outcome) },
	"status":   func(r *event.Record) string { return strconv.Itoa(r.Status) },
	"origin":   func(r *event.Record) string { return r.OriginIP },
	"agent":    func(r *event.Record) string { return r.UserAgent },
	"resource": func(r *event.Record) string { return r.Resource },
	"pci":      func(r *event.Record) string { return r.PCI.String() },
	"key":      func(r *event.Record) string { return r.Key },
}

// Field returns the value at a dotted path: "cdewatch.<name>" for the
// record's normalized fields (source, table, user, action, outcome,
// status, origin, agent, resource, pci, key), otherwise a path into the
// original document, e.g. "objectRef.resource", "user.groups",
// "requestObject.spec.containers". A member whose name has dots (an
// annotation such as "authorization.k8s.io/decision") is found too: at
// each level the longest member name that is a prefix of the rest of the
// path wins. Array elements are addressed by index ("sourceIPs.0").
func (e *Event) Field(path string) (any, bool) {
	if name, ok := strings.CutPrefix(path, "cdewatch."); ok {
		if f, ok := recordFields[name]; ok {
			return f(&e.Rec), true
		}
		return nil, false
	}
	return Lookup(e.Doc(), path)
}

// Lookup finds a dotted path in a decoded JSON value (see Event.Field).
func Lookup(v any, path string) (any, bool) {
	for path != "" {
		switch c := v.(type) {
		case map[string]any:
			if x, ok := c[path]; ok {
				return x, true
			}
			best := -1
			for k := range c {
				if len(k) > best && len(k) < len(path) && path[len(k)] == '.' && strings.HasPrefix(path, k) {
					best = len(k)
				}
			}
			if best < 0 {
				return nil, false
			}
			v, path = c[path[:best]], path[best+1:]
		case []any:
			head, rest, _ := strings.Cut(path, ".")
			i, err := strconv.Atoi(head)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			v, path = c[i], rest
		default:
			return nil, false
		}
	}
	return v, true
}

// Matcher decides whether one event matches: the compiled condition of a
// rule (the built-in pack's YAML rules, Sigma detections). Match must not
// modify the event and must be safe for concurrent use.
type Matcher interface {
	Match(e *Event) bool
}
