package retention

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/ledger"
)

const day = 24 * time.Hour

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// fixture is a ledger with one sealed segment per batch written, and the
// audit records the manager made.
type fixture struct {
	dir     string
	l       *ledger.Ledger
	clk     *clock
	audits  []event.SelfAudit
	batches map[string]ledger.SegmentState // by name
}

// newFixture writes batches, each in its own segment: name → (table,
// age of its records).
func newFixture(tb testing.TB, batches []batch) *fixture {
	tb.Helper()
	dir := tb.TempDir()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := &fixture{dir: dir, clk: &clock{start}, batches: map[string]ledger.SegmentState{}}
	l, err := ledger.Open(ledger.Options{Dir: filepath.Join(dir, "ledger"), Origin: "test.cdewatch/retention", SegmentBytes: 2 << 10,
		CheckpointInterval: time.Hour, Now: f.clk.now})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	f.l = l
	rnd := rand.NewChaCha8([32]byte{1})
	for _, b := range batches {
		recs := make([][]byte, 12)
		for i := range recs {
			r := event.Record{Time: start.Add(-b.age), Received: start.Add(-b.age), Source: "test", Table: b.table,
				Action: "get", Raw: fmt.Appendf(nil, `{"batch":%q,"i":%d,"pad":"%x"}`, b.name, i, randBytes(rnd, 256))}
			enc, err := r.MarshalBinary()
			if err != nil {
				tb.Fatal(err)
			}
			recs[i] = enc
		}
		first, err := l.Append(context.Background(), recs)
		if err != nil {
			tb.Fatal(err)
		}
		for _, s := range l.Segments() {
			if first >= s.First && first < s.End {
				f.batches[b.name] = s
			}
		}
	}
	// One more append rotates the last batch's segment into the sealed ones.
	if _, err := l.Append(context.Background(), [][]byte{randBytes(rnd, 3<<10)}); err != nil {
		tb.Fatal(err)
	}
	for name, s := range f.batches {
		for _, t := range l.Segments() {
			if t.First == s.First {
				if !t.Sealed || t.End-t.First != 12 {
					tb.Fatalf("batch %s: segment %+v, want a sealed segment of 12 records", name, t)
				}
				f.batches[name] = t
			}
		}
	}
	// The files were written now; date them as their records, as the
	// ledger writing them at that time would have.
	for _, b := range batches {
		at := start.Add(-b.age)
		if err := os.Chtimes(f.batches[b.name].Path, at, at); err != nil {
			tb.Fatal(err)
		}
	}
	return f
}

type batch struct {
	name, table string
	age         time.Duration
}

func (f *fixture) manager(p Policy) *Manager {
	return &Manager{Ledger: f.l, Configured: p, StateFile: filepath.Join(f.dir, "retention.json"), Now: f.clk.now,
		Audit: func(_ context.Context, a event.SelfAudit) error { f.audits = append(f.audits, a); return nil }}
}

func (f *fixture) expired(tb testing.TB) []string {
	tb.Helper()
	var out []string
	for name, b := range f.batches {
		for _, s := range f.l.Segments() {
			if s.First == b.First && s.Expired != nil {
				out = append(out, name)
			}
		}
	}
	slices.Sort(out)
	return out
}

func (f *fixture) actions(change string) int {
	n := 0
	for _, a := range f.audits {
		if a.Action == "retention.change" && a.Details["change"] == change || a.Action == change {
			n++
		}
	}
	return n
}

var standard = []batch{
	{"old-audit", event.TableKubeAudit, 400 * day},
	{"old-syslog", "Syslog", 400 * day},
	{"mixed-recent", event.TableKubeAudit, 100 * day},
	{"new", event.TableKubeAudit, 1 * day},
}

func TestExpiryByTable(t *testing.T) {
	f := newFixture(t, standard)
	m := f.manager(Policy{Default: 365 * day, Tables: map[string]time.Duration{"Syslog": 500 * day}})
	ctx := context.Background()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ts, err := m.ExpireNow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.expired(t); strings.Join(got, ",") != "old-audit" || len(ts) != 1 {
		t.Fatalf("expired %v (%d tombstones), want old-audit", got, len(ts))
	}
	if !strings.Contains(ts[0].Reason, "KubeAuditLogs newest") {
		t.Fatalf("tombstone reason %q does not name the rule", ts[0].Reason)
	}
	if f.actions("retention.expire") != 1 || f.actions("initial") != 1 {
		t.Fatalf("audit records %+v", f.audits)
	}
	// 101 days later the Syslog batch is past 500 days.
	f.clk.t = f.clk.t.Add(101 * day)
	if _, err := m.ExpireNow(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.expired(t); strings.Join(got, ",") != "old-audit,old-syslog" {
		t.Fatalf("expired %v", got)
	}
	st := m.Status()
	if st.Expired != 24 || st.OldestLeaf != f.batches["mixed-recent"].First {
		t.Fatalf("status %+v", st)
	}
	// The ledger still verifies: proofs of later leaves are intact.
	if err := f.l.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := ledger.Verify(ctx, ledger.VerifyOptions{Dir: filepath.Join(f.dir, "ledger")})
	if err != nil || res.ExpiredLeaves != 24 {
		t.Fatalf("verify after expiry: %+v, %v", res, err)
	}
}

func TestLegalHold(t *testing.T) {
	f := newFixture(t, standard)
	m := f.manager(Policy{Default: 365 * day})
	ctx := context.Background()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.SetHold(ctx, true, "alice", ""); err == nil {
		t.Fatal("a hold without a reason was accepted")
	}
	if err := m.SetHold(ctx, true, "alice", "case 4711"); err != nil {
		t.Fatal(err)
	}
	f.clk.t = f.clk.t.Add(1000 * day)
	if _, err := m.ExpireNow(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.expired(t); len(got) != 0 {
		t.Fatalf("expired under a legal hold: %v", got)
	}
	// The hold survives a restart.
	m2 := f.manager(Policy{Default: 365 * day})
	if err := m2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if st := m2.Status(); st.Hold == nil || st.Hold.By != "alice" {
		t.Fatalf("hold after restart: %+v", st.Hold)
	}
	if _, err := m2.ExpireNow(ctx); err != nil || len(f.expired(t)) != 0 {
		t.Fatalf("expired under a legal hold after restart: %v %v", f.expired(t), err)
	}
	if err := m2.SetHold(ctx, false, "bob", "case 4711 closed"); err != nil {
		t.Fatal(err)
	}
	if _, err := m2.ExpireNow(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.expired(t); len(got) != 4 {
		t.Fatalf("after release expired %v, want all 4", got)
	}
	if f.actions("retention.hold") != 2 {
		t.Fatalf("hold records: %+v", f.audits)
	}
}

func TestShorteningIsDelayed(t *testing.T) {
	f := newFixture(t, standard)
	ctx := context.Background()
	m := f.manager(Policy{Default: 500 * day})
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ExpireNow(ctx); err != nil || len(f.expired(t)) != 0 {
		t.Fatalf("expired under 500 days: %v %v", f.expired(t), err)
	}
	// Restart with a shorter policy: scheduled, not applied.
	m = f.manager(Policy{Default: 50 * day})
	m.ShortenDelay = 7 * day
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if st := m.Status(); st.Effective.Default != 500*day || len(st.Pending) != 1 {
		t.Fatalf("status after shortening %+v", st)
	}
	if _, err := m.ExpireNow(ctx); err != nil || len(f.expired(t)) != 0 {
		t.Fatalf("shortening took effect at once: %v %v", f.expired(t), err)
	}
	// A restart does not reset the delay.
	f.clk.t = f.clk.t.Add(4 * day)
	m = f.manager(Policy{Default: 50 * day})
	m.ShortenDelay = 7 * day
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	f.clk.t = f.clk.t.Add(3*day + time.Minute)
	if _, err := m.ExpireNow(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.expired(t); strings.Join(got, ",") != "mixed-recent,old-audit,old-syslog" {
		t.Fatalf("after the delay expired %v", got)
	}
	if f.actions("shortening scheduled") != 1 || f.actions("shortening applied") != 1 {
		t.Fatalf("change records: %+v", f.audits)
	}
	// Lengthening is immediate.
	m = f.manager(Policy{Default: 900 * day})
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if st := m.Status(); st.Effective.Default != 900*day || f.actions("lengthened") != 1 {
		t.Fatalf("status after lengthening %+v", st)
	}
}

func TestShorteningWithdrawn(t *testing.T) {
	f := newFixture(t, standard[:1])
	ctx := context.Background()
	for _, d := range []time.Duration{400 * day, 30 * day, 400 * day} {
		m := f.manager(Policy{Default: d})
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	m := f.manager(Policy{Default: 400 * day})
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if st := m.Status(); len(st.Pending) != 0 || f.actions("shortening withdrawn") != 1 {
		t.Fatalf("status %+v, audits %+v", st, f.audits)
	}
}

func randBytes(r *rand.ChaCha8, n int) []byte {
	b := make([]byte, n)
	_, _ = r.Read(b)
	return b
}
