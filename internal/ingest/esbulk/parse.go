package esbulk

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	json "github.com/goccy/go-json"
)

// Bulk operations.
const (
	opIndex  = "index"
	opCreate = "create"
	opDelete = "delete"
	opUpdate = "update"
)

// maxIDBytes is Elasticsearch's limit on a document _id.
const maxIDBytes = 512

// item is one action of a bulk body and, for index, create and update, its
// source line.
type item struct {
	op     string // opIndex, opCreate, opDelete or opUpdate
	index  string // _index, else the index of the URL
	id     string // _id as sent (a number is kept as its literal)
	hasID  bool   // an _id was sent
	line   int    // 1-based line of the action
	action []byte // the action line, aliasing the body
	source []byte // the source line, aliasing the body; nil for delete
	// err, when set, is the item's answer: it is not stored as a record
	// (but as an ingest.reject).
	err *itemError
}

// itemError is a per-item failure, answered in the item's entry of the
// response (status, error.type, error.reason).
type itemError struct {
	status int
	typ    string
	reason string
}

// requestError fails a whole request: answered with status and an
// Elasticsearch error object of type typ.
type requestError struct {
	status int
	typ    string
	reason string
}

func (e *requestError) Error() string { return e.reason }

// actionLine is an action/metadata line: exactly one of the members is set.
type actionLine struct {
	Index  *metadata `json:"index"`
	Create *metadata `json:"create"`
	Delete *metadata `json:"delete"`
	Update *metadata `json:"update"`
}

// metadata is the part of an action's metadata cdewatch uses; the rest
// (routing, pipeline, version, if_seq_no, require_alias,
// dynamic_templates, _type, …) is accepted and ignored.
type metadata struct {
	Index flexString `json:"_index"`
	ID    flexString `json:"_id"`
}

// flexString takes a JSON string, or a number as its literal (as
// Elasticsearch does for _id); null is "not set".
type flexString struct {
	s   string
	set bool
}

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return errors.New("empty value")
	case string(b) == "null":
		*f = flexString{}
		return nil
	case b[0] == '"':
		if bytes.IndexByte(b, '\\') < 0 {
			*f = flexString{s: string(b[1 : len(b)-1]), set: true}
			return nil
		}
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString{s: s, set: true}
		return nil
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		if _, err := strconv.ParseFloat(string(b), 64); err != nil {
			return fmt.Errorf("bad number %s", b)
		}
		*f = flexString{s: string(b), set: true}
		return nil
	default:
		return fmt.Errorf("expected a string, got %.20s", b)
	}
}

// parseBulk splits an NDJSON bulk body into items. defaultIndex is the
// index of the URL (/{index}/_bulk), used when an action has no _index. A
// body Elasticsearch would refuse as a whole (an action line that is not
// an action, an action without its source line) is a *requestError with
// status 400; more than maxItems actions one with status 413. Items whose
// action is valid but not taken (delete, update, a bad _id) carry their
// itemError. The items alias body; items is reused.
func parseBulk(body []byte, defaultIndex string, maxItems int, items []item) ([]item, error) {
	items = items[:0]
	line := 0
	next := func() ([]byte, bool) {
		if len(body) == 0 {
			return nil, false
		}
		line++
		var l []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			l, body = body[:i], body[i+1:]
		} else {
			l, body = body, nil
		}
		if n := len(l); n > 0 && l[n-1] == '\r' {
			l = l[:n-1]
		}
		return l, true
	}
	for {
		l, ok := next()
		if !ok {
			break
		}
		if isBlank(l) {
			continue // blank lines between items are tolerated
		}
		if len(items) >= maxItems {
			return items, &requestError{status: http.StatusRequestEntityTooLarge, typ: "illegal_argument_exception",
				reason: fmt.Sprintf("bulk request has more than %d actions (the limit): send smaller batches", maxItems)}
		}
		it, err := parseAction(l, line, defaultIndex)
		if err != nil {
			return items, err
		}
		if it.op != opDelete {
			src, ok := next()
			if !ok {
				return items, &requestError{status: http.StatusBadRequest, typ: "illegal_argument_exception",
					reason: fmt.Sprintf("Malformed bulk request: the [%s] action at line [%d] has no source line", it.op, it.line)}
			}
			it.source = src
		}
		switch it.op {
		case opDelete, opUpdate:
			it.err = &itemError{status: http.StatusBadRequest, typ: "action_request_validation_exception",
				reason: fmt.Sprintf("Validation Failed: 1: cdewatch is an append-only audit log: [%s] is not supported, only [index] and [create];", it.op)}
		}
		if it.err == nil && it.hasID {
			switch {
			case it.id == "":
				it.err = &itemError{status: http.StatusBadRequest, typ: "action_request_validation_exception",
					reason: "Validation Failed: 1: if _id is specified it must not be empty;"}
			case len(it.id) > maxIDBytes:
				it.err = &itemError{status: http.StatusBadRequest, typ: "action_request_validation_exception",
					reason: fmt.Sprintf("Validation Failed: 1: id is too long, must be no longer than %d bytes but was: %d;", maxIDBytes, len(it.id))}
			}
		}
		items = append(items, it)
	}
	return items, nil
}

// parseAction reads one action/metadata line.
func parseAction(l []byte, line int, defaultIndex string) (item, error) {
	malformed := func(format string, args ...any) error {
		return &requestError{status: http.StatusBadRequest, typ: "illegal_argument_exception",
			reason: fmt.Sprintf("Malformed action/metadata line [%d], ", line) + fmt.Sprintf(format, args...)}
	}
	t := bytes.TrimSpace(l)
	if len(t) == 0 || t[0] != '{' {
		var c byte
		if len(t) > 0 {
			c = t[0]
		}
		return item{}, malformed("expected START_OBJECT but found [%s]", tokenName(c))
	}
	var a actionLine
	if err := json.Unmarshal(t, &a); err != nil {
		return item{}, malformed("expected an object {\"<action>\": {metadata}}: %v", err)
	}
	it := item{line: line, action: l, index: defaultIndex}
	var m *metadata
	n := 0
	for _, c := range []struct {
		op string
		m  *metadata
	}{{opIndex, a.Index}, {opCreate, a.Create}, {opDelete, a.Delete}, {opUpdate, a.Update}} {
		if c.m != nil {
			it.op, m = c.op, c.m
			n++
		}
	}
	switch n {
	case 0:
		return item{}, malformed("expected field [create], [delete], [index] or [update] with an object value")
	case 1:
	default:
		return item{}, malformed("expected one action, found %d", n)
	}
	if m.Index.set {
		it.index = m.Index.s
	}
	it.id, it.hasID = m.ID.s, m.ID.set
	return it, nil
}

func isBlank(l []byte) bool { return len(bytes.TrimSpace(l)) == 0 }

// tokenName names the JSON token starting with c as Jackson does in
// Elasticsearch's messages.
func tokenName(c byte) string {
	switch {
	case c == 0:
		return "null"
	case c == '[':
		return "START_ARRAY"
	case c == '"':
		return "VALUE_STRING"
	case c == 't':
		return "VALUE_TRUE"
	case c == 'f':
		return "VALUE_FALSE"
	case c == 'n':
		return "VALUE_NULL"
	case c == '-' || (c >= '0' && c <= '9'):
		return "VALUE_NUMBER"
	default:
		return "UNKNOWN"
	}
}
