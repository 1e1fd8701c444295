package auth

import (
	"fmt"
	"testing"
	"time"
)

func TestFailureLimiter(t *testing.T) {
	c := newClock()
	l := NewFailureLimiter(LimiterConfig{MaxFailures: 3, Window: time.Minute, Now: c.now})
	for i := 1; i <= 2; i++ {
		if _, blocked := l.Failure("192.0.2.1"); blocked {
			t.Fatalf("blocked after %d failures", i)
		}
		if _, blocked := l.Blocked("192.0.2.1"); blocked {
			t.Fatalf("refused after %d failures", i)
		}
	}
	until, blocked := l.Failure("192.0.2.1")
	if !blocked || !until.Equal(c.now().Add(time.Minute)) {
		t.Fatalf("third failure: blocked %v until %v", blocked, until)
	}
	// The block is reported once; later failures do not report it again.
	if _, again := l.Failure("192.0.2.1"); again {
		t.Error("the block was reported twice")
	}
	c.add(20 * time.Second)
	if wait, blocked := l.Blocked("192.0.2.1"); !blocked || wait != 40*time.Second {
		t.Errorf("during the block: %v %v", wait, blocked)
	}
	if _, blocked := l.Blocked("192.0.2.2"); blocked {
		t.Error("another client is blocked")
	}
	c.add(40 * time.Second)
	if _, blocked := l.Blocked("192.0.2.1"); blocked {
		t.Error("still blocked after the window")
	}
	// Counting starts afresh.
	if _, blocked := l.Failure("192.0.2.1"); blocked {
		t.Error("blocked by the first failure after a block")
	}
}

// Failures spread over more than a window do not add up.
func TestFailureLimiterWindow(t *testing.T) {
	c := newClock()
	l := NewFailureLimiter(LimiterConfig{MaxFailures: 3, Window: time.Minute, Now: c.now})
	for i := range 10 {
		if _, blocked := l.Failure("192.0.2.1"); blocked {
			t.Fatalf("blocked at failure %d", i)
		}
		c.add(31 * time.Second)
	}
}

func TestFailureLimiterBoundedMemory(t *testing.T) {
	c := newClock()
	l := NewFailureLimiter(LimiterConfig{MaxFailures: 2, MaxClients: 100, Now: c.now})
	l.Failure("198.51.100.1")
	l.Failure("198.51.100.1") // blocked
	for i := range 1000 {
		l.Failure(fmt.Sprintf("10.%d.%d.1", i/256, i%256))
		if n := l.Len(); n > 100 {
			t.Fatalf("%d clients remembered", n)
		}
	}
	// The least recently seen client was forgotten first.
	if _, blocked := l.Blocked("198.51.100.1"); blocked {
		t.Error("the oldest client was kept")
	}
	if _, blocked := l.Failure("10.3.231.1"); !blocked {
		t.Error("a recent client was forgotten")
	}
}

func TestFailureLimiterDefaults(t *testing.T) {
	l := NewFailureLimiter(LimiterConfig{})
	if l.MaxFailures() != DefaultMaxFailures || l.Window() != DefaultFailWindow || l.maxClients != DefaultMaxClients {
		t.Errorf("defaults: %d %v %d", l.MaxFailures(), l.Window(), l.maxClients)
	}
}

func TestClientKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"not an address", "not an address"},
	} {
		if got := ClientKey(tc.in); got != tc.want {
			t.Errorf("ClientKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
