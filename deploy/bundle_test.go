package deploy_test

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/cdewatch/cdewatch/internal/config"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// bundle is the decoded objects of one variant, by kind.
type bundle struct {
	name            string
	objects         []runtime.Object
	namespaces      []*corev1.Namespace
	serviceAccounts []*corev1.ServiceAccount
	configMaps      []*corev1.ConfigMap
	services        []*corev1.Service
	statefulSets    []*appsv1.StatefulSet
	networkPolicies []*networkingv1.NetworkPolicy
	storageClasses  []*storagev1.StorageClass
	pdbs            []*policyv1.PodDisruptionBudget
}

// add files obj under its kind. A kind the checks do not know is an error:
// adding one means adding its checks.
func (b *bundle) add(obj runtime.Object) error {
	switch o := obj.(type) {
	case *corev1.Namespace:
		b.namespaces = append(b.namespaces, o)
	case *corev1.ServiceAccount:
		b.serviceAccounts = append(b.serviceAccounts, o)
	case *corev1.ConfigMap:
		b.configMaps = append(b.configMaps, o)
	case *corev1.Service:
		b.services = append(b.services, o)
	case *appsv1.StatefulSet:
		b.statefulSets = append(b.statefulSets, o)
	case *networkingv1.NetworkPolicy:
		b.networkPolicies = append(b.networkPolicies, o)
	case *storagev1.StorageClass:
		b.storageClasses = append(b.storageClasses, o)
	case *policyv1.PodDisruptionBudget:
		b.pdbs = append(b.pdbs, o)
	default:
		return fmt.Errorf("object of type %T: the deploy tests have no checks for this kind; add them", obj)
	}
	b.objects = append(b.objects, obj)
	return nil
}

// server is the cdewatch pod of a bundle and what its configuration says.
type server struct {
	sts       *appsv1.StatefulSet
	pod       *corev1.PodSpec
	container *corev1.Container
	cfgPath   string // --config
	cfg       *config.Config
	apiPort   int32 // container port of config.listen
}

// server finds the one StatefulSet, its cdewatch container and its
// configuration file, parsed and validated by internal/config.
func (b *bundle) server() (*server, error) {
	if len(b.statefulSets) != 1 {
		return nil, fmt.Errorf("want exactly one StatefulSet, have %d", len(b.statefulSets))
	}
	s := &server{sts: b.statefulSets[0]}
	s.pod = &s.sts.Spec.Template.Spec
	for i := range s.pod.Containers {
		if s.pod.Containers[i].Name == "cdewatch" {
			s.container = &s.pod.Containers[i]
		}
	}
	if s.container == nil {
		return nil, fmt.Errorf("StatefulSet %s has no container named cdewatch", s.sts.Name)
	}
	args := append(append([]string{}, s.container.Command...), s.container.Args...)
	if len(args) == 0 || args[0] != "serve" {
		return nil, fmt.Errorf("container args %q: want serve --config FILE", args)
	}
	for i, a := range args {
		switch {
		case a == "--listen" || a == "--data" || strings.HasPrefix(a, "--listen=") || strings.HasPrefix(a, "--data="):
			return nil, fmt.Errorf("container args %q: keep listen and data in the configuration file, where the checks see them", args)
		case a == "--config" && i+1 < len(args):
			s.cfgPath = args[i+1]
		case strings.HasPrefix(a, "--config="):
			s.cfgPath = strings.TrimPrefix(a, "--config=")
		}
	}
	if s.cfgPath == "" {
		return nil, fmt.Errorf("container args %q: no --config", args)
	}
	text, err := b.fileFromConfigMap(s, s.cfgPath)
	if err != nil {
		return nil, fmt.Errorf("configuration file %s: %w", s.cfgPath, err)
	}
	if s.cfg, err = config.Parse([]byte(text)); err != nil {
		return nil, fmt.Errorf("configuration file %s is not valid cdewatch configuration: %w", s.cfgPath, err)
	}
	port, err := listenPort(s.cfg.Listen)
	if err != nil {
		return nil, err
	}
	s.apiPort = port
	return s, nil
}

// listenPort is the port of a listen address such as ":8470".
func listenPort(addr string) (int32, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("listen address %q: %w", addr, err)
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("listen address %q: want a fixed port", addr)
	}
	return int32(n), nil
}

// mountFor returns the volume mount whose directory holds file directly
// (projected Secret and ConfigMap keys are files in the mount directory)
// and its volume.
func (s *server) mountFor(file string) (*corev1.VolumeMount, *corev1.Volume) {
	dir := path.Dir(path.Clean(file))
	for i := range s.container.VolumeMounts {
		m := &s.container.VolumeMounts[i]
		if path.Clean(m.MountPath) != dir || m.SubPath != "" {
			continue
		}
		for j := range s.pod.Volumes {
			if s.pod.Volumes[j].Name == m.Name {
				return m, &s.pod.Volumes[j]
			}
		}
		return m, nil
	}
	return nil, nil
}

// mountContaining returns the mount whose directory is p or holds p, the
// deepest one if several do.
func (s *server) mountContaining(p string) *corev1.VolumeMount {
	p = path.Clean(p)
	var best *corev1.VolumeMount
	for i := range s.container.VolumeMounts {
		m := &s.container.VolumeMounts[i]
		mp := path.Clean(m.MountPath)
		if (p == mp || strings.HasPrefix(p, mp+"/")) && (best == nil || len(mp) > len(best.MountPath)) {
			best = m
		}
	}
	return best
}

// fileFromConfigMap returns the content of file, which must come from a
// ConfigMap of the bundle mounted in the container.
func (b *bundle) fileFromConfigMap(s *server, file string) (string, error) {
	_, v := s.mountFor(file)
	if v == nil || v.ConfigMap == nil {
		return "", fmt.Errorf("not in a mounted ConfigMap volume")
	}
	key := path.Base(file)
	for _, it := range v.ConfigMap.Items {
		if it.Path == key {
			key = it.Key
		}
	}
	for _, cm := range b.configMaps {
		if cm.Name == v.ConfigMap.Name {
			text, ok := cm.Data[key]
			if !ok {
				return "", fmt.Errorf("ConfigMap %s has no key %q", cm.Name, key)
			}
			return text, nil
		}
	}
	return "", fmt.Errorf("volume %s names ConfigMap %s, which is not among the objects", v.Name, v.ConfigMap.Name)
}

// configFile is a file the configuration names, and whether cdewatch needs
// it to start.
type configFile struct {
	key, path string
	secret    bool // holds a secret: must come from a Secret
}

// files lists every file the configuration names.
func files(c *config.Config) []configFile {
	var out []configFile
	add := func(key, p string, secret bool) {
		if p != "" {
			out = append(out, configFile{key, p, secret})
		}
	}
	add("tls.cert", c.TLS.Cert, false)
	add("tls.key", c.TLS.Key, true)
	for i, n := range c.Notifiers {
		k := fmt.Sprintf("notifiers[%d].", i)
		add(k+"secret_file", n.SecretFile, true)
		add(k+"url_file", n.URLFile, true)
		add(k+"password_file", n.PasswordFile, true)
		add(k+"ca_file", n.CAFile, false)
		add(k+"cert_file", n.CertFile, false)
		add(k+"key_file", n.KeyFile, true)
	}
	for i, k := range c.Kafka {
		p := fmt.Sprintf("kafka[%d].", i)
		add(p+"event_hubs_connection_string_file", k.EventHubsConnectionStringFile, true)
		add(p+"ca_file", k.CAFile, false)
		add(p+"sasl.password_file", k.SASL.PasswordFile, true)
	}
	for i, l := range c.Syslog {
		p := fmt.Sprintf("syslog[%d].", i)
		add(p+"cert_file", l.CertFile, false)
		add(p+"key_file", l.KeyFile, true)
		add(p+"client_ca_file", l.ClientCAFile, false)
	}
	add("archive.credentials_file", c.Archive.CredentialsFile, true)
	add("auth.oidc.ca_file", c.Auth.OIDC.CAFile, false)
	return out
}

// listener is a socket the configuration opens besides the API.
type listener struct {
	key      string
	port     int32
	protocol corev1.Protocol
}

// listeners lists the syslog listeners of the configuration.
func listeners(c *config.Config) ([]listener, error) {
	var out []listener
	for i, l := range c.Syslog {
		p, err := listenPort(l.Address)
		if err != nil {
			return nil, fmt.Errorf("syslog[%d]: %w", i, err)
		}
		proto := corev1.ProtocolTCP
		if l.Network == "udp" {
			proto = corev1.ProtocolUDP
		}
		out = append(out, listener{fmt.Sprintf("syslog[%d]", i), p, proto})
	}
	return out, nil
}

// destination is a TCP port the configuration connects to.
type destination struct {
	key  string
	port int32
}

// destinations lists the outbound connections of the configuration:
// Kafka brokers (Event Hubs: 9093) and notifier endpoints.
func destinations(c *config.Config) ([]destination, error) {
	var out []destination
	hostPort := func(key, addr string) error {
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("%s %q: %w", key, addr, err)
		}
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return fmt.Errorf("%s %q: port: %w", key, addr, err)
		}
		out = append(out, destination{key, int32(n)})
		return nil
	}
	for i, k := range c.Kafka {
		key := fmt.Sprintf("kafka[%d]", i)
		if k.EventHubsConnectionStringFile != "" {
			out = append(out, destination{key, 9093})
		}
		for _, br := range k.Brokers {
			if err := hostPort(key+".brokers", br); err != nil {
				return nil, err
			}
		}
	}
	// urlPort adds the host:port of a URL, the port defaulting by scheme.
	urlPort := func(key, raw string) error {
		u, err := url.Parse(raw)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		host := u.Host
		if u.Scheme == "s3" {
			// s3://BUCKET/PREFIX?endpoint=HOST:PORT; AWS itself without.
			host = u.Query().Get("endpoint")
			if host == "" {
				host = "s3.amazonaws.com"
			}
		}
		if _, _, err := net.SplitHostPort(host); err != nil {
			host = net.JoinHostPort(host, map[string]string{"http": "80"}[u.Scheme])
			if strings.HasSuffix(host, ":") {
				host += "443"
			}
		}
		return hostPort(key, host)
	}
	if c.Archive.URL != "" && !strings.HasPrefix(c.Archive.URL, "file:") {
		if err := urlPort("archive.url", c.Archive.URL); err != nil {
			return nil, err
		}
	}
	if c.Auth.OIDC.Issuer != "" {
		if err := urlPort("auth.oidc.issuer", c.Auth.OIDC.Issuer); err != nil {
			return nil, err
		}
	}
	for i, n := range c.Notifiers {
		key := fmt.Sprintf("notifiers[%d]", i)
		switch n.Type {
		case "webhook":
			if err := urlPort(key+".url", n.URL); err != nil {
				return nil, err
			}
		case "slack", "teams":
			// The URL is a secret file; both services listen on 443.
			out = append(out, destination{key, 443})
		case "email", "syslog":
			if err := hostPort(key+".address", n.Address); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
