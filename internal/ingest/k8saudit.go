// Package ingest turns what sources send into durable ledger records: one
// receiver per protocol, sharing decode → normalize → deduplicate → append.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cdewatch/cdewatch/internal/auth"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/httpjson"
	"github.com/cdewatch/cdewatch/internal/jsonscan"
	"github.com/cdewatch/cdewatch/internal/k8saudit"
	"github.com/cdewatch/cdewatch/internal/ledger"
	"github.com/cdewatch/cdewatch/internal/scrub"
)

// Appender stores records as consecutive ledger leaves. When Append returns
// nil every record is durable; on error none was acknowledged. An error
// wrapping ledger.ErrPushback means "retry later". recs are not retained.
type Appender interface {
	Append(ctx context.Context, recs [][]byte) (uint64, error)
}

// K8sAudit receives kube-apiserver audit events, from the webhook backend
// (ServeHTTP) and from log files (FileHandler).
type K8sAudit struct {
	Ledger          Appender
	Classifier      *k8saudit.Classifier
	Dedup           *Dedup
	MaxRequestBytes int64
	MaxEventBytes   int
	// Scrubber masks card numbers and track data in the events before
	// they are decoded, so that none reaches the ledger (PCI DSS 3.3.1,
	// 3.5.1); each batch where it masked something is recorded as a
	// scrub.pan finding in the same append. nil stores events as sent.
	Scrubber *scrub.Scrubber
	Now      func() time.Time
	Log      *slog.Logger
}

// Result says what one batch did.
type Result struct {
	Accepted   int    `json:"accepted"`   // events stored
	Duplicates int    `json:"duplicates"` // redelivered events already stored
	Rejected   int    `json:"rejected"`   // inputs that could not be decoded, stored as ingest.reject records
	FirstSeq   uint64 `json:"first_seq"`  // leaf index of the first stored record (when Accepted > 0)
}

// Store normalizes and durably stores a batch from source, all or nothing,
// skipping events already stored within the dedup window.
func (k *K8sAudit) Store(ctx context.Context, source string, items []k8saudit.Item) (Result, error) {
	return k.store(ctx, source, items, nil)
}

func (k *K8sAudit) store(ctx context.Context, source string, items []k8saudit.Item, extra [][]byte) (Result, error) {
	keys := make([]string, len(items))
	for i := range items {
		keys[i] = items[i].Event.Key()
	}
	claims := k.Dedup.Claim(source, keys)
	received := k.Now().UTC()
	recs := make([][]byte, 0, len(items)+len(extra))
	var res Result
	// One buffer for all records of the batch; recs are slices of it.
	size := 0
	for i := range items {
		size += len(items[i].Raw) + 256
	}
	buf := make([]byte, 0, size)
	var ends []int
	for i := range items {
		if !claims.Fresh[i] {
			res.Duplicates++
			continue
		}
		var err error
		buf, err = k.Classifier.Normalize(&items[i], source, received).AppendBinary(buf)
		if err != nil {
			claims.Done(false)
			return Result{}, fmt.Errorf("encode record %d: %w", i, err)
		}
		ends = append(ends, len(buf))
	}
	start := 0
	for _, end := range ends {
		recs = append(recs, buf[start:end:end])
		start = end
	}
	res.Accepted = len(recs)
	recs = append(recs, extra...)
	if len(recs) == 0 {
		claims.Done(true)
		return res, nil
	}
	first, err := k.Ledger.Append(ctx, recs)
	claims.Done(err == nil)
	if err != nil {
		return Result{}, err
	}
	res.FirstSeq = first
	return res, nil
}

// ServeHTTP implements POST /v1/ingest/k8s-audit. The batch is all or
// nothing: an invalid item rejects the whole request with its index, and a
// 200 means every event is durable (or was already stored).
func (k *K8sAudit) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httpjson.Error(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	p, ok := auth.FromContext(r.Context())
	if !ok || p.Role != auth.RoleIngest || p.Source == "" {
		httpjson.Error(w, http.StatusForbidden, "ingest needs a token bound to a source: create one with `cdewatch token create --source <cluster>`")
		return
	}
	bp := bodyPool.Get().(*[]byte)
	defer bodyPool.Put(bp)
	body, err := readBody(http.MaxBytesReader(w, r.Body, k.MaxRequestBytes), r.ContentLength, k.MaxRequestBytes, (*bp)[:0])
	*bp = body
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			httpjson.Error(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes (ingest.max_request_bytes); lower --audit-webhook-batch-max-size or raise the limit", k.MaxRequestBytes))
			return
		}
		httpjson.Error(w, http.StatusBadRequest, "reading request body: "+err.Error())
		return
	}
	var hits []scrub.Hit
	if k.Scrubber != nil {
		// in place: masking keeps the length and the JSON valid
		body, hits = k.Scrubber.Bytes(body[:0], body)
	}
	items, err := k8saudit.Decode(body, k8saudit.Limits{MaxEventBytes: k.MaxEventBytes})
	if err != nil {
		var de *k8saudit.DecodeError
		if errors.As(err, &de) && de.Index >= 0 {
			httpjson.ItemError(w, http.StatusBadRequest, err.Error(), de.Index)
			return
		}
		httpjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	var extra [][]byte
	if len(hits) > 0 {
		f, err := k.finding(p.Source, "webhook", hits, func(h scrub.Hit) string { return itemAt(body, items, h.Offset) })
		if err != nil {
			WriteStoreError(w, k.Log, err)
			return
		}
		extra = append(extra, f)
	}
	res, err := k.store(r.Context(), p.Source, items, extra)
	if err != nil {
		WriteStoreError(w, k.Log, err)
		return
	}
	httpjson.Write(w, http.StatusOK, res)
}

// itemAt returns the auditID of the item of body (decoded into items,
// whose Raw slices alias body) holding byte offset off, or "".
func itemAt(body []byte, items []k8saudit.Item, off int) string {
	for i := range items {
		start := jsonscan.SubsliceOffset(body, items[i].Raw)
		if start >= 0 && off >= start && off < start+len(items[i].Raw) {
			return string(items[i].Event.AuditID)
		}
	}
	return ""
}

// finding builds the scrub.pan self-audit record of masked card data:
// the source, where it came in, how many of each kind, and the events
// (auditIDs, at most 100) that held them — never the numbers themselves.
func (k *K8sAudit) finding(source, via string, hits []scrub.Hit, event func(scrub.Hit) string) ([]byte, error) {
	kinds := map[string]int{}
	var events []string
	seen := map[string]bool{}
	for _, h := range hits {
		kinds[h.Kind.String()]++
		if id := event(h); id != "" && !seen[id] && len(events) < 100 {
			seen[id] = true
			events = append(events, id)
		}
	}
	k.Log.Warn("card data masked in audit events: fix the source that logs it", "source", source, "via", via, "count", len(hits))
	rec, err := eventSelfAudit(source, via, len(hits), kinds, events).Record(k.Now())
	if err != nil {
		return nil, fmt.Errorf("recording the masked card data: %w", err)
	}
	return rec.MarshalBinary()
}

// bodyPool recycles request buffers: nothing refers to a body once Store
// has returned (records are copied into the ledger's compressed block).
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 1<<20); return &b }}

// readBody reads r into buf, sized up front from Content-Length when known.
func readBody(r io.Reader, contentLength, limit int64, buf []byte) ([]byte, error) {
	if contentLength > 0 && contentLength <= limit && int64(cap(buf)) < contentLength+1 {
		buf = make([]byte, 0, contentLength+1)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// WriteStoreError answers a failed append: 503 with Retry-After for
// backpressure or a stopped ledger, never a silent success.
func WriteStoreError(w http.ResponseWriter, log *slog.Logger, err error) {
	switch {
	case errors.Is(err, ledger.ErrPushback):
		w.Header().Set("Retry-After", "1")
		httpjson.Error(w, http.StatusServiceUnavailable, "ledger is busy: too much data pending; retry later")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		httpjson.Error(w, http.StatusServiceUnavailable, "request cancelled before the events were stored")
	default:
		log.Error("storing events failed", "err", err)
		w.Header().Set("Retry-After", strconv.Itoa(5))
		httpjson.Error(w, http.StatusServiceUnavailable, "events were not stored: "+err.Error())
	}
}

// FileHandler returns the handler for lines of an audit log file of source.
// Lines that are not valid audit events are stored as ingest.reject records
// (with the reason and a short excerpt) in the same append, so nothing is
// dropped silently.
func (k *K8sAudit) FileHandler(source, path string) func(ctx context.Context, lines [][]byte) error {
	return func(ctx context.Context, lines [][]byte) error {
		items := make([]k8saudit.Item, 0, len(lines))
		var rejects [][]byte
		var hits []scrub.Hit
		var hitEvents []string // the auditID (or "") of each hit
		for i, line := range lines {
			var lineHits []scrub.Hit
			if k.Scrubber != nil {
				line, lineHits = k.Scrubber.Bytes(line[:0], line)
			}
			it, err := k8saudit.DecodeLine(line, k8saudit.Limits{MaxEventBytes: k.MaxEventBytes})
			for _, h := range lineHits {
				hits = append(hits, h)
				if err == nil {
					hitEvents = append(hitEvents, string(it.Event.AuditID))
				} else {
					hitEvents = append(hitEvents, "")
				}
			}
			if err != nil {
				k.Log.Warn("rejected audit log line", "source", source, "file", path, "err", err)
				rec, rerr := event.SelfAudit{
					Action: event.ActionIngestReject, Outcome: event.Failure, Resource: path,
					Details: map[string]any{"source": source, "file": path, "line_in_batch": i, "reason": err.Error(), "bytes": len(line), "excerpt": excerpt(line)},
				}.Record(k.Now())
				if rerr != nil {
					return rerr
				}
				b, _ := rec.MarshalBinary()
				rejects = append(rejects, b)
				continue
			}
			// The line buffer is reused by the tailer: keep a copy.
			it.Raw = append([]byte(nil), it.Raw...)
			items = append(items, it)
		}
		if len(hits) > 0 {
			n := 0
			f, err := k.finding(source, path, hits, func(scrub.Hit) string { n++; return hitEvents[n-1] })
			if err != nil {
				return err
			}
			rejects = append(rejects, f)
		}
		_, err := k.store(ctx, source, items, rejects)
		return err
	}
}

// eventSelfAudit describes a scrub.pan finding.
func eventSelfAudit(source, via string, count int, kinds map[string]int, events []string) event.SelfAudit {
	return event.SelfAudit{
		Action: event.ActionPANMasked, Outcome: event.Failure, Resource: via,
		Details: map[string]any{"source": source, "via": via, "count": count, "kinds": kinds, "events": events},
	}
}

func excerpt(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	s := []rune{}
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		s = append(s, r)
		b = b[n:]
	}
	return string(s)
}

// Audit appends one self-audit record (PCI 10.2.1.x evidence about cdewatch itself).
func Audit(ctx context.Context, l Appender, now time.Time, a event.SelfAudit) error {
	rec, err := a.Record(now)
	if err != nil {
		return err
	}
	b, err := rec.MarshalBinary()
	if err != nil {
		return err
	}
	if _, err := l.Append(ctx, [][]byte{b}); err != nil {
		return fmt.Errorf("record %s in ledger: %w", a.Action, err)
	}
	return nil
}

// RebuildDedup remembers the keys of records stored within window before
// now, so redeliveries are recognized across a restart.
func RebuildDedup(l *ledger.Ledger, d *Dedup, since time.Time) (int, error) {
	n := 0
	var r event.Record
	err := l.ScanSince(since, func(_ uint64, b []byte) error {
		if err := r.UnmarshalBinary(b); err != nil {
			return err
		}
		if r.Key != "" {
			d.Remember(r.Source, r.Key)
			n++
		}
		return nil
	})
	return n, err
}
