// Package appaccess reads applications' logs of their access to cardholder
// data (PCI DSS 10.2.1.1): JSON objects with the fields the AKS PCI guide
// requires of an application's log configuration — timestamp, user_id,
// action, resource, result, source_ip — and a few optional ones. FORMAT.md
// documents the fields and how each maps.
//
// A record missing a 10.2.2 detail is kept: event.Record.Missing says
// which, and the per-source view counts them.
package appaccess

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	json "github.com/goccy/go-json"

	"github.com/cdewatch/cdewatch/internal/event"
)

// Access is one decoded access record.
type Access struct {
	Time      time.Time // timestamp; zero when absent or unreadable
	User      string    // user_id
	Action    string    // action: read, write, delete, export, decrypt, …
	Resource  string    // resource: what data was accessed
	Result    string    // result as sent
	SourceIP  string    // source_ip
	DataClass string    // data_class: pan, sad, chd, …
	Subject   string    // subject: a record id, a token
	Reason    string    // reason: a ticket, a business purpose
	EventID   string    // event_id: the application's id of the record, for redelivery detection
	// Problems lists fields that were present but unusable, e.g.
	// "timestamp: not an RFC 3339 time"; the record is kept.
	Problems []string
}

// MaxBytes bounds one record.
const MaxBytes = 256 << 10

// Decode reads one record. It fails only when line is not a JSON object
// (or is over MaxBytes); absent or odd fields are left empty and listed in
// Problems.
func Decode(line []byte) (Access, error) {
	line = bytes.TrimSpace(line)
	if len(line) > MaxBytes {
		return Access{}, fmt.Errorf("record of %d bytes is over the limit of %d", len(line), MaxBytes)
	}
	if len(line) == 0 || line[0] != '{' {
		return Access{}, errors.New("not a JSON object")
	}
	if !utf8.Valid(line) {
		return Access{}, errors.New("not valid UTF-8")
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return Access{}, fmt.Errorf("malformed JSON: %w", err)
	}
	if dec.More() {
		return Access{}, errors.New("malformed JSON: more than one value")
	}
	var a Access
	str := func(names ...string) string {
		for _, n := range names {
			switch v := m[n].(type) {
			case string:
				return v
			case json.Number:
				return v.String()
			case bool:
				return strconv.FormatBool(v)
			case nil:
			default:
				a.Problems = append(a.Problems, n+": not a string")
			}
		}
		return ""
	}
	a.User = str("user_id")
	a.Action = str("action")
	a.Resource = str("resource")
	a.Result = str("result")
	a.SourceIP = str("source_ip")
	a.DataClass = str("data_class")
	a.Subject = str("subject")
	a.Reason = str("reason")
	a.EventID = str("event_id")
	switch v := m["timestamp"].(type) {
	case nil:
	case string:
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			a.Problems = append(a.Problems, fmt.Sprintf("timestamp: not an RFC 3339 time: %q", cut(v, 64)))
		} else {
			a.Time = t.UTC()
		}
	case json.Number:
		f, err := v.Float64()
		switch {
		case err != nil || f <= 0:
			a.Problems = append(a.Problems, "timestamp: not a positive number")
		case f > 1e11: // milliseconds
			a.Time = time.UnixMilli(int64(f)).UTC()
		default:
			a.Time = time.Unix(int64(f), int64((f-float64(int64(f)))*1e9)).Truncate(time.Microsecond).UTC()
		}
	default:
		a.Problems = append(a.Problems, "timestamp: not a string or a number")
	}
	return a, nil
}

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

var (
	successWords = map[string]bool{"success": true, "succeeded": true, "successful": true, "ok": true, "allowed": true, "allow": true, "granted": true, "permitted": true, "true": true, "pass": true, "passed": true}
	failureWords = map[string]bool{"failure": true, "failed": true, "fail": true, "denied": true, "deny": true, "forbidden": true, "unauthorized": true, "rejected": true, "error": true, "false": true, "blocked": true}
	httpStatus   = regexp.MustCompile(`^[1-5][0-9][0-9]$`)
)

// Outcome reads Result: success words (success, ok, allowed, granted, …)
// and HTTP codes below 400 are success; failure words (failure, denied,
// forbidden, error, …) and codes 400 and above are failure; anything else
// is unknown.
func (a *Access) Outcome() (event.Outcome, int) {
	r := strings.ToLower(strings.TrimSpace(a.Result))
	switch {
	case successWords[r]:
		return event.Success, 0
	case failureWords[r]:
		return event.Failure, 0
	case httpStatus.MatchString(r):
		code, _ := strconv.Atoi(r)
		if code >= 400 {
			return event.Failure, code
		}
		return event.Success, code
	}
	return event.Unknown, 0
}

// Envelope is the ledger form of an access record (the Raw of an AppAccess
// record): the application's name and the record as sent.
type Envelope struct {
	App    string          `json:"app"`
	Record json.RawMessage `json:"record"`
}

// Record builds the AppAccess record of access a from application app;
// line is the record as sent (a JSON object), kept verbatim in Raw's
// envelope. Every access is 10.2.1.1 evidence; a failed one also 10.2.1.4.
func (a *Access) Record(app string, line []byte) (event.Record, error) {
	raw, err := json.Marshal(Envelope{App: app, Record: bytes.TrimSpace(line)})
	if err != nil {
		return event.Record{}, fmt.Errorf("encode access record: %w", err)
	}
	out, status := a.Outcome()
	class := event.CHDAccess
	if out == event.Failure {
		class |= event.InvalidAccess
	}
	key := ""
	if a.EventID != "" {
		key = app + "/" + a.EventID
	}
	return event.Record{
		Table: event.TableAppAccess, Key: key, Time: a.Time, User: a.User, Action: a.Action, Outcome: out, Status: status,
		OriginIP: a.SourceIP, Resource: a.Resource, PCI: class, Raw: raw,
	}, nil
}

// DecodeEnvelope reads the Raw of an AppAccess record.
func DecodeEnvelope(raw []byte) (app string, a Access, err error) {
	var env Envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return "", Access{}, fmt.Errorf("access record envelope: %w", err)
	}
	a, err = Decode(env.Record)
	return env.App, a, err
}
