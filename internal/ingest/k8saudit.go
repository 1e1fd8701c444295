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
	"time"
	"unicode/utf8"

	"github.com/cdewatch/cdewatch/internal/auth"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/httpjson"
	"github.com/cdewatch/cdewatch/internal/k8saudit"
	"github.com/cdewatch/cdewatch/internal/ledger"
)

// Appender stores records as consecutive ledger leaves. When Append returns
// nil every record is durable; on error none was acknowledged. An error
// wrapping ledger.ErrPushback means "retry later". recs are not retained.
type Appender interface {
	Append(ctx context.Context, recs [][]byte) (uint64, error)
}

// K8sAudit receives kube-apiserver audit events, from the webhook backend
// (ServeHTTP) and from log files (FileHandler), and stores them through the
// shared pipeline (which masks card data and drops redeliveries by
// auditID/stage).
type K8sAudit struct {
	Pipeline        Storer
	Classifier      *k8saudit.Classifier
	MaxRequestBytes int64
	MaxEventBytes   int
	Now             func() time.Time
	Log             *slog.Logger

	bodies BufPool
}

// Result says what one delivery did.
type Result struct {
	Accepted   int    `json:"accepted"`   // records stored
	Duplicates int    `json:"duplicates"` // redelivered records already stored
	Rejected   int    `json:"rejected"`   // inputs that could not be decoded, stored as ingest.reject records
	FirstSeq   uint64 `json:"first_seq"`  // leaf index of the first stored record (when Accepted > 0)
}

// Store normalizes and durably stores a batch from source, all or nothing,
// skipping events already stored within the dedup window.
func (k *K8sAudit) Store(ctx context.Context, source string, items []k8saudit.Item) (Result, error) {
	return k.store(ctx, source, "api", items, nil)
}

func (k *K8sAudit) store(ctx context.Context, source, via string, items []k8saudit.Item, rejects []Reject) (Result, error) {
	received := k.Now().UTC()
	b := &Batch{Source: source, Via: via, Records: make([]event.Record, len(items)), Rejects: rejects}
	for i := range items {
		b.Records[i] = *k.Classifier.Normalize(&items[i], source, received)
	}
	return k.Pipeline.Store(ctx, b)
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
	// Nothing refers to a body once Store has returned (records are
	// copied into the ledger's compressed block).
	bp := k.bodies.Get()
	defer k.bodies.Put(bp)
	body, err := ReadAll(http.MaxBytesReader(w, r.Body, k.MaxRequestBytes), r.ContentLength, k.MaxRequestBytes, *bp)
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
	res, err := k.store(r.Context(), p.Source, "webhook", items, nil)
	if err != nil {
		WriteStoreError(w, k.Log, err)
		return
	}
	httpjson.Write(w, http.StatusOK, res)
}

// ReadAll reads r to its end into buf, which it grows as needed, sized up
// front from size (a Content-Length; 0 or -1 when unknown) when that is at
// most limit. It does not enforce limit: wrap r in http.MaxBytesReader or
// io.LimitReader for that.
func ReadAll(r io.Reader, size, limit int64, buf []byte) ([]byte, error) {
	if size > 0 && size <= limit && int64(cap(buf)) < size+1 {
		buf = make([]byte, 0, size+1)
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
		var rejects []Reject
		for i, line := range lines {
			it, err := k8saudit.DecodeLine(line, k8saudit.Limits{MaxEventBytes: k.MaxEventBytes})
			if err != nil {
				rejects = append(rejects, Reject{Index: i, Reason: err.Error(), Raw: line})
				continue
			}
			// The line buffer is reused by the tailer: keep a copy.
			it.Raw = append([]byte(nil), it.Raw...)
			items = append(items, it)
		}
		_, err := k.store(ctx, source, path, items, rejects)
		return err
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

// RebuildDedup remembers the keys of records stored since, so
// redeliveries are recognized across a restart. It logs its progress every
// few seconds by d's clock (a busy window holds millions of records).
func RebuildDedup(l *ledger.Ledger, d *Dedup, since time.Time, log *slog.Logger) (int, error) {
	n, records := 0, 0
	last := d.opts.Now()
	var r event.Record
	err := l.ScanSince(since, func(seq uint64, b []byte) error {
		if err := r.UnmarshalBinary(b); err != nil {
			return fmt.Errorf("record %d: %w", seq, err)
		}
		if r.Key != "" {
			d.Remember(r.Source, r.Key)
			n++
		}
		if records++; records%4096 == 0 && d.opts.Now().Sub(last) >= rebuildProgressEvery {
			last = d.opts.Now()
			log.Info("rebuilding the redelivery index from the ledger", "since", since.UTC().Format(time.RFC3339), "records_read", records, "keys", n, "at_seq", seq)
		}
		return nil
	})
	return n, err
}

// rebuildProgressEvery is how often RebuildDedup logs its progress.
const rebuildProgressEvery = 5 * time.Second
