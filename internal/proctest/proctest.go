// Package proctest runs, as child processes of a test, the real servers
// the tests talk to where no Go library can stand in for them (object
// stores, witnesses, syslog daemons).
package proctest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Missing ends a test whose server is not installed: skipped with msg
// (which names what to install), or failed when the environment variable
// CI is set, since CI installs every such server.
func Missing(tb testing.TB, msg string) {
	tb.Helper()
	if os.Getenv("CI") != "" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

// FreeAddr returns a loopback address whose port was free just now.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Run starts cmd with its output in dir/<name>.log, stops it when the test
// ends, and waits until addr accepts connections; the test fails, with the
// log, if the process exits first or does not listen within 30 s.
func Run(tb testing.TB, cmd *exec.Cmd, name, dir, addr string) {
	tb.Helper()
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		tb.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tb.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		logf.Close()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s did not listen on %s", name, addr)
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(logf.Name())
			tb.Fatalf("%s exited: %v\n%s", name, err, log)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
