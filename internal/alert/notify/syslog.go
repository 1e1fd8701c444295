package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/syslog"
)

// SyslogConfig configures the syslog notifier.
type SyslogConfig struct {
	Name string `yaml:"name"`
	// Network is "tcp" (RFC 6587 octet counting, the default), "tls"
	// (RFC 5425) or "udp" (RFC 5426, one datagram per message: delivery is
	// not confirmed).
	Network string `yaml:"network"`
	Address string `yaml:"address"` // host:port
	// Facility is a facility name (kern … local7, see internal/syslog);
	// default "auth".
	Facility string `yaml:"facility"`
	// Hostname is the HOSTNAME field; default the host name.
	Hostname string `yaml:"hostname"`
	// AppName is the APP-NAME field; default "cdewatch".
	AppName string `yaml:"app_name"`
	// SDID is the SD-ID of the structured data element; default
	// DefaultSDID. Use your organization's private enterprise number.
	SDID string `yaml:"sd_id"`
	// MaxUDPBytes caps a UDP datagram (the MSG is cut to fit); default 2048.
	MaxUDPBytes int `yaml:"max_udp_bytes"`
	// Timeout bounds connecting and writing a batch; default DefaultTimeout.
	Timeout time.Duration `yaml:"timeout"`
	TLS     TLSOptions    `yaml:"tls"`
}

// DefaultSDID is the SD-ID used when SyslogConfig.SDID is empty. 32473 is
// the private enterprise number RFC 5612 reserves for documentation.
const DefaultSDID = "cdewatch@32473"

// Validate checks the configuration.
func (c SyslogConfig) Validate() error {
	if err := ValidateName(c.Name); err != nil {
		return err
	}
	switch c.Network {
	case "", "tcp", "tls", "udp":
	default:
		return fmt.Errorf("syslog %s: network %q: want tcp, tls or udp", c.Name, c.Network)
	}
	if _, _, err := net.SplitHostPort(c.Address); err != nil {
		return fmt.Errorf("syslog %s: address %q: want host:port: %w", c.Name, c.Address, err)
	}
	if c.Facility != "" {
		if _, ok := syslog.ParseFacility(c.Facility); !ok {
			return fmt.Errorf("syslog %s: unknown facility %q", c.Name, c.Facility)
		}
	}
	if c.SDID != "" && !validSDID(c.SDID) {
		return fmt.Errorf("syslog %s: sd_id %q: want 1-32 printable ASCII characters without '=', ' ', ']', '\"', in the form name@number", c.Name, c.SDID)
	}
	if c.MaxUDPBytes != 0 && (c.MaxUDPBytes < 480 || c.MaxUDPBytes > 65000) {
		return fmt.Errorf("syslog %s: max_udp_bytes: want 480-65000", c.Name)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("syslog %s: timeout must not be negative", c.Name)
	}
	return c.TLS.Validate()
}

func validSDID(s string) bool {
	if len(s) == 0 || len(s) > 32 || !strings.Contains(s, "@") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 33 || c > 126 || c == '=' || c == ']' || c == '"' {
			return false
		}
	}
	return true
}

// Syslog sends one RFC 5424 message per alert over one connection, kept
// open between batches and re-opened after an error or when the server
// closed it.
type Syslog struct {
	c        SyslogConfig
	facility syslog.Facility
	tls      *tls.Config

	mu  sync.Mutex // serializes Send: one connection, messages in order
	raw net.Conn   // the TCP connection (under TLS for "tls")
	w   net.Conn   // what messages are written to
}

// NewSyslog validates c and builds the notifier (reading TLS files). It
// does not connect: the first Send does.
func NewSyslog(c SyslogConfig) (*Syslog, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	s := &Syslog{c: c, facility: syslog.Auth}
	if c.Network == "" {
		s.c.Network = "tcp"
	}
	if c.Facility != "" {
		s.facility, _ = syslog.ParseFacility(c.Facility)
	}
	if c.Hostname == "" {
		s.c.Hostname, _ = os.Hostname()
	}
	if c.AppName == "" {
		s.c.AppName = "cdewatch"
	}
	if c.SDID == "" {
		s.c.SDID = DefaultSDID
	}
	if c.MaxUDPBytes == 0 {
		s.c.MaxUDPBytes = 2048
	}
	if c.Timeout == 0 {
		s.c.Timeout = DefaultTimeout
	}
	if s.c.Network == "tls" {
		host, _, _ := net.SplitHostPort(c.Address)
		var err error
		if s.tls, err = c.TLS.Config(host); err != nil {
			return nil, fmt.Errorf("syslog %s: %w", c.Name, err)
		}
	}
	return s, nil
}

// Name implements Notifier.
func (s *Syslog) Name() string { return s.c.Name }

// Close closes the connection, if any.
func (s *Syslog) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.drop()
}

func (s *Syslog) drop() error {
	var err error
	if s.w != nil {
		err = s.w.Close()
	}
	s.raw, s.w = nil, nil
	return err
}

// Send implements Notifier. Over TCP and TLS, nil means every message was
// written to the connection: syslog has no acknowledgement, so a server
// that dies before reading them loses them (RFC 6587 §5). Over UDP nil
// means the datagrams were sent.
func (s *Syslog) Send(ctx context.Context, alerts []alert.Alert) error {
	msgs := make([][]byte, len(alerts))
	for i, a := range alerts {
		msgs[i] = s.Format(a)
	}
	return s.SendMessages(ctx, msgs)
}

// SendMessages sends RFC 5424 messages (without framing) as Send does:
// framed for TCP and TLS, one datagram each over UDP.
func (s *Syslog) SendMessages(ctx context.Context, msgs [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	deadline := time.Now().Add(s.c.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := s.connect(ctx, deadline); err != nil {
		return fmt.Errorf("syslog %s: %w", s.c.Name, err)
	}
	w := s.w
	stop := context.AfterFunc(ctx, func() { w.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	w.SetWriteDeadline(deadline)
	var buf []byte
	for _, msg := range msgs {
		buf = buf[:0]
		if s.c.Network == "udp" {
			buf = append(buf, msg...)
		} else {
			buf = strconv.AppendInt(buf, int64(len(msg)), 10)
			buf = append(buf, ' ')
			buf = append(buf, msg...)
		}
		if _, err := w.Write(buf); err != nil {
			s.drop()
			return fmt.Errorf("syslog %s: write: %w", s.c.Name, err)
		}
	}
	return nil
}

// connect reuses the open connection if the server has not closed it, or
// dials a new one.
func (s *Syslog) connect(ctx context.Context, deadline time.Time) error {
	if s.w != nil && s.c.Network != "udp" && !s.alive() {
		s.drop()
	}
	if s.w != nil {
		return nil
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	d := net.Dialer{}
	netw := s.c.Network
	if netw == "tls" {
		netw = "tcp"
	}
	conn, err := d.DialContext(ctx, netw, s.c.Address)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	s.raw, s.w = conn, conn
	if s.c.Network == "tls" {
		tc := tls.Client(conn, s.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			s.raw, s.w = nil, nil
			return fmt.Errorf("tls: %w", err)
		}
		s.w = tc
	}
	return nil
}

// alive reports whether the server has not closed the connection: a
// syslog server never sends, so anything readable (EOF, a TLS alert)
// means the connection is over.
func (s *Syslog) alive() bool {
	s.raw.SetReadDeadline(time.Now().Add(time.Millisecond))
	var b [1]byte
	_, err := s.raw.Read(b[:])
	s.raw.SetReadDeadline(time.Time{})
	var ne net.Error
	return err != nil && errors.As(err, &ne) && ne.Timeout()
}

// Format returns the RFC 5424 message (without framing) for one alert:
// PRI from the facility and the alert's severity (critical → crit, high →
// err, medium → warning, low → notice, info → info), TIMESTAMP the
// detection time, MSGID "alert", one SD-ELEMENT with id, rule, title,
// severity, kind, pci, mitre, source, key, time and seqs (lists
// comma-separated, at most 32 seqs: the first and last 16), and the
// summary as MSG.
func (s *Syslog) Format(a alert.Alert) []byte {
	ts := a.Detected
	if ts.IsZero() {
		ts = time.Now()
	}
	params := []syslog.SDParam{
		{Name: "id", Value: AlertID(a)},
		{Name: "rule", Value: a.Rule},
		{Name: "title", Value: a.RuleTitle},
		{Name: "severity", Value: a.Severity.String()},
		{Name: "kind", Value: a.Kind},
		{Name: "pci", Value: strings.Join(a.PCI, ",")},
		{Name: "mitre", Value: strings.Join(a.MITRE, ",")},
		{Name: "source", Value: a.Source},
		{Name: "key", Value: a.Key},
		{Name: "time", Value: a.Time.UTC().Format(time.RFC3339Nano)},
		{Name: "seqs", Value: joinSeqs(a.Seqs, 32)},
	}
	kept := params[:0]
	for _, p := range params {
		if p.Value != "" {
			kept = append(kept, p)
		}
	}
	m := syslog.Message{
		Facility:       s.facility,
		Severity:       syslogSeverity(a.Severity),
		Timestamp:      ts.UTC(),
		Hostname:       s.c.Hostname,
		AppName:        s.c.AppName,
		ProcID:         strconv.Itoa(os.Getpid()),
		MsgID:          "alert",
		StructuredData: []syslog.SDElement{{ID: s.c.SDID, Params: kept}},
		Message:        OneLine(a.Summary),
		BOM:            true,
	}
	b := m.AppendRFC5424(nil)
	if s.c.Network == "udp" && len(b) > s.c.MaxUDPBytes {
		over := len(b) - s.c.MaxUDPBytes
		if over < len(m.Message) {
			m.Message = Truncate(m.Message, len(m.Message)-over)
		} else {
			m.Message = ""
		}
		b = m.AppendRFC5424(nil)
		if len(b) > s.c.MaxUDPBytes {
			b = b[:s.c.MaxUDPBytes] // structured data alone too long: cut
		}
	}
	return b
}

func syslogSeverity(s alert.Severity) syslog.Severity {
	switch s {
	case alert.Critical:
		return syslog.Crit
	case alert.High:
		return syslog.Err
	case alert.Medium:
		return syslog.Warning
	case alert.Low:
		return syslog.Notice
	}
	return syslog.Info
}

// joinSeqs joins at most max seqs with commas: all of them, or the first
// and last max/2.
func joinSeqs(seqs []uint64, max int) string {
	if len(seqs) > max {
		h := max / 2
		seqs = append(append([]uint64(nil), seqs[:h]...), seqs[len(seqs)-h:]...)
	}
	var b []byte
	for i, q := range seqs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, q, 10)
	}
	return string(b)
}
