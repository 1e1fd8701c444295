package notify

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/syslog"
)

// syslogListener receives syslog messages over TCP (octet counting), TLS
// or UDP and parses each with internal/syslog.
type syslogListener struct {
	addr  string
	mu    sync.Mutex
	raw   [][]byte
	conns int
	msgs  chan syslog.Message
	// closeAfter closes each TCP connection after this many messages
	// (0: never).
	closeAfter int
}

func listenSyslog(tb testing.TB, network string, tc *tls.Config, closeAfter int) *syslogListener {
	tb.Helper()
	s := &syslogListener{msgs: make(chan syslog.Message, 100), closeAfter: closeAfter}
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { pc.Close() })
		s.addr = pc.LocalAddr().String()
		go func() {
			buf := make([]byte, 65536)
			for {
				n, _, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				s.got(tb, buf[:n])
			}
		}()
		return s
	}
	var l net.Listener
	var err error
	if network == "tls" {
		l, err = tls.Listen("tcp", "127.0.0.1:0", tc)
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	s.addr = l.Addr().String()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
			go s.serve(tb, c)
		}
	}()
	return s
}

// serve reads RFC 6587 octet-counted frames: "LEN SP MSG".
func (s *syslogListener) serve(tb testing.TB, c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	for n := 1; ; n++ {
		lenStr, err := r.ReadString(' ')
		if err != nil {
			return
		}
		size, err := strconv.Atoi(strings.TrimSuffix(lenStr, " "))
		if err != nil || size <= 0 || size > 1<<20 {
			tb.Errorf("bad frame length %q", lenStr)
			return
		}
		msg := make([]byte, size)
		if _, err := io.ReadFull(r, msg); err != nil {
			tb.Errorf("short frame: %v", err)
			return
		}
		s.got(tb, msg)
		if s.closeAfter > 0 && n == s.closeAfter {
			return
		}
	}
}

func (s *syslogListener) got(tb testing.TB, b []byte) {
	m, err := syslog.Parse(b)
	if err != nil {
		tb.Errorf("unparsable message %q: %v", b, err)
		return
	}
	if m.Format != syslog.RFC5424 {
		tb.Errorf("message %q parsed as %v", b, m.Format)
	}
	s.mu.Lock()
	s.raw = append(s.raw, append([]byte(nil), b...))
	s.mu.Unlock()
	s.msgs <- m
}

func (s *syslogListener) wait(tb testing.TB, n int) []syslog.Message {
	tb.Helper()
	var out []syslog.Message
	timeout := time.After(5 * time.Second)
	for len(out) < n {
		select {
		case m := <-s.msgs:
			out = append(out, m)
		case <-timeout:
			tb.Fatalf("received %d of %d messages", len(out), n)
		}
	}
	return out
}

func TestSyslog(t *testing.T) {
	ca := newTestCA(t)
	for _, network := range []string{"tcp", "udp", "tls"} {
		t.Run(network, func(t *testing.T) {
			l := listenSyslog(t, network, ca.serverConfig(), 0)
			s, err := NewSyslog(SyslogConfig{Name: "siem", Network: network, Address: l.addr, Hostname: "cdewatch-1", Facility: "local4", TLS: TLSOptions{CAFile: ca.caFile}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			alerts := sampleAlerts(t)
			if err := s.Send(context.Background(), alerts); err != nil {
				t.Fatal(err)
			}
			msgs := l.wait(t, len(alerts))
			wantSev := []syslog.Severity{syslog.Err, syslog.Crit, syslog.Notice}
			for i, m := range msgs {
				a := alerts[i]
				if m.Facility != syslog.Local4 || m.Severity != wantSev[i] || m.Hostname != "cdewatch-1" || m.AppName != "cdewatch" || m.MsgID != "alert" || !m.BOM {
					t.Errorf("message %d header: %+v", i, m)
				}
				if !m.Timestamp.Equal(a.Detected) {
					t.Errorf("message %d timestamp %v, want %v", i, m.Timestamp, a.Detected)
				}
				if m.Message != OneLine(a.Summary) {
					t.Errorf("message %d MSG %q", i, m.Message)
				}
				if len(m.StructuredData) != 1 || m.StructuredData[0].ID != DefaultSDID {
					t.Fatalf("message %d structured data %+v", i, m.StructuredData)
				}
				want := map[string]string{
					"id": AlertID(a), "rule": a.Rule, "severity": a.Severity.String(), "kind": a.Kind,
					"pci": strings.Join(a.PCI, ","), "mitre": strings.Join(a.MITRE, ","), "source": a.Source, "key": a.Key,
					"time": a.Time.UTC().Format(time.RFC3339Nano),
				}
				for k, v := range want {
					got, ok := m.Param(DefaultSDID, k)
					if v == "" && !ok {
						continue
					}
					if got != v {
						t.Errorf("message %d: %s=%q, want %q", i, k, got, v)
					}
				}
			}
			seqs, _ := msgs[2].Param(DefaultSDID, "seqs")
			if seqs != "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35" {
				t.Errorf("seqs %q: want the first and last 16", seqs)
			}
		})
	}
}

func TestSyslogFormatGolden(t *testing.T) {
	s, err := NewSyslog(SyslogConfig{Name: "siem", Address: "127.0.0.1:514", Hostname: "cdewatch-1"})
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, a := range sampleAlerts(t) {
		msg := s.Format(a)
		// PROCID is the process id: normalize it.
		msg = []byte(strings.Replace(string(msg), " cdewatch "+strconv.Itoa(pid())+" ", " cdewatch PID ", 1))
		out = append(append(out, msg...), '\n')
	}
	golden(t, "syslog.golden.txt", out)
}

// TestSyslogReconnects: the server closes the connection after each
// message; the next Send notices and reconnects instead of writing into a
// dead connection.
func TestSyslogReconnects(t *testing.T) {
	l := listenSyslog(t, "tcp", nil, 1)
	s, err := NewSyslog(SyslogConfig{Name: "siem", Address: l.addr})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	alerts := sampleAlerts(t)
	for i := range alerts {
		if err := s.Send(context.Background(), alerts[i:i+1]); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		l.wait(t, 1)
		time.Sleep(20 * time.Millisecond) // let the server's FIN arrive
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns != len(alerts) {
		t.Errorf("%d connections, want %d", l.conns, len(alerts))
	}
}

func TestSyslogDown(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	s, _ := NewSyslog(SyslogConfig{Name: "siem", Address: addr})
	if err := s.Send(context.Background(), sampleAlerts(t)); err == nil || IsPermanent(err) {
		t.Errorf("err = %v, want a transient error", err)
	}
}

func TestSyslogUDPSizeCap(t *testing.T) {
	s, _ := NewSyslog(SyslogConfig{Name: "siem", Network: "udp", Address: "127.0.0.1:514", MaxUDPBytes: 600})
	a := sampleAlerts(t)[0]
	a.Summary = strings.Repeat("x", 5000)
	msg := s.Format(a)
	if len(msg) > 600 {
		t.Fatalf("%d bytes", len(msg))
	}
	if _, err := syslog.Parse(msg); err != nil {
		t.Errorf("capped message does not parse: %v", err)
	}
}
