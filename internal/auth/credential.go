package auth

import (
	"encoding/base64"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Credential returns the cdewatch token a request presents in its
// Authorization header, whichever scheme the client speaks — cdewatch's
// own clients and the kube-apiserver webhook send Bearer, shippers'
// Elasticsearch outputs often only basic auth or an API key (schemes are
// matched case-insensitively):
//
//   - "Bearer <token>" (Vector auth.strategy bearer, the Go client's
//     ServiceToken): the token;
//   - "Basic base64(user:password)" (Fluent Bit HTTP_User/HTTP_Passwd,
//     Fluentd user/password, Filebeat username/password, Vector
//     auth.strategy basic): the password, the user name being ignored;
//   - "ApiKey base64(id:key)" (Filebeat api_key "id:key", the Go client's
//     APIKey): the key; a value that does not decode to "id:key" is taken
//     as the token itself.
//
// It returns "" when there is no such header or it cannot be read.
func Credential(r *http.Request) string {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, value, ok := strings.Cut(h, " ")
	if !ok {
		return ""
	}
	value = strings.TrimSpace(value)
	if value == "" {
		return ""
	}
	switch strings.ToLower(scheme) {
	case "bearer":
		return value
	case "basic":
		dec, ok := decodeBase64(value)
		if !ok {
			return ""
		}
		_, pass, ok := strings.Cut(dec, ":")
		if !ok {
			return ""
		}
		return pass
	case "apikey":
		if dec, ok := decodeBase64(value); ok {
			if _, key, ok := strings.Cut(dec, ":"); ok && key != "" {
				return key
			}
		}
		return value
	}
	return ""
}

// decodeBase64 decodes standard or URL base64, padded or not, into text
// (valid UTF-8 without control characters): a token that merely happens
// to be valid base64 does not decode.
func decodeBase64(s string) (string, bool) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			t := string(b)
			if !utf8.ValidString(t) || strings.ContainsFunc(t, unicode.IsControl) {
				return "", false
			}
			return t, true
		}
	}
	return "", false
}
