package syslog

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/cdewatch/cdewatch/internal/tlsutil"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/ingest"
	"github.com/cdewatch/cdewatch/internal/ledger"
	"github.com/cdewatch/cdewatch/internal/syslog"
)

// Server receives syslog messages on one Listener. Create it with Listen,
// run it with Serve.
type Server struct {
	cfg     Listener
	opts    Options
	via     string // Batch.Via: "syslog/udp", "syslog/tcp", "syslog/tls"
	max     int
	log     *slog.Logger
	tlsConf *tls.Config
	sources map[string]string // lower-cased certificate name → source

	ln net.Listener // tcp, tls
	pc *net.UDPConn // udp

	stopOnce sync.Once
	stopping chan struct{}
	stopped  atomic.Bool
	// stopCtx is cancelled when the server stops; storeCtx
	// ShutdownTimeout later.
	stopCtx, storeCtx       context.Context
	stopCancel, storeCancel context.CancelFunc
	started                 atomic.Bool
	done                    chan struct{}

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup // connection goroutines

	pool sync.Pool // *batch
	st   counters
	lossReport
}

// Listen validates l, binds its socket and returns a Server ready to
// Serve.
func Listen(l Listener, o Options) (*Server, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	if o.Store == nil {
		return nil, errors.New("syslog listener: Options.Store is required")
	}
	o.setDefaults()
	s := &Server{
		cfg: l, opts: o, via: "syslog/" + l.Network, max: l.MaxMessageBytes,
		stopping: make(chan struct{}), done: make(chan struct{}), conns: map[net.Conn]struct{}{},
	}
	if s.max == 0 {
		s.max = DefaultMaxMessageBytes
	}
	s.log = o.Log.With("listener", l.Network+" "+l.Address)
	s.stopCtx, s.stopCancel = context.WithCancel(context.Background())
	s.storeCtx, s.storeCancel = context.WithCancel(context.Background())
	s.pool.New = func() any { return new(batch) }
	if l.Network == NetworkTLS {
		conf, err := tlsConfig(&l)
		if err != nil {
			return nil, fmt.Errorf("syslog listener %s %s: %w", l.Network, l.Address, err)
		}
		s.tlsConf = conf
		if l.ClientCAFile != "" {
			s.sources = make(map[string]string, len(l.ClientSources))
			for name, src := range l.ClientSources {
				s.sources[strings.ToLower(name)] = src
			}
		}
	}
	var err error
	if l.Network == NetworkUDP {
		var addr *net.UDPAddr
		if addr, err = net.ResolveUDPAddr("udp", l.Address); err == nil {
			s.pc, err = net.ListenUDP("udp", addr)
		}
		if err == nil {
			if e := s.pc.SetReadBuffer(o.UDPReadBuffer); e != nil {
				s.log.Warn("syslog: could not set the UDP receive buffer", "bytes", o.UDPReadBuffer, "err", e)
			}
		}
	} else {
		s.ln, err = net.Listen("tcp", l.Address)
	}
	if err != nil {
		return nil, fmt.Errorf("syslog listener %s %s: %w", l.Network, l.Address, err)
	}
	return s, nil
}

func tlsConfig(l *Listener) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(l.CertFile, l.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("loading the server certificate: %w", err)
	}
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if l.ClientCAFile != "" {
		pool, err := tlsutil.AppendCertsFile(nil, l.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("reading client_ca_file: %w", err)
		}
		conf.ClientCAs = pool
		conf.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return conf, nil
}

// Addr returns the address the server listens on (with the port chosen
// when the Listener's port was 0).
func (s *Server) Addr() net.Addr {
	if s.pc != nil {
		return s.pc.LocalAddr()
	}
	return s.ln.Addr()
}

// Serve receives messages until ctx is cancelled or Close is called, then
// stores what it holds (see Shutdown in the package doc) and returns nil.
// It may be called once.
func (s *Server) Serve(ctx context.Context) error {
	if s.started.Swap(true) {
		return errors.New("syslog: Serve called twice")
	}
	defer close(s.done)
	stop := context.AfterFunc(ctx, s.stop)
	defer stop()
	s.log.Info("syslog: listening", "addr", s.Addr().String(), "source", s.cfg.Source, "client_auth", s.sources != nil)
	if s.pc != nil {
		s.serveUDP()
	} else {
		s.serveStream()
	}
	s.wg.Wait()
	s.stop()
	s.storeCancel()
	st := s.Stats()
	s.log.Info("syslog: stopped", "received", st.Received, "stored", st.Stored, "rejected", st.Rejected, "lost", st.Lost)
	return nil
}

// Close stops the server and, if Serve is running, waits for it to store
// what it holds and return.
func (s *Server) Close() error {
	s.stop()
	if s.started.Load() {
		<-s.done
	} else {
		s.closeSockets()
	}
	return nil
}

func (s *Server) stop() {
	s.stopOnce.Do(func() {
		s.stopped.Store(true)
		close(s.stopping)
		s.stopCancel()
		time.AfterFunc(s.opts.ShutdownTimeout, s.storeCancel)
		if s.ln != nil {
			s.ln.Close()
		}
		if s.pc != nil {
			s.pc.SetReadDeadline(time.Now())
		}
		s.mu.Lock()
		for c := range s.conns {
			c.SetReadDeadline(time.Now())
		}
		s.mu.Unlock()
	})
}

func (s *Server) closeSockets() {
	if s.ln != nil {
		s.ln.Close()
	}
	if s.pc != nil {
		s.pc.Close()
	}
}

func (s *Server) isStopping() bool { return s.stopped.Load() }

// serveStream accepts TCP connections until the server stops.
func (s *Server) serveStream() {
	var delay time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.isStopping() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait and retry.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("syslog: accept failed", "err", err, "retry_in", delay)
			select {
			case <-time.After(delay):
			case <-s.stopping:
				return
			}
			continue
		}
		delay = 0
		if !s.admit(c) {
			continue
		}
		s.wg.Add(1)
		go s.serveConn(c)
	}
}

// admit registers a new connection, or closes it when the server is
// stopping or MaxConnections are open.
func (s *Server) admit(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isStopping() {
		c.Close()
		return false
	}
	if len(s.conns) >= s.opts.MaxConnections {
		c.Close()
		s.st.refused.Add(1)
		s.warnRateLimited("syslog: connection refused: too many open connections (max_connections)",
			"peer", c.RemoteAddr().String(), "max", s.opts.MaxConnections)
		return false
	}
	s.conns[c] = struct{}{}
	s.st.connections.Add(1)
	return true
}

func (s *Server) forget(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

// serveConn authenticates a connection (TLS) and reads it.
func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer s.forget(c)
	peer := addrIP(c.RemoteAddr())
	source := s.cfg.Source
	var rd net.Conn = c
	if s.tlsConf != nil {
		tc := tls.Server(c, s.tlsConf)
		ctx, cancel := context.WithTimeout(s.stopCtx, s.opts.HandshakeTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			s.st.refused.Add(1)
			s.warnRateLimited("syslog: TLS handshake failed", "peer", peer, "err", err)
			return
		}
		if s.sources != nil {
			src, name, err := s.sourceFor(tc.ConnectionState().PeerCertificates)
			if err != nil {
				s.st.refused.Add(1)
				s.warnRateLimited("syslog: client certificate refused", "peer", peer, "err", err)
				return
			}
			source = src
			s.log.Debug("syslog: client authenticated", "peer", peer, "name", name, "source", source)
		}
		rd = tc
		defer tc.Close() // sends close_notify
	}
	s.log.Debug("syslog: connection", "peer", peer, "source", source)
	s.readStream(rd, peer, source)
}

// sourceFor maps a verified client certificate to a source by its
// CommonName and DNS SANs.
func (s *Server) sourceFor(chain []*x509.Certificate) (source, name string, err error) {
	if len(chain) == 0 {
		return "", "", errors.New("no client certificate")
	}
	cert := chain[0]
	names := append([]string{cert.Subject.CommonName}, cert.DNSNames...)
	for _, n := range names {
		src, ok := s.sources[strings.ToLower(n)]
		if n == "" || !ok {
			continue
		}
		if source != "" && src != source {
			return "", "", fmt.Errorf("certificate names %q and %q map to different sources (%s, %s)", name, n, source, src)
		}
		source, name = src, n
	}
	if source == "" {
		return "", "", fmt.Errorf("certificate CN=%q DNS=%q maps to no source (client_sources)", cert.Subject.CommonName, cert.DNSNames)
	}
	return source, name, nil
}

// readStream reads frames from a connection into batches and hands them
// to the connection's storer until the connection ends, idles out or the
// server stops.
func (s *Server) readStream(c net.Conn, peer, source string) {
	q := make(chan *batch, 1)
	storerDone := make(chan struct{})
	go func() {
		defer close(storerDone)
		for b := range q {
			s.store(b, time.Time{})
			s.putBatch(b)
		}
	}()
	defer func() {
		close(q)
		<-storerDone
	}()
	f := newFramer(s.max)
	var b *batch
	idx := 0
	lastRead := time.Now()
	var deadline time.Time
	for {
		for {
			fr, ok := f.next()
			if !ok {
				break
			}
			if b == nil {
				b = s.getBatch(source)
			}
			s.addFrame(b, fr, peer, idx)
			idx++
			if b.full(&s.opts) {
				q <- b // blocks while the storer is busy: stop reading
				b = nil
			}
		}
		if f.eof {
			break
		}
		dl := lastRead.Add(s.opts.IdleTimeout)
		if b != nil {
			if fl := b.start.Add(s.opts.MaxBatchDelay); fl.Before(dl) {
				dl = fl
			}
		}
		if !dl.Equal(deadline) {
			c.SetReadDeadline(dl)
			deadline = dl
		}
		if s.isStopping() {
			break
		}
		n, err := f.fill(c)
		if n > 0 {
			lastRead = time.Now()
		}
		if err == nil {
			continue
		}
		if isTimeout(err) {
			if s.isStopping() {
				break
			}
			now := time.Now()
			if b != nil && !now.Before(b.start.Add(s.opts.MaxBatchDelay)) {
				q <- b
				b = nil
			}
			if !now.Before(lastRead.Add(s.opts.IdleTimeout)) {
				s.log.Debug("syslog: closing idle connection", "peer", peer, "idle", s.opts.IdleTimeout)
				break
			}
			continue
		}
		if err != io.EOF && !errors.Is(err, net.ErrClosed) {
			s.log.Debug("syslog: connection read failed", "peer", peer, "err", err)
		}
		f.eof = true // frame what is buffered, then stop
	}
	if n := f.buffered(); n > 0 && !f.eof {
		s.log.Warn("syslog: bytes of an incomplete frame discarded", "peer", peer, "source", source, "bytes", n)
	}
	if b != nil {
		q <- b
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// addFrame adds a frame to the batch: its message, or a reject.
func (s *Server) addFrame(b *batch, fr frame, peer string, idx int) {
	switch {
	case fr.truncated:
		s.addReject(b, idx, fr.msg, fmt.Sprintf("message %d from %s: the connection ended after %d of the %d bytes of an octet-counted frame",
			idx, peer, len(fr.msg), fr.oversize))
	case fr.oversize > 0 && fr.octets:
		s.st.oversized.Add(1)
		s.addReject(b, idx, fr.msg, fmt.Sprintf("message %d from %s: octet-counted frame of %d bytes exceeds max_message_bytes (%d); skipped, excerpt kept",
			idx, peer, fr.oversize, s.max))
	case fr.oversize > 0:
		s.st.oversized.Add(1)
		s.addReject(b, idx, fr.msg, fmt.Sprintf("message %d from %s: LF-delimited frame of %d bytes exceeds max_message_bytes (%d); skipped to the next LF, excerpt kept",
			idx, peer, fr.oversize, s.max))
	default:
		s.addMessage(b, fr.msg, peer, idx)
	}
}

// addMessage parses a message (copied into the batch) into a record, or a
// reject when it does not parse.
func (s *Server) addMessage(b *batch, raw []byte, peer string, idx int) {
	s.st.received.Add(1)
	off := len(b.arena)
	b.arena = append(b.arena, raw...)
	raw = b.arena[off:len(b.arena):len(b.arena)]
	m, err := b.parse.Parse(raw)
	if err != nil {
		b.b.Rejects = append(b.b.Rejects, ingest.Reject{Index: idx, Reason: fmt.Sprintf("message %d from %s: %v", idx, peer, err), Raw: raw})
		return
	}
	b.b.Records = append(b.b.Records, toRecord(&m, raw, peer))
}

func (s *Server) addReject(b *batch, idx int, raw []byte, reason string) {
	s.st.received.Add(1)
	off := len(b.arena)
	b.arena = append(b.arena, raw...)
	b.b.Rejects = append(b.b.Rejects, ingest.Reject{Index: idx, Reason: reason, Raw: b.arena[off:len(b.arena):len(b.arena)]})
}

// actionNames are "<facility>.<severity>" for every PRI.
var actionNames = func() [24 * 8]string {
	var out [24 * 8]string
	for i := range out {
		out[i] = syslog.Facility(i>>3).String() + "." + syslog.Severity(i&7).String()
	}
	return out
}()

// toRecord maps a parsed message to its record (see Records in the
// package doc).
func toRecord(m *syslog.Message, raw []byte, peer string) event.Record {
	action := actionNames[m.Priority()]
	if m.AppName != "" {
		action += " " + m.AppName
	}
	resource := m.Hostname
	if resource == "" {
		resource = peer
	}
	t := m.Timestamp
	if !t.IsZero() {
		t = t.UTC()
	}
	return event.Record{Time: t, Table: event.TableSyslog, Action: action, Outcome: event.Unknown,
		OriginIP: peer, Resource: resource, Raw: raw}
}

// addrIP returns the IP address of a TCP or UDP address, "" if none.
func addrIP(a net.Addr) string {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.TCPAddr:
		ap = a.AddrPort()
	case *net.UDPAddr:
		ap = a.AddrPort()
	default:
		host, _, err := net.SplitHostPort(a.String())
		if err != nil {
			return ""
		}
		return host
	}
	return ap.Addr().Unmap().String()
}

// batch is a Batch being filled, with the bytes its records' Raw slice.
type batch struct {
	b     ingest.Batch
	arena []byte
	start time.Time
	parse syslog.ParseOptions
}

func (s *Server) getBatch(source string) *batch {
	b := s.pool.Get().(*batch)
	b.b.Source, b.b.Via = source, s.via
	b.start = time.Now()
	b.parse = syslog.ParseOptions{Now: s.opts.Now(), Location: s.opts.Location}
	if b.arena == nil {
		b.arena = make([]byte, 0, min(s.opts.MaxBatchBytes+s.max, 256<<10))
	}
	return b
}

func (s *Server) putBatch(b *batch) {
	clear(b.b.Records)
	clear(b.b.Rejects)
	b.b.Records, b.b.Rejects = b.b.Records[:0], b.b.Rejects[:0]
	if cap(b.arena) > 2*(s.opts.MaxBatchBytes+s.max) {
		b.arena = nil
	} else {
		b.arena = b.arena[:0]
	}
	s.pool.Put(b)
}

func (b *batch) len() int { return len(b.b.Records) + len(b.b.Rejects) }

func (b *batch) full(o *Options) bool {
	return b.len() >= o.MaxBatchMessages || len(b.arena) >= o.MaxBatchBytes
}

// store stores a batch, retrying with backoff while the store refuses it,
// until it is stored, the shutdown timeout has passed or (UDP) giveUpAt.
func (s *Server) store(b *batch, giveUpAt time.Time) {
	backoff := s.opts.RetryBackoff
	for attempt := 1; ; attempt++ {
		_, err := s.opts.Store.Store(s.storeCtx, &b.b)
		if err == nil {
			s.st.stored.Add(uint64(len(b.b.Records)))
			s.st.rejected.Add(uint64(len(b.b.Rejects)))
			if attempt > 1 {
				s.log.Info("syslog: batch stored after retries", "source", b.b.Source, "attempts", attempt, "messages", b.len())
			}
			return
		}
		pushback := errors.Is(err, ledger.ErrPushback)
		if pushback {
			s.st.pushbacks.Add(1)
		} else {
			s.st.storeErrors.Add(1)
		}
		if s.storeCtx.Err() != nil || !giveUpAt.IsZero() && time.Now().Add(backoff).After(giveUpAt) {
			s.lose(b, err)
			return
		}
		if attempt == 1 || attempt%20 == 0 {
			lvl := slog.LevelWarn
			if !pushback {
				lvl = slog.LevelError
			}
			s.log.Log(context.Background(), lvl, "syslog: store refused a batch; retrying it",
				"source", b.b.Source, "messages", b.len(), "attempt", attempt, "retry_in", backoff, "err", err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-s.storeCtx.Done():
			t.Stop()
		}
		backoff = min(2*backoff, s.opts.MaxRetryBackoff)
	}
}

// lose counts and reports the messages of a batch that will not be stored.
func (s *Server) lose(b *batch, err error) {
	n := uint64(b.len())
	total := s.st.lost.Add(n)
	s.reportLoss(s.log, n, total, b.b.Source, err)
}

// serveUDP reads datagrams until the server stops.
func (s *Server) serveUDP() {
	q := make(chan *batch, s.opts.UDPQueue)
	storerDone := make(chan struct{})
	go func() {
		defer close(storerDone)
		for b := range q {
			s.store(b, time.Now().Add(s.opts.UDPRetryFor))
			s.putBatch(b)
		}
	}()
	send := func(b *batch) {
		select {
		case q <- b:
		default:
			s.lose(b, errors.New("storage is not keeping up: UDP queue full (udp_queue)"))
			s.putBatch(b)
		}
	}
	buf := make([]byte, 64<<10)
	var b *batch
	var deadline time.Time
	var lastAddr netip.Addr
	var lastPeer string
	idx := 0
	for {
		var dl time.Time
		if b != nil {
			dl = b.start.Add(s.opts.MaxBatchDelay)
		}
		if !dl.Equal(deadline) {
			s.pc.SetReadDeadline(dl)
			deadline = dl
		}
		if s.isStopping() {
			break
		}
		n, addr, err := s.pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if s.isStopping() || errors.Is(err, net.ErrClosed) {
				break
			}
			if isTimeout(err) {
				if b != nil && !time.Now().Before(b.start.Add(s.opts.MaxBatchDelay)) {
					send(b)
					b = nil
				}
				continue
			}
			s.log.Warn("syslog: UDP read failed", "err", err)
			continue
		}
		if a := addr.Addr(); a != lastAddr || lastPeer == "" {
			lastAddr, lastPeer = a, a.Unmap().String()
		}
		if b == nil {
			b = s.getBatch(s.cfg.Source)
		}
		if n > s.max {
			s.st.oversized.Add(1)
			s.addReject(b, idx, buf[:min(n, excerptBytes)], fmt.Sprintf("message %d from %s: datagram of %d bytes exceeds max_message_bytes (%d); excerpt kept",
				idx, lastPeer, n, s.max))
		} else {
			s.addMessage(b, buf[:n], lastPeer, idx)
		}
		idx++
		if b.full(&s.opts) {
			send(b)
			b = nil
		}
	}
	if b != nil {
		q <- b
	}
	close(q)
	<-storerDone
	s.pc.Close()
}
