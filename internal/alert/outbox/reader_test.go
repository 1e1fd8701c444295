package outbox

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// writeSegments writes segments of the given entry counts, ids from 1,
// and returns their infos.
func writeSegments(tb testing.TB, dir string, counts ...int) []segInfo {
	tb.Helper()
	var segs []segInfo
	id := uint64(1)
	for _, n := range counts {
		b := segHeader(id)
		first := id
		for range n {
			b = appendEntry(b, id, first, 1, fmt.Appendf(nil, `{"summary":"entry %d"}`, id))
			id++
		}
		if err := os.WriteFile(filepath.Join(dir, segName(first)), b, 0o600); err != nil {
			tb.Fatal(err)
		}
		segs = append(segs, segInfo{first: first, size: int64(len(b))})
	}
	return segs
}

func TestReader(t *testing.T) {
	dir := t.TempDir()
	segs := writeSegments(t, dir, 3, 4, 2) // ids 1-3, 4-7, 8-9
	end := uint64(10)
	tests := []struct {
		name  string
		start uint64
		count []int    // successive read sizes
		want  []uint64 // first id of each read
	}{
		{"from the start, across segments", 1, []int{2, 5, 5}, []uint64{1, 3, 8}},
		{"from the middle of a segment", 5, []int{1, 10}, []uint64{5, 6}},
		{"from a segment's first entry", 8, []int{5}, []uint64{8}},
		{"at the end", 10, []int{5}, []uint64{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := reader{dir: dir, id: tt.start}
			defer r.close()
			for i, n := range tt.count {
				es, err := r.read(segs, end, n)
				if err != nil {
					t.Fatal(err)
				}
				if tt.want[i] == 0 {
					if len(es) != 0 {
						t.Fatalf("read %d entries past the end", len(es))
					}
					continue
				}
				if len(es) == 0 || es[0].id != tt.want[i] {
					t.Fatalf("read %d: %d entries starting %v, want %d", i, len(es), es, tt.want[i])
				}
				for j, e := range es {
					if want := fmt.Sprintf(`{"summary":"entry %d"}`, e.id); string(e.payload) != want || e.id != tt.want[i]+uint64(j) {
						t.Fatalf("entry %d: %s", e.id, e.payload)
					}
				}
			}
		})
	}
	// Reading stops at the committed end even if the file holds more.
	r := reader{dir: dir, id: 1}
	es, err := r.read(segs, 5, 100)
	if err != nil || len(es) != 4 {
		t.Errorf("bounded read: %d entries, %v", len(es), err)
	}
	// The segment it read to its end is compacted away: it moves on.
	r2 := reader{dir: dir, id: 1}
	if es, err := r2.read(segs, end, 3); err != nil || len(es) != 3 {
		t.Fatalf("%d, %v", len(es), err)
	}
	os.Remove(filepath.Join(dir, segName(1)))
	es, err = r2.read(segs[1:], end, 100)
	if err != nil || len(es) != 6 || es[0].id != 4 {
		t.Errorf("after compaction: %d entries, %v", len(es), err)
	}
	r.close()
	r2.close()
	// An entry older than the oldest segment is an error.
	r3 := reader{dir: dir, id: 2}
	if _, err := r3.read(segs[1:], end, 1); err == nil {
		t.Error("read of a compacted entry succeeded")
	}
}
