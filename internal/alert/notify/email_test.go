package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// smtpMessage is what the test SMTP server received in one transaction.
type smtpMessage struct {
	user     string // authenticated user, "" if none
	tls      bool   // the connection was encrypted when MAIL FROM came
	from     string
	to       []string
	data     []byte
	password string
}

// smtpServer is a real SMTP server (github.com/emersion/go-smtp) on
// loopback that records the messages it accepts.
type smtpServer struct {
	addr      string
	mu        sync.Mutex
	msgs      []smtpMessage
	mailCalls int
	// rejectRcpt, if set, answers RCPT TO with this error.
	rejectRcpt *smtp.SMTPError
}

type smtpOpts struct {
	tls         *tls.Config // STARTTLS offered when set
	implicitTLS bool        // TLS from the first byte
	rejectRcpt  *smtp.SMTPError
}

func startSMTP(tb testing.TB, o smtpOpts) *smtpServer {
	tb.Helper()
	s := &smtpServer{rejectRcpt: o.rejectRcpt}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpSession{srv: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.ErrorLog = discardLogger{}
	var l net.Listener
	var err error
	if o.implicitTLS {
		l, err = tls.Listen("tcp", "127.0.0.1:0", o.tls)
	} else {
		srv.TLSConfig = o.tls
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		tb.Fatal(err)
	}
	s.addr = l.Addr().String()
	go srv.Serve(l)
	tb.Cleanup(func() { srv.Close() })
	return s
}

func (s *smtpServer) messages() []smtpMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]smtpMessage(nil), s.msgs...)
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}

type smtpSession struct {
	srv  *smtpServer
	conn *smtp.Conn
	cur  smtpMessage
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != "alerts" || password != "s3cret" {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		s.cur.user, s.cur.password = username, password
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	_, s.cur.tls = s.conn.TLSConnectionState()
	s.cur.from = from
	s.srv.mu.Lock()
	s.srv.mailCalls++
	s.srv.mu.Unlock()
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.srv.rejectRcpt != nil {
		return s.srv.rejectRcpt
	}
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = b
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, s.cur)
	s.srv.mu.Unlock()
	return nil
}

func (s *smtpSession) Reset()        { s.cur = smtpMessage{user: s.cur.user, password: s.cur.password} }
func (s *smtpSession) Logout() error { return nil }

func emailConfig(addr, caFile string) EmailConfig {
	return EmailConfig{
		Name: "mail", Address: addr, Username: "alerts", Password: "s3cret",
		From: "cdewatch <cdewatch@example.com>", To: []string{"soc@example.com", "Oncall <oncall@example.com>"},
		LocalName: "cdewatch.test", Timeout: 10 * time.Second, TLS: TLSOptions{CAFile: caFile},
	}
}

func TestEmailSTARTTLS(t *testing.T) {
	ca := newTestCA(t)
	srv := startSMTP(t, smtpOpts{tls: ca.serverConfig()})
	e, err := NewEmail(emailConfig(srv.addr, ca.caFile))
	if err != nil {
		t.Fatal(err)
	}
	e.now = func() time.Time { return time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC) }
	alerts := sampleAlerts(t)
	if err := e.Send(context.Background(), alerts); err != nil {
		t.Fatal(err)
	}
	msgs := srv.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1 per batch", len(msgs))
	}
	m := msgs[0]
	if !m.tls || m.user != "alerts" || m.from != "cdewatch@example.com" || strings.Join(m.to, " ") != "soc@example.com oncall@example.com" {
		t.Errorf("envelope: tls %v user %q from %q to %q", m.tls, m.user, m.from, m.to)
	}
	golden(t, "email.golden.eml", m.data)

	msg, err := mail.ReadMessage(strings.NewReader(string(m.data)))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `[cdewatch CRITICAL] 3 alerts: pci.clusteradmin-binding: mallory bound "cluster-admin"`; !strings.HasPrefix(subject, want) || !strings.HasSuffix(subject, "(+2 more)") {
		t.Errorf("subject %q", subject)
	}
	if msg.Header.Get("Content-Transfer-Encoding") != "quoted-printable" || !strings.HasPrefix(msg.Header.Get("Content-Type"), "text/plain; charset=utf-8") {
		t.Errorf("MIME headers %v", msg.Header)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"[HIGH] pci.secret-read-outside-allowlist - Secret read in a CDE namespace outside the allow-list\r\n  alice@contoso.com read secret payments/card-key\r\n",
		"  pci:      10.2.1.2, 10.2.1.5\r\n  mitre:    T1098\r\n",
		"  source:   aks-prod-weu\r\n",
		"svc-checkout connected from 203.0.113.9 for the first time — ünïcödé",
		"  seqs:     1, 2, 3, 4, 5, 6, 7, 8, 9, 10, … (15 more), 26, 27, 28, 29, 30, 31, 32, 33, 34, 35\r\n",
		"  id:       " + AlertID(alerts[2]),
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
}

func TestEmailImplicitTLS(t *testing.T) {
	ca := newTestCA(t)
	srv := startSMTP(t, smtpOpts{tls: ca.serverConfig(), implicitTLS: true})
	c := emailConfig(srv.addr, ca.caFile)
	c.ImplicitTLS = true
	e, err := NewEmail(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Send(context.Background(), sampleAlerts(t)[:1]); err != nil {
		t.Fatal(err)
	}
	if msgs := srv.messages(); len(msgs) != 1 || !msgs[0].tls {
		t.Fatalf("messages %+v", msgs)
	}
}

func TestEmailRefusals(t *testing.T) {
	ca := newTestCA(t)
	tests := []struct {
		name      string
		srv       smtpOpts
		mod       func(*EmailConfig)
		wantIs    error
		permanent bool
		delivered bool
	}{
		{name: "no STARTTLS offered: refused, nothing sent", srv: smtpOpts{}, wantIs: ErrNoSTARTTLS},
		{name: "no STARTTLS, plaintext allowed but credentials set", srv: smtpOpts{}, mod: func(c *EmailConfig) { c.AllowPlaintext = true }, wantIs: ErrCleartextAuth, permanent: true},
		{name: "no STARTTLS, plaintext allowed, no credentials", srv: smtpOpts{}, mod: func(c *EmailConfig) { c.AllowPlaintext, c.Username, c.Password = true, "", "" }, delivered: true},
		{name: "untrusted certificate", srv: smtpOpts{tls: ca.serverConfig()}, mod: func(c *EmailConfig) { c.TLS.CAFile = "" }},
		{name: "wrong password", srv: smtpOpts{tls: ca.serverConfig()}, mod: func(c *EmailConfig) { c.Password = "wrong" }, permanent: true},
		{name: "recipient refused (550)", srv: smtpOpts{tls: ca.serverConfig(), rejectRcpt: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}}, permanent: true},
		{name: "recipient deferred (451)", srv: smtpOpts{tls: ca.serverConfig(), rejectRcpt: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSMTP(t, tt.srv)
			c := emailConfig(srv.addr, ca.caFile)
			if tt.mod != nil {
				tt.mod(&c)
			}
			e, err := NewEmail(c)
			if err != nil {
				t.Fatal(err)
			}
			err = e.Send(context.Background(), sampleAlerts(t))
			if tt.delivered {
				if err != nil || len(srv.messages()) != 1 {
					t.Fatalf("err %v, %d messages; want delivered", err, len(srv.messages()))
				}
				if srv.messages()[0].tls {
					t.Error("delivered over TLS, want the plaintext path")
				}
				return
			}
			if err == nil {
				t.Fatal("sent")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("err = %v, want %v", err, tt.wantIs)
			}
			if IsPermanent(err) != tt.permanent {
				t.Errorf("err = %v, permanent %v; want %v", err, IsPermanent(err), tt.permanent)
			}
			if n := len(srv.messages()); n != 0 {
				t.Errorf("%d messages accepted", n)
			}
			for _, m := range srv.messages() {
				if m.password != "" && !m.tls {
					t.Error("password sent in clear")
				}
			}
			srv.mu.Lock()
			mailCalls := srv.mailCalls
			srv.mu.Unlock()
			if errors.Is(err, ErrNoSTARTTLS) || errors.Is(err, ErrCleartextAuth) {
				if mailCalls != 0 {
					t.Error("MAIL FROM was sent in clear")
				}
			}
		})
	}
}

func TestEmailConfigValidate(t *testing.T) {
	ok := emailConfig("smtp.example.com:587", "")
	tests := []struct {
		name string
		mod  func(*EmailConfig)
		want string
	}{
		{"ok", func(*EmailConfig) {}, ""},
		{"no port", func(c *EmailConfig) { c.Address = "smtp.example.com" }, "host:port"},
		{"bad from", func(c *EmailConfig) { c.From = "not an address" }, "from"},
		{"no recipients", func(c *EmailConfig) { c.To = nil }, "recipient"},
		{"bad recipient", func(c *EmailConfig) { c.To = []string{"a@b", "@@"} }, "to"},
		{"user without password", func(c *EmailConfig) { c.Password = "" }, "together"},
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
}
