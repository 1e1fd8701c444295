package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/cdewatch/cdewatch/internal/config"
	"github.com/cdewatch/cdewatch/internal/ledger"
)

// TestIntegrityServe tampers with a running server's ledger — replaces the
// published checkpoint, flips a byte of a committed record, truncates the
// segment — and finds each as a critical alert naming what was damaged.
// The time from the change to the alert being queryable is logged (the
// monitor checks every integrity.interval, 1s here).
func TestIntegrityServe(t *testing.T) {
	data := t.TempDir()
	ts := startServer(t, data, "c1", func(c *config.Config) {
		c.Integrity.Interval = config.Duration(time.Second)
		c.Ledger.SegmentBytes = 1 << 20
	})
	// Enough events for the first segment to be sealed.
	for b := range 12 {
		var items []string
		for i := range 200 {
			ev := fmt.Sprintf(validEvent, fmt.Sprintf("e-%d-%d", b, i))
			pad := make([]byte, 512)
			rand.Read(pad)
			items = append(items, strings.Replace(ev, `"verb":"get"`, fmt.Sprintf(`"verb":"get","annotations":{"n":"%x"}`, pad), 1))
		}
		if status, body, _ := do(t, http.MethodPost, "http://"+ts.addr+"/v1/ingest/k8s-audit", ts.ingestToken, eventList(items...)); status != http.StatusOK {
			t.Fatalf("ingest: %d %s", status, body)
		}
	}
	auditor := createToken(t, ts, "--role", "auditor")
	post := func(q string) (int, []byte, queryResult) { return postQuery(t, ts, auditor, q) }
	waitRows(t, post, `KubeAuditLogs | count`, func(r [][]json.RawMessage) bool { return string(r[0][0]) == "2400" })
	if _, err := os.Stat(filepath.Join(data, "ledger", "segments", "00000000000000000000.seg")); err != nil {
		t.Fatal(err)
	}
	if segs, _ := filepath.Glob(filepath.Join(data, "ledger", "segments", "*.seg")); len(segs) < 2 {
		t.Fatalf("want a sealed segment, have %v", segs)
	}
	time.Sleep(2 * time.Second) // a quiet ledger: no new checkpoint overwrites the replaced one

	ledgerDir := filepath.Join(data, "ledger")
	seg := filepath.Join(ledgerDir, "segments", "00000000000000000000.seg")
	cases := []struct {
		name   string
		tamper func(tb testing.TB)
		want   string // in the alert's description
	}{
		{"replace the checkpoint", func(tb testing.TB) {
			skey, _, err := note.GenerateKey(rand.Reader, "cdewatch")
			if err != nil {
				tb.Fatal(err)
			}
			signer, _ := note.NewSigner(skey)
			n, err := note.Sign(&note.Note{Text: "cdewatch\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"}, signer)
			if err != nil {
				tb.Fatal(err)
			}
			writeTestFile(tb, filepath.Join(ledgerDir, "checkpoint"), n)
		}, "published checkpoint replaced"},
		{"flip a byte of a committed record", func(tb testing.TB) {
			b, err := os.ReadFile(seg)
			if err != nil {
				tb.Fatal(err)
			}
			b[200] ^= 0x01
			writeTestFile(tb, seg, b)
		}, "00000000000000000000.seg offset"},
		{"truncate the sealed segment", func(tb testing.TB) {
			if err := os.Truncate(seg, 600<<10); err != nil {
				tb.Fatal(err)
			}
		}, "segment truncated"},
	}
	seen := 0
	for _, tc := range cases {
		start := time.Now()
		tc.tamper(t)
		rows := waitRows(t, post, `SecurityAlert | where AlertType == "cdewatch.ledger-integrity" | project AlertSeverity, PciRequirements, Description`,
			func(r [][]json.RawMessage) bool { return len(r) > seen })
		seen = len(rows)
		var found bool
		for _, r := range rows {
			if strings.Contains(string(r[2]), tc.want) {
				found = true
				if string(r[0]) != `"High"` && string(r[0]) != `"Critical"` {
					t.Errorf("%s: severity %s", tc.name, r[0])
				}
			}
		}
		if !found {
			t.Fatalf("%s: no alert mentions %q: %s", tc.name, tc.want, rows)
		}
		t.Logf("%s: alert queryable %v after the change", tc.name, time.Since(start).Round(10*time.Millisecond))
	}
	waitRows(t, post, `CdewatchAudit | where OperationName == "integrity.damage" | count`,
		func(r [][]json.RawMessage) bool { return string(r[0][0]) >= "3" })
}

// TestVerifyAgainstCLI keeps a checkpoint fetched from a running server,
// as a witness would, and checks the stopped ledger against it with
// `cdewatch verify --against`; a ledger cut back since fails.
func TestVerifyAgainstCLI(t *testing.T) {
	data := t.TempDir()
	ts := startServer(t, data, "c1", nil)
	var items []string
	for i := range 20 {
		items = append(items, fmt.Sprintf(validEvent, fmt.Sprintf("w-%d", i)))
	}
	if status, body, _ := do(t, http.MethodPost, "http://"+ts.addr+"/v1/ingest/k8s-audit", ts.ingestToken, eventList(items...)); status != http.StatusOK {
		t.Fatalf("ingest: %d %s", status, body)
	}
	time.Sleep(1500 * time.Millisecond) // a checkpoint covering the events
	status, cp, _ := do(t, http.MethodGet, "http://"+ts.addr+"/v1/checkpoint", createToken(t, ts, "--role", "auditor"), nil)
	if status != http.StatusOK {
		t.Fatalf("checkpoint: %d %s", status, cp)
	}
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(t.TempDir(), "witnessed.checkpoint")
	writeTestFile(t, kept, cp)
	bin := buildBinary(t)
	out, err := exec.Command(bin, "verify", "--data", data, "--quiet", "--against", kept).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "consistent with 1 checkpoint(s) kept elsewhere") {
		t.Fatalf("verify --against: %v\n%s", err, out)
	}
	// Cut the ledger back to an empty copy with the same key.
	cut := t.TempDir()
	for _, f := range []string{"log.key", "log.pub"} {
		b, err := os.ReadFile(filepath.Join(data, "ledger", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(cut, "ledger"), 0o700); err != nil {
			t.Fatal(err)
		}
		writeTestFile(t, filepath.Join(cut, "ledger", f), b)
	}
	ts = startServer(t, cut, "c1", nil)
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(bin, "verify", "--data", cut, "--quiet", "--against", kept).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "FAILED") {
		t.Fatalf("verify --against a cut-back ledger passed: %s", out)
	}
}

func writeTestFile(tb testing.TB, path string, b []byte) {
	tb.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		tb.Fatal(err)
	}
}

// TestGuardsAPI drives the endpoints people use around the logs: the
// incident lifecycle, the legal hold, provable query results checked
// offline with `cdewatch prove`, the health summary and rehydration.
func TestGuardsAPI(t *testing.T) {
	data := t.TempDir()
	ts := startServer(t, data, "c1", nil)
	var items []string
	for i := range 5 {
		items = append(items, fmt.Sprintf(validEvent, fmt.Sprintf("g-%d", i)))
	}
	if status, body, _ := do(t, http.MethodPost, "http://"+ts.addr+"/v1/ingest/k8s-audit", ts.ingestToken, eventList(items...)); status != http.StatusOK {
		t.Fatalf("ingest: %d %s", status, body)
	}
	soc := createToken(t, ts, "--role", "soc-analyst")
	compliance := createToken(t, ts, "--role", "compliance")
	auditor := createToken(t, ts, "--role", "auditor")
	base := "http://" + ts.addr
	post := func(q string) (int, []byte, queryResult) { return postQuery(t, ts, auditor, q) }
	waitRows(t, post, `SecurityAlert | where AlertType == "pci.secret-read-outside-allowlist" | count`, func(r [][]json.RawMessage) bool { return string(r[0][0]) != "0" })

	// Incidents: the alerts of one rule and key share one; a person moves it forward.
	var incs []struct{ ID, Rule, Status string }
	deadline := time.Now().Add(10 * time.Second)
	for len(incs) == 0 && time.Now().Before(deadline) {
		status, body, _ := do(t, http.MethodGet, base+"/v1/incidents", soc, nil)
		if status != http.StatusOK || json.Unmarshal(body, &incs) != nil {
			t.Fatalf("incidents: %d %s", status, body)
		}
	}
	id := ""
	for _, inc := range incs {
		if inc.Rule == "pci.secret-read-outside-allowlist" {
			id = inc.ID
		}
	}
	if id == "" {
		t.Fatalf("no incident for the secret reads: %+v", incs)
	}
	// The CLI lists it and acknowledges it; the API refuses what may not be.
	socFile := filepath.Join(t.TempDir(), "soc.token")
	writeTestFile(t, socFile, []byte(soc))
	var out strings.Builder
	cli := []string{"--server", base, "--token-file", socFile}
	if err := incidentsCommand(context.Background(), append(cli, "list"), &out); err != nil || !strings.Contains(out.String(), id) {
		t.Fatalf("incidents list: %v\n%s", err, out.String())
	}
	out.Reset()
	// flags may follow the verb too
	if err := incidentsCommand(context.Background(), append([]string{"ack", id, "looking into it"}, cli...), &out); err != nil || !strings.Contains(out.String(), "acknowledged by token:") {
		t.Fatalf("incidents ack: %v\n%s", err, out.String())
	}
	for _, step := range []struct {
		body string
		want int
	}{
		{`{"status":"acknowledged","reason":"again"}`, http.StatusConflict},
		{`{"status":"resolved"}`, http.StatusBadRequest},
		{`{"status":"resolved","reason":"approved access, CHG-7"}`, http.StatusOK},
		{`{"status":"resolved","reason":"again"}`, http.StatusNotFound},
	} {
		if status, body, _ := do(t, http.MethodPost, base+"/v1/incidents/"+id+"/status", soc, []byte(step.body)); status != step.want {
			t.Fatalf("incident status %s: %d %s, want %d", step.body, status, body, step.want)
		}
	}
	rows := waitRows(t, post, fmt.Sprintf(`SecurityIncident | where IncidentName == %q | order by TimeGenerated asc | project Status, ModifiedBy`, id),
		func(r [][]json.RawMessage) bool { return len(r) == 3 })
	if string(rows[1][0]) != `"Acknowledged"` || string(rows[2][0]) != `"Resolved"` || !strings.Contains(string(rows[2][1]), "soc-analyst") {
		t.Fatalf("incident history: %s", rows)
	}

	// Legal hold: compliance sets it (here with the CLI), with a reason;
	// the change is recorded.
	complianceFile := filepath.Join(t.TempDir(), "compliance.token")
	writeTestFile(t, complianceFile, []byte(compliance))
	out.Reset()
	if err := retentionCommand(context.Background(), []string{"hold", "--server", base, "case 4711", "--token-file", complianceFile}, &out); err != nil ||
		!strings.Contains(out.String(), "legal hold: set by token:") || !strings.Contains(out.String(), "(case 4711)") || !strings.Contains(out.String(), "retention in effect: 365d") {
		t.Fatalf("retention hold: %v\n%s", err, out.String())
	}
	if status, body, _ := do(t, http.MethodGet, base+"/v1/retention", auditor, nil); status != http.StatusOK || !strings.Contains(string(body), "case 4711") {
		t.Fatalf("retention status: %d %s", status, body)
	}
	waitRows(t, post, `CdewatchAudit | where OperationName == "retention.hold" | count`, func(r [][]json.RawMessage) bool { return string(r[0][0]) == "1" })

	// A provable result, saved and checked offline with only the verifier key.
	q, _ := json.Marshal(map[string]any{"query": `KubeAuditLogs | project TimeGenerated, Source, ReceivedTime, seq | take 3`, "prove": true})
	status, answer, _ := do(t, http.MethodPost, base+"/v1/query", auditor, q)
	if status != http.StatusOK || !strings.Contains(string(answer), `"Proof"`) {
		t.Fatalf("provable query: %d %s", status, answer)
	}
	q, _ = json.Marshal(map[string]any{"query": `KubeAuditLogs | count`, "prove": true})
	if status, body, _ := do(t, http.MethodPost, base+"/v1/query", auditor, q); status != http.StatusUnprocessableEntity || !strings.Contains(string(body), "seq") {
		t.Fatalf("provable count: %d %s", status, body)
	}
	dir := t.TempDir()
	saved, forged := filepath.Join(dir, "answer.json"), filepath.Join(dir, "forged.json")
	writeTestFile(t, saved, answer)
	writeTestFile(t, forged, []byte(strings.Replace(string(answer), `"c1"`, `"c2"`, 1)))
	key, err := ledgerVerifierKey(data)
	if err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)
	if out, err := exec.Command(bin, "prove", "--key", key, saved).CombinedOutput(); err != nil || !strings.Contains(string(out), "proven: 3 rows") {
		t.Fatalf("prove: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "prove", forged, "--key", key).CombinedOutput(); err == nil || !strings.Contains(string(out), "Source") { // the flag after the file too
		t.Fatalf("prove of an altered answer: %v\n%s", err, out)
	}

	// Health and rehydration.
	if status, body, _ := do(t, http.MethodGet, base+"/v1/health", auditor, nil); status != http.StatusOK || !strings.Contains(string(body), `"healthy"`) {
		t.Fatalf("health: %d %s", status, body)
	}
	rq, _ := json.Marshal(map[string]any{"from": time.Now().Add(-time.Hour), "to": time.Now().Add(time.Minute), "reason": "investigation 12"})
	if status, body, _ := do(t, http.MethodPost, base+"/v1/rehydrate", auditor, rq); status != http.StatusOK || !strings.Contains(string(body), `"rows"`) {
		t.Fatalf("rehydrate: %d %s", status, body)
	}
	waitRows(t, post, `CdewatchAudit | where OperationName == "index.rehydrate" | count`, func(r [][]json.RawMessage) bool { return string(r[0][0]) == "1" })
	waitRows(t, post, `KubeAuditLogs | count`, func(r [][]json.RawMessage) bool { return string(r[0][0]) == "5" })
}

// A full integrity pass that overran integrity.full_pass by more than 10%
// is worth a warning (the CPU cannot keep up); one within it is not.
func TestSlowPass(t *testing.T) {
	start := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		took time.Duration
		warn bool
	}{
		{19 * time.Hour, false},
		{24 * time.Hour, false},
		{26 * time.Hour, false},
		{27 * time.Hour, true},
		{72 * time.Hour, true},
	} {
		msg := slowPass(ledger.PassResult{Started: start, Finished: start.Add(c.took), OK: true}, 24*time.Hour)
		if (msg != "") != c.warn || c.warn && !strings.Contains(msg, "integrity.full_pass") {
			t.Errorf("pass of %v against a full_pass of 24h: %q, want a warning %v", c.took, msg, c.warn)
		}
	}
}
