package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStoreLifecycle(t *testing.T) {
	dir := t.TempDir()
	s, created, err := Open(dir)
	if err != nil || created == nil {
		t.Fatalf("first Open: %v, created %v", err, created)
	}
	adminFile := filepath.Join(dir, AdminTokenFile)
	st, err := os.Stat(adminFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("admin token file: %v mode %v", err, st.Mode())
	}
	b, _ := os.ReadFile(adminFile)
	admin := strings.TrimSpace(string(b))
	if p, ok := s.Authenticate(admin); !ok || p.Role != RoleAdmin {
		t.Fatalf("admin token does not authenticate: %+v %v", p, ok)
	}
	secret, tok, err := s.Create(RoleIngest, "aks-pci-prod")
	if err != nil {
		t.Fatal(err)
	}
	// Reopen: tokens persist, the secret is not stored in clear.
	s2, created, err := Open(dir)
	if err != nil || created != nil {
		t.Fatalf("reopen: %v %v", err, created)
	}
	if raw, _ := os.ReadFile(filepath.Join(dir, tokensFile)); strings.Contains(string(raw), secret) {
		t.Fatal("token secret stored in clear")
	}
	p, ok := s2.Authenticate(secret)
	if !ok || p.Source != "aks-pci-prod" || p.Role != RoleIngest || p.TokenID != tok.ID {
		t.Fatalf("ingest token: %+v %v", p, ok)
	}
	if _, err := s2.Revoke(tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := s2.Authenticate(secret); ok {
		t.Fatal("revoked token still authenticates")
	}
	if _, ok := s2.Authenticate(admin); !ok {
		t.Fatal("revoking one token broke another")
	}
	for _, bad := range []string{"", "cdw_", "Bearer " + admin, admin + "x"} {
		if _, ok := s2.Authenticate(bad); ok {
			t.Errorf("authenticated %q", bad)
		}
	}
}

func TestCreateValidation(t *testing.T) {
	s, _, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		role   Role
		source string
	}{{RoleIngest, ""}, {RoleIngest, "has space"}, {RoleAdmin, "x"}, {RoleReader, "x"}, {"root", ""}} {
		if _, _, err := s.Create(c.role, c.source); err == nil {
			t.Errorf("Create(%q, %q) succeeded", c.role, c.source)
		}
	}
	if _, _, err := s.Create("root", ""); err == nil || !strings.Contains(err.Error(), "want admin, ingest or reader") {
		t.Errorf("unknown role: %v", err)
	}
}

func TestReaderToken(t *testing.T) {
	s, _, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	secret, tok, err := s.Create(RoleReader, "")
	if err != nil {
		t.Fatal(err)
	}
	if tok.Role != RoleReader || tok.Source != "" {
		t.Fatalf("token %+v", tok)
	}
	p, ok := s.Authenticate(secret)
	if !ok || p.Role != RoleReader || p.TokenID != tok.ID {
		t.Fatalf("reader token: %+v %v", p, ok)
	}
	if got, want := p.Name(), "token:"+tok.ID+" (reader)"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
}

func TestOpenRejectsLooseTokenFile(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, tokensFile), 0o644)
	if _, _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("err = %v", err)
	}
}
