package auth_test

import (
	"encoding/base64"
	"net/http"
	"testing"

	"github.com/cdewatch/cdewatch/internal/auth"
)

func TestCredential(t *testing.T) {
	const tok = "cdw_Zm9vYmFyYmF6cXV4cXV1eHF1dXpxdXV6cXV1enF1dXo"
	b64 := base64.StdEncoding.EncodeToString
	for _, tc := range []struct {
		name, header, want string
	}{
		{"none", "", ""},
		{"bearer", "Bearer " + tok, tok},
		{"bearer lower case, extra spaces", "bearer   " + tok + " ", tok},
		{"bearer empty", "Bearer ", ""},
		{"basic (Fluent Bit HTTP_User/HTTP_Passwd)", "Basic " + b64([]byte("fluent-bit:"+tok)), tok},
		{"basic without user", "Basic " + b64([]byte(":"+tok)), tok},
		{"basic password with colon", "Basic " + b64([]byte("u:a:b")), "a:b"},
		{"basic without colon", "Basic " + b64([]byte(tok)), ""},
		{"basic not base64", "Basic %%%", ""},
		{"apikey id:key (Filebeat api_key)", "ApiKey " + b64([]byte("node-4:"+tok)), tok},
		{"apikey unpadded url base64", "ApiKey " + base64.RawURLEncoding.EncodeToString([]byte("id:"+tok)), tok},
		{"apikey the token itself", "ApiKey " + tok, tok},
		{"apikey empty key", "ApiKey " + b64([]byte("id:")), b64([]byte("id:"))},
		{"unknown scheme", "Digest username=x", ""},
		{"no scheme", tok, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodPost, "http://cdewatch/_bulk", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			if got := auth.Credential(r); got != tc.want {
				t.Errorf("Credential(%q) = %q, want %q", tc.header, got, tc.want)
			}
		})
	}
}
