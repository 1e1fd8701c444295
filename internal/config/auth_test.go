package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseAuth(t *testing.T) {
	const oidc = "auth:\n  oidc:\n    issuer: https://login.microsoftonline.com/t/v2.0\n    audiences: [api://cdewatch]\n"
	for _, tc := range []struct {
		name, yaml, wantErr string
		check               func(testing.TB, *Config)
	}{
		{name: "defaults", yaml: "", check: func(t testing.TB, c *Config) {
			if c.Auth.OIDC.Enabled() || c.Auth.FailureLimit != 0 {
				t.Errorf("auth defaults: %+v", c.Auth)
			}
			if l := c.Auth.LimiterConfig(); l.MaxFailures != 0 || l.Window != 0 {
				t.Errorf("limiter: %+v", l)
			}
		}},
		{name: "limit", yaml: "auth:\n  failure_limit: 5\n  failure_window: 10m\n", check: func(t testing.TB, c *Config) {
			if l := c.Auth.LimiterConfig(); l.MaxFailures != 5 || l.Window != 10*time.Minute {
				t.Errorf("limiter: %+v", l)
			}
		}},
		{name: "negative limit", yaml: "auth:\n  failure_limit: -1\n", wantErr: "line 2: auth.failure_limit"},
		{name: "window too long", yaml: "auth:\n  failure_window: 48h\n", wantErr: "line 2: auth.failure_window"},
		{name: "oidc", yaml: oidc + "    roles:\n      grp-soc: [soc-analyst, compliance]\n", check: func(t testing.TB, c *Config) {
			o := c.Auth.OIDC.OIDCConfig()
			if !c.Auth.OIDC.Enabled() || o.Issuer != "https://login.microsoftonline.com/t/v2.0" || len(o.Roles["grp-soc"]) != 2 || o.Roles["grp-soc"][1] != "compliance" {
				t.Errorf("oidc: %+v", o)
			}
		}},
		{name: "oidc without issuer", yaml: "auth:\n  oidc:\n    audiences: [x]\n", wantErr: "auth.oidc.issuer: must be set"},
		{name: "oidc http issuer", yaml: "auth:\n  oidc:\n    issuer: http://idp\n    audiences: [x]\n    roles: {g: [auditor]}\n", wantErr: "line 3: auth.oidc.issuer"},
		{name: "oidc without audience", yaml: "auth:\n  oidc:\n    issuer: https://idp\n    roles: {g: [auditor]}\n", wantErr: "auth.oidc.audiences"},
		{name: "oidc without roles", yaml: oidc, wantErr: "auth.oidc.roles: map at least one"},
		{name: "oidc old role name", yaml: oidc + "    roles:\n      g: [admin]\n", wantErr: `role "admin" was renamed: use platform-admin`},
		{name: "oidc machine role", yaml: oidc + "    roles:\n      g: [ingest]\n", wantErr: "ingest is a role for programs"},
		{name: "oidc unknown key", yaml: oidc + "    client_secret: x\n", wantErr: "field client_secret not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
			if err := c.Auth.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}
