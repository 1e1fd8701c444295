package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/cdewatch/cdewatch/internal/tlsutil"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// SASL mechanisms accepted in SASL.Mechanism.
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
)

// EventHubsPort is the port of the Kafka endpoint of every Event Hubs
// namespace.
const EventHubsPort = "9093"

// EventHubsUser is the SASL PLAIN user name Event Hubs expects when the
// password is a connection string.
const EventHubsUser = "$ConnectionString"

// Defaults and limits.
const (
	DefaultMaxPollRecords = 5000
	// MaxPollRecordsLimit is the most records one poll may hand to the
	// Handler (the ledger's per-append record limit).
	MaxPollRecordsLimit = 1 << 20
	DefaultMinBackoff   = 100 * time.Millisecond
	DefaultMaxBackoff   = 10 * time.Second
	DefaultCommitWait   = 10 * time.Second

	// eventHubsMetadataMaxAge keeps metadata requests flowing more often
	// than Event Hubs closes idle connections (240 s); Microsoft recommends
	// metadata.max.age.ms = 180000.
	eventHubsMetadataMaxAge = 3 * time.Minute
)

// SASL configures SASL authentication. An empty Mechanism disables SASL.
type SASL struct {
	Mechanism string // MechanismPlain, MechanismScramSHA256 or MechanismScramSHA512
	User      string
	Password  string // never logged
}

// Config configures a Consumer. Zero values take the defaults.
//
// For plain Kafka set Brokers (and TLS, SASL as the cluster needs). For Azure
// Event Hubs set EventHubsConnectionString instead of Brokers and SASL: it
// implies the broker <namespace host>:9093, TLS, and SASL PLAIN with user
// "$ConnectionString" and the connection string as password.
type Config struct {
	// Brokers are the seed brokers, host:port. Not with
	// EventHubsConnectionString.
	Brokers []string
	// Topics to consume. For Event Hubs a topic is an event hub; when the
	// connection string names one (EntityPath) and Topics is empty, Topics
	// is that event hub.
	Topics []string
	// Group is the consumer group (for Event Hubs, the Event Hubs consumer
	// group, e.g. "$Default"). Offsets are committed to it.
	Group string
	// Source is the cdewatch source name every record of this consumer is
	// bound to; it is passed to the Handler.
	Source string
	// ClientID is the Kafka client.id; default "cdewatch".
	ClientID string

	// EventHubsConnectionString is an Event Hubs connection string
	// (Endpoint=sb://<ns>.servicebus.windows.net/;SharedAccessKeyName=…;
	// SharedAccessKey=…[;EntityPath=…]). Never logged.
	EventHubsConnectionString string

	// TLS enables TLS with the system roots, or with the PEM certificates
	// in CAFile if set. TLSConfig, if set, is used instead (cloned); it
	// enables TLS by itself.
	TLS       bool
	CAFile    string
	TLSConfig *tls.Config

	// SASL authentication; not with EventHubsConnectionString.
	SASL SASL

	// MaxPollRecords bounds the records of one poll, hence of one Handler
	// call; default DefaultMaxPollRecords, at most MaxPollRecordsLimit.
	MaxPollRecords int

	// MinBackoff and MaxBackoff bound the wait between retries of a failed
	// Handler call (doubling from MinBackoff); defaults DefaultMinBackoff,
	// DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// CommitTimeout bounds one offset commit, including the commits made
	// while shutting down; default DefaultCommitWait.
	CommitTimeout time.Duration
	// SessionTimeout and RebalanceTimeout override the franz-go defaults
	// (45 s and 60 s) when positive.
	SessionTimeout, RebalanceTimeout time.Duration

	Logger *slog.Logger
}

// String describes c without secrets.
func (c Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kafka.Config{Brokers:%v Topics:%v Group:%q Source:%q", c.Brokers, c.Topics, c.Group, c.Source)
	if c.EventHubsConnectionString != "" {
		b.WriteString(" EventHubsConnectionString:[REDACTED]")
	}
	if c.SASL.Mechanism != "" {
		fmt.Fprintf(&b, " SASL:%s/%s/[REDACTED]", c.SASL.Mechanism, c.SASL.User)
	}
	fmt.Fprintf(&b, " TLS:%t}", c.TLS || c.TLSConfig != nil || c.EventHubsConnectionString != "")
	return b.String()
}

// GoString is String, so that %#v does not print secrets either.
func (c Config) GoString() string { return c.String() }

// LogValue logs c without secrets.
func (c Config) LogValue() slog.Value {
	return slog.StringValue(c.String())
}

// Validate reports what is wrong with c, all problems at once. It reads
// CAFile. It never includes the connection string's key or the SASL password
// in its errors.
func (c Config) Validate() error {
	_, err := c.resolve()
	return err
}

// resolved is the effective connection configuration derived from a Config.
type resolved struct {
	brokers   []string
	topics    []string
	tls       *tls.Config    // nil: plaintext
	mechanism sasl.Mechanism // nil: no SASL
	eventHubs *eventHubsConn // parsed connection string, if any
	dial      dialFunc       // test hook: replaces the dialer (TLS is then up to it)
	maxPoll   int
	minBack   time.Duration
	maxBack   time.Duration
	commitTO  time.Duration
	clientID  string
	log       *slog.Logger

	probeTimeout time.Duration // one connectivity check (Ping)
	probeMin     time.Duration // first wait after a failed check
}

type dialFunc func(ctx context.Context, network, host string) (net.Conn, error)

// resolve validates c and derives the effective connection configuration.
func (c Config) resolve() (resolved, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("kafka: config: "+format, args...))
	}
	r := resolved{
		topics:   c.Topics,
		maxPoll:  c.MaxPollRecords,
		minBack:  c.MinBackoff,
		maxBack:  c.MaxBackoff,
		commitTO: c.CommitTimeout,
		clientID: c.ClientID,
		log:      c.Logger,
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.clientID == "" {
		r.clientID = "cdewatch"
	}
	r.probeTimeout, r.probeMin = 15*time.Second, time.Second

	if c.EventHubsConnectionString != "" {
		eh, err := parseEventHubsConnectionString(c.EventHubsConnectionString)
		if err != nil {
			errs = append(errs, fmt.Errorf("kafka: config: EventHubsConnectionString: %w", err))
		} else {
			r.eventHubs = &eh
			r.brokers = []string{net.JoinHostPort(eh.host, EventHubsPort)}
			r.mechanism = plain.Auth{User: EventHubsUser, Pass: c.EventHubsConnectionString}.AsMechanism()
			if eh.entityPath != "" {
				if len(c.Topics) == 0 {
					r.topics = []string{eh.entityPath}
				}
				for _, t := range c.Topics {
					if t != eh.entityPath {
						bad("the connection string is scoped to event hub %q (EntityPath) but Topics names %q", eh.entityPath, t)
					}
				}
			}
		}
		if len(c.Brokers) > 0 {
			bad("set either Brokers or EventHubsConnectionString, not both (the connection string implies <namespace>:%s)", EventHubsPort)
		}
		if c.SASL != (SASL{}) {
			bad("set either SASL or EventHubsConnectionString, not both (the connection string implies SASL PLAIN as %s)", EventHubsUser)
		}
	} else {
		r.brokers = c.Brokers
		if len(c.Brokers) == 0 {
			bad("Brokers is empty (or set EventHubsConnectionString)")
		}
		for i, b := range c.Brokers {
			if err := checkHostPort(b); err != nil {
				bad("Brokers[%d] %q: %v", i, b, err)
			}
		}
		mech, err := c.SASL.mechanism()
		if err != nil {
			errs = append(errs, fmt.Errorf("kafka: config: SASL: %w", err))
		}
		r.mechanism = mech
	}

	if len(r.topics) == 0 {
		bad("Topics is empty")
	}
	seen := make(map[string]bool, len(r.topics))
	for i, t := range r.topics {
		switch {
		case t == "":
			bad("Topics[%d] is empty", i)
		case seen[t]:
			bad("Topics names %q twice", t)
		}
		seen[t] = true
	}
	if c.Group == "" {
		bad("Group is empty (Event Hubs: the consumer group, e.g. $Default)")
	}
	if c.Source == "" {
		bad("Source is empty (the source name records are bound to)")
	}

	switch {
	case c.MaxPollRecords < 0:
		bad("MaxPollRecords is negative (%d)", c.MaxPollRecords)
	case c.MaxPollRecords > MaxPollRecordsLimit:
		bad("MaxPollRecords %d exceeds %d", c.MaxPollRecords, MaxPollRecordsLimit)
	case c.MaxPollRecords == 0:
		r.maxPoll = DefaultMaxPollRecords
	}
	if c.MinBackoff < 0 || c.MaxBackoff < 0 || c.CommitTimeout < 0 || c.SessionTimeout < 0 || c.RebalanceTimeout < 0 {
		bad("durations must not be negative")
	}
	if r.minBack <= 0 {
		r.minBack = DefaultMinBackoff
	}
	if r.maxBack <= 0 {
		r.maxBack = DefaultMaxBackoff
	}
	if r.maxBack < r.minBack {
		bad("MaxBackoff %v is below MinBackoff %v", r.maxBack, r.minBack)
	}
	if r.commitTO <= 0 {
		r.commitTO = DefaultCommitWait
	}

	tc, err := c.tlsConfig()
	if err != nil {
		errs = append(errs, err)
	}
	r.tls = tc
	if err := errors.Join(errs...); err != nil {
		return resolved{}, err
	}
	return r, nil
}

// tlsConfig returns the TLS configuration c asks for, or nil for plaintext.
func (c Config) tlsConfig() (*tls.Config, error) {
	eh := c.EventHubsConnectionString != ""
	switch {
	case c.TLSConfig != nil && c.CAFile != "":
		return nil, errors.New("kafka: config: set either TLSConfig or CAFile, not both")
	case c.TLSConfig != nil:
		tc := c.TLSConfig.Clone()
		if tc.MinVersion == 0 {
			tc.MinVersion = tls.VersionTLS12
		}
		return tc, nil
	case !c.TLS && !eh:
		if c.CAFile != "" {
			return nil, errors.New("kafka: config: CAFile is set but TLS is false")
		}
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pool, err := tlsutil.AppendCertsFile(nil, c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka: config: reading CAFile: %w", err)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// mechanism returns the franz-go SASL mechanism s describes, nil for none.
func (s SASL) mechanism() (sasl.Mechanism, error) {
	if s.Mechanism == "" {
		if s.User != "" || s.Password != "" {
			return nil, errors.New("User or Password set without Mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
		}
		return nil, nil
	}
	if s.User == "" {
		return nil, fmt.Errorf("%s needs a User", s.Mechanism)
	}
	if s.Password == "" {
		return nil, fmt.Errorf("%s needs a Password", s.Mechanism)
	}
	switch strings.ToUpper(s.Mechanism) {
	case MechanismPlain:
		return plain.Auth{User: s.User, Pass: s.Password}.AsMechanism(), nil
	case MechanismScramSHA256:
		return scram.Auth{User: s.User, Pass: s.Password}.AsSha256Mechanism(), nil
	case MechanismScramSHA512:
		return scram.Auth{User: s.User, Pass: s.Password}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("unknown Mechanism %q (want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)", s.Mechanism)
}

// checkHostPort reports whether b is host:port with a numeric port.
func checkHostPort(b string) error {
	host, port, err := net.SplitHostPort(b)
	if err != nil {
		return errors.New("want host:port")
	}
	if host == "" {
		return errors.New("empty host")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("bad port %q", port)
	}
	return nil
}

// eventHubsConn is the non-secret part of a parsed Event Hubs connection
// string.
type eventHubsConn struct {
	host       string // namespace host, e.g. ns.servicebus.windows.net
	keyName    string // SharedAccessKeyName, empty with a SAS token
	entityPath string // event hub the string is scoped to, if any
}

// knownConnKey reports whether lk is a (lower-cased) connection string key
// that may be named in errors.
func knownConnKey(lk string) bool {
	switch lk {
	case "endpoint", "sharedaccesskeyname", "sharedaccesskey", "sharedaccesssignature", "entitypath":
		return true
	}
	return false
}

// parseEventHubsConnectionString parses and checks an Event Hubs connection
// string: Key=Value pairs separated by ';', keys case-insensitive. Errors name
// what is wrong but never include a key or signature.
func parseEventHubsConnectionString(s string) (eventHubsConn, error) {
	kv := make(map[string]string)
	for i, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			// Do not echo the element: it may be (part of) the key.
			return eventHubsConn{}, fmt.Errorf("element %d is not Key=Value", i+1)
		}
		lk := strings.ToLower(k)
		if _, dup := kv[lk]; dup {
			if !knownConnKey(lk) {
				k = "an element" // unknown: do not echo, it may be a mangled key
			}
			return eventHubsConn{}, fmt.Errorf("%s appears twice", k)
		}
		kv[lk] = strings.TrimSpace(v)
	}
	var eh eventHubsConn
	ep, ok := kv["endpoint"]
	if !ok || ep == "" {
		return eh, errors.New("missing Endpoint (want Endpoint=sb://<namespace>.servicebus.windows.net/)")
	}
	u, err := url.Parse(ep)
	if err != nil {
		return eh, fmt.Errorf("Endpoint %q is not a URL", ep)
	}
	if u.Scheme != "sb" {
		return eh, fmt.Errorf("Endpoint %q: scheme must be sb:// (want sb://<namespace>.servicebus.windows.net/)", ep)
	}
	if u.User != nil {
		return eh, errors.New("Endpoint must not hold user information")
	}
	eh.host = u.Hostname()
	if eh.host == "" {
		return eh, fmt.Errorf("Endpoint %q has no host", ep)
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		return eh, fmt.Errorf("Endpoint %q has a path; give the event hub as EntityPath=%s", ep, p)
	}
	eh.keyName = kv["sharedaccesskeyname"]
	key, hasKey := kv["sharedaccesskey"]
	sig, hasSig := kv["sharedaccesssignature"]
	switch {
	case hasKey && hasSig:
		return eh, errors.New("both SharedAccessKey and SharedAccessSignature are set; use one")
	case hasSig:
		if sig == "" {
			return eh, errors.New("SharedAccessSignature is empty")
		}
	case !hasKey:
		return eh, errors.New("missing SharedAccessKey (and no SharedAccessSignature)")
	case key == "":
		return eh, errors.New("SharedAccessKey is empty")
	case eh.keyName == "":
		return eh, errors.New("missing SharedAccessKeyName (the name of the shared access policy)")
	}
	if v, ok := kv["entitypath"]; ok {
		if v == "" {
			return eh, errors.New("EntityPath is empty")
		}
		eh.entityPath = v
	}
	return eh, nil
}
