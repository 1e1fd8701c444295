package syslog

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/event/eventtest"
)

// TestStream sends frames of every kind over TCP connections and checks
// the records and rejects in the ledger.
func TestStream(t *testing.T) {
	p, l := newPipeline(t)
	s := serve(t, Listener{Network: NetworkTCP, Source: "web"}, Options{Store: p})
	cases := []struct {
		name     string
		frame    string // as sent
		raw      string // stored Raw; "" for a reject
		action   string
		resource string
		time     string // RFC 3339, "" to skip
		reason   string // for a reject: part of the reason
	}{
		{name: "octet-counted RFC 5424", frame: octet(`<86>1 2026-11-26T15:53:19.819474+01:00 web-01 sshd 4242 - [timeQuality tzKnown="1"] Failed password for root`),
			raw:    `<86>1 2026-11-26T15:53:19.819474+01:00 web-01 sshd 4242 - [timeQuality tzKnown="1"] Failed password for root`,
			action: "authpriv.info sshd", resource: "web-01", time: "2026-11-26T14:53:19.819474Z"},
		{name: "LF-delimited RFC 3164", frame: "<85>Nov 26 15:53:19 web-02 sudo:    alice : COMMAND=/bin/true\n",
			raw: "<85>Nov 26 15:53:19 web-02 sudo:    alice : COMMAND=/bin/true", action: "authpriv.notice sudo", resource: "web-02"},
		{name: "LF-delimited with CR, no hostname", frame: "<13>Nov 26 15:53:19 app: crlf\r\n",
			raw: "<13>Nov 26 15:53:19 app: crlf\r", action: "user.notice app", resource: "127.0.0.1"},
		{name: "no hostname, app or time", frame: "<14>just text\n", raw: "<14>just text", action: "user.info", resource: "127.0.0.1"},
		{name: "octet-counted with newlines inside", frame: octet("<14>1 - host app - - - line one\nline two\n"),
			raw: "<14>1 - host app - - - line one\nline two\n", action: "user.info app", resource: "host"},
		{name: "unparsable RFC 5424", frame: octet("<14>1 2026-11-26T10:00:00Z host app - - missing-sd text"),
			reason: "STRUCTURED-DATA: want '-' or '[', found 'm'"},
		{name: "bad PRI", frame: "<999>oops\n", reason: "PRI: value 999 is out of range 0-191"},
	}
	for _, tc := range cases {
		send(t, s, tc.frame)
	}
	waitHandled(t, s, uint64(len(cases)))
	recs := eventtest.Stored(t, l, 0)
	// Connections may be served in any order: match records by Raw.
	byRaw := map[string]event.Record{}
	for _, r := range syslogRecords(recs) {
		byRaw[string(r.Raw)] = r
	}
	rjs := rejects(t, recs)
	for _, tc := range cases {
		if tc.reason != "" {
			found := false
			for _, rj := range rjs {
				found = found || strings.Contains(rj.Reason, tc.reason) && strings.Contains(rj.Reason, "from 127.0.0.1") &&
					rj.Source == "web" && rj.Via == "syslog/tcp"
			}
			if !found {
				t.Errorf("%s: no reject with reason %q in %+v", tc.name, tc.reason, rjs)
			}
			continue
		}
		r, ok := byRaw[tc.raw]
		if !ok {
			t.Errorf("%s: no record with Raw %q", tc.name, tc.raw)
			continue
		}
		if r.Table != event.TableSyslog || r.Source != "web" || r.OriginIP != "127.0.0.1" || r.Outcome != event.Unknown || r.User != "" ||
			r.Action != tc.action || r.Resource != tc.resource || r.Received.IsZero() {
			t.Errorf("%s: record %+v, want action %q resource %q", tc.name, r, tc.action, tc.resource)
		}
		if tc.time != "" && r.Time.Format(time.RFC3339Nano) != tc.time {
			t.Errorf("%s: time %s, want %s", tc.name, r.Time.Format(time.RFC3339Nano), tc.time)
		}
		if strings.Contains(tc.raw, "Nov 26") && (r.Time.Month() != time.November || r.Time.Day() != 26) {
			t.Errorf("%s: time %s", tc.name, r.Time)
		}
	}
	if len(byRaw) != 5 || len(rjs) != 2 {
		t.Errorf("%d records, %d rejects; want 5 and 2", len(byRaw), len(rjs))
	}
	if st := s.Stats(); st.Received != 7 || st.Stored != 5 || st.Rejected != 2 || st.Lost != 0 || st.Connections != 7 {
		t.Errorf("stats %+v", st)
	}
}

// TestOrderAndBatching sends many messages over one connection, in
// batches of 100, and checks they are all stored in order.
func TestOrderAndBatching(t *testing.T) {
	p, l := newPipeline(t)
	s := serve(t, Listener{Network: NetworkTCP, Source: "web"}, Options{Store: p, MaxBatchMessages: 100})
	const n = 2500
	var b strings.Builder
	for i := range n {
		m := fmt.Sprintf("<14>1 2026-11-26T10:00:00Z host app - - - message %05d", i)
		if i%2 == 0 {
			b.WriteString(octet(m))
		} else {
			b.WriteString(m + "\n")
		}
	}
	send(t, s, b.String())
	waitHandled(t, s, n)
	sys := syslogRecords(eventtest.Stored(t, l, 0))
	if len(sys) != n {
		t.Fatalf("%d records, want %d", len(sys), n)
	}
	for i, r := range sys {
		if want := fmt.Sprintf("message %05d", i); !bytes.HasSuffix(r.Raw, []byte(want)) {
			t.Fatalf("record %d is %q, want %s", i, r.Raw, want)
		}
	}
}

// TestOversized checks that an oversized message becomes a reject with an
// excerpt and that the message after it is intact.
func TestOversized(t *testing.T) {
	p, l := newPipeline(t)
	const max = 480
	big := "<14>1 - host app - - - " + strings.Repeat("A", 2000)
	next := "<14>1 - host app - - - next"
	tcp := serve(t, Listener{Network: NetworkTCP, Source: "web", MaxMessageBytes: max}, Options{Store: p})
	udp := serve(t, Listener{Network: NetworkUDP, Source: "web", MaxMessageBytes: max}, Options{Store: p})
	send(t, tcp, octet(big)+octet(next))
	waitHandled(t, tcp, 2)
	send(t, tcp, big+"\n"+next+"\n")
	waitHandled(t, tcp, 4)
	c, err := net.Dial("udp", udp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, m := range []string{big, next} {
		if _, err := c.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	waitHandled(t, udp, 2)
	recs := eventtest.Stored(t, l, 0)
	sys := syslogRecords(recs)
	if len(sys) != 3 {
		t.Fatalf("%d records, want 3", len(sys))
	}
	for _, r := range sys {
		if string(r.Raw) != next {
			t.Errorf("record %q, want %q", r.Raw, next)
		}
	}
	rjs := rejects(t, recs)
	want := []string{"octet-counted frame of 2023 bytes exceeds max_message_bytes (480)", "LF-delimited frame of 2023 bytes exceeds",
		"datagram of 2023 bytes exceeds max_message_bytes (480)"}
	if len(rjs) != len(want) {
		t.Fatalf("rejects %+v", rjs)
	}
	for i, rj := range rjs {
		if !strings.Contains(rj.Reason, want[i]) || !strings.HasPrefix(rj.Excerpt, "<14>1 - host app - - - AAAA") || len(rj.Excerpt) > 256 {
			t.Errorf("reject %d: %+v, want reason %q and an excerpt", i, rj, want[i])
		}
	}
	if st := tcp.Stats(); st.Oversized != 2 {
		t.Errorf("tcp stats %+v", st)
	}
}

// TestPANMasked checks that card numbers in messages never reach the
// ledger: the pipeline masks them in Raw, and rejects keep masked excerpts.
func TestPANMasked(t *testing.T) {
	p, l := newPipeline(t)
	s := serve(t, Listener{Network: NetworkTCP, Source: "shop"}, Options{Store: p})
	u := serve(t, Listener{Network: NetworkUDP, Source: "shop"}, Options{Store: p})
	pans := []string{"4111 1111 1111 1111", "4111111111111111", "5500-0000-0000-0004"}
	send(t, s, octet("<14>1 2026-11-26T10:00:00Z host pay - - [order card=\"4111111111111111\"] card 4111 1111 1111 1111 declined")+
		"<14>Nov 26 10:00:00 host pay: refund to 5500-0000-0000-0004\n"+
		"<999>broken frame with 4111111111111111\n")
	c, err := net.Dial("udp", u.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("<14>Nov 26 10:00:00 host pay: udp 4111 1111 1111 1111"))
	c.Close()
	waitHandled(t, s, 3)
	waitHandled(t, u, 1)
	n := 0
	if err := l.ReadRange(0, l.Size(), func(_ uint64, b []byte) error {
		n++
		for _, pan := range pans {
			if bytes.Contains(b, []byte(pan)) {
				t.Errorf("the ledger holds PAN %s: %q", pan, b)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	recs := eventtest.Stored(t, l, 0)
	masked := 0
	for _, r := range recs {
		if r.Action == event.ActionPANMasked {
			masked++
		}
	}
	if masked != 2 || len(syslogRecords(recs)) != 3 {
		t.Errorf("%d scrub.pan findings, %d syslog records in %d; want 2 and 3", masked, len(syslogRecords(recs)), n)
	}
	if sys := syslogRecords(recs); len(sys) > 0 && !strings.Contains(string(sys[0].Raw), "card 4111 11** **** 1111 declined") {
		t.Errorf("raw not masked as expected: %q", sys[0].Raw)
	}
}

// TestBackpressureTCP checks that while the store pushes back the server
// stops reading the connection (TCP flow control stops the sender), and
// that once it accepts again every message is stored, in order.
func TestBackpressureTCP(t *testing.T) {
	p, l := newPipeline(t)
	fs := &flakyStore{next: p, release: make(chan struct{})}
	s := serve(t, Listener{Network: NetworkTCP, Source: "web"}, Options{Store: fs, MaxBatchMessages: 100,
		RetryBackoff: time.Millisecond, MaxRetryBackoff: 20 * time.Millisecond})
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 150)
	sent := 0
	var rest []byte // the part of a message a timed-out write did not send
	for sent < 2_000_000 {
		m := []byte(octet(fmt.Sprintf("<14>1 2026-11-26T10:00:00Z host app - - - %s %07d", pad, sent)))
		c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := c.Write(m)
		sent++
		if err != nil {
			if !isTimeout(err) {
				t.Fatal(err)
			}
			rest = m[n:]
			break
		}
	}
	if rest == nil {
		t.Fatalf("%d messages written without the server pushing back", sent)
	}
	// The server stopped reading: what it has framed does not grow.
	st := s.Stats()
	time.Sleep(300 * time.Millisecond)
	st2 := s.Stats()
	if st2.Received != st.Received || st2.Stored != 0 || st2.Pushbacks == 0 {
		t.Fatalf("while pushed back: stats %+v then %+v", st, st2)
	}
	// The storer holds one batch, the queue one, the reader a third.
	if st.Received > 3*100 {
		t.Errorf("the server read %d messages while the store refused them; want at most 3 batches", st.Received)
	}
	t.Logf("sender blocked after %d messages (%d framed by the server) and %d refused Store calls", sent, st.Received, st2.Pushbacks)
	close(fs.release)
	c.SetWriteDeadline(time.Time{})
	if _, err := c.Write(rest); err != nil {
		t.Fatal(err)
	}
	c.Close()
	waitHandled(t, s, uint64(sent))
	sys := syslogRecords(eventtest.Stored(t, l, 0))
	if len(sys) != sent {
		t.Fatalf("%d records stored, %d sent", len(sys), sent)
	}
	for i, r := range sys {
		if !bytes.HasSuffix(r.Raw, []byte(fmt.Sprintf(" %07d", i))) {
			t.Fatalf("record %d out of order: %q", i, r.Raw)
		}
	}
	if st := s.Stats(); st.Lost != 0 || st.Stored != uint64(sent) {
		t.Errorf("stats %+v", st)
	}
}

// TestPushbackRetried checks that a batch refused N times is stored once
// the store accepts it, and nothing is lost.
func TestPushbackRetried(t *testing.T) {
	for _, network := range []string{NetworkTCP, NetworkUDP} {
		t.Run(network, func(t *testing.T) {
			p, l := newPipeline(t)
			fs := &flakyStore{next: p, refuse: 5}
			s := serve(t, Listener{Network: network, Source: "web"}, Options{Store: fs, RetryBackoff: time.Millisecond})
			c, err := net.Dial(network, s.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			for i := range 50 {
				m := fmt.Sprintf("<14>1 - host app - - - m%d", i)
				if network == NetworkTCP {
					m = octet(m)
				}
				if _, err := c.Write([]byte(m)); err != nil {
					t.Fatal(err)
				}
				if network == NetworkUDP {
					time.Sleep(100 * time.Microsecond) // do not overrun the socket buffer
				}
			}
			c.Close()
			waitHandled(t, s, 50)
			if got := len(syslogRecords(eventtest.Stored(t, l, 0))); got != 50 {
				t.Errorf("%d records, want 50", got)
			}
			if st := s.Stats(); st.Pushbacks != 5 || st.Lost != 0 || st.Stored != 50 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestUDPLoss checks that UDP messages the store keeps refusing are given
// up on after UDPRetryFor, counted as lost, and that the server goes on.
func TestUDPLoss(t *testing.T) {
	p, l := newPipeline(t)
	fs := &flakyStore{next: p, release: make(chan struct{})}
	s := serve(t, Listener{Network: NetworkUDP, Source: "web"}, Options{Store: fs, UDPRetryFor: 100 * time.Millisecond,
		RetryBackoff: 10 * time.Millisecond})
	c, err := net.Dial("udp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 10 {
		c.Write([]byte(fmt.Sprintf("<14>1 - host app - - - lost %d", i)))
	}
	waitFor(t, "10 lost messages", func() bool { return s.Stats().Lost == 10 })
	close(fs.release)
	c.Write([]byte("<14>1 - host app - - - kept"))
	waitFor(t, "a stored message", func() bool { return s.Stats().Stored == 1 })
	sys := syslogRecords(eventtest.Stored(t, l, 0))
	if len(sys) != 1 || string(sys[0].Raw) != "<14>1 - host app - - - kept" {
		t.Errorf("records %v", sys)
	}
}

// TestShutdownFlush checks that Close stores the batch being filled.
func TestShutdownFlush(t *testing.T) {
	for _, network := range []string{NetworkTCP, NetworkUDP} {
		t.Run(network, func(t *testing.T) {
			p, l := newPipeline(t)
			s, err := Listen(Listener{Network: network, Address: "127.0.0.1:0", Source: "web"},
				Options{Store: p, MaxBatchDelay: time.Hour, Log: testLog(t)})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- s.Serve(t.Context()) }()
			c, err := net.Dial(network, s.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for i := range 3 {
				c.Write([]byte(octet(fmt.Sprintf("<14>1 - host app - - - pending %d", i))))
			}
			waitFor(t, "3 messages read", func() bool { return s.Stats().Received == 3 })
			if s.Stats().Stored != 0 {
				t.Fatal("stored before the batch delay")
			}
			s.Close()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if got := len(syslogRecords(eventtest.Stored(t, l, 0))); got != 3 {
				t.Errorf("%d records after Close, want 3", got)
			}
		})
	}
}

// TestServeContext checks that cancelling Serve's context stops it.
func TestServeContext(t *testing.T) {
	p, _ := newPipeline(t)
	s, err := Listen(Listener{Network: NetworkTCP, Address: "127.0.0.1:0", Source: "web"}, Options{Store: p, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("<14>open\n"))
	waitFor(t, "a message", func() bool { return s.Stats().Stored == 1 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context was cancelled")
	}
	if _, err := net.Dial("tcp", s.Addr().String()); err == nil {
		t.Error("still accepting after stop")
	}
}

// TestIdleAndMaxConnections checks the idle timeout and the cap on
// connections.
func TestIdleAndMaxConnections(t *testing.T) {
	p, _ := newPipeline(t)
	s := serve(t, Listener{Network: NetworkTCP, Source: "web"}, Options{Store: p, MaxConnections: 1, IdleTimeout: 300 * time.Millisecond})
	c1, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c1.Write([]byte("<14>first\n"))
	waitFor(t, "the first connection", func() bool { return s.Stats().Stored == 1 })
	// A second connection is closed at once.
	c2, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c2.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("second connection: read %v, want it closed", err)
	}
	// The first is closed once idle.
	start := time.Now()
	c1.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c1.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("idle connection: read %v, want EOF", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("idle connection closed after %v", d)
	}
	waitFor(t, "no open connection", func() bool { return s.Stats().Open == 0 })
	if st := s.Stats(); st.Refused != 1 || st.Connections != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestTLSClientAuth checks RFC 5425 reception with client certificates:
// the certificate's CN or a DNS SAN gives the source, and clients without
// a certificate, with one from another CA, with an unmapped one or an
// ambiguous one are refused.
func TestTLSClientAuth(t *testing.T) {
	pki := newCerts(t)
	other := newCerts(t)
	p, l := newPipeline(t)
	s := serve(t, Listener{Network: NetworkTLS, Source: "", CertFile: pki.certFile, KeyFile: pki.key, ClientCAFile: pki.caFile,
		ClientSources: map[string]string{"node-a.example": "cluster-a", "NODE-B.example": "cluster-b", "both.example": "cluster-a"}},
		Options{Store: p})
	aCert, aKey := pki.issue(t, "a", "node-a.example", nil, false)
	bCert, bKey := pki.issue(t, "b", "some host", []string{"x.example", "node-b.example"}, false)
	strangerCert, strangerKey := pki.issue(t, "stranger", "stranger.example", nil, false)
	ambCert, ambKey := pki.issue(t, "ambiguous", "both.example", []string{"node-b.example"}, false)
	otherCert, otherKey := other.issue(t, "other", "node-a.example", nil, false)

	for _, tc := range []struct {
		name           string
		certFile, key  string
		source         string // "" when refused
		refusedPattern string
	}{
		{"CN maps", aCert, aKey, "cluster-a", ""},
		{"DNS SAN maps, case-insensitively", bCert, bKey, "cluster-b", ""},
		{"no certificate", "", "", "", "certificate"},
		{"unmapped certificate", strangerCert, strangerKey, "", ""},
		{"names map to two sources", ambCert, ambKey, "", ""},
		{"certificate of another CA", otherCert, otherKey, "", "certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Stats()
			conf := pki.clientConfig(t, tc.certFile, tc.key)
			msg := "<14>1 - host app - - - via " + tc.name
			c, err := tls.Dial("tcp", s.Addr().String(), conf)
			if err == nil {
				_, err = c.Write([]byte(octet(msg)))
				if err == nil {
					// With TLS 1.3 a refused client learns it on its first read.
					c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
					_, err = c.Read(make([]byte, 1))
					if isTimeout(err) {
						err = nil
					}
				}
				c.Close()
			}
			if tc.source == "" {
				if err == nil {
					t.Errorf("client was not refused")
				}
				waitFor(t, "the refusal", func() bool { return s.Stats().Refused == before.Refused+1 })
				return
			}
			if err != nil {
				t.Fatalf("client refused: %v", err)
			}
			waitFor(t, "the message", func() bool { return s.Stats().Stored == before.Stored+1 })
			var found bool
			for _, r := range syslogRecords(eventtest.Stored(t, l, 0)) {
				if string(r.Raw) == msg {
					found = true
					if r.Source != tc.source {
						t.Errorf("source %q, want %q", r.Source, tc.source)
					}
				}
			}
			if !found {
				t.Error("message not stored")
			}
		})
	}
	if st := s.Stats(); st.Stored != 2 || st.Refused != 4 {
		t.Errorf("stats %+v", st)
	}
	for _, r := range eventtest.Stored(t, l, 0) {
		if r.Table == event.TableSyslog && r.Source != "cluster-a" && r.Source != "cluster-b" {
			t.Errorf("record of a refused client stored: %+v", r)
		}
	}
}

// TestTLSWithoutClientAuth checks a TLS listener bound to one source:
// any client may send, framed by octet counting or LF.
func TestTLSWithoutClientAuth(t *testing.T) {
	pki := newCerts(t)
	p, l := newPipeline(t)
	s := serve(t, Listener{Network: NetworkTLS, Source: "edge", CertFile: pki.certFile, KeyFile: pki.key}, Options{Store: p})
	c, err := tls.Dial("tcp", s.Addr().String(), pki.clientConfig(t, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte(octet("<14>1 - host app - - - one") + "<14>1 - host app - - - two\n"))
	c.Close()
	waitHandled(t, s, 2)
	sys := syslogRecords(eventtest.Stored(t, l, 0))
	if len(sys) != 2 || sys[0].Source != "edge" || string(sys[1].Raw) != "<14>1 - host app - - - two" {
		t.Errorf("records %+v", sys)
	}
}

func TestValidate(t *testing.T) {
	pki := newCerts(t)
	for _, tc := range []struct {
		name string
		l    Listener
		want string // "" for valid
	}{
		{"udp", Listener{Network: "udp", Address: ":514", Source: "s"}, ""},
		{"tls with client auth", Listener{Network: "tls", Address: ":6514", CertFile: pki.certFile, KeyFile: pki.key,
			ClientCAFile: pki.caFile, ClientSources: map[string]string{"a": "s"}}, ""},
		{"network", Listener{Network: "sctp", Address: ":1", Source: "s"}, `network "sctp"`},
		{"no address", Listener{Network: "tcp", Source: "s"}, "address is required"},
		{"no source", Listener{Network: "tcp", Address: ":1"}, "source is required"},
		{"tls without cert", Listener{Network: "tls", Address: ":1", Source: "s"}, "tls needs cert_file and key_file"},
		{"cert on tcp", Listener{Network: "tcp", Address: ":1", Source: "s", CertFile: "x"}, "for tls only"},
		{"client CA without map", Listener{Network: "tls", Address: ":1", CertFile: "c", KeyFile: "k", ClientCAFile: "ca"}, "needs client_sources"},
		{"client CA and source", Listener{Network: "tls", Address: ":1", CertFile: "c", KeyFile: "k", ClientCAFile: "ca",
			Source: "s", ClientSources: map[string]string{"a": "s"}}, "leave source empty"},
		{"map without CA", Listener{Network: "tls", Address: ":1", CertFile: "c", KeyFile: "k", Source: "s",
			ClientSources: map[string]string{"a": "s"}}, "client_sources needs client_ca_file"},
		{"empty source in map", Listener{Network: "tls", Address: ":1", CertFile: "c", KeyFile: "k", ClientCAFile: "ca",
			ClientSources: map[string]string{"a": ""}}, "empty name or source"},
		{"message limit too small", Listener{Network: "udp", Address: ":1", Source: "s", MaxMessageBytes: 100}, "max_message_bytes 100"},
		{"TLS message limit too small", Listener{Network: "tls", Address: ":1", Source: "s", CertFile: "c", KeyFile: "k", MaxMessageBytes: 1000},
			"want 2048"},
	} {
		err := tc.l.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := Listen(Listener{Network: "tcp", Address: "127.0.0.1:0", Source: "s"}, Options{}); err == nil {
		t.Error("Listen without a Store succeeded")
	}
	_, err := Listen(Listener{Network: "tls", Address: "127.0.0.1:0", Source: "s", CertFile: "/nonexistent", KeyFile: "/nonexistent"},
		Options{Store: &flakyStore{}})
	if err == nil || !strings.Contains(err.Error(), "loading the server certificate") {
		t.Errorf("bad certificate: %v", err)
	}
	var pe interface{ Unwrap() []error }
	if err := (&Listener{}).Validate(); !errors.As(err, &pe) {
		t.Errorf("Validate joins its errors: %v", err)
	}
}

// TestConcurrentConnections sends from many connections at once.
func TestConcurrentConnections(t *testing.T) {
	p, l := newPipeline(t)
	s := serve(t, Listener{Network: NetworkTCP, Source: "web"}, Options{Store: p, MaxBatchMessages: 50})
	const conns, per = 20, 200
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() {
			var b strings.Builder
			for j := range per {
				b.WriteString(octet(fmt.Sprintf("<14>1 - host%d app - - - %d", i, j)))
			}
			send(t, s, b.String())
		})
	}
	wg.Wait()
	waitHandled(t, s, conns*per)
	sys := syslogRecords(eventtest.Stored(t, l, 0))
	if len(sys) != conns*per {
		t.Fatalf("%d records, want %d", len(sys), conns*per)
	}
	// Per connection, in order.
	next := map[string]int{}
	for _, r := range sys {
		var j int
		fmt.Sscanf(string(r.Raw[bytes.LastIndexByte(r.Raw, ' ')+1:]), "%d", &j)
		if j != next[r.Resource] {
			t.Fatalf("%s: message %d after %d", r.Resource, j, next[r.Resource]-1)
		}
		next[r.Resource]++
	}
}

// TestCollector checks the Prometheus metrics of a server.
func TestCollector(t *testing.T) {
	p, _ := newPipeline(t)
	s := serve(t, Listener{Network: NetworkUDP, Source: "web"}, Options{Store: p})
	c, err := net.Dial("udp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("<14>1 - host app - - - metric"))
	c.Close()
	waitHandled(t, s, 1)
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Collector())
	// A second server's metrics differ by their listener label.
	s2 := serve(t, Listener{Network: NetworkTCP, Source: "web"}, Options{Store: p})
	reg.MustRegister(s2.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() != "udp "+s.Addr().String() {
				continue
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			got[mf.GetName()] = v
		}
	}
	if got["cdewatch_syslog_received_messages_total"] != 1 || got["cdewatch_syslog_stored_messages_total"] != 1 ||
		got["cdewatch_syslog_lost_messages_total"] != 0 || len(got) != 9 {
		t.Errorf("metrics %v", got)
	}
}
