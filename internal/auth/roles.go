package auth

import (
	"fmt"
	"slices"
	"strings"
)

// Role is what a caller may do. The roles follow the responsibilities of
// PCI DSS Requirement 10.1.2 as Microsoft's AKS PCI guide assigns them
// (SOC team, platform team, compliance team) and its custom "PCI DSS Log
// Reader" role (10.3.1: read access to audit logs limited to those with a
// job-related need). No role may change or delete what the ledger holds
// (10.3.2): the API has no such operation.
type Role string

// Roles.
const (
	// RoleLogReader runs queries over the audit logs and sees the
	// per-source view: the "PCI DSS Log Reader" role, nothing it can write.
	RoleLogReader Role = "log-reader"
	// RoleSOCAnalyst is the SOC team: queries, and the alert lifecycle
	// (acknowledge, resolve, reopen) and review sign-offs (10.4.1).
	RoleSOCAnalyst Role = "soc-analyst"
	// RolePlatformAdmin is the platform team: runs the logging
	// infrastructure: API credentials, sources, metrics, checkpoints and
	// proofs. It does not read the audit logs' content.
	RolePlatformAdmin Role = "platform-admin"
	// RoleCompliance is the compliance team: reports and queries, and the
	// integrity evidence (checkpoints, proofs).
	RoleCompliance Role = "compliance"
	// RoleAuditor is an assessor: read-only access to everything,
	// including the token list, checkpoints, proofs and tiles.
	RoleAuditor Role = "auditor"
	// RoleIngest sends events for the one source its token is bound to,
	// and uses nothing else.
	RoleIngest Role = "ingest"
	// RoleMetrics scrapes GET /metrics (a Prometheus server's
	// credential), and uses nothing else.
	RoleMetrics Role = "metrics"
)

// RoleInfo describes a role for documentation and error messages.
type RoleInfo struct {
	Role Role
	// Team is who holds the role, in the AKS PCI guide's RACI terms.
	Team string
	// Summary says what the role may do, in a sentence.
	Summary string
	// Machine is true for roles meant for programs (one per source or
	// scraper), not people; OIDC sign-in never grants them.
	Machine bool
}

// Roles returns every role in a fixed order: the order of documentation,
// of the columns of the permission matrix, and in which an OIDC user's
// roles are listed.
func Roles() []RoleInfo {
	return []RoleInfo{
		{RoleLogReader, "SOC team, anyone with a job-related need to read audit logs (10.3.1)",
			"runs KQL queries over the audit logs and sees the per-source view; writes nothing", false},
		{RoleSOCAnalyst, "SOC team (24/7 monitoring: responsible)",
			"what log-reader may, and changes an alert's status (acknowledge, resolve, reopen) with a reason (10.4.1)", false},
		{RolePlatformAdmin, "platform team (log infrastructure: responsible)",
			"manages API tokens, sees sources, metrics, checkpoints, proofs and tiles; cannot read log content, and no role can change or delete logs", false},
		{RoleCompliance, "compliance team (compliance reporting: responsible)",
			"runs queries and reports, sees sources, checkpoints and proofs", false},
		{RoleAuditor, "QSA or internal auditor",
			"reads everything the API serves (queries, sources, tokens, metrics, checkpoints, proofs, tiles); changes nothing", false},
		{RoleIngest, "a cluster's or application's log shipper (one token per source)",
			"sends events stamped with the source its token is bound to; nothing else", true},
		{RoleMetrics, "a Prometheus server",
			"scrapes GET /metrics; nothing else", true},
	}
}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool {
	return slices.ContainsFunc(Roles(), func(i RoleInfo) bool { return i.Role == r })
}

// Machine reports whether r is a role for programs, not people.
func (r Role) Machine() bool {
	for _, i := range Roles() {
		if i.Role == r {
			return i.Machine
		}
	}
	return false
}

// legacyRoles maps the role names of token stores written before the
// roles above existed to the role each became.
var legacyRoles = map[Role]Role{
	"admin":  RolePlatformAdmin,
	"reader": RoleLogReader,
}

// LegacyRole returns the role that a role name of an older token store
// became ("admin" → platform-admin, "reader" → log-reader), and whether
// old is such a name.
func LegacyRole(old Role) (Role, bool) {
	r, ok := legacyRoles[old]
	return r, ok
}

// roleNames is the list of valid role names for messages.
func roleNames() string {
	names := make([]string, 0, len(Roles()))
	for _, i := range Roles() {
		names = append(names, string(i.Role))
	}
	return strings.Join(names, ", ")
}

// ParseRole returns the role named s. An old role name is refused with
// the name that replaced it.
func ParseRole(s string) (Role, error) {
	r := Role(strings.TrimSpace(s))
	if r.Valid() {
		return r, nil
	}
	if nr, ok := LegacyRole(r); ok {
		return "", fmt.Errorf("role %q was renamed: use %s (roles: %s)", s, nr, roleNames())
	}
	return "", fmt.Errorf("unknown role %q (want one of %s)", s, roleNames())
}
