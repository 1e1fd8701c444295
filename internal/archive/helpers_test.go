package archive

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/cdewatch/cdewatch/internal/archive/versitytest"
	"github.com/cdewatch/cdewatch/internal/ledger"
)

// openLedger opens a real ledger with small segments, so that a few
// hundred records span several segment files.
func openLedger(tb testing.TB, dir string) *ledger.Ledger {
	tb.Helper()
	l, err := ledger.Open(ledger.Options{Dir: dir, Origin: "test.example/archive", SegmentBytes: 2048, CheckpointInterval: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

// appendRecords appends n records in batches of batch, numbered from start.
func appendRecords(tb testing.TB, l *ledger.Ledger, start, n, batch int) {
	tb.Helper()
	for i := 0; i < n; i += batch {
		var recs [][]byte
		for j := i; j < min(n, i+batch); j++ {
			// Padding that does not compress, so that segments fill up.
			pad := sha256.Sum256([]byte(strconv.Itoa(start + j)))
			recs = append(recs, []byte(fmt.Sprintf(`{"n":%d,"pad":"%x"}`, start+j, pad[:(start+j)%32])))
		}
		if _, err := l.Append(context.Background(), recs); err != nil {
			tb.Fatal(err)
		}
	}
}

// checkpointNow closes and reopens the ledger, which signs a checkpoint
// over every record (the test ledgers sign no periodic ones).
func checkpointNow(tb testing.TB, l *ledger.Ledger) *ledger.Ledger {
	tb.Helper()
	if err := l.Close(); err != nil {
		tb.Fatal(err)
	}
	return openLedger(tb, l.Dir())
}

func newArchiver(tb testing.TB, l *ledger.Ledger, s Store, state string) *Archiver {
	tb.Helper()
	a, err := New(Options{Ledger: l, Store: s, StateFile: state, Retention: time.Hour, MaxChunkBytes: 1024})
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

func mustSync(tb testing.TB, a *Archiver) {
	tb.Helper()
	if err := a.Sync(context.Background()); err != nil {
		tb.Fatal(err)
	}
}

// archiveInTwoPasses writes records to a new ledger and archives them to
// s in two passes, the second after more records (the active segment's
// new range becomes new chunks), keeping the archiver's state in state.
// It checks that everything was archived, in at least five objects, and
// returns the ledger, the second pass's archiver and the objects.
func archiveInTwoPasses(tb testing.TB, s Store, state string) (*ledger.Ledger, *Archiver, []ObjectInfo) {
	tb.Helper()
	led := openLedger(tb, filepath.Join(tb.TempDir(), "ledger"))
	appendRecords(tb, led, 0, 150, 7)
	led = checkpointNow(tb, led)
	mustSync(tb, newArchiver(tb, led, s, state))
	appendRecords(tb, led, 150, 90, 5)
	led = checkpointNow(tb, led)
	a := newArchiver(tb, led, s, state)
	mustSync(tb, a)
	if st := a.Status(); st.LagRecords != 0 || st.ArchivedRecords != led.Size() || st.ArchivedCheckpoint != led.Size() {
		tb.Fatalf("status after archiving everything: %+v (ledger size %d)", st, led.Size())
	}
	objs, err := s.List(context.Background(), "")
	if err != nil {
		tb.Fatal(err)
	}
	if len(objs) < 5 {
		tb.Fatalf("only %d objects archived", len(objs))
	}
	return led, a, objs
}

// countingStore wraps a real store and counts the uploads.
type countingStore struct {
	Store
	mu   sync.Mutex
	puts []string
}

func (c *countingStore) Put(ctx context.Context, name string, data []byte, until time.Time) error {
	err := c.Store.Put(ctx, name, data, until)
	if err == nil {
		c.mu.Lock()
		c.puts = append(c.puts, name)
		c.mu.Unlock()
	}
	return err
}

func (c *countingStore) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.puts
	c.puts = nil
	return p
}

func openDirStore(tb testing.TB) *DirStore {
	tb.Helper()
	s, err := OpenDir(filepath.Join(tb.TempDir(), "archive"))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// versity is a running versitygw: a real S3 server that enforces Object Lock.
type versity struct {
	*versitytest.Server
	client *minio.Client
}

func startVersity(tb testing.TB) *versity {
	s := versitytest.Start(tb)
	return &versity{Server: s, client: s.Client}
}

func (v *versity) bucket(tb testing.TB, name string, lock bool) { v.Bucket(tb, name, lock) }

func (v *versity) location(bucket, prefix string) Location {
	return Location{Scheme: "s3", Bucket: bucket, Prefix: prefix, Endpoint: v.Endpoint, Insecure: true}
}

func (v *versity) open(tb testing.TB, loc Location) (*S3Store, error) {
	tb.Helper()
	return OpenS3(context.Background(), loc, v.Credentials())
}

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// putAndGet uploads one object to s and reads it back.
func putAndGet(tb testing.TB, s Store) {
	tb.Helper()
	ctx := context.Background()
	if err := s.Put(ctx, "log.pub", []byte("verifier"), time.Now().Add(time.Hour)); err != nil {
		tb.Fatal(err)
	}
	obj, err := s.Stat(ctx, "log.pub")
	if err != nil {
		tb.Fatal(err)
	}
	if got, err := s.Get(ctx, obj); err != nil || string(got) != "verifier" {
		tb.Fatalf("get: %q, %v", got, err)
	}
}
