package otlp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/cdewatch/cdewatch/internal/auth"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/ingest"
	"github.com/cdewatch/cdewatch/internal/ledger"
)

// Via names this receiver in batches, findings and rejects.
const Via = "otlp"

// DefaultMaxRequestBytes is the body limit when Handler.MaxRequestBytes
// is 0 (the default of ingest.max_request_bytes).
const DefaultMaxRequestBytes = 12 << 20

// DefaultMaxRecords is the limit of log records in one request when
// Handler.MaxRecords is 0. The Collector's batch processor sends 8192 by
// default, the SDKs 512.
const DefaultMaxRecords = 100_000

// renderFactor bounds the documents rendered from one request to this
// many times MaxRequestBytes: every document repeats its resource, so a
// large resource with many small records would otherwise grow without
// bound.
const renderFactor = 8

// Storer stores one delivery all or nothing; *ingest.Pipeline is one. An
// error wrapping ledger.ErrPushback means "retry later".
type Storer interface {
	Store(ctx context.Context, b *ingest.Batch) (ingest.Result, error)
}

// Handler receives OTLP/HTTP log exports (POST /v1/logs). See the package
// documentation for what it stores and answers. Its fields are set before
// the first request and not changed after; a Handler must not be copied
// once used.
type Handler struct {
	// Pipeline stores each request's records and rejects in one append.
	Pipeline Storer
	// Router turns each rendered document into a record of its table.
	Router *ingest.Router
	// AppServices lists the service.name values of the applications that
	// send their card-data access records (internal/appaccess) as OTLP
	// log records: the body of their records is the access record.
	AppServices map[string]bool
	// MaxRequestBytes bounds the body as sent and, when gzipped, as
	// decompressed (answered 413). 0 means DefaultMaxRequestBytes.
	MaxRequestBytes int64
	// MaxRecords bounds the log records of one request (answered 413).
	// 0 means DefaultMaxRecords.
	MaxRecords int
	// RetryAfter is the wait advised (Retry-After, whole seconds) when the
	// ledger pushes back. 0 means one second.
	RetryAfter time.Duration
	// Now is the clock for the router's time fallback; nil means time.Now.
	Now func() time.Time
	// Log receives warnings about refused requests and failed stores;
	// nil discards them.
	Log *slog.Logger

	bufs ingest.BufPool // bodies and rendered documents
	gzs  ingest.GzipPool
}

// encoding is the payload encoding of a request, and so of its answer.
type encoding uint8

const (
	encProto encoding = iota // application/x-protobuf
	encJSON                  // application/json
)

func (e encoding) contentType() string {
	if e == encJSON {
		return "application/json"
	}
	return "application/x-protobuf"
}

func (e encoding) String() string {
	if e == encJSON {
		return "JSON"
	}
	return "protobuf"
}

// requestEncoding reads a Content-Type header.
func requestEncoding(contentType string) (encoding, bool) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return 0, false
	}
	switch mt {
	case "application/x-protobuf":
		return encProto, true
	case "application/json":
		return encJSON, true
	}
	return 0, false
}

// ServeHTTP implements POST /v1/logs.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	enc, encOK := requestEncoding(r.Header.Get("Content-Type"))
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, enc, http.StatusMethodNotAllowed, "use POST")
		return
	}
	p, ok := auth.FromContext(r.Context())
	if !ok || p.Role != auth.RoleIngest || p.Source == "" {
		h.fail(w, enc, http.StatusForbidden, "ingest needs a token bound to a source: create one with `cdewatch token create --source <name>`")
		return
	}
	if !encOK {
		h.fail(w, encJSON, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q is not supported: send application/x-protobuf or application/json", r.Header.Get("Content-Type")))
		return
	}
	gzipped := false
	switch ce := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); ce {
	case "", "identity":
	case "gzip", "x-gzip":
		gzipped = true
	default:
		h.fail(w, enc, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Encoding %q is not supported: send gzip or nothing", ce))
		return
	}

	wire := h.bufs.Get()
	defer h.bufs.Put(wire)
	limit := h.maxRequestBytes()
	var err error
	*wire, err = ingest.ReadAll(http.MaxBytesReader(w, r.Body, limit), r.ContentLength, limit, *wire)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.fail(w, enc, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes (ingest.max_request_bytes): send smaller batches", limit))
			return
		}
		h.fail(w, enc, http.StatusBadRequest, "reading request body: "+err.Error())
		return
	}
	body := *wire
	if gzipped {
		plain := h.bufs.Get()
		defer h.bufs.Put(plain)
		*plain, err = h.gunzip(body, limit, *plain)
		if errors.Is(err, errTooLarge) {
			h.fail(w, enc, http.StatusRequestEntityTooLarge, fmt.Sprintf("decompressed request body exceeds %d bytes (ingest.max_request_bytes): send smaller batches", limit))
			return
		}
		if err != nil {
			h.refuse(r.Context(), w, enc, p.Source, body, err)
			return
		}
		body = *plain
	}

	docs := h.bufs.Get()
	defer h.bufs.Put(docs)
	b, total, err := h.decode(body, enc, p.Source, *docs)
	var tl *tooLargeError
	if errors.As(err, &tl) {
		h.fail(w, enc, http.StatusRequestEntityTooLarge, err.Error())
		return
	}
	if err != nil {
		h.refuse(r.Context(), w, enc, p.Source, body, err)
		return
	}
	*docs = b.docs
	if _, err := h.Pipeline.Store(r.Context(), &b.Batch); err != nil {
		h.storeFailed(w, enc, p.Source, err)
		return
	}
	h.succeed(w, enc, b.Rejects, total)
}

// batch is a request's records and rejects, whose Raw alias docs.
type batch struct {
	ingest.Batch
	docs []byte
}

// decode decodes an export request of source and turns each of its log
// records into a record or a reject. It renders the documents into docs
// (grown as needed and returned in the batch); total is the number of
// log records in the request.
func (h *Handler) decode(body []byte, enc encoding, source string, docs []byte) (b batch, total int, err error) {
	req := plogotlp.NewExportRequest()
	if enc == encJSON {
		err = req.UnmarshalJSON(body)
	} else {
		err = req.UnmarshalProto(body)
	}
	if err != nil {
		return batch{}, 0, fmt.Errorf("decoding the OTLP/%s export request: %w", enc, err)
	}
	logs := req.Logs()
	total = logs.LogRecordCount()
	if maxRecs := h.maxRecords(); total > maxRecs {
		return batch{}, total, &tooLargeError{fmt.Sprintf("%d log records in one request, over the limit of %d: send smaller batches", total, maxRecs)}
	}
	maxDocs := renderFactor * int(h.maxRequestBytes())

	// First render every document, then route them: the records' Raw
	// alias the final docs buffer.
	type item struct {
		start, end int
		app        string
		rl, sl, lr int
	}
	items := make([]item, 0, total)
	var resBuf, scopeBuf []byte
	rls := logs.ResourceLogs()
	for i := range rls.Len() {
		rl := rls.At(i)
		app := h.appOf(rl.Resource())
		resBuf = appendResource(resBuf[:0], rl.Resource())
		sls := rl.ScopeLogs()
		// Grow docs once for the resource's records: each repeats the
		// resource, and the rest is about twice its protobuf size.
		n := 0
		for j := range sls.Len() {
			n += sls.At(j).LogRecords().Len()
		}
		if app == "" && len(docs)+n*len(resBuf) > maxDocs {
			return batch{}, total, errTooManyDocs(maxDocs)
		}
		docs = slices.Grow(docs, min(n*(len(resBuf)+64)+2*len(body)*n/max(total, 1), maxDocs-len(docs)+1))
		for j := range sls.Len() {
			sl := sls.At(j)
			scopeBuf = appendScope(scopeBuf[:0], sl.Scope())
			lrs := sl.LogRecords()
			for k := range lrs.Len() {
				lr := lrs.At(k)
				it := item{start: len(docs), rl: i, sl: j, lr: k}
				var ok bool
				if app != "" {
					if docs, ok = appendAccessRecord(docs, lr.Body()); ok {
						it.app = app
					}
				}
				if !ok {
					docs = appendRecord(docs, lr, resBuf, scopeBuf)
				}
				it.end = len(docs)
				if it.end > maxDocs {
					return batch{}, total, errTooManyDocs(maxDocs)
				}
				items = append(items, it)
			}
		}
	}

	now := h.now()
	b = batch{Batch: ingest.Batch{Source: source, Via: Via, Records: make([]event.Record, 0, len(items))}, docs: docs}
	for n, it := range items {
		doc := docs[it.start:it.end:it.end]
		rec, err := h.Router.Document(doc, source, now, ingest.Hint{App: it.app})
		if err != nil {
			b.Rejects = append(b.Rejects, ingest.Reject{
				Index:  n,
				Reason: fmt.Sprintf("resourceLogs[%d].scopeLogs[%d].logRecords[%d]: %v", it.rl, it.sl, it.lr, err),
				Raw:    doc,
			})
			continue
		}
		b.Records = append(b.Records, rec)
	}
	return b, total, nil
}

// appOf returns the resource's service.name when it is one of
// AppServices, else "".
func (h *Handler) appOf(res pcommon.Resource) string {
	if len(h.AppServices) == 0 {
		return ""
	}
	v, ok := res.Attributes().Get("service.name")
	if !ok || v.Type() != pcommon.ValueTypeStr || !h.AppServices[v.Str()] {
		return ""
	}
	return v.Str()
}

// appendAccessRecord appends the access record an application sent as a
// log body: a map (rendered as a JSON object) or a string holding a JSON
// object (as it is). Other bodies are not access records: ok is false.
func appendAccessRecord(dst []byte, body pcommon.Value) (_ []byte, ok bool) {
	switch body.Type() {
	case pcommon.ValueTypeMap:
		return appendMap(dst, body.Map(), 0), true
	case pcommon.ValueTypeStr:
		s := strings.TrimLeft(body.Str(), " \t\r\n")
		if len(s) > 0 && s[0] == '{' {
			return append(dst, s...), true
		}
	}
	return dst, false
}

// refuse answers 400 to a body that cannot be decoded, after recording it
// as an ingest.reject (so that what the sender will not send again is on
// record); if that record cannot be stored the answer is the store's.
func (h *Handler) refuse(ctx context.Context, w http.ResponseWriter, enc encoding, source string, body []byte, err error) {
	msg := err.Error()
	h.log().Warn("refused an OTLP request", "source", source, "err", msg)
	rj := &ingest.Batch{Source: source, Via: Via, Rejects: []ingest.Reject{{Index: -1, Reason: msg, Raw: body}}}
	if _, serr := h.Pipeline.Store(ctx, rj); serr != nil {
		h.storeFailed(w, enc, source, serr)
		return
	}
	h.fail(w, enc, http.StatusBadRequest, msg)
}

// storeFailed answers a failed Store: 429 when the ledger pushes back,
// 503 otherwise; both are retried by OTLP clients, and nothing of the
// request was stored.
func (h *Handler) storeFailed(w http.ResponseWriter, enc encoding, source string, err error) {
	switch {
	case errors.Is(err, ledger.ErrPushback):
		w.Header().Set("Retry-After", strconv.Itoa(h.retryAfterSeconds()))
		h.fail(w, enc, http.StatusTooManyRequests, "the ledger is busy (too much data pending): retry later")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		h.fail(w, enc, http.StatusServiceUnavailable, "request cancelled before the log records were stored")
	default:
		h.log().Error("storing OTLP log records failed", "source", source, "err", err)
		w.Header().Set("Retry-After", "5")
		h.fail(w, enc, http.StatusServiceUnavailable, "log records were not stored: "+err.Error())
	}
}

// maxReasons bounds the reasons quoted in a partial success message.
const maxReasons = 3

// succeed answers 200 with an ExportLogsServiceResponse; rejected records
// are counted in its partial_success.
func (h *Handler) succeed(w http.ResponseWriter, enc encoding, rejects []ingest.Reject, total int) {
	if len(rejects) == 0 {
		// pdata always encodes partial_success; the specification wants
		// it unset on a full success: an empty message.
		w.Header().Set("Content-Type", enc.contentType())
		w.WriteHeader(http.StatusOK)
		if enc == encJSON {
			_, _ = w.Write([]byte("{}"))
		}
		return
	}
	n := len(rejects)
	var msg strings.Builder
	fmt.Fprintf(&msg, "%d of %d log records rejected (each is recorded as an ingest.reject record): ", n, total)
	for i, rj := range rejects[:min(n, maxReasons)] {
		if i > 0 {
			msg.WriteString("; ")
		}
		msg.WriteString(rj.Reason)
	}
	if n > maxReasons {
		fmt.Fprintf(&msg, "; and %d more", n-maxReasons)
	}
	resp := plogotlp.NewExportResponse()
	resp.PartialSuccess().SetRejectedLogRecords(int64(n))
	resp.PartialSuccess().SetErrorMessage(msg.String())
	var out []byte
	var err error
	if enc == encJSON {
		out, err = resp.MarshalJSON()
	} else {
		out, err = resp.MarshalProto()
	}
	if err != nil {
		// The records are stored: say so even without a body.
		h.log().Error("encoding the OTLP response", "err", err)
		out = nil
	}
	w.Header().Set("Content-Type", enc.contentType())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

// fail answers an error with a google.rpc.Status body (OTLP/HTTP
// "Failures"), encoded as the request was; a 400 carries a
// google.rpc.BadRequest detail.
func (h *Handler) fail(w http.ResponseWriter, enc encoding, status int, msg string) {
	st := &spb.Status{Code: int32(grpcCode(status)), Message: msg}
	if status == http.StatusBadRequest {
		if d, err := anypb.New(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Description: msg}}}); err == nil {
			st.Details = append(st.Details, d)
		}
	}
	var out []byte
	var err error
	if enc == encJSON {
		out, err = protojson.Marshal(st)
	} else {
		out, err = proto.Marshal(st)
	}
	if err != nil {
		h.log().Error("encoding an OTLP error answer", "err", err)
	}
	w.Header().Set("Content-Type", enc.contentType())
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// grpcCode is the google.rpc.Code of an HTTP status, for Status.code
// (which OTLP clients are not expected to act on).
func grpcCode(status int) code.Code {
	switch status {
	case http.StatusBadRequest, http.StatusUnsupportedMediaType:
		return code.Code_INVALID_ARGUMENT
	case http.StatusForbidden:
		return code.Code_PERMISSION_DENIED
	case http.StatusMethodNotAllowed:
		return code.Code_UNIMPLEMENTED
	case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		return code.Code_RESOURCE_EXHAUSTED
	case http.StatusServiceUnavailable:
		return code.Code_UNAVAILABLE
	}
	return code.Code_UNKNOWN
}

// tooLargeError reports a request that decodes but is too large to
// store as one delivery (answered 413, not recorded).
type tooLargeError struct{ msg string }

func (e *tooLargeError) Error() string { return e.msg }

func errTooManyDocs(maxDocs int) error {
	return &tooLargeError{fmt.Sprintf("the documents of this request exceed %d bytes (%d times ingest.max_request_bytes): send smaller batches or smaller resources", maxDocs, renderFactor)}
}

// errTooLarge reports a decompressed body over the limit.
var errTooLarge = errors.New("decompressed body over the limit")

// gunzip decompresses a gzipped body into dst, at most limit bytes.
func (h *Handler) gunzip(body []byte, limit int64, dst []byte) ([]byte, error) {
	zr, err := h.gzs.Reader(bytes.NewReader(body))
	if err != nil {
		return dst, fmt.Errorf("decompressing the gzip body: %w", err)
	}
	defer h.gzs.Put(zr)
	dst, err = ingest.ReadAll(io.LimitReader(zr, limit+1), 0, limit, dst)
	if err != nil {
		return dst, fmt.Errorf("decompressing the gzip body: %w", err)
	}
	if int64(len(dst)) > limit {
		return dst, errTooLarge
	}
	return dst, nil
}

func (h *Handler) maxRequestBytes() int64 {
	if h.MaxRequestBytes > 0 {
		return h.MaxRequestBytes
	}
	return DefaultMaxRequestBytes
}

func (h *Handler) maxRecords() int {
	if h.MaxRecords > 0 {
		return h.MaxRecords
	}
	return DefaultMaxRecords
}

func (h *Handler) retryAfterSeconds() int {
	s := int((h.RetryAfter + time.Second - 1) / time.Second)
	return max(s, 1)
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.New(slog.DiscardHandler)
}
