package deploy_test

import (
	"bytes"
	"net"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"testing"

	"github.com/cdewatch/cdewatch/internal/config"
	"gopkg.in/yaml.v3"
	clientcmdv1 "k8s.io/client-go/tools/clientcmd/api/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

const (
	webhookKubeconfig = "kube-apiserver/cdewatch-webhook.kubeconfig"
	kubeadmConfig     = "kube-apiserver/kubeadm-apiserver.yaml"
	deployDoc         = "../docs/DEPLOY.md"
)

// readWebhookKubeconfig decodes the shipped webhook kubeconfig strictly
// into client-go's kubeconfig type, the one kube-apiserver loads.
func readWebhookKubeconfig(tb testing.TB) *clientcmdv1.Config {
	tb.Helper()
	b, err := os.ReadFile(webhookKubeconfig)
	if err != nil {
		tb.Fatal(err)
	}
	var kc clientcmdv1.Config
	if err := sigsyaml.UnmarshalStrict(b, &kc); err != nil {
		tb.Fatalf("%s: %v", webhookKubeconfig, err)
	}
	return &kc
}

// TestWebhookKubeconfig checks the kube-apiserver side of the webhook: TLS
// with a pinned CA, the ingest endpoint, a bearer token read from a file,
// and the address the self-managed overlay gives the Service.
func TestWebhookKubeconfig(t *testing.T) {
	kc := readWebhookKubeconfig(t)
	if len(kc.Clusters) != 1 || len(kc.AuthInfos) != 1 || len(kc.Contexts) != 1 || kc.CurrentContext != kc.Contexts[0].Name {
		t.Fatalf("want one cluster, user and context, the context current; have %d, %d, %d, current %q",
			len(kc.Clusters), len(kc.AuthInfos), len(kc.Contexts), kc.CurrentContext)
	}
	cl, user := kc.Clusters[0].Cluster, kc.AuthInfos[0].AuthInfo
	u, err := url.Parse(cl.Server)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "https" {
		t.Errorf("server %s: client-go sends the token only over https", cl.Server)
	}
	if u.Path != "/v1/ingest/k8s-audit" {
		t.Errorf("server path %q, want /v1/ingest/k8s-audit", u.Path)
	}
	if cl.InsecureSkipTLSVerify || cl.CertificateAuthority == "" || !path.IsAbs(cl.CertificateAuthority) {
		t.Errorf("the server certificate must be checked against a CA file (certificate-authority, absolute path)")
	}
	if user.Token != "" || user.TokenFile == "" || !path.IsAbs(user.TokenFile) {
		t.Errorf("the ingest token belongs in a root-only file (tokenFile, absolute path), not in the kubeconfig")
	}

	// The address is the self-managed overlay's fixed ClusterIP and API port.
	b := render(t, variantNamed(t, "kustomize/overlays/self-managed"))
	s, err := b.server()
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(u.Host)
	found := false
	for _, svc := range b.services {
		for _, sp := range svc.Spec.Ports {
			if svc.Spec.ClusterIP == host && strconv.Itoa(int(sp.Port)) == port {
				if cp, ok := portOf(s.container, sp.TargetPort); ok && cp.ContainerPort == s.apiPort {
					found = true
				}
			}
		}
	}
	if !found {
		t.Errorf("server %s is not the self-managed Service's clusterIP and API port", u.Host)
	}
}

// kubeadmClusterConfiguration is the part of kubeadm's v1beta4
// ClusterConfiguration the shipped file sets.
type kubeadmClusterConfiguration struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	APIServer  struct {
		ExtraArgs []struct {
			Name  string `yaml:"name"`
			Value string `yaml:"value"`
		} `yaml:"extraArgs"`
		ExtraVolumes []struct {
			Name      string `yaml:"name"`
			HostPath  string `yaml:"hostPath"`
			MountPath string `yaml:"mountPath"`
			ReadOnly  bool   `yaml:"readOnly"`
			PathType  string `yaml:"pathType"`
		} `yaml:"extraVolumes"`
	} `yaml:"apiServer"`
}

// TestKubeadmAPIServerFlags checks that the kube-apiserver flags agree with
// the files they name, with cdewatch's limits and with docs/DEPLOY.md.
func TestKubeadmAPIServerFlags(t *testing.T) {
	raw, err := os.ReadFile(kubeadmConfig)
	if err != nil {
		t.Fatal(err)
	}
	var kc kubeadmClusterConfiguration
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&kc); err != nil {
		t.Fatalf("%s: %v", kubeadmConfig, err)
	}
	if kc.APIVersion != "kubeadm.k8s.io/v1beta4" || kc.Kind != "ClusterConfiguration" {
		t.Fatalf("%s: %s %s, want kubeadm.k8s.io/v1beta4 ClusterConfiguration", kubeadmConfig, kc.APIVersion, kc.Kind)
	}
	flags := map[string]string{}
	for _, a := range kc.APIServer.ExtraArgs {
		if _, dup := flags[a.Name]; dup {
			t.Errorf("flag --%s given twice", a.Name)
		}
		flags[a.Name] = a.Value
	}
	// mounted reports whether file is inside a volume of the static pod.
	mounted := func(file string, writable bool) bool {
		for _, v := range kc.APIServer.ExtraVolumes {
			if strings.HasPrefix(file, v.MountPath+"/") && (!writable || !v.ReadOnly) {
				return true
			}
		}
		return false
	}
	webhook := readWebhookKubeconfig(t)
	for _, f := range []struct {
		what, file string
		writable   bool
	}{
		{"--audit-policy-file", flags["audit-policy-file"], false},
		{"--audit-webhook-config-file", flags["audit-webhook-config-file"], false},
		{"--audit-log-path", flags["audit-log-path"], true},
		{"the kubeconfig's certificate-authority", webhook.Clusters[0].Cluster.CertificateAuthority, false},
		{"the kubeconfig's tokenFile", webhook.AuthInfos[0].AuthInfo.TokenFile, false},
	} {
		if f.file == "" || !mounted(f.file, f.writable) {
			t.Errorf("%s %q is not inside an extraVolume of kube-apiserver (writable: %v)", f.what, f.file, f.writable)
		}
	}
	if flags["audit-webhook-mode"] != "batch" {
		t.Errorf("--audit-webhook-mode=%q: batch mode keeps a slow cdewatch from blocking API requests", flags["audit-webhook-mode"])
	}
	// Batches and events kube-apiserver sends must fit cdewatch's limits:
	// a batch over them is refused whole.
	def := config.Default()
	for _, l := range []struct {
		flag  string
		limit int64
		what  string
	}{
		{"audit-webhook-truncate-max-batch-size", int64(def.Ingest.MaxRequestBytes), "ingest.max_request_bytes"},
		{"audit-webhook-truncate-max-event-size", int64(def.Ingest.MaxEventBytes), "ingest.max_event_bytes"},
	} {
		n, err := strconv.ParseInt(flags[l.flag], 10, 64)
		if err != nil || n > l.limit {
			t.Errorf("--%s=%q must be at most cdewatch's %s (%d)", l.flag, flags[l.flag], l.what, l.limit)
		}
	}
	if flags["audit-webhook-truncate-enabled"] != "true" {
		t.Errorf("--audit-webhook-truncate-enabled must be true: an oversized event would make cdewatch refuse its whole batch")
	}
	doc, err := os.ReadFile(deployDoc)
	if err != nil {
		t.Fatal(err)
	}
	for name := range flags {
		if !bytes.Contains(doc, []byte("--"+name)) {
			t.Errorf("docs/DEPLOY.md does not explain --%s", name)
		}
	}
}
