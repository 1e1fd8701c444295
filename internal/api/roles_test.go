package api

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/cdewatch/cdewatch/internal/auth"
	"github.com/cdewatch/cdewatch/internal/event"
)

// wantAccess is the expected permission matrix, written out by hand (not
// derived from Routes): every route, a request to it that changes
// nothing, and the roles that may send it ("public": everyone, without a
// credential).
var wantAccess = []struct {
	pattern, method, target, body string
	roles                         []string
}{
	{"GET /healthz", "GET", "/healthz", "", []string{"public"}},
	{"GET /readyz", "GET", "/readyz", "", []string{"public"}},
	{"POST /v1/ingest/k8s-audit", "POST", "/v1/ingest/k8s-audit", "{}", []string{"ingest"}},
	{"POST /v1/ingest/app", "POST", "/v1/ingest/app", "{}", []string{"ingest"}},
	{"POST /v1/ingest/azure", "POST", "/v1/ingest/azure", "{}", []string{"ingest"}},
	{"POST /v1/logs", "POST", "/v1/logs", "{}", []string{"ingest"}},
	{"/es/", "POST", "/es/_bulk", "{}", []string{"ingest"}},
	{"POST /v1/query", "POST", "/v1/query", `{"query": "print 1"}`, []string{"log-reader", "soc-analyst", "compliance", "auditor"}},
	{"GET /v1/sources", "GET", "/v1/sources", "", []string{"log-reader", "soc-analyst", "platform-admin", "compliance", "auditor"}},
	{"GET /metrics", "GET", "/metrics", "", []string{"platform-admin", "auditor", "metrics"}},
	{"GET /v1/checkpoint", "GET", "/v1/checkpoint", "", []string{"platform-admin", "compliance", "auditor"}},
	{"GET /v1/log/checkpoint", "GET", "/v1/log/checkpoint", "", []string{"platform-admin", "compliance", "auditor"}},
	{"GET /v1/log/tile/{path...}", "GET", "/v1/log/tile/0/000", "", []string{"platform-admin", "compliance", "auditor"}},
	{"GET /v1/proof/inclusion", "GET", "/v1/proof/inclusion?index=0&size=1", "", []string{"platform-admin", "compliance", "auditor"}},
	{"GET /v1/proof/consistency", "GET", "/v1/proof/consistency?from=1&to=1", "", []string{"platform-admin", "compliance", "auditor"}},
	{"GET /v1/tokens", "GET", "/v1/tokens", "", []string{"platform-admin", "auditor"}},
	{"POST /v1/tokens", "POST", "/v1/tokens", `{"role": "nope"}`, []string{"platform-admin"}},
	{"DELETE /v1/tokens/{id}", "DELETE", "/v1/tokens/nope", "", []string{"platform-admin"}},
	{"POST /v1/tokens/{id}/rotate", "POST", "/v1/tokens/nope/rotate", "", []string{"platform-admin"}},
	{"POST /v1/tokens/{id}/role", "POST", "/v1/tokens/nope/role", `{"role": "auditor"}`, []string{"platform-admin"}},
	{"POST /v1/alerts/{id}/status", "POST", "/v1/alerts/cdewatch-999999/status", `{"status": "acknowledged", "reason": "x"}`, []string{"soc-analyst"}},
	{"GET /v1/retention", "GET", "/v1/retention", "", []string{"platform-admin", "compliance", "auditor"}},
	{"POST /v1/retention/hold", "POST", "/v1/retention/hold", `{"hold": false, "reason": "case 1"}`, []string{"compliance"}},
	{"POST /v1/rehydrate", "POST", "/v1/rehydrate", `{"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z", "reason": "case 1"}`, []string{"soc-analyst", "compliance", "auditor"}},
	{"GET /v1/incidents", "GET", "/v1/incidents", "", []string{"log-reader", "soc-analyst", "compliance", "auditor"}},
	{"POST /v1/incidents/{id}/status", "POST", "/v1/incidents/INC-000000000000/status", `{"status": "acknowledged", "reason": "x"}`, []string{"soc-analyst"}},
	{"GET /v1/health", "GET", "/v1/health", "", []string{"soc-analyst", "platform-admin", "compliance", "auditor"}},
	{"POST /v1/health/failures/{id}/resolution", "POST", "/v1/health/failures/nope/resolution", `{"text": "x"}`, []string{"soc-analyst", "platform-admin"}},
	{"/", "GET", "/no/such/endpoint", "", []string{"log-reader", "soc-analyst", "platform-admin", "compliance", "auditor", "ingest", "metrics"}},
}

// principals of the matrix: one token per role, the OIDC user holding
// soc-analyst and compliance, and callers that must be refused.
var matrixPrincipals = []struct {
	who   string
	roles []string // nil: refused by authentication
	deny  int      // status when refused: 401, or 403 for a caller without any role
}{
	{"log-reader", []string{"log-reader"}, 403},
	{"soc-analyst", []string{"soc-analyst"}, 403},
	{"platform-admin", []string{"platform-admin"}, 403},
	{"compliance", []string{"compliance"}, 403},
	{"auditor", []string{"auditor"}, 403},
	{"ingest", []string{"ingest"}, 403},
	{"metrics", []string{"metrics"}, 403},
	{whoOIDC, []string{"soc-analyst", "compliance"}, 403},
	{whoNone, nil, 401},
	{whoInvalid, nil, 401},
	{whoExpired, nil, 401},
	{whoOIDCExpired, nil, 401},
	{whoOIDCWrongAud, nil, 401},
	{whoOIDCForgedSig, nil, 401},
	{whoOIDCNoRole, nil, 403},
}

// TestRoleMatrix sends every route's request as every principal and
// checks each cell: allowed (the handler answered), or refused with 401
// or 403 and recorded as auth.failed or auth.denied.
func TestRoleMatrix(t *testing.T) {
	f := newGateFixture(t, nil)
	for _, rt := range wantAccess {
		for _, p := range matrixPrincipals {
			public := slices.Contains(rt.roles, "public")
			allowed := public || slices.ContainsFunc(p.roles, func(r string) bool { return slices.Contains(rt.roles, r) })
			t.Run(rt.pattern+"/"+p.who, func(t *testing.T) {
				before := f.count()
				w := f.do(rt.method, rt.target, p.who, rt.body, "")
				recs := f.since(before)
				if allowed {
					if w.Code == 401 || w.Code == 403 || w.Code == 429 {
						t.Fatalf("refused %d: %s", w.Code, w.Body)
					}
					for _, a := range recs {
						if strings.HasPrefix(a.Action, "auth.") {
							t.Errorf("allowed request recorded %s", a.Action)
						}
					}
					return
				}
				status := 403
				if p.roles == nil {
					status = p.deny
				}
				if w.Code != status {
					t.Fatalf("status %d, want %d: %s", w.Code, status, w.Body)
				}
				action := event.ActionAuthDenied
				if status == 401 {
					action = event.ActionAuthFailed
				}
				if len(recs) != 1 || recs[0].Action != action || recs[0].Resource != strings.Split(rt.target, "?")[0] ||
					recs[0].Class&event.InvalidAccess == 0 || recs[0].OriginIP != "192.0.2.10" || recs[0].Status != status {
					t.Fatalf("records %+v, want one %s", recs, action)
				}
			})
		}
	}
}

// Every route the server registers is in wantAccess, and the reverse;
// the fixture enables them all.
func TestRoleMatrixListsEveryRoute(t *testing.T) {
	f := newGateFixture(t, nil)
	var got, want []string
	for _, rt := range Routes() {
		got = append(got, rt.Pattern)
		if rt.handler(f.srv) == nil {
			t.Errorf("route %s is not enabled in the fixture", rt.Pattern)
		}
		var roles []string
		for _, r := range rt.Roles {
			roles = append(roles, string(r))
			if !r.Valid() {
				t.Errorf("route %s: unknown role %q", rt.Pattern, r)
			}
		}
		if rt.Public {
			roles = []string{"public"}
		}
		i := slices.IndexFunc(wantAccess, func(w struct {
			pattern, method, target, body string
			roles                         []string
		}) bool {
			return w.pattern == rt.Pattern
		})
		if i >= 0 && !slices.Equal(roles, wantAccess[i].roles) {
			t.Errorf("route %s: roles %v, the matrix says %v", rt.Pattern, roles, wantAccess[i].roles)
		}
	}
	for _, w := range wantAccess {
		want = append(want, w.pattern)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("registered routes\n%q\nthe matrix lists\n%q", got, want)
	}
}

// An ingest receiver on a route the permission table does not list is a
// programming error caught when the handler is built.
func TestUnlistedIngestRoutePanics(t *testing.T) {
	s := &Server{Ingest: map[string]http.Handler{"POST /v1/ingest/new": http.NotFoundHandler()}}
	defer func() {
		if v := recover(); v == nil || !strings.Contains(v.(string), "not in the permission table") {
			t.Errorf("recovered %v", v)
		}
	}()
	s.Handler()
}

// The principal reaches the handler it was let through to.
func TestPrincipalReachesHandler(t *testing.T) {
	f := newGateFixture(t, nil)
	if w := f.do("POST", "/v1/ingest/app", "ingest", "{}", ""); w.Code != http.StatusNoContent {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if w := f.do("GET", "/metrics", whoOIDC, "", ""); w.Code != http.StatusForbidden {
		t.Fatalf("oidc metrics: %d", w.Code)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reached) != 1 || !strings.HasPrefix(f.reached[0], "app token:") || !strings.HasSuffix(f.reached[0], "(ingest, source c1)") {
		t.Errorf("reached %q", f.reached)
	}
	if r := f.records[len(f.records)-1]; r.User != "oidc:alice@corp.example (soc-analyst,compliance)" || r.Details["need"] != "platform-admin, auditor, metrics" {
		t.Errorf("denied record %+v", r)
	}
	_ = auth.RoleAuditor
}
