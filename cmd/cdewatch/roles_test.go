package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/api"
	"github.com/cdewatch/cdewatch/internal/auth"
	"github.com/cdewatch/cdewatch/internal/auth/authtest"
	"github.com/cdewatch/cdewatch/internal/config"
	"github.com/cdewatch/cdewatch/internal/event"
)

// seedToken creates a token of role in the data directory before the
// server starts (unrecorded set-up, as a test fixture) and returns its
// secret.
func seedToken(tb testing.TB, data, role string) string {
	tb.Helper()
	store, _, err := auth.Open(data)
	if err != nil {
		tb.Fatal(err)
	}
	source := ""
	if role == string(auth.RoleIngest) {
		source = "seeded"
	}
	secret, _, err := store.Create(auth.Role(role), source)
	if err != nil {
		tb.Fatal(err)
	}
	return secret
}

// runTokenCmd runs `cdewatch token args...` and returns what it printed
// on stdout.
func runTokenCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	stdout := os.Stdout
	os.Stdout = out
	err = runToken(context.Background(), args)
	os.Stdout = stdout
	b, rerr := os.ReadFile(out.Name())
	if rerr != nil {
		t.Fatal(rerr)
	}
	return string(b), err
}

// sampleRequest is a request to route pattern that changes nothing.
func sampleRequest(pattern string) (method, path string) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = http.MethodGet, pattern
		if pattern == api.PatternESBulk {
			method = http.MethodPost
		}
	}
	switch path {
	case "/":
		path = "/no/such/endpoint"
	case api.PatternESBulk:
		path = "/es/_bulk"
	}
	path = strings.ReplaceAll(path, "{id}", "nope")
	path = strings.ReplaceAll(path, "{path...}", "0/000")
	return method, path
}

// TestRoleMatrixServe sends a request to every route of the real server
// as every role, with no credential, an invalid and an expired token,
// and checks that the real handlers (receivers included) enforce the
// permission table, and that every refusal is in the ledger.
func TestRoleMatrixServe(t *testing.T) {
	data := t.TempDir()
	secrets := map[string]string{}
	for _, info := range auth.Roles() {
		secrets[string(info.Role)] = seedToken(t, data, string(info.Role))
	}
	// A token that expired an hour ago: issued on a clock two days behind.
	past := time.Now().Add(-48 * time.Hour)
	store, _, err := auth.Open(data, auth.WithClock(func() time.Time { return past }))
	if err != nil {
		t.Fatal(err)
	}
	expired, expiredTok, err := store.Issue(context.Background(), auth.Spec{Role: auth.RoleAuditor, ExpiresAt: time.Now().Add(-time.Hour)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, data, "", func(c *config.Config) { c.Auth.FailureLimit = 10000 })
	base := "http://" + ts.addr

	type caller struct {
		name, secret string
		role         auth.Role // "" for callers that do not authenticate
	}
	var callers []caller
	for _, info := range auth.Roles() {
		callers = append(callers, caller{string(info.Role), secrets[string(info.Role)], info.Role})
	}
	callers = append(callers, caller{"no credential", "", ""}, caller{"invalid token", "cdw_bogus", ""}, caller{"expired token", expired, ""})
	var want401, want403 int
	for _, rt := range api.Routes() {
		method, path := sampleRequest(rt.Pattern)
		for _, c := range callers {
			status, body, _ := do(t, method, base+path, c.secret, nil)
			allowed := rt.Public || c.role != "" && rt.Allows(auth.Principal{Role: c.role})
			switch {
			case allowed && (status == 401 || status == 403 || status == 429):
				t.Errorf("%s %s as %s: refused %d %s", method, path, c.name, status, body)
			case !allowed && c.role == "" && status != 401:
				t.Errorf("%s %s as %s: %d, want 401", method, path, c.name, status)
			case !allowed && c.role != "" && status != 403:
				t.Errorf("%s %s as %s: %d, want 403 (%s)", method, path, c.name, status, body)
			}
			if !allowed && c.role == "" {
				want401++
			} else if !allowed {
				want403++
			}
			if c.name == "expired token" && !allowed && !strings.Contains(string(body), "expired at") {
				t.Errorf("expired token message: %s", body)
			}
		}
	}
	if status, body, _ := do(t, http.MethodGet, base+"/readyz", "", nil); status != 200 || !strings.Contains(string(body), `"ready"`) {
		t.Errorf("readyz: %d %s", status, body)
	}
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	var failed, denied, expiredRecs int
	for _, r := range readRecords(t, data) {
		switch r.Action {
		case event.ActionAuthFailed:
			failed++
			var d map[string]any
			json.Unmarshal(r.Raw, &d)
			if d["reason"] == "token expired" && d["token_id"] == expiredTok.ID {
				expiredRecs++
			}
		case event.ActionAuthDenied:
			denied++
		case event.ActionAuthRateLimited:
			t.Errorf("limited: %s", r.Raw)
		}
	}
	if failed != want401 || denied != want403 || expiredRecs != want401/3 {
		t.Errorf("ledger: %d auth.failed (%d for the expired token), %d auth.denied; want %d (%d), %d", failed, expiredRecs, denied, want401, want401/3, want403)
	}
}

// The token command, through the API and on the data directory: every
// change is in the ledger with who made it.
func TestTokenLifecycleCLI(t *testing.T) {
	data := t.TempDir()
	ts := startServer(t, data, "c1", nil)
	base := "http://" + ts.addr
	viaAPI := []string{"--server", base, "--admin-token-file", filepath.Join(data, auth.AdminTokenFile)}
	query := func(secret string) int {
		status, _, _ := do(t, http.MethodPost, base+"/v1/query", secret, []byte(`{"query": "print 1"}`))
		return status
	}

	first := createToken(t, ts, "--role", "log-reader", "--expires", "90d")
	if s := query(first); s != 200 {
		t.Fatalf("new log-reader: %d", s)
	}
	out, err := runTokenCmd(t, append([]string{"list"}, viaAPI...)...)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 6 && f[1] == "log-reader" {
			id = f[0]
			if f[2] != "-" || f[4] == "never" || f[5] != "active" {
				t.Errorf("listed as %q", line)
			}
		}
	}
	if id == "" || !strings.HasPrefix(out, "ID ") || !strings.Contains(out, "platform-admin") {
		t.Fatalf("list:\n%s", out)
	}
	// Flags after the ID, as people type them.
	out, err = runTokenCmd(t, append([]string{"rotate", id, "--grace", "1h"}, viaAPI...)...)
	second := strings.TrimSpace(out)
	if err != nil || !strings.HasPrefix(second, "cdw_") || second == first {
		t.Fatalf("rotate: %v %q", err, out)
	}
	if query(first) != 200 || query(second) != 200 {
		t.Error("during the grace period both secrets work")
	}
	if _, err := runTokenCmd(t, append([]string{"set-role", id, "--role", "metrics"}, viaAPI...)...); err != nil {
		t.Fatal(err)
	}
	if s := query(second); s != 403 {
		t.Errorf("metrics token queried: %d", s)
	}
	if status, _, _ := do(t, http.MethodGet, base+"/metrics", second, nil); status != 200 {
		t.Errorf("metrics token scraping: %d", status)
	}
	if _, err := runTokenCmd(t, append([]string{"set-role", id, "--role", "reader"}, viaAPI...)...); err == nil || !strings.Contains(err.Error(), "use log-reader") {
		t.Errorf("old role name: %v", err)
	}
	if _, err := runTokenCmd(t, append([]string{"revoke", id}, viaAPI...)...); err != nil {
		t.Fatal(err)
	}
	if s := query(second); s != 401 {
		t.Errorf("revoked: %d", s)
	}
	// The data directory is the running server's: offline changes are refused.
	if _, err := runTokenCmd(t, "list", "--data", data); err == nil || !strings.Contains(err.Error(), "is `cdewatch serve` running") {
		t.Errorf("offline while serving: %v", err)
	}
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}

	// Offline, with the server stopped.
	out, err = runTokenCmd(t, "create", "--data", data, "--role", "auditor")
	auditor := strings.TrimSpace(out)
	if err != nil || !strings.HasPrefix(auditor, "cdw_") {
		t.Fatalf("offline create: %v %q", err, out)
	}
	if out, err := runTokenCmd(t, "list", "--data", data); err != nil || !strings.Contains(out, "auditor") {
		t.Errorf("offline list: %v\n%s", err, out)
	}
	if _, err := runTokenCmd(t, "create", "--data", t.TempDir(), "--role", "auditor"); err == nil || !strings.Contains(err.Error(), "no ledger") {
		t.Errorf("offline on an empty directory: %v", err)
	}

	var actions []string
	for _, r := range readRecords(t, data) {
		if !strings.HasPrefix(r.Action, "token.") {
			continue
		}
		actions = append(actions, r.Action)
		if r.PCI&event.CredentialChange == 0 {
			t.Errorf("%s without 10.2.1.5: %s", r.Action, r.Raw)
		}
		switch {
		case r.Action == event.ActionTokenInit:
			if r.User != "system:cdewatch" {
				t.Errorf("first-start record by %q", r.User)
			}
		case len(actions) == 6: // the offline creation
			if !strings.HasPrefix(r.User, "local:") {
				t.Errorf("offline record by %q", r.User)
			}
		default:
			if !strings.HasPrefix(r.User, "token:") || !strings.HasSuffix(r.User, "(platform-admin)") || r.OriginIP != "127.0.0.1" {
				t.Errorf("%s by %q from %q", r.Action, r.User, r.OriginIP)
			}
		}
	}
	if got := strings.Join(actions, ","); got != "token.init,token.create,token.rotate,token.role,token.revoke,token.create" {
		t.Errorf("recorded %s", got)
	}
	// The token created offline works once the server is back.
	ts = startServer(t, data, "", nil)
	if status, body, _ := do(t, http.MethodGet, "http://"+ts.addr+"/v1/tokens", auditor, nil); status != 200 {
		t.Errorf("offline-created auditor: %d %s", status, body)
	}
}

// A token file of an older version (roles admin, reader, ingest) loads;
// the mapping is recorded once.
func TestTokenLegacyFile(t *testing.T) {
	data := t.TempDir()
	secret := func(role string) string { return "cdw_legacy-" + role + "-secret-with-plenty-of-entropy-0123456789" }
	hash := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	file := fmt.Sprintf(`[
  {"id": "0000000000a1", "role": "admin", "created": "2026-01-01T00:00:00Z", "sha256": %q},
  {"id": "0000000000a2", "role": "reader", "created": "2026-01-01T00:00:01Z", "sha256": %q},
  {"id": "0000000000a3", "role": "ingest", "source": "c1", "created": "2026-01-01T00:00:02Z", "sha256": %q}
]
`, hash(secret("admin")), hash(secret("reader")), hash(secret("ingest")))
	if err := os.WriteFile(filepath.Join(data, "tokens.json"), []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, data, "", nil)
	base := "http://" + ts.addr
	for _, tc := range []struct {
		secret, method, path, body string
		want                       int
	}{
		{secret("admin"), "GET", "/v1/tokens", "", 200},
		{secret("admin"), "POST", "/v1/query", `{"query": "print 1"}`, 403},
		{secret("reader"), "POST", "/v1/query", `{"query": "print 1"}`, 200},
		{secret("reader"), "GET", "/v1/tokens", "", 403},
		{secret("ingest"), "POST", "/v1/ingest/k8s-audit", string(eventList(fmt.Sprintf(validEvent, "legacy-1"))), 200},
	} {
		if status, body, _ := do(t, tc.method, base+tc.path, tc.secret, []byte(tc.body)); status != tc.want {
			t.Errorf("%s %s with the old %s: %d %s", tc.method, tc.path, tc.secret, status, body)
		}
	}
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	ts = startServer(t, data, "", nil) // a second start records nothing more
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	var migrations []string
	for _, r := range readRecords(t, data) {
		switch r.Action {
		case event.ActionTokenMigrate:
			migrations = append(migrations, string(r.Raw))
		case event.ActionTokenInit:
			t.Error("a first-start token was made although tokens existed")
		}
	}
	if len(migrations) != 1 || !strings.Contains(migrations[0], `{"from":"admin","to":"platform-admin","token_id":"0000000000a1"}`) ||
		!strings.Contains(migrations[0], `{"from":"reader","to":"log-reader","token_id":"0000000000a2"}`) {
		t.Errorf("migration records: %v", migrations)
	}
	b, _ := os.ReadFile(filepath.Join(data, "tokens.json"))
	if !strings.Contains(string(b), `"role": "platform-admin"`) || !strings.Contains(string(b), `"migrated_from": "reader"`) {
		t.Errorf("tokens.json:\n%s", b)
	}
}

// OIDC sign-in on the real server against a local issuer (over TLS, its
// certificate trusted through auth.oidc.ca_file).
func TestRoleOIDCServe(t *testing.T) {
	iss := authtest.NewIssuer(t)
	data := t.TempDir()
	ts := startServer(t, data, "", func(c *config.Config) {
		c.Auth.OIDC = config.OIDC{Issuer: iss.URL, Audiences: []string{"api://cdewatch"}, CAFile: iss.CAFile(t),
			Roles: map[string][]string{"grp-soc": {"soc-analyst"}}}
	})
	base := "http://" + ts.addr
	alice := iss.Sign(t, iss.Claims("alice", "api://cdewatch", "grp-soc"))
	if status, body, _ := do(t, http.MethodPost, base+"/v1/query", alice, []byte(`{"query": "print 1"}`)); status != 200 {
		t.Errorf("soc-analyst query: %d %s", status, body)
	}
	if status, _, _ := do(t, http.MethodGet, base+"/v1/tokens", alice, nil); status != 403 {
		t.Errorf("soc-analyst token list: %d", status)
	}
	if status, _, _ := do(t, http.MethodGet, base+"/v1/sources", iss.Sign(t, iss.Claims("eve", "other-app", "grp-soc")), nil); status != 401 {
		t.Errorf("wrong audience: %d", status)
	}
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range readRecords(t, data) {
		switch r.Action {
		case event.ActionQuery, event.ActionAuthDenied, event.ActionAuthFailed:
			got = append(got, r.Action+" "+r.User)
		}
	}
	want := "query oidc:alice@corp.example (soc-analyst)|auth.denied oidc:alice@corp.example (soc-analyst)|auth.failed unauthenticated"
	if strings.Join(got, "|") != want {
		t.Errorf("records\n%s\nwant\n%s", strings.Join(got, "|"), want)
	}
}

// auth.failure_limit reaches the server: past it, 429 and one record.
func TestRoleFailedAuthLimit(t *testing.T) {
	data := t.TempDir()
	ts := startServer(t, data, "", func(c *config.Config) { c.Auth.FailureLimit = 3 })
	base := "http://" + ts.addr
	for range 3 {
		if status, _, _ := do(t, http.MethodGet, base+"/v1/sources", "cdw_guess", nil); status != 401 {
			t.Fatalf("guess: %d", status)
		}
	}
	for range 5 {
		status, body, h := do(t, http.MethodGet, base+"/v1/tokens", adminToken(t, data), nil)
		if status != 429 || h.Get("Retry-After") == "" || !bytes.Contains(body, []byte("too many failed authentications")) {
			t.Fatalf("after the limit: %d %q %s", status, h.Get("Retry-After"), body)
		}
	}
	if status, _, _ := do(t, http.MethodGet, base+"/healthz", "", nil); status != 200 {
		t.Errorf("healthz: %d", status)
	}
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, r := range readRecords(t, data) {
		counts[r.Action]++
	}
	if counts[event.ActionAuthFailed] != 3 || counts[event.ActionAuthRateLimited] != 1 {
		t.Errorf("records: %v", counts)
	}
}
