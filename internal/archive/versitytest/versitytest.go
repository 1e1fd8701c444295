// Package versitytest runs versitygw, a real S3 server that enforces
// Object Lock, for tests of the archive against S3.
package versitytest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cdewatch/cdewatch/internal/proctest"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// InstallCommand installs the versitygw these tests run.
const InstallCommand = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// Server is a running versitygw on the loopback interface.
type Server struct {
	Endpoint  string // host:port, plain HTTP
	AccessKey string
	SecretKey string
	Client    *minio.Client
}

// Binary finds versitygw on PATH or in $(go env GOPATH)/bin; "" if absent.
func Binary() string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// Start runs versitygw on a free loopback port until the test ends.
// Without the binary the test is skipped, or fails when CI is set.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin := Binary()
	if bin == "" {
		msg := "versitygw not found on PATH or in $(go env GOPATH)/bin: install it with `" + InstallCommand + "` to run the S3 Object Lock tests"
		proctest.Missing(tb, msg)
	}
	addr := proctest.FreeAddr(tb)
	dir := tb.TempDir()
	data, vers := filepath.Join(dir, "data"), filepath.Join(dir, "versions")
	for _, d := range []string{data, vers} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			tb.Fatal(err)
		}
	}
	s := &Server{Endpoint: addr, AccessKey: "cdewatch-test", SecretKey: "cdewatch-test-secret"}
	proctest.Run(tb, exec.Command(bin, "--access", s.AccessKey, "--secret", s.SecretKey, "--port", addr, "posix", "--versioning-dir", vers, data), "versitygw", dir, addr)
	var err error
	s.Client, err = minio.New(addr, &minio.Options{Creds: s.Credentials(), MaxRetries: 1})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// Credentials returns the server's static credentials.
func (s *Server) Credentials() *credentials.Credentials {
	return credentials.NewStaticV4(s.AccessKey, s.SecretKey, "")
}

// Bucket creates a bucket, with Object Lock if lock is set.
func (s *Server) Bucket(tb testing.TB, name string, lock bool) {
	tb.Helper()
	if err := s.Client.MakeBucket(context.Background(), name, minio.MakeBucketOptions{ObjectLocking: lock}); err != nil {
		tb.Fatalf("create bucket %s: %v", name, err)
	}
}
