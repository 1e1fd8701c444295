package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cdewatch/cdewatch/internal/fsutil"
	"github.com/cdewatch/cdewatch/internal/ledger"
)

// ErrIntegrity marks an archive object whose content differs from the
// ledger's bytes it should hold: the archive or the local ledger was
// altered, or the archive prefix belongs to another ledger. Retrying does
// not help; someone must look.
var ErrIntegrity = errors.New("archive integrity alarm")

// IntegrityError names the object and what is wrong with it.
type IntegrityError struct {
	Object string
	Reason string
}

// Error implements error.
func (e *IntegrityError) Error() string {
	return fmt.Sprintf("%v: archive object %s %s", ErrIntegrity, e.Object, e.Reason)
}

// Is reports ErrIntegrity.
func (e *IntegrityError) Is(target error) bool { return target == ErrIntegrity }

// Options configure an Archiver. Zero values take the defaults.
type Options struct {
	Ledger *ledger.Ledger
	Store  Store
	// StateFile keeps the cursor: how far the archive goes.
	StateFile string
	// Retention is how long each object stays locked after its upload;
	// required. PCI DSS 10.5.1 asks for at least 12 months of audit log history.
	Retention time.Duration
	// Interval between archiving passes; default 1 minute.
	Interval time.Duration
	// Backoff is the wait after a failed pass, doubling with each further
	// failure up to Interval; default 1 s.
	Backoff time.Duration
	// MaxChunkBytes bounds one uploaded object (a block larger than this
	// goes alone); default 16 MiB.
	MaxChunkBytes int64
	// RestoreTestInterval is how often the newest archive is restored into
	// RestoreTestDir and verified; 0 disables the test.
	RestoreTestInterval time.Duration
	// RestoreTestDir is where the test restores (a temporary directory is
	// made inside and removed after); default os.TempDir().
	RestoreTestDir string
	// OnFailure is called after every failed pass with the error and when
	// the failures began (PCI DSS 10.7.2: a failing control).
	OnFailure func(err error, since time.Time)
	// OnRecovered is called after the first successful pass that follows
	// failures, with when they began.
	OnRecovered func(since time.Time)
	// OnRestoreTest is called with the result of every restore test, to
	// record it as evidence.
	OnRestoreTest func(ctx context.Context, r RestoreTestResult)
	Logger        *slog.Logger
	Now           func() time.Time
}

// cursor is the state file's content (FORMAT.md): what the archive holds.
type cursor struct {
	Version int    `json:"version"`
	Target  string `json:"target"` // the store it describes
	Origin  string `json:"origin"` // the ledger it describes
	// VerifierArchived: log.pub is stored.
	VerifierArchived bool `json:"verifier_archived"`
	// Segment, Offset: the next byte to archive; Leaf: the record there.
	Segment uint64 `json:"segment"`
	Offset  int64  `json:"offset"`
	Leaf    uint64 `json:"leaf"`
	// CheckpointOffset: the next byte of the checkpoint log to archive;
	// CheckpointSize: the tree size of the newest checkpoint archived.
	CheckpointOffset int64     `json:"checkpoint_offset"`
	CheckpointSize   uint64    `json:"checkpoint_size"`
	LastRestoreTest  time.Time `json:"last_restore_test,omitzero"`
}

const cursorVersion = 1

// parseCursor reads a state file's content.
func parseCursor(b []byte) (cursor, error) {
	var c cursor
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return cursor{}, fmt.Errorf("parse archive state: %w", err)
	}
	if dec.More() {
		return cursor{}, errors.New("parse archive state: data after the JSON object")
	}
	switch {
	case c.Version != cursorVersion:
		return cursor{}, fmt.Errorf("archive state version %d, want %d", c.Version, cursorVersion)
	case c.Offset < 0 || c.CheckpointOffset < 0:
		return cursor{}, errors.New("archive state: negative offset")
	case c.Offset > 0 && c.Offset < 16:
		return cursor{}, fmt.Errorf("archive state: offset %d is inside a segment header", c.Offset)
	case c.Leaf < c.Segment:
		return cursor{}, fmt.Errorf("archive state: leaf %d precedes segment %d", c.Leaf, c.Segment)
	case c.Offset == 0 && c.Leaf != c.Segment:
		return cursor{}, fmt.Errorf("archive state: offset 0 of segment %d holds leaf %d, not %d", c.Segment, c.Segment, c.Leaf)
	case c.CheckpointSize > c.Leaf:
		return cursor{}, fmt.Errorf("archive state: checkpoint size %d beyond the archived records (%d)", c.CheckpointSize, c.Leaf)
	}
	return c, nil
}

// Status is the archiver's progress, for metrics and health checks.
type Status struct {
	Target             string
	ArchivedRecords    uint64 // records archived (the cursor)
	LedgerRecords      uint64 // records committed in the ledger
	LagRecords         uint64 // committed but not yet archived
	LagBytes           int64  // segment bytes not yet archived (may count a block being written)
	ArchivedCheckpoint uint64 // tree size of the newest archived checkpoint
	LastSuccess        time.Time
	FailingSince       time.Time // zero while healthy
	LastError          string
	LastRestoreTest    *RestoreTestResult
}

// Archiver copies the ledger's committed bytes to a Store.
type Archiver struct {
	opts Options
	log  *slog.Logger
	led  *ledger.Ledger

	passMu sync.Mutex // one pass at a time
	buf    []byte
	// synced is closed after the first successful pass.
	synced     chan struct{}
	syncedOnce sync.Once

	mu           sync.Mutex
	cur          cursor
	lastSuccess  time.Time
	failingSince time.Time
	lastErr      error
	lastTest     *RestoreTestResult
}

// New makes an archiver, reading its state file if there is one. A state
// file written for another store or ledger is ignored: archiving starts
// over, and what is already stored is checked, not uploaded again.
func New(o Options) (*Archiver, error) {
	if o.Ledger == nil || o.Store == nil {
		return nil, errors.New("archive: a ledger and a store are required")
	}
	if o.StateFile == "" {
		return nil, errors.New("archive: a state file is required")
	}
	if o.Retention <= 0 {
		return nil, errors.New("archive: retention must be positive (PCI DSS 10.5.1: at least 12 months)")
	}
	if o.Interval <= 0 {
		o.Interval = time.Minute
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.MaxChunkBytes <= 0 {
		o.MaxChunkBytes = 16 << 20
	}
	if o.RestoreTestDir == "" {
		o.RestoreTestDir = os.TempDir()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	a := &Archiver{opts: o, log: o.Logger, led: o.Ledger, synced: make(chan struct{})}
	fresh := cursor{Version: cursorVersion, Target: o.Store.String(), Origin: o.Ledger.Origin()}
	if segs := o.Ledger.SegmentFiles(); len(segs) > 0 {
		fresh.Segment, fresh.Leaf = segs[0].First, segs[0].First
	}
	a.cur = fresh
	b, err := os.ReadFile(o.StateFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read archive state: %w", err)
	default:
		c, err := parseCursor(b)
		if err != nil {
			return nil, fmt.Errorf("archive state %s: %w; remove it to start over (objects already stored are checked, not uploaded again)", o.StateFile, err)
		}
		if c.Target != fresh.Target || c.Origin != fresh.Origin {
			a.log.Warn("archive state describes another store or ledger: starting over", "state", o.StateFile,
				"state_target", c.Target, "target", fresh.Target, "state_origin", c.Origin, "origin", fresh.Origin)
			fresh.LastRestoreTest = c.LastRestoreTest
		} else {
			a.cur = c
		}
	}
	if err := os.MkdirAll(filepath.Dir(o.StateFile), 0o700); err != nil {
		return nil, fmt.Errorf("create archive state directory: %w", err)
	}
	return a, nil
}

// Status returns the current progress.
func (a *Archiver) Status() Status {
	a.mu.Lock()
	cur := a.cur
	s := Status{Target: a.opts.Store.String(), ArchivedRecords: cur.Leaf, ArchivedCheckpoint: cur.CheckpointSize,
		LastSuccess: a.lastSuccess, FailingSince: a.failingSince, LastRestoreTest: a.lastTest}
	if a.lastErr != nil {
		s.LastError = a.lastErr.Error()
	}
	a.mu.Unlock()
	s.LedgerRecords = a.led.Size()
	if s.LedgerRecords > cur.Leaf {
		s.LagRecords = s.LedgerRecords - cur.Leaf
	}
	for _, seg := range a.led.SegmentFiles() {
		if seg.First < cur.Segment {
			continue
		}
		if st, err := os.Stat(seg.Path); err == nil {
			s.LagBytes += st.Size()
		}
		if seg.First == cur.Segment {
			s.LagBytes -= cur.Offset
		}
	}
	s.LagBytes = max(s.LagBytes, 0)
	return s
}

func (a *Archiver) cursor() cursor {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cur
}

// save persists c as the new cursor (keeping the restore test time).
func (a *Archiver) save(c cursor) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	c.LastRestoreTest = a.cur.LastRestoreTest
	return a.writeLocked(c)
}

// marshal returns the state file content for c.
func (c cursor) marshal() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	err := enc.Encode(c)
	return b.Bytes(), err
}

// writeLocked writes c to the state file and makes it the cursor; a.mu is held.
func (a *Archiver) writeLocked(c cursor) error {
	b, err := c.marshal()
	if err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(a.opts.StateFile, b, 0o600); err != nil {
		return fmt.Errorf("save archive state: %w", err)
	}
	a.cur = c
	return nil
}

// Sync archives everything the ledger has committed: new segment bytes, in
// chunks cut at block boundaries, then the checkpoints they cover. Progress
// is saved after each object, so an interrupted pass resumes where it
// stopped.
func (a *Archiver) Sync(ctx context.Context) error {
	a.passMu.Lock()
	defer a.passMu.Unlock()
	if err := a.syncVerifier(ctx); err != nil {
		return err
	}
	if err := a.syncSegments(ctx); err != nil {
		return err
	}
	return a.syncCheckpoints(ctx)
}

func (a *Archiver) retainUntil() time.Time { return a.opts.Now().Add(a.opts.Retention) }

// put stores the bytes read(limit) returns under name, or, if name exists,
// checks that it holds exactly the bytes read returns for its size. It
// returns how many bytes are archived there (0: read had nothing).
func (a *Archiver) put(ctx context.Context, name string, read func(limit int64) ([]byte, error)) (int64, error) {
	for range 2 {
		info, err := a.opts.Store.Stat(ctx, name)
		if err == nil {
			return info.Size, a.check(ctx, info, read)
		}
		if !errors.Is(err, ErrNotFound) {
			return 0, fmt.Errorf("look up archive object %s: %w", name, err)
		}
		data, err := read(a.opts.MaxChunkBytes)
		if err != nil || len(data) == 0 {
			return 0, err
		}
		err = a.opts.Store.Put(ctx, name, data, a.retainUntil())
		if errors.Is(err, ErrExists) {
			continue // stored meanwhile: check it
		}
		if err != nil {
			return 0, err
		}
		return int64(len(data)), nil
	}
	return 0, fmt.Errorf("archive object %s appeared during its upload and again after", name)
}

// check compares a stored object with the ledger's bytes it should hold:
// after a restart, or with a lost state file, what was stored already is
// checked instead of uploaded.
func (a *Archiver) check(ctx context.Context, info ObjectInfo, read func(limit int64) ([]byte, error)) error {
	if info.Hidden {
		a.log.Warn("archive object was deleted (a delete marker hides it); its locked first version is used", "object", info.Name)
	}
	if info.Versions > 1 {
		a.log.Warn("archive object was written again after archiving; its first version is used", "object", info.Name, "versions", info.Versions)
	}
	want, err := read(info.Size)
	if err != nil {
		return err
	}
	if int64(len(want)) != info.Size {
		return &IntegrityError{Object: info.Name, Reason: fmt.Sprintf("holds %d bytes, but the ledger has %d committed bytes there: the local ledger lost committed data, or the archive belongs to another ledger", info.Size, len(want))}
	}
	got, err := a.opts.Store.Get(ctx, info)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return &IntegrityError{Object: info.Name, Reason: "differs from the ledger's bytes it should hold: the archive or the local ledger was altered; run `cdewatch verify`, and `cdewatch restore` into an empty directory to see which"}
	}
	return nil
}

func (a *Archiver) syncVerifier(ctx context.Context) error {
	if a.cursor().VerifierArchived {
		return nil
	}
	pub, err := os.ReadFile(filepath.Join(a.led.Dir(), ledger.VerifierFile))
	if err != nil {
		return fmt.Errorf("read the ledger's verifier key: %w", err)
	}
	if _, err := a.put(ctx, nameVerifier, func(int64) ([]byte, error) { return pub, nil }); err != nil {
		if errors.Is(err, ErrIntegrity) {
			return &IntegrityError{Object: nameVerifier, Reason: "holds another ledger's verifier key: this archive location belongs to another ledger; give each ledger its own prefix"}
		}
		return err
	}
	c := a.cursor()
	c.VerifierArchived = true
	return a.save(c)
}

func (a *Archiver) syncSegments(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		c := a.cursor()
		segs := a.led.SegmentFiles()
		i := -1
		for j, s := range segs {
			if s.First == c.Segment {
				i = j
			}
		}
		if i < 0 {
			return fmt.Errorf("segment %s, where archiving stopped (offset %d), is no longer in the ledger: records from %d on cannot be archived",
				ledger.SegmentFileName(c.Segment), c.Offset, c.Leaf)
		}
		seg := segs[i]
		var got ledger.CommittedBytes
		n, err := a.put(ctx, segmentChunkName(seg.First, c.Offset), func(limit int64) ([]byte, error) {
			var err error
			got, err = a.led.ReadCommitted(seg, c.Offset, c.Leaf, limit, a.buf)
			a.buf = got.Data[:0]
			if err != nil {
				return nil, fmt.Errorf("read the ledger for archiving: %w", err)
			}
			return got.Data, nil
		})
		if err != nil {
			return err
		}
		if n > 0 {
			c.Offset += n
			c.Leaf = got.NextLeaf
			if err := a.save(c); err != nil {
				return err
			}
			continue
		}
		// Nothing more is committed in this segment. Once a record of the
		// next one is committed, this one is complete.
		if i+1 < len(segs) && segs[i+1].First < a.led.Size() {
			if c.Leaf != segs[i+1].First {
				return fmt.Errorf("segment %s ends at leaf %d but the next starts at %d: the ledger is damaged; run `cdewatch verify`",
					ledger.SegmentFileName(seg.First), c.Leaf, segs[i+1].First)
			}
			c.Segment, c.Offset = segs[i+1].First, 0
			if err := a.save(c); err != nil {
				return err
			}
			continue
		}
		return nil
	}
}

func (a *Archiver) syncCheckpoints(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		c := a.cursor()
		var ents []ledger.CheckpointLogEntry
		n, err := a.put(ctx, checkpointChunkName(c.CheckpointOffset), func(limit int64) ([]byte, error) {
			var raw []byte
			var err error
			ents, raw, err = a.led.ReadCheckpointLog(c.CheckpointOffset, c.Leaf, int(min(limit, 1<<30)))
			if err != nil {
				return nil, fmt.Errorf("read the checkpoint log for archiving: %w", err)
			}
			return raw, nil
		})
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		c.CheckpointOffset += n
		c.CheckpointSize = ents[len(ents)-1].Size
		if err := a.save(c); err != nil {
			return err
		}
	}
}

// Run archives every Interval until ctx ends, then makes a last pass
// (bounded to 10 s). It runs restore tests when they are due. Failures are
// reported through OnFailure and retried with backoff; Run returns nil
// when ctx ends.
func (a *Archiver) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if a.opts.RestoreTestInterval > 0 {
		wg.Go(func() { a.runRestoreTests(ctx) })
	}
	defer wg.Wait()
	var fails int
	delay := time.Duration(0)
	for {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			last, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if err := a.Sync(last); err != nil {
				a.log.Warn("last archiving pass before stopping failed; it resumes at the next start", "err", err)
			}
			cancel()
			return nil
		case <-t.C:
		}
		err := a.Sync(ctx)
		if ctx.Err() != nil {
			continue
		}
		if err != nil {
			fails++
			a.failed(err)
			delay = min(a.opts.Backoff<<min(fails-1, 20), a.opts.Interval)
			continue
		}
		fails = 0
		a.succeeded()
		delay = a.opts.Interval
	}
}

func (a *Archiver) failed(err error) {
	a.mu.Lock()
	if a.failingSince.IsZero() {
		a.failingSince = a.opts.Now()
	}
	since := a.failingSince
	a.lastErr = err
	a.mu.Unlock()
	a.log.Error("archiving failed", "target", a.opts.Store.String(), "since", since, "err", err)
	if a.opts.OnFailure != nil {
		a.opts.OnFailure(err, since)
	}
}

func (a *Archiver) succeeded() {
	a.mu.Lock()
	since := a.failingSince
	a.failingSince, a.lastErr, a.lastSuccess = time.Time{}, nil, a.opts.Now()
	a.mu.Unlock()
	a.syncedOnce.Do(func() { close(a.synced) })
	if !since.IsZero() {
		a.log.Info("archiving recovered", "target", a.opts.Store.String(), "failing_since", since)
		if a.opts.OnRecovered != nil {
			a.opts.OnRecovered(since)
		}
	}
}
