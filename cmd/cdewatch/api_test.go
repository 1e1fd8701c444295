package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/cdewatch/cdewatch/internal/auth"
	"github.com/cdewatch/cdewatch/internal/config"
	"github.com/cdewatch/cdewatch/internal/event"
)

func do(tb testing.TB, method, url, token string, body []byte) (int, []byte, http.Header) {
	tb.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

const validEvent = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"%s","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/payments/secrets/db","verb":"get","user":{"username":"bob@corp.example"},"sourceIPs":["10.1.2.3"],"objectRef":{"resource":"secrets","namespace":"payments","name":"db","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-26T10:00:00.000001Z","stageTimestamp":"2026-11-26T10:00:00.000002Z"}`

func eventList(items ...string) []byte {
	return []byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[` + strings.Join(items, ",") + `]}`)
}

func TestIngestAPI(t *testing.T) {
	data := t.TempDir()
	ts := startServer(t, data, "c1", func(c *config.Config) {
		c.Ingest.MaxRequestBytes = 64 << 10
		c.Ingest.MaxEventBytes = 4 << 10
	})
	adminB, _ := os.ReadFile(filepath.Join(data, auth.AdminTokenFile))
	admin := strings.TrimSpace(string(adminB))
	url := "http://" + ts.addr + "/v1/ingest/k8s-audit"
	ev := func(id string) string { return fmt.Sprintf(validEvent, id) }
	big := strings.Replace(ev("big"), `"level":"Metadata"`, `"level":"Metadata","annotations":{"x":"`+strings.Repeat("a", 5000)+`"}`, 1)
	tests := []struct {
		name       string
		token      string
		body       []byte
		wantStatus int
		wantItem   *int
		wantIn     string
	}{
		{"event list", ts.ingestToken, eventList(ev("a1"), ev("a2")), 200, nil, `"accepted":2`},
		{"redelivery is stored once", ts.ingestToken, eventList(ev("a1"), ev("a2"), ev("a3")), 200, nil, `"accepted":1,"duplicates":2`},
		{"single event", ts.ingestToken, []byte(ev("s1")), 200, nil, `"accepted":1`},
		{"v1beta1 list", ts.ingestToken, []byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1beta1","items":[` + ev("b1") + `]}`), 200, nil, `"accepted":1`},
		{"no apiVersion", ts.ingestToken, []byte(`{"items":[` + strings.Replace(ev("n1"), `"kind":"Event","apiVersion":"audit.k8s.io/v1",`, "", 1) + `]}`), 200, nil, `"accepted":1`},
		{"malformed JSON", ts.ingestToken, []byte(`{"kind":"EventList","items":[`), 400, nil, "JSON"},
		{"wrong kind", ts.ingestToken, []byte(`{"kind":"Pod","apiVersion":"audit.k8s.io/v1"}`), 400, nil, "kind"},
		{"wrong apiVersion", ts.ingestToken, []byte(`{"kind":"EventList","apiVersion":"v1","items":[]}`), 400, nil, "apiVersion"},
		{"invalid UTF-8 names the item", ts.ingestToken, eventList(ev("u1"), strings.Replace(ev("u2"), "bob", "b\xffb", 1)), 400, ptr(1), "UTF-8"},
		{"oversize event names the item", ts.ingestToken, eventList(ev("o1"), ev("o2"), big), 400, ptr(2), ""},
		{"oversize body", ts.ingestToken, eventList(strings.Repeat(ev("x")+",", 200) + ev("y")), 413, nil, "max_request_bytes"},
		{"no token", "", eventList(ev("t1")), 401, nil, "bearer"},
		{"bad token", "cdw_nope", eventList(ev("t2")), 401, nil, "invalid"},
		{"admin token cannot ingest", admin, eventList(ev("t3")), 403, nil, "ingest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := do(t, http.MethodPost, url, tt.token, tt.body)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", status, tt.wantStatus, body)
			}
			if !strings.Contains(string(body), tt.wantIn) {
				t.Errorf("body %s does not contain %q", body, tt.wantIn)
			}
			if status >= 400 {
				var e struct {
					Error string `json:"error"`
					Item  *int   `json:"item"`
				}
				if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
					t.Fatalf("error body is not JSON with an error: %s", body)
				}
				if (tt.wantItem == nil) != (e.Item == nil) || (e.Item != nil && *e.Item != *tt.wantItem) {
					t.Errorf("item = %v, want %v (%s)", e.Item, tt.wantItem, body)
				}
			}
		})
	}
	// Only /healthz and /readyz answer without a token.
	for _, path := range []string{"/healthz", "/readyz", "/v1/checkpoint", "/v1/proof/inclusion?index=0&size=1", "/v1/log/tile/0/000.p/1", "/v1/tokens", "/nope"} {
		status, _, _ := do(t, http.MethodGet, "http://"+ts.addr+path, "", nil)
		public := path == "/healthz" || path == "/readyz"
		if public && status != 200 || !public && status != 401 {
			t.Errorf("GET %s without token: %d", path, status)
		}
	}
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	// Nothing half-written: the stored audit events are exactly the accepted ones;
	// every failed authentication is a leaf.
	var keys []string
	var authFailed, denied int
	for _, r := range readRecords(t, data) {
		switch {
		case r.Table == event.TableKubeAudit:
			keys = append(keys, strings.TrimSuffix(r.Key, "/ResponseComplete"))
		case r.Action == event.ActionAuthFailed:
			authFailed++
		case r.Action == event.ActionAuthDenied:
			denied++
		}
	}
	if got := strings.Join(keys, ","); got != "a1,a2,a3,s1,b1,n1" {
		t.Errorf("stored events %s", got)
	}
	if authFailed != 2+5 || denied != 1 {
		t.Errorf("self-audit: %d auth.failed, %d auth.denied; want 7 and 1", authFailed, denied)
	}
}

func ptr(i int) *int { return &i }

// Proofs served over HTTP verify with the transparency-dev libraries
// against the signed checkpoint.
func TestProofAPI(t *testing.T) {
	data := t.TempDir()
	ts := startServer(t, data, "c1", nil)
	url := "http://" + ts.addr
	for i := range 20 {
		if status, body, _ := do(t, http.MethodPost, url+"/v1/ingest/k8s-audit", ts.ingestToken, eventList(fmt.Sprintf(validEvent, fmt.Sprint("p", i)))); status != 200 {
			t.Fatalf("ingest: %d %s", status, body)
		}
	}
	adminB, _ := os.ReadFile(filepath.Join(data, auth.AdminTokenFile))
	admin := strings.TrimSpace(string(adminB))
	vkey, err := ledgerVerifierKey(data)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	var cp *log.Checkpoint
	for cp == nil || cp.Size < 22 { // init + start + 20 events
		status, body, _ := do(t, http.MethodGet, url+"/v1/checkpoint", admin, nil)
		if status != 200 {
			t.Fatalf("checkpoint: %d %s", status, body)
		}
		if cp, _, _, err = log.ParseCheckpoint(body, v.Name(), v); err != nil {
			t.Fatal(err)
		}
	}
	for _, idx := range []uint64{0, 1, cp.Size / 2, cp.Size - 1} {
		status, body, _ := do(t, http.MethodGet, fmt.Sprintf("%s/v1/proof/inclusion?index=%d&size=%d", url, idx, cp.Size), admin, nil)
		if status != 200 {
			t.Fatalf("inclusion: %d %s", status, body)
		}
		var pr struct {
			LeafHash string   `json:"leaf_hash"`
			Proof    []string `json:"proof"`
		}
		json.Unmarshal(body, &pr)
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, idx, cp.Size, unb64(t, pr.LeafHash), unb64s(t, pr.Proof), cp.Hash); err != nil {
			t.Errorf("inclusion of %d: %v", idx, err)
		}
	}
	status, body, _ := do(t, http.MethodGet, fmt.Sprintf("%s/v1/proof/consistency?from=3&to=%d", url, cp.Size), admin, nil)
	if status != 200 {
		t.Fatalf("consistency: %d %s", status, body)
	}
	var pr struct{ Proof []string }
	json.Unmarshal(body, &pr)
	status, body3, _ := do(t, http.MethodGet, fmt.Sprintf("%s/v1/proof/inclusion?index=0&size=3", url), admin, nil)
	if status != 200 {
		t.Fatal(string(body3))
	}
	var root3 struct{ Root string }
	json.Unmarshal(body3, &root3)
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, 3, cp.Size, unb64s(t, pr.Proof), unb64(t, root3.Root), cp.Hash); err != nil {
		t.Errorf("consistency: %v", err)
	}
	for _, bad := range []string{"/v1/proof/inclusion?index=99999&size=5", "/v1/proof/inclusion?index=x&size=5", "/v1/proof/consistency?from=0&to=2"} {
		if status, body, _ := do(t, http.MethodGet, url+bad, admin, nil); status/100 != 4 {
			t.Errorf("GET %s: %d %s", bad, status, body)
		}
	}
	if status, body, _ := do(t, http.MethodGet, fmt.Sprintf("%s/v1/log/tile/0/000.p/%d", url, cp.Size), admin, nil); status != 200 || len(body) != 32*int(cp.Size) {
		t.Errorf("tile: %d, %d bytes", status, len(body))
	}
}

func unb64(tb testing.TB, s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func unb64s(tb testing.TB, ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = unb64(tb, s)
	}
	return out
}
