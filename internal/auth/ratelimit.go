package auth

import (
	"container/list"
	"net/netip"
	"sync"
	"time"
)

// Defaults of FailureLimiter.
const (
	DefaultMaxFailures = 10
	DefaultFailWindow  = time.Minute
	DefaultMaxClients  = 10000
)

// LimiterConfig configures a FailureLimiter; zero fields take the defaults.
type LimiterConfig struct {
	// MaxFailures failed authentications within Window block a client
	// for Window (default 10).
	MaxFailures int
	Window      time.Duration // default 1m
	// MaxClients bounds the clients remembered; past it the client seen
	// least recently is forgotten (default 10000).
	MaxClients int
	Now        func() time.Time // default time.Now
}

// FailureLimiter counts failed authentications per client (ClientKey)
// and blocks a client after MaxFailures of them within a window, for a
// window: PCI DSS 8.3.4's lockout, applied to the client address since a
// failed attempt has no trustworthy user ID. Its memory is bounded by
// MaxClients. Safe for concurrent use.
type FailureLimiter struct {
	max        int
	window     time.Duration
	maxClients int
	now        func() time.Time

	mu      sync.Mutex
	clients map[string]*list.Element // of *clientState
	lru     list.List                // front: seen most recently
}

type clientState struct {
	key          string
	windowStart  time.Time
	failures     int
	blockedUntil time.Time
}

// NewFailureLimiter returns a limiter.
func NewFailureLimiter(c LimiterConfig) *FailureLimiter {
	l := &FailureLimiter{max: c.MaxFailures, window: c.Window, maxClients: c.MaxClients, now: c.Now, clients: map[string]*list.Element{}}
	if l.max <= 0 {
		l.max = DefaultMaxFailures
	}
	if l.window <= 0 {
		l.window = DefaultFailWindow
	}
	if l.maxClients <= 0 {
		l.maxClients = DefaultMaxClients
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l
}

// MaxFailures and Window return the limiter's settings.
func (l *FailureLimiter) MaxFailures() int { return l.max }

// Window is how long failures are counted, and how long a block lasts.
func (l *FailureLimiter) Window() time.Duration { return l.window }

// Blocked reports whether client is blocked now and, if so, how long it
// must wait. Callers answer such a client 429 without looking at its
// credential.
func (l *FailureLimiter) Blocked(client string) (retryAfter time.Duration, blocked bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.clients[client]
	if !ok {
		return 0, false
	}
	c := e.Value.(*clientState)
	if c.blockedUntil.IsZero() {
		return 0, false
	}
	if !now.Before(c.blockedUntil) {
		// The block is over: start counting afresh.
		c.blockedUntil, c.failures, c.windowStart = time.Time{}, 0, now
		return 0, false
	}
	return c.blockedUntil.Sub(now), true
}

// Failure counts a failed authentication by client. It returns true, with
// the end of the block, when this failure blocks the client: the one
// moment to record the block, once per window.
func (l *FailureLimiter) Failure(client string) (until time.Time, blocked bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var c *clientState
	if e, ok := l.clients[client]; ok {
		l.lru.MoveToFront(e)
		c = e.Value.(*clientState)
	} else {
		for len(l.clients) >= l.maxClients {
			old := l.lru.Back()
			l.lru.Remove(old)
			delete(l.clients, old.Value.(*clientState).key)
		}
		c = &clientState{key: client, windowStart: now}
		l.clients[client] = l.lru.PushFront(c)
	}
	if !c.blockedUntil.IsZero() {
		return c.blockedUntil, false // already blocked
	}
	if now.Sub(c.windowStart) >= l.window {
		c.windowStart, c.failures = now, 0
	}
	c.failures++
	if c.failures < l.max {
		return time.Time{}, false
	}
	c.blockedUntil = now.Add(l.window)
	return c.blockedUntil, true
}

// Len returns the number of clients remembered.
func (l *FailureLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}

// ClientKey is the key a client address is counted under: an IPv4
// address itself, an IPv6 address's /64 network (one host usually holds
// a whole /64). An address that does not parse is its own key.
func ClientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}
