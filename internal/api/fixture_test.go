package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/auth"
	"github.com/cdewatch/cdewatch/internal/auth/authtest"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/health"
	"github.com/cdewatch/cdewatch/internal/ingest"
	"github.com/cdewatch/cdewatch/internal/kql"
	"github.com/cdewatch/cdewatch/internal/ledger"
	"github.com/cdewatch/cdewatch/internal/retention"
)

// OIDC groups of the gate fixture's issuer and the roles they map to.
const (
	groupSOC        = "grp-soc"
	groupCompliance = "grp-compliance"
	oidcAudience    = "api://cdewatch"
)

// gateFixture is a Server with a real ledger, token store and OIDC
// verifier (against a local issuer), its self-audit records kept in
// memory. The receivers, the metrics handler and the query engine are
// stand-ins that answer 200/204: they are tested in their own packages,
// here only the gate in front of them matters.
type gateFixture struct {
	srv     *Server
	handler http.Handler
	tokens  *auth.Store
	issuer  *authtest.Issuer
	clock   *testClock

	// secrets by principal name (a role, or one of the special names).
	secrets map[string]string

	mu       sync.Mutex
	records  []event.SelfAudit
	auditErr error
	reached  []string // principals that reached a stand-in handler
}

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Special principals of the matrix besides one token per role.
const (
	whoNone          = "no credential"
	whoInvalid       = "invalid token"
	whoExpired       = "expired token"
	whoOIDC          = "oidc soc-analyst+compliance"
	whoOIDCNoRole    = "oidc without a mapped group"
	whoOIDCExpired   = "oidc expired"
	whoOIDCWrongAud  = "oidc wrong audience"
	whoOIDCForgedSig = "oidc forged signature"
)

func newGateFixture(t *testing.T, limiter *auth.FailureLimiter) *gateFixture {
	t.Helper()
	led, err := ledger.Open(ledger.Options{Dir: t.TempDir(), Origin: "gate.test/cdewatch", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Close() })
	f := &gateFixture{clock: &testClock{t: time.Now()}, secrets: map[string]string{}}
	f.tokens, _, err = auth.Open(t.TempDir(), auth.WithClock(f.clock.now))
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range auth.Roles() {
		source := ""
		if info.Role == auth.RoleIngest {
			source = "c1"
		}
		secret, _, err := f.tokens.Create(info.Role, source)
		if err != nil {
			t.Fatal(err)
		}
		f.secrets[string(info.Role)] = secret
	}
	exp, _, err := f.tokens.Issue(context.Background(), auth.Spec{Role: auth.RoleAuditor, ExpiresAt: f.clock.now().Add(time.Minute)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.add(2 * time.Minute)
	f.secrets[whoExpired] = exp
	f.secrets[whoInvalid] = "cdw_not-a-token-at-all"
	f.secrets[whoNone] = ""

	f.issuer = authtest.NewIssuer(t)
	oidcV, err := auth.NewOIDC(auth.OIDCConfig{Issuer: f.issuer.URL, Audiences: []string{oidcAudience}, HTTPClient: f.issuer.Client(),
		Roles: map[string][]auth.Role{groupSOC: {auth.RoleSOCAnalyst}, groupCompliance: {auth.RoleCompliance}}})
	if err != nil {
		t.Fatal(err)
	}
	f.secrets[whoOIDC] = f.issuer.Sign(t, f.issuer.Claims("alice", oidcAudience, groupSOC, groupCompliance))
	f.secrets[whoOIDCNoRole] = f.issuer.Sign(t, f.issuer.Claims("mallory", oidcAudience, "grp-everyone"))
	expired := f.issuer.Claims("alice", oidcAudience, groupSOC)
	expired["exp"], expired["iat"] = time.Now().Add(-time.Minute).Unix(), time.Now().Add(-time.Hour).Unix()
	f.secrets[whoOIDCExpired] = f.issuer.Sign(t, expired)
	f.secrets[whoOIDCWrongAud] = f.issuer.Sign(t, f.issuer.Claims("alice", "another-app", groupSOC))
	valid := strings.Split(f.secrets[whoOIDC], ".")
	f.secrets[whoOIDCForgedSig] = valid[0] + "." + valid[1] + "." + strings.Repeat("A", len(valid[2]))

	stand := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, _ := auth.FromContext(r.Context())
			f.mu.Lock()
			f.reached = append(f.reached, name+" "+p.Name())
			f.mu.Unlock()
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusNoContent)
		})
	}
	if limiter == nil {
		limiter = auth.NewFailureLimiter(auth.LimiterConfig{MaxFailures: 1 << 30})
	}
	f.srv = &Server{
		Ledger: led, Tokens: f.tokens, OIDC: oidcV, Limiter: limiter, Log: slog.New(slog.DiscardHandler),
		K8sAudit: stand("k8s-audit"),
		Ingest: map[string]http.Handler{
			PatternIngestApp: stand("app"), PatternIngestAzure: stand("azure"), PatternOTLPLogs: stand("otlp"), PatternESBulk: stand("esbulk"),
		},
		Metrics:   stand("metrics"),
		Stats:     ingest.NewStats(nil),
		Retention: fakeGuards{},
		Incidents: fakeGuards{},
		Health:    fakeGuards{},
		Rehydrate: func(context.Context, time.Time, time.Time, time.Time) (uint64, uint64, uint64, error) {
			return 0, 0, 0, nil
		},
		Query: func(context.Context, string) (*kql.Result, error) {
			return &kql.Result{Tables: []*kql.Table{}}, nil
		},
		Audit: func(_ context.Context, a event.SelfAudit) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.auditErr != nil {
				return f.auditErr
			}
			f.records = append(f.records, a)
			return nil
		},
	}
	f.handler = f.srv.Handler()
	return f
}

// do sends a request from addr (default 192.0.2.10) with the credential
// of who (a role or a special principal) as a bearer token.
func (f *gateFixture) do(method, target, who, body, addr string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	if addr == "" {
		addr = "192.0.2.10"
	}
	req.RemoteAddr = addr + ":40000"
	req.Header.Set("User-Agent", "gate-test/1")
	if s := f.secrets[who]; s != "" {
		req.Header.Set("Authorization", "Bearer "+s)
	} else if who != whoNone {
		panic("no secret for " + who)
	}
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, req)
	return w
}

// since returns the records appended after the first n.
func (f *gateFixture) since(n int) []event.SelfAudit {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]event.SelfAudit(nil), f.records[n:]...)
}

func (f *gateFixture) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.records)
}

// fakeGuards stands in for the retention manager, the detector's
// incidents and the health monitor: the gate is what these tests check,
// the handlers' own tests are beside them.
type fakeGuards struct{}

func (fakeGuards) Status() retention.Status                              { return retention.Status{} }
func (fakeGuards) SetHold(context.Context, bool, string, string) error   { return nil }
func (fakeGuards) Incidents() []alert.IncidentChange                     { return nil }
func (fakeGuards) Summary() health.Summary                               { return health.Summary{} }
func (fakeGuards) Resolve(context.Context, string, string, string) error { return health.ErrFailureID }
func (fakeGuards) SetIncidentStatus(context.Context, string, string, string, string) (alert.IncidentChange, error) {
	return alert.IncidentChange{}, alert.ErrNoIncident
}
