package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
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
  cdewatch token create --source NAME [--role ingest|admin]   new token; the secret is printed once
  cdewatch token list
  cdewatch token revoke ID
Common flags: --server URL (default http://127.0.0.1:8470), --admin-token-file FILE (default ./cdewatch-data/admin.token)`

// client is a minimal admin client of the API.
type client struct {
	server string
	token  string
	http   *http.Client
}

func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.server, "/")+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w (is `cdewatch serve` running at %s?)", method, path, err, c.server)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
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
	server := fs.String("server", "http://127.0.0.1:8470", "cdewatch API URL")
	adminFile := fs.String("admin-token-file", filepath.Join("./cdewatch-data", auth.AdminTokenFile), "file holding an admin token")
	source := fs.String("source", "", "source (cluster) name the ingest token is bound to")
	role := fs.String("role", string(auth.RoleIngest), "token role: ingest or admin")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	secret, err := readSecret(*adminFile)
	if err != nil {
		return err
	}
	c := &client{server: *server, token: secret, http: &http.Client{Timeout: 30 * time.Second}}
	switch sub {
	case "create":
		var out api.TokenResponse
		if err := c.do(ctx, http.MethodPost, "/v1/tokens", api.TokenRequest{Role: auth.Role(*role), Source: *source}, &out); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "created %s token %s (source %q); the secret below is shown only once:\n", out.Role, out.ID, out.Source)
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
