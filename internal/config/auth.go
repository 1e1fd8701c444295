package config

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"time"

	"github.com/cdewatch/cdewatch/internal/auth"
)

// Auth configures how API callers authenticate (internal/auth,
// docs/ACCESS.md). cdewatch tokens need no configuration; OIDC sign-in
// is off unless oidc.issuer is set.
type Auth struct {
	// FailureLimit failed authentications from one client address (an
	// IPv4 address, an IPv6 /64) within FailureWindow block it for
	// FailureWindow: 429 with Retry-After. 0: 10.
	FailureLimit  int      `yaml:"failure_limit"`
	FailureWindow Duration `yaml:"failure_window"` // 0: 1m
	OIDC          OIDC     `yaml:"oidc"`
}

// OIDC configures sign-in with the JWTs (ID tokens or access tokens) of
// an OpenID Connect provider (auth.OIDCConfig).
type OIDC struct {
	// Issuer is the provider's issuer URL (https), exactly as its tokens'
	// iss claim gives it; empty: OIDC is off.
	Issuer string `yaml:"issuer"`
	// Audiences are the accepted aud values: the client ID (ID tokens)
	// and/or the API's identifier (access tokens).
	Audiences []string `yaml:"audiences"`
	// RolesClaim is the claim mapped to roles (dotted for a nested one);
	// default "groups".
	RolesClaim string `yaml:"roles_claim"`
	// UserClaim names users in audit records; default preferred_username,
	// email or upn, else sub.
	UserClaim string `yaml:"user_claim"`
	// Roles maps each claim value (a group's object ID or name, an app
	// role) to the cdewatch roles it grants, e.g.
	// "5d1c…": [soc-analyst]. People's roles only: not ingest or metrics.
	Roles map[string][]string `yaml:"roles"`
	// CAFile is a PEM file of certificates to trust for the issuer besides
	// the system's.
	CAFile string `yaml:"ca_file"`
}

// Enabled reports whether OIDC sign-in is configured.
func (o OIDC) Enabled() bool { return o.Issuer != "" }

// Validate checks the section on its own; Config.Validate checks it with
// the lines of the file. Keys are named as in the file (auth.…).
func (a *Auth) Validate() error {
	var errs []error
	a.validate(func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	})
	return errors.Join(errs...)
}

// validate reports each problem to bad.
func (a *Auth) validate(bad func(key, format string, args ...any)) {
	if a.FailureLimit < 0 || a.FailureLimit > 10000 {
		bad("auth.failure_limit", "%d must be between 0 (the default, 10) and 10000", a.FailureLimit)
	}
	if a.FailureWindow < 0 || time.Duration(a.FailureWindow) > 24*time.Hour {
		bad("auth.failure_window", "%v must be between 0 (the default, 1m) and 24h", a.FailureWindow)
	}
	o := a.OIDC
	if !o.Enabled() {
		if len(o.Audiences) > 0 || len(o.Roles) > 0 || o.RolesClaim != "" || o.UserClaim != "" || o.CAFile != "" {
			bad("auth.oidc.issuer", "must be set when other auth.oidc keys are (the provider's issuer URL, e.g. https://login.microsoftonline.com/<tenant>/v2.0)")
		}
		return
	}
	if u, err := url.Parse(o.Issuer); err != nil || u.Scheme != "https" || u.Host == "" {
		bad("auth.oidc.issuer", "%q: want an https URL, exactly the iss claim of the provider's tokens", o.Issuer)
	}
	if len(o.Audiences) == 0 {
		bad("auth.oidc.audiences", "name at least one accepted audience: the client ID (ID tokens) or the API's identifier (access tokens)")
	}
	for i, v := range o.Audiences {
		if v == "" {
			bad(fmt.Sprintf("auth.oidc.audiences[%d]", i), "must not be empty")
		}
	}
	if len(o.Roles) == 0 {
		bad("auth.oidc.roles", "map at least one claim value to roles, e.g. \"<group id>\": [soc-analyst]")
	}
	values := make([]string, 0, len(o.Roles))
	for v := range o.Roles {
		values = append(values, v)
	}
	sort.Strings(values)
	for _, v := range values {
		key := fmt.Sprintf("auth.oidc.roles[%q]", v)
		if len(o.Roles[v]) == 0 {
			bad(key, "grants no role")
		}
		for _, name := range o.Roles[v] {
			r, err := auth.ParseRole(name)
			switch {
			case err != nil:
				bad(key, "%v", err)
			case r.Machine():
				bad(key, "%s is a role for programs; OIDC sign-in grants people's roles only", r)
			}
		}
	}
}

// OIDCConfig returns the settings of auth.NewOIDC.
func (o OIDC) OIDCConfig() auth.OIDCConfig {
	roles := make(map[string][]auth.Role, len(o.Roles))
	for v, names := range o.Roles {
		for _, n := range names {
			roles[v] = append(roles[v], auth.Role(n))
		}
	}
	return auth.OIDCConfig{Issuer: o.Issuer, Audiences: o.Audiences, RolesClaim: o.RolesClaim, UserClaim: o.UserClaim, Roles: roles, CAFile: o.CAFile}
}

// LimiterConfig returns the settings of auth.NewFailureLimiter.
func (a Auth) LimiterConfig() auth.LimiterConfig {
	return auth.LimiterConfig{MaxFailures: a.FailureLimit, Window: time.Duration(a.FailureWindow)}
}
