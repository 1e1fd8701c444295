package witness

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/ledger"
)

// scriptedWitness stands in for a witness where the answer under test is
// one that litewitness cannot be made to give (server errors, proxies'
// answers, malformed bodies): an httptest server whose answer a test
// function chooses. The protocol's own answers are tested against the real
// litewitness in publisher_test.go.
type scriptedWitness struct {
	*httptest.Server
	mu       sync.Mutex
	requests [][]byte
	paths    []string
	answer   func(n int, body []byte) (code int, contentType string, answer []byte)
}

func newScriptedWitness(tb testing.TB, answer func(n int, body []byte) (int, string, []byte)) *scriptedWitness {
	tb.Helper()
	s := &scriptedWitness{answer: answer}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.requests = append(s.requests, body)
		s.paths = append(s.paths, r.Method+" "+r.URL.Path)
		n := len(s.requests)
		s.mu.Unlock()
		code, ct, b := s.answer(n, body)
		if ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		w.WriteHeader(code)
		w.Write(b)
	}))
	tb.Cleanup(s.Close)
	return s
}

func (s *scriptedWitness) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

// checkpointOf returns the checkpoint note of an add-checkpoint request.
func checkpointOf(body []byte) []byte {
	_, n, _ := bytes.Cut(body, []byte("\n\n"))
	return n
}

func TestClientAnswers(t *testing.T) {
	log := newTestLog(t)
	cp := log.checkpoint(t, 42, "a")
	w := newCosigner(t, "witness.example/w1", 1)
	stranger := newCosigner(t, "witness.example/w2", 2)
	cases := []struct {
		name      string
		code      int
		ct        string
		body      []byte
		is        error
		conflict  uint64 // Known of the *ConflictError wanted
		temporary bool
		want      string
	}{
		{name: "cosigned", code: 200, body: w.cosign(t, cp.Note)},
		{name: "cosigned by another key", code: 200, body: stranger.cosign(t, cp.Note), is: ErrBadCosignature},
		{name: "200 with a page", code: 200, ct: "text/html", body: []byte("<html>hello</html>\n"), is: ErrProtocol, want: "not a signature line"},
		{name: "200 too long", code: 200, body: bytes.Repeat(w.cosign(t, cp.Note), 1000), is: ErrProtocol, want: "longer than"},
		{name: "conflict", code: 409, ct: "text/x.tlog.size", body: []byte("17\n"), conflict: 17},
		{name: "conflict with parameters", code: 409, ct: "text/x.tlog.size; charset=utf-8", body: []byte("0\n"), conflict: 0},
		{name: "conflict of a proxy", code: 409, ct: "text/plain", body: []byte("17\n"), is: ErrProtocol, want: "Content-Type"},
		{name: "conflict without a size", code: 409, ct: "text/x.tlog.size", body: []byte("later\n"), is: ErrProtocol},
		{name: "unknown origin", code: 404, body: []byte("not found\n"), is: ErrUnknownLog, want: "witnessctl add-log -origin " + testOrigin},
		{name: "litewitness unknown log", code: 403, body: []byte("unknown log\n"), is: ErrUnknownLog},
		{name: "log signature refused", code: 403, body: []byte("invalid signature\n"), is: ErrLogSignature},
		{name: "proof refused", code: 422, body: []byte("bad consistency proof\n"), is: ErrInconsistent, want: "rejected the consistency proof from size 5"},
		{name: "bad request", code: 400, body: []byte("invalid input\n"), is: ErrProtocol, want: "400"},
		{name: "server error", code: 500, body: []byte("database is locked\n"), temporary: true, want: "HTTP 500"},
		{name: "unavailable", code: 503, temporary: true},
		{name: "rate limited", code: 429, temporary: true},
		{name: "unauthorized", code: 401, want: "HTTP 401"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScriptedWitness(t, func(int, []byte) (int, string, []byte) { return tc.code, tc.ct, tc.body })
			c, err := NewClient(Witness{URL: s.URL + "/w/", Key: w.vkey}, nil)
			if err != nil {
				t.Fatal(err)
			}
			sigs, err := c.AddCheckpoint(context.Background(), 5, hashes(3), cp.Note)
			if got := s.paths[0]; got != "POST /w/add-checkpoint" {
				t.Fatalf("request %q, want POST /w/add-checkpoint", got)
			}
			if want, _ := FormatRequest(5, hashes(3), cp.Note); !bytes.Equal(s.requests[0], want) {
				t.Fatalf("request body\n%s\nwant\n%s", s.requests[0], want)
			}
			var ce *ConflictError
			switch {
			case tc.code == 409 && tc.is == nil:
				if !errors.As(err, &ce) || ce.Known != tc.conflict || ce.Sent != 5 {
					t.Fatalf("error %v, want a conflict naming size %d", err, tc.conflict)
				}
			case tc.is != nil:
				if !errors.Is(err, tc.is) {
					t.Fatalf("error %v, want %v", err, tc.is)
				}
			case tc.code != 200:
				var se *StatusError
				if !errors.As(err, &se) || se.Code != tc.code {
					t.Fatalf("error %v, want a StatusError %d", err, tc.code)
				}
			default:
				if err != nil || len(sigs) != 1 {
					t.Fatalf("cosignatures %v, error %v", sigs, err)
				}
			}
			if tc.want != "" {
				wantErr(t, err, tc.want)
			}
			if Temporary(err) != tc.temporary {
				t.Fatalf("Temporary(%v) = %v, want %v", err, Temporary(err), tc.temporary)
			}
		})
	}
}

func TestNewClient(t *testing.T) {
	w := newCosigner(t, "witness.example/w1", 1)
	cases := []struct {
		name string
		w    Witness
		want string
	}{
		{"https", Witness{URL: "https://witness.example/prefix", Key: w.vkey}, ""},
		{"Ed25519 note key", Witness{URL: "https://witness.example", Key: newTestLog(t).vkey}, ""},
		{"no scheme", Witness{URL: "witness.example", Key: w.vkey}, "submission prefix"},
		{"ftp", Witness{URL: "ftp://witness.example", Key: w.vkey}, "submission prefix"},
		{"query", Witness{URL: "https://witness.example/?a=b", Key: w.vkey}, "submission prefix"},
		{"no key", Witness{URL: "https://witness.example"}, "cosignature verifier key"},
		{"private key", Witness{URL: "https://witness.example", Key: "PRIVATE+KEY+w+00000000+AQ=="}, "cosignature verifier key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewClient(tc.w, nil)
			wantErr(t, err, tc.want)
		})
	}
}

// TestCosignConflicts follows 409 answers (scripted witness: litewitness
// gives the protocol's 409 in TestLitewitnessPublish; the odd ones here it
// never gives).
func TestCosignConflicts(t *testing.T) {
	log := newTestLog(t)
	cp := log.checkpoint(t, 42, "c")
	w := newCosigner(t, "witness.example/w1", 1)
	conflict := func(size string) (int, string, []byte) { return 409, "text/x.tlog.size", []byte(size + "\n") }
	prove := func(from, to uint64) ([][]byte, error) { return hashes(int(from % 7)), nil }
	cases := []struct {
		name     string
		old      uint64
		answer   func(n int, body []byte) (int, string, []byte)
		requests int
		is       error
		want     string
		oldLine  string // the old line of the accepted request
	}{
		{"accepted at once", 40, func(_ int, b []byte) (int, string, []byte) { return 200, "", w.cosign(t, checkpointOf(b)) }, 1, nil, "", "old 40"},
		{"resynchronized", 0, func(n int, b []byte) (int, string, []byte) {
			if n == 1 {
				return conflict("30")
			}
			return 200, "", w.cosign(t, checkpointOf(b))
		}, 2, nil, "", "old 30"},
		{"witness at the same size", 30, func(n int, b []byte) (int, string, []byte) {
			if n == 1 {
				return conflict("42")
			}
			return 200, "", w.cosign(t, checkpointOf(b))
		}, 2, nil, "", "old 42"},
		{"same size, another root", 42, func(int, []byte) (int, string, []byte) { return conflict("42") }, 1, ErrInconsistent, "another root at size 42", ""},
		{"witness ahead", 40, func(int, []byte) (int, string, []byte) { return conflict("50") }, 1, ErrInconsistent, "cosigned a tree of 50 leaves", ""},
		{"conflict naming the size sent", 40, func(int, []byte) (int, string, []byte) { return conflict("40") }, 1, ErrProtocol, "naming the size sent", ""},
		{"moving witness", 1, func(n int, _ []byte) (int, string, []byte) { return conflict(string(rune('1' + n))) }, maxConflicts, nil, "successive requests", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScriptedWitness(t, tc.answer)
			c, err := NewClient(Witness{URL: s.URL, Key: w.vkey}, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Cosign(context.Background(), cp, tc.old, prove)
			wantErr(t, err, tc.want)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %v, want %v", err, tc.is)
			}
			if n := s.count(); n != tc.requests {
				t.Fatalf("%d requests, want %d", n, tc.requests)
			}
			if err == nil {
				last := string(s.requests[len(s.requests)-1])
				if !strings.HasPrefix(last, tc.oldLine+"\n") {
					t.Fatalf("accepted request starts %q, want %q", last[:20], tc.oldLine)
				}
				if res.Size != 42 || res.Time.IsZero() || !bytes.HasPrefix(res.Note, cp.Note) {
					t.Fatalf("result %+v", res)
				}
			}
		})
	}
}

// TestPublisherRetries: temporary failures are retried within a round;
// a round that still fails is reported, and the next success is reported
// as a recovery. Scripted witness: litewitness cannot be made to fail
// temporarily.
func TestPublisherRetries(t *testing.T) {
	w := newCosigner(t, "witness.example/w1", 1)
	var failFirst atomic.Int64
	s := newScriptedWitness(t, func(n int, b []byte) (int, string, []byte) {
		if int64(n) <= failFirst.Load() {
			return 503, "", []byte("try later\n")
		}
		return 200, "", w.cosign(t, checkpointOf(b))
	})
	l := openLedger(t, filepath.Join(t.TempDir(), "ledger"))
	rec := &recorder{}
	p, err := New(rec.options(Options{Latest: l.LatestCheckpoint, Prove: l.ConsistencyProof, LogVerifier: l.Verifier(),
		Dir: filepath.Join(t.TempDir(), "witness"), Witnesses: []Witness{{URL: s.URL, Key: w.vkey}},
		Attempts: 3, Backoff: time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	failFirst.Store(2)
	grow(t, l, "a", 3)
	if err := p.Publish(ctx); err != nil {
		t.Fatalf("two temporary failures, then a cosignature: %v", err)
	}
	if n := s.count(); n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}

	failFirst.Store(1 << 30)
	grow(t, l, "b", 3)
	before := s.count()
	err = p.Publish(ctx)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 503 {
		t.Fatalf("a round of temporary failures: %v", err)
	}
	if n := s.count() - before; n != 3 {
		t.Fatalf("%d requests in a failing round, want 3 attempts", n)
	}
	if _, fails, _ := rec.counts(); fails != 1 {
		t.Fatalf("%d failures reported, want 1", fails)
	}
	if st := p.Status()[0]; st.Err == nil || st.FailingSince.IsZero() {
		t.Fatalf("status of a failing witness: %+v", st)
	}

	failFirst.Store(0)
	if err := p.Publish(ctx); err != nil {
		t.Fatalf("round after the failure: %v", err)
	}
	if _, fails, rcv := rec.counts(); fails != 1 || rcv != 1 {
		t.Fatalf("%d failures, %d recoveries; want 1, 1", fails, rcv)
	}
	if st := p.Status()[0]; st.Err != nil || st.Size != l.LatestCheckpoint().Size {
		t.Fatalf("status after recovery: %+v", st)
	}
}

// TestPublisherRefusalNotRetried: a refusal is reported at once, without
// retries.
func TestPublisherRefusalNotRetried(t *testing.T) {
	w := newCosigner(t, "witness.example/w1", 1)
	s := newScriptedWitness(t, func(int, []byte) (int, string, []byte) { return 422, "", []byte("bad consistency proof\n") })
	l := openLedger(t, filepath.Join(t.TempDir(), "ledger"))
	p, err := New(Options{Latest: l.LatestCheckpoint, Prove: l.ConsistencyProof, LogVerifier: l.Verifier(),
		Dir: t.TempDir(), Witnesses: []Witness{{URL: s.URL, Key: w.vkey}}, Attempts: 5, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	grow(t, l, "a", 2)
	if err := p.Publish(context.Background()); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("error %v, want ErrInconsistent", err)
	}
	if n := s.count(); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

// TestPublisherRun: Run publishes at once and returns nil when its
// context ends; a witness that does not answer delays the publication to
// the SIEM by the request timeout only.
func TestPublisherRun(t *testing.T) {
	release := make(chan struct{})
	w := newCosigner(t, "witness.example/w1", 1)
	s := newScriptedWitness(t, func(int, []byte) (int, string, []byte) {
		<-release
		return 503, "", nil
	})
	t.Cleanup(func() { close(release) })
	l := openLedger(t, filepath.Join(t.TempDir(), "ledger"))
	grow(t, l, "a", 2)
	published := make(chan Publication, 4)
	p, err := New(Options{Latest: l.LatestCheckpoint, Prove: l.ConsistencyProof, LogVerifier: l.Verifier(),
		Dir: t.TempDir(), Witnesses: []Witness{{URL: s.URL, Key: w.vkey}}, Interval: time.Hour,
		Timeout: 50 * time.Millisecond, Attempts: 1, OnPublish: func(p Publication) { published <- p }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	pub := <-published
	if pub.Size != l.LatestCheckpoint().Size || len(pub.Cosigners) != 0 {
		t.Fatalf("publication %+v", pub)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v", err)
	}
}

func TestNewPublisher(t *testing.T) {
	l := openLedger(t, filepath.Join(t.TempDir(), "ledger"))
	w := newCosigner(t, "witness.example/w1", 1)
	base := Options{Latest: l.LatestCheckpoint, Prove: l.ConsistencyProof, LogVerifier: l.Verifier()}
	cases := []struct {
		name string
		edit func(o *Options)
		want string
	}{
		{"no witness", func(o *Options) {}, ""},
		{"no state directory", func(o *Options) { o.Dir = "" }, "state directory"},
		{"no ledger", func(o *Options) { o.Latest = nil }, "required"},
		{"bad witness", func(o *Options) { o.Witnesses = []Witness{{URL: "x", Key: w.vkey}} }, "witness 1"},
		{"same witness twice", func(o *Options) {
			o.Witnesses = []Witness{{URL: "https://a.example", Key: w.vkey}, {URL: "https://b.example", Key: w.vkey}}
		}, "configured twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			o.Dir = t.TempDir()
			tc.edit(&o)
			_, err := New(o)
			wantErr(t, err, tc.want)
		})
	}
}

// TestPublisherPublishesChanges: the SIEM receives every checkpoint that
// differs from the last one it received, a smaller one too (a ledger cut
// back shows there), and nothing when nothing changed.
func TestPublisherPublishesChanges(t *testing.T) {
	log := newTestLog(t)
	steps := []struct {
		cp      *ledger.Checkpoint
		publish bool
	}{
		{log.checkpoint(t, 10, "a"), true},
		{log.checkpoint(t, 10, "a"), false},
		{log.checkpoint(t, 12, "a"), true},
		{log.checkpoint(t, 11, "b"), true},
		{log.checkpoint(t, 11, "c"), true},
		{log.checkpoint(t, 11, "c"), false},
	}
	var current *ledger.Checkpoint
	var got []uint64
	dir := t.TempDir()
	o := Options{Latest: func() *ledger.Checkpoint { return current },
		Prove:       func(uint64, uint64) ([][]byte, error) { return nil, errors.New("no witness asks") },
		LogVerifier: log.verifier, Dir: dir, OnPublish: func(p Publication) { got = append(got, p.Size) }}
	for i, s := range steps {
		current = s.cp
		// A new Publisher for every step: the state file carries over.
		p, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		before := len(got)
		if err := p.Publish(context.Background()); err != nil {
			t.Fatal(err)
		}
		if published := len(got) > before; published != s.publish {
			t.Fatalf("step %d (size %d): published %v, want %v", i, s.cp.Size, published, s.publish)
		}
	}
}
