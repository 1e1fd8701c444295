package tlsutil

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cdewatch/cdewatch/internal/tlsutil/tlstest"
)

func TestAppendCertsFile(t *testing.T) {
	dir := t.TempDir()
	tca := tlstest.NewCA(t, "test CA")
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, tca.CertPEM, 0o600)
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)

	pool, err := AppendCertsFile(nil, ca)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tca.Cert.Verify(x509.VerifyOptions{Roots: pool}); err != nil {
		t.Errorf("the pool does not hold the certificate: %v", err)
	}
	if _, err := AppendCertsFile(nil, filepath.Join(dir, "missing.pem")); err == nil {
		t.Error("missing file accepted")
	}
	if _, err := AppendCertsFile(nil, notPEM); err == nil || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Errorf("not PEM: %v", err)
	}
}
