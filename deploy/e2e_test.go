package deploy_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/config"
	"github.com/cdewatch/cdewatch/internal/proctest"
	"github.com/cdewatch/cdewatch/internal/tlsutil/tlstest"
	"gopkg.in/yaml.v3"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/plugin/pkg/audit/webhook"
)

// TestSelfManagedEndToEnd runs the real cdewatch binary as the
// self-managed overlay's pod would run it: its arguments, its configuration
// file from the ConfigMap, its mounts (each a directory here, the Secrets
// filled with a test PKI), only the addresses moved to loopback. Then it
// does what docs/DEPLOY.md tells an operator to do and what the cluster
// does:
//   - the probes: /healthz and /readyz over HTTPS, unverified as the kubelet does;
//   - tokens made with the admin token through https://localhost and --ca tls.crt;
//   - kube-apiserver's own webhook client (k8s.io/apiserver) loading the
//     shipped webhook kubeconfig (token file, CA) and delivering events;
//   - a host sending syslog over TLS with a client certificate;
//   - a stop by SIGTERM within terminationGracePeriodSeconds, and `cdewatch verify`.
//
// The SOC webhook receiving alerts is an httptest server: the notifier
// must have a reachable endpoint, and what it receives is not checked here.
func TestSelfManagedEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: this test builds and runs the cdewatch binary")
	}
	b := render(t, variantNamed(t, "kustomize/overlays/self-managed"))
	s, err := b.server()
	if err != nil {
		t.Fatal(err)
	}
	bin := buildCdewatch(t)
	root := t.TempDir()

	// Every mount of the pod becomes a directory.
	mounts := map[string]string{}
	for _, m := range s.container.VolumeMounts {
		dir := filepath.Join(root, m.Name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		mounts[filepath.Clean(m.MountPath)] = dir
	}
	local := func(p string) string {
		for mp, dir := range mounts {
			if p == mp || strings.HasPrefix(p, mp+"/") {
				return dir + strings.TrimPrefix(p, mp)
			}
		}
		return p
	}

	// The Secrets: the API's certificate with the SANs docs/DEPLOY.md asks
	// for (here 127.0.0.1 stands for the Service's ClusterIP), the syslog
	// listener's with the clients' CA, the webhook notifier's key.
	ca := tlstest.NewCA(t, "deploy e2e CA")
	apiTLS := ca.Issue(t, "cdewatch", []string{"localhost", "cdewatch.cdewatch.svc", "127.0.0.1"}, x509.ExtKeyUsageServerAuth)
	writeFiles(t, local("/etc/cdewatch/tls"), map[string][]byte{"tls.crt": apiTLS.CertPEM, "tls.key": apiTLS.KeyPEM, "ca.crt": ca.CertPEM})
	syslogTLS := ca.Issue(t, "cdewatch-syslog", []string{"localhost", "127.0.0.1"}, x509.ExtKeyUsageServerAuth)
	writeFiles(t, local("/etc/cdewatch/syslog-tls"), map[string][]byte{"tls.crt": syslogTLS.CertPEM, "tls.key": syslogTLS.KeyPEM, "ca.crt": ca.CertPEM})
	writeFiles(t, local("/etc/cdewatch/notifiers"), map[string][]byte{"webhook.secret": []byte("e2e-hmac-key-of-32-bytes-length\n")})

	soc := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	defer soc.Close()
	socCA := filepath.Join(root, "soc-ca.crt")
	writeFiles(t, root, map[string][]byte{"soc-ca.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: soc.Certificate().Raw})})

	// The configuration file: the ConfigMap's, paths mapped to the
	// directories, addresses on loopback.
	text, err := b.fileFromConfigMap(s, s.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	apiAddr, syslogAddr := proctest.FreeAddr(t), proctest.FreeAddr(t)
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	doc = remapStrings(doc, local).(map[string]any)
	doc["listen"] = apiAddr
	at := func(key string, i int) map[string]any { return doc[key].([]any)[i].(map[string]any) }
	at("syslog", 0)["address"] = syslogAddr
	at("notifiers", 0)["url"] = soc.URL + "/hooks/cdewatch"
	at("notifiers", 0)["ca_file"] = socCA
	cfgText, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(cfgText)
	if err != nil {
		t.Fatalf("the mapped configuration does not parse: %v\n%s", err, cfgText)
	}
	writeFiles(t, filepath.Dir(local(s.cfgPath)), map[string][]byte{filepath.Base(s.cfgPath): cfgText})

	// The container's arguments, with the configuration path mapped.
	var args []string
	for _, a := range append(append([]string{}, s.container.Command...), s.container.Args...) {
		args = append(args, local(a))
	}
	logFile := filepath.Join(root, "cdewatch.log")
	srv := startProcess(t, bin, args, logFile)

	// Probes, as the kubelet sends them: HTTPS, certificate not checked.
	kubelet := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for _, p := range []string{s.container.StartupProbe.HTTPGet.Path, s.container.ReadinessProbe.HTTPGet.Path, s.container.LivenessProbe.HTTPGet.Path} {
		srv.waitFor(t, "probe "+p, func() error {
			resp, err := kubelet.Get("https://" + apiAddr + p)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
				return fmt.Errorf("%s: %s", resp.Status, body)
			}
			return nil
		})
	}

	// Tokens, the documented way: the CLI in the pod, with the admin token
	// file, through https://localhost, trusting the server's certificate.
	_, port, _ := net.SplitHostPort(apiAddr)
	tokenCmd := func(extra ...string) string {
		a := append([]string{"token", "create", "--server", "https://localhost:" + port,
			"--admin-token-file", filepath.Join(cfg.Data, "admin.token"), "--ca", local("/etc/cdewatch/tls/tls.crt")}, extra...)
		out, err := exec.Command(bin, a...).Output()
		if err != nil {
			t.Fatalf("cdewatch %s: %v\n%s", strings.Join(a, " "), err, exitStderr(err))
		}
		return strings.TrimSpace(string(out))
	}
	const cluster = "self-managed-e2e"
	ingestToken := tokenCmd("--source", cluster)
	readerToken := tokenCmd("--role", "log-reader")

	// kube-apiserver's webhook client with the shipped kubeconfig: only the
	// address and the two file paths differ.
	kcText, err := os.ReadFile(webhookKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	shipped := readWebhookKubeconfig(t)
	su, _ := url.Parse(shipped.Clusters[0].Cluster.Server)
	tokenFile := filepath.Join(root, "ingest.token")
	writeFiles(t, root, map[string][]byte{"ingest.token": []byte(ingestToken + "\n")})
	kc := string(kcText)
	for old, new := range map[string]string{
		su.Scheme + "://" + su.Host:                      "https://" + apiAddr,
		shipped.Clusters[0].Cluster.CertificateAuthority: local("/etc/cdewatch/tls/ca.crt"),
		shipped.AuthInfos[0].AuthInfo.TokenFile:          tokenFile,
	} {
		if !strings.Contains(kc, old) {
			t.Fatalf("%s has no %q", webhookKubeconfig, old)
		}
		kc = strings.ReplaceAll(kc, old, new)
	}
	kcFile := filepath.Join(root, "webhook.kubeconfig")
	writeFiles(t, root, map[string][]byte{"webhook.kubeconfig": []byte(kc)})
	be, err := webhook.NewBackend(kcFile, auditv1.SchemeGroupVersion, wait.Backoff{Duration: 200 * time.Millisecond, Factor: 1.5, Steps: 5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const events = 3
	var batch []*auditinternal.Event
	for i := range events {
		batch = append(batch, e2eAuditEvent(i))
	}
	if !be.ProcessEvents(batch...) {
		t.Fatalf("kube-apiserver's webhook client could not deliver; server log:\n%s", srv.logs())
	}

	// A CDE host's syslog over TLS, with its client certificate.
	host := ca.Issue(t, "node-1.cde.example", []string{"node-1.cde.example"}, x509.ExtKeyUsageClientAuth)
	conn, err := tls.Dial("tcp", syslogAddr, &tls.Config{RootCAs: ca.Pool, ServerName: "localhost", Certificates: []tls.Certificate{host.TLS}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	msg := "<38>1 2026-11-26T10:00:00Z node-1.cde.example sshd 4242 - - deploy e2e marker"
	if _, err := fmt.Fprintf(conn, "%d %s", len(msg), msg); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	// Both arrive, each under the source its credential names.
	api := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}}}
	for _, q := range []struct {
		kql  string
		want float64
	}{
		{fmt.Sprintf("KubeAuditLogs | where Source == %q | count", cluster), events},
		{`Syslog | where Source == "cde-nodes" and SyslogMessage == "deploy e2e marker" | count`, 1},
	} {
		srv.waitFor(t, q.kql, func() error {
			n, err := queryCount(api, "https://"+apiAddr, readerToken, q.kql)
			if err == nil && n != q.want {
				err = fmt.Errorf("count %v, want %v", n, q.want)
			}
			return err
		})
	}

	// SIGTERM, as the kubelet stops the pod; it must exit cleanly within the
	// grace period the manifest gives it.
	grace := time.Duration(*s.pod.TerminationGracePeriodSeconds) * time.Second
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-srv.exited:
		if err != nil {
			t.Fatalf("cdewatch exited with %v after SIGTERM; log:\n%s", err, srv.logs())
		}
	case <-time.After(grace):
		t.Fatalf("cdewatch still running %v after SIGTERM (the kubelet would SIGKILL it); log:\n%s", grace, srv.logs())
	}

	// The checkpoint verifier key, as docs/DEPLOY.md fetches it, proves the
	// ledger intact.
	key, err := exec.Command(bin, "version", "--verifier", "--data", cfg.Data).Output()
	if err != nil {
		t.Fatalf("cdewatch version --verifier: %v\n%s", err, exitStderr(err))
	}
	if out, err := exec.Command(bin, "verify", "--quiet", "--data", cfg.Data, "--key", strings.TrimSpace(string(key))).CombinedOutput(); err != nil {
		t.Fatalf("cdewatch verify: %v\n%s", err, out)
	}
}

// buildCdewatch builds cmd/cdewatch into a temporary directory.
func buildCdewatch(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "cdewatch")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/cdewatch")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build ../cmd/cdewatch: %v\n%s", err, out)
	}
	return bin
}

// process is a running cdewatch.
type process struct {
	cmd     *exec.Cmd
	exited  chan error
	logFile string
}

func startProcess(tb testing.TB, bin string, args []string, logFile string) *process {
	tb.Helper()
	f, err := os.Create(logFile)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &process{cmd: cmd, exited: make(chan error, 1), logFile: logFile}
	go func() { p.exited <- cmd.Wait(); f.Close() }()
	tb.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

func (p *process) logs() string {
	b, _ := os.ReadFile(p.logFile)
	return string(b)
}

// waitFor retries fn until it succeeds, failing the test if the process
// exits or a minute passes (a bound for a stuck server, not a timing
// requirement).
func (p *process) waitFor(tb testing.TB, what string, fn func() error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var last error
	for {
		if last = fn(); last == nil {
			return
		}
		select {
		case err := <-p.exited:
			p.exited <- err
			tb.Fatalf("%s: cdewatch exited (%v); last error %v; log:\n%s", what, err, last, p.logs())
		case <-ctx.Done():
			tb.Fatalf("%s: %v; log:\n%s", what, last, p.logs())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// queryCount runs a KQL query ending in `count` and returns the count.
func queryCount(c *http.Client, server, token, kql string) (float64, error) {
	body, _ := json.Marshal(map[string]string{"query": kql})
	req, err := http.NewRequest(http.MethodPost, server+"/v1/query", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", resp.Status, raw)
	}
	var r struct {
		Tables []struct {
			Rows [][]any
		}
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return 0, fmt.Errorf("decode %s: %w", raw, err)
	}
	if len(r.Tables) != 1 || len(r.Tables[0].Rows) != 1 || len(r.Tables[0].Rows[0]) != 1 {
		return 0, fmt.Errorf("want one count, got %s", raw)
	}
	n, ok := r.Tables[0].Rows[0][0].(float64)
	if !ok {
		return 0, fmt.Errorf("count is not a number: %s", raw)
	}
	return n, nil
}

// remapStrings applies fn to every string in a decoded YAML document.
func remapStrings(v any, fn func(string) string) any {
	switch x := v.(type) {
	case string:
		return fn(x)
	case map[string]any:
		for k, e := range x {
			x[k] = remapStrings(e, fn)
		}
	case []any:
		for i, e := range x {
			x[i] = remapStrings(e, fn)
		}
	}
	return v
}

func e2eAuditEvent(i int) *auditinternal.Event {
	now := metav1.NewMicroTime(time.Date(2026, 11, 26, 10, 0, i, 0, time.UTC))
	return &auditinternal.Event{
		Level:                    auditinternal.LevelMetadata,
		AuditID:                  types.UID(fmt.Sprintf("0e2e0000-0000-4000-8000-%012d", i)),
		Stage:                    auditinternal.StageResponseComplete,
		RequestURI:               fmt.Sprintf("/api/v1/namespaces/payments/secrets/card-key-%d", i),
		Verb:                     "get",
		User:                     authnv1.UserInfo{Username: "alice@corp.example", Groups: []string{"system:authenticated"}},
		SourceIPs:                []string{"10.0.0.7"},
		UserAgent:                "kubectl/v1.34.0 (linux/amd64) kubernetes/abcdef0",
		ObjectRef:                &auditinternal.ObjectReference{Resource: "secrets", Namespace: "payments", Name: fmt.Sprintf("card-key-%d", i), APIVersion: "v1"},
		ResponseStatus:           &metav1.Status{Code: 200},
		RequestReceivedTimestamp: now,
		StageTimestamp:           now,
	}
}

func writeFiles(tb testing.TB, dir string, files map[string][]byte) {
	tb.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
}

func exitStderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
