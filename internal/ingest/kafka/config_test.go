package kafka

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cdewatch/cdewatch/internal/tlsutil/tlstest"
)

const (
	testKey     = "c2VjcmV0LWtleS1ub3QtcmVhbA==" // looks like a SAS key; must never show up
	testNS      = "cdewatch-test.servicebus.windows.net"
	testConnStr = "Endpoint=sb://" + testNS + "/;SharedAccessKeyName=cdewatch-listen;SharedAccessKey=" + testKey + ";EntityPath=" + testTopic
)

func TestParseEventHubsConnectionString(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    eventHubsConn
		wantErr string
	}{
		{"namespace scoped", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=" + testKey,
			eventHubsConn{host: "ns.servicebus.windows.net", keyName: "RootManageSharedAccessKey"}, ""},
		{"entity scoped, trailing ;", testConnStr + ";", eventHubsConn{host: testNS, keyName: "cdewatch-listen", entityPath: testTopic}, ""},
		{"keys case-insensitive, spaces", " endpoint = sb://ns.servicebus.chinacloudapi.cn ; sharedaccesskeyname=k ; sharedaccesskey=" + testKey,
			eventHubsConn{host: "ns.servicebus.chinacloudapi.cn", keyName: "k"}, ""},
		{"SAS token", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessSignature=SharedAccessSignature sr=x&sig=" + testKey + "&se=1&skn=k",
			eventHubsConn{host: "ns.servicebus.windows.net"}, ""},
		{"unknown keys ignored", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=" + testKey + ";TransportType=AmqpWebSockets",
			eventHubsConn{host: "ns.servicebus.windows.net", keyName: "k"}, ""},

		{"empty", "", eventHubsConn{}, "missing Endpoint"},
		{"missing endpoint", "SharedAccessKeyName=k;SharedAccessKey=" + testKey, eventHubsConn{}, "missing Endpoint"},
		{"https endpoint", "Endpoint=https://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=" + testKey, eventHubsConn{}, "scheme must be sb://"},
		{"bare host endpoint", "Endpoint=ns.servicebus.windows.net;SharedAccessKeyName=k;SharedAccessKey=" + testKey, eventHubsConn{}, "scheme must be sb://"},
		{"no host", "Endpoint=sb:///;SharedAccessKeyName=k;SharedAccessKey=" + testKey, eventHubsConn{}, "has no host"},
		{"path in endpoint", "Endpoint=sb://ns.servicebus.windows.net/hub;SharedAccessKeyName=k;SharedAccessKey=" + testKey, eventHubsConn{}, "EntityPath=hub"},
		{"missing key", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k", eventHubsConn{}, "missing SharedAccessKey"},
		{"empty key", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=", eventHubsConn{}, "SharedAccessKey is empty"},
		{"missing key name", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKey=" + testKey, eventHubsConn{}, "missing SharedAccessKeyName"},
		{"key and signature", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=" + testKey + ";SharedAccessSignature=x", eventHubsConn{}, "use one"},
		{"duplicate key", "Endpoint=sb://a.servicebus.windows.net/;Endpoint=sb://b.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=" + testKey, eventHubsConn{}, "Endpoint appears twice"},
		{"element without =", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;bm8tZXF1YWxzLWhlcmU", eventHubsConn{}, "element 3 is not Key=Value"},
		{"empty entity path", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=" + testKey + ";EntityPath=", eventHubsConn{}, "EntityPath is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseEventHubsConnectionString(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), testKey) {
					t.Fatalf("error %q reveals the key", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, tlstest.NewCA(t, "cdewatch test CA").CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(t.TempDir(), "junk.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := Config{Brokers: []string{"kafka-0:9092"}, Topics: []string{"audit"}, Group: "cdewatch", Source: "aks"}
	eh := Config{EventHubsConnectionString: testConnStr, Group: "$Default", Source: "aks"}
	with := func(base Config, f func(*Config)) Config {
		f(&base)
		return base
	}
	tests := []struct {
		name    string
		cfg     Config
		wantErr []string // substrings; nil means valid
	}{
		{"plain kafka", ok, nil},
		{"event hubs", eh, nil},
		{"event hubs, topic equals EntityPath", with(eh, func(c *Config) { c.Topics = []string{testTopic} }), nil},
		{"tls with CA file", with(ok, func(c *Config) { c.TLS, c.CAFile = true, caFile }), nil},
		{"tls config", with(ok, func(c *Config) { c.TLSConfig = &tls.Config{} }), nil},
		{"scram", with(ok, func(c *Config) { c.SASL = SASL{"SCRAM-SHA-512", "u", "p"} }), nil},
		{"lower-case mechanism", with(ok, func(c *Config) { c.SASL = SASL{"plain", "u", "p"} }), nil},

		{"empty", Config{}, []string{"Brokers is empty", "Topics is empty", "Group is empty", "Source is empty"}},
		{"missing brokers", with(ok, func(c *Config) { c.Brokers = nil }), []string{"Brokers is empty"}},
		{"broker without port", with(ok, func(c *Config) { c.Brokers = []string{"kafka-0"} }), []string{`Brokers[0] "kafka-0": want host:port`}},
		{"broker bad port", with(ok, func(c *Config) { c.Brokers = []string{"kafka-0:http"} }), []string{`bad port "http"`}},
		{"broker no host", with(ok, func(c *Config) { c.Brokers = []string{":9092"} }), []string{"empty host"}},
		{"missing topics", with(ok, func(c *Config) { c.Topics = nil }), []string{"Topics is empty"}},
		{"empty topic", with(ok, func(c *Config) { c.Topics = []string{""} }), []string{"Topics[0] is empty"}},
		{"duplicate topic", with(ok, func(c *Config) { c.Topics = []string{"a", "a"} }), []string{`Topics names "a" twice`}},
		{"missing group", with(ok, func(c *Config) { c.Group = "" }), []string{"Group is empty"}},
		{"missing source", with(ok, func(c *Config) { c.Source = "" }), []string{"Source is empty"}},
		{"unknown mechanism", with(ok, func(c *Config) { c.SASL = SASL{"GSSAPI", "u", "p"} }), []string{`unknown Mechanism "GSSAPI"`}},
		{"mechanism without password", with(ok, func(c *Config) { c.SASL = SASL{"PLAIN", "u", ""} }), []string{"PLAIN needs a Password"}},
		{"mechanism without user", with(ok, func(c *Config) { c.SASL = SASL{"PLAIN", "", "p"} }), []string{"PLAIN needs a User"}},
		{"password without mechanism", with(ok, func(c *Config) { c.SASL = SASL{"", "u", "p"} }), []string{"without Mechanism"}},
		{"CA file without TLS", with(ok, func(c *Config) { c.CAFile = caFile }), []string{"CAFile is set but TLS is false"}},
		{"CA file missing", with(ok, func(c *Config) { c.TLS, c.CAFile = true, "/nonexistent/ca.pem" }), []string{"reading CAFile"}},
		{"CA file not PEM", with(ok, func(c *Config) { c.TLS, c.CAFile = true, notPEM }), []string{"holds no PEM certificate"}},
		{"CA file and TLS config", with(ok, func(c *Config) { c.TLSConfig, c.CAFile = &tls.Config{}, caFile }), []string{"either TLSConfig or CAFile"}},
		{"negative max poll", with(ok, func(c *Config) { c.MaxPollRecords = -1 }), []string{"MaxPollRecords is negative"}},
		{"huge max poll", with(ok, func(c *Config) { c.MaxPollRecords = MaxPollRecordsLimit + 1 }), []string{"exceeds"}},
		{"backoff inverted", with(ok, func(c *Config) { c.MinBackoff, c.MaxBackoff = 2e9, 1e9 }), []string{"below MinBackoff"}},
		{"negative duration", with(ok, func(c *Config) { c.CommitTimeout = -1 }), []string{"must not be negative"}},

		{"event hubs and brokers", with(eh, func(c *Config) { c.Brokers = []string{"x:9093"} }), []string{"either Brokers or EventHubsConnectionString"}},
		{"event hubs and SASL", with(eh, func(c *Config) { c.SASL = SASL{"PLAIN", "u", "secret-pw"} }), []string{"either SASL or EventHubsConnectionString"}},
		{"event hubs other topic", with(eh, func(c *Config) { c.Topics = []string{"other"} }), []string{`scoped to event hub "insights-logs-kube-audit"`}},
		{"event hubs bad string", with(eh, func(c *Config) {
			c.EventHubsConnectionString = "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKey=" + testKey
		}),
			[]string{"EventHubsConnectionString: missing SharedAccessKeyName"}},
		{"event hubs no topic", with(eh, func(c *Config) {
			c.EventHubsConnectionString = "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=" + testKey
		}), []string{"Topics is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil, want errors %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			for _, secret := range []string{testKey, "secret-pw"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q reveals a secret", err)
				}
			}
		})
	}
}

func TestEventHubsResolve(t *testing.T) {
	r, err := Config{EventHubsConnectionString: testConnStr, Group: "$Default", Source: "aks"}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{testNS + ":9093"}; !slices.Equal(r.brokers, want) {
		t.Errorf("brokers = %v, want %v", r.brokers, want)
	}
	if !slices.Equal(r.topics, []string{testTopic}) {
		t.Errorf("topics = %v, want the EntityPath", r.topics)
	}
	if r.tls == nil || r.tls.MinVersion < tls.VersionTLS12 {
		t.Errorf("TLS = %+v, want on, at least TLS 1.2", r.tls)
	}
	if r.mechanism == nil || r.mechanism.Name() != MechanismPlain {
		t.Errorf("SASL = %v, want PLAIN", r.mechanism)
	}
	if r.eventHubs == nil || r.eventHubs.keyName != "cdewatch-listen" {
		t.Errorf("eventHubs = %+v", r.eventHubs)
	}
}

// TestNoSecretsInOutput checks that formatting and logging a Config, and the
// consumer's own log lines, never show the key or password.
func TestNoSecretsInOutput(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfgs := []Config{
		{EventHubsConnectionString: testConnStr, Group: "$Default", Source: "aks", Logger: log},
		{Brokers: []string{"k:9092"}, Topics: []string{"t"}, Group: "g", Source: "s", SASL: SASL{"SCRAM-SHA-256", "user", "secret-pw"}, Logger: log},
	}
	for _, cfg := range cfgs {
		fmt.Fprintf(&buf, "%v %+v %#v %s\n", cfg, cfg, cfg, cfg)
		log.Info("config", "cfg", cfg)
		if _, err := New(cfg, func(context.Context, string, []Message) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	for _, secret := range []string{testKey, "secret-pw"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("output reveals %q:\n%s", secret, buf.String())
		}
	}
	if !strings.Contains(buf.String(), "[REDACTED]") {
		t.Errorf("output does not mark redactions:\n%s", buf.String())
	}
}
