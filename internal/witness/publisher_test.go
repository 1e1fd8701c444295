package witness

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/cdewatch/cdewatch/internal/ledger"
	"github.com/cdewatch/cdewatch/internal/ledger/ledgertest"
)

// countingTransport counts the requests sent through it to the real
// witness (it changes nothing).
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// recorder collects what a Publisher reports.
type recorder struct {
	mu        sync.Mutex
	published []Publication
	failures  []error
	recovered int
}

func (r *recorder) options(o Options) Options {
	o.OnPublish = func(p Publication) { r.mu.Lock(); r.published = append(r.published, p); r.mu.Unlock() }
	o.OnFailure = func(_ string, err error, _ time.Time) {
		r.mu.Lock()
		r.failures = append(r.failures, err)
		r.mu.Unlock()
	}
	o.OnRecovered = func(string, time.Time) { r.mu.Lock(); r.recovered++; r.mu.Unlock() }
	return o
}

func (r *recorder) counts() (published, failures, recovered int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.published), len(r.failures), r.recovered
}

// publisherFor returns a Publisher of the ledger l to the witnesses ws,
// one attempt per round.
func publisherFor(tb testing.TB, l *ledger.Ledger, dir string, rec *recorder, tr http.RoundTripper, ws ...Witness) *Publisher {
	tb.Helper()
	o := Options{Latest: l.LatestCheckpoint, Prove: l.ConsistencyProof, LogVerifier: l.Verifier(), Dir: dir,
		Witnesses: ws, Attempts: 1, HTTPClient: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
	if rec != nil {
		o = rec.options(o)
	}
	p, err := New(o)
	if err != nil {
		tb.Fatalf("new publisher: %v", err)
	}
	return p
}

// checkCosigned checks that the file holds cp, signed by the ledger and
// cosigned by the witness key, and that `cdewatch verify --against` (the
// ledger's Verify with Against) accepts it for the ledger in dir.
func checkCosigned(tb testing.TB, file string, cp *ledger.Checkpoint, logV note.Verifier, witnessKey string) {
	tb.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		tb.Fatalf("cosigned checkpoint: %v", err)
	}
	wv, err := fnote.NewVerifierForCosignatureV1(witnessKey)
	if err != nil {
		tb.Fatal(err)
	}
	n, err := note.Open(b, note.VerifierList(logV, wv))
	if err != nil {
		tb.Fatalf("cosigned checkpoint %s does not verify: %v\n%s", file, err, b)
	}
	if len(n.Sigs) != 2 {
		tb.Fatalf("cosigned checkpoint has %d verified signatures, want the log's and the witness's", len(n.Sigs))
	}
	got, err := ledger.ParseCheckpoint(b, logV)
	if err != nil || got.Size != cp.Size || string(got.Root) != string(cp.Root) {
		tb.Fatalf("cosigned checkpoint is of size %v, want %d (%v)", got, cp.Size, err)
	}
}

// TestLitewitnessPublish publishes a real ledger's checkpoints to a real
// witness: the first cosignature, one after growth (consistency proof
// accepted), a restart from the state file, a lost state file (the
// witness's 409 gives its size back), and a witness that lost its own
// state.
func TestLitewitnessPublish(t *testing.T) {
	lw := startLiteWitness(t, "witness.test/w1")
	base := t.TempDir()
	ldir := filepath.Join(base, "ledger")
	l := openLedger(t, ldir)
	logKey, err := ledger.ReadVerifierKey(ldir)
	if err != nil {
		t.Fatal(err)
	}
	lw.addLog(testOrigin, logKey)
	w := Witness{URL: lw.URL, Key: lw.VKey}
	state := filepath.Join(base, "witness")
	rec := &recorder{}
	tr := &countingTransport{}
	p := publisherFor(t, l, state, rec, tr, w)
	ctx := context.Background()

	cp1 := grow(t, l, "first", 10)
	if err := p.Publish(ctx); err != nil {
		t.Fatalf("first publication: %v", err)
	}
	st := p.Status()[0]
	if st.Size != cp1.Size || st.Err != nil || st.CosignedAt.IsZero() {
		t.Fatalf("status after the first publication: %+v, want size %d", st, cp1.Size)
	}
	checkCosigned(t, st.File, cp1, l.Verifier(), lw.VKey)
	if _, err := ledger.Verify(ctx, ledger.VerifyOptions{Dir: ldir, Verifier: l.Verifier(), Against: [][]byte{mustRead(t, st.File)}}); err != nil {
		t.Fatalf("verify --against the cosigned checkpoint: %v", err)
	}
	if pubs, fails, _ := rec.counts(); pubs != 1 || fails != 0 {
		t.Fatalf("%d publications, %d failures; want 1, 0", pubs, fails)
	}
	pub := rec.published[0]
	if pub.Size != cp1.Size || len(pub.Cosigners) != 1 || pub.Cosigners[0] != "witness.test/w1" {
		t.Fatalf("publication %+v", pub)
	}
	wv, _ := fnote.NewVerifierForCosignatureV1(lw.VKey)
	if _, err := note.Open(pub.Note, note.VerifierList(l.Verifier(), wv)); err != nil {
		t.Fatalf("published note does not verify with the log and witness keys: %v", err)
	}

	// Nothing new: no request, no publication.
	sent := tr.n.Load()
	if err := p.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	if tr.n.Load() != sent {
		t.Fatalf("a round without growth sent %d requests", tr.n.Load()-sent)
	}
	if pubs, _, _ := rec.counts(); pubs != 1 {
		t.Fatalf("a round without growth published again")
	}

	// Growth: one request with a consistency proof from cp1.
	cp2 := grow(t, l, "second", 25)
	sent = tr.n.Load()
	if err := p.Publish(ctx); err != nil {
		t.Fatalf("publication after growth: %v", err)
	}
	if n := tr.n.Load() - sent; n != 1 {
		t.Fatalf("publication after growth took %d requests, want 1", n)
	}
	checkCosigned(t, p.Status()[0].File, cp2, l.Verifier(), lw.VKey)
	if logs := lw.listLogs(); !strings.Contains(logs, `"size":`+itoa(cp2.Size)) {
		t.Fatalf("the witness's list of logs does not show size %d: %s", cp2.Size, logs)
	}

	// Restart from the state file: it continues from cp2 in one request.
	p2 := publisherFor(t, l, state, rec, tr, w)
	if got := p2.Status()[0].Size; got != cp2.Size {
		t.Fatalf("restarted publisher knows size %d, want %d", got, cp2.Size)
	}
	cp3 := grow(t, l, "third", 7)
	sent = tr.n.Load()
	if err := p2.Publish(ctx); err != nil {
		t.Fatalf("publication after restart: %v", err)
	}
	if n := tr.n.Load() - sent; n != 1 {
		t.Fatalf("publication after restart took %d requests, want 1", n)
	}
	checkCosigned(t, p2.Status()[0].File, cp3, l.Verifier(), lw.VKey)

	// State lost: the witness's 409 names its size, the retry succeeds.
	p3 := publisherFor(t, l, filepath.Join(base, "fresh"), rec, tr, w)
	cp4 := grow(t, l, "fourth", 3)
	sent = tr.n.Load()
	if err := p3.Publish(ctx); err != nil {
		t.Fatalf("publication without state: %v", err)
	}
	if n := tr.n.Load() - sent; n != 2 {
		t.Fatalf("publication without state took %d requests, want 2 (409, then accepted)", n)
	}
	checkCosigned(t, p3.Status()[0].File, cp4, l.Verifier(), lw.VKey)

	// The witness loses its database: it cosigns again, from 0, and the
	// publisher reports that it forgot what it had cosigned.
	lw.wipe(testOrigin, logKey)
	cp5 := grow(t, l, "fifth", 2)
	err = p3.Publish(ctx)
	if !errors.Is(err, ErrWitnessRolledBack) {
		t.Fatalf("publication to a wiped witness: %v, want ErrWitnessRolledBack", err)
	}
	checkCosigned(t, p3.Status()[0].File, cp5, l.Verifier(), lw.VKey)
	_, fails, _ := rec.counts()
	cp6 := grow(t, l, "sixth", 2)
	if err := p3.Publish(ctx); err != nil {
		t.Fatalf("publication after the witness was wiped: %v", err)
	}
	checkCosigned(t, p3.Status()[0].File, cp6, l.Verifier(), lw.VKey)
	if _, f, rcv := rec.counts(); f != fails || rcv != 1 {
		t.Fatalf("after recovery: %d failures (%d before), %d recoveries; want no new failure and 1 recovery", f, fails, rcv)
	}
}

// TestLitewitnessRefusesFork: a copy of the ledger directory, grown with
// other records and signed with the same key, is refused by the witness
// that cosigned the original, and the refusal says so.
func TestLitewitnessRefusesFork(t *testing.T) {
	lw := startLiteWitness(t, "witness.test/w1")
	base := t.TempDir()
	orig, stateOrig := filepath.Join(base, "orig"), filepath.Join(base, "orig-witness")
	ctx := context.Background()

	l := openLedger(t, orig)
	logKey, err := ledger.ReadVerifierKey(orig)
	if err != nil {
		t.Fatal(err)
	}
	lw.addLog(testOrigin, logKey)
	w := Witness{URL: lw.URL, Key: lw.VKey}
	grow(t, l, "shared", 20)
	if err := publisherFor(t, l, stateOrig, nil, http.DefaultTransport, w).Publish(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// The fork: the ledger and its publisher state copied at this size.
	ledgertest.CopyDir(t, orig, filepath.Join(base, "fork-long"))
	ledgertest.CopyDir(t, orig, filepath.Join(base, "fork-short"))
	ledgertest.CopyDir(t, stateOrig, filepath.Join(base, "fork-long-witness"))
	ledgertest.CopyDir(t, stateOrig, filepath.Join(base, "fork-short-witness"))

	// The original goes on and is cosigned.
	l = openLedger(t, orig)
	honest := grow(t, l, "honest", 5)
	if err := publisherFor(t, l, stateOrig, nil, http.DefaultTransport, w).Publish(ctx); err != nil {
		t.Fatal(err)
	}
	kept := mustRead(t, filepath.Join(stateOrig, cosignedFileName("witness.test/w1", mustVerifier(t, lw.VKey).KeyHash())))

	cases := []struct {
		name  string
		grow  int
		wants []string
	}{
		// Longer than what the witness cosigned: it proves from that size
		// and the witness rejects the proof.
		{"fork-long", 12, []string{"rejected the consistency proof from size " + itoa(honest.Size), "rewritten, forked or restored"}},
		// Shorter: the witness has a larger tree than the fork has.
		{"fork-short", 2, []string{"cosigned a tree of " + itoa(honest.Size) + " leaves", "cut back, forked or restored"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(base, tc.name)
			fl := openLedger(t, dir)
			forged := grow(t, fl, "forged", tc.grow)
			rec := &recorder{}
			p := publisherFor(t, fl, filepath.Join(base, tc.name+"-witness"), rec, http.DefaultTransport, w)
			before := mustRead(t, p.Status()[0].File)
			err := p.Publish(ctx)
			if !errors.Is(err, ErrInconsistent) {
				t.Fatalf("publication of the fork: %v; want ErrInconsistent", err)
			}
			t.Logf("refusal: %v", err)
			for _, want := range tc.wants {
				wantErr(t, err, want)
			}
			if _, fails, _ := rec.counts(); fails != 1 || !errors.Is(rec.failures[0], ErrInconsistent) {
				t.Fatalf("OnFailure got %v, want the refusal once", rec.failures)
			}
			if st := p.Status()[0]; !errors.Is(st.Err, ErrInconsistent) || st.Size == forged.Size {
				t.Fatalf("status after the refusal: %+v", st)
			}
			if after := mustRead(t, p.Status()[0].File); string(after) != string(before) {
				t.Fatal("the refused checkpoint replaced the cosigned one")
			}
			// The auditor's check finds the fork with the checkpoint the
			// original's publisher kept.
			if err := fl.Close(); err != nil {
				t.Fatal(err)
			}
			_, err = ledger.Verify(ctx, ledger.VerifyOptions{Dir: dir, Verifier: mustLogVerifier(t, logKey), Against: [][]byte{kept}})
			if err == nil {
				t.Fatal("verify --against the witness-cosigned checkpoint accepts the fork")
			}
		})
	}

	// The original is still cosigned after the refusals.
	grow(t, l, "honest-again", 3)
	if err := publisherFor(t, l, stateOrig, nil, http.DefaultTransport, w).Publish(ctx); err != nil {
		t.Fatalf("the original after the refusals: %v", err)
	}
}

// TestLitewitnessRefusals: the client names what to fix when the witness
// does not know the log, holds another key for it, or cosigns with a key
// other than the configured one.
func TestLitewitnessRefusals(t *testing.T) {
	_, otherLogKey, err := note.GenerateKey(strings.NewReader(strings.Repeat("k", 64)), testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	_, otherWitness, err := note.GenerateKey(strings.NewReader(strings.Repeat("w", 64)), "witness.test/w1")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		register func(lw *liteWitness, logKey string)
		key      func(lw *liteWitness) string
		is       error
		want     string
	}{
		{"log not registered", func(*liteWitness, string) {}, nil, ErrUnknownLog, "witnessctl add-log -origin " + testOrigin},
		{"another log key registered", func(lw *liteWitness, _ string) { lw.addLog(testOrigin, otherLogKey) }, nil, ErrLogSignature, "holds another key for origin"},
		{"witness cosigns with another key", func(lw *liteWitness, k string) { lw.addLog(testOrigin, k) },
			func(*liteWitness) string { return otherWitness }, ErrBadCosignature, "no cosignature by the configured key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lw := startLiteWitness(t, "witness.test/w1")
			dir := t.TempDir()
			l := openLedger(t, filepath.Join(dir, "ledger"))
			logKey, err := ledger.ReadVerifierKey(filepath.Join(dir, "ledger"))
			if err != nil {
				t.Fatal(err)
			}
			tc.register(lw, logKey)
			key := lw.VKey
			if tc.key != nil {
				key = tc.key(lw)
			}
			grow(t, l, "r", 4)
			rec := &recorder{}
			p := publisherFor(t, l, filepath.Join(dir, "witness"), rec, http.DefaultTransport, Witness{URL: lw.URL, Key: key})
			err = p.Publish(context.Background())
			if !errors.Is(err, tc.is) {
				t.Fatalf("error %v; want %v", err, tc.is)
			}
			wantErr(t, err, tc.want)
			t.Logf("refusal: %v", err)
			if pubs, fails, _ := rec.counts(); pubs != 1 || fails != 1 {
				t.Fatalf("%d publications, %d failures; want the checkpoint published without the witness, and the failure reported", pubs, fails)
			}
			if len(rec.published[0].Cosigners) != 0 {
				t.Fatalf("published with cosigners %v", rec.published[0].Cosigners)
			}
		})
	}
}

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustVerifier(tb testing.TB, cosignatureKey string) note.Verifier {
	tb.Helper()
	v, err := fnote.NewVerifierForCosignatureV1(cosignatureKey)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func mustLogVerifier(tb testing.TB, key string) note.Verifier {
	tb.Helper()
	v, err := note.NewVerifier(key)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
