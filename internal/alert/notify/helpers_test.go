package notify

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/tlsutil/tlstest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden files")

// sampleAlerts returns a fixed batch: a high secret read, a critical
// cluster-admin binding (with characters that need escaping) and a low
// baseline deviation.
func sampleAlerts(tb testing.TB) []alert.Alert {
	tb.Helper()
	t0 := time.Date(2026, 3, 14, 9, 26, 53, 589793000, time.UTC)
	return []alert.Alert{
		{
			Rule: "pci.secret-read-outside-allowlist", RuleTitle: "Secret read in a CDE namespace outside the allow-list",
			Kind: "match", Severity: alert.High,
			PCI: []string{"10.2.1.1", "10.2.1.2"}, MITRE: []string{"T1552.007"},
			Source: "aks-prod-weu", Time: t0, Detected: t0.Add(120 * time.Millisecond),
			Seqs: []uint64{4211}, Key: "pci.secret-read-outside-allowlist/alice@contoso.com/payments",
			Summary: "alice@contoso.com read secret payments/card-key",
			Fields:  map[string]string{"user": "alice@contoso.com", "namespace": "payments"},
		},
		{
			Rule: "pci.clusteradmin-binding", RuleTitle: "Binding to cluster-admin",
			Kind: "match", Severity: alert.Critical,
			PCI: []string{"10.2.1.2", "10.2.1.5"}, MITRE: []string{"T1098"},
			Source: "aks-prod-weu", Time: t0.Add(time.Second), Detected: t0.Add(1100 * time.Millisecond),
			Seqs: []uint64{4212, 4213}, Key: "pci.clusteradmin-binding/mallory",
			Summary: `mallory bound "cluster-admin" to <sa:ci/builder> & [x](http://evil) ]`,
		},
		{
			Rule: "baseline.new-source-ip", Kind: "baseline", Severity: alert.Low,
			PCI: []string{"10.2.1.4"}, Source: "app-checkout",
			Time: t0.Add(2 * time.Second), Detected: t0.Add(2500 * time.Millisecond),
			Seqs: []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35},
			Key:  "baseline.new-source-ip/svc-checkout", Summary: "svc-checkout connected from 203.0.113.9 for the first time — ünïcödé",
		},
	}
}

// golden compares got with testdata/name, rewriting it with -update.
func golden(tb testing.TB, name string, got []byte) {
	tb.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run with -update to create)", err)
	}
	if string(got) != string(want) {
		tb.Errorf("%s differs from the golden file (run with -update after checking):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// testCA is a CA and a server certificate for 127.0.0.1 and localhost.
type testCA struct {
	caFile string          // PEM of the CA, for TLSOptions.CAFile
	server tls.Certificate // server certificate signed by the CA
	pool   *x509.CertPool
}

func newTestCA(tb testing.TB) *testCA {
	tb.Helper()
	ca := tlstest.NewCA(tb, "cdewatch test CA")
	caFile := filepath.Join(tb.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o600); err != nil {
		tb.Fatal(err)
	}
	srv := ca.Issue(tb, "localhost", []string{"localhost", "127.0.0.1", "::1"}, x509.ExtKeyUsageServerAuth)
	return &testCA{caFile: caFile, server: srv.TLS, pool: ca.Pool}
}

func (c *testCA) serverConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c.server}, MinVersion: tls.VersionTLS12}
}

// stripTimes zeroes an alert's times, which do not compare with
// reflect.DeepEqual after a JSON round trip (their locations differ).
func stripTimes(a alert.Alert) alert.Alert {
	a.Time, a.Detected = time.Time{}, time.Time{}
	return a
}

func pid() int { return os.Getpid() }
