package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string // substring; empty means success
		check   func(testing.TB, *Config)
	}{
		{name: "empty uses defaults", yaml: "", check: func(t testing.TB, c *Config) {
			if c.Listen != "127.0.0.1:8470" || c.Data != "./cdewatch-data" {
				t.Errorf("defaults: listen %q data %q", c.Listen, c.Data)
			}
			if c.Ingest.MaxRequestBytes != 12<<20 || c.Ingest.MaxEventBytes != 256<<10 {
				t.Errorf("ingest defaults: %v %v", c.Ingest.MaxRequestBytes, c.Ingest.MaxEventBytes)
			}
			if time.Duration(c.Query.Timeout) != 30*time.Second || c.Query.MaxRows != 500000 || c.Query.MaxBytes != 64<<20 {
				t.Errorf("query defaults: %+v", c.Query)
			}
		}},
		{name: "query values", yaml: "query:\n  timeout: 2m\n  max_rows: 1000\n  max_bytes: 8MiB\n", check: func(t testing.TB, c *Config) {
			if time.Duration(c.Query.Timeout) != 2*time.Minute || c.Query.MaxRows != 1000 || c.Query.MaxBytes != 8<<20 {
				t.Errorf("query: %+v", c.Query)
			}
		}},
		{name: "query unknown key", yaml: "query:\n  max_results: 5\n", wantErr: "line 2 (key query.max_results): field max_results not found"},
		{name: "query bad timeout", yaml: "query:\n  timeout: soon\n", wantErr: "line 2 (key query.timeout): invalid duration"},
		{name: "query zero timeout", yaml: "query:\n  timeout: 0s\n", wantErr: "line 2: query.timeout: 0s must be positive"},
		{name: "query negative rows", yaml: "query:\n  timeout: 1s\n  max_rows: -1\n", wantErr: "line 3: query.max_rows"},
		{name: "query rows not a number", yaml: "query:\n  max_rows: many\n", wantErr: "line 2"},
		{name: "query bad size", yaml: "query:\n  max_bytes: lots\n", wantErr: "line 2 (key query.max_bytes): invalid size"},
		{name: "query tiny size", yaml: "query:\n  max_bytes: 10\n", wantErr: "line 2: query.max_bytes: 10B must be between 1KiB and 1GiB"},
		{name: "values", yaml: "listen: 0.0.0.0:9000\ningest:\n  max_request_bytes: 4MiB\n  dedup_window: 10m\npci:\n  cde_namespaces: [payments]\naudit_files:\n  - path: /var/log/audit.log\n    source: c1\n",
			check: func(t testing.TB, c *Config) {
				if c.Ingest.MaxRequestBytes != 4<<20 || time.Duration(c.Ingest.DedupWindow) != 10*time.Minute {
					t.Errorf("got %v %v", c.Ingest.MaxRequestBytes, c.Ingest.DedupWindow)
				}
				if len(c.PCI.CDENamespaces) != 1 || c.AuditFiles[0].Source != "c1" {
					t.Errorf("got %+v %+v", c.PCI, c.AuditFiles)
				}
			}},
		{name: "retention in days", yaml: "retention:\n  default: 400d\n  tables:\n    Syslog: 2y\n", wantErr: "line 4 (key retention.tables.Syslog): invalid duration"},
		{name: "retention values", yaml: "retention:\n  default: 400d\n  tables:\n    Syslog: 730d\n  shorten_delay: 14d\nintegrity:\n  interval: 1m\n  full_pass: 12h\n",
			check: func(t testing.TB, c *Config) {
				r := c.Retention
				if time.Duration(r.Default) != 400*24*time.Hour || time.Duration(r.Tables["Syslog"]) != 730*24*time.Hour || time.Duration(r.ShortenDelay) != 14*24*time.Hour {
					t.Errorf("retention: %+v", r)
				}
				if time.Duration(c.Integrity.Interval) != time.Minute || time.Duration(c.Integrity.FullPass) != 12*time.Hour {
					t.Errorf("integrity: %+v", c.Integrity)
				}
			}},
		{name: "retention below 12 months", yaml: "retention:\n  default: 90d\n", wantErr: "line 2: retention.default: 2160h0m0s is shorter than 365d: PCI DSS 10.5.1"},
		{name: "table retention below 12 months", yaml: "retention:\n  tables:\n    Syslog: 30d\n", wantErr: "retention.tables.Syslog: 720h0m0s is shorter than 365d"},
		{name: "retention shortening without delay", yaml: "retention:\n  shorten_delay: 1h\n", wantErr: "line 2: retention.shorten_delay"},
		{name: "index window below 3 months", yaml: "retention:\n  index: 30d\n", wantErr: "line 2: retention.index: 720h0m0s is shorter than 90d"},
		{name: "negative index threads", yaml: "index:\n  threads: -1\n", wantErr: "index.threads: -1 must be 0 (automatic) or more"},
		{name: "tiny index stage", yaml: "index:\n  stage_memory: 1MiB\n", wantErr: "index.stage_memory: 1MiB must be at least 64MiB"},
		{name: "witness", yaml: "notifiers:\n  - type: syslog\n    name: siem\n    address: siem.example.com:6514\n    network: tls\nwitness:\n  witnesses:\n    - url: https://w.example.org\n      key: w.example.org+1a2b3c4d+BAAA\n  syslog_notifiers: [siem]\n",
			check: func(t testing.TB, c *Config) {
				if !c.Witness.Enabled() || c.Witness.Witnesses[0].URL != "https://w.example.org" || time.Duration(c.Witness.Interval) != time.Minute {
					t.Errorf("witness: %+v", c.Witness)
				}
			}},
		{name: "witness without key", yaml: "witness:\n  witnesses:\n    - url: https://w.example.org\n", wantErr: "witness.witnesses[0].key: the witness's cosignature verifier key is required"},
		{name: "witness bad url", yaml: "witness:\n  witnesses:\n    - url: w.example.org\n      key: k\n", wantErr: "witness.witnesses[0].url"},
		{name: "witness unknown notifier", yaml: "witness:\n  syslog_notifiers: [siem]\n", wantErr: `witness.syslog_notifiers[0]: "siem" is not the name of a notifier of type syslog`},
		{name: "archive on azure", yaml: "archive:\n  url: azblob://acct/cdewatch/prod\n  credentials_file: /etc/cdewatch/azure.conn\n",
			check: func(t testing.TB, c *Config) {
				if c.Archive.URL != "azblob://acct/cdewatch/prod" {
					t.Errorf("archive: %+v", c.Archive)
				}
			}},
		{name: "archive on gcs", yaml: "archive:\n  url: gs://bucket/x\n", wantErr: "line 2: archive.url"},
		{name: "integrity too slow", yaml: "integrity:\n  interval: 10m\n", wantErr: "line 2: integrity.interval: 10m0s must be between 1s and 5m"},
		{name: "integrity pass of a week (DEPLOY.md's advice for large ledgers)", yaml: "integrity:\n  full_pass: 168h\n",
			check: func(t testing.TB, c *Config) {
				if time.Duration(c.Integrity.FullPass) != 7*24*time.Hour {
					t.Errorf("integrity: %+v", c.Integrity)
				}
			}},
		{name: "notifier throttle key", yaml: "notifiers:\n  - type: syslog\n    name: s\n    address: h:514\n    throttle_by: subject\n", wantErr: "notifiers[0].throttle_by"},
		{name: "skew rules", yaml: "health:\n  skew:\n    rules:\n      - match: legacy-*\n        max_behind: 48h\n      - match: lab\n        off: true\n",
			check: func(t testing.TB, c *Config) {
				r := c.Health.Skew.Rules
				if len(r) != 2 || r[0].Match != "legacy-*" || time.Duration(r[0].MaxBehind) != 48*time.Hour || !r[1].Off {
					t.Errorf("skew rules: %+v", r)
				}
			}},
		{name: "skew rule without a bound", yaml: "health:\n  skew:\n    rules:\n      - match: legacy-*\n", wantErr: "health.skew.rules"},
		{name: "integrity pass too long", yaml: "integrity:\n  full_pass: 8d\n", wantErr: "line 2: integrity.full_pass"},
		{name: "unknown top key", yaml: "listen: x:1\nlisten_addr: y\n", wantErr: "line 2 (key listen_addr): field listen_addr not found"},
		{name: "unknown nested key", yaml: "ingest:\n  max_body: 1MiB\n", wantErr: "line 2 (key ingest.max_body): field max_body not found"},
		{name: "bad size names key", yaml: "ingest:\n  max_request_bytes: twelve\n", wantErr: "line 2 (key ingest.max_request_bytes): invalid size"},
		{name: "bad duration names key", yaml: "ingest:\n  dedup_window: 5 minutes\n", wantErr: "line 2 (key ingest.dedup_window): invalid duration"},
		{name: "bad type", yaml: "pci:\n  cde_namespaces: payments\n", wantErr: "line 2"},
		{name: "dedup keys too few", yaml: "ingest:\n  dedup_max_keys: 10\n", wantErr: "line 2: ingest.dedup_max_keys"},
		{name: "event larger than request", yaml: "ingest:\n  max_request_bytes: 1MiB\n  max_event_bytes: 2MiB\n", wantErr: "line 3: ingest.max_event_bytes"},
		{name: "file without source", yaml: "audit_files:\n  - path: /a\n", wantErr: "audit_files[0].source"},
		{name: "tls half", yaml: "tls:\n  cert: a.pem\n", wantErr: "line 1: tls: set both"},
		{name: "origin with space", yaml: "ledger:\n  origin: a b\n", wantErr: "line 2: ledger.origin"},
		{name: "kafka event hubs", yaml: "kafka:\n  - source: aks-prod\n    event_hubs_connection_string_file: /etc/cdewatch/eh.conn\n    topics: [insights-logs-kube-audit]\n",
			check: func(t testing.TB, c *Config) {
				k := c.Kafka[0]
				if k.Format != "azure" || k.Group != "cdewatch" || k.Name != "insights-logs-kube-audit" {
					t.Errorf("kafka defaults: %+v", k)
				}
			}},
		{name: "kafka without source", yaml: "kafka:\n  - brokers: [k:9092]\n    topics: [t]\n", wantErr: "line 2: kafka[0].source"},
		{name: "kafka without brokers", yaml: "kafka:\n  - source: s\n    topics: [t]\n", wantErr: "kafka[0].brokers: name the brokers"},
		{name: "kafka event hubs with brokers", yaml: "kafka:\n  - source: s\n    brokers: [k:9092]\n    event_hubs_connection_string_file: f\n", wantErr: "do not set brokers or sasl"},
		{name: "kafka bad format", yaml: "kafka:\n  - source: s\n    brokers: [k:9092]\n    format: xml\n", wantErr: "kafka[0].format: \"xml\""},
		{name: "kafka sasl half", yaml: "kafka:\n  - source: s\n    brokers: [k:9092]\n    sasl:\n      mechanism: PLAIN\n", wantErr: "kafka[0].sasl: set mechanism"},
		{name: "kafka name twice", yaml: "kafka:\n  - {source: s, brokers: [k:1], topics: [t]}\n  - {source: s, brokers: [k:1], topics: [t]}\n", wantErr: "kafka[1].name: \"t\" is used twice"},
		{name: "syslog", yaml: "syslog:\n  - {network: tcp, address: \":6514\", source: hosts}\n  - {network: udp, address: \":6514\", source: hosts}\n",
			check: func(t testing.TB, c *Config) {
				if len(c.Syslog) != 2 || c.Syslog[1].Network != "udp" {
					t.Errorf("syslog: %+v", c.Syslog)
				}
			}},
		{name: "syslog bad network", yaml: "syslog:\n  - network: sctp\n    address: \":1\"\n    source: s\n", wantErr: "line 2: syslog[0].network: \"sctp\""},
		{name: "syslog without source", yaml: "syslog:\n  - network: tcp\n    address: \":1\"\n", wantErr: "syslog[0].source"},
		{name: "syslog address twice", yaml: "syslog:\n  - {network: tcp, address: \":1\", source: s}\n  - {network: tls, address: \":1\", source: s}\n", wantErr: "syslog[1].address: tcp \":1\" is used twice"},
		{name: "detect", yaml: "detect:\n  learning: 72h\n  admin_hours: 08-18 Mon-Fri Europe/Berlin\n  scheduled:\n    - id: daily-failed-signins\n      query: SigninLogs | where TimeGenerated > ago(1d) | where ResultType != 0 | count\n      frequency: 24h\n      window: 24h\n      condition: count > 0\n",
			check: func(t testing.TB, c *Config) {
				if !c.Detect.Enabled || time.Duration(c.Detect.Learning) != 72*time.Hour || len(c.Detect.Scheduled) != 1 {
					t.Errorf("detect: %+v", c.Detect)
				}
				h, err := ParseHours(c.Detect.AdminHours)
				if err != nil || h.Start != 8 || h.End != 18 || len(h.Days) != 5 || h.Location.String() != "Europe/Berlin" {
					t.Errorf("admin hours %+v %v", h, err)
				}
			}},
		{name: "detect bad hours", yaml: "detect:\n  admin_hours: 18-08\n", wantErr: "line 2: detect.admin_hours"},
		{name: "detect bad day", yaml: "detect:\n  admin_hours: 08-18 Mon-Fry\n", wantErr: "day \"Fry\""},
		{name: "detect scheduled without condition", yaml: "detect:\n  scheduled:\n    - {id: a, query: print 1, frequency: 1h, window: 1h}\n", wantErr: "detect.scheduled[0].condition"},
		{name: "malformed yaml", yaml: "listen: [\n", wantErr: "line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestExampleConfigParses(t *testing.T) {
	if _, err := Load("../../docs/cdewatch.example.yaml"); err != nil {
		t.Fatal(err)
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"0": 0, "512": 512, "64KiB": 64 << 10, "12MiB": 12 << 20, "1GiB": 1 << 30, "5MB": 5e6, "7B": 7} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5MiB", "12 parsecs", "99999999999GiB"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q) succeeded", in)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("listen: a:1\ningest:\n  max_request_bytes: 1MiB\n"))
	f.Add([]byte("audit_files:\n  - path: /a\n    source: b\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err == nil && c.Validate() != nil {
			t.Fatal("Parse accepted a config Validate rejects")
		}
	})
}

// TestDocsConfigBlocks parses every YAML block of the documentation whose
// top-level keys are all cdewatch configuration keys (blocks for
// Kubernetes, Vector or the OpenTelemetry Collector are not), so that the
// documentation shows no setting the configuration refuses.
func TestDocsConfigBlocks(t *testing.T) {
	keys := map[string]bool{}
	ct := reflect.TypeFor[Config]()
	for i := range ct.NumField() {
		if tag, _, _ := strings.Cut(ct.Field(i).Tag.Get("yaml"), ","); tag != "" {
			keys[tag] = true
		}
	}
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../../README.md")
	block := regexp.MustCompile("(?s)```yaml\n(.*?)```")
	top := regexp.MustCompile(`(?m)^([A-Za-z_]+):`)
	parsed := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range block.FindAllSubmatch(b, -1) {
			tops := top.FindAllSubmatch(m[1], -1)
			config := len(tops) > 0
			for _, k := range tops {
				config = config && keys[string(k[1])]
			}
			if !config {
				continue
			}
			parsed++
			if _, err := Parse(m[1]); err != nil {
				t.Errorf("%s: a configuration block does not parse: %v\n%s", f, err, m[1])
			}
		}
	}
	if parsed < 5 {
		t.Fatalf("only %d configuration blocks found in the documentation", parsed)
	}
}

// TestExampleConfigHasEveryKey: docs/cdewatch.example.yaml, which the
// README says lists every key, names each key of the configuration (set
// or in a comment).
func TestExampleConfigHasEveryKey(t *testing.T) {
	b, err := os.ReadFile("../../docs/cdewatch.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var walk func(typ reflect.Type, path string)
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct {
			return
		}
		for i := range typ.NumField() {
			f := typ.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if tag == "" || tag == "-" {
				continue
			}
			key := strings.TrimPrefix(path+"."+tag, ".")
			if !regexp.MustCompile(`(^|[\s#{,-])` + regexp.QuoteMeta(tag) + `:`).Match(b) {
				t.Errorf("docs/cdewatch.example.yaml does not show %s", key)
			}
			walk(f.Type, key)
		}
	}
	walk(reflect.TypeFor[Config](), "")
}
