package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/auth"
	"github.com/cdewatch/cdewatch/internal/event"
)

// After MaxFailures failed authentications from one address within the
// window, that address gets 429 with Retry-After, valid credential or
// not, until the window has passed; the block is recorded once.
func TestFailedAuthRateLimit(t *testing.T) {
	clock := &testClock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	lim := auth.NewFailureLimiter(auth.LimiterConfig{MaxFailures: 3, Window: time.Minute, Now: clock.now})
	f := newGateFixture(t, lim)
	const attacker, other = "198.51.100.66", "198.51.100.67"
	before := f.count()
	for i := range 3 {
		if w := f.do("GET", "/v1/tokens", whoInvalid, "", attacker); w.Code != 401 {
			t.Fatalf("failure %d: %d", i+1, w.Code)
		}
	}
	for _, who := range []string{whoInvalid, whoNone, "platform-admin", whoOIDC} {
		w := f.do("GET", "/v1/tokens", who, "", attacker)
		if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "60" || !strings.Contains(w.Body.String(), "too many failed authentications") {
			t.Fatalf("%s while blocked: %d %q %s", who, w.Code, w.Header().Get("Retry-After"), w.Body)
		}
	}
	recs := f.since(before)
	var failed, limited int
	for _, a := range recs {
		switch a.Action {
		case event.ActionAuthFailed:
			failed++
		case event.ActionAuthRateLimited:
			limited++
			if a.OriginIP != attacker || a.Details["client"] != attacker || a.Details["failures"] != 3 || a.Details["blocked_until"] != "2026-11-26T10:01:00Z" ||
				a.Class&event.InvalidAccess == 0 {
				t.Errorf("block record %+v", a)
			}
		default:
			t.Errorf("unexpected record %s", a.Action)
		}
	}
	if failed != 3 || limited != 1 {
		t.Errorf("%d auth.failed and %d auth.limited records, want 3 and 1 (refused requests are not recorded)", failed, limited)
	}
	// Another address is not affected.
	if w := f.do("GET", "/v1/tokens", "platform-admin", "", other); w.Code != 200 {
		t.Errorf("other client: %d", w.Code)
	}
	clock.add(30 * time.Second)
	if w := f.do("GET", "/v1/tokens", "platform-admin", "", attacker); w.Code != 429 || w.Header().Get("Retry-After") != "30" {
		t.Errorf("half-way: %d %q", w.Code, w.Header().Get("Retry-After"))
	}
	clock.add(30 * time.Second)
	if w := f.do("GET", "/v1/tokens", "platform-admin", "", attacker); w.Code != 200 {
		t.Errorf("after the window: %d %s", w.Code, w.Body)
	}
	// Public endpoints are never limited.
	for range 5 {
		f.do("GET", "/v1/tokens", whoInvalid, "", other)
	}
	if w := f.do("GET", "/healthz", whoNone, "", other); w.Code != 200 {
		t.Errorf("healthz from a blocked client: %d", w.Code)
	}
}

func TestReadyz(t *testing.T) {
	f := newGateFixture(t, nil)
	before := f.count()
	w := f.do("GET", "/readyz", whoNone, "", "")
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"status":"ready"}` {
		t.Errorf("ready: %d %s", w.Code, w.Body)
	}
	f.srv.Ready = func() error { return errors.New("the index is rebuilding (41% done)") }
	w = f.do("GET", "/readyz", whoNone, "", "")
	var ans ReadyAnswer
	if json.Unmarshal(w.Body.Bytes(), &ans); w.Code != 503 || ans.Status != "not ready" || ans.Reason != "the index is rebuilding (41% done)" {
		t.Errorf("not ready: %d %s", w.Code, w.Body)
	}
	if w.Header().Get("Cache-Control") != "no-store" {
		t.Error("readyz may be cached")
	}
	f.srv.Ready = nil
	if w := f.do("GET", "/readyz", whoNone, "", ""); w.Code != 200 {
		t.Errorf("ready again: %d", w.Code)
	}
	if n := len(f.since(before)); n != 0 {
		t.Errorf("%d records for public endpoints", n)
	}
}

// Refusals say why, and the record has what an investigator needs.
func TestAuthFailureMessagesAndRecords(t *testing.T) {
	f := newGateFixture(t, nil)
	for _, tc := range []struct {
		who, wantBody, wantReason string
		status                    int
		wantDetail                map[string]any
	}{
		{whoNone, "missing bearer token: send Authorization: Bearer", "missing bearer token", 401, nil},
		{whoInvalid, "invalid token: send Authorization: Bearer", "invalid token", 401, nil},
		{whoExpired, "expired at", "token expired", 401, nil},
		{whoOIDCExpired, "the OIDC token has expired: sign in again", "oidc token expired", 401, map[string]any{"issuer": f.issuer.URL}},
		{whoOIDCWrongAud, "not meant for this API", "oidc token audience", 401, nil},
		{whoOIDCForgedSig, "its signature does not verify", "oidc token invalid", 401, nil},
		{whoOIDCNoRole, "claim is mapped to a cdewatch role (auth.oidc.roles)", "no role: the OIDC token's claims map to no role", 403,
			map[string]any{"claim": "groups"}},
		{"ingest", "this endpoint needs one of the roles platform-admin, auditor; the token presented is ingest", "role ingest may not use this endpoint", 403, nil},
		{whoOIDC, "alice@corp.example is signed in with the roles soc-analyst,compliance", "role soc-analyst,compliance may not use this endpoint", 403, nil},
	} {
		t.Run(tc.who, func(t *testing.T) {
			before := f.count()
			w := f.do("GET", "/v1/tokens", tc.who, "", "")
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.wantBody) {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if tc.status == 401 && w.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			recs := f.since(before)
			if len(recs) != 1 || recs[0].Details["reason"] != tc.wantReason || recs[0].Details["path"] != "/v1/tokens" || recs[0].Agent != "gate-test/1" {
				t.Fatalf("records %+v", recs)
			}
			for k, v := range tc.wantDetail {
				if recs[0].Details[k] != v {
					t.Errorf("detail %s = %v, want %v", k, recs[0].Details[k], v)
				}
			}
			if tc.who == whoExpired && recs[0].Details["token_id"] == "" {
				t.Error("expired token's id not recorded")
			}
			if tc.who == whoOIDCNoRole && recs[0].User != "oidc:mallory@corp.example" {
				t.Errorf("user %q", recs[0].User)
			}
			if _, err := recs[0].Record(time.Now()); err != nil {
				t.Errorf("record does not encode: %v", err)
			}
		})
	}
}

// An OIDC user's roles open what any of them opens, and its actions are
// recorded under its name.
func TestOIDCUserActions(t *testing.T) {
	f := newGateFixture(t, nil)
	before := f.count()
	if w := f.do("POST", "/v1/query", whoOIDC, `{"query": "print 1"}`, ""); w.Code != 200 {
		t.Fatalf("query: %d %s", w.Code, w.Body)
	}
	if w := f.do("GET", "/v1/checkpoint", whoOIDC, "", ""); w.Code == 401 || w.Code == 403 {
		t.Fatalf("checkpoint (compliance): %d %s", w.Code, w.Body)
	}
	recs := f.since(before)
	if len(recs) != 1 || recs[0].Action != event.ActionQuery || recs[0].User != "oidc:alice@corp.example (soc-analyst,compliance)" ||
		recs[0].Details["role"] != "soc-analyst,compliance" {
		t.Errorf("records %+v", recs)
	}
}
