package syslog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cdewatch/cdewatch/internal/ingest"
)

// Storer durably stores a batch, all or nothing: ingest.Pipeline. When
// Store returns nil every record and reject of the batch is in the ledger;
// an error wrapping ledger.ErrPushback means "retry later"; on any error
// nothing of the batch was stored and the caller may retry the same batch.
// Store may modify the batch's records (it scrubs them in place) and does
// not retain them after it returns.
type Storer interface {
	Store(context.Context, *ingest.Batch) (ingest.Result, error)
}

// Networks a Listener can serve.
const (
	NetworkUDP = "udp" // RFC 5426: one message per datagram
	NetworkTCP = "tcp" // RFC 6587: octet counting or LF-delimited frames
	NetworkTLS = "tls" // RFC 5425: TCP with TLS, octet counting (LF-delimited frames accepted too)
)

// Message size limits.
const (
	DefaultMaxMessageBytes = 64 << 10
	minMessageBytes        = 480 // RFC 5424 §6.1: receivers MUST accept 480 octets
	minTLSMessageBytes     = 2048
	maxMessageBytes        = 16 << 20
)

// Listener configures one listening socket. Every listener is bound to a
// source: Source, or (TLS with client certificates) the source its
// ClientSources map gives the client's certificate.
type Listener struct {
	Network string // "udp", "tcp" or "tls"
	Address string // host:port to listen on, e.g. ":6514"
	// Source is the source every message of the listener is stored under.
	// Required, except with ClientCAFile, where it must be empty.
	Source string
	// CertFile and KeyFile are the server's certificate chain and key
	// (PEM); required for "tls".
	CertFile string
	KeyFile  string
	// ClientCAFile (PEM, "tls" only) turns on client-certificate
	// authentication: clients must present a certificate signed by one of
	// these CAs, and its CommonName or one of its DNS SANs must be a key
	// of ClientSources (compared case-insensitively), which gives the
	// source. A certificate no name of which is in the map, or whose names
	// map to different sources, is refused.
	ClientCAFile  string
	ClientSources map[string]string
	// MaxMessageBytes is the largest message accepted (without framing);
	// default 64 KiB. A larger one is stored as a reject with an excerpt.
	MaxMessageBytes int
}

// Validate checks the listener's configuration.
func (l *Listener) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch l.Network {
	case NetworkUDP, NetworkTCP, NetworkTLS:
	default:
		bad("network %q: want udp, tcp or tls", l.Network)
	}
	if l.Address == "" {
		bad("address is required")
	}
	if l.Network == NetworkTLS {
		if l.CertFile == "" || l.KeyFile == "" {
			bad("tls needs cert_file and key_file")
		}
	} else if l.CertFile != "" || l.KeyFile != "" || l.ClientCAFile != "" || len(l.ClientSources) > 0 {
		bad("cert_file, key_file, client_ca_file and client_sources are for tls only")
	}
	if l.ClientCAFile != "" {
		if len(l.ClientSources) == 0 {
			bad("client_ca_file needs client_sources: certificate name → source")
		}
		if l.Source != "" {
			bad("with client_ca_file the certificate gives the source: leave source empty")
		}
		for name, src := range l.ClientSources {
			if strings.TrimSpace(name) == "" || strings.TrimSpace(src) == "" {
				bad("client_sources: empty name or source (%q: %q)", name, src)
			}
		}
	} else {
		if l.Source == "" {
			bad("source is required (the source every message of this listener is stored under)")
		}
		if len(l.ClientSources) > 0 {
			bad("client_sources needs client_ca_file")
		}
	}
	if n := l.MaxMessageBytes; n != 0 {
		low := minMessageBytes
		if l.Network == NetworkTLS {
			low = minTLSMessageBytes // RFC 5425 §4.3.1
		}
		if n < low || n > maxMessageBytes {
			bad("max_message_bytes %d: want %d to %d", n, low, maxMessageBytes)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("syslog listener %s %s: %w", l.Network, l.Address, err)
	}
	return nil
}

// Options are what a Server needs besides its Listener. Zero values mean
// the defaults.
type Options struct {
	// Store stores the batches (ingest.Pipeline). Required.
	Store Storer
	Log   *slog.Logger
	// Location is the zone of RFC 3164 timestamps, which carry none;
	// default UTC.
	Location *time.Location
	// Now is the clock RFC 3164 timestamps (which have no year) are
	// placed near; default time.Now.
	Now func() time.Time

	MaxBatchMessages int           // messages per Store call; default 1000
	MaxBatchBytes    int           // message bytes per Store call; default 1 MiB
	MaxBatchDelay    time.Duration // longest a message waits for its batch to fill; default 50ms

	MaxConnections   int           // TCP/TLS connections open at once; more are closed at once; default 1024
	IdleTimeout      time.Duration // a connection that sends nothing for this long is closed; default 10m
	HandshakeTimeout time.Duration // TLS handshake; default 10s

	// RetryBackoff is the first wait before a refused Store is retried;
	// it doubles up to MaxRetryBackoff. Defaults 10ms and 1s.
	RetryBackoff    time.Duration
	MaxRetryBackoff time.Duration
	// UDPRetryFor bounds how long a UDP batch is retried before its
	// messages are counted as lost; default 5s.
	UDPRetryFor time.Duration
	// UDPQueue is how many UDP batches may wait for Store before new ones
	// are counted as lost; default 4.
	UDPQueue int
	// UDPReadBuffer is the socket receive buffer asked for (the kernel
	// caps it at net.core.rmem_max); default 4 MiB.
	UDPReadBuffer int
	// ShutdownTimeout bounds how long Serve keeps trying to store what it
	// has received once it is asked to stop; default 10s.
	ShutdownTimeout time.Duration
}

func (o *Options) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	def(&o.MaxBatchMessages, 1000)
	def(&o.MaxBatchBytes, 1<<20)
	defDur(&o.MaxBatchDelay, 50*time.Millisecond)
	def(&o.MaxConnections, 1024)
	defDur(&o.IdleTimeout, 10*time.Minute)
	defDur(&o.HandshakeTimeout, 10*time.Second)
	defDur(&o.RetryBackoff, 10*time.Millisecond)
	defDur(&o.MaxRetryBackoff, time.Second)
	defDur(&o.UDPRetryFor, 5*time.Second)
	def(&o.UDPQueue, 4)
	def(&o.UDPReadBuffer, 4<<20)
	defDur(&o.ShutdownTimeout, 10*time.Second)
}
