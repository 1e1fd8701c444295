package api

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/auth"
	"github.com/cdewatch/cdewatch/internal/event"
)

// bearer sends a request with a raw secret.
func (f *gateFixture) bearer(method, target, secret, body string) *httptest.ResponseRecorder {
	f.secrets["tmp"] = secret
	defer delete(f.secrets, "tmp")
	return f.do(method, target, "tmp", body, "")
}

func decode[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("answer %d is not JSON: %s", w.Code, w.Body)
	}
	return v
}

// The token lifecycle through the API: every change is recorded with who
// made it, secrets and hashes never leave the server but once.
func TestTokenLifecycleAPI(t *testing.T) {
	f := newGateFixture(t, nil)
	admin, _ := f.tokens.Verify(f.secrets["platform-admin"])
	by := admin.Name()
	before := f.count()

	// Create, with an expiry.
	w := f.do("POST", "/v1/tokens", "platform-admin", `{"role": "log-reader", "expires_in": "90d"}`, "")
	if w.Code != 201 || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	created := decode[TokenResponse](t, w)
	if created.Role != auth.RoleLogReader || !strings.HasPrefix(created.Secret, "cdw_") || created.CreatedBy != by ||
		created.ExpiresAt.Sub(time.Now()) < 89*24*time.Hour {
		t.Fatalf("created %+v", created)
	}
	if w := f.bearer("POST", "/v1/query", created.Secret, `{"query": "print 1"}`); w.Code != 200 {
		t.Fatalf("new token: %d %s", w.Code, w.Body)
	}

	// List: no secrets, no hashes.
	w = f.do("GET", "/v1/tokens", "auditor", "", "")
	if w.Code != 200 || strings.Contains(w.Body.String(), "sha256") || strings.Contains(w.Body.String(), created.Secret) {
		t.Fatalf("list: %d %s", w.Code, w.Body)
	}
	list := decode[[]TokenInfo](t, w)
	expiredSeen := false
	for _, ti := range list {
		if ti.Expired {
			expiredSeen = true
		}
	}
	if !expiredSeen {
		t.Error("the expired token is not shown as expired")
	}

	// Rotate with a grace period: both secrets work, the token keeps its id and role.
	w = f.do("POST", "/v1/tokens/"+created.ID+"/rotate", "platform-admin", `{"grace": "1h"}`, "")
	if w.Code != 200 {
		t.Fatalf("rotate: %d %s", w.Code, w.Body)
	}
	rotated := decode[TokenResponse](t, w)
	if rotated.ID != created.ID || rotated.Role != auth.RoleLogReader || rotated.Secret == created.Secret || rotated.PreviousValidUntil.IsZero() ||
		!rotated.ExpiresAt.Equal(created.ExpiresAt) {
		t.Fatalf("rotated %+v", rotated)
	}
	for _, s := range []string{created.Secret, rotated.Secret} {
		if w := f.bearer("POST", "/v1/query", s, `{"query": "print 1"}`); w.Code != 200 {
			t.Errorf("during grace: %d %s", w.Code, w.Body)
		}
	}
	// The store's clock runs on: past the grace period the old secret is refused.
	f.clock.add(time.Hour)
	if w := f.bearer("POST", "/v1/query", created.Secret, `{"query": "print 1"}`); w.Code != 401 || !strings.Contains(w.Body.String(), "replaced by a rotation") {
		t.Errorf("after grace: %d %s", w.Code, w.Body)
	}

	// Role change.
	w = f.do("POST", "/v1/tokens/"+created.ID+"/role", "platform-admin", `{"role": "soc-analyst"}`, "")
	if w.Code != 200 || decode[TokenInfo](t, w).Role != auth.RoleSOCAnalyst {
		t.Fatalf("set role: %d %s", w.Code, w.Body)
	}
	if w := f.bearer("POST", "/v1/alerts/cdewatch-999999/status", rotated.Secret, `{"status": "acknowledged", "reason": "x"}`); w.Code == 403 {
		t.Errorf("soc-analyst refused alert status: %s", w.Body)
	}

	// Revoke.
	if w := f.do("DELETE", "/v1/tokens/"+created.ID, "platform-admin", "", ""); w.Code != 200 {
		t.Fatalf("revoke: %d %s", w.Code, w.Body)
	}
	if w := f.bearer("POST", "/v1/query", rotated.Secret, `{"query": "print 1"}`); w.Code != 401 {
		t.Errorf("revoked: %d", w.Code)
	}

	var actions []string
	for _, a := range f.since(before) {
		if !strings.HasPrefix(a.Action, "token.") {
			continue
		}
		actions = append(actions, a.Action)
		if a.User != by || a.Details["token_id"] != created.ID || a.Class&event.CredentialChange == 0 || a.Resource != "token:"+created.ID ||
			a.OriginIP != "192.0.2.10" || a.Outcome != event.Success {
			t.Errorf("record %+v", a)
		}
	}
	if got := strings.Join(actions, ","); got != "token.create,token.rotate,token.role,token.revoke" {
		t.Errorf("recorded %s", got)
	}
}

func TestTokenAPIRefusals(t *testing.T) {
	f := newGateFixture(t, nil)
	admin, _ := f.tokens.Verify(f.secrets["platform-admin"])
	reader, _ := f.tokens.Verify(f.secrets["log-reader"])
	for _, tc := range []struct {
		name, method, target, body string
		status                     int
		wantIn                     string
	}{
		{"old role name", "POST", "/v1/tokens", `{"role": "reader"}`, 400, `role \"reader\" was renamed: use log-reader`},
		{"unknown field", "POST", "/v1/tokens", `{"role": "auditor", "ttl": "1d"}`, 400, `unknown field`},
		{"ingest without source", "POST", "/v1/tokens", `{"role": "ingest"}`, 400, "need a source"},
		{"both expiries", "POST", "/v1/tokens", `{"role": "auditor", "expires_in": "1d", "expires_at": "2030-01-01T00:00:00Z"}`, 400, "not both"},
		{"past expiry", "POST", "/v1/tokens", `{"role": "auditor", "expires_at": "2020-01-01T00:00:00Z"}`, 400, "not in the future"},
		{"bad lifetime", "POST", "/v1/tokens", `{"role": "auditor", "expires_in": "soon"}`, 400, "expires_in"},
		{"revoke itself", "DELETE", "/v1/tokens/" + admin.TokenID, "", 409, "cannot revoke itself"},
		{"own role", "POST", "/v1/tokens/" + admin.TokenID + "/role", `{"role": "auditor"}`, 409, "cannot change its own role"},
		{"role unknown token", "POST", "/v1/tokens/nope/role", `{"role": "auditor"}`, 404, "no token with id"},
		{"grace too long", "POST", "/v1/tokens/" + reader.TokenID + "/rotate", `{"grace": "8d"}`, 400, "grace period"},
		{"bad grace", "POST", "/v1/tokens/" + reader.TokenID + "/rotate", `{"grace": "a while"}`, 400, "grace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.count()
			w := f.do(tc.method, tc.target, "platform-admin", tc.body, "")
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.wantIn) {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if n := len(f.since(before)); n != 0 {
				t.Errorf("%d records for a refused change", n)
			}
		})
	}
	// A change that cannot be recorded is not made: 503, nothing changed.
	f.auditErr = errors.New("ledger stopped")
	n := len(f.tokens.List())
	if w := f.do("POST", "/v1/tokens", "platform-admin", `{"role": "auditor"}`, ""); w.Code != 503 || w.Header().Get("Retry-After") == "" {
		t.Errorf("unrecorded create: %d %s", w.Code, w.Body)
	}
	if w := f.do("DELETE", "/v1/tokens/"+reader.TokenID, "platform-admin", "", ""); w.Code != 503 {
		t.Errorf("unrecorded revoke: %d %s", w.Code, w.Body)
	}
	if len(f.tokens.List()) != n {
		t.Error("the store changed")
	}
	if _, err := f.tokens.Verify(f.secrets["log-reader"]); err != nil {
		t.Errorf("the revocation happened: %v", err)
	}
}
