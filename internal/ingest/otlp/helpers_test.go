package otlp

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/auth"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/ingest"
	"github.com/cdewatch/cdewatch/internal/k8saudit"
	"github.com/cdewatch/cdewatch/internal/ledger"
	"github.com/cdewatch/cdewatch/internal/scrub"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

const (
	testSource = "aks-prod-weu"
	testToken  = "cdw_test-otlp-ingest-token"
)

var testTime = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// newTestPipeline returns a pipeline over a real ledger in a temporary
// directory, with the scrubber, a dedup window of a minute and stats.
func newTestPipeline(tb testing.TB) (*ingest.Pipeline, *ledger.Ledger) {
	tb.Helper()
	l, err := ledger.Open(ledger.Options{Dir: tb.TempDir(), Origin: "test"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	now := func() time.Time { return testTime }
	return &ingest.Pipeline{
		Ledger: l, Scrubber: scrub.New(scrub.Options{}), Dedup: ingest.NewDedup(ingest.DedupOptions{Window: time.Minute, Now: now}),
		Stats: ingest.NewStats(now), Now: now, Log: slog.New(slog.DiscardHandler),
	}, l
}

// newTestHandler returns a handler storing through p, with the
// application "checkout" registered as sending access records.
func newTestHandler(p Storer) *Handler {
	return &Handler{
		Pipeline:    p,
		Router:      &ingest.Router{Classifier: k8saudit.NewClassifier(k8saudit.ClassifierConfig{CDENamespaces: []string{"payments"}})},
		AppServices: map[string]bool{"checkout": true},
		Now:         func() time.Time { return testTime },
		Log:         slog.New(slog.DiscardHandler),
	}
}

// withToken stands for the API server's authentication: a request
// bearing testToken gets an ingest principal bound to testSource, one
// bearing "reader" a log-reader principal, anything else 401.
func withToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p auth.Principal
		switch r.Header.Get("Authorization") {
		case "Bearer " + testToken:
			p = auth.Principal{TokenID: "t1", Role: auth.RoleIngest, Source: testSource}
		case "Bearer reader":
			p = auth.Principal{TokenID: "t2", Role: auth.RoleLogReader}
		default:
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	})
}

// statusLog records the status of every answer.
type statusLog struct {
	mu       sync.Mutex
	statuses []int
}

func (s *statusLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rw, r)
		s.mu.Lock()
		s.statuses = append(s.statuses, rw.status)
		s.mu.Unlock()
	})
}

func (s *statusLog) get() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.statuses...)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// newServer serves h at /v1/logs behind withToken.
func newServer(tb testing.TB, h http.Handler) *httptest.Server {
	tb.Helper()
	mux := http.NewServeMux()
	mux.Handle("POST /v1/logs", withToken(h))
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	return srv
}

// byTable returns the records of table.
func byTable(recs []event.Record, table string) []event.Record {
	var out []event.Record
	for _, r := range recs {
		if r.Table == table {
			out = append(out, r)
		}
	}
	return out
}

// byAction returns the records with the given action.
func byAction(recs []event.Record, action string) []event.Record {
	var out []event.Record
	for _, r := range recs {
		if r.Action == action {
			out = append(out, r)
		}
	}
	return out
}

// pushback fails the first n stores with ledger.ErrPushback, then stores.
type pushback struct {
	next  Storer
	mu    sync.Mutex
	n     int
	calls int
}

func (p *pushback) Store(ctx context.Context, b *ingest.Batch) (ingest.Result, error) {
	p.mu.Lock()
	p.calls++
	fail := p.calls <= p.n
	p.mu.Unlock()
	if fail {
		return ingest.Result{}, fmt.Errorf("append: %w", ledger.ErrPushback)
	}
	return p.next.Store(ctx, b)
}
