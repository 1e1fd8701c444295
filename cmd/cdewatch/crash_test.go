package main

import (
	"bufio"
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/proctest"
)

func buildBinary(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "cdewatch")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startBinary starts bin serve on data and addr, with extra flags, and
// returns once it answers /healthz. Its log is cmd.Stderr, a
// *bytes.Buffer to read once the process has been waited for.
func startBinary(tb testing.TB, bin, data, addr string, extra ...string) *exec.Cmd {
	tb.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--data", data, "--listen", addr}, extra...)...)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			tb.Fatalf("server did not become healthy:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill -9 the server while the load generator runs; after a restart every
// acknowledged event is in the ledger and verify passes.
func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a load: skipped in -short mode")
	}
	bin := buildBinary(t)
	data := t.TempDir()
	addr := proctest.FreeAddr(t)
	srv := startBinary(t, bin, data, addr)
	url := "http://" + addr

	out, err := exec.Command(bin, "token", "create", "--source", "crash", "--server", url, "--admin-token-file", filepath.Join(data, "admin.token")).Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	tokFile := filepath.Join(t.TempDir(), "ingest.token")
	os.WriteFile(tokFile, out, 0o600)
	acked := filepath.Join(t.TempDir(), "acked.txt")
	bench := exec.Command(bin, "bench", "--server", url, "--token-file", tokFile, "--acked", acked, "--duration", "4s", "--concurrency", "4", "--batch", "100")
	if err := bench.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	srv.Wait()
	bench.Wait() // exits after its duration; requests after the kill fail

	srv = startBinary(t, bin, data, addr)
	srv.Process.Signal(syscall.SIGTERM)
	if err := srv.Wait(); err != nil {
		t.Fatalf("clean stop after restart: %v", err)
	}
	if out, err := exec.Command(bin, "verify", "--data", data, "--quiet").CombinedOutput(); err != nil {
		t.Fatalf("verify after crash: %v\n%s", err, out)
	}

	stored := map[string]bool{}
	for _, r := range readRecords(t, data) {
		if id, _, ok := strings.Cut(r.Key, "/"); ok {
			stored[id] = true
		}
	}
	f, err := os.Open(acked)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		if !stored[sc.Text()] {
			t.Fatalf("acknowledged event %s is missing after kill -9", sc.Text())
		}
	}
	if n == 0 {
		t.Fatal("no event was acknowledged before the kill: the test proved nothing")
	}
	t.Logf("%d acknowledged events all present after kill -9; %d stored in total", n, len(stored))
}

// bench --self runs a server with the query index, loads it and reports
// when every acknowledged event became queryable (counted with KQL), and
// how long each acknowledged request took to become queryable.
func TestBenchSelfReportsIndexCatchUp(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a load: skipped in -short mode")
	}
	bin := buildBinary(t)
	out, err := exec.Command(bin, "bench", "--self", "--no-detect", "--duration", "2s", "--rate", "4000").CombinedOutput()
	if err != nil {
		t.Fatalf("bench --self: %v\n%s", err, out)
	}
	acked := regexp.MustCompile(`acknowledged (\d+) events`).FindSubmatch(out)
	caught := regexp.MustCompile(`query index: (\d+) acked events not queryable when the load ended, all queryable [0-9.]+s later`).FindSubmatch(out)
	requests := regexp.MustCompile(`acknowledged \d+ events in (\d+) requests`).FindSubmatch(out)
	visible := regexp.MustCompile(`query index visibility, acknowledgement to queryable \(cursor read every 100ms\), (\d+) requests: p50 \S+ p90 \S+ p99 \S+ max \S+\n`).FindSubmatch(out)
	cpu := regexp.MustCompile(`process CPU \(server and load generator\): [0-9.]+ of \d+ cores during the load; [0-9.]+ µs per acknowledged event until all were queryable\n`).Find(out)
	if acked == nil || caught == nil || requests == nil || visible == nil || cpu == nil {
		t.Fatalf("bench --self printed:\n%s", out)
	}
	if n, _ := strconv.Atoi(string(acked[1])); n < 4000 {
		t.Errorf("%d events acknowledged, want at least 4000:\n%s", n, out)
	}
	// Every request was timed until queryable: none is missing or unseen.
	if string(visible[1]) != string(requests[1]) {
		t.Errorf("%s requests timed until queryable, %s acknowledged:\n%s", visible[1], requests[1], out)
	}
}

// serve --log-level sets the least severe messages logged; a server
// without detection says so.
func TestServeLogLevel(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary: skipped in -short mode")
	}
	bin := buildBinary(t)
	t.Setenv("GOMAXPROCS", "") // serve raises it, and says so at debug level
	noDetect := filepath.Join(t.TempDir(), "nodetect.yaml")
	if err := os.WriteFile(noDetect, []byte("detect:\n  enabled: false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args           []string
		want, wantNone string
	}{
		{nil, "level=INFO msg=\"cdewatch serving\"", "level=DEBUG"},
		{[]string{"--log-level", "debug"}, "level=DEBUG msg=\"GOMAXPROCS raised for the query index\"", ""},
		{[]string{"--log-level", "warn"}, "", "level=INFO"},
		{[]string{"--log-level", "warn", "--config", noDetect}, "level=WARN msg=\"detection is off (detect.enabled: false)", "level=INFO"},
	} {
		srv := startBinary(t, bin, t.TempDir(), proctest.FreeAddr(t), c.args...)
		if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := srv.Wait(); err != nil {
			t.Errorf("%v: serve ended with %v", c.args, err)
		}
		logs := srv.Stderr.(*bytes.Buffer).String()
		if !strings.Contains(logs, c.want) || c.wantNone != "" && strings.Contains(logs, c.wantNone) {
			t.Errorf("serve %v logged, want %s and no %q:\n%s", c.args, c.want, c.wantNone, logs)
		}
	}
	out, err := exec.Command(bin, "serve", "--log-level", "loud").CombinedOutput()
	if err == nil || !strings.Contains(string(out), `invalid value "loud" for flag -log-level`) {
		t.Errorf("serve --log-level loud: %v\n%s", err, out)
	}
}
