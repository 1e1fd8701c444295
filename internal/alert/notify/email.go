package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
)

// EmailConfig configures email over SMTP.
type EmailConfig struct {
	Name string `yaml:"name"`
	// Address is the SMTP server, host:port (587 for submission with
	// STARTTLS, 465 with ImplicitTLS).
	Address string `yaml:"address"`
	// ImplicitTLS speaks TLS from the first byte (SMTPS, port 465)
	// instead of upgrading with STARTTLS.
	ImplicitTLS bool `yaml:"implicit_tls"`
	// AllowPlaintext lets a message go in clear when the server offers no
	// STARTTLS. Off by default: such a server is refused. Credentials are
	// never sent in clear, whatever this says.
	AllowPlaintext bool `yaml:"allow_plaintext"`
	// Username and Password authenticate with AUTH PLAIN, over TLS only.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// From is the sender, To the recipients ("Name <addr>" or "addr").
	From string   `yaml:"from"`
	To   []string `yaml:"to"`
	// LocalName is the name sent with EHLO; default the host name.
	LocalName string `yaml:"local_name"`
	// Timeout bounds one whole SMTP transaction; default 30s.
	Timeout time.Duration `yaml:"timeout"`
	TLS     TLSOptions    `yaml:"tls"`
}

// Validate checks the configuration.
func (c EmailConfig) Validate() error {
	if err := ValidateName(c.Name); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(c.Address); err != nil {
		return fmt.Errorf("email %s: address %q: want host:port: %w", c.Name, c.Address, err)
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		return fmt.Errorf("email %s: from %q: %w", c.Name, c.From, err)
	}
	if len(c.To) == 0 {
		return fmt.Errorf("email %s: to: at least one recipient is required", c.Name)
	}
	for _, t := range c.To {
		if _, err := mail.ParseAddress(t); err != nil {
			return fmt.Errorf("email %s: to %q: %w", c.Name, t, err)
		}
	}
	if (c.Username == "") != (c.Password == "") {
		return fmt.Errorf("email %s: username and password go together", c.Name)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("email %s: timeout must not be negative", c.Name)
	}
	return c.TLS.Validate()
}

// Errors of the email notifier that callers may test for.
var (
	// ErrNoSTARTTLS: the server offered no STARTTLS and AllowPlaintext is
	// off. Transient: a server (or a path) that strips STARTTLS may be
	// fixed, and the alerts must not be dropped meanwhile.
	ErrNoSTARTTLS = errors.New("smtp server offers no STARTTLS; refusing to send in clear (allow_plaintext is off)")
	// ErrCleartextAuth: credentials are configured but the connection is
	// not encrypted.
	ErrCleartextAuth = errors.New("refusing to send SMTP credentials over an unencrypted connection")
)

// Email sends one message per batch over SMTP.
type Email struct {
	c    EmailConfig
	host string
	from *mail.Address
	to   []*mail.Address
	tls  *tls.Config
	now  func() time.Time
}

// NewEmail validates c and builds the notifier (reading TLS files).
func NewEmail(c EmailConfig) (*Email, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(c.Address)
	tc, err := c.TLS.Config(host)
	if err != nil {
		return nil, fmt.Errorf("email %s: %w", c.Name, err)
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	if c.LocalName == "" {
		if h, err := os.Hostname(); err == nil && h != "" {
			c.LocalName = h
		} else {
			c.LocalName = "localhost"
		}
	}
	e := &Email{c: c, host: host, tls: tc, now: time.Now}
	e.from, _ = mail.ParseAddress(c.From)
	for _, t := range c.To {
		a, _ := mail.ParseAddress(t)
		e.to = append(e.to, a)
	}
	return e, nil
}

// Name implements Notifier.
func (e *Email) Name() string { return e.c.Name }

// Send implements Notifier: it connects, upgrades with STARTTLS (or speaks
// TLS from the start), authenticates, and sends one message to every
// recipient. nil means the server answered 250 to the end of DATA.
func (e *Email) Send(ctx context.Context, alerts []alert.Alert) error {
	if err := e.send(ctx, alerts); err != nil {
		return fmt.Errorf("email %s: %w", e.c.Name, err)
	}
	return nil
}

func (e *Email) send(ctx context.Context, alerts []alert.Alert) (err error) {
	ctx, cancel := context.WithTimeout(ctx, e.c.Timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", e.c.Address)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	secure := false
	if e.c.ImplicitTLS {
		tc := tls.Client(conn, e.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		conn, secure = tc, true
	}
	c, err := smtp.NewClient(conn, e.host)
	if err != nil {
		return classifySMTP("greeting", err)
	}
	defer c.Close()
	if err := c.Hello(e.c.LocalName); err != nil {
		return classifySMTP("EHLO", err)
	}
	if !secure {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(e.tls); err != nil {
				return classifySMTP("STARTTLS", err)
			}
			secure = true
		} else if !e.c.AllowPlaintext {
			return ErrNoSTARTTLS
		}
	}
	if e.c.Username != "" {
		if !secure {
			return Permanent(ErrCleartextAuth)
		}
		if ok, mechs := c.Extension("AUTH"); !ok || !slices.Contains(strings.Fields(strings.ToUpper(mechs)), "PLAIN") {
			return Permanent(fmt.Errorf("server offers no AUTH PLAIN (AUTH %q)", mechs))
		}
		if err := c.Auth(smtp.PlainAuth("", e.c.Username, e.c.Password, e.host)); err != nil {
			return classifySMTP("AUTH", err)
		}
	}
	if err := c.Mail(e.from.Address); err != nil {
		return classifySMTP("MAIL FROM", err)
	}
	for _, t := range e.to {
		if err := c.Rcpt(t.Address); err != nil {
			return classifySMTP("RCPT TO "+t.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return classifySMTP("DATA", err)
	}
	if _, err := w.Write(e.Message(alerts)); err != nil {
		return classifySMTP("DATA", err)
	}
	if err := w.Close(); err != nil { // the server's answer to the final "."
		return classifySMTP("end of DATA", err)
	}
	c.Quit() // accepted already: a failing QUIT changes nothing
	return nil
}

// classifySMTP makes a 5xx reply permanent; 4xx replies and I/O errors
// stay transient.
func classifySMTP(step string, err error) error {
	err = fmt.Errorf("%s: %w", step, err)
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return Permanent(err)
	}
	return err
}

// Message returns the RFC 5322 message for a batch: headers From, To,
// Subject (Title), Date, Message-ID (derived from the alerts' ids, so a
// retried batch keeps it), Auto-Submitted, MIME-Version, a text/plain
// UTF-8 quoted-printable body listing every alert.
func (e *Email) Message(alerts []alert.Alert) []byte {
	var b bytes.Buffer
	h := sha256.New()
	for _, a := range alerts {
		h.Write([]byte(AlertID(a)))
	}
	to := make([]string, len(e.to))
	for i, a := range e.to {
		to[i] = a.String()
	}
	fmt.Fprintf(&b, "From: %s\r\n", e.from.String())
	fmt.Fprintf(&b, "To: %s\r\n", strings.Join(to, ",\r\n "))
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", Title(alerts, 200)))
	fmt.Fprintf(&b, "Date: %s\r\n", e.now().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@cdewatch>\r\n", hex.EncodeToString(h.Sum(nil)[:16]))
	b.WriteString("Auto-Submitted: auto-generated\r\n")
	b.WriteString("MIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n")
	b.WriteString("Content-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(TextBody(alerts)))
	qp.Close()
	b.WriteString("\r\n")
	return b.Bytes()
}

// TextBody lists alerts as plain text (CRLF line ends), most severe first
// as given: one paragraph per alert with its rule, summary, source, times,
// PCI DSS and MITRE ATT&CK tags, key, ledger sequence numbers, fields and
// idempotency id.
func TextBody(alerts []alert.Alert) string {
	var b strings.Builder
	fmt.Fprintf(&b, "cdewatch: %d %s (highest severity: %s)\r\n", len(alerts), plural(len(alerts), "alert", "alerts"), strings.ToUpper(Highest(alerts).String()))
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "  %-9s %s\r\n", k+":", OneLine(v))
		}
	}
	for _, a := range alerts {
		b.WriteString("\r\n")
		fmt.Fprintf(&b, "[%s] %s", strings.ToUpper(a.Severity.String()), OneLine(a.Rule))
		if a.RuleTitle != "" {
			fmt.Fprintf(&b, " - %s", OneLine(a.RuleTitle))
		}
		b.WriteString("\r\n")
		fmt.Fprintf(&b, "  %s\r\n", OneLine(a.Summary))
		line("source", a.Source)
		line("kind", a.Kind)
		if !a.Time.IsZero() {
			line("time", a.Time.UTC().Format(time.RFC3339Nano))
		}
		if !a.Detected.IsZero() {
			line("detected", a.Detected.UTC().Format(time.RFC3339Nano))
		}
		line("pci", strings.Join(a.PCI, ", "))
		line("mitre", strings.Join(a.MITRE, ", "))
		line("key", a.Key)
		line("seqs", seqsText(a.Seqs, 20))
		line("fields", fieldsText(a.Fields))
		line("id", AlertID(a))
	}
	return b.String()
}
