package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"

	"io"
	"log/slog"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cdewatch/cdewatch/internal/api"
	"github.com/cdewatch/cdewatch/internal/auth"
	"github.com/cdewatch/cdewatch/internal/config"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/ingest"
	"github.com/cdewatch/cdewatch/internal/ledger"
	"github.com/cdewatch/cdewatch/internal/tlsutil"
)

const tokenUsage = `Usage:
  cdewatch token create --source NAME [--expires D]     new ingest token bound to a source (cluster); the secret is printed once
  cdewatch token create --role ROLE [--expires D]       new token of a role: log-reader, soc-analyst, platform-admin,
                                                        compliance, auditor, metrics (docs/ACCESS.md)
  cdewatch token list
  cdewatch token rotate ID [--grace D] [--expires D]    new secret for the token (printed once); the old one stays valid for D
  cdewatch token set-role ID --role ROLE [--source S]   change a token's role
  cdewatch token revoke ID
D is a duration: 90d, 720h, 15m. Every change is recorded in the ledger (PCI DSS 10.2.1.5).
Through the API (default): --server URL (default http://127.0.0.1:8470), --admin-token-file FILE (a platform-admin
  token; default ./cdewatch-data/admin.token), --ca FILE (PEM certificate to trust for an https server).
Offline: --data DIR works on the data directory itself while the server is stopped, recording as the local user.`

// defaultServer is the API address the client commands use by default.
const defaultServer = "http://127.0.0.1:8470"

// printJSON writes v as indented JSON, for the --format json of the
// client commands.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// commandFlags returns the flag set of command name, whose -h prints
// header and then the flags.
func commandFlags(name, header string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), header)
		fs.PrintDefaults()
	}
	return fs
}

// apiFlags are the flags of the commands that talk to the API with a
// token from a file or $CDEWATCH_TOKEN.
type apiFlags struct {
	server, tokenFile, caFile *string
}

// addAPIFlags adds --server, --token-file (described by token) and --ca.
func addAPIFlags(fs *flag.FlagSet, token string) apiFlags {
	return apiFlags{
		server:    fs.String("server", defaultServer, "cdewatch API URL"),
		tokenFile: fs.String("token-file", "", "file holding "+token+" (default: the token in $CDEWATCH_TOKEN)"),
		caFile:    fs.String("ca", "", "PEM file of a certificate (or CA) to trust for an https server"),
	}
}

// client returns the API client the flags describe; hint says how to get
// a token when none is given.
func (f apiFlags) client(hint string, timeout time.Duration) (*client, error) {
	secret, err := clientToken(*f.tokenFile, hint)
	if err != nil {
		return nil, err
	}
	return newClient(*f.server, secret, *f.caFile, timeout)
}

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

// tokenFlags are the flags of the token subcommands.
type tokenFlags struct {
	server, adminFile, caFile, data string
	role, source                    string
	expires, grace                  string
}

// tokenAdmin is what the token subcommands act through: the API, or the
// data directory itself.
type tokenAdmin interface {
	create(ctx context.Context, req api.TokenRequest) (api.TokenResponse, error)
	list(ctx context.Context) ([]api.TokenInfo, error)
	revoke(ctx context.Context, id string) error
	rotate(ctx context.Context, id string, req api.RotateRequest) (api.TokenResponse, error)
	setRole(ctx context.Context, id string, req api.RoleRequest) (api.TokenInfo, error)
	close() error
}

func runToken(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, tokenUsage)
		return fmt.Errorf("%w: missing subcommand", errUsage)
	}
	sub := args[0]
	var f tokenFlags
	fs := flag.NewFlagSet("token "+sub, flag.ContinueOnError)
	fs.StringVar(&f.server, "server", defaultServer, "cdewatch API URL")
	fs.StringVar(&f.adminFile, "admin-token-file", filepath.Join("./cdewatch-data", auth.AdminTokenFile), "file holding a platform-admin token")
	fs.StringVar(&f.caFile, "ca", "", "PEM file of a certificate (or CA) to trust for an https server")
	fs.StringVar(&f.data, "data", "", "work on this data directory directly (the server must be stopped) instead of through the API")
	fs.StringVar(&f.source, "source", "", "source (cluster) name an ingest token is bound to")
	fs.StringVar(&f.role, "role", "", "token role: log-reader, soc-analyst, platform-admin, compliance, auditor, ingest, metrics")
	fs.StringVar(&f.expires, "expires", "", "lifetime of the token (create, rotate), e.g. 90d or 720h; default: no expiry (rotate: unchanged)")
	fs.StringVar(&f.grace, "grace", "", "rotate: how long the old secret stays valid, e.g. 1h (at most 7d; default: not at all)")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	wantArgs := map[string]int{"create": 0, "list": 0, "revoke": 1, "rotate": 1, "set-role": 1}
	n, ok := wantArgs[sub]
	if !ok {
		fmt.Fprintln(os.Stderr, tokenUsage)
		return fmt.Errorf("%w: unknown token subcommand %q", errUsage, sub)
	}
	if len(pos) != n {
		if n == 1 {
			return fmt.Errorf("%w: token %s needs the token ID (cdewatch token list shows them)", errUsage, sub)
		}
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	}
	var adm tokenAdmin
	if f.data != "" {
		adm, err = openOfflineTokens(ctx, f.data)
	} else {
		adm, err = openAPITokens(f)
	}
	if err != nil {
		return err
	}
	defer adm.close()
	switch sub {
	case "create":
		role := auth.RoleIngest
		if f.role != "" {
			role = auth.Role(f.role)
		}
		out, err := adm.create(ctx, api.TokenRequest{Role: role, Source: f.source, ExpiresIn: f.expires})
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "created %s token %s%s%s; the secret below is shown only once:\n", out.Role, out.ID, sourceNote(out.Source), expiryNote(out.ExpiresAt))
		fmt.Println(out.Secret)
	case "list":
		toks, err := adm.list(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tROLE\tSOURCE\tCREATED\tEXPIRES\tSTATE")
		for _, t := range toks {
			exp, state := "never", "active"
			if !t.ExpiresAt.IsZero() {
				exp = t.ExpiresAt.Format(time.RFC3339)
			}
			switch {
			case t.Expired:
				state = "expired"
			case !t.PreviousValidUntil.IsZero():
				state = "rotated, old secret valid until " + t.PreviousValidUntil.Format(time.RFC3339)
			}
			source := t.Source
			if source == "" {
				source = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Role, source, t.Created.Format(time.RFC3339), exp, state)
		}
		return tw.Flush()
	case "revoke":
		if err := adm.revoke(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "revoked", pos[0])
	case "rotate":
		out, err := adm.rotate(ctx, pos[0], api.RotateRequest{Grace: f.grace, ExpiresIn: f.expires})
		if err != nil {
			return err
		}
		grace := "the old secret no longer works"
		if !out.PreviousValidUntil.IsZero() {
			grace = "the old secret works until " + out.PreviousValidUntil.Format(time.RFC3339)
		}
		fmt.Fprintf(os.Stderr, "rotated %s token %s%s (%s); the new secret below is shown only once:\n", out.Role, out.ID, expiryNote(out.ExpiresAt), grace)
		fmt.Println(out.Secret)
	case "set-role":
		if f.role == "" {
			return fmt.Errorf("%w: token set-role needs --role", errUsage)
		}
		out, err := adm.setRole(ctx, pos[0], api.RoleRequest{Role: auth.Role(f.role), Source: f.source})
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "token %s now has role %s%s\n", out.ID, out.Role, sourceNote(out.Source))
	}
	return nil
}

func sourceNote(source string) string {
	if source == "" {
		return ""
	}
	return fmt.Sprintf(" (source %q)", source)
}

func expiryNote(t time.Time) string {
	if t.IsZero() {
		return ", no expiry"
	}
	return ", expires " + t.Format(time.RFC3339)
}

// apiTokens administers tokens through the API.
type apiTokens struct{ c *client }

func openAPITokens(f tokenFlags) (*apiTokens, error) {
	secret, err := readSecret(f.adminFile)
	if err != nil {
		return nil, fmt.Errorf("%w (or use --data DIR while the server is stopped)", err)
	}
	c, err := newClient(f.server, secret, f.caFile, 30*time.Second)
	if err != nil {
		return nil, err
	}
	return &apiTokens{c}, nil
}

func (a *apiTokens) create(ctx context.Context, req api.TokenRequest) (out api.TokenResponse, err error) {
	err = a.c.do(ctx, http.MethodPost, "/v1/tokens", req, &out)
	return out, err
}

func (a *apiTokens) list(ctx context.Context) (out []api.TokenInfo, err error) {
	err = a.c.do(ctx, http.MethodGet, "/v1/tokens", nil, &out)
	return out, err
}

func (a *apiTokens) revoke(ctx context.Context, id string) error {
	return a.c.do(ctx, http.MethodDelete, "/v1/tokens/"+id, nil, nil)
}

func (a *apiTokens) rotate(ctx context.Context, id string, req api.RotateRequest) (out api.TokenResponse, err error) {
	err = a.c.do(ctx, http.MethodPost, "/v1/tokens/"+id+"/rotate", req, &out)
	return out, err
}

func (a *apiTokens) setRole(ctx context.Context, id string, req api.RoleRequest) (out api.TokenInfo, err error) {
	err = a.c.do(ctx, http.MethodPost, "/v1/tokens/"+id+"/role", req, &out)
	return out, err
}

func (a *apiTokens) close() error { return nil }

// offlineTokens administers the token store of a data directory while the
// server is stopped; changes are recorded in the directory's ledger, as
// done by the local user.
type offlineTokens struct {
	store *auth.Store
	led   *ledger.Ledger
	by    string
}

func openOfflineTokens(ctx context.Context, data string) (*offlineTokens, error) {
	if _, err := ledgerVerifierKey(data); err != nil {
		return nil, fmt.Errorf("no ledger in %s (%w): run `cdewatch serve --data %s` once first, or check the path", data, err, data)
	}
	led, err := ledger.Open(ledger.Options{Dir: ledgerDir(data), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, fmt.Errorf("open the ledger to record the change (is `cdewatch serve` running on %s? stop it, or leave out --data to go through its API): %w", data, err)
	}
	store, _, err := auth.Open(data)
	if err != nil {
		led.Close()
		return nil, err
	}
	o := &offlineTokens{store: store, led: led, by: localUser()}
	if err := store.RecordPending(ctx, o.record); err != nil {
		led.Close()
		return nil, err
	}
	return o, nil
}

// localUser names the person running the command in records.
func localUser() string {
	u, err := user.Current()
	if err != nil {
		return fmt.Sprintf("local:uid %d (cdewatch token --data)", os.Getuid())
	}
	return fmt.Sprintf("local:%s (uid %s, cdewatch token --data)", u.Username, u.Uid)
}

func (o *offlineTokens) record(ctx context.Context, a event.SelfAudit) error {
	return ingest.Audit(context.WithoutCancel(ctx), o.led, time.Now(), a)
}

func (o *offlineTokens) create(ctx context.Context, req api.TokenRequest) (api.TokenResponse, error) {
	exp, err := lifetime(req.ExpiresIn)
	if err != nil {
		return api.TokenResponse{}, err
	}
	secret, tok, err := o.store.Issue(ctx, auth.Spec{Role: req.Role, Source: req.Source, ExpiresAt: exp, By: o.by}, o.record)
	return api.TokenResponse{TokenInfo: api.NewTokenInfo(tok, time.Now()), Secret: secret}, err
}

func (o *offlineTokens) list(context.Context) ([]api.TokenInfo, error) {
	now := time.Now()
	var out []api.TokenInfo
	for _, t := range o.store.List() {
		out = append(out, api.NewTokenInfo(t, now))
	}
	return out, nil
}

func (o *offlineTokens) revoke(ctx context.Context, id string) error {
	_, err := o.store.Revoke(ctx, id, o.by, o.record)
	return err
}

func (o *offlineTokens) rotate(ctx context.Context, id string, req api.RotateRequest) (api.TokenResponse, error) {
	exp, err := lifetime(req.ExpiresIn)
	if err != nil {
		return api.TokenResponse{}, err
	}
	var grace time.Duration
	if req.Grace != "" {
		if grace, err = auth.ParseLifetime(req.Grace); err != nil {
			return api.TokenResponse{}, fmt.Errorf("--grace: %w", err)
		}
	}
	secret, tok, err := o.store.Rotate(ctx, id, auth.Rotation{Grace: grace, ExpiresAt: exp, By: o.by}, o.record)
	return api.TokenResponse{TokenInfo: api.NewTokenInfo(tok, time.Now()), Secret: secret}, err
}

func (o *offlineTokens) setRole(ctx context.Context, id string, req api.RoleRequest) (api.TokenInfo, error) {
	tok, err := o.store.SetRole(ctx, id, req.Role, req.Source, o.by, o.record)
	return api.NewTokenInfo(tok, time.Now()), err
}

func (o *offlineTokens) close() error { return o.led.Close() }

// lifetime turns --expires into an expiry time; "" is none.
func lifetime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	d, err := auth.ParseLifetime(s)
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("--expires %q: want a positive duration such as 90d or 720h", s)
	}
	return time.Now().Add(d).UTC().Truncate(time.Second), nil
}

// apiAuth returns the API's OIDC verifier (nil when auth.oidc is not
// configured) and its failed-authentication limiter.
func apiAuth(c config.Auth) (*auth.OIDC, *auth.FailureLimiter, error) {
	if err := c.Validate(); err != nil {
		return nil, nil, fmt.Errorf("configuration: %w", err)
	}
	var o *auth.OIDC
	if c.OIDC.Enabled() {
		var err error
		if o, err = auth.NewOIDC(c.OIDC.OIDCConfig()); err != nil {
			return nil, nil, fmt.Errorf("configuration auth.oidc: %w", err)
		}
	}
	return o, auth.NewFailureLimiter(c.LimiterConfig()), nil
}
