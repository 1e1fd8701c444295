package auth

import (
	"strings"
	"testing"
)

func TestParseRole(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   Role
		wantIn string // error substring; "" for success
	}{
		{"log-reader", RoleLogReader, ""},
		{"soc-analyst", RoleSOCAnalyst, ""},
		{"platform-admin", RolePlatformAdmin, ""},
		{"compliance", RoleCompliance, ""},
		{"auditor", RoleAuditor, ""},
		{"ingest", RoleIngest, ""},
		{"metrics", RoleMetrics, ""},
		{" auditor ", RoleAuditor, ""},
		{"admin", "", `role "admin" was renamed: use platform-admin`},
		{"reader", "", `role "reader" was renamed: use log-reader`},
		{"Auditor", "", `unknown role "Auditor"`},
		{"", "", "unknown role"},
	} {
		got, err := ParseRole(tc.in)
		if tc.wantIn == "" && (err != nil || got != tc.want) || tc.wantIn != "" && (err == nil || !strings.Contains(err.Error(), tc.wantIn)) {
			t.Errorf("ParseRole(%q) = %q, %v; want %q, %q", tc.in, got, err, tc.want, tc.wantIn)
		}
	}
}

func TestRolesTable(t *testing.T) {
	seen := map[Role]bool{}
	for _, r := range Roles() {
		if seen[r.Role] || r.Team == "" || r.Summary == "" {
			t.Errorf("role %+v repeated or undocumented", r)
		}
		seen[r.Role] = true
		if r.Machine != (r.Role == RoleIngest || r.Role == RoleMetrics) {
			t.Errorf("%s: machine %v", r.Role, r.Machine)
		}
	}
	for old, nr := range legacyRoles {
		if old.Valid() || !nr.Valid() {
			t.Errorf("legacy %s → %s", old, nr)
		}
	}
}

func TestPrincipalName(t *testing.T) {
	for _, tc := range []struct {
		p    Principal
		want string
	}{
		{Principal{TokenID: "ab12", Role: RoleLogReader}, "token:ab12 (log-reader)"},
		{Principal{TokenID: "ab12", Role: RoleIngest, Source: "c1"}, "token:ab12 (ingest, source c1)"},
		{Principal{User: "alice@corp.example", Subject: "s-1", Role: RoleSOCAnalyst, Roles: []Role{RoleSOCAnalyst, RoleCompliance}}, "oidc:alice@corp.example (soc-analyst,compliance)"},
	} {
		if got := tc.p.Name(); got != tc.want {
			t.Errorf("Name() = %q, want %q", got, tc.want)
		}
	}
	p := Principal{Role: RoleSOCAnalyst, Roles: []Role{RoleSOCAnalyst, RoleCompliance}}
	if !p.Has(RoleCompliance) || p.Has(RoleAuditor) {
		t.Error("Has")
	}
	if (Principal{Role: RoleAuditor}).Has(RoleAuditor) != true || (Principal{}).Has("") {
		t.Error("Has without Roles")
	}
}
