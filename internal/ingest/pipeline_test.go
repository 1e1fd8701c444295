package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/event/eventtest"
	"github.com/cdewatch/cdewatch/internal/ledger"
	"github.com/cdewatch/cdewatch/internal/scrub"
)

// newTestPipeline returns a pipeline over a real ledger in a temporary
// directory, with the scrubber, a dedup window of a minute and stats.
func newTestPipeline(tb testing.TB) (*Pipeline, *ledger.Ledger) {
	tb.Helper()
	l, err := ledger.Open(ledger.Options{Dir: tb.TempDir(), Origin: "test.cdewatch/ingest"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	now := func() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) }
	return &Pipeline{
		Ledger: l, Scrubber: scrub.New(scrub.Options{}), Dedup: NewDedup(DedupOptions{Window: time.Minute, Now: now}),
		Stats: NewStats(now), Now: now, Log: slog.New(slog.DiscardHandler),
	}, l
}

func TestPipelineStore(t *testing.T) {
	p, l := newTestPipeline(t)
	before := l.Size()
	b := &Batch{Source: "shop", Via: "test", Records: []event.Record{
		{Table: "AppAccess", Key: "a1", User: "alice", Action: "read", Outcome: event.Success, Time: time.Unix(100, 0).UTC(),
			Raw: []byte(`{"user_id":"alice","note":"card 4111 1111 1111 1111 used"}`)},
		{Table: "AppAccess", Key: "a1", Raw: []byte(`{"dup":true}`)}, // same key within the batch
		{Table: "AppAccess", Resource: "pan 5500-0000-0000-0004", Raw: []byte(`{}`)},
	}, Rejects: []Reject{{Index: 3, Reason: "not JSON", Raw: []byte("garbage 4012888888881881")}}}
	res, err := p.Store(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 2 || res.Duplicates != 1 || res.Rejected != 1 || res.FirstSeq != before {
		t.Fatalf("result %+v, want 2 accepted, 1 duplicate, 1 rejected from %d", res, before)
	}
	recs := eventtest.Stored(t, l, before)
	if len(recs) != 4 { // 2 records, 1 reject, 1 finding
		t.Fatalf("%d records stored, want 4", len(recs))
	}
	for _, r := range recs {
		for _, s := range []string{string(r.Raw), r.Resource} {
			for _, pan := range []string{"4111 1111 1111 1111", "5500-0000-0000-0004", "4012888888881881"} {
				if strings.Contains(s, pan) {
					t.Errorf("PAN %s reached the ledger in %q", pan, s)
				}
			}
		}
	}
	if recs[0].Source != "shop" || recs[0].Received.IsZero() {
		t.Errorf("source/received not set: %+v", recs[0])
	}
	if !strings.Contains(string(recs[0].Raw), `"card 4111 11** **** 1111 used"`) {
		t.Errorf("raw not masked to first six/last four: %s", recs[0].Raw)
	}
	if recs[2].Action != event.ActionIngestReject {
		t.Errorf("third record is %s, want the reject", recs[2].Action)
	}
	var f struct {
		Count  int            `json:"count"`
		Fields map[string]int `json:"fields"`
		Events []string       `json:"events"`
		Source string         `json:"source"`
	}
	if recs[3].Action != event.ActionPANMasked {
		t.Fatalf("last record is %s, want %s", recs[3].Action, event.ActionPANMasked)
	}
	if err := json.Unmarshal(recs[3].Raw, &f); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"raw:note": 1, "resource": 1, "reject": 1}
	if f.Count != 3 || f.Source != "shop" || len(f.Fields) != 3 || f.Fields["raw:note"] != 1 || f.Fields["resource"] != 1 || f.Fields["reject"] != 1 {
		t.Errorf("finding %+v, want count 3 and fields %v", f, want)
	}
	if len(f.Events) != 1 || f.Events[0] != "a1" {
		t.Errorf("finding events %v, want [a1]", f.Events)
	}

	// A redelivery is skipped; the stats count both deliveries.
	res, err = p.Store(context.Background(), &Batch{Source: "shop", Via: "test", Records: []event.Record{{Table: "AppAccess", Key: "a1", Raw: []byte(`{}`)}}})
	if err != nil || res.Accepted != 0 || res.Duplicates != 1 {
		t.Fatalf("redelivery: %+v %v", res, err)
	}
	st := p.Stats.Snapshot()
	if len(st) != 1 || st[0].Records != 2 || st[0].Duplicates != 2 || st[0].Rejected != 1 || st[0].Masked != 3 ||
		st[0].Missing["user"] != 1 || st[0].Missing["origin"] != 2 || !st[0].LastEvent.Equal(time.Unix(100, 0)) {
		t.Errorf("stats %+v", st)
	}
}

func TestPipelineAllOrNothing(t *testing.T) {
	p, l := newTestPipeline(t)
	l.Close()
	_, err := p.Store(context.Background(), &Batch{Source: "s", Via: "test", Records: []event.Record{{Table: "AppAccess", Key: "k", Raw: []byte(`{}`)}}})
	if err == nil {
		t.Fatal("store into a closed ledger succeeded")
	}
	if st := p.Stats.Snapshot(); len(st) != 1 || st[0].Records != 0 || st[0].Failures != 1 {
		t.Errorf("stats after a failure: %+v", st)
	}
	// The key was not remembered: a retry is not a duplicate.
	c := p.Dedup.Claim("s", []string{"k"})
	if !c.Fresh[0] {
		t.Error("key of a failed store was remembered")
	}
	c.Done(false)
}

// TestPipelineConcurrentDeliveries stores deliveries from concurrent
// senders, whose encoding buffers the pipeline reuses, and checks that the
// ledger holds every record exactly as sent. Under the race detector (as
// CI runs it) it also catches a buffer reused while the ledger reads it.
func TestPipelineConcurrentDeliveries(t *testing.T) {
	p, l := newTestPipeline(t)
	before := l.Size()
	const senders, deliveries, perDelivery = 8, 20, 50
	want := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for d := range deliveries {
				b := &Batch{Source: "shop", Via: "test"}
				for i := range perDelivery {
					key := fmt.Sprintf("s%d-d%d-r%d", s, d, i)
					raw := fmt.Sprintf(`{"key":%q,"pad":%q}`, key, strings.Repeat(string(rune('a'+s)), 10*(d+i)))
					b.Records = append(b.Records, event.Record{Table: "AppAccess", Key: key, Raw: []byte(raw)})
					mu.Lock()
					want[key] = raw
					mu.Unlock()
				}
				if res, err := p.Store(context.Background(), b); err != nil || res.Accepted != perDelivery {
					t.Errorf("store: %+v %v", res, err)
					return
				}
			}
		})
	}
	wg.Wait()
	recs := eventtest.Stored(t, l, before)
	if len(recs) != len(want) {
		t.Fatalf("%d records stored, want %d", len(recs), len(want))
	}
	for _, r := range recs {
		if w, ok := want[r.Key]; !ok || string(r.Raw) != w {
			t.Fatalf("record %q holds %.80q, want %.80q", r.Key, r.Raw, w)
		}
		delete(want, r.Key)
	}
}
