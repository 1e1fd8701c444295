package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/event"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// records is a Recorder keeping what it records in memory.
type records struct {
	mu   sync.Mutex
	list []event.SelfAudit
	err  error // returned instead of recording when set
}

func (r *records) record(_ context.Context, a event.SelfAudit) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.list = append(r.list, a)
	return nil
}

func (r *records) last(tb testing.TB) event.SelfAudit {
	tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.list) == 0 {
		tb.Fatal("nothing recorded")
	}
	return r.list[len(r.list)-1]
}

func (r *records) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.list)
}

func readAdmin(tb testing.TB, dir string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(dir, AdminTokenFile))
	if err != nil {
		tb.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestStoreLifecycle(t *testing.T) {
	dir := t.TempDir()
	s, created, err := Open(dir)
	if err != nil || created == nil {
		t.Fatalf("first Open: %v, created %v", err, created)
	}
	st, err := os.Stat(filepath.Join(dir, AdminTokenFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("admin token file: %v mode %v", err, st.Mode())
	}
	admin := readAdmin(t, dir)
	if p, err := s.Verify(admin); err != nil || p.Role != RolePlatformAdmin || !p.Has(RolePlatformAdmin) {
		t.Fatalf("first-start token: %+v %v", p, err)
	}
	// The first-start token is recorded once a recorder exists.
	var rec records
	if err := s.RecordPending(context.Background(), rec.record); err != nil {
		t.Fatal(err)
	}
	if a := rec.last(t); a.Action != event.ActionTokenInit || a.Details["role"] != "platform-admin" || a.Class&event.CredentialChange == 0 || a.User != "" {
		t.Errorf("first-start record: %+v", a)
	}
	if err := s.RecordPending(context.Background(), rec.record); err != nil || rec.len() != 1 {
		t.Errorf("second RecordPending: %v, %d records", err, rec.len())
	}
	secret, tok, err := s.Issue(context.Background(), Spec{Role: RoleIngest, Source: "aks-pci-prod", By: "token:x (platform-admin)"}, rec.record)
	if err != nil {
		t.Fatal(err)
	}
	if a := rec.last(t); a.Action != event.ActionTokenCreate || a.User != "token:x (platform-admin)" || a.Details["token_id"] != tok.ID || a.Details["source"] != "aks-pci-prod" {
		t.Errorf("create record: %+v", a)
	}
	// Reopen: tokens persist, the secret is not stored in clear.
	s2, created, err := Open(dir)
	if err != nil || created != nil {
		t.Fatalf("reopen: %v %v", err, created)
	}
	if raw, _ := os.ReadFile(filepath.Join(dir, tokensFile)); strings.Contains(string(raw), secret) || strings.Contains(string(raw), admin) {
		t.Fatal("token secret stored in clear")
	}
	p, err := s2.Verify(secret)
	if err != nil || p.Source != "aks-pci-prod" || p.Role != RoleIngest || p.TokenID != tok.ID {
		t.Fatalf("ingest token: %+v %v", p, err)
	}
	if got, want := p.Name(), "token:"+tok.ID+" (ingest, source aks-pci-prod)"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	if _, err := s2.Revoke(context.Background(), tok.ID, "token:x (platform-admin)", rec.record); err != nil {
		t.Fatal(err)
	}
	if a := rec.last(t); a.Action != event.ActionTokenRevoke || a.Details["token_id"] != tok.ID {
		t.Errorf("revoke record: %+v", a)
	}
	if _, err := s2.Verify(secret); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("revoked token: %v", err)
	}
	if _, ok := s2.Authenticate(admin); !ok {
		t.Fatal("revoking one token broke another")
	}
	if _, err := s2.Revoke(context.Background(), tok.ID, "x", rec.record); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoking twice: %v", err)
	}
	for _, bad := range []string{"", "cdw_", "Bearer " + admin, admin + "x", strings.TrimPrefix(admin, "cdw_")} {
		if _, err := s2.Verify(bad); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("Verify(%q) = %v", bad, err)
		}
	}
}

func TestIssueValidation(t *testing.T) {
	c := newClock()
	s, _, err := Open(t.TempDir(), WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		spec   Spec
		wantIn string
	}{
		{Spec{Role: RoleIngest}, "ingest tokens need a source"},
		{Spec{Role: RoleIngest, Source: "has space"}, "ingest tokens need a source"},
		{Spec{Role: RolePlatformAdmin, Source: "x"}, "not bound to a source"},
		{Spec{Role: RoleLogReader, Source: "x"}, "not bound to a source"},
		{Spec{Role: "root"}, "unknown role \"root\" (want one of log-reader, soc-analyst, platform-admin, compliance, auditor, ingest, metrics)"},
		{Spec{Role: "reader"}, `role "reader" was renamed: use log-reader`},
		{Spec{Role: "admin"}, `role "admin" was renamed: use platform-admin`},
		{Spec{Role: RoleAuditor, ExpiresAt: c.now()}, "is not in the future"},
	} {
		if _, _, err := s.Issue(context.Background(), tc.spec, nil); err == nil || !strings.Contains(err.Error(), tc.wantIn) {
			t.Errorf("Issue(%+v) = %v, want an error containing %q", tc.spec, err, tc.wantIn)
		}
	}
	if n := len(s.List()); n != 1 {
		t.Errorf("%d tokens after refused creations, want 1", n)
	}
}

// A change that cannot be recorded is not made.
func TestUnrecordedChangeIsNotMade(t *testing.T) {
	dir := t.TempDir()
	s, _, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, tok, err := s.Create(RoleLogReader, "")
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, tokensFile))
	rec := records{err: errors.New("ledger stopped")}
	ctx := context.Background()
	for name, change := range map[string]func() error{
		"issue":    func() error { _, _, err := s.Issue(ctx, Spec{Role: RoleAuditor}, rec.record); return err },
		"revoke":   func() error { _, err := s.Revoke(ctx, tok.ID, "x", rec.record); return err },
		"rotate":   func() error { _, _, err := s.Rotate(ctx, tok.ID, Rotation{}, rec.record); return err },
		"set-role": func() error { _, err := s.SetRole(ctx, tok.ID, RoleAuditor, "", "x", rec.record); return err },
	} {
		if err := change(); !errors.Is(err, ErrNotRecorded) {
			t.Errorf("%s: %v, want ErrNotRecorded", name, err)
		}
	}
	after, _ := os.ReadFile(filepath.Join(dir, tokensFile))
	if string(before) != string(after) || len(s.List()) != 2 {
		t.Errorf("the store changed:\n%s\n%s", before, after)
	}
	if got, _ := s.Get(tok.ID); got.Role != RoleLogReader {
		t.Errorf("role changed to %s", got.Role)
	}
}

func TestExpiry(t *testing.T) {
	c := newClock()
	s, _, err := Open(t.TempDir(), WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	secret, tok, err := s.Issue(context.Background(), Spec{Role: RoleLogReader, ExpiresAt: c.now().Add(time.Hour)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(secret); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	c.add(time.Hour)
	_, err = s.Verify(secret)
	var exp *ExpiredError
	if !errors.As(err, &exp) || exp.TokenID != tok.ID || exp.Replaced || !exp.At.Equal(tok.ExpiresAt) {
		t.Fatalf("at expiry: %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "expired at 2026-11-26T11:00:00Z") || !strings.Contains(msg, "cdewatch token rotate "+tok.ID) {
		t.Errorf("message %q", msg)
	}
	// Rotating an expired token needs a new expiry, which revives it.
	if _, _, err := s.Rotate(context.Background(), tok.ID, Rotation{}, nil); err == nil || !strings.Contains(err.Error(), "give it a new expiry") {
		t.Errorf("rotate expired without expiry: %v", err)
	}
	secret2, _, err := s.Rotate(context.Background(), tok.ID, Rotation{ExpiresAt: c.now().Add(24 * time.Hour)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(secret2); err != nil {
		t.Errorf("rotated with a new expiry: %v", err)
	}
}

func TestRotate(t *testing.T) {
	c := newClock()
	s, _, err := Open(t.TempDir(), WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var rec records
	old, tok, err := s.Issue(ctx, Spec{Role: RoleIngest, Source: "c1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Rotate(ctx, tok.ID, Rotation{Grace: MaxRotationGrace + time.Second}, rec.record); err == nil {
		t.Error("grace beyond the maximum accepted")
	}
	fresh, rotated, err := s.Rotate(ctx, tok.ID, Rotation{Grace: 10 * time.Minute, By: "token:a (platform-admin)"}, rec.record)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.ID != tok.ID || rotated.Role != RoleIngest || rotated.Source != "c1" || fresh == old {
		t.Fatalf("rotated: %+v", rotated)
	}
	a := rec.last(t)
	if a.Action != event.ActionTokenRotate || a.User != "token:a (platform-admin)" || a.Details["grace_seconds"] != int64(600) ||
		a.Details["previous_valid_until"] != "2026-11-26T10:10:00Z" || a.Class&event.CredentialChange == 0 {
		t.Errorf("rotate record: %+v", a)
	}
	for _, secret := range []string{old, fresh} {
		if p, err := s.Verify(secret); err != nil || p.TokenID != tok.ID || p.Source != "c1" {
			t.Errorf("during the grace period: %+v %v", p, err)
		}
	}
	c.add(10 * time.Minute)
	var exp *ExpiredError
	if _, err := s.Verify(old); !errors.As(err, &exp) || !exp.Replaced || !strings.Contains(err.Error(), "replaced by a rotation") {
		t.Errorf("old secret after the grace period: %v", err)
	}
	if _, err := s.Verify(fresh); err != nil {
		t.Errorf("new secret: %v", err)
	}
	// A second rotation without grace: the secret it replaces stops at once,
	// and the one replaced before is forgotten.
	third, _, err := s.Rotate(ctx, tok.ID, Rotation{}, rec.record)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{old, fresh} {
		if _, err := s.Verify(secret); err == nil {
			t.Error("a replaced secret still works")
		}
	}
	if _, err := s.Verify(third); err != nil {
		t.Error(err)
	}
	if _, _, err := s.Rotate(ctx, "nope", Rotation{}, rec.record); !errors.Is(err, ErrNotFound) {
		t.Errorf("rotate unknown: %v", err)
	}
}

func TestSetRole(t *testing.T) {
	s, _, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var rec records
	secret, tok, err := s.Create(RoleLogReader, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetRole(ctx, tok.ID, RoleSOCAnalyst, "", "token:a (platform-admin)", rec.record); err != nil {
		t.Fatal(err)
	}
	if p, err := s.Verify(secret); err != nil || p.Role != RoleSOCAnalyst {
		t.Errorf("after set-role: %+v %v", p, err)
	}
	if a := rec.last(t); a.Action != event.ActionTokenRole || a.Details["role"] != "soc-analyst" || a.Details["previous_role"] != "log-reader" {
		t.Errorf("record: %+v", a)
	}
	for _, tc := range []struct {
		role   Role
		source string
		wantIn string
	}{
		{RoleSOCAnalyst, "", "already has role soc-analyst"},
		{RoleIngest, "", "need a source"},
		{RoleAuditor, "c1", "not bound to a source"},
		{"reader", "", "was renamed"},
	} {
		if _, err := s.SetRole(ctx, tok.ID, tc.role, tc.source, "x", rec.record); err == nil || !strings.Contains(err.Error(), tc.wantIn) {
			t.Errorf("SetRole(%s, %q) = %v, want %q", tc.role, tc.source, err, tc.wantIn)
		}
	}
	if _, err := s.SetRole(ctx, tok.ID, RoleIngest, "c2", "x", rec.record); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Verify(secret); p.Role != RoleIngest || p.Source != "c2" {
		t.Errorf("to ingest: %+v", p)
	}
	if a := rec.last(t); a.Details["source"] != "c2" {
		t.Errorf("record: %+v", a)
	}
}

// legacyFile writes a token file of an older version with the roles
// admin, reader and ingest, and returns their secrets.
func legacyFile(tb testing.TB, dir string) (admin, reader, ingest string) {
	tb.Helper()
	type old struct {
		ID      string    `json:"id"`
		Role    string    `json:"role"`
		Source  string    `json:"source,omitempty"`
		Created time.Time `json:"created"`
		Hash    string    `json:"sha256"`
	}
	var toks []old
	var secrets []string
	for i, r := range []string{"admin", "reader", "ingest"} {
		secret := "cdw_legacy-" + r + "-secret-with-enough-entropy-for-a-test"
		h := sha256.Sum256([]byte(secret))
		o := old{ID: "00000000000" + string(rune('1'+i)), Role: r, Created: time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC), Hash: hex.EncodeToString(h[:])}
		if r == "ingest" {
			o.Source = "aks-prod"
		}
		toks = append(toks, o)
		secrets = append(secrets, secret)
	}
	b, _ := json.MarshalIndent(toks, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, tokensFile), b, 0o600); err != nil {
		tb.Fatal(err)
	}
	return secrets[0], secrets[1], secrets[2]
}

func TestLegacyRolesMigrate(t *testing.T) {
	dir := t.TempDir()
	admin, reader, ingest := legacyFile(t, dir)
	s, created, err := Open(dir)
	if err != nil || created != nil {
		t.Fatalf("open: %v %v", err, created)
	}
	for _, tc := range []struct {
		secret string
		role   Role
	}{{admin, RolePlatformAdmin}, {reader, RoleLogReader}, {ingest, RoleIngest}} {
		if p, err := s.Verify(tc.secret); err != nil || p.Role != tc.role {
			t.Errorf("legacy secret for %s: %+v %v", tc.role, p, err)
		}
	}
	// A failed record leaves the file as it was, to be retried.
	before, _ := os.ReadFile(filepath.Join(dir, tokensFile))
	failing := records{err: errors.New("ledger stopped")}
	if err := s.RecordPending(context.Background(), failing.record); err == nil {
		t.Fatal("RecordPending succeeded without recording")
	}
	if after, _ := os.ReadFile(filepath.Join(dir, tokensFile)); string(after) != string(before) {
		t.Error("the file changed although the migration was not recorded")
	}
	var rec records
	if err := s.RecordPending(context.Background(), rec.record); err != nil {
		t.Fatal(err)
	}
	a := rec.last(t)
	moved, _ := a.Details["tokens"].([]map[string]any)
	if a.Action != event.ActionTokenMigrate || rec.len() != 1 || len(moved) != 2 || a.Class&event.CredentialChange == 0 {
		t.Fatalf("migration record: %+v", a)
	}
	if moved[0]["from"] != "admin" || moved[0]["to"] != "platform-admin" || moved[1]["from"] != "reader" || moved[1]["to"] != "log-reader" {
		t.Errorf("moved: %v", moved)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, tokensFile))
	if !strings.Contains(string(raw), `"role": "platform-admin"`) || !strings.Contains(string(raw), `"migrated_from": "admin"`) {
		t.Errorf("file after migration:\n%s", raw)
	}
	// Reopened, nothing is left to record.
	s2, _, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.RecordPending(context.Background(), rec.record); err != nil || rec.len() != 1 {
		t.Errorf("reopen recorded again: %v, %d", err, rec.len())
	}
	if p, err := s2.Verify(admin); err != nil || p.Role != RolePlatformAdmin {
		t.Errorf("after reopen: %+v %v", p, err)
	}
}

func TestOpenRejects(t *testing.T) {
	h := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name, file, wantIn string
	}{
		{"not JSON", `{`, "want a JSON array"},
		{"unknown role", `[{"id":"a","role":"root","sha256":"` + h + `"}]`, `unknown role "root"`},
		{"bad hash", `[{"id":"a","role":"auditor","sha256":"abc"}]`, "bad hash"},
		{"repeated id", `[{"id":"a","role":"auditor","sha256":"` + h + `"},{"id":"a","role":"auditor","sha256":"` + strings.Repeat("cd", 32) + `"}]`, "repeated id"},
		{"repeated hash", `[{"id":"a","role":"auditor","sha256":"` + h + `"},{"id":"b","role":"auditor","sha256":"` + h + `"}]`, "used twice"},
		{"ingest without source", `[{"id":"a","role":"ingest","sha256":"` + h + `"}]`, "bound to a source"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, tokensFile), []byte(tc.file), 0o600)
			if _, _, err := Open(dir); err == nil || !strings.Contains(err.Error(), tc.wantIn) {
				t.Errorf("err = %v, want %q", err, tc.wantIn)
			}
		})
	}
	dir := t.TempDir()
	if _, _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, tokensFile), 0o644)
	if _, _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("loose mode: %v", err)
	}
}

func TestParseLifetime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90d", 90 * 24 * time.Hour, true},
		{" 1d ", 24 * time.Hour, true},
		{"720h", 720 * time.Hour, true},
		{"15m", 15 * time.Minute, true},
		{"0", 0, true},
		{"d", 0, false},
		{"-1h", 0, false},
		{"10001d", 0, false},
		{"1.5d", 0, false},
		{"soon", 0, false},
		{"", 0, false},
	} {
		got, err := ParseLifetime(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseLifetime(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func FuzzParseLifetime(f *testing.F) {
	for _, s := range []string{"90d", "720h", "15m", "1h30m", "-1h", "d", "99999d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseLifetime(s)
		if err == nil && d < 0 {
			t.Errorf("ParseLifetime(%q) = %v: negative", s, d)
		}
	})
}

// FuzzParseTokens: a token file never panics the loader, and a file it
// accepts holds only valid roles and survives saving and loading again.
func FuzzParseTokens(f *testing.F) {
	h := strings.Repeat("ab", 32)
	f.Add(`[{"id":"a","role":"admin","sha256":"` + h + `"}]`)
	f.Add(`[{"id":"a","role":"ingest","source":"c1","sha256":"` + h + `","prev_sha256":"` + strings.Repeat("cd", 32) + `","prev_valid_until":"2026-01-01T00:00:00Z"}]`)
	f.Add(`[]`)
	f.Add(`null`)
	f.Fuzz(func(t *testing.T, file string) {
		toks, err := parseTokens([]byte(file))
		if err != nil {
			return
		}
		for _, tok := range toks {
			if !tok.Role.Valid() {
				t.Fatalf("accepted role %q", tok.Role)
			}
		}
		b, err := json.Marshal(toks)
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseTokens(b)
		if err != nil || len(again) != len(toks) {
			t.Fatalf("saved file does not load: %v", err)
		}
	})
}
