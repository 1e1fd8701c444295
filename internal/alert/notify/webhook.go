package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
)

// The generic webhook's headers and envelope version.
const (
	// HeaderTimestamp carries the signing time, in Unix seconds.
	HeaderTimestamp = "X-Cdewatch-Timestamp"
	// HeaderSignature carries "sha256=" and the hex HMAC-SHA256, keyed
	// with the shared secret, of "<timestamp>.<body>".
	HeaderSignature = "X-Cdewatch-Signature"
	// EnvelopeVersion is the version of the JSON envelope.
	EnvelopeVersion = 1
	// DefaultMaxSkew is the replay window Verify uses when given none.
	DefaultMaxSkew = 5 * time.Minute
	// MinSecretBytes is the shortest webhook secret accepted.
	MinSecretBytes = 16
)

// Envelope is the JSON body the generic webhook POSTs.
type Envelope struct {
	Version int       `json:"version"` // EnvelopeVersion
	Sent    time.Time `json:"sent"`    // when this attempt was made; a retry has a later one
	Alerts  []Alert   `json:"alerts"`
}

// Alert is an alert as the webhook envelope carries it: its fields (as
// alert.Alert encodes them) and its idempotency id.
type Alert struct {
	// ID is AlertID: the same for every delivery of the same alert, so a
	// receiver drops a redelivered one by id.
	ID string `json:"id"`
	alert.Alert
}

// WebhookConfig configures a generic JSON webhook.
type WebhookConfig struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
	// Secret keys the HMAC-SHA256 signature; at least MinSecretBytes
	// bytes, shared with the receiver out of band.
	Secret string `yaml:"secret"`
	// Headers are added to every request, e.g. an Authorization header.
	Headers map[string]string `yaml:"headers"`
	// Timeout bounds one attempt (connect, TLS, response headers);
	// default DefaultTimeout.
	Timeout time.Duration `yaml:"timeout"`
	TLS     TLSOptions    `yaml:"tls"`
}

// Validate checks the configuration without touching the network or files.
func (c WebhookConfig) Validate() error {
	if err := ValidateName(c.Name); err != nil {
		return err
	}
	if len(c.Secret) < MinSecretBytes {
		return fmt.Errorf("webhook %s: secret: want at least %d bytes", c.Name, MinSecretBytes)
	}
	for k := range c.Headers {
		switch http.CanonicalHeaderKey(k) {
		case HeaderTimestamp, HeaderSignature, "Content-Type", "Content-Length", "Host":
			return fmt.Errorf("webhook %s: headers: %s is set by cdewatch", c.Name, k)
		}
	}
	if c.Timeout < 0 {
		return fmt.Errorf("webhook %s: timeout must not be negative", c.Name)
	}
	return c.TLS.Validate()
}

// Webhook POSTs signed JSON envelopes to a URL.
type Webhook struct {
	name   string
	secret []byte
	p      *poster
	now    func() time.Time
}

// NewWebhook validates c and builds the notifier (reading TLS files).
func NewWebhook(c WebhookConfig) (*Webhook, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	p, err := newPoster(c.URL, c.Timeout, c.TLS, c.Headers)
	if err != nil {
		return nil, fmt.Errorf("webhook %s: %w", c.Name, err)
	}
	return &Webhook{name: c.Name, secret: []byte(c.Secret), p: p, now: time.Now}, nil
}

// Name implements Notifier.
func (w *Webhook) Name() string { return w.name }

// Send implements Notifier: one POST per batch.
func (w *Webhook) Send(ctx context.Context, alerts []alert.Alert) error {
	now := w.now()
	body, err := EncodeEnvelope(alerts, now)
	if err != nil {
		return Permanent(fmt.Errorf("webhook %s: %w", w.name, err))
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	h := http.Header{}
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderSignature, Sign(w.secret, ts, body))
	if err := w.p.post(ctx, body, h); err != nil {
		return fmt.Errorf("webhook %s: %w", w.name, err)
	}
	return nil
}

// EncodeEnvelope returns the JSON envelope of alerts, sent at now.
func EncodeEnvelope(alerts []alert.Alert, now time.Time) ([]byte, error) {
	env := Envelope{Version: EnvelopeVersion, Sent: now.UTC().Truncate(time.Millisecond), Alerts: make([]Alert, len(alerts))}
	for i, a := range alerts {
		env.Alerts[i] = Alert{ID: AlertID(a), Alert: a}
	}
	b, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("encode envelope: %w", err)
	}
	return b, nil
}

// Sign returns the signature header value for body signed at timestamp
// (decimal Unix seconds, as sent in HeaderTimestamp).
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Errors returned by Verify and ReplayCache.Check.
var (
	ErrNoSignature    = errors.New("webhook: missing signature or timestamp")
	ErrBadSignature   = errors.New("webhook: signature does not match")
	ErrStaleTimestamp = errors.New("webhook: timestamp outside the replay window")
	ErrReplay         = errors.New("webhook: request already seen")
	ErrReplayFull     = errors.New("webhook: replay cache full, retry later")
)

// Verify checks a request received from cdewatch's webhook: header is the
// X-Cdewatch-Signature value (several "sha256=<hex>" values separated by
// commas are accepted, any may match: useful while rotating secrets),
// timestamp the X-Cdewatch-Timestamp value and body the raw request body.
// The signature is compared in constant time; the timestamp must be within
// maxSkew (DefaultMaxSkew if <= 0) of now, in either direction, so a
// captured request cannot be replayed later. Within that window, use a
// ReplayCache to refuse a second copy, and the alerts' ids to drop
// redeliveries.
func Verify(secret []byte, header, timestamp string, body []byte, now time.Time, maxSkew time.Duration) error {
	if header == "" || timestamp == "" {
		return ErrNoSignature
	}
	if maxSkew <= 0 {
		maxSkew = DefaultMaxSkew
	}
	ts, err := parseUnixSeconds(timestamp)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStaleTimestamp, err)
	}
	if d := now.Sub(ts); d > maxSkew || d < -maxSkew {
		return fmt.Errorf("%w: signed at %s, now %s", ErrStaleTimestamp, ts.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	want := []byte(Sign(secret, timestamp, body))
	ok := false
	for _, v := range strings.Split(header, ",") {
		if hmac.Equal([]byte(strings.TrimSpace(v)), want) {
			ok = true
		}
	}
	if !ok {
		return ErrBadSignature
	}
	return nil
}

func parseUnixSeconds(s string) (time.Time, error) {
	if len(s) == 0 || len(s) > 12 {
		return time.Time{}, fmt.Errorf("timestamp %q: want Unix seconds", s)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || s[0] == '+' {
		return time.Time{}, fmt.Errorf("timestamp %q: want Unix seconds", s)
	}
	return time.Unix(n, 0), nil
}

// ReplayCache remembers verified signatures for the replay window, so a
// receiver refuses a copy of a request it has already accepted. It is safe
// for concurrent use.
type ReplayCache struct {
	window time.Duration
	max    int

	mu    sync.Mutex
	seen  map[string]time.Time // signature → expiry
	order []replayEntry        // insertion order, for expiry
}

type replayEntry struct {
	key     string
	expires time.Time
}

// NewReplayCache returns a cache for a replay window (DefaultMaxSkew if
// <= 0; use the maxSkew given to Verify) holding at most max signatures
// (100000 if <= 0).
func NewReplayCache(window time.Duration, max int) *ReplayCache {
	if window <= 0 {
		window = DefaultMaxSkew
	}
	if max <= 0 {
		max = 100000
	}
	return &ReplayCache{window: window, max: max, seen: map[string]time.Time{}}
}

// Check records a verified request's signature header and timestamp and
// returns ErrReplay if the same pair was seen within the window. When the
// cache is full of unexpired entries it returns ErrReplayFull: answer 503,
// the sender retries later with a new timestamp.
func (c *ReplayCache) Check(signature, timestamp string, now time.Time) error {
	key := timestamp + "|" + signature
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.order) > 0 && !now.Before(c.order[0].expires) {
		e := c.order[0]
		if exp, ok := c.seen[e.key]; ok && exp.Equal(e.expires) {
			delete(c.seen, e.key)
		}
		c.order = c.order[1:]
	}
	if exp, ok := c.seen[key]; ok && now.Before(exp) {
		return ErrReplay
	}
	if len(c.seen) >= c.max {
		return ErrReplayFull
	}
	// A timestamp up to window in the future is accepted by Verify, so
	// remember the signature until it can no longer verify.
	exp := now.Add(2 * c.window)
	if ts, err := parseUnixSeconds(timestamp); err == nil {
		exp = ts.Add(c.window + time.Second)
	}
	c.seen[key] = exp
	c.order = append(c.order, replayEntry{key, exp})
	return nil
}
