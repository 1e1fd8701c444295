// Package tlsutil reads the PEM files TLS configurations name.
package tlsutil

import (
	"crypto/x509"
	"fmt"
	"os"
)

// AppendCertsFile adds the PEM certificates of the file at path to pool
// (a new pool when nil) and returns it; a file with no certificate is an
// error.
func AppendCertsFile(pool *x509.CertPool, path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}
