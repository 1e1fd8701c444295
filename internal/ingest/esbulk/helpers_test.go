package esbulk_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"

	"github.com/cdewatch/cdewatch/internal/auth"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/ingest"
	"github.com/cdewatch/cdewatch/internal/ingest/esbulk"
	"github.com/cdewatch/cdewatch/internal/k8saudit"
	"github.com/cdewatch/cdewatch/internal/ledger"
	"github.com/cdewatch/cdewatch/internal/scrub"
)

// testSource is the source the test ingest token is bound to.
const testSource = "aks-prod"

// prefix is where the tests mount the handler, as a server would.
const prefix = "/es"

// env is a running receiver: a real ledger, a real pipeline (scrubber,
// dedup, stats), the handler behind an authenticating wrapper backed by a
// real auth token store, on a loopback HTTP server.
type env struct {
	ledger   *ledger.Ledger
	pipeline *ingest.Pipeline
	handler  *esbulk.Handler
	tokens   *auth.Store
	token    string // an ingest token bound to testSource
	srv      *httptest.Server
	url      string // srv.URL + prefix
	wrap     func(http.Handler) http.Handler
}

type envOption func(*env)

// withMiddleware puts wrap in front of the server's handler.
func withMiddleware(wrap func(http.Handler) http.Handler) envOption {
	return func(e *env) { e.wrap = wrap }
}

// withStorer puts wrap(pipeline) between the handler and the pipeline.
func withStorer(wrap func(esbulk.Storer) esbulk.Storer) envOption {
	return func(e *env) { e.handler.Store = wrap(e.handler.Store) }
}

func newEnv(tb testing.TB, opts ...envOption) *env {
	tb.Helper()
	l, err := ledger.Open(ledger.Options{Dir: tb.TempDir(), Origin: "test"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	tokens, _, err := auth.Open(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	token, _, err := tokens.Create(auth.RoleIngest, testSource)
	if err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	p := &ingest.Pipeline{
		Ledger: l, Scrubber: scrub.New(scrub.Options{}), Dedup: ingest.NewDedup(ingest.DedupOptions{Window: time.Hour}),
		Stats: ingest.NewStats(nil), Now: time.Now, Log: log,
	}
	h := &esbulk.Handler{
		Store:  p,
		Router: &ingest.Router{Classifier: k8saudit.NewClassifier(k8saudit.ClassifierConfig{})},
		Log:    log,
	}
	e := &env{ledger: l, pipeline: p, handler: h, tokens: tokens, token: token}
	for _, o := range opts {
		o(e)
	}
	mux := http.NewServeMux()
	h.Register(mux, prefix, func(next http.Handler) http.Handler { return authenticate(tokens, next) })
	var root http.Handler = mux
	if e.wrap != nil {
		root = e.wrap(mux)
	}
	e.srv = httptest.NewServer(root)
	tb.Cleanup(e.srv.Close)
	e.url = e.srv.URL + prefix
	return e
}

// authenticate stands for the API server's auth wrapper: it takes the
// token from whichever Authorization scheme the shipper uses
// (esbulk.Credential), checks it against the token store and puts the
// principal in the context.
func authenticate(tokens *auth.Store, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := tokens.Authenticate(auth.Credential(r))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="cdewatch"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"missing or invalid token"}`)
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	})
}

// client returns the official Go client for the receiver, with the token
// as a bearer token and retries on 429 (which the BulkIndexer relies on
// for backpressure).
func (e *env) client(tb testing.TB, mod ...func(*elasticsearch.Config)) *elasticsearch.Client {
	tb.Helper()
	cfg := elasticsearch.Config{
		Addresses:     []string{e.url},
		ServiceToken:  e.token,
		RetryOnStatus: []int{http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout},
		MaxRetries:    20,
		RetryBackoff:  func(int) time.Duration { return 5 * time.Millisecond },
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := elasticsearch.NewClient(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// doc is one document to ship and, after shipping, what became of it.
type doc struct {
	Index, ID, Action, Body string

	ok   bool
	info esutil.BulkIndexerResponseItem
}

// ship sends docs through an esutil.BulkIndexer in one flush and returns
// them with their per-item answers.
func ship(tb testing.TB, c *elasticsearch.Client, docs []doc) []doc {
	tb.Helper()
	bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{Client: c, NumWorkers: 1, FlushBytes: 64 << 20, FlushInterval: time.Hour,
		OnError: func(_ context.Context, err error) { tb.Errorf("bulk indexer: %v", err) }})
	if err != nil {
		tb.Fatal(err)
	}
	out := append([]doc(nil), docs...)
	var mu sync.Mutex
	for i := range out {
		d := &out[i]
		item := esutil.BulkIndexerItem{Index: d.Index, Action: d.Action, DocumentID: d.ID,
			OnSuccess: func(_ context.Context, _ esutil.BulkIndexerItem, info esutil.BulkIndexerResponseItem) {
				mu.Lock()
				d.ok, d.info = true, info
				mu.Unlock()
			},
			OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, info esutil.BulkIndexerResponseItem, err error) {
				mu.Lock()
				d.ok, d.info = false, info
				mu.Unlock()
			}}
		if d.Action == "" {
			item.Action = "create"
		}
		if d.Action != "delete" {
			item.Body = strings.NewReader(d.Body)
		}
		if err := bi.Add(context.Background(), item); err != nil {
			tb.Fatal(err)
		}
	}
	if err := bi.Close(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return out
}

// stored returns the records of the ledger from seq from on, by seq.
func stored(tb testing.TB, l *ledger.Ledger, from uint64) map[uint64]event.Record {
	tb.Helper()
	out := map[uint64]event.Record{}
	if err := l.ReadRange(from, l.Size(), func(seq uint64, b []byte) error {
		var r event.Record
		if err := r.UnmarshalBinary(b); err != nil {
			return err
		}
		r.Raw = append([]byte(nil), r.Raw...)
		out[seq] = r
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return out
}

// byAction returns the records of recs with the given action.
func byAction(recs map[uint64]event.Record, action string) []event.Record {
	var out []event.Record
	for _, r := range recs {
		if r.Action == action {
			out = append(out, r)
		}
	}
	return out
}
