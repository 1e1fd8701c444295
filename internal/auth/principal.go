package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Principal is an authenticated caller: a cdewatch token, or a user signed
// in through OIDC.
type Principal struct {
	// TokenID is the cdewatch token's ID; empty for an OIDC user.
	TokenID string
	// Role is the token's role; for an OIDC user the first of Roles (in
	// the order of the Roles function).
	Role Role
	// Roles are all the caller's roles: a token's one role, or every
	// role an OIDC user's claims map to. Nil means just Role.
	Roles []Role
	// Source is the source an ingest token is bound to.
	Source string
	// User, Subject and Issuer identify an OIDC user: the name shown in
	// audit records (preferred_username, email or upn claim, else sub),
	// and the token's sub and iss claims.
	User, Subject, Issuer string
}

// AllRoles returns Roles, or Role alone when Roles is nil.
func (p Principal) AllRoles() []Role {
	if p.Roles == nil {
		if p.Role == "" {
			return nil
		}
		return []Role{p.Role}
	}
	return p.Roles
}

// Has reports whether the principal holds role r.
func (p Principal) Has(r Role) bool { return slices.Contains(p.AllRoles(), r) }

// RoleText is the principal's roles separated by commas.
func (p Principal) RoleText() string {
	rs := p.AllRoles()
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}

// Name identifies the principal in audit records: "token:<id> (<role>)",
// with ", source <name>" for an ingest token, or "oidc:<user> (<roles>)".
func (p Principal) Name() string {
	switch {
	case p.TokenID == "" && p.Subject != "":
		return fmt.Sprintf("oidc:%s (%s)", p.User, p.RoleText())
	case p.Source != "":
		return fmt.Sprintf("token:%s (%s, source %s)", p.TokenID, p.RoleText(), p.Source)
	}
	return fmt.Sprintf("token:%s (%s)", p.TokenID, p.RoleText())
}

type ctxKey struct{}

// WithPrincipal returns a context carrying the authenticated principal.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal set by WithPrincipal.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}
