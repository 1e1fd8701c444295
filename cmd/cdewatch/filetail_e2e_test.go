package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/config"
	"github.com/cdewatch/cdewatch/internal/event"
)

// appendLines appends audit events first..last-1 (one JSON object per line,
// as kube-apiserver's log backend writes them).
func appendLines(tb testing.TB, path string, first, last int) {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	for i := first; i < last; i++ {
		fmt.Fprintf(&b, validEvent+"\n", fmt.Sprintf("file-%05d", i))
	}
	if _, err := f.WriteString(b.String()); err != nil {
		tb.Fatal(err)
	}
}

// fileEvents counts the stored audit events by auditID.
func fileEvents(tb testing.TB, data string) map[string]int {
	seen := map[string]int{}
	for _, r := range readRecords(tb, data) {
		if r.Table == event.TableKubeAudit {
			id, _, _ := strings.Cut(r.Key, "/")
			seen[id]++
			if r.Source != "file-cluster" {
				tb.Fatalf("record from source %q", r.Source)
			}
		}
	}
	return seen
}

// Audit log files are followed across restarts and lumberjack-style
// rotation: every line stored exactly once.
func TestAuditFileFollowedAcrossRestartAndRotation(t *testing.T) {
	data := t.TempDir()
	logDir := t.TempDir()
	path := filepath.Join(logDir, "audit.log")
	withFile := func(c *config.Config) {
		c.AuditFiles = []config.AuditFile{{Path: path, Source: "file-cluster"}}
		// The test counts ledger leaves: no alert records among them.
		c.Detect.Enabled = false
	}
	appendLines(t, path, 0, 300)
	waitFor := func(ts *testServer, want int) {
		// The server holds the ledger; poll the checkpoint size via the API.
		deadline := time.Now().Add(30 * time.Second)
		admin, _ := os.ReadFile(filepath.Join(data, "admin.token"))
		for {
			_, body, _ := do(t, "GET", "http://"+ts.addr+"/v1/checkpoint", strings.TrimSpace(string(admin)), nil)
			var size int
			if lines := strings.Split(string(body), "\n"); len(lines) > 1 {
				fmt.Sscan(lines[1], &size)
			}
			if size >= want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("ledger has %d leaves after 30s, want %d", size, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	ts := startServer(t, data, "", withFile)
	waitFor(ts, 2+300) // ledger.init, serve.start, 300 events
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	// While stopped: more lines, then a rotation, then lines in the new file.
	appendLines(t, path, 300, 400)
	if err := os.Rename(path, filepath.Join(logDir, "audit-2026-11-26T10-15-30.123.log")); err != nil {
		t.Fatal(err)
	}
	appendLines(t, path, 400, 450)
	ts = startServer(t, data, "", withFile)
	waitFor(ts, 302+2+150) // serve.stop, serve.start, 150 events
	// While running: another rotation.
	appendLines(t, path, 450, 500)
	os.Rename(path, filepath.Join(logDir, "audit-2026-11-26T10-20-00.000.log"))
	appendLines(t, path, 500, 520)
	waitFor(ts, 454+70)
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	seen := fileEvents(t, data)
	for i := range 520 {
		if n := seen[fmt.Sprintf("file-%05d", i)]; n != 1 {
			t.Fatalf("line %d stored %d times", i, n)
		}
	}
	if len(seen) != 520 {
		t.Fatalf("%d events stored, want 520", len(seen))
	}
}
