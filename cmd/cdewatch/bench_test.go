package main

import (
	"regexp"
	"strings"
	"testing"
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
		ev, id := pool.appendEvent(nil, seq)
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
