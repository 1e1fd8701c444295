package witness

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/ledger"
)

// testOrigin is the origin of the ledgers the tests build.
const testOrigin = "test.cdewatch/witness"

// openLedger opens (or creates) a real ledger in dir that signs a
// checkpoint every 10 ms while it grows, and closes it when the test ends.
func openLedger(tb testing.TB, dir string) *ledger.Ledger {
	tb.Helper()
	l, err := ledger.Open(ledger.Options{Dir: dir, Origin: testOrigin, CheckpointInterval: 10 * time.Millisecond,
		InitRecord: func() ([]byte, error) { return []byte("ledger initialized"), nil }})
	if err != nil {
		tb.Fatalf("open ledger %s: %v", dir, err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

// grow appends n records named after tag and returns the checkpoint that
// covers them, once the ledger signed it.
func grow(tb testing.TB, l *ledger.Ledger, tag string, n int) *ledger.Checkpoint {
	tb.Helper()
	recs := make([][]byte, n)
	for i := range recs {
		recs[i] = fmt.Appendf(nil, "%s record %d", tag, i)
	}
	if _, err := l.Append(context.Background(), recs); err != nil {
		tb.Fatalf("append: %v", err)
	}
	return signed(tb, l)
}

// signed waits until the ledger's latest checkpoint covers every leaf.
// The wait has a generous bound only so that a broken ledger fails the
// test instead of hanging it.
func signed(tb testing.TB, l *ledger.Ledger) *ledger.Checkpoint {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if cp := l.LatestCheckpoint(); cp != nil && cp.Size == l.Size() {
			return cp
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the ledger signed no checkpoint of size %d", l.Size())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wantErr fails unless err is nil when want is "", or contains want.
func wantErr(tb testing.TB, err error, want string) {
	tb.Helper()
	switch {
	case want == "" && err != nil:
		tb.Fatalf("unexpected error: %v", err)
	case want != "" && err == nil:
		tb.Fatalf("no error; want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		tb.Fatalf("error %q; want one containing %q", err, want)
	}
}
