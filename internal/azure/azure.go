package azure

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	json "github.com/goccy/go-json"

	"github.com/cdewatch/cdewatch/internal/k8saudit"
)

// Default limits, used when the Limits field is 0 (or less).
const (
	// DefaultMaxBodyBytes bounds an Event Hubs body. Event Hubs messages
	// are at most 1 MB (Standard and Premium tiers), 20 MB (Dedicated);
	// Azure Monitor writes bodies far smaller.
	DefaultMaxBodyBytes = 16 << 20
	// DefaultMaxLineBytes bounds a line of a JSON-lines blob.
	DefaultMaxLineBytes = 4 << 20
	// DefaultMaxRecordBytes bounds one record of a body.
	DefaultMaxRecordBytes = 4 << 20
)

// Limits bound what the decoders accept.
type Limits struct {
	MaxBodyBytes   int // DecodeBody's input; DefaultMaxBodyBytes if 0
	MaxLineBytes   int // a line given to DecodeLines; DefaultMaxLineBytes if 0
	MaxRecordBytes int // one record of a body; DefaultMaxRecordBytes if 0
	// Audit bounds the Kubernetes audit event of a kube-audit record (after
	// the second decoding of properties.log): k8saudit's default 256 KiB
	// if 0.
	Audit k8saudit.Limits
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// Kind says which of Record's payloads is set.
type Kind string

// Kinds of record.
const (
	KindAudit        Kind = "audit"        // kube-audit, kube-audit-admin: Record.Audit
	KindActivity     Kind = "activity"     // Azure Activity Log: Record.Activity
	KindSignIn       Kind = "signin"       // Entra ID sign-ins: Record.SignIn
	KindControlPlane Kind = "controlplane" // other AKS categories: Record.ControlPlane
)

// Record is one decoded record of a diagnostic export. Exactly one of
// Audit, Activity, SignIn and ControlPlane is set, as Kind says.
//
// The byte slices of a Record (Raw, the Audit event's Raw and the dynamic
// values) are part of the input given to DecodeBody, or of memory of their
// own: the caller must not modify the body while the records are in use.
type Record struct {
	// Line is the 1-based line of the record in DecodeLines' input, 0 for
	// DecodeBody.
	Line int `json:"line,omitempty"`
	// Index is the record's position in its records array, -1 for a line
	// that is a record by itself.
	Index int `json:"index"`

	Kind Kind `json:"kind"`
	// Category is the record's category as sent, e.g. kube-audit,
	// Administrative, SignInLogs.
	Category string `json:"category"`
	// Time is the record's time, UTC: the upload time for AKS categories,
	// the event time for the Activity Log and sign-ins.
	Time time.Time `json:"time"`
	// ResourceID is the Azure resource id as sent (upper case for AKS).
	ResourceID    string `json:"resourceId"`
	OperationName string `json:"operationName,omitempty"`

	// Raw is the record as received, the envelope included, without the
	// white space around it.
	Raw []byte `json:"-"`

	Audit        *Audit        `json:"audit,omitempty"`
	Activity     *Activity     `json:"activity,omitempty"`
	SignIn       *SignIn       `json:"signIn,omitempty"`
	ControlPlane *ControlPlane `json:"controlPlane,omitempty"`
}

// Error is a problem of a body (Index -1 and Line 0: nothing of it was
// decoded), of a line (Index -1) or of one record.
type Error struct {
	Line  int    // 1-based line of DecodeLines' input; 0 for DecodeBody
	Index int    // the record's index in its records array, or -1
	Field string // the member at fault, e.g. "properties.log"; "" for the record as a whole
	// Reason says what is wrong.
	Reason string
	// Raw is the record or line at fault (nil for a line over the limit
	// and for body errors), for an excerpt in a rejection record.
	Raw []byte
	// Size is the size in bytes of the record or line at fault.
	Size int

	err    error
	record bool // an error of DecodeRecord: the input is one record
}

// Error returns e.g. "record 3: properties.log: not a Kubernetes audit
// event: missing auditID", "line 7: time: missing" or "body: not a JSON
// object".
func (e *Error) Error() string {
	var b []byte
	if e.Line > 0 {
		b = append(b, "line "...)
		b = strconv.AppendInt(b, int64(e.Line), 10)
		b = append(b, ": "...)
	}
	if e.Index >= 0 {
		b = append(b, "record "...)
		b = strconv.AppendInt(b, int64(e.Index), 10)
		b = append(b, ": "...)
	}
	if e.Line <= 0 && e.Index < 0 {
		if e.record {
			b = append(b, "record: "...)
		} else {
			b = append(b, "body: "...)
		}
	}
	if e.Field != "" {
		b = append(b, e.Field...)
		b = append(b, ": "...)
	}
	b = append(b, e.Reason...)
	return string(b)
}

// Unwrap returns the underlying error: ErrUnsupportedCategory, a
// *k8saudit.DecodeError, …, or nil.
func (e *Error) Unwrap() error { return e.err }

// ErrUnsupportedCategory is wrapped by the Error of a record whose category
// this package does not decode (e.g. Entra AuditLogs, a storage account's
// StorageRead): the record is well-formed, but not one cdewatch has a
// table for.
var ErrUnsupportedCategory = errors.New("unsupported category")

// ErrSingleRecord is wrapped by DecodeBody's error for a body that is one
// record rather than a {"records":[…]} document: decode it with
// DecodeRecord.
var ErrSingleRecord = errors.New("a single record, not a records document")

var bom = []byte("\xef\xbb\xbf")

// DecodeBody decodes an Event Hubs body written by an Azure Monitor
// diagnostic setting: a JSON object {"records":[…]}, other members ignored.
//
// A body that is not such an object (malformed JSON, no records array,
// over Limits.MaxBodyBytes) is rejected as a whole: err is an *Error with
// Index -1 and recs and bad are nil. Otherwise each record is decoded on
// its own: recs holds the good records and bad an *Error for each bad one,
// both in body order, so that a bad record never hides the good ones. The
// caller should keep a trace of every bad record (its Raw, Reason and
// index): a record that cannot be decoded is still audit evidence.
//
// The records refer to body (see Record).
func DecodeBody(body []byte, lim Limits) (recs []Record, bad []*Error, err error) {
	if max := orDefault(lim.MaxBodyBytes, DefaultMaxBodyBytes); len(body) > max {
		return nil, nil, &Error{Index: -1, Size: len(body), Reason: fmt.Sprintf("body of %d bytes exceeds the limit of %d bytes", len(body), max)}
	}
	d := decoder{lim: lim}
	if err := d.doc(body, 0); err != nil {
		return nil, nil, err
	}
	return d.recs, d.bad, nil
}

// DecodeRecord decodes raw, one record of a diagnostic export by itself
// (the Raw of a Record that DecodeBody or DecodeLines returned, as the
// ledger keeps it), as DecodeBody decodes each record of a body: a JSON
// object of valid UTF-8, at most Limits.MaxRecordBytes long (white space
// and a UTF-8 byte order mark around it are ignored). The Record's Line is
// 0 and its Index -1; it refers to raw (see Record).
//
// The error is an *Error with Line 0 and Index -1 that reads
// "record: field: reason"; errors.Is(err, ErrUnsupportedCategory) holds for
// a well-formed record of a category this package does not decode.
func DecodeRecord(raw []byte, lim Limits) (Record, error) {
	b := trimSpace(bytes.TrimPrefix(trimSpace(raw), bom))
	fail := func(e *Error) (Record, error) {
		e.Line, e.Index, e.Raw, e.Size, e.record = 0, -1, b, len(b), true
		return Record{}, e
	}
	if max := orDefault(lim.MaxRecordBytes, DefaultMaxRecordBytes); len(b) > max {
		return fail(&Error{Reason: fmt.Sprintf("record of %d bytes exceeds the limit of %d bytes", len(b), max)})
	}
	if len(b) == 0 {
		return fail(&Error{Reason: "empty record"})
	}
	if !json.Valid(b) {
		return fail(&Error{Reason: syntaxError(b)})
	}
	rec := Record{Index: -1, Raw: b}
	if err := decodeRecord(&rec, b, lim); err != nil {
		return fail(err)
	}
	return rec, nil
}

// DecodeLines decodes a JSON-lines blob of a storage account
// (insights-logs-{category}/…/PT1H.json): one record object per line. A
// line may also hold a whole {"records":[…]} document, as an Event Hubs
// body saved to a file does. Blank lines are skipped, a UTF-8 byte order
// mark at the start is ignored and line ends may be \n or \r\n.
//
// fn is called with each good record and bad with the *Error of each bad
// line or record, in input order; a bad line never stops the decoding. A
// line over Limits.MaxLineBytes is skipped up to its end and reported.
// When bad is nil the first problem ends the decoding and is returned.
// DecodeLines returns the first error of fn, bad or r (io.EOF excepted).
//
// The records do not refer to memory of r: they may be kept.
func DecodeLines(r io.Reader, lim Limits, fn func(Record) error, bad func(*Error) error) error {
	if bad == nil {
		bad = func(e *Error) error { return e }
	}
	maxLine := orDefault(lim.MaxLineBytes, DefaultMaxLineBytes)
	br := bufio.NewReaderSize(r, 64<<10)
	var buf []byte
	for n := 1; ; n++ {
		buf = buf[:0]
		over, eof, size := false, false, 0
		for {
			chunk, err := br.ReadSlice('\n')
			size += len(chunk)
			if !over {
				if len(buf)+len(chunk) > maxLine+2 { // room for "\r\n"
					over = true
				} else {
					buf = append(buf, chunk...)
				}
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err == io.EOF {
				eof = true
				break
			}
			if err != nil {
				return err
			}
			break
		}
		if over {
			if err := bad(&Error{Line: n, Index: -1, Size: size, Reason: fmt.Sprintf("line exceeds the limit of %d bytes", maxLine)}); err != nil {
				return err
			}
		} else {
			if n == 1 {
				buf = bytes.TrimPrefix(buf, bom)
			}
			terminated := len(buf) > 0 && buf[len(buf)-1] == '\n'
			line := trimSpace(buf)
			if len(line) > maxLine {
				if err := bad(&Error{Line: n, Index: -1, Size: len(line), Reason: fmt.Sprintf("line of %d bytes exceeds the limit of %d bytes", len(line), maxLine)}); err != nil {
					return err
				}
			} else if len(line) > 0 {
				if err := decodeLine(bytes.Clone(line), n, terminated, lim, fn, bad); err != nil {
					return err
				}
			}
		}
		if eof {
			return nil
		}
	}
}

func decodeLine(line []byte, n int, terminated bool, lim Limits, fn func(Record) error, bad func(*Error) error) error {
	d := decoder{lim: lim}
	if err := d.doc(line, n); err != nil {
		if !terminated && strings.HasPrefix(err.Reason, "malformed JSON") {
			err.Reason += " (the last line has no newline: the blob may still be being written)"
		}
		return bad(err)
	}
	// In the order of the records on the line.
	recs, errs := d.recs, d.bad
	for len(recs) > 0 || len(errs) > 0 {
		if len(errs) == 0 || len(recs) > 0 && recs[0].Index < errs[0].Index {
			if err := fn(recs[0]); err != nil {
				return err
			}
			recs = recs[1:]
			continue
		}
		if err := bad(errs[0]); err != nil {
			return err
		}
		errs = errs[1:]
	}
	return nil
}

// decoder decodes one body or line into recs and bad.
type decoder struct {
	lim  Limits
	line int
	recs []Record
	bad  []*Error
}

// doc decodes b, a body (line 0) or line n: a records document, or for a
// line a record by itself. The error is the document's: nothing of it was
// decoded.
func (d *decoder) doc(b []byte, line int) *Error {
	d.line = line
	docErr := func(reason string) *Error {
		e := &Error{Line: line, Index: -1, Size: len(b), Reason: reason}
		if line > 0 {
			e.Raw = b
		}
		return e
	}
	b = trimSpace(bytes.TrimPrefix(b, bom))
	if len(b) == 0 {
		return docErr("empty body")
	}
	if !json.Valid(b) {
		return docErr(syntaxError(b))
	}
	if b[0] != '{' {
		return docErr("not a JSON object")
	}
	// One pass: the records are decoded where they are found; a second
	// "records" member discards them.
	var seen, hasCategory bool
	max := orDefault(d.lim.MaxRecordBytes, DefaultMaxRecordBytes)
	err := members(b, func(name string, v []byte) error {
		switch name {
		case "records":
			if seen {
				return errors.New(`duplicate member "records"`)
			}
			seen = true
			if v[0] != '[' {
				return errors.New("records is not an array")
			}
			return elements(v, func(i int, v []byte) error {
				if len(v) > max {
					d.fail(&Error{Index: i, Size: len(v), Reason: fmt.Sprintf("record of %d bytes exceeds the limit of %d bytes", len(v), max)})
					return nil
				}
				d.record(v, i)
				return nil
			})
		case "category":
			hasCategory = true
		}
		return nil
	})
	if err != nil {
		d.recs, d.bad = nil, nil
		return docErr(err.Error())
	}
	if !seen {
		if line > 0 {
			// A line of a JSON-lines blob: the record itself.
			d.record(b, -1)
			return nil
		}
		if hasCategory {
			e := docErr(`no "records" member (a single record: decode it as a line)`)
			e.err = ErrSingleRecord
			return e
		}
		return docErr(`no "records" member`)
	}
	return nil
}

// fail records the error of a record.
func (d *decoder) fail(e *Error) {
	e.Line = d.line
	d.bad = append(d.bad, e)
}

// record decodes raw, the record at index i (-1 for a line that is one).
func (d *decoder) record(raw []byte, i int) {
	rec := Record{Line: d.line, Index: i, Raw: raw}
	if err := decodeRecord(&rec, raw, d.lim); err != nil {
		err.Index, err.Raw, err.Size = i, raw, len(raw)
		d.fail(err)
		return
	}
	d.recs = append(d.recs, rec)
}

// fieldError returns the error of the member field.
func fieldError(field, reason string) *Error { return &Error{Field: field, Reason: reason} }

// decodeRecord decodes the record raw, valid JSON, into rec.
func decodeRecord(rec *Record, raw []byte, lim Limits) *Error {
	if !utf8.Valid(raw) {
		return &Error{Reason: "invalid UTF-8"}
	}
	if raw[0] != '{' {
		return &Error{Reason: "not a JSON object"}
	}
	var env envelope
	if err := env.read(raw); err != nil {
		return err
	}
	var err error
	if rec.Category, err = text(env.v[mCategory]); err != nil {
		return fieldError("category", err.Error())
	}
	if rec.Category == "" {
		return fieldError("category", "missing")
	}
	if rec.ResourceID, err = text(env.v[mResourceID]); err != nil {
		return fieldError("resourceId", err.Error())
	}
	if rec.OperationName, err = text(env.v[mOperationName]); err != nil {
		return fieldError("operationName", err.Error())
	}
	ts, err := text(env.v[mTime])
	if err != nil {
		return fieldError("time", err.Error())
	}
	if ts == "" {
		return fieldError("time", "missing")
	}
	if rec.Time, err = parseTime(ts); err != nil {
		return fieldError("time", err.Error())
	}
	switch kindOf(rec.Category, rec.ResourceID, &env) {
	case KindAudit:
		rec.Kind = KindAudit
		return decodeAudit(rec, &env, lim)
	case KindActivity:
		rec.Kind = KindActivity
		return decodeActivity(rec, &env)
	case KindSignIn:
		rec.Kind = KindSignIn
		return decodeSignIn(rec, &env)
	case KindControlPlane:
		rec.Kind = KindControlPlane
		return decodeControlPlane(rec, &env)
	}
	return &Error{Field: "category", Reason: fmt.Sprintf("unsupported category %s", quote(rec.Category)), err: ErrUnsupportedCategory}
}

// parseTime parses an RFC 3339 time; one without a zone is taken as UTC.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		var err2 error
		if t, err2 = time.Parse("2006-01-02T15:04:05.999999999", s); err2 != nil {
			return time.Time{}, fmt.Errorf("not an RFC 3339 time: %s", quote(s))
		}
	}
	return t.UTC(), nil
}
