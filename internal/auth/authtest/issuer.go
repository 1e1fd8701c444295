// Package authtest runs an OpenID Connect provider for tests: an
// httptest TLS server that serves /.well-known/openid-configuration and
// its signing keys (JWKS), and signs JWTs with go-jose, so that tests
// exercise the real go-oidc verifier over HTTPS. It stands in for Entra
// ID, Keycloak and the like, which cannot run here.
package authtest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Issuer is a test OpenID Connect provider.
type Issuer struct {
	// URL is the issuer URL (https://127.0.0.1:port), the iss of its tokens.
	URL string
	srv *httptest.Server
	key *rsa.PrivateKey
	kid string
	// Discoveries counts requests for the discovery document.
	Discoveries atomic.Int64
}

// NewIssuer starts an issuer; it stops when the test ends.
func NewIssuer(tb testing.TB) *Issuer {
	tb.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	iss := &Issuer{key: key, kid: "test-key-1"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		iss.Discoveries.Add(1)
		writeJSON(w, map[string]any{
			"issuer":                                iss.URL,
			"authorization_endpoint":                iss.URL + "/authorize",
			"token_endpoint":                        iss.URL + "/token",
			"jwks_uri":                              iss.URL + "/keys",
			"response_types_supported":              []string{"code"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: iss.kid, Algorithm: string(jose.RS256), Use: "sig"}}})
	})
	iss.srv = httptest.NewTLSServer(mux)
	iss.URL = iss.srv.URL
	tb.Cleanup(iss.srv.Close)
	return iss
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Client returns an HTTP client that trusts the issuer's certificate.
func (i *Issuer) Client() *http.Client { return i.srv.Client() }

// CAFile writes the issuer's certificate to a PEM file in a temporary
// directory and returns its path.
func (i *Issuer) CAFile(tb testing.TB) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "issuer-ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: i.srv.Certificate().Raw})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// Close stops the issuer before the test ends (to test an unreachable one).
func (i *Issuer) Close() { i.srv.Close() }

// Claims returns the claims of a token for sub, valid for an hour from
// now, with aud and the groups given.
func (i *Issuer) Claims(sub, aud string, groups ...string) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss": i.URL, "sub": sub, "aud": aud,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"preferred_username": sub + "@corp.example",
	}
	if groups != nil {
		c["groups"] = groups
	}
	return c
}

// Sign returns claims as a JWT signed with the issuer's key.
func (i *Issuer) Sign(tb testing.TB, claims map[string]any) string {
	tb.Helper()
	return SignWith(tb, i.key, i.kid, claims)
}

// SignWith returns claims as a JWT signed (RS256) with key, its header
// naming kid.
func SignWith(tb testing.TB, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	tb.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		tb.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		tb.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// KeyID is the kid of the issuer's signing key.
func (i *Issuer) KeyID() string { return i.kid }
