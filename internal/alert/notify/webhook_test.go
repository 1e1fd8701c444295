package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const testSecret = "0123456789abcdef-test-secret"

// received is one request a test receiver got.
type received struct {
	header http.Header
	body   []byte
}

// recorder is an httptest handler that records requests and answers with
// the status its respond function gives (200 if nil).
type recorder struct {
	mu      sync.Mutex
	reqs    []received
	respond func(n int, w http.ResponseWriter) bool // true: answered
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.reqs = append(r.reqs, received{req.Header.Clone(), body})
	n := len(r.reqs)
	respond := r.respond
	r.mu.Unlock()
	if respond != nil && respond(n, w) {
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (r *recorder) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.reqs...)
}

func newWebhook(tb testing.TB, url string, mod func(*WebhookConfig)) *Webhook {
	tb.Helper()
	c := WebhookConfig{Name: "hook", URL: url, Secret: testSecret, Headers: map[string]string{"Authorization": "Bearer t0k"}, Timeout: 5 * time.Second}
	if mod != nil {
		mod(&c)
	}
	w, err := NewWebhook(c)
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

func TestWebhookPayloadAndSignature(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	w := newWebhook(t, srv.URL+"/hook", nil)
	sent := time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)
	w.now = func() time.Time { return sent }
	alerts := sampleAlerts(t)
	if err := w.Send(context.Background(), alerts); err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	golden(t, "webhook.golden.json", r.body)
	if got := r.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type %q", got)
	}
	if got := r.header.Get("Authorization"); got != "Bearer t0k" {
		t.Errorf("Authorization %q", got)
	}
	ts := r.header.Get(HeaderTimestamp)
	if ts != strconv.FormatInt(sent.Unix(), 10) {
		t.Errorf("timestamp %q", ts)
	}
	sig := r.header.Get(HeaderSignature)
	if !strings.HasPrefix(sig, "sha256=") || len(sig) != 7+64 {
		t.Errorf("signature header %q", sig)
	}
	if err := Verify([]byte(testSecret), sig, ts, r.body, sent.Add(time.Minute), 0); err != nil {
		t.Errorf("Verify: %v", err)
	}
	var env Envelope
	if err := json.Unmarshal(r.body, &env); err != nil {
		t.Fatal(err)
	}
	if env.Version != 1 || !env.Sent.Equal(sent) || len(env.Alerts) != len(alerts) {
		t.Fatalf("envelope %+v", env)
	}
	for i, a := range env.Alerts {
		if a.ID != AlertID(alerts[i]) || AlertID(a.Alert) != a.ID {
			t.Errorf("alert %d: id %s, want %s (and stable after decoding)", i, a.ID, AlertID(alerts[i]))
		}
		if !reflect.DeepEqual(stripTimes(a.Alert), stripTimes(alerts[i])) || !a.Time.Equal(alerts[i].Time) || !a.Detected.Equal(alerts[i].Detected) {
			t.Errorf("alert %d round trip:\n got %+v\nwant %+v", i, a.Alert, alerts[i])
		}
	}
}

func TestVerify(t *testing.T) {
	secret := []byte(testSecret)
	body := []byte(`{"version":1,"alerts":[]}`)
	now := time.Unix(1_800_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := Sign(secret, ts, body)
	old := strconv.FormatInt(now.Add(-6*time.Minute).Unix(), 10)
	future := strconv.FormatInt(now.Add(6*time.Minute).Unix(), 10)
	tests := []struct {
		name       string
		secret     []byte
		header, ts string
		body       []byte
		want       error
	}{
		{"valid", secret, sig, ts, body, nil},
		{"valid among several (secret rotation)", secret, Sign([]byte("the-previous-secret-16"), ts, body) + ", " + sig, ts, body, nil},
		{"wrong secret", []byte("another-secret-0123456"), sig, ts, body, ErrBadSignature},
		{"tampered body", secret, sig, ts, []byte(`{"version":1,"alerts":[{}]}`), ErrBadSignature},
		{"timestamp changed", secret, sig, strconv.FormatInt(now.Unix()+1, 10), body, ErrBadSignature},
		{"flipped hex digit", secret, sig[:20] + string(sig[20]^1) + sig[21:], ts, body, ErrBadSignature},
		{"no prefix", secret, strings.TrimPrefix(sig, "sha256="), ts, body, ErrBadSignature},
		{"old timestamp (replay after the window)", secret, Sign(secret, old, body), old, body, ErrStaleTimestamp},
		{"timestamp far in the future", secret, Sign(secret, future, body), future, body, ErrStaleTimestamp},
		{"garbage timestamp", secret, Sign(secret, "soon", body), "soon", body, ErrStaleTimestamp},
		{"signed timestamp with sign", secret, Sign(secret, "+"+ts, body), "+" + ts, body, ErrStaleTimestamp},
		{"missing signature", secret, "", ts, body, ErrNoSignature},
		{"missing timestamp", secret, sig, "", body, ErrNoSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.secret, tt.header, tt.ts, tt.body, now, 5*time.Minute)
			if !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestReplayCache(t *testing.T) {
	secret := []byte(testSecret)
	body := []byte(`{}`)
	now := time.Unix(1_800_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := Sign(secret, ts, body)
	c := NewReplayCache(5*time.Minute, 2)
	steps := []struct {
		name    string
		sig, ts string
		at      time.Time
		want    error
	}{
		{"first delivery", sig, ts, now, nil},
		{"replayed copy", sig, ts, now.Add(time.Second), ErrReplay},
		{"replayed at the window's edge", sig, ts, now.Add(5 * time.Minute), ErrReplay},
		{"another request", "sha256=other", ts, now.Add(2 * time.Second), nil},
		{"cache full", "sha256=third", ts, now.Add(3 * time.Second), ErrReplayFull},
		{"after expiry Verify refuses it; the cache forgets it", sig, ts, now.Add(5*time.Minute + 2*time.Second), nil},
	}
	for _, s := range steps {
		if err := c.Check(s.sig, s.ts, s.at); !errors.Is(err, s.want) {
			t.Errorf("%s: Check = %v, want %v", s.name, err, s.want)
		}
	}
}

// TestWebhookReceiver runs a receiver as docs/NOTIFIERS.md shows it:
// Verify, then the replay cache; a replayed request is refused.
func TestWebhookReceiver(t *testing.T) {
	cache := NewReplayCache(time.Minute, 0)
	var mu sync.Mutex
	var accepted, refused int
	var last received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		sig, ts := r.Header.Get(HeaderSignature), r.Header.Get(HeaderTimestamp)
		err := Verify([]byte(testSecret), sig, ts, body, time.Now(), time.Minute)
		if err == nil {
			err = cache.Check(sig, ts, time.Now())
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			refused++
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		accepted++
		last = received{r.Header.Clone(), body}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	w := newWebhook(t, srv.URL, nil)
	if err := w.Send(context.Background(), sampleAlerts(t)[:1]); err != nil {
		t.Fatal(err)
	}
	// An attacker replays the captured request.
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(string(last.body)))
	req.Header = last.header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("replayed request: %s", resp.Status)
	}
	// A webhook with the wrong secret is refused, permanently (401).
	bad := newWebhook(t, srv.URL, func(c *WebhookConfig) { c.Secret = "not-the-shared-secret" })
	if err := bad.Send(context.Background(), sampleAlerts(t)[:1]); !IsPermanent(err) {
		t.Errorf("wrong secret: %v, want a permanent error", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if accepted != 1 || refused != 2 {
		t.Errorf("accepted %d refused %d, want 1 and 2", accepted, refused)
	}
}

func TestHTTPStatusClassification(t *testing.T) {
	tests := []struct {
		status     int
		retryAfter string
		wantErr    bool
		permanent  bool
		after      time.Duration
	}{
		{200, "", false, false, 0},
		{202, "", false, false, 0},
		{204, "", false, false, 0},
		{302, "", true, true, 0},
		{400, "", true, true, 0},
		{401, "", true, true, 0},
		{403, "", true, true, 0},
		{404, "", true, true, 0},
		{410, "", true, true, 0},
		{413, "", true, true, 0},
		{408, "", true, false, 0},
		{429, "7", true, false, 7 * time.Second},
		{500, "", true, false, 0},
		{502, "", true, false, 0},
		{503, "120", true, false, 2 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				if tt.status == 302 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, "receiver says no\n")
			}))
			defer srv.Close()
			err := newWebhook(t, srv.URL, nil).Send(context.Background(), sampleAlerts(t))
			if (err != nil) != tt.wantErr || IsPermanent(err) != tt.permanent {
				t.Fatalf("err = %v; want error %v, permanent %v", err, tt.wantErr, tt.permanent)
			}
			if d, ok := RetryAfterOf(err); d != tt.after || ok != (tt.after != 0) {
				t.Errorf("RetryAfterOf = %v, %v; want %v", d, ok, tt.after)
			}
			if err != nil && !strings.Contains(err.Error(), "receiver says no") {
				t.Errorf("error does not quote the response: %v", err)
			}
		})
	}
}

func TestWebhookTransportErrors(t *testing.T) {
	// Nothing listens: transient.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	if err := newWebhook(t, url, nil).Send(context.Background(), sampleAlerts(t)); err == nil || IsPermanent(err) {
		t.Errorf("connection refused: %v, want a transient error", err)
	}
	// A receiver slower than the timeout: transient.
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer slow.Close()
	defer close(block)
	start := time.Now()
	err := newWebhook(t, slow.URL, func(c *WebhookConfig) { c.Timeout = 200 * time.Millisecond }).Send(context.Background(), sampleAlerts(t))
	if err == nil || IsPermanent(err) || time.Since(start) > 3*time.Second {
		t.Errorf("slow receiver: %v after %v, want a transient timeout", err, time.Since(start))
	}
}

func TestWebhookTLSWithCAFile(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewUnstartedServer(rec)
	ca := newTestCA(t)
	srv.TLS = ca.serverConfig()
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below is expected
	srv.StartTLS()
	defer srv.Close()
	if err := newWebhook(t, srv.URL, func(c *WebhookConfig) { c.TLS.CAFile = ca.caFile }).Send(context.Background(), sampleAlerts(t)); err != nil {
		t.Fatalf("with the CA file: %v", err)
	}
	if err := newWebhook(t, srv.URL, nil).Send(context.Background(), sampleAlerts(t)); err == nil {
		t.Error("without the CA file: the private CA was trusted")
	}
	if n := len(rec.requests()); n != 1 {
		t.Errorf("%d requests reached the receiver, want 1", n)
	}
}

func TestWebhookConfigValidate(t *testing.T) {
	ok := WebhookConfig{Name: "hook", URL: "https://example.com/x", Secret: testSecret}
	tests := []struct {
		name string
		mod  func(*WebhookConfig)
		want string
	}{
		{"ok", func(*WebhookConfig) {}, ""},
		{"bad name", func(c *WebhookConfig) { c.Name = "../x" }, "notifier name"},
		{"short secret", func(c *WebhookConfig) { c.Secret = "short" }, "secret"},
		{"reserved header", func(c *WebhookConfig) { c.Headers = map[string]string{"x-cdewatch-signature": "x"} }, "set by cdewatch"},
		{"cert without key", func(c *WebhookConfig) { c.TLS.CertFile = "c.pem" }, "key_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mod(&c)
			err := c.Validate()
			if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := NewWebhook(WebhookConfig{Name: "h", URL: "ftp://x", Secret: testSecret}); err == nil {
		t.Error("ftp URL accepted")
	}
}
