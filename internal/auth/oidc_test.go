package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/auth"
	"github.com/cdewatch/cdewatch/internal/auth/authtest"
)

const (
	clientID = "cdewatch-ui"
	apiAud   = "api://cdewatch"
	socGroup = "9f0d5e7a-soc"
	compGrp  = "c0mpl1ance"
)

func newOIDC(tb testing.TB, iss *authtest.Issuer, mutate func(*auth.OIDCConfig)) *auth.OIDC {
	tb.Helper()
	c := auth.OIDCConfig{
		Issuer: iss.URL, Audiences: []string{clientID, apiAud}, HTTPClient: iss.Client(),
		Roles: map[string][]auth.Role{socGroup: {auth.RoleSOCAnalyst}, compGrp: {auth.RoleCompliance, auth.RoleLogReader}},
	}
	if mutate != nil {
		mutate(&c)
	}
	o, err := auth.NewOIDC(c)
	if err != nil {
		tb.Fatal(err)
	}
	return o
}

// The real go-oidc verifier against a local issuer: discovery, keys,
// signature, issuer, audience, expiry, and the claim → role mapping.
func TestOIDCVerify(t *testing.T) {
	iss := authtest.NewIssuer(t)
	o := newOIDC(t, iss, nil)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	expired := iss.Claims("alice", clientID, socGroup)
	expired["exp"] = time.Now().Add(-time.Minute).Unix()
	expired["iat"] = time.Now().Add(-time.Hour).Unix()
	foreign := iss.Claims("alice", clientID, socGroup)
	foreign["iss"] = "https://login.example.net/other"
	nested := iss.Claims("bob", apiAud)
	nested["realm_access"] = map[string]any{"roles": []any{"soc"}}

	for _, tc := range []struct {
		name       string
		token      string
		o          *auth.OIDC
		wantRoles  string // comma-separated; "" when refused
		wantUser   string
		wantReason string // OIDCError reason
		wantNoRole bool
	}{
		{name: "ID token, SOC group", token: iss.Sign(t, iss.Claims("alice", clientID, socGroup)), wantRoles: "soc-analyst", wantUser: "alice@corp.example"},
		{name: "access token for the API", token: iss.Sign(t, iss.Claims("alice", apiAud, socGroup)), wantRoles: "soc-analyst", wantUser: "alice@corp.example"},
		{name: "two groups: every role, in table order", token: iss.Sign(t, iss.Claims("carol", clientID, compGrp, "other", socGroup)), wantRoles: "log-reader,soc-analyst,compliance", wantUser: "carol@corp.example"},
		{name: "wrong audience", token: iss.Sign(t, iss.Claims("alice", "some-other-app", socGroup)), wantReason: auth.ReasonAudience},
		{name: "expired", token: iss.Sign(t, expired), wantReason: auth.ReasonExpired},
		{name: "unknown group", token: iss.Sign(t, iss.Claims("mallory", clientID, "everyone")), wantNoRole: true},
		{name: "no groups claim", token: iss.Sign(t, iss.Claims("mallory", clientID)), wantNoRole: true},
		{name: "bad signature (other key, same kid)", token: authtest.SignWith(t, other, iss.KeyID(), iss.Claims("alice", clientID, socGroup)), wantReason: auth.ReasonInvalid},
		{name: "unknown key id", token: authtest.SignWith(t, other, "rogue", iss.Claims("alice", clientID, socGroup)), wantReason: auth.ReasonInvalid},
		{name: "other issuer", token: iss.Sign(t, foreign), wantReason: auth.ReasonIssuer},
		{name: "tampered payload", token: tamper(iss.Sign(t, iss.Claims("alice", clientID, "everyone")), iss.Claims("alice", clientID, socGroup)), wantReason: auth.ReasonInvalid},
		{name: "nested claim", token: iss.Sign(t, nested), o: newOIDC(t, iss, func(c *auth.OIDCConfig) {
			c.RolesClaim = "realm_access.roles"
			c.Roles = map[string][]auth.Role{"soc": {auth.RoleSOCAnalyst}}
		}), wantRoles: "soc-analyst", wantUser: "bob@corp.example"},
		{name: "user claim", token: iss.Sign(t, iss.Claims("dave", clientID, socGroup)), o: newOIDC(t, iss, func(c *auth.OIDCConfig) { c.UserClaim = "sub" }),
			wantRoles: "soc-analyst", wantUser: "dave"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := o
			if tc.o != nil {
				v = tc.o
			}
			p, err := v.Verify(context.Background(), tc.token)
			var oerr *auth.OIDCError
			var norole *auth.NoRoleError
			switch {
			case tc.wantRoles != "":
				if err != nil || p.RoleText() != tc.wantRoles || p.User != tc.wantUser || p.TokenID != "" || p.Issuer != iss.URL || p.Subject == "" {
					t.Fatalf("principal %+v, err %v", p, err)
				}
				if !strings.HasPrefix(p.Name(), "oidc:"+tc.wantUser+" (") {
					t.Errorf("Name %q", p.Name())
				}
			case tc.wantNoRole:
				if !errors.As(err, &norole) || norole.User != "mallory@corp.example" || !strings.Contains(err.Error(), `"groups" claim`) {
					t.Fatalf("err %v", err)
				}
			default:
				if !errors.As(err, &oerr) || oerr.Reason != tc.wantReason {
					t.Fatalf("err %v, want reason %s", err, tc.wantReason)
				}
			}
		})
	}
	if n := iss.Discoveries.Load(); n != 3 {
		t.Errorf("%d discoveries for 3 verifiers, want one each", n)
	}
}

// tamper replaces the payload of a signed token.
func tamper(token string, claims map[string]any) string {
	parts := strings.Split(token, ".")
	b, _ := json.Marshal(claims)
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
}

// An unreachable provider is reported as such, and not asked again until
// the retry interval has passed.
func TestOIDCUnavailable(t *testing.T) {
	iss := authtest.NewIssuer(t)
	token := iss.Sign(t, iss.Claims("alice", clientID, socGroup))
	o := newOIDC(t, iss, func(c *auth.OIDCConfig) { c.RetryInterval = time.Hour })
	iss.Close()
	for range 3 {
		if _, err := o.Verify(context.Background(), token); !errors.Is(err, auth.ErrOIDCUnavailable) {
			t.Fatalf("err %v", err)
		}
	}
}

func TestNewOIDCValidation(t *testing.T) {
	good := auth.OIDCConfig{Issuer: "https://idp.example", Audiences: []string{"x"}, Roles: map[string][]auth.Role{"g": {auth.RoleAuditor}}}
	for _, tc := range []struct {
		name   string
		mutate func(*auth.OIDCConfig)
		wantIn string
	}{
		{"http issuer", func(c *auth.OIDCConfig) { c.Issuer = "http://idp.example" }, "want an https URL"},
		{"no audience", func(c *auth.OIDCConfig) { c.Audiences = nil }, "audiences"},
		{"empty audience", func(c *auth.OIDCConfig) { c.Audiences = []string{""} }, "audiences"},
		{"no roles", func(c *auth.OIDCConfig) { c.Roles = nil }, "map at least one"},
		{"machine role", func(c *auth.OIDCConfig) { c.Roles = map[string][]auth.Role{"g": {auth.RoleIngest}} }, "for programs"},
		{"unknown role", func(c *auth.OIDCConfig) { c.Roles = map[string][]auth.Role{"g": {"admin"}} }, "was renamed"},
		{"missing CA file", func(c *auth.OIDCConfig) { c.CAFile = "/nonexistent/ca.pem" }, "ca_file"},
	} {
		c := good
		tc.mutate(&c)
		if _, err := auth.NewOIDC(c); err == nil || !strings.Contains(err.Error(), tc.wantIn) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.wantIn)
		}
	}
	if _, err := auth.NewOIDC(good); err != nil {
		t.Error(err)
	}
}

func TestLooksLikeJWT(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", true},
		{"cdw_abc", false},
		{"a.b", false},
		{"a..c", false},
		{"a.b.c.d", false},
		{"a.b+.c", false},
		{"a.b.c=", false},
	} {
		if got := auth.LooksLikeJWT(tc.in); got != tc.want {
			t.Errorf("LooksLikeJWT(%q) = %v", tc.in, got)
		}
	}
}
