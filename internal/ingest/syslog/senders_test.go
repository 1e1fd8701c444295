package syslog

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/event/eventtest"
)

// lookBinary finds a program in PATH or the sbin directories (not always
// in a test's PATH), or skips the test saying what to install.
func lookBinary(tb testing.TB, name, pkg string) string {
	tb.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		if p := filepath.Join(dir, name); isExecutable(p) {
			return p
		}
	}
	tb.Skipf("%s not installed: apt-get install %s", name, pkg)
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

func shortHostname(tb testing.TB) string {
	h, err := os.Hostname()
	if err != nil {
		tb.Fatal(err)
	}
	h, _, _ = strings.Cut(h, ".")
	return h
}

// TestLogger sends messages with util-linux logger, the sender of shell
// scripts and cron jobs, over UDP and TCP in each of its formats and
// framings, and checks the records in the ledger.
func TestLogger(t *testing.T) {
	logger := lookBinary(t, "logger", "bsdutils")
	p, l := newPipeline(t)
	tcp := serve(t, Listener{Network: NetworkTCP, Source: "host-tcp"}, Options{Store: p})
	udp := serve(t, Listener{Network: NetworkUDP, Source: "host-udp"}, Options{Store: p})
	port := func(s *Server) string {
		if s.pc != nil {
			return strconv.Itoa(udpPort(s))
		}
		return strconv.Itoa(tcpPort(s))
	}
	host := shortHostname(t)
	type want struct {
		source, action, text string
		hostname             bool // the message carries the hostname
		sd                   string
	}
	cases := []struct {
		args []string
		want want
	}{
		{[]string{"-d", "-P", port(udp), "--rfc5424", "-t", "sshd", "-p", "authpriv.info", "udp rfc5424"},
			want{"host-udp", "authpriv.info sshd", "udp rfc5424", true, "timeQuality"}},
		{[]string{"-d", "-P", port(udp), "--rfc3164", "-t", "cron", "-p", "cron.notice", "udp rfc3164"},
			want{"host-udp", "cron.notice cron", "udp rfc3164", true, ""}},
		{[]string{"-d", "-P", port(udp), "--rfc5424=notime,nohost", "-t", "app", "udp rfc5424 notime nohost"},
			want{"host-udp", "user.notice app", "udp rfc5424 notime nohost", false, ""}},
		{[]string{"-T", "-P", port(tcp), "--rfc5424", "-t", "sudo", "-p", "auth.warning", "tcp rfc5424 LF"},
			want{"host-tcp", "auth.warning sudo", "tcp rfc5424 LF", true, "timeQuality"}},
		{[]string{"-T", "-P", port(tcp), "--rfc3164", "-t", "ntpd", "-p", "daemon.err", "tcp rfc3164 LF"},
			want{"host-tcp", "daemon.err ntpd", "tcp rfc3164 LF", true, ""}},
		{[]string{"-T", "-P", port(tcp), "--octet-count", "--rfc5424", "-t", "myapp", "--id=4242", "-p", "local3.debug", "--msgid", "ID47",
			"--sd-id", "order@32473", "--sd-param", `id="A-1"`, "--sd-param", `note="q\"x\]"`, "tcp rfc5424 octet"},
			want{"host-tcp", "local3.debug myapp", "tcp rfc5424 octet", true, `[order@32473 id="A-1" note="q\"x\]"]`}},
		{[]string{"-T", "-P", port(tcp), "--octet-count", "--rfc3164", "-t", "myapp", "--id=77", "tcp rfc3164 octet"},
			want{"host-tcp", "user.notice myapp", "myapp[77]: tcp rfc3164 octet", true, ""}},
		{[]string{"-T", "-P", port(tcp), "--octet-count", "--rfc5424", "-t", "pay", "card 4111 1111 1111 1111 declined"},
			want{"host-tcp", "user.notice pay", "card 4111 11** **** 1111 declined", true, ""}},
	}
	for _, tc := range cases {
		args := append([]string{"-n", "127.0.0.1"}, tc.args...)
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		out, err := exec.CommandContext(ctx, logger, args...).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("logger %q: %v\n%s", args, err, out)
		}
	}
	// Several lines on stdin: one message per line, over one TCP connection.
	cmd := exec.Command(logger, "-n", "127.0.0.1", "-T", "-P", port(tcp), "--octet-count", "--rfc5424", "-t", "multi")
	cmd.Stdin = strings.NewReader("line 1\nline 2\nline 3\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("logger from stdin: %v\n%s", err, out)
	}
	waitHandled(t, udp, 3)
	waitHandled(t, tcp, 8)
	sys := syslogRecords(eventtest.Stored(t, l, 0))
	if len(sys) != 11 {
		t.Fatalf("%d records, want 11", len(sys))
	}
	find := func(text string) *event.Record {
		for i := range sys {
			if bytes.Contains(sys[i].Raw, []byte(text)) {
				return &sys[i]
			}
		}
		return nil
	}
	now := time.Now()
	for _, tc := range cases {
		w := tc.want
		r := find(w.text)
		if r == nil {
			t.Errorf("no record holds %q", w.text)
			continue
		}
		if r.Source != w.source || r.Action != w.action || r.OriginIP != "127.0.0.1" || r.Table != event.TableSyslog {
			t.Errorf("%q: record source %q action %q origin %q, want %q %q", w.text, r.Source, r.Action, r.OriginIP, w.source, w.action)
		}
		if w.hostname && r.Resource != host || !w.hostname && r.Resource != "127.0.0.1" {
			t.Errorf("%q: resource %q (hostname %q)", w.text, r.Resource, host)
		}
		if w.hostname && (r.Time.IsZero() || r.Time.Sub(now).Abs() > 2*time.Minute) {
			t.Errorf("%q: time %s, now %s", w.text, r.Time, now)
		}
		// A record without event time: zero, which event.Record's
		// encoding currently turns into 1754-08-30 (Time.UnixNano of the
		// zero time is undefined).
		if !w.hostname && !r.Time.IsZero() && r.Time.Year() > 1800 {
			t.Errorf("%q: time %s, want none", w.text, r.Time)
		}
		if w.sd != "" && !bytes.Contains(r.Raw, []byte(w.sd)) {
			t.Errorf("%q: raw %q lacks %s", w.text, r.Raw, w.sd)
		}
	}
	for i := 1; i <= 3; i++ {
		if r := find(fmt.Sprintf("line %d", i)); r == nil || r.Action != "user.notice multi" {
			t.Errorf("line %d: %+v", i, r)
		}
	}
	if find("4111 1111 1111 1111") != nil {
		t.Error("a PAN reached the ledger")
	}
}

// TestRsyslog runs a private rsyslogd that forwards what it receives to
// the receiver over TCP with octet counting (RFC 5424), TCP with LF
// framing (RSYSLOG_ForwardFormat), UDP (RSYSLOG_TraditionalForwardFormat)
// and, with rsyslog-gnutls, TLS with a client certificate, and checks that
// every message arrives under the right source.
func TestRsyslog(t *testing.T) {
	rsyslogd := lookBinary(t, "rsyslogd", "rsyslog")
	logger := lookBinary(t, "logger", "bsdutils")
	p, l := newPipeline(t)
	octetSrv := serve(t, Listener{Network: NetworkTCP, Source: "rs-octet"}, Options{Store: p})
	lfSrv := serve(t, Listener{Network: NetworkTCP, Source: "rs-lf"}, Options{Store: p})
	udpSrv := serve(t, Listener{Network: NetworkUDP, Source: "rs-udp"}, Options{Store: p})
	servers := []*Server{octetSrv, lfSrv, udpSrv}
	dir := t.TempDir()
	actions := fmt.Sprintf(`
  action(type="omfwd" target="127.0.0.1" port="%d" protocol="tcp" TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
  action(type="omfwd" target="127.0.0.1" port="%d" protocol="tcp" template="RSYSLOG_ForwardFormat")
  action(type="omfwd" target="127.0.0.1" port="%d" protocol="udp")`, tcpPort(octetSrv), tcpPort(lfSrv), udpPort(udpSrv))
	global := ""
	var tlsSrv *Server
	if gtls := rsyslogModule("lmnsd_gtls.so"); gtls {
		pki := newCerts(t)
		cert, key := pki.issue(t, "rsyslog-client", "rsyslog-client.example", nil, false)
		tlsSrv = serve(t, Listener{Network: NetworkTLS, CertFile: pki.certFile, KeyFile: pki.key, ClientCAFile: pki.caFile,
			ClientSources: map[string]string{"rsyslog-client.example": "rs-tls"}}, Options{Store: p})
		servers = append(servers, tlsSrv)
		global = fmt.Sprintf(` DefaultNetstreamDriverCAFile=%q DefaultNetstreamDriverCertFile=%q DefaultNetstreamDriverKeyFile=%q`,
			pki.caFile, cert, key)
		actions += fmt.Sprintf(`
  action(type="omfwd" target="127.0.0.1" port="%d" protocol="tcp" StreamDriver="gtls" StreamDriverMode="1"
         StreamDriverAuthMode="x509/name" StreamDriverPermittedPeers="localhost"
         TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")`, tcpPort(tlsSrv))
	} else {
		t.Log("TLS forwarding not tested: rsyslog's gnutls driver is missing (apt-get install rsyslog-gnutls)")
	}
	conf := fmt.Sprintf(`global(workDirectory=%q maxMessageSize="64k"%s)
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName=%q ruleset="fwd")
ruleset(name="fwd") {%s
}
`, dir, global, filepath.Join(dir, "port"), actions)
	confFile := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(rsyslogd, "-n", "-f", confFile, "-i", filepath.Join(dir, "rsyslogd.pid"))
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("rsyslogd configuration:\n%s\nrsyslogd output:\n%s", conf, stderr.String())
		}
	})
	var rsPort string
	waitFor(t, "rsyslogd to listen", func() bool {
		select {
		case err := <-exited:
			t.Fatalf("rsyslogd exited: %v\n%s", err, stderr.String())
		default:
		}
		b, err := os.ReadFile(filepath.Join(dir, "port"))
		rsPort = strings.TrimSpace(string(b))
		return err == nil && rsPort != "" && rsPort != "0"
	})
	msgs := []struct{ args []string }{
		{[]string{"--rfc5424", "-t", "sshd", "--id=77", "-p", "authpriv.info", "--msgid", "M1", "Accepted publickey for bob from 192.0.2.4"}},
		{[]string{"--rfc3164", "-t", "cron", "-p", "cron.info", "(root) CMD (run-parts /etc/cron.hourly)"}},
		{[]string{"--rfc5424", "-t", "pay", "-p", "local0.warning", "refund card 4111 1111 1111 1111"}},
	}
	for _, m := range msgs {
		args := append([]string{"-n", "127.0.0.1", "-P", rsPort, "-T"}, m.args...)
		if out, err := exec.Command(logger, args...).CombinedOutput(); err != nil {
			t.Fatalf("logger %q: %v\n%s", args, err, out)
		}
	}
	for _, s := range servers {
		waitHandled(t, s, uint64(len(msgs)))
	}
	sys := syslogRecords(eventtest.Stored(t, l, 0))
	type key struct{ source, action string }
	got := map[key]int{}
	for _, r := range sys {
		got[key{r.Source, r.Action}]++
		if bytes.Contains(r.Raw, []byte("4111 1111 1111 1111")) {
			t.Errorf("PAN in the ledger: %q", r.Raw)
		}
		if r.OriginIP != "127.0.0.1" || r.Resource != shortHostname(t) || r.Time.IsZero() {
			t.Errorf("record %+v", r)
		}
	}
	sources := []string{"rs-octet", "rs-lf", "rs-udp"}
	if tlsSrv != nil {
		sources = append(sources, "rs-tls")
	}
	for _, src := range sources {
		pay := "local0.warning pay"
		if src == "rs-lf" || src == "rs-udp" {
			// rsyslog's BSD formats write the tag of an RFC 5424 message
			// without PROCID with no colon ("vm pay refund …"): a word
			// without ':' or [pid] is CONTENT (internal/syslog FORMAT.md).
			pay = "local0.warning"
		}
		for _, action := range []string{"authpriv.info sshd", "cron.info cron", pay} {
			if got[key{src, action}] != 1 {
				t.Errorf("%s: %d records of %s, want 1 (all: %v)", src, got[key{src, action}], action, got)
			}
		}
	}
	for _, s := range servers {
		if st := s.Stats(); st.Rejected != 0 {
			t.Errorf("%s: %d rejects", s.cfg.Network, st.Rejected)
		}
	}
}

// rsyslogModule reports whether an rsyslog module is installed.
func rsyslogModule(name string) bool {
	for _, pattern := range []string{"/usr/lib/*/rsyslog/", "/usr/lib/rsyslog/", "/usr/lib64/rsyslog/"} {
		if m, _ := filepath.Glob(pattern + name); len(m) > 0 {
			return true
		}
	}
	return false
}

func tcpPort(s *Server) int { return s.Addr().(*net.TCPAddr).Port }
func udpPort(s *Server) int { return s.Addr().(*net.UDPAddr).Port }
