// Package esbulk is cdewatch's Elasticsearch bulk API receiver: Fluent
// Bit, Fluentd, Vector, Filebeat and the official clients ship to
// cdewatch with their Elasticsearch output, unchanged.
//
// Handler serves the bulk API (POST /_bulk, POST /{index}/_bulk) and the
// probes shippers call when they start (GET /, /_license, /_xpack,
// templates, ILM policies, ingest pipelines, index existence, /_nodes,
// /_cluster/health). Every source document of a bulk request becomes a
// record of the table ingest.Router picks (KubeAuditLogs, AppAccess,
// ContainerLog); what cannot be taken is answered per item and stored as
// an ingest.reject record. The request is stored all or nothing with one
// ledger append. FORMAT.md beside this file documents every route, what
// it answers and why.
package esbulk

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/cdewatch/cdewatch/internal/jsonscan"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cdewatch/cdewatch/internal/auth"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/ingest"
	"github.com/cdewatch/cdewatch/internal/ledger"
)

// Defaults of the Handler's zero fields.
const (
	DefaultMaxRequestBytes = 12 << 20 // as ingest.max_request_bytes
	DefaultMaxItems        = 100_000
	DefaultAppIndexPrefix  = "cdewatch-app-"
	DefaultVersion         = "8.11.0"
	// DefaultClusterUUID is the cluster_uuid answered when ClusterUUID is
	// empty.
	DefaultClusterUUID = "Y2Rld2F0Y2gtY2x1c3Rlcg"
)

// Via is the Batch.Via of every delivery of this receiver.
const Via = "esbulk"

// Storer stores a delivery all or nothing: *ingest.Pipeline.
type Storer interface {
	Store(ctx context.Context, b *ingest.Batch) (ingest.Result, error)
}

// Handler is the Elasticsearch API receiver. Mount it at the root of a
// prefix the shippers are pointed to, e.g.
//
//	mux.Handle("/es/", auth(http.StripPrefix("/es", h)))
//
// (shippers: https://cdewatch:8443/es). It routes by itself (see
// FORMAT.md for the routes), so it can also be the handler of a listener
// of its own. The wrapper must authenticate the caller and put its
// auth.Principal in the request's context (Credential extracts the token
// from the Authorization header shippers send); Handler answers 403 to a
// principal that is not an ingest token bound to a source.
//
// Set the fields before the first request and do not copy a Handler
// after; it is safe for concurrent use.
type Handler struct {
	// Store stores each request's batch (required).
	Store Storer
	// Router turns each source document into a record (required).
	Router *ingest.Router
	// MaxRequestBytes bounds a request body, before and after gzip
	// decompression: a larger one is answered 413 (Filebeat then splits
	// its batch). Default DefaultMaxRequestBytes.
	MaxRequestBytes int64
	// MaxItems bounds the actions of one request (413 above). Default
	// DefaultMaxItems.
	MaxItems int
	// AppIndexPrefix: an index named <prefix><app> (optionally followed by
	// a date, -2026.11.26, -2026-11-26 or -2026.11) declares its documents
	// access records of application <app> (ingest.Hint.App). Default
	// DefaultAppIndexPrefix.
	AppIndexPrefix string
	// Version is the Elasticsearch version answered by GET / (shippers
	// pick their protocol from it; Filebeat refuses a version older than
	// its own unless output.elasticsearch.allow_older_versions). Default
	// DefaultVersion.
	Version string
	// ClusterUUID is the cluster_uuid answered by GET /. Default
	// DefaultClusterUUID.
	ClusterUUID string
	// Ready, when set, reports whether cdewatch can store: an error makes
	// GET /_cluster/health answer status red with 503.
	Ready func() error
	// Now is the clock for records' received time; default time.Now.
	Now func() time.Time
	// Log receives request failures; default discards.
	Log *slog.Logger

	bodies ingest.BufPool
	gzips  ingest.GzipPool
	states sync.Pool // *bulkState
}

// Register mounts h on mux under prefix (e.g. "/es": the shippers are
// pointed to https://cdewatch:8443/es), wrapped in wrap, which must
// authenticate the caller (see Handler). An empty prefix mounts it at
// the root ("/"), for a listener of its own.
func (h *Handler) Register(mux *http.ServeMux, prefix string, wrap func(http.Handler) http.Handler) {
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix == "" {
		mux.Handle("/", wrap(h))
		return
	}
	mux.Handle(prefix+"/", wrap(http.StripPrefix(prefix, h)))
}

func (h *Handler) maxRequestBytes() int64 {
	if h.MaxRequestBytes > 0 {
		return h.MaxRequestBytes
	}
	return DefaultMaxRequestBytes
}

func (h *Handler) maxItems() int {
	if h.MaxItems > 0 {
		return h.MaxItems
	}
	return DefaultMaxItems
}

func (h *Handler) appIndexPrefix() string {
	if h.AppIndexPrefix != "" {
		return h.AppIndexPrefix
	}
	return DefaultAppIndexPrefix
}

func (h *Handler) version() string {
	if h.Version != "" {
		return h.Version
	}
	return DefaultVersion
}

func (h *Handler) clusterUUID() string {
	if h.ClusterUUID != "" {
		return h.ClusterUUID
	}
	return DefaultClusterUUID
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

// forbidden is the answer to a caller without an ingest token bound to a
// source.
const forbidden = "cdewatch's Elasticsearch API needs an ingest token bound to a source: create one with `cdewatch token create --source <name>` " +
	"and configure it in the shipper's Elasticsearch output (as a bearer token, as the password of basic auth, or as the key of api_key id:key)"

// ServeHTTP routes a request of the Elasticsearch API.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The official clients check this header on their first answer.
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	p, ok := auth.FromContext(r.Context())
	if !ok || p.Role != auth.RoleIngest || p.Source == "" {
		h.drain(r)
		writeError(w, r, http.StatusForbidden, "security_exception", forbidden)
		return
	}
	segs, err := splitPath(r.URL.EscapedPath())
	if err != nil {
		h.drain(r)
		writeError(w, r, http.StatusBadRequest, "illegal_argument_exception", err.Error())
		return
	}
	first := ""
	if len(segs) > 0 {
		first = segs[0]
	}
	switch {
	case len(segs) == 0:
		if h.allow(w, r, http.MethodGet, http.MethodHead) {
			h.info(w, r)
		}
	case first == "_bulk" && len(segs) == 1:
		if h.allow(w, r, http.MethodPost, http.MethodPut) {
			h.bulk(w, r, p, "")
		}
	case len(segs) == 2 && segs[1] == "_bulk" && !strings.HasPrefix(first, "_"):
		if h.allow(w, r, http.MethodPost, http.MethodPut) {
			h.bulk(w, r, p, first)
		}
	case first == "_license" && len(segs) == 1:
		if h.allow(w, r, http.MethodGet) {
			h.license(w, r)
		}
	case first == "_xpack" && len(segs) == 1:
		if h.allow(w, r, http.MethodGet) {
			h.xpack(w, r)
		}
	case (first == "_index_template" || first == "_template" || first == "_component_template") && len(segs) == 2,
		first == "_ilm" && len(segs) == 3 && segs[1] == "policy",
		first == "_ingest" && len(segs) == 3 && segs[1] == "pipeline",
		first == "_data_stream" && len(segs) == 2:
		if h.allow(w, r, http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost) {
			h.setup(w, r, segs)
		}
	case first == "_nodes":
		if h.allow(w, r, http.MethodGet) {
			h.nodes(w, r)
		}
	case first == "_cluster" && len(segs) >= 2 && segs[1] == "health":
		if h.allow(w, r, http.MethodGet) {
			h.health(w, r)
		}
	case len(segs) == 1 && !strings.HasPrefix(first, "_"):
		if h.allow(w, r, http.MethodGet, http.MethodHead, http.MethodPut) {
			h.index(w, r, first)
		}
	default:
		h.drain(r)
		writeJSON(w, r, http.StatusBadRequest, []byte(`{"error":`+string(jsonscan.AppendString(nil, "no handler found for uri ["+r.URL.RequestURI()+"] and method ["+r.Method+"]: cdewatch's Elasticsearch API takes bulk requests only", false))+`,"status":400}`+"\n"))
	}
}

// allow answers 405 as Elasticsearch does unless r's method is one of
// methods.
func (h *Handler) allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	h.drain(r)
	w.Header().Set("Allow", strings.Join(methods, ","))
	writeJSON(w, r, http.StatusMethodNotAllowed, []byte(`{"error":`+string(jsonscan.AppendString(nil, "Incorrect HTTP method for uri ["+r.URL.RequestURI()+"] and method ["+r.Method+"], allowed: ["+strings.Join(methods, ", ")+"]", false))+`,"status":405}`+"\n"))
	return false
}

// drain reads and discards what is left of a request body (at most
// MaxRequestBytes), so that the connection can be reused.
func (h *Handler) drain(r *http.Request) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, h.maxRequestBytes()))
	}
}

// splitPath splits an escaped URL path into its unescaped segments,
// ignoring empty ones (a trailing slash, doubled slashes).
func splitPath(p string) ([]string, error) {
	var segs []string
	for s := range strings.SplitSeq(p, "/") {
		if s == "" {
			continue
		}
		u, err := url.PathUnescape(s)
		if err != nil {
			return nil, fmt.Errorf("bad path segment %q: %w", s, err)
		}
		segs = append(segs, u)
	}
	return segs, nil
}

// writeJSON sends a JSON body, with the media type Elasticsearch answers
// a client asking for compatibility mode with.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	ct := "application/json"
	if strings.Contains(r.Header.Get("Accept"), "compatible-with=") {
		ct = "application/vnd.elasticsearch+json;compatible-with=8"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// bulkState is the reusable memory of one bulk request.
type bulkState struct {
	items   []item
	results []itemResult
	recItem []int          // for each record of the batch (in batch order), its item
	keyed   []int          // scratch: items of records with a key
	keyRecs []event.Record // scratch: records with a key
	batch   ingest.Batch
	resp    []byte
}

// bulk serves POST /_bulk and POST /{index}/_bulk.
func (h *Handler) bulk(w http.ResponseWriter, r *http.Request, p auth.Principal, urlIndex string) {
	start := time.Now()
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !strings.Contains(mt, "json") {
			h.drain(r)
			writeJSON(w, r, http.StatusNotAcceptable, []byte(`{"error":`+string(jsonscan.AppendString(nil, "Content-Type header ["+ct+"] is not supported: send application/x-ndjson or application/json", false))+`,"status":406}`+"\n"))
			return
		}
	}
	bp := h.bodies.Get()
	defer h.bodies.Put(bp)
	body, rerr := h.readBody(w, r, *bp)
	*bp = body
	if rerr != nil {
		h.log().Warn("elasticsearch bulk request refused", "source", p.Source, "status", rerr.status, "reason", rerr.reason)
		writeError(w, r, rerr.status, rerr.typ, rerr.reason)
		return
	}
	st, _ := h.states.Get().(*bulkState)
	if st == nil {
		st = &bulkState{}
	}
	defer h.putState(st)
	items, err := parseBulk(body, urlIndex, h.maxItems(), st.items)
	st.items = items
	if err != nil {
		var re *requestError
		if !errors.As(err, &re) {
			re = &requestError{status: http.StatusBadRequest, typ: "illegal_argument_exception", reason: err.Error()}
		}
		h.log().Warn("elasticsearch bulk request refused", "source", p.Source, "status", re.status, "reason", re.reason)
		writeError(w, r, re.status, re.typ, re.reason)
		return
	}
	if len(items) == 0 {
		writeError(w, r, http.StatusBadRequest, "action_request_validation_exception", "Validation Failed: 1: no requests added;")
		return
	}

	// Route each document; what cannot be taken is a reject.
	received := h.now()
	b := &st.batch
	*b = ingest.Batch{Source: p.Source, Via: Via, Records: b.Records[:0], Rejects: b.Rejects[:0]}
	recItem, keyed, keyedRecs := st.recItem[:0], st.keyed[:0], st.keyRecs[:0]
	prefix := h.appIndexPrefix()
	for i := range items {
		it := &items[i]
		if it.err == nil {
			rec, err := h.Router.Document(it.source, p.Source, received, ingest.Hint{App: appOf(it.index, prefix)})
			if err == nil {
				if it.hasID {
					rec.Key = "esbulk/" + it.index + "/" + it.id
				}
				// Records without a key first: they are never duplicates,
				// so their ledger seq is known (see assignSeqs).
				if rec.Key == "" {
					b.Records = append(b.Records, rec)
					recItem = append(recItem, i)
				} else {
					keyedRecs = append(keyedRecs, rec)
					keyed = append(keyed, i)
				}
				continue
			}
			it.err = &itemError{status: http.StatusBadRequest, typ: "document_parsing_exception", reason: "[1:1] failed to parse: " + err.Error()}
		}
		raw := it.source
		if it.op == opDelete {
			raw = it.action
		}
		// The reason holds no document content (the index, the _id): the
		// pipeline scrubs the excerpt of Raw, not the reason.
		b.Rejects = append(b.Rejects, ingest.Reject{Index: i, Raw: raw,
			Reason: fmt.Sprintf("bulk item %d (line %d, %s): %s", i, it.line, it.op, it.err.reason)})
	}
	nKeyless := len(b.Records)
	b.Records = append(b.Records, keyedRecs...)
	recItem = append(recItem, keyed...)
	st.recItem, st.keyed, st.keyRecs = recItem, keyed, keyedRecs

	res, err := h.Store.Store(r.Context(), b)
	if err != nil {
		h.storeError(w, r, p.Source, err)
		return
	}

	results := st.results[:0]
	for i := range items {
		results = append(results, itemResult{id: items[i].id, err: items[i].err})
	}
	st.results = results
	seqs, known := assignSeqs(b.Records, nKeyless, res)
	for k, i := range recItem {
		rr := &results[i]
		rr.seq, rr.hasSeq = seqs[k], known[k]
		if !items[i].hasID {
			switch key := b.Records[k].Key; {
			case key != "": // scrubbed by Store: never echoes card data
				rr.id = keyID(key)
			case rr.hasSeq:
				rr.id = strconv.FormatUint(rr.seq, 10)
			}
		}
	}
	st.resp = appendBulkResponse(st.resp[:0], time.Since(start).Milliseconds(), items, results)
	h.log().Debug("elasticsearch bulk request stored", "source", p.Source, "items", len(items),
		"accepted", res.Accepted, "duplicates", res.Duplicates, "rejected", res.Rejected, "first_seq", res.FirstSeq)
	writeJSON(w, r, http.StatusOK, st.resp)
}

// storeError answers a failed Store: 429 when the ledger pushes back (the
// code Elasticsearch uses for a full write queue, on which every shipper
// retries), 503 otherwise; never a success.
func (h *Handler) storeError(w http.ResponseWriter, r *http.Request, source string, err error) {
	switch {
	case errors.Is(err, ledger.ErrPushback):
		w.Header().Set("Retry-After", "1")
		writeError(w, r, http.StatusTooManyRequests, "es_rejected_execution_exception",
			"rejected execution of the bulk request: cdewatch's ledger is busy (too much data pending); retry later, nothing of this request was stored")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		w.Header().Set("Retry-After", "1")
		writeError(w, r, http.StatusServiceUnavailable, "unavailable_shards_exception",
			"request cancelled before its documents were stored; nothing of this request was stored")
	default:
		h.log().Error("storing an elasticsearch bulk request failed", "source", source, "err", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, r, http.StatusServiceUnavailable, "unavailable_shards_exception",
			"documents were not stored: "+err.Error())
	}
}

// assignSeqs returns the ledger seq of each record of a stored batch,
// where it is known. Store appends the fresh records in batch order from
// res.FirstSeq, leaving out duplicates (records whose key was stored
// before, or repeats of a key within the batch). The nKeyless records
// without a key come first and are never duplicates, so their seqs are
// always known. Those of the keyed records are known when nothing was
// left out, or when no key was stored before (the duplicates are just the
// repeats within the batch, which get the seq of their first occurrence).
func assignSeqs(recs []event.Record, nKeyless int, res ingest.Result) ([]uint64, []bool) {
	seqs := make([]uint64, len(recs))
	known := make([]bool, len(recs))
	if res.Accepted == 0 {
		return seqs, known
	}
	end := res.FirstSeq + uint64(res.Accepted)
	if res.Duplicates == 0 {
		// Nothing left out (no dedup, or no key seen before).
		for k := range recs {
			if s := res.FirstSeq + uint64(k); s < end {
				seqs[k], known[k] = s, true
			}
		}
		return seqs, known
	}
	for k := 0; k < nKeyless; k++ {
		if s := res.FirstSeq + uint64(k); s < end {
			seqs[k], known[k] = s, true
		}
	}
	first := map[string]int{}
	repeats := 0
	for k := nKeyless; k < len(recs); k++ {
		if _, ok := first[recs[k].Key]; ok {
			repeats++
		} else {
			first[recs[k].Key] = k
		}
	}
	if res.Duplicates != repeats {
		return seqs, known // some keys were stored before: which is unknown
	}
	next := res.FirstSeq + uint64(nKeyless)
	for k := nKeyless; k < len(recs); k++ {
		if f := first[recs[k].Key]; f != k {
			seqs[k], known[k] = seqs[f], known[f]
			continue
		}
		if next < end {
			seqs[k], known[k] = next, true
		}
		next++
	}
	return seqs, known
}

// keyID is the _id answered for a document sent without one whose record
// has an event key (audit events: auditID/stage): 20 characters derived
// from the key, the same on every delivery, stored or deduplicated.
func keyID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return base64.RawURLEncoding.EncodeToString(sum[:15])
}

// dateSuffix matches the date shippers append to index names
// (Logstash_Format, %Y.%m.%d).
var dateSuffix = regexp.MustCompile(`-\d{4}([.-]\d{2}){1,2}$`)

// appOf returns the application an index declares: "checkout" for
// "cdewatch-app-checkout" or "cdewatch-app-checkout-2026.11.26", "" for
// an index without the prefix.
func appOf(index, prefix string) string {
	app, ok := strings.CutPrefix(index, prefix)
	if !ok {
		return ""
	}
	if d := dateSuffix.FindStringIndex(app); d != nil && d[0] > 0 {
		app = app[:d[0]]
	}
	return app
}

// readBody reads r's body into buf, inflating gzip, within
// MaxRequestBytes.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, buf []byte) ([]byte, *requestError) {
	limit := h.maxRequestBytes()
	tooLarge := func() *requestError {
		return &requestError{status: http.StatusRequestEntityTooLarge, typ: "content_too_long_exception",
			reason: fmt.Sprintf("request body is larger than %d bytes (cdewatch's limit, like http.max_content_length): send smaller batches", limit)}
	}
	var rd io.Reader = http.MaxBytesReader(w, r.Body, limit)
	size := r.ContentLength
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := h.gzips.Reader(rd)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return buf, tooLarge()
			}
			return buf, &requestError{status: http.StatusBadRequest, typ: "illegal_argument_exception", reason: "reading the gzip request body: " + err.Error()}
		}
		defer h.gzips.Put(zr)
		rd = io.LimitReader(zr, limit+1)
		if size > 0 {
			size *= 8 // a guess at the inflated size
		}
	default:
		h.drain(r)
		return buf, &requestError{status: http.StatusUnsupportedMediaType, typ: "illegal_argument_exception",
			reason: fmt.Sprintf("Content-Encoding [%s] is not supported: send gzip or nothing", enc)}
	}
	body, err := ingest.ReadAll(rd, size, limit, buf)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe) || int64(len(body)) > limit:
		return body, tooLarge()
	case err != nil:
		return body, &requestError{status: http.StatusBadRequest, typ: "illegal_argument_exception", reason: "reading the request body: " + err.Error()}
	}
	return body, nil
}

// maxPooled bounds the response buffers kept for reuse.
const maxPooled = 64 << 20

// putState recycles a request's state once nothing refers to the body
// (the ledger copies what it stores).
func (h *Handler) putState(st *bulkState) {
	if cap(st.resp) > maxPooled {
		st.resp = nil
	}
	clear(st.items)
	clear(st.results)
	clear(st.keyRecs[:cap(st.keyRecs)])
	clear(st.batch.Records[:cap(st.batch.Records)])
	clear(st.batch.Rejects[:cap(st.batch.Rejects)])
	st.batch = ingest.Batch{Records: st.batch.Records[:0], Rejects: st.batch.Rejects[:0]}
	h.states.Put(st)
}
