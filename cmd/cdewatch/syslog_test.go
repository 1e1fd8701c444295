package main

import (
	"encoding/json"
	"net"
	"os/exec"
	"strconv"
	"testing"

	"github.com/cdewatch/cdewatch/internal/config"
)

// freePort returns a TCP port free on 127.0.0.1 a moment ago.
func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestSyslogServe configures a syslog TCP listener in serve, sends a
// message with util-linux logger and finds it in the Syslog table.
func TestSyslogServe(t *testing.T) {
	logger, err := exec.LookPath("logger")
	if err != nil {
		t.Skip("logger not installed: apt-get install bsdutils")
	}
	port := freePort(t)
	data := t.TempDir()
	ts := startServer(t, data, "", func(c *config.Config) {
		c.Syslog = []config.SyslogListener{{Network: "tcp", Address: "127.0.0.1:" + strconv.Itoa(port), Source: "edge-hosts"}}
	})
	out, err := exec.Command(logger, "-n", "127.0.0.1", "-P", strconv.Itoa(port), "-T", "--rfc5424", "--octet-count",
		"-p", "authpriv.warning", "-t", "sshd", "Failed password for root from 203.0.113.7 port 52211 ssh2").CombinedOutput()
	if err != nil {
		t.Fatalf("logger: %v: %s", err, out)
	}
	reader := createToken(t, ts, "--role", "log-reader")
	rows := waitRows(t, func(q string) (int, []byte, queryResult) { return postQuery(t, ts, reader, q) },
		`Syslog | where ProcessName == "sshd" | project Source, Facility, SeverityLevel, SyslogMessage`,
		func(r [][]json.RawMessage) bool { return len(r) == 1 })
	want := []string{`"edge-hosts"`, `"authpriv"`, `"warning"`, `"Failed password for root from 203.0.113.7 port 52211 ssh2"`}
	for i, w := range want {
		if string(rows[0][i]) != w {
			t.Errorf("column %d = %s, want %s", i, rows[0][i], w)
		}
	}
}
