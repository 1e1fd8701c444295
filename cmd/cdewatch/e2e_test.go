package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/plugin/pkg/audit/buffered"
	"k8s.io/apiserver/plugin/pkg/audit/webhook"

	"github.com/cdewatch/cdewatch/internal/auth"
	"github.com/cdewatch/cdewatch/internal/config"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/ledger"
	"github.com/cdewatch/cdewatch/internal/tlsutil/tlstest"
)

// testServer runs serve in-process on a fresh data directory with an
// ingest token for source; stop ends it and returns serve's error.
type testServer struct {
	data, addr, ingestToken string
	stop                    func() error
}

func startServer(tb testing.TB, data, source string, mutate func(*config.Config)) *testServer {
	tb.Helper()
	store, _, err := auth.Open(data)
	if err != nil {
		tb.Fatal(err)
	}
	tok := ""
	if source != "" {
		if tok, _, err = store.Create(auth.RoleIngest, source); err != nil {
			tb.Fatal(err)
		}
	}
	cfg := config.Default()
	cfg.Data, cfg.Listen = data, "127.0.0.1:0"
	cfg.PCI.CDENamespaces = []string{"payments"}
	if mutate != nil {
		mutate(cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- serve(ctx, cfg, false, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), ready)
	}()
	ts := &testServer{data: data, ingestToken: tok}
	select {
	case ts.addr = <-ready:
	case err := <-errc:
		cancel()
		tb.Fatalf("serve: %v", err)
	}
	stopped := false
	ts.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-errc
	}
	tb.Cleanup(func() { ts.stop() })
	return ts
}

// readRecords opens the (stopped) server's ledger and returns its records.
func readRecords(tb testing.TB, data string) []event.Record {
	tb.Helper()
	l, err := ledger.Open(ledger.Options{Dir: ledgerDir(data)})
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	var out []event.Record
	err = l.ReadRange(0, l.Size(), func(_ uint64, b []byte) error {
		var r event.Record
		if err := r.UnmarshalBinary(append([]byte(nil), b...)); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// writeWebhookKubeconfig writes the --audit-webhook-config-file kubeconfig.
// client-go sends bearer tokens only over TLS, so the server is https.
func writeWebhookKubeconfig(tb testing.TB, server, caFile, token string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "audit-webhook.kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: cdewatch
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: kube-apiserver
  user:
    token: %s
contexts:
- name: cdewatch
  context:
    cluster: cdewatch
    user: kube-apiserver
current-context: cdewatch
`, server, caFile, token)
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

func auditEvent(i int, verb, resource, ns, user string, code int32) *auditinternal.Event {
	now := metav1.NewMicroTime(time.Date(2026, 11, 26, 10, 0, 0, i*1000, time.UTC))
	return &auditinternal.Event{
		Level:                    auditinternal.LevelMetadata,
		AuditID:                  types.UID(fmt.Sprintf("00000000-0000-4000-8000-%012d", i)),
		Stage:                    auditinternal.StageResponseComplete,
		RequestURI:               fmt.Sprintf("/api/v1/namespaces/%s/%s/obj-%d", ns, resource, i),
		Verb:                     verb,
		User:                     authnv1.UserInfo{Username: user, Groups: []string{"system:authenticated"}},
		SourceIPs:                []string{"10.0.0.7"},
		UserAgent:                "kubectl/v1.31.2 (linux/amd64) kubernetes/5864a46",
		ObjectRef:                &auditinternal.ObjectReference{Resource: resource, Namespace: ns, Name: fmt.Sprintf("obj-%d", i), APIVersion: "v1"},
		ResponseStatus:           &metav1.Status{Code: code},
		RequestReceivedTimestamp: now,
		StageTimestamp:           now,
		Annotations:              map[string]string{"authorization.k8s.io/decision": "allow"},
	}
}

// The real kube-apiserver webhook backend, in batch mode as kube-apiserver
// runs it, delivers to cdewatch through a kubeconfig file; every event lands
// once, stamped with the source bound to the token, and the ledger verifies.
func TestWebhookBackendEndToEnd(t *testing.T) {
	data := t.TempDir()
	cert, key := tlstest.SelfSigned(t, "cdewatch test", "127.0.0.1").WriteFiles(t, t.TempDir(), "tls")
	ts := startServer(t, data, "aks-pci-prod", func(c *config.Config) { c.TLS.Cert, c.TLS.Key = cert, key })
	kc := writeWebhookKubeconfig(t, "https://"+ts.addr+"/v1/ingest/k8s-audit", cert, ts.ingestToken)

	backoff := wait.Backoff{Duration: 100 * time.Millisecond, Factor: 1.5, Steps: 5}
	be, err := webhook.NewBackend(kc, auditv1.SchemeGroupVersion, backoff, nil)
	if err != nil {
		t.Fatal(err)
	}
	bb := buffered.NewBackend(be, buffered.BatchConfig{BufferSize: 10000, MaxBatchSize: 400, MaxBatchWait: 50 * time.Millisecond, AsyncDelegate: true})
	stop := make(chan struct{})
	if err := bb.Run(stop); err != nil {
		t.Fatal(err)
	}
	const n = 1000
	for i := range n {
		ev := auditEvent(i, "get", "configmaps", "storefront", "system:serviceaccount:storefront:web", 200)
		switch i % 100 {
		case 1:
			ev = auditEvent(i, "get", "secrets", "payments", "bob@corp.example", 200)
		case 2:
			ev = auditEvent(i, "list", "secrets", "payments", "mallory@contractor.example", 403)
		}
		if !bb.ProcessEvents(ev) {
			t.Fatalf("ProcessEvents refused event %d", i)
		}
	}
	// A redelivered batch (kube-apiserver retries whole batches): stored once.
	if !be.ProcessEvents(auditEvent(5, "get", "configmaps", "storefront", "system:serviceaccount:storefront:web", 200), auditEvent(6, "get", "configmaps", "storefront", "system:serviceaccount:storefront:web", 200)) {
		t.Fatal("synchronous redelivery failed")
	}
	close(stop)
	bb.Shutdown() // flushes the buffer
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}

	recs := readRecords(t, data)
	seen := map[string]int{}
	var chd, invalid int
	for _, r := range recs {
		if r.Table != event.TableKubeAudit {
			continue
		}
		if r.Source != "aks-pci-prod" {
			t.Fatalf("record from source %q, want the token's source", r.Source)
		}
		seen[r.Key]++
		if r.PCI&event.CHDAccess != 0 {
			chd++
		}
		if r.PCI&event.InvalidAccess != 0 {
			invalid++
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct events stored, want %d", len(seen), n)
	}
	for k, c := range seen {
		if c != 1 {
			t.Fatalf("event %s stored %d times", k, c)
		}
	}
	if chd != 10+10 || invalid != 10 { // reads of payments secrets (allowed and forbidden) are CHD access attempts
		t.Errorf("classes: %d CHD access, %d invalid access; want 20 and 10", chd, invalid)
	}
	// Self-audit: init first, then start and stop.
	if recs[0].Action != event.ActionLedgerInit || recs[1].Action != event.ActionServeStart || recs[len(recs)-1].Action != event.ActionServeStop {
		t.Errorf("self-audit records: first %q, second %q, last %q", recs[0].Action, recs[1].Action, recs[len(recs)-1].Action)
	}
	if _, err := ledger.Verify(context.Background(), ledger.VerifyOptions{Dir: ledgerDir(data)}); err != nil {
		t.Fatal(err)
	}
}
