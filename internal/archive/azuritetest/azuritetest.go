// Package azuritetest runs Azurite, Microsoft's Azure Storage emulator, for
// tests of the archive against the Azure Blob API.
//
// Azurite implements containers, block blobs, conditional writes, listing
// and shared-key authentication, but not immutability policies or legal
// holds (Set Blob Immutability Policy answers 501 Not Implemented, and a
// delete always succeeds): tests against it exercise the protocol, never
// write-once-read-many protection.
package azuritetest

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/cdewatch/cdewatch/internal/proctest"
	"github.com/cdewatch/cdewatch/internal/tlsutil/tlstest"
)

// InstallCommand installs the Azurite these tests run, where Binary finds it.
const InstallCommand = `npm install --prefix "$HOME/.cache/cdewatch/azurite" azurite@3.37.0`

// BinaryEnv names an environment variable that may hold the path of the
// azurite-blob executable.
const BinaryEnv = "CDEWATCH_AZURITE_BLOB"

// Azurite's well-known development account. The key is public (it is in
// Azurite's documentation) and opens nothing but a local emulator.
const (
	Account = "devstoreaccount1"
	Key     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// Server is a running azurite-blob on the loopback interface.
type Server struct {
	// Endpoint is the blob service URL of Account, in path style:
	// http://127.0.0.1:PORT/devstoreaccount1.
	Endpoint string
	// Dir holds Azurite's data and its log (azurite.log).
	Dir string

	transport *http.Client // trusts the certificate of StartOAuth
}

// Binary finds azurite-blob: the path in $CDEWATCH_AZURITE_BLOB, then
// PATH, then node_modules/.bin under the prefix InstallCommand uses; ""
// if absent.
func Binary() string {
	if p := os.Getenv(BinaryEnv); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("azurite-blob"); err == nil {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "cdewatch", "azurite", "node_modules", ".bin", "azurite-blob")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// Start runs azurite-blob on a free loopback port until the test ends,
// with its data in a temporary directory and telemetry off. Without the
// executable the test is skipped, or fails when CI is set.
func Start(tb testing.TB) *Server { return start(tb, false) }

// StartOAuth runs azurite-blob as Start does, but over HTTPS (with a
// certificate made for the test, which Transport trusts) and accepting
// OAuth bearer tokens as well as the shared key. Azurite's "basic" OAuth
// checks a token's form, lifetime, issuer (https://sts.windows.net/...)
// and audience (https://storage.azure.com), not its signature.
func StartOAuth(tb testing.TB) *Server { return start(tb, true) }

func start(tb testing.TB, oauth bool) *Server {
	tb.Helper()
	bin := Binary()
	if bin == "" {
		msg := "azurite-blob not found ($" + BinaryEnv + ", PATH, ~/.cache/cdewatch/azurite): install Azurite with `" + InstallCommand + "` (needs node and npm) to run the Azure Blob tests"
		proctest.Missing(tb, msg)
	}
	addr := proctest.FreeAddr(tb)
	_, port, _ := net.SplitHostPort(addr)
	dir := tb.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		tb.Fatal(err)
	}
	args := []string{"--blobHost", "127.0.0.1", "--blobPort", port, "--location", data,
		"--disableTelemetry", "--disableProductStyleUrl", "--skipApiVersionCheck"}
	srv := &Server{Endpoint: "http://" + addr + "/" + Account, Dir: dir}
	if oauth {
		cert := tlstest.SelfSigned(tb, "azurite", "127.0.0.1")
		certFile, keyFile := cert.WriteFiles(tb, dir, "azurite")
		args = append(args, "--cert", certFile, "--key", keyFile, "--oauth", "basic")
		srv.Endpoint = "https://" + addr + "/" + Account
		srv.transport = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.Pool(tb), MinVersion: tls.VersionTLS12}}}
	}
	proctest.Run(tb, exec.Command(bin, args...), "azurite", dir, addr)
	return srv
}

// Transport is the HTTP client for the server: one that trusts its
// certificate (StartOAuth), or nil for the SDK's default.
func (s *Server) Transport() policy.Transporter {
	if s.transport == nil {
		return nil
	}
	return s.transport
}

// Credential returns the shared key of Account.
func (s *Server) Credential(tb testing.TB) *container.SharedKeyCredential {
	tb.Helper()
	c, err := container.NewSharedKeyCredential(Account, Key)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// Container creates a container and returns a client for it.
func (s *Server) Container(tb testing.TB, name string) *container.Client {
	tb.Helper()
	c, err := container.NewClientWithSharedKeyCredential(s.Endpoint+"/"+name, s.Credential(tb),
		&container.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: s.Transport()}})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := c.Create(context.Background(), nil); err != nil {
		tb.Fatalf("create container %s: %v", name, err)
	}
	return c
}
