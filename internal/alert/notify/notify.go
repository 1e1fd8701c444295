// Package notify delivers alerts to the people and systems that act on
// them: a generic signed JSON webhook, Slack and Microsoft Teams incoming
// webhooks, email over SMTP and syslog (RFC 5424). docs/NOTIFIERS.md
// documents every payload.
//
// A Notifier only sends; it neither retries nor remembers. Retries,
// backoff, routing, throttling and crash safety belong to the durable
// outbox (internal/alert/outbox), which calls Send and decides from the
// error whether retrying can help.
package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
)

// Notifier sends alerts to one receiver.
//
// Send returns nil only when the receiver accepted every alert of the
// batch (an HTTP 2xx, an SMTP 250 after DATA, a syslog message written to
// the connection). An error means the batch may or may not have arrived:
// the caller retries it, so receivers see duplicates; each alert carries an
// idempotency id (AlertID) to drop them. An error for which retrying cannot
// help (a rejected request, a refused recipient, a configuration the
// receiver refuses) is wrapped with Permanent; an error that says when to
// retry is wrapped with RetryAfter. Send does not retain alerts or modify
// them, honours ctx's deadline and cancellation, and is safe for concurrent
// use.
type Notifier interface {
	// Name identifies the notifier in configuration, logs, health reports
	// and the outbox's cursor files: 1-64 of [A-Za-z0-9._-], starting
	// with a letter or digit.
	Name() string
	Send(ctx context.Context, alerts []alert.Alert) error
}

// PermanentError marks an error for which retrying the same batch cannot
// help.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError; nil stays nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err, or an error it wraps, is permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// RetryAfterError is a transient error from a receiver that said how long
// to wait before retrying (HTTP 429 or 503 with Retry-After).
type RetryAfterError struct {
	Err   error
	After time.Duration
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}

// Unwrap returns the wrapped error.
func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter wraps err with the delay the receiver asked for; nil stays nil.
func RetryAfter(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &RetryAfterError{Err: err, After: after}
}

// RetryAfterOf returns the delay requested by err, if it or an error it
// wraps is a RetryAfterError.
func RetryAfterOf(err error) (time.Duration, bool) {
	var r *RetryAfterError
	if errors.As(err, &r) {
		return r.After, true
	}
	return 0, false
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidateName checks a notifier name: 1-64 of [A-Za-z0-9._-], starting
// with a letter or digit (it names files in the outbox).
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("notifier name %q: want 1-64 of [A-Za-z0-9._-] starting with a letter or digit", name)
	}
	return nil
}

// AlertID returns the idempotency id of an alert: the first 128 bits, in
// hex, of the SHA-256 of its JSON encoding. It depends only on the
// alert's content, so a retried or re-enqueued alert keeps its id and a
// receiver can drop what it has already seen.
func AlertID(a alert.Alert) string {
	b, err := json.Marshal(a)
	if err != nil { // only with an invalid severity: hash what we can
		b = fmt.Appendf(nil, "%s\x00%s\x00%d\x00%v\x00%v\x00%s", a.Rule, a.Key, a.Severity, a.Seqs, a.Detected.UnixNano(), a.Summary)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:16])
}

// Highest returns the highest severity among alerts (0 for none).
func Highest(alerts []alert.Alert) alert.Severity {
	var s alert.Severity
	for _, a := range alerts {
		if a.Severity > s {
			s = a.Severity
		}
	}
	return s
}

// Title returns the one-line title of a batch, as email subjects and chat
// messages use it: "[cdewatch HIGH] rule: summary" for one alert,
// "[cdewatch CRITICAL] 3 alerts: rule: summary (+2 more)" for several (the
// first alert of the highest severity is named). Control characters are
// replaced by spaces and the result is cut to max bytes (0: no limit) on a
// rune boundary.
func Title(alerts []alert.Alert, max int) string {
	if len(alerts) == 0 {
		return "[cdewatch] no alerts"
	}
	hi := Highest(alerts)
	first := alerts[0]
	for _, a := range alerts {
		if a.Severity == hi {
			first = a
			break
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[cdewatch %s] ", strings.ToUpper(hi.String()))
	if len(alerts) > 1 {
		fmt.Fprintf(&b, "%d alerts: ", len(alerts))
	}
	fmt.Fprintf(&b, "%s: %s", first.Rule, first.Summary)
	if len(alerts) > 1 {
		fmt.Fprintf(&b, " (+%d more)", len(alerts)-1)
	}
	return Truncate(OneLine(b.String()), max)
}

// OneLine replaces control characters (CR, LF, tabs, …) by spaces.
func OneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}

// Truncate cuts s to at most max bytes on a rune boundary, ending with "…"
// when it cut; max <= 0 means no limit.
func Truncate(s string, max int) string {
	if max <= 0 || len(s) <= max {
		return s
	}
	const ell = "…"
	cut := max - len(ell)
	if cut < 0 {
		cut = 0
	}
	for cut > 0 && cut < len(s) && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ell
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// fieldsText renders an alert's fields as "k=v, k=v" in key order.
func fieldsText(f map[string]string) string {
	if len(f) == 0 {
		return ""
	}
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + f[k]
	}
	return strings.Join(parts, ", ")
}

// seqsText renders ledger sequence numbers, at most max of them (the first
// and the last ones around an ellipsis).
func seqsText(seqs []uint64, max int) string {
	if len(seqs) == 0 {
		return ""
	}
	var parts []string
	if max > 0 && len(seqs) > max {
		h := max / 2
		for _, s := range seqs[:h] {
			parts = append(parts, fmt.Sprint(s))
		}
		parts = append(parts, fmt.Sprintf("… (%d more)", len(seqs)-max))
		for _, s := range seqs[len(seqs)-(max-h):] {
			parts = append(parts, fmt.Sprint(s))
		}
	} else {
		for _, s := range seqs {
			parts = append(parts, fmt.Sprint(s))
		}
	}
	return strings.Join(parts, ", ")
}
