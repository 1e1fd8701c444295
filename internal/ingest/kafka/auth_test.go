package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/logtest"
	"github.com/cdewatch/cdewatch/internal/tlsutil/tlstest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// serverConfig returns a server TLS config with a certificate for hosts
// (DNS names or IP addresses) signed by ca.
func serverConfig(tb testing.TB, ca *tlstest.CA, hosts ...string) *tls.Config {
	tb.Helper()
	return &tls.Config{
		Certificates: []tls.Certificate{ca.Issue(tb, hosts[0], hosts, x509.ExtKeyUsageServerAuth).TLS},
		MinVersion:   tls.VersionTLS12,
	}
}

// consumeAll runs c until it stored n records, then stops it.
func consumeAll(tb testing.TB, c *Consumer, n int64) {
	tb.Helper()
	stop := runConsumer(tb, c)
	waitFor(tb, 30*time.Second, "all records stored", func() bool { return c.Stats().Stored >= n })
	if err := stop(); err != nil {
		tb.Fatalf("Run: %v", err)
	}
}

// TestEventHubsConnectionStringSASLPlain runs the Event Hubs configuration
// path (user "$ConnectionString", password = the connection string) against
// kfake with SASL PLAIN. kfake has no Event Hubs host name, and this test
// runs without TLS, so the resolved brokers and TLS are replaced; everything
// else (SASL mechanism, credentials, topic from EntityPath, group) is what
// the connection string produced. TestEventHubsTLSAndSASL adds TLS.
func TestEventHubsConnectionStringSASLPlain(t *testing.T) {
	const n = 500
	cluster := newCluster(t, kfake.EnableSASL(), kfake.Superuser("PLAIN", EventHubsUser, testConnStr))
	addrs := cluster.ListenAddrs()
	prod := newClient(t, addrs, manualPartitioner(), kgo.SASL(plain.Auth{User: EventHubsUser, Pass: testConnStr}.AsMechanism()))
	produce(t, prod, 0, n, 500)

	var logs logtest.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := Config{EventHubsConnectionString: testConnStr, Group: "$Default", Source: "aks-audit", Logger: log}
	r, err := cfg.resolve()
	if err != nil {
		t.Fatal(err)
	}
	r.brokers, r.tls = addrs, nil
	l := openLedger(t)
	c := newConsumer(cfg, r, ledgerHandler(l, nil, nil))
	consumeAll(t, c, n)
	checkStored(t, ledgerIDs(t, l), n, true)
	if strings.Contains(logs.String(), testKey) {
		t.Errorf("logs reveal the key")
	}
	if !strings.Contains(logs.String(), "SASL credentials are sent without TLS") {
		t.Errorf("no warning about SASL without TLS in the logs")
	}

	// kfake closes the connection on a wrong password (real Kafka answers
	// SASL_AUTHENTICATION_FAILED, see below): franz-go retries that
	// silently, so the probe must log it.
	t.Run("wrong key", func(t *testing.T) {
		const wrongKey = "d3Jvbmcta2V5"
		bad := strings.Replace(testConnStr, testKey, wrongKey, 1)
		var logs logtest.Buffer
		log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		cfg := Config{EventHubsConnectionString: bad, Group: "$Default", Source: "aks-audit", Logger: log}
		r, err := cfg.resolve()
		if err != nil {
			t.Fatal(err)
		}
		r.brokers, r.tls, r.probeMin = addrs, nil, 20*time.Millisecond
		c := newConsumer(cfg, r, ledgerHandler(l, nil, nil))
		stop := runConsumer(t, c)
		waitFor(t, 10*time.Second, "an error log about the brokers", func() bool {
			return strings.Contains(logs.String(), "cannot reach or authenticate to the brokers")
		})
		if err := stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if c.Stats().Consumed != 0 {
			t.Errorf("consumed with a wrong key")
		}
		for _, secret := range []string{wrongKey, testKey} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("logs reveal a key")
			}
		}
	})

	// Last: the control function below stays installed.
	t.Run("rejected credentials", func(t *testing.T) {
		cluster.ControlKey(kmsg.SASLAuthenticate.Int16(), func(kr kmsg.Request) (kmsg.Response, error, bool) {
			cluster.KeepControl()
			req := kr.(*kmsg.SASLAuthenticateRequest)
			resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
			resp.Version = req.Version
			resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
			msg := "Invalid SAS token"
			resp.ErrorMessage = &msg
			return resp, nil, true
		})
		cfg := Config{EventHubsConnectionString: testConnStr, Group: "$Default", Source: "aks-audit", Logger: testLogger(t)}
		r, err := cfg.resolve()
		if err != nil {
			t.Fatal(err)
		}
		r.brokers, r.tls = addrs, nil
		c := newConsumer(cfg, r, ledgerHandler(l, nil, nil))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err = c.Run(ctx)
		if !errors.Is(err, kerr.SaslAuthenticationFailed) || ctx.Err() != nil {
			t.Fatalf("Run = %v (ctx %v), want SASL_AUTHENTICATION_FAILED before the deadline", err, ctx.Err())
		}
		if strings.Contains(err.Error(), testKey) {
			t.Errorf("error reveals the key: %v", err)
		}
		t.Logf("rejected credentials: %v", err)
	})
}

// TestEventHubsTLSAndSASL runs the whole Event Hubs path: TLS (certificate
// for the namespace host, verified against a test CA instead of the system
// roots) and SASL PLAIN with the connection string. Only the TCP address is
// redirected from <ns>.servicebus.windows.net:9093 to kfake.
func TestEventHubsTLSAndSASL(t *testing.T) {
	const n = 300
	ca := tlstest.NewCA(t, "cdewatch test CA")
	cluster := newCluster(t,
		kfake.TLS(serverConfig(t, ca, testNS, "127.0.0.1")),
		kfake.EnableSASL(), kfake.Superuser("PLAIN", EventHubsUser, testConnStr))
	addrs := cluster.ListenAddrs()
	prod := newClient(t, addrs, manualPartitioner(),
		kgo.DialTLSConfig(&tls.Config{RootCAs: ca.Pool}),
		kgo.SASL(plain.Auth{User: EventHubsUser, Pass: testConnStr}.AsMechanism()))
	produce(t, prod, 0, n, 500)

	cfg := Config{EventHubsConnectionString: testConnStr, Group: "$Default", Source: "aks-audit", Logger: testLogger(t)}
	r, err := cfg.resolve()
	if err != nil {
		t.Fatal(err)
	}
	r.tls.RootCAs = ca.Pool
	var dialed sync.Map
	r.dial = func(ctx context.Context, network, host string) (net.Conn, error) {
		dialed.Store(host, true)
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, addrs[0])
		if err != nil {
			return nil, err
		}
		tc := r.tls.Clone()
		tc.ServerName = testNS // what Event Hubs' certificate is for
		tlsConn := tls.Client(conn, tc)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		return tlsConn, nil
	}
	l := openLedger(t)
	c := newConsumer(cfg, r, ledgerHandler(l, nil, nil))
	consumeAll(t, c, n)
	checkStored(t, ledgerIDs(t, l), n, true)
	if _, ok := dialed.Load(testNS + ":9093"); !ok {
		t.Errorf("the consumer never dialed %s:9093", testNS)
	}
}

// TestTLSListener consumes from a kfake TLS listener with Config.TLS and a
// CAFile, and checks that a wrong CA gets nothing.
func TestTLSListener(t *testing.T) {
	const n = 300
	ca := tlstest.NewCA(t, "cdewatch test CA")
	cluster := newCluster(t, kfake.TLS(serverConfig(t, ca, "127.0.0.1")))
	addrs := cluster.ListenAddrs()
	prod := newClient(t, addrs, manualPartitioner(), kgo.DialTLSConfig(&tls.Config{RootCAs: ca.Pool}))
	produce(t, prod, 0, n, 500)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}

	cfg := testConfig(t, addrs, "g-tls")
	cfg.TLS, cfg.CAFile = true, caFile
	l := openLedger(t)
	consumeAll(t, mustNew(t, cfg, ledgerHandler(l, nil, nil)), n)
	checkStored(t, ledgerIDs(t, l), n, true)

	t.Run("untrusted server", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "other.pem")
		if err := os.WriteFile(other, tlstest.NewCA(t, "another CA").CertPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := testConfig(t, addrs, "g-tls-bad")
		cfg.TLS, cfg.CAFile = true, other
		l := openLedger(t)
		c := mustNew(t, cfg, ledgerHandler(l, nil, nil))
		stop := runConsumer(t, c)
		time.Sleep(time.Second)
		if err := stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if st := c.Stats(); st.Consumed != 0 || l.Size() != 0 {
			t.Errorf("consumed %d, stored %d through an untrusted TLS connection", st.Consumed, l.Size())
		}
	})
}
