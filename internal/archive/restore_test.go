package archive

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cdewatch/cdewatch/internal/ledger"
)

// archived is a ledger archived to a local-folder store, for damage tests.
type archived struct {
	store *DirStore
	led   *ledger.Ledger
	objs  []ObjectInfo
}

// archiveLedger writes 120 records to a ledger (several segments), signs a
// checkpoint and archives it in chunks of at most 512 bytes.
func archiveLedger(tb testing.TB) *archived {
	tb.Helper()
	store := openDirStore(tb)
	led := openLedger(tb, filepath.Join(tb.TempDir(), "ledger"))
	appendRecords(tb, led, 0, 60, 3)
	led = checkpointNow(tb, led)
	appendRecords(tb, led, 60, 60, 3)
	led = checkpointNow(tb, led)
	a, err := New(Options{Ledger: led, Store: store, StateFile: filepath.Join(tb.TempDir(), "s.json"), Retention: 1, MaxChunkBytes: 512})
	if err != nil {
		tb.Fatal(err)
	}
	mustSync(tb, a)
	objs, err := store.List(context.Background(), "")
	if err != nil {
		tb.Fatal(err)
	}
	return &archived{store: store, led: led, objs: objs}
}

func (a *archived) path(name string) string {
	return filepath.Join(a.store.root, filepath.FromSlash(name))
}

// chunks returns the chunk objects of the n-th segment (0 = oldest).
func (a *archived) chunks(tb testing.TB, n int) []string {
	tb.Helper()
	byFirst := map[uint64][]string{}
	var firsts []uint64
	for _, o := range a.objs {
		on, err := ParseObjectName(o.Name)
		if err != nil || on.Kind != KindSegment {
			continue
		}
		if byFirst[on.Segment] == nil {
			firsts = append(firsts, on.Segment)
		}
		byFirst[on.Segment] = append(byFirst[on.Segment], o.Name)
	}
	if n >= len(firsts) {
		tb.Fatalf("archive has %d segments, want at least %d", len(firsts), n+1)
	}
	return byFirst[firsts[n]]
}

func (a *archived) checkpointChunks() []string {
	var out []string
	for _, o := range a.objs {
		if strings.HasPrefix(o.Name, prefixCheckpoints) {
			out = append(out, o.Name)
		}
	}
	return out
}

func (a *archived) remove(tb testing.TB, name string) {
	tb.Helper()
	if err := os.Remove(a.path(name)); err != nil {
		tb.Fatal(err)
	}
}

// TestRestoreDamagedArchive: a restore from an archive with a chunk
// missing or changed, or from the wrong place, fails and names what is wrong.
func TestRestoreDamagedArchive(t *testing.T) {
	otherKey := func(t *testing.T) string {
		other := openLedger(t, filepath.Join(t.TempDir(), "other"))
		k, err := ledger.ReadVerifierKey(other.Dir())
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	tests := []struct {
		name   string
		damage func(t *testing.T, a *archived, o *RestoreOptions)
		want   []string // all must appear in the error
	}{
		{"chunk missing inside a segment", func(t *testing.T, a *archived, _ *RestoreOptions) {
			a.remove(t, a.chunks(t, 0)[1])
		}, []string{"segment 00000000000000000000.seg: bytes ", "are missing from the archive", "no object segments/00000000000000000000/"}},
		{"first chunk of a segment missing", func(t *testing.T, a *archived, _ *RestoreOptions) {
			a.remove(t, a.chunks(t, 1)[0])
		}, []string{"bytes 0..", "are missing from the archive"}},
		{"whole segment missing", func(t *testing.T, a *archived, _ *RestoreOptions) {
			for _, c := range a.chunks(t, 1) {
				a.remove(t, c)
			}
		}, []string{"archive object segments/", "records", "missing"}},
		{"newest chunk missing", func(t *testing.T, a *archived, _ *RestoreOptions) {
			for n := 0; ; n++ {
				if len(a.led.SegmentFiles()) == n+1 {
					cs := a.chunks(t, n)
					a.remove(t, cs[len(cs)-1])
					return
				}
			}
		}, []string{"records end at leaf", "are missing"}},
		{"chunk changed", func(t *testing.T, a *archived, _ *RestoreOptions) {
			flipByte(t, a.path(a.chunks(t, 0)[1]), 40)
		}, []string{"archive object " + "segments/00000000000000000000/", "does not verify", "checksum"}},
		{"checkpoint chunk changed", func(t *testing.T, a *archived, _ *RestoreOptions) {
			cps := a.checkpointChunks()
			flipByte(t, a.path(cps[0]), 60)
		}, []string{"checkpoint"}},
		{"checkpoints missing", func(t *testing.T, a *archived, _ *RestoreOptions) {
			for _, c := range a.checkpointChunks() {
				a.remove(t, c)
			}
		}, []string{"holds no checkpoints"}},
		{"log.pub replaced, key given", func(t *testing.T, a *archived, o *RestoreOptions) {
			k, err := ledger.ReadVerifierKey(a.led.Dir())
			if err != nil {
				t.Fatal(err)
			}
			o.Key = k
			os.Chmod(a.path(nameVerifier), 0o644)
			writeFile(t, a.path(nameVerifier), []byte(otherKey(t)+"\n"))
		}, []string{"archive object log.pub", "not the trusted key"}},
		{"log.pub replaced, no key", func(t *testing.T, a *archived, _ *RestoreOptions) {
			os.Chmod(a.path(nameVerifier), 0o644)
			writeFile(t, a.path(nameVerifier), []byte(otherKey(t)+"\n"))
		}, []string{"checkpoint does not verify"}},
		{"checkpoint given beyond the archive", func(t *testing.T, a *archived, o *RestoreOptions) {
			appendRecords(t, a.led, 120, 10, 2)
			a.led = checkpointNow(t, a.led)
			o.Checkpoint = a.led.LatestCheckpoint().Note
		}, []string{"the checkpoint given covers 130 records but the archive holds only 120", "records 120..129 are missing"}},
		{"checkpoint given of another ledger", func(t *testing.T, a *archived, o *RestoreOptions) {
			other := openLedger(t, filepath.Join(t.TempDir(), "other"))
			o.Checkpoint = other.LatestCheckpoint().Note
		}, []string{"the checkpoint given does not verify"}},
		{"foreign object", func(t *testing.T, a *archived, _ *RestoreOptions) {
			writeFile(t, a.path("notes.txt"), []byte("hello"))
		}, []string{`archive object "notes.txt" is not part of a cdewatch archive`}},
		{"target not empty", func(t *testing.T, _ *archived, o *RestoreOptions) {
			writeFile(t, filepath.Join(o.Dir, "x"), nil)
		}, []string{"is not empty"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := archiveLedger(t)
			// The undamaged archive restores.
			if _, err := Restore(context.Background(), a.store, RestoreOptions{Dir: filepath.Join(t.TempDir(), "ok")}); err != nil {
				t.Fatal(err)
			}
			o := RestoreOptions{Dir: t.TempDir()}
			tc.damage(t, a, &o)
			res, err := Restore(context.Background(), a.store, o)
			if err == nil {
				t.Fatalf("restore of a damaged archive succeeded: %+v", res)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestRestoreEmptyArchive: nothing archived is an error naming the place.
func TestRestoreEmptyArchive(t *testing.T) {
	s := openDirStore(t)
	_, err := Restore(context.Background(), s, RestoreOptions{Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "holds no segment chunks") || !strings.Contains(err.Error(), s.String()) {
		t.Fatalf("restore of an empty archive: %v", err)
	}
}

// TestRestoreProgress: progress is reported for the download and the
// verification.
func TestRestoreProgress(t *testing.T) {
	a := archiveLedger(t)
	var phases []string
	res, err := Restore(context.Background(), a.store, RestoreOptions{Dir: t.TempDir(), Progress: func(p Progress) {
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		}
		if p.Phase == "download" && (p.Objects > p.ObjectsTotal || p.Bytes > p.BytesTotal) {
			t.Errorf("progress beyond the total: %+v", p)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(phases, ",") != "download,hash" && strings.Join(phases, ",") != "download,verify,hash" {
		t.Errorf("phases %v", phases)
	}
	if res.Records != 120 || res.Checkpoints != 3 || res.Segments < 2 {
		t.Errorf("result %+v", res)
	}
}
