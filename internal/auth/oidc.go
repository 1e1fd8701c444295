package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/cdewatch/cdewatch/internal/tlsutil"
)

// OIDCConfig configures sign-in with the tokens of an OpenID Connect
// provider (Microsoft Entra ID, Keycloak, Dex, Okta, …).
type OIDCConfig struct {
	// Issuer is the provider's issuer URL (https), exactly as the tokens'
	// iss claim gives it, e.g. https://login.microsoftonline.com/<tenant>/v2.0.
	// Its /.well-known/openid-configuration names the signing keys (JWKS).
	Issuer string
	// Audiences are the accepted aud values: the client ID for ID tokens,
	// the API's identifier (e.g. api://cdewatch) for access tokens. A token
	// must name one of them.
	Audiences []string
	// RolesClaim is the claim whose values map to roles, a dotted path for
	// a nested one (realm_access.roles); default "groups".
	RolesClaim string
	// Roles maps values of RolesClaim (group object IDs, group or app
	// role names) to cdewatch roles; a user holds every role a value of
	// theirs maps to. Machine roles (ingest, metrics) cannot be granted.
	Roles map[string][]Role
	// UserClaim names the user in audit records; default: the first of
	// preferred_username, email, upn that is set, else sub.
	UserClaim string
	// CAFile, if set, is a PEM file of certificates to trust for the
	// issuer's TLS besides the system's.
	CAFile string
	// HTTPClient fetches the discovery document and the keys; default a
	// client with a 10 s timeout (and CAFile).
	HTTPClient *http.Client
	// RetryInterval is the least time between two discovery attempts
	// after one failed; default 30 s.
	RetryInterval time.Duration
	// Now is the clock tokens' expiry is checked against; default time.Now.
	Now func() time.Time
}

// OIDC verifies bearer JWTs (ID tokens or access tokens) issued by one
// OpenID Connect provider, with github.com/coreos/go-oidc: the signature
// against the provider's published keys (fetched, cached and refreshed on
// an unknown key id), the issuer, the audience and the expiry. The
// provider is discovered at the first token, and again after a failure
// (at most once per RetryInterval), so the API starts while the provider
// is unreachable. Safe for concurrent use.
type OIDC struct {
	cfg    OIDCConfig
	client *http.Client

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
	lastErr  error
	lastTry  time.Time
}

// ErrOIDCUnavailable is returned by Verify while the provider's discovery
// document cannot be fetched.
var ErrOIDCUnavailable = errors.New("the OIDC provider could not be reached to verify the token")

// OIDC token rejection reasons (OIDCError.Reason).
const (
	ReasonExpired  = "expired"
	ReasonAudience = "audience"
	ReasonIssuer   = "issuer"
	ReasonInvalid  = "invalid"
)

// OIDCError is a token the verifier refused. Reason is one of the
// Reason constants; Err is the verifier's error (for the audit record).
type OIDCError struct {
	Reason string
	Err    error
}

func (e *OIDCError) Error() string {
	switch e.Reason {
	case ReasonExpired:
		return "the OIDC token has expired: sign in again"
	case ReasonAudience:
		return "the OIDC token is not meant for this API (its aud is none of auth.oidc.audiences)"
	case ReasonIssuer:
		return "the OIDC token was not issued by the configured issuer (auth.oidc.issuer)"
	}
	return "the OIDC token is invalid: its signature does not verify with the issuer's keys, or it is malformed"
}

func (e *OIDCError) Unwrap() error { return e.Err }

// NoRoleError is a valid OIDC token whose claims map to no role.
type NoRoleError struct {
	User, Subject, Claim string
	Values               []string // the claim's values, at most 20
}

func (e *NoRoleError) Error() string {
	return fmt.Sprintf("signed in as %s, but no value of the token's %q claim is mapped to a cdewatch role (auth.oidc.roles)", e.User, e.Claim)
}

// NewOIDC checks c and returns a verifier; it does not contact the
// provider yet.
func NewOIDC(c OIDCConfig) (*OIDC, error) {
	u, err := url.Parse(c.Issuer)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("oidc issuer %q: want an https URL, e.g. https://login.microsoftonline.com/<tenant>/v2.0", c.Issuer)
	}
	if len(c.Audiences) == 0 || slices.Contains(c.Audiences, "") {
		return nil, errors.New("oidc: name the accepted audiences (the client ID, or the API's identifier for access tokens)")
	}
	if len(c.Roles) == 0 {
		return nil, errors.New("oidc: map at least one claim value to a role (roles)")
	}
	for v, roles := range c.Roles {
		for _, r := range roles {
			if _, err := ParseRole(string(r)); err != nil {
				return nil, fmt.Errorf("oidc roles[%q]: %w", v, err)
			}
			if r.Machine() {
				return nil, fmt.Errorf("oidc roles[%q]: %s is a role for programs, not people; OIDC sign-in cannot grant it", v, r)
			}
		}
	}
	if c.RolesClaim == "" {
		c.RolesClaim = "groups"
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	client := c.HTTPClient
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if c.CAFile != "" {
			pool, err := x509.SystemCertPool()
			if err != nil {
				pool = nil
			}
			if pool, err = tlsutil.AppendCertsFile(pool, c.CAFile); err != nil {
				return nil, fmt.Errorf("oidc ca_file: %w", err)
			}
			tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		client = &http.Client{Timeout: 10 * time.Second, Transport: tr}
	}
	return &OIDC{cfg: c, client: client}, nil
}

// LooksLikeJWT reports whether s has the shape of a compact JWS (three
// base64url parts), which is how the API tells an OIDC token from a
// cdewatch token.
func LooksLikeJWT(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.ContainsFunc(p, func(r rune) bool {
			return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
		}) {
			return false
		}
	}
	return true
}

// Issuer returns the configured issuer URL.
func (o *OIDC) Issuer() string { return o.cfg.Issuer }

// getVerifier discovers the provider once, or again after a failure at
// most once per RetryInterval.
func (o *OIDC) getVerifier() (*oidc.IDTokenVerifier, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.verifier != nil {
		return o.verifier, nil
	}
	now := time.Now()
	if o.lastErr != nil && now.Sub(o.lastTry) < o.cfg.RetryInterval {
		return nil, fmt.Errorf("%w: %w", ErrOIDCUnavailable, o.lastErr)
	}
	o.lastTry = now
	ctx, cancel := context.WithTimeout(oidc.ClientContext(context.Background(), o.client), 15*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(ctx, o.cfg.Issuer)
	if err != nil {
		o.lastErr = fmt.Errorf("discover %s: %w", o.cfg.Issuer, err)
		return nil, fmt.Errorf("%w: %w", ErrOIDCUnavailable, o.lastErr)
	}
	// The audience is checked below against a list; go-oidc takes one.
	o.verifier = p.VerifierContext(oidc.ClientContext(context.Background(), o.client),
		&oidc.Config{SkipClientIDCheck: true, Now: o.cfg.Now})
	o.lastErr = nil
	return o.verifier, nil
}

// Verify checks a bearer JWT and returns its principal: ErrOIDCUnavailable
// while the provider cannot be reached, *OIDCError for a token refused,
// *NoRoleError for a valid token that grants no role.
func (o *OIDC) Verify(ctx context.Context, raw string) (Principal, error) {
	v, err := o.getVerifier()
	if err != nil {
		return Principal{}, err
	}
	tok, err := v.Verify(ctx, raw)
	if err != nil {
		return Principal{}, o.classify(raw, err)
	}
	if !slices.ContainsFunc(tok.Audience, func(a string) bool { return slices.Contains(o.cfg.Audiences, a) }) {
		return Principal{}, &OIDCError{Reason: ReasonAudience, Err: fmt.Errorf("audience %q is none of %q", tok.Audience, o.cfg.Audiences)}
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return Principal{}, &OIDCError{Reason: ReasonInvalid, Err: err}
	}
	user := o.userName(claims, tok.Subject)
	values := claimValues(claims, o.cfg.RolesClaim)
	var roles []Role
	for _, info := range Roles() {
		for _, v := range values {
			if slices.Contains(o.cfg.Roles[v], info.Role) {
				roles = append(roles, info.Role)
				break
			}
		}
	}
	if len(roles) == 0 {
		return Principal{}, &NoRoleError{User: user, Subject: tok.Subject, Claim: o.cfg.RolesClaim, Values: values[:min(len(values), 20)]}
	}
	return Principal{Role: roles[0], Roles: roles, User: user, Subject: tok.Subject, Issuer: tok.Issuer}, nil
}

// classify turns a verification error into an OIDCError, reading the
// token's claims unverified only to say why it was refused.
func (o *OIDC) classify(raw string, err error) error {
	var exp *oidc.TokenExpiredError
	if errors.As(err, &exp) {
		return &OIDCError{Reason: ReasonExpired, Err: err}
	}
	parts := strings.Split(raw, ".")
	if len(parts) == 3 {
		if b, derr := base64.RawURLEncoding.DecodeString(parts[1]); derr == nil {
			var c struct {
				Iss string `json:"iss"`
			}
			if json.Unmarshal(b, &c) == nil && c.Iss != "" && c.Iss != o.cfg.Issuer {
				return &OIDCError{Reason: ReasonIssuer, Err: err}
			}
		}
	}
	return &OIDCError{Reason: ReasonInvalid, Err: err}
}

// userName returns the name of the user for audit records.
func (o *OIDC) userName(claims map[string]any, sub string) string {
	names := []string{"preferred_username", "email", "upn"}
	if o.cfg.UserClaim != "" {
		names = []string{o.cfg.UserClaim}
	}
	for _, n := range names {
		if s, ok := claims[n].(string); ok && s != "" {
			return s
		}
	}
	return sub
}

// claimValues returns the string values of the claim at a dotted path: a
// string, or the strings of an array.
func claimValues(claims map[string]any, path string) []string {
	var cur any = claims
	if v, ok := claims[path]; ok {
		cur = v // a claim whose name itself contains dots
	} else {
		for _, k := range strings.Split(path, ".") {
			m, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = m[k]
		}
	}
	switch v := cur.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
