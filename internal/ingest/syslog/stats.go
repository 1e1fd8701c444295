package syslog

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Stats counts what a Server did since it started.
type Stats struct {
	Received    uint64 `json:"received"`     // messages framed (or datagrams read), including oversized and truncated ones
	Stored      uint64 `json:"stored"`       // messages stored as Syslog records
	Rejected    uint64 `json:"rejected"`     // messages stored as ingest rejects: unparsable, oversized, truncated
	Oversized   uint64 `json:"oversized"`    // of Rejected: larger than max_message_bytes
	Lost        uint64 `json:"lost"`         // messages received and never stored: UDP over its retry bound or queue, or at shutdown
	Pushbacks   uint64 `json:"pushbacks"`    // Store calls refused with ledger.ErrPushback
	StoreErrors uint64 `json:"store_errors"` // Store calls that failed otherwise
	Connections uint64 `json:"connections"`  // TCP/TLS connections accepted
	Refused     uint64 `json:"refused"`      // connections closed at once: over max_connections, failed TLS handshake, unknown client certificate
	Open        int    `json:"open"`         // connections open now
}

type counters struct {
	received, stored, rejected, oversized, lost, pushbacks, storeErrors, connections, refused atomic.Uint64
}

// Stats returns the server's counts.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	open := len(s.conns)
	s.mu.Unlock()
	return Stats{
		Received: s.st.received.Load(), Stored: s.st.stored.Load(), Rejected: s.st.rejected.Load(),
		Oversized: s.st.oversized.Load(), Lost: s.st.lost.Load(), Pushbacks: s.st.pushbacks.Load(),
		StoreErrors: s.st.storeErrors.Load(), Connections: s.st.connections.Load(), Refused: s.st.refused.Load(),
		Open: open,
	}
}

// lossReport logs lost messages at most once a second, with the count
// since the last line, so that a flood does not flood the log.
type lossReport struct {
	lossMu     sync.Mutex
	lossLast   time.Time
	lossSince  uint64
	warnMu     sync.Mutex
	warnLast   time.Time
	warnMissed int
}

func (r *lossReport) reportLoss(log *slog.Logger, n, total uint64, source string, err error) {
	r.lossMu.Lock()
	r.lossSince += n
	now := time.Now()
	if now.Sub(r.lossLast) < time.Second {
		r.lossMu.Unlock()
		return
	}
	since := r.lossSince
	r.lossSince, r.lossLast = 0, now
	r.lossMu.Unlock()
	log.Error("syslog: messages lost: received but not stored", "source", source, "count", since, "lost_total", total, "err", err)
}

// warnRateLimited logs a warning at most once a second.
func (s *Server) warnRateLimited(msg string, args ...any) {
	s.warnMu.Lock()
	now := time.Now()
	if now.Sub(s.warnLast) < time.Second {
		s.warnMissed++
		s.warnMu.Unlock()
		return
	}
	missed := s.warnMissed
	s.warnLast, s.warnMissed = now, 0
	s.warnMu.Unlock()
	if missed > 0 {
		args = append(args, "similar_warnings_suppressed", missed)
	}
	s.log.Warn(msg, args...)
}

// Collector returns a prometheus.Collector of the server's counts, the
// cdewatch_syslog_* metrics, labelled with the listener.
func (s *Server) Collector() prometheus.Collector {
	labels := prometheus.Labels{"listener": s.cfg.Network + " " + s.Addr().String()}
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("cdewatch_syslog_"+name, help, nil, labels)
	}
	return &collector{s: s, descs: [...]*prometheus.Desc{
		d("received_messages_total", "Syslog messages received (framed or read as datagrams)."),
		d("stored_messages_total", "Syslog messages stored as Syslog records."),
		d("rejected_messages_total", "Syslog messages stored as ingest rejects (unparsable, oversized, truncated)."),
		d("lost_messages_total", "Syslog messages received and never stored (UDP over its retry bound or queue, or at shutdown)."),
		d("store_pushbacks_total", "Store calls refused by ledger backpressure."),
		d("store_errors_total", "Store calls that failed for another reason."),
		d("connections_total", "TCP/TLS connections accepted."),
		d("refused_connections_total", "Connections closed at once: over the limit, failed TLS handshake, unknown client certificate."),
		d("open_connections", "TCP/TLS connections open now."),
	}}
}

type collector struct {
	s     *Server
	descs [9]*prometheus.Desc
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	for i, v := range []uint64{st.Received, st.Stored, st.Rejected, st.Lost, st.Pushbacks, st.StoreErrors, st.Connections, st.Refused} {
		ch <- prometheus.MustNewConstMetric(c.descs[i], prometheus.CounterValue, float64(v))
	}
	ch <- prometheus.MustNewConstMetric(c.descs[8], prometheus.GaugeValue, float64(st.Open))
}
