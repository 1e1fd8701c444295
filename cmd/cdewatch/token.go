package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/cdewatch/cdewatch/internal/tlsutil"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cdewatch/cdewatch/internal/api"
	"github.com/cdewatch/cdewatch/internal/auth"
)

const tokenUsage = `Usage:
  cdewatch token create --source NAME           new ingest token bound to a source (cluster); the secret is printed once
  cdewatch token create --role reader|admin     new token that may run queries (reader) or do everything (admin)
  cdewatch token list
  cdewatch token revoke ID
Common flags: --server URL (default http://127.0.0.1:8470), --admin-token-file FILE (default ./cdewatch-data/admin.token),
  --ca FILE (PEM certificate to trust for an https server)`

// defaultServer is the API address the client commands use by default.
const defaultServer = "http://127.0.0.1:8470"

// client is a minimal client of the API.
type client struct {
	server string
	token  string
	http   *http.Client
}

// newClient returns a client of the API at server that authenticates with
// token. caFile, if set, is a PEM file of certificates to trust besides
// the system's (for a server whose certificate is self-signed).
func newClient(server, token, caFile string, timeout time.Duration) (*client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = nil
		}
		if pool, err = tlsutil.AppendCertsFile(pool, caFile); err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &client{server: strings.TrimRight(server, "/"), token: token, http: &http.Client{Timeout: timeout, Transport: tr}}, nil
}

// send makes a request with body (JSON-encoded unless nil) and returns the
// body of a 2xx answer, at most limit bytes. Any other answer is an error
// with the status and the server's message.
func (c *client) send(ctx context.Context, method, path string, body any, limit int64) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "cdewatch/"+version)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w (is `cdewatch serve` running at %s?)", method, path, err, c.server)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(b[:min(int64(len(b)), 4096)]))
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, msg)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s %s: the answer is larger than %d bytes", method, path, limit)
	}
	return b, nil
}

// do sends body and decodes the JSON answer into out, if set.
func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	b, err := c.send(ctx, method, path, body, 1<<20)
	if err != nil {
		return err
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// clientToken returns the token of a client command: from the file, else
// from $CDEWATCH_TOKEN; which says which token to create when there is none.
func clientToken(file, which string) (string, error) {
	switch {
	case file != "":
		return readSecret(file)
	case strings.TrimSpace(os.Getenv("CDEWATCH_TOKEN")) != "":
		return strings.TrimSpace(os.Getenv("CDEWATCH_TOKEN")), nil
	}
	return "", fmt.Errorf("%w: no token: give --token-file FILE or set CDEWATCH_TOKEN (%s)", errUsage, which)
}

func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read token: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func runToken(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, tokenUsage)
		return fmt.Errorf("%w: missing subcommand", errUsage)
	}
	sub := args[0]
	fs := flag.NewFlagSet("token "+sub, flag.ContinueOnError)
	server := fs.String("server", defaultServer, "cdewatch API URL")
	adminFile := fs.String("admin-token-file", filepath.Join("./cdewatch-data", auth.AdminTokenFile), "file holding an admin token")
	caFile := fs.String("ca", "", "PEM file of a certificate (or CA) to trust for an https server")
	source := fs.String("source", "", "source (cluster) name the ingest token is bound to")
	role := fs.String("role", string(auth.RoleIngest), "token role: ingest, reader or admin")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	secret, err := readSecret(*adminFile)
	if err != nil {
		return err
	}
	c, err := newClient(*server, secret, *caFile, 30*time.Second)
	if err != nil {
		return err
	}
	switch sub {
	case "create":
		var out api.TokenResponse
		if err := c.do(ctx, http.MethodPost, "/v1/tokens", api.TokenRequest{Role: auth.Role(*role), Source: *source}, &out); err != nil {
			return err
		}
		if out.Source != "" {
			fmt.Fprintf(os.Stderr, "created %s token %s (source %q); the secret below is shown only once:\n", out.Role, out.ID, out.Source)
		} else {
			fmt.Fprintf(os.Stderr, "created %s token %s; the secret below is shown only once:\n", out.Role, out.ID)
		}
		fmt.Println(out.Secret)
	case "list":
		var toks []auth.Token
		if err := c.do(ctx, http.MethodGet, "/v1/tokens", nil, &toks); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tROLE\tSOURCE\tCREATED")
		for _, t := range toks {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, t.Role, t.Source, t.Created.Format(time.RFC3339))
		}
		return tw.Flush()
	case "revoke":
		if fs.NArg() != 1 {
			return fmt.Errorf("%w: token revoke needs the token ID", errUsage)
		}
		if err := c.do(ctx, http.MethodDelete, "/v1/tokens/"+fs.Arg(0), nil, nil); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "revoked", fs.Arg(0))
	default:
		fmt.Fprintln(os.Stderr, tokenUsage)
		return fmt.Errorf("%w: unknown token subcommand %q", errUsage, sub)
	}
	return nil
}
