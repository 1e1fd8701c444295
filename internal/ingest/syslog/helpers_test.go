package syslog

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/ingest"
	"github.com/cdewatch/cdewatch/internal/ledger"
	"github.com/cdewatch/cdewatch/internal/scrub"
	"github.com/cdewatch/cdewatch/internal/tlsutil/tlstest"
)

// testLog is the logger of the tests: discarded unless -v.
func testLog(tb testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", tb.Name())
	}
	return slog.New(slog.DiscardHandler)
}

// newPipeline returns the shared ingest pipeline over a real ledger in a
// temporary directory, with the scrubber and stats.
func newPipeline(tb testing.TB) (*ingest.Pipeline, *ledger.Ledger) {
	tb.Helper()
	l, err := ledger.Open(ledger.Options{Dir: tb.TempDir(), Origin: "test.cdewatch/syslog", CheckpointInterval: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return &ingest.Pipeline{Ledger: l, Scrubber: scrub.New(scrub.Options{}), Stats: ingest.NewStats(nil),
		Now: time.Now, Log: testLog(tb)}, l
}

// serve listens on l (address 127.0.0.1:0 unless set) and serves until the
// test ends.
func serve(tb testing.TB, l Listener, o Options) *Server {
	tb.Helper()
	if l.Address == "" {
		l.Address = "127.0.0.1:0"
	}
	if o.Log == nil {
		o.Log = testLog(tb)
	}
	s, err := Listen(l, o)
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()
	tb.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil {
			tb.Errorf("Serve: %v", err)
		}
	})
	return s
}

// syslogRecords and rejects split records by kind.
func syslogRecords(recs []event.Record) []event.Record {
	var out []event.Record
	for _, r := range recs {
		if r.Table == event.TableSyslog {
			out = append(out, r)
		}
	}
	return out
}

// reject is the JSON of an ingest.reject record.
type reject struct {
	Source  string `json:"source"`
	Via     string `json:"via"`
	Index   int    `json:"index"`
	Reason  string `json:"reason"`
	Bytes   int    `json:"bytes"`
	Excerpt string `json:"excerpt"`
}

func rejects(tb testing.TB, recs []event.Record) []reject {
	tb.Helper()
	var out []reject
	for _, r := range recs {
		if r.Action != event.ActionIngestReject {
			continue
		}
		var rj reject
		if err := json.Unmarshal(r.Raw, &rj); err != nil {
			tb.Fatal(err)
		}
		out = append(out, rj)
	}
	return out
}

// waitFor polls cond for up to 20 s.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitHandled waits until the server has stored or rejected n messages.
func waitHandled(tb testing.TB, s *Server, n uint64) {
	tb.Helper()
	start := time.Now()
	waitFor(tb, fmt.Sprintf("%d messages to be stored", n), func() bool {
		st := s.Stats()
		if time.Since(start) > 55*time.Second {
			tb.Logf("stats %+v", st)
		}
		return st.Stored+st.Rejected+st.Lost >= n
	})
}

// send writes data to a new TCP connection to s and closes it.
func send(tb testing.TB, s *Server, data string) {
	tb.Helper()
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := c.Write([]byte(data)); err != nil {
		tb.Fatal(err)
	}
	if err := c.Close(); err != nil {
		tb.Fatal(err)
	}
}

// flakyStore refuses the first n batches with ledger.ErrPushback, then
// passes them on. It records what it was given.
type flakyStore struct {
	next      Storer
	mu        sync.Mutex
	refuse    int // batches to refuse
	refused   int
	release   chan struct{} // when set, refuses until closed
	calls     int
	delivered int // messages stored
}

func (f *flakyStore) Store(ctx context.Context, b *ingest.Batch) (ingest.Result, error) {
	f.mu.Lock()
	f.calls++
	refuse := f.refused < f.refuse
	if f.release != nil {
		select {
		case <-f.release:
		default:
			refuse = true
		}
	}
	if refuse {
		f.refused++
		f.mu.Unlock()
		return ingest.Result{}, errors.Join(errors.New("test: busy"), ledger.ErrPushback)
	}
	f.mu.Unlock()
	res, err := f.next.Store(ctx, b)
	if err == nil {
		f.mu.Lock()
		f.delivered += len(b.Records) + len(b.Rejects)
		f.mu.Unlock()
	}
	return res, err
}

// certs is a test PKI: a CA, a server certificate for 127.0.0.1 and
// client certificates, as PEM files.
type certs struct {
	dir           string
	ca            *tlstest.CA
	caFile        string
	certFile, key string // server
}

func newCerts(tb testing.TB) *certs {
	tb.Helper()
	c := &certs{dir: tb.TempDir(), ca: tlstest.NewCA(tb, "cdewatch test CA")}
	c.caFile = filepath.Join(c.dir, "ca.pem")
	if err := os.WriteFile(c.caFile, c.ca.CertPEM, 0o600); err != nil {
		tb.Fatal(err)
	}
	c.certFile, c.key = c.issue(tb, "server", "localhost", []string{"localhost"}, true)
	return c
}

// issue creates a client certificate (a server one for 127.0.0.1 too
// with server) signed by the CA and returns its files.
func (c *certs) issue(tb testing.TB, name, cn string, dns []string, server bool) (certFile, keyFile string) {
	tb.Helper()
	hosts, usage := dns, x509.ExtKeyUsageClientAuth
	if server {
		hosts, usage = append(slices.Clone(dns), "127.0.0.1"), x509.ExtKeyUsageServerAuth
	}
	return c.ca.Issue(tb, cn, hosts, usage).WriteFiles(tb, c.dir, name)
}

// clientConfig returns a TLS client configuration trusting the CA, with
// the client certificate in files (none if certFile is "").
func (c *certs) clientConfig(tb testing.TB, certFile, keyFile string) *tls.Config {
	tb.Helper()
	conf := &tls.Config{RootCAs: c.ca.Pool, ServerName: "localhost"}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			tb.Fatal(err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf
}
