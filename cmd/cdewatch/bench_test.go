package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestBenchAuditIDs checks that the load generator's auditIDs are unique
// version 4 UUIDs and stand in its events.
func TestBenchAuditIDs(t *testing.T) {
	pool, err := newEventPool(5)
	if err != nil {
		t.Fatal(err)
	}
	v4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for seq := range uint64(200_000) {
		ev, at := pool.appendEvent(nil, seq)
		id := string(ev[at : at+idLen])
		if !v4.MatchString(id) {
			t.Fatalf("seq %d: auditID %q is not a version 4 UUID", seq, id)
		}
		if seen[id] {
			t.Fatalf("seq %d: auditID %q repeated", seq, id)
		}
		seen[id] = true
		if seq%1000 == 0 && !strings.Contains(string(ev), `"auditID":"`+id+`"`) {
			t.Fatalf("seq %d: event does not carry auditID %q", seq, id)
		}
	}
}

// TestVisibilityLatencies checks how acknowledged requests are timed
// against readings of the index's cursor.
func TestVisibilityLatencies(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	samples := []visibilitySample{{at(0), 0}, {at(100), 400}, {at(200), 400}, {at(300), 1200}, {at(400), 1600}}
	for _, tc := range []struct {
		name   string
		acks   []benchAck
		want   []time.Duration
		unseen int
	}{
		{"covered by the next reading", []benchAck{{at(50), 400}}, []time.Duration{50 * time.Millisecond}, 0},
		{"a reading at the ack counts", []benchAck{{at(100), 400}}, []time.Duration{0}, 0},
		{"a reading before the ack does not", []benchAck{{at(150), 400}}, []time.Duration{50 * time.Millisecond}, 0},
		{"waits for the cursor to pass the request's end", []benchAck{{at(110), 401}}, []time.Duration{190 * time.Millisecond}, 0},
		{"several", []benchAck{{at(10), 300}, {at(120), 1500}}, []time.Duration{90 * time.Millisecond, 280 * time.Millisecond}, 0},
		{"never covered", []benchAck{{at(10), 1601}, {at(390), 1600}}, []time.Duration{10 * time.Millisecond}, 1},
		{"after the last reading", []benchAck{{at(500), 1}}, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, unseen := visibilityLatencies(tc.acks, samples)
			if !slices.Equal(got, tc.want) || unseen != tc.unseen {
				t.Fatalf("got %v, %d unseen; want %v, %d", got, unseen, tc.want, tc.unseen)
			}
		})
	}
}

// TestBenchSelfReadsConfig checks that bench --self runs its server with
// the configuration given: an invalid one stops it, naming the key.
func TestBenchSelfReadsConfig(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "bench.yaml")
	if err := os.WriteFile(cfg, []byte("index:\n  stage_memory: 1MiB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := runBench(context.Background(), []string{"--self", "--config", cfg, "--duration", "1s"})
	if err == nil || !strings.Contains(err.Error(), "index.stage_memory") {
		t.Fatalf("bench --self with an invalid configuration: %v, want an error naming index.stage_memory", err)
	}
}
