// Package config loads cdewatch's YAML configuration strictly: an unknown key
// or a bad value is an error naming the key and its line.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration. Zero values take the defaults in Default.
type Config struct {
	Listen string    `yaml:"listen"` // address of the HTTP API
	Data   string    `yaml:"data"`   // data directory
	TLS    TLSConfig `yaml:"tls"`
	Ledger Ledger    `yaml:"ledger"`
	Ingest Ingest    `yaml:"ingest"`
	PCI    PCI       `yaml:"pci"`
	Index  Index     `yaml:"index"`
	Query  Query     `yaml:"query"`
	Auth   Auth      `yaml:"auth"` // API authentication: OIDC, failed-authentication limit
	// Retention is how long records are kept; Integrity how stored data
	// is re-verified.
	Retention Retention `yaml:"retention"`
	Integrity Integrity `yaml:"integrity"`
	// Witness publishes the signed checkpoints off the node.
	Witness Witness `yaml:"witness"`
	// Health watches the sources and cdewatch's own controls.
	Health Health `yaml:"health"`
	Detect Detect `yaml:"detect"`
	// Notifiers receive the alerts, through a durable outbox.
	Notifiers []Notifier `yaml:"notifiers"`
	// AuditFiles are kube-apiserver audit log files (log backend, JSON format) to follow.
	AuditFiles []AuditFile `yaml:"audit_files"`
	// Kafka are Kafka topics, or Azure Event Hubs through their Kafka
	// endpoint, to consume.
	Kafka []KafkaInput `yaml:"kafka"`
	// Syslog are syslog listeners (RFC 5424/3164 over UDP, TCP, TLS).
	Syslog []SyslogListener `yaml:"syslog"`
	// Archive copies the ledger to storage that is difficult to modify.
	Archive Archive `yaml:"archive"`

	lines map[string]int // key path → line, for Validate's messages
}

// TLSConfig enables HTTPS on the API when both files are set.
type TLSConfig struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Ledger tunes the ledger (internal/ledger.Options).
type Ledger struct {
	Origin             string   `yaml:"origin"` // checkpoint origin for a new ledger, e.g. "pci.example.com/cdewatch"
	SegmentBytes       ByteSize `yaml:"segment_bytes"`
	MaxBatchBytes      ByteSize `yaml:"max_batch_bytes"`
	MaxBatchDelay      Duration `yaml:"max_batch_delay"`
	MaxPendingBytes    ByteSize `yaml:"max_pending_bytes"`
	CheckpointInterval Duration `yaml:"checkpoint_interval"`
}

// Ingest bounds what receivers accept.
type Ingest struct {
	MaxRequestBytes ByteSize `yaml:"max_request_bytes"`
	MaxEventBytes   ByteSize `yaml:"max_event_bytes"`
	DedupWindow     Duration `yaml:"dedup_window"` // redelivered (auditID, stage) within this window is stored once
	// DedupMaxKeys bounds the keys the redelivery window remembers (about
	// 25–32 bytes each); when the window would hold more, it is shorter.
	DedupMaxKeys int `yaml:"dedup_max_keys"`
	// AppServices are the OTLP service.name values of applications that
	// send their card-data access records as OTLP log records (AppAccess).
	AppServices []string `yaml:"otlp_app_services"`
	// AppIndexPrefix marks Elasticsearch bulk indices that carry an
	// application's access records: "<prefix><app>" (AppAccess).
	AppIndexPrefix string `yaml:"es_app_index_prefix"`
}

// Detect configures detection (internal/detect).
type Detect struct {
	// Enabled runs the detector; default true.
	Enabled bool `yaml:"enabled"`
	// Learning is how long baselines observe an identity before it can
	// raise alerts; default 7 days.
	Learning Duration `yaml:"learning"`
	// AdminHours, e.g. "08-18 Mon-Fri Europe/Berlin": administrative
	// actions outside them raise alerts. Empty: no such alerts.
	AdminHours string `yaml:"admin_hours"`
	// Scheduled are KQL rules run on a schedule.
	Scheduled []ScheduledRule `yaml:"scheduled"`
	// Lists override the named lists of the built-in rule pack (e.g.
	// allowed_secret_readers); cde_namespaces and admin_roles default to
	// pci.cde_namespaces and pci.admin_roles.
	Lists map[string][]string `yaml:"lists"`
	// RulesDir holds more rule files in cdewatch's rule language
	// (docs/DETECTION.md); SigmaDir SigmaHQ rules (docs/SIGMA.md).
	RulesDir string `yaml:"rules_dir"`
	SigmaDir string `yaml:"sigma_dir"`
}

// ScheduledRule is a scheduled KQL rule, as `az monitor scheduled-query`.
type ScheduledRule struct {
	ID          string   `yaml:"id"`
	Title       string   `yaml:"title"`
	Description string   `yaml:"description"`
	Severity    string   `yaml:"severity"` // info, low, medium, high, critical
	PCI         []string `yaml:"pci"`
	Query       string   `yaml:"query"`
	Frequency   Duration `yaml:"frequency"`
	Window      Duration `yaml:"window"`
	Condition   string   `yaml:"condition"` // e.g. "count > 0"
}

// Notifier is one receiver of alerts (internal/alert/notify): a signed
// webhook, Slack, Microsoft Teams, email or syslog. Secrets (webhook
// secret, chat webhook URLs, SMTP password) are read from files.
type Notifier struct {
	Type string `yaml:"type"` // webhook, slack, teams, email or syslog
	Name string `yaml:"name"`
	// webhook: URL and the file of the HMAC secret; slack, teams: the file
	// holding the incoming-webhook URL (itself a secret).
	URL        string            `yaml:"url"`
	URLFile    string            `yaml:"url_file"`
	SecretFile string            `yaml:"secret_file"`
	Headers    map[string]string `yaml:"headers"`
	// email
	Address        string   `yaml:"address"` // also syslog: host:port
	ImplicitTLS    bool     `yaml:"implicit_tls"`
	AllowPlaintext bool     `yaml:"allow_plaintext"`
	Username       string   `yaml:"username"`
	PasswordFile   string   `yaml:"password_file"`
	From           string   `yaml:"from"`
	To             []string `yaml:"to"`
	LocalName      string   `yaml:"local_name"` // EHLO name; default the host name
	// slack, teams: alerts detailed per message (1-15; default 10).
	MaxAlerts int `yaml:"max_alerts"`
	// syslog
	Network     string `yaml:"network"`
	Facility    string `yaml:"facility"`
	Hostname    string `yaml:"hostname"`      // HOSTNAME; default the host name
	AppName     string `yaml:"app_name"`      // APP-NAME; default cdewatch
	SDID        string `yaml:"sd_id"`         // SD-ID; default cdewatch@32473
	MaxUDPBytes int    `yaml:"max_udp_bytes"` // udp: MSG cut to fit
	// Timeout of one attempt; default 10s (30s for email).
	Timeout Duration `yaml:"timeout"`
	// TLS of the connection to the receiver.
	CAFile     string `yaml:"ca_file"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	ServerName string `yaml:"server_name"` // name the certificate is checked against, if not the host
	// Route: which alerts this notifier receives.
	MinSeverity  string   `yaml:"min_severity"`
	PCI          []string `yaml:"pci"`
	Sources      []string `yaml:"sources"`
	Rules        []string `yaml:"rules"`
	ExcludeRules []string `yaml:"exclude_rules"`
	// Throttle: at most ThrottleMax alerts per ThrottleWindow and rule
	// and key (the rest summarized in one alert); 0: no throttling.
	ThrottleMax    int      `yaml:"throttle_max"`
	ThrottleWindow Duration `yaml:"throttle_window"`
	// ThrottleBy is the throttle key: key (the default: the alert's rule
	// and key) or rule.
	ThrottleBy string `yaml:"throttle_by"`
}

// KafkaInput is one Kafka consumer (internal/ingest/kafka). Secrets are
// read from files, never written in the configuration.
type KafkaInput struct {
	// Name labels the consumer in logs and in the Via of its records;
	// default: its first topic.
	Name string `yaml:"name"`
	// Source is the source every record consumed is bound to.
	Source string `yaml:"source"`
	// Format of the messages: azure (Event Hubs bodies of a diagnostic
	// setting, the default) or documents (one JSON document each).
	Format  string   `yaml:"format"`
	Brokers []string `yaml:"brokers"`
	Topics  []string `yaml:"topics"`
	// Group is the consumer group; default "cdewatch" (for Event Hubs, a
	// consumer group created for cdewatch, not $Default).
	Group string `yaml:"group"`
	// EventHubsConnectionStringFile holds an Event Hubs connection string:
	// it implies the broker <namespace>:9093, TLS and SASL PLAIN with
	// $ConnectionString. Not with brokers or sasl.
	EventHubsConnectionStringFile string `yaml:"event_hubs_connection_string_file"`
	TLS                           bool   `yaml:"tls"`
	CAFile                        string `yaml:"ca_file"`
	SASL                          struct {
		Mechanism    string `yaml:"mechanism"` // PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
		User         string `yaml:"user"`
		PasswordFile string `yaml:"password_file"`
	} `yaml:"sasl"`
	MaxPollRecords int `yaml:"max_poll_records"`
}

// SyslogListener is one syslog socket (internal/ingest/syslog.Listener,
// whose Validate checks the rest when serve starts).
type SyslogListener struct {
	Network string `yaml:"network"` // udp, tcp or tls
	Address string `yaml:"address"` // e.g. ":6514"
	// Source every message is stored under; with client_ca_file the
	// client certificate's name gives it through client_sources instead.
	Source          string            `yaml:"source"`
	CertFile        string            `yaml:"cert_file"`
	KeyFile         string            `yaml:"key_file"`
	ClientCAFile    string            `yaml:"client_ca_file"`
	ClientSources   map[string]string `yaml:"client_sources"`
	MaxMessageBytes ByteSize          `yaml:"max_message_bytes"`
}

// Index configures the DuckDB query index fed from the ledger.
type Index struct {
	Enabled bool `yaml:"enabled"` // default true; off: ledger only, nothing to query
	// MemoryLimit caps DuckDB's memory, e.g. "4GB"; empty: DuckDB's default (80% of RAM).
	MemoryLimit string `yaml:"memory_limit"`
	// Threads is DuckDB's thread count for queries and indexing; 0: one
	// per CPU the process may use (container limits included), or 1 on up
	// to 2 CPUs.
	Threads int `yaml:"threads"`
	// StageMemory bounds the newest rows the index holds in memory (Go's
	// heap, not MemoryLimit) before writing them to its database file;
	// default 1GiB, about 500,000 audit events. Queries see a row once it
	// is staged; when writes fall behind and the stage is full, indexing
	// waits (nothing is lost).
	StageMemory ByteSize `yaml:"stage_memory"`
}

// Query bounds one KQL query run through POST /v1/query (kql.Options).
type Query struct {
	// Timeout is the longest a query may run before it is stopped.
	Timeout Duration `yaml:"timeout"`
	// MaxRows bounds the rows of each result table.
	MaxRows int `yaml:"max_rows"`
	// MaxBytes bounds the size of a whole result, counted as the text of its cells.
	MaxBytes ByteSize `yaml:"max_bytes"`
}

// PCI declares the cardholder data environment and privileged identities.
type PCI struct {
	CDENamespaces    []string `yaml:"cde_namespaces"`
	PrivilegedUsers  []string `yaml:"privileged_users"`
	PrivilegedGroups []string `yaml:"privileged_groups"`
	AdminRoles       []string `yaml:"admin_roles"`
}

// AuditFile is one audit log file to follow and the source (cluster) it belongs to.
type AuditFile struct {
	Path   string `yaml:"path"`
	Source string `yaml:"source"`
}

// Default returns the built-in configuration: safe to run as is.
func Default() *Config {
	return &Config{
		Listen: "127.0.0.1:8470",
		Data:   "./cdewatch-data",
		Ledger: Ledger{
			SegmentBytes:       128 << 20,
			MaxBatchBytes:      16 << 20,
			MaxPendingBytes:    256 << 20,
			CheckpointInterval: Duration(time.Second),
		},
		Ingest: Ingest{
			MaxRequestBytes: 12 << 20,
			MaxEventBytes:   256 << 10,
			DedupWindow:     Duration(5 * time.Minute),
			DedupMaxKeys:    10_000_000,
			AppIndexPrefix:  "cdewatch-app-",
		},
		Index: Index{Enabled: true, StageMemory: 1 << 30},
		Retention: Retention{
			Default:      Duration(365 * 24 * time.Hour),
			ShortenDelay: Duration(7 * 24 * time.Hour),
			Interval:     Duration(time.Hour),
			Index:        Duration(90 * 24 * time.Hour),
		},
		Integrity: Integrity{Interval: Duration(30 * time.Second), FullPass: Duration(24 * time.Hour)},
		Witness:   Witness{Interval: Duration(time.Minute), Timeout: Duration(30 * time.Second)},
		Detect:    Detect{Enabled: true, Learning: Duration(7 * 24 * time.Hour)},
		Query: Query{
			Timeout:  Duration(30 * time.Second),
			MaxRows:  500_000,
			MaxBytes: 64 << 20,
		},
		PCI: PCI{
			PrivilegedGroups: []string{"system:masters"},
			AdminRoles:       []string{"cluster-admin"},
		},
	}
}

// Load reads path over the defaults. Unknown keys and bad values are errors
// naming the key and line.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse parses YAML over the defaults and validates the result.
func Parse(b []byte) (*Config, error) {
	c := Default()
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	c.lines = map[string]int{}
	walk(&doc, "", c.lines)
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, annotate(err, c.lines)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

var lineRe = regexp.MustCompile(`line (\d+)`)

// annotate adds the key path to yaml errors that only give a line.
func annotate(err error, lines map[string]int) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n  ")
	return fmt.Errorf("%s", lineRe.ReplaceAllStringFunc(msg, func(m string) string {
		n, _ := strconv.Atoi(m[len("line "):])
		for k, l := range lines {
			if l == n {
				return fmt.Sprintf("line %d (key %s)", n, k)
			}
		}
		return m
	}))
}

// walk records the line of every mapping key by dotted path.
func walk(n *yaml.Node, path string, out map[string]int) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			walk(c, path, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if path != "" {
				k = path + "." + k
			}
			out[k] = n.Content[i].Line
			walk(n.Content[i+1], k, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			out[p] = c.Line
			walk(c, p, out)
		}
	}
}

// Validate checks values that parse but make no sense.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		msg := fmt.Sprintf(format, a...)
		// The line of the key, else of the nearest enclosing key written.
		for k := key; k != ""; k = k[:max(strings.LastIndexAny(k, ".["), 0)] {
			if l, ok := c.lines[k]; ok {
				errs = append(errs, fmt.Errorf("line %d: %s: %s", l, key, msg))
				return
			}
		}
		errs = append(errs, fmt.Errorf("%s: %s", key, msg))
	}
	if c.Listen == "" {
		bad("listen", "must not be empty")
	}
	if c.Data == "" {
		bad("data", "must not be empty")
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		bad("tls", "set both cert and key, or neither")
	}
	if c.Ledger.SegmentBytes < 1<<20 {
		bad("ledger.segment_bytes", "%v is below the minimum 1MiB", c.Ledger.SegmentBytes)
	}
	if c.Ledger.MaxBatchBytes < 64<<10 {
		bad("ledger.max_batch_bytes", "%v is below the minimum 64KiB", c.Ledger.MaxBatchBytes)
	}
	if c.Ledger.MaxPendingBytes < c.Ingest.MaxRequestBytes {
		bad("ledger.max_pending_bytes", "%v is smaller than ingest.max_request_bytes (%v): no request could ever be accepted", c.Ledger.MaxPendingBytes, c.Ingest.MaxRequestBytes)
	}
	if c.Ledger.MaxBatchDelay < 0 || time.Duration(c.Ledger.MaxBatchDelay) > time.Second {
		bad("ledger.max_batch_delay", "%v must be between 0 and 1s", c.Ledger.MaxBatchDelay)
	}
	if c.Ledger.CheckpointInterval <= 0 {
		bad("ledger.checkpoint_interval", "must be positive")
	}
	if c.Index.Threads < 0 {
		bad("index.threads", "%d must be 0 (automatic) or more", c.Index.Threads)
	}
	if c.Index.StageMemory < 64<<20 {
		bad("index.stage_memory", "%v must be at least 64MiB", c.Index.StageMemory)
	}
	if strings.ContainsAny(c.Ledger.Origin, " +\n") {
		bad("ledger.origin", "%q must not contain spaces, '+' or newlines (c2sp.org/tlog-checkpoint)", c.Ledger.Origin)
	}
	if c.Ingest.MaxEventBytes <= 0 || c.Ingest.MaxEventBytes > c.Ingest.MaxRequestBytes {
		bad("ingest.max_event_bytes", "%v must be positive and at most ingest.max_request_bytes (%v)", c.Ingest.MaxEventBytes, c.Ingest.MaxRequestBytes)
	}
	if c.Ingest.DedupWindow < 0 {
		bad("ingest.dedup_window", "must not be negative")
	}
	if c.Ingest.DedupMaxKeys < 1000 {
		bad("ingest.dedup_max_keys", "%d must be at least 1000 (it bounds the memory of the redelivery window, about 32 bytes a key)", c.Ingest.DedupMaxKeys)
	}
	c.Auth.validate(bad)
	c.Retention.validate(bad)
	c.Integrity.validate(bad)
	c.validateWitness(bad)
	c.Health.validate(bad)
	if c.Query.Timeout <= 0 || time.Duration(c.Query.Timeout) > time.Hour {
		bad("query.timeout", "%v must be positive and at most 1h", c.Query.Timeout)
	}
	if c.Query.MaxRows <= 0 {
		bad("query.max_rows", "%d must be positive", c.Query.MaxRows)
	}
	if c.Query.MaxBytes < 1<<10 || c.Query.MaxBytes > 1<<30 {
		bad("query.max_bytes", "%v must be between 1KiB and 1GiB", c.Query.MaxBytes)
	}
	seen := map[string]bool{}
	for i, f := range c.AuditFiles {
		key := fmt.Sprintf("audit_files[%d]", i)
		if f.Path == "" {
			bad(key+".path", "must not be empty")
		}
		if f.Source == "" {
			bad(key+".source", "must name the cluster the file belongs to")
		}
		if seen[f.Path] {
			bad(key+".path", "%q is listed twice", f.Path)
		}
		seen[f.Path] = true
	}
	if c.Detect.Learning < 0 {
		bad("detect.learning", "must not be negative")
	}
	if c.Detect.AdminHours != "" {
		if _, err := ParseHours(c.Detect.AdminHours); err != nil {
			bad("detect.admin_hours", "%v", err)
		}
	}
	ids := map[string]bool{}
	for i, r := range c.Detect.Scheduled {
		key := fmt.Sprintf("detect.scheduled[%d]", i)
		switch {
		case r.ID == "":
			bad(key+".id", "must not be empty")
		case ids[r.ID]:
			bad(key+".id", "%q is used twice", r.ID)
		}
		ids[r.ID] = true
		if strings.TrimSpace(r.Query) == "" {
			bad(key+".query", "must not be empty")
		}
		if r.Frequency <= 0 || r.Window <= 0 {
			bad(key, "set frequency and window, e.g. 24h")
		}
		if r.Condition == "" {
			bad(key+".condition", "must not be empty, e.g. \"count > 0\"")
		}
	}
	addrs := map[string]bool{}
	for i, l := range c.Syslog {
		key := fmt.Sprintf("syslog[%d]", i)
		if l.Network != "udp" && l.Network != "tcp" && l.Network != "tls" {
			bad(key+".network", "%q: want udp, tcp or tls", l.Network)
		}
		if l.Address == "" {
			bad(key+".address", "must not be empty, e.g. \":6514\"")
		}
		if l.Source == "" && l.ClientCAFile == "" {
			bad(key+".source", "must name the source the messages belong to (or use client_ca_file and client_sources)")
		}
		proto := "tcp"
		if l.Network == "udp" {
			proto = "udp"
		}
		if addrs[proto+" "+l.Address] {
			bad(key+".address", "%s %q is used twice", proto, l.Address)
		}
		addrs[proto+" "+l.Address] = true
	}
	notifierNames := map[string]bool{}
	for i, n := range c.Notifiers {
		key := fmt.Sprintf("notifiers[%d]", i)
		if notifierNames[n.Name] {
			bad(key+".name", "%q is used twice", n.Name)
		}
		notifierNames[n.Name] = true
		if n.ThrottleBy != "" && n.ThrottleBy != "key" && n.ThrottleBy != "rule" {
			bad(key+".throttle_by", "%q: want key or rule", n.ThrottleBy)
		}
		switch n.Type {
		case "webhook":
			if n.URL == "" || n.SecretFile == "" {
				bad(key, "a webhook needs url and secret_file (the HMAC key shared with the receiver)")
			}
		case "slack", "teams":
			if n.URLFile == "" {
				bad(key+".url_file", "name the file holding the incoming-webhook URL (a secret)")
			}
		case "email":
			if n.Address == "" || n.From == "" || len(n.To) == 0 {
				bad(key, "an email notifier needs address, from and to")
			}
		case "syslog":
			if n.Address == "" {
				bad(key+".address", "must not be empty (host:port)")
			}
		default:
			bad(key+".type", "%q: want webhook, slack, teams, email or syslog", n.Type)
		}
	}
	names := map[string]bool{}
	for i := range c.Kafka {
		k := &c.Kafka[i]
		key := fmt.Sprintf("kafka[%d]", i)
		if k.Format == "" {
			k.Format = "azure"
		}
		if k.Group == "" {
			k.Group = "cdewatch"
		}
		if k.Name == "" && len(k.Topics) > 0 {
			k.Name = k.Topics[0]
		}
		if k.Source == "" {
			bad(key+".source", "must name the source the records belong to")
		}
		if k.Format != "azure" && k.Format != "documents" {
			bad(key+".format", "%q: want azure or documents", k.Format)
		}
		switch {
		case k.EventHubsConnectionStringFile != "" && (len(k.Brokers) > 0 || k.SASL.Mechanism != ""):
			bad(key, "event_hubs_connection_string_file implies the brokers and SASL: do not set brokers or sasl with it")
		case k.EventHubsConnectionStringFile == "" && len(k.Brokers) == 0:
			bad(key+".brokers", "name the brokers (host:port), or set event_hubs_connection_string_file")
		}
		if (k.SASL.Mechanism != "") != (k.SASL.PasswordFile != "") {
			bad(key+".sasl", "set mechanism, user and password_file together")
		}
		if k.Name != "" && names[k.Name] {
			bad(key+".name", "%q is used twice", k.Name)
		}
		names[k.Name] = true
	}
	c.Archive.Validate(bad)
	return errors.Join(errs...)
}

// ByteSize is a size in bytes, written as 512, 64KiB, 12MiB, 1GiB (or KB/MB/GB as powers of 1000).
type ByteSize int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}

// ParseByteSize parses a size such as "12MiB".
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if v, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(v), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("invalid size %q: want a non-negative number with an optional unit (B, KiB, MiB, GiB, KB, MB, GB)", s)
	}
	return ByteSize(n * mult), nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

// String renders the size with the largest exact binary unit.
func (b ByteSize) String() string {
	switch {
	case b >= 1<<30 && b%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", b>>30)
	case b >= 1<<20 && b%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", b>>20)
	case b >= 1<<10 && b%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", b>>10)
	}
	return fmt.Sprintf("%dB", int64(b))
}

// Set implements flag.Value.
func (b *ByteSize) Set(s string) error {
	v, err := ParseByteSize(s)
	if err == nil {
		*b = v
	}
	return err
}

// Duration is a time.Duration written as "1s", "5m", or with a leading
// count of days: "365d", "1d12h".
type Duration time.Duration

// ParseDuration reads a duration as time.ParseDuration does, and also a
// leading number of days ("90d", "1d12h").
func ParseDuration(s string) (time.Duration, error) {
	days, rest, ok := strings.Cut(s, "d")
	if !ok {
		return time.ParseDuration(s)
	}
	n, err := strconv.ParseUint(days, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	d := time.Duration(n) * 24 * time.Hour
	if rest != "" {
		r, err := time.ParseDuration(rest)
		if err != nil || r < 0 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		d += r
	}
	return d, nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: invalid duration %q: want e.g. 500ms, 1s, 5m, 90d", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// String renders the duration.
func (d Duration) String() string { return time.Duration(d).String() }

// Set implements flag.Value.
func (d *Duration) Set(s string) error {
	v, err := ParseDuration(s)
	if err == nil {
		*d = Duration(v)
	}
	return err
}

// Hours is a weekly window of working hours, as detect.admin_hours writes
// it: "HH-HH [Day-Day|Day,Day,…] [IANA zone]", e.g. "08-18 Mon-Fri
// Europe/Berlin".
type Hours struct {
	Start, End int
	Days       []time.Weekday
	Location   *time.Location
}

var weekdays = map[string]time.Weekday{"Sun": time.Sunday, "Mon": time.Monday, "Tue": time.Tuesday, "Wed": time.Wednesday,
	"Thu": time.Thursday, "Fri": time.Friday, "Sat": time.Saturday}

// ParseHours reads working hours.
func ParseHours(s string) (Hours, error) {
	f := strings.Fields(s)
	var h Hours
	if len(f) == 0 || len(f) > 3 {
		return h, fmt.Errorf("%q: want \"HH-HH [Mon-Fri] [zone]\", e.g. \"08-18 Mon-Fri Europe/Berlin\"", s)
	}
	a, b, ok := strings.Cut(f[0], "-")
	start, err1 := strconv.Atoi(a)
	end, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || start < 0 || end > 24 || start >= end {
		return h, fmt.Errorf("%q: hours %q: want HH-HH with 0 <= start < end <= 24", s, f[0])
	}
	h.Start, h.End = start, end
	for _, x := range f[1:] {
		if loc, err := time.LoadLocation(x); err == nil && strings.Contains(x, "/") || x == "UTC" {
			h.Location = loc
			continue
		}
		days, err := parseDays(x)
		if err != nil {
			return h, fmt.Errorf("%q: %w", s, err)
		}
		h.Days = days
	}
	return h, nil
}

func parseDays(s string) ([]time.Weekday, error) {
	var out []time.Weekday
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(part, "-")
		da, ok1 := weekdays[a]
		if !ok1 {
			return nil, fmt.Errorf("day %q: want Mon, Tue, …, Sun, a range Mon-Fri or a list Mon,Wed (or an IANA time zone)", a)
		}
		if !isRange {
			out = append(out, da)
			continue
		}
		db, ok2 := weekdays[b]
		if !ok2 {
			return nil, fmt.Errorf("day %q: want Mon, Tue, …, Sun", b)
		}
		for d := da; ; d = (d + 1) % 7 {
			out = append(out, d)
			if d == db {
				break
			}
		}
	}
	return out, nil
}
