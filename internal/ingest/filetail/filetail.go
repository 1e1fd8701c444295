// Package filetail follows a line-oriented log file that another process
// appends to and rotates, such as the audit log kube-apiserver writes with
// --audit-log-path (one JSON Event per line, rotated by lumberjack), and hands
// its lines, in file order, to a Handler.
//
// The read position is persisted in a state file (FORMAT.md) after every
// batch the Handler has accepted, so a restart resumes where the last run
// stopped, even if the file was rotated meanwhile. Delivery is at least once:
// a crash after the Handler returned and before the position was persisted
// hands that batch again on the next start, so the Handler's store must
// deduplicate (audit events carry a unique auditID). Within one run of Run a
// line is handed over exactly once (a failed Handler call is retried with the
// same lines).
//
// Rotation: when the path names another file, or none, the tailer reads the
// old file to its end through its still-open descriptor, then reads any
// lumberjack backups (<name>-<time><ext>) rotated after it that are still
// uncompressed, then the new file from offset 0. Compressed backups (.gz) are
// not read: if one holds lines that were never read, a warning names it. A
// file that shrinks below the read offset without changing identity
// (copytruncate) is read again from 0, with a warning.
//
// Files are polled; nothing but the standard library is used. Device and
// inode numbers identify files, so the tailer works on unix systems only.
package filetail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Handler receives complete lines (without the trailing newline) in file
// order. It returns nil only once they are durably stored; on error the
// tailer retries the same lines later (with backoff) and never skips them.
// Handler must not retain the slices after returning, nor modify them: a
// retry passes the same bytes again.
//
// Only '\n' ends a line; a '\r' before it is kept. A line longer than
// Config.MaxLineBytes arrives cut to MaxLineBytes+1 bytes. The last line of a rotated file that has no newline (the writer
// died mid-line) is handed over as it is, with a warning.
type Handler func(ctx context.Context, lines [][]byte) error

// Config configures a Tailer. Zero values mean the defaults.
type Config struct {
	Path      string        // file to follow
	StateFile string        // where the read position is persisted (JSON, written atomically: tmp+fsync+rename+fsync dir)
	Poll      time.Duration // default 250ms
	// Lines longer than this are passed truncated to MaxLineBytes+1 bytes (so
	// the handler can tell they are oversize) and the rest of the line
	// skipped; default 1 MiB.
	MaxLineBytes  int
	MaxBatchLines int // default 1000
	Logger        *slog.Logger
}

// Position is a persisted read position: the identity of a file (device and
// inode numbers), the byte offset just after the last line handled, and the
// path the file was opened by.
type Position struct {
	Dev, Inode uint64
	Offset     int64
	Path       string
}

// Defaults and limits.
const (
	defaultPoll          = 250 * time.Millisecond
	defaultMaxLineBytes  = 1 << 20
	defaultMaxBatchLines = 1000

	// maxBatchBytes ends a batch early once its lines hold this many bytes,
	// so that MaxBatchLines long lines do not pile up in memory.
	maxBatchBytes = 4 << 20
	readBufBytes  = 256 << 10
	maxBackoff    = 30 * time.Second
	doneRingSize  = 8
)

// errStopped reports that the context ended.
var errStopped = errors.New("filetail: stopped")

// fileID is a file's identity: device and inode numbers.
type fileID struct{ dev, ino uint64 }

// source is the file being read.
type source struct {
	f         *os.File
	id        fileID
	path      string    // path it was opened by
	atPath    bool      // opened at Config.Path, so rotation shows at that path
	seen      time.Time // last time it was seen at Config.Path (zero if never)
	off       int64     // next byte to read
	committed int64     // end of the last line the Handler accepted
	head      head      // fingerprint of the first min(committed, headBytes) bytes
}

// ref is a file that is finished, or lost, and whose successor is wanted.
type ref struct {
	// f keeps a finished file open until its successor is open, so that
	// its inode cannot be reused meanwhile; nil for a lost file.
	f    *os.File
	id   fileID
	head head
	path string
	seen time.Time
	lost bool // its lines after the persisted offset were not read
	// start marks the start of a first run (no state): there is no previous
	// file, but backups rotated after seen were written since the tailer
	// started and are read before the file at the path.
	start bool
}

// Tailer follows one file. Create it with New; Run does the work.
type Tailer struct {
	cfg  Config
	h    Handler
	log  *slog.Logger
	dir  string // directory of cfg.Path
	base string // base name of cfg.Path

	running atomic.Bool
	idle    atomic.Uint64 // idle polls, observed by tests

	mu       sync.Mutex
	st       state // last persisted state
	hasState bool

	// Owned by Run.
	cur     *source
	prev    *ref
	done    []ref           // recently finished files, never read twice
	warned  map[string]bool // backups already reported as missed
	waiting bool            // "waiting for the file" was logged
	sp      *splitter
	buf     []byte
	b       batch
}

// New returns a Tailer for cfg, loading the state file if there is one. An
// unreadable or inconsistent state file is an error: deleting it makes the
// tailer start from offset 0 of the current file.
func New(cfg Config, h Handler) (*Tailer, error) {
	if h == nil {
		return nil, errors.New("filetail: nil Handler")
	}
	if cfg.Path == "" || cfg.StateFile == "" {
		return nil, errors.New("filetail: Config.Path and Config.StateFile are required")
	}
	var err error
	if cfg.Path, err = filepath.Abs(cfg.Path); err != nil {
		return nil, fmt.Errorf("filetail: %w", err)
	}
	if cfg.StateFile, err = filepath.Abs(cfg.StateFile); err != nil {
		return nil, fmt.Errorf("filetail: %w", err)
	}
	if cfg.StateFile == cfg.Path {
		return nil, errors.New("filetail: Config.StateFile must differ from Config.Path")
	}
	if cfg.Poll <= 0 {
		cfg.Poll = defaultPoll
	}
	if cfg.MaxLineBytes <= 0 {
		cfg.MaxLineBytes = defaultMaxLineBytes
	}
	if cfg.MaxBatchLines <= 0 {
		cfg.MaxBatchLines = defaultMaxBatchLines
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	t := &Tailer{
		cfg:    cfg,
		h:      h,
		log:    cfg.Logger.With("component", "filetail", "path", cfg.Path),
		dir:    filepath.Dir(cfg.Path),
		base:   filepath.Base(cfg.Path),
		warned: map[string]bool{},
		sp:     newSplitter(cfg.MaxLineBytes),
		buf:    make([]byte, readBufBytes),
	}
	if err := os.MkdirAll(filepath.Dir(cfg.StateFile), 0o700); err != nil {
		return nil, fmt.Errorf("filetail: state directory: %w", err)
	}
	st, ok, err := loadState(cfg.StateFile)
	if err != nil {
		return nil, err
	}
	if ok && filepath.Dir(st.Path) != t.dir {
		return nil, fmt.Errorf("filetail: state file %s is for %s, not for a file in %s; use another state file", cfg.StateFile, st.Path, t.dir)
	}
	t.st, t.hasState = st, ok
	return t, nil
}

// Position returns the persisted position (for tests and health): file
// identity (device+inode) and byte offset. Until a file has been opened for
// the first time, Dev and Inode are 0.
func (t *Tailer) Position() Position {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Position{Dev: t.st.Dev, Inode: t.st.Inode, Offset: t.st.Offset, Path: t.st.Path}
}

// Run follows the file until ctx ends. It returns nil on ctx cancellation.
// Read, handler and state-file errors are logged and retried with backoff;
// Run returns an error only if it is already running.
//
// Run may be called again after it returned; it resumes from the persisted
// position.
func (t *Tailer) Run(ctx context.Context) error {
	if !t.running.CompareAndSwap(false, true) {
		return errors.New("filetail: Run is already running")
	}
	defer t.running.Store(false)
	defer t.closeCur()

	t.sp.reset()
	t.b.reset()
	if err := t.resume(ctx); err != nil {
		return nil // errStopped: ctx ended while persisting
	}
	readRetry := newBackoff(t.cfg.Poll)
	for ctx.Err() == nil {
		if t.cur == nil {
			ok, err := t.advance(ctx)
			if err != nil {
				return nil
			}
			if !ok {
				t.wait(ctx)
				continue
			}
		}
		if err := t.readToEOF(ctx); err != nil {
			if errors.Is(err, errStopped) || ctx.Err() != nil {
				return nil
			}
			d := readRetry.next()
			t.log.Error("filetail: read failed; retrying", "file", t.cur.path, "offset", t.cur.off, "retry_in", d, "err", err)
			sleep(ctx, d)
			continue
		}
		readRetry.reset()
		moved, err := t.atEOF(ctx)
		if err != nil {
			return nil
		}
		if !moved {
			t.wait(ctx)
		}
	}
	return nil
}

// wait sleeps one poll interval.
func (t *Tailer) wait(ctx context.Context) {
	t.idle.Add(1)
	sleep(ctx, t.cfg.Poll)
}

func (t *Tailer) closeCur() {
	if t.cur != nil {
		t.cur.f.Close()
		t.cur = nil
	}
	t.dropPrev()
}

// dropPrev forgets t.prev, closing it if it is open.
func (t *Tailer) dropPrev() {
	if t.prev != nil && t.prev.f != nil {
		t.prev.f.Close()
	}
	t.prev = nil
}

// resume opens the file named by the persisted state at its offset: the
// file at Config.Path if it is still the same file, else its rotated backup.
// If neither exists, the state's file becomes t.prev (lost) so that advance
// continues with whatever followed it.
func (t *Tailer) resume(ctx context.Context) error {
	t.mu.Lock()
	st, ok := t.st, t.hasState
	t.mu.Unlock()
	if !ok {
		// First start: the current file from offset 0, after any backup
		// rotated from now on (the file may come and go before the first
		// look). The start time is persisted, so that a restart before the
		// first file is opened keeps it.
		now := time.Now()
		t.prev = &ref{seen: now, start: true}
		return t.save(ctx, state{Version: stateVersion, Path: t.cfg.Path, Seen: now.UTC().Round(0)})
	}
	id := fileID{dev: st.Dev, ino: st.Inode}
	if id == (fileID{}) {
		t.prev = &ref{seen: st.Seen, start: true} // no file opened yet
		return nil
	}
	h, _ := st.head() // validated by loadState
	if f, fid, err := openFile(t.cfg.Path); err == nil {
		if fid == id && h.matches(f) {
			return t.resumeAt(ctx, f, id, h, t.cfg.Path, true, time.Now(), st)
		}
		f.Close()
		if fid == id {
			// Either the file was truncated and rewritten (copytruncate) or
			// it is a new file that got the inode of the deleted persisted one.
			// Both ways, what followed the persisted offset is not there.
			t.log.Warn("filetail: the file at the path has the persisted device and inode but its start changed (copytruncate, or a new file reusing the inode); lines after the persisted offset may have been missed; reading it from the start",
				"file", st.Path, "offset", st.Offset, "dev", id.dev, "inode", id.ino)
			t.prev = &ref{id: id, head: h, path: st.Path, seen: st.Seen, lost: true}
			return nil
		}
	}
	if p, f, ok := t.findRotated(id, h); ok {
		t.log.Info("filetail: persisted file was rotated while stopped; finishing it first", "file", p, "offset", st.Offset)
		return t.resumeAt(ctx, f, id, h, p, false, st.Seen, st)
	}
	t.log.Warn("filetail: persisted file is gone (rotated and compressed, or deleted); lines after its persisted offset may have been missed",
		"file", st.Path, "offset", st.Offset, "dev", id.dev, "inode", id.ino)
	t.prev = &ref{id: id, head: h, path: st.Path, seen: st.Seen, lost: true}
	return nil
}

func (t *Tailer) resumeAt(ctx context.Context, f *os.File, id fileID, h head, path string, atPath bool, seen time.Time, st state) error {
	off := st.Offset
	reset := false
	if fi, err := f.Stat(); err == nil && fi.Size() < off {
		t.log.Warn("filetail: file is shorter than the persisted offset (truncated while stopped: copytruncate?); reading it from the start",
			"file", path, "offset", off, "size", fi.Size())
		off, h, reset = 0, head{}, true
	}
	t.cur = &source{f: f, id: id, path: path, atPath: atPath, seen: seen, off: off, committed: off, head: h}
	if reset || path != st.Path {
		return t.persist(ctx)
	}
	return nil
}

// readToEOF reads the current file to its end, handing complete lines to the
// Handler, and flushes the last batch.
func (t *Tailer) readToEOF(ctx context.Context) error {
	c := t.cur
	for {
		n, err := c.f.ReadAt(t.buf, c.off)
		if n > 0 {
			if err := t.consume(ctx, t.buf[:n]); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) || n == 0 {
			break
		}
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return errStopped
		}
	}
	return t.flush(ctx)
}

// consume splits p, the bytes at the current read offset, into lines and
// batches them.
func (t *Tailer) consume(ctx context.Context, p []byte) error {
	c := t.cur
	for len(p) > 0 {
		line, n, ok := t.sp.next(p)
		p = p[n:]
		c.off += int64(n)
		if !ok {
			continue
		}
		t.b.add(line, c.off)
		if t.b.len() >= t.cfg.MaxBatchLines || t.b.size() >= maxBatchBytes {
			if err := t.flush(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush hands the batch to the Handler until it accepts it, then persists
// the position after its last line.
func (t *Tailer) flush(ctx context.Context) error {
	if t.b.len() == 0 {
		return nil
	}
	retry := newBackoff(t.cfg.Poll)
	for attempt := 1; ; attempt++ {
		err := t.h(ctx, t.b.lines())
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return errStopped
		}
		d := retry.next()
		t.log.Warn("filetail: handler failed; retrying the same lines", "file", t.cur.path, "lines", t.b.len(),
			"attempt", attempt, "retry_in", d, "err", err)
		if !sleep(ctx, d) {
			return errStopped
		}
	}
	t.cur.committed = t.b.end
	t.b.reset()
	return t.persist(ctx)
}

// persist writes the current file's identity and committed offset to the
// state file, retrying until it succeeds or ctx ends.
func (t *Tailer) persist(ctx context.Context) error {
	c := t.cur
	if want := min(c.committed, headBytes); c.head.n != want {
		h, err := readHead(c.f, want)
		if err != nil {
			t.log.Warn("filetail: cannot fingerprint file", "file", c.path, "err", err)
			h = head{}
		}
		c.head = h
	}
	st := state{
		Version: stateVersion,
		Dev:     c.id.dev,
		Inode:   c.id.ino,
		Offset:  c.committed,
		Path:    c.path,
	}
	if !c.seen.IsZero() {
		st.Seen = c.seen.UTC().Round(0) // Round(0) drops the monotonic reading
	}
	if c.head.n > 0 {
		st.HeadBytes = c.head.n
		st.HeadSHA256 = fmt.Sprintf("%x", c.head.sum)
	}
	return t.save(ctx, st)
}

// save writes st to the state file, retrying until it succeeds or ctx ends.
func (t *Tailer) save(ctx context.Context, st state) error {
	retry := newBackoff(t.cfg.Poll)
	for {
		err := saveState(t.cfg.StateFile, st)
		if err == nil {
			break
		}
		d := retry.next()
		t.log.Error("filetail: cannot persist the read position; retrying", "state_file", t.cfg.StateFile, "retry_in", d, "err", err)
		if !sleep(ctx, d) {
			return errStopped
		}
	}
	t.mu.Lock()
	t.st, t.hasState = st, true
	t.mu.Unlock()
	return nil
}

// atEOF decides what to do once the current file is read to its end. moved
// is true if the tailer switched files or offsets, so reading goes on at once.
func (t *Tailer) atEOF(ctx context.Context) (moved bool, err error) {
	c := t.cur
	if !c.atPath {
		// A rotated backup: its writer has closed it, so its end is final.
		return true, t.finish(ctx)
	}
	fi, err := os.Stat(t.cfg.Path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.log.Warn("filetail: cannot stat the path; still reading the open file", "err", err)
		return false, nil
	}
	if err == nil {
		id, err := idOf(fi)
		if err != nil {
			t.log.Error("filetail: cannot identify the file at the path", "err", err)
			return false, nil
		}
		if id == c.id {
			c.seen = time.Now()
			if fi.Size() < c.off {
				t.log.Warn("filetail: file shrank below the read offset (copytruncate); reading it again from the start",
					"file", c.path, "offset", c.off, "size", fi.Size())
				t.sp.reset()
				c.off, c.committed, c.head = 0, 0, head{}
				return true, t.persist(ctx)
			}
			return false, nil
		}
	}
	// The path names another file, or none: the writer has rotated (or
	// removed) this one. Whatever it wrote before is in the file now; read it
	// through the open descriptor, then move on.
	if err := t.readToEOF(ctx); err != nil {
		if errors.Is(err, errStopped) {
			return false, err
		}
		return false, nil // read error: Run retries reading
	}
	return true, t.finish(ctx)
}

// finish closes the current file, which is read to its end and will not
// grow, handing over a last line that lacks its newline.
func (t *Tailer) finish(ctx context.Context) error {
	c := t.cur
	if t.sp.pending() {
		t.log.Warn("filetail: rotated file ends without a newline; handing over its last line as it is",
			"file", c.path, "offset", c.committed)
		t.b.add(t.sp.rest(), c.off)
		if err := t.flush(ctx); err != nil {
			return err
		}
	}
	r := ref{id: c.id, head: c.head, path: c.path, seen: c.seen}
	if c.committed > 0 {
		if len(t.done) == doneRingSize {
			t.done = append(t.done[:0], t.done[1:]...)
		}
		t.done = append(t.done, r)
	}
	t.log.Info("filetail: finished rotated file", "file", c.path, "offset", c.committed)
	r.f = c.f
	t.cur = nil
	t.prev = &r
	return nil
}

// advance opens the file to read next: a backup rotated after t.prev that is
// still uncompressed, else the file at Config.Path from offset 0. It
// returns false if there is none yet.
func (t *Tailer) advance(ctx context.Context) (bool, error) {
	for range 3 {
		// Stat the path before listing the directory: a file rotated after
		// the stat is then either in the listing or different from what
		// the open below finds.
		pfi, perr := os.Stat(t.cfg.Path)
		if t.prev != nil {
			for _, b := range t.successors(t.prev) {
				f, id, err := openFile(b.path)
				if err != nil {
					if errors.Is(err, fs.ErrNotExist) {
						t.missed(b.name, "rotated backup vanished before it could be read (compressed?); its lines were not read")
					} else {
						t.log.Error("filetail: cannot open rotated backup; its lines were not read", "file", b.path, "err", err)
					}
					continue
				}
				if t.isDone(f, id) {
					f.Close()
					continue
				}
				t.log.Info("filetail: reading a backup rotated after the previous file", "file", b.path)
				return true, t.switchTo(ctx, &source{f: f, id: id, path: b.path})
			}
		}
		if perr != nil {
			if !t.waiting {
				t.waiting = true
				t.log.Info("filetail: waiting for the file", "err", perr)
			}
			return false, nil
		}
		pid, err := idOf(pfi)
		if err != nil {
			t.log.Error("filetail: cannot identify the file", "err", err)
			return false, nil
		}
		f, id, err := openFile(t.cfg.Path)
		if err != nil {
			continue
		}
		if id != pid {
			f.Close() // rotated between the stat and the open: look again
			continue
		}
		return true, t.switchTo(ctx, &source{f: f, id: id, path: t.cfg.Path, atPath: true, seen: time.Now()})
	}
	return false, nil
}

// switchTo makes s, at offset 0, the current file and persists that.
func (t *Tailer) switchTo(ctx context.Context, s *source) error {
	t.cur = s
	t.dropPrev()
	t.waiting = false
	clear(t.warned)
	t.sp.reset()
	if s.atPath {
		t.log.Info("filetail: following file", "dev", s.id.dev, "inode", s.id.ino)
	}
	return t.persist(ctx)
}

// isDone reports whether f is a file this Tailer has already read to its end.
func (t *Tailer) isDone(f *os.File, id fileID) bool {
	for _, r := range t.done {
		if r.id == id && r.head.n > 0 && r.head.matches(f) {
			return true
		}
	}
	return false
}

// missed logs, once per name, that the lines of a backup were not read.
func (t *Tailer) missed(name, msg string) {
	if t.warned[name] {
		return
	}
	t.warned[name] = true
	t.log.Warn("filetail: "+msg, "file", filepath.Join(t.dir, name))
}

// openFile opens path for reading and returns its identity.
func openFile(path string) (*os.File, fileID, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileID{}, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fileID{}, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fileID{}, fmt.Errorf("filetail: %s is not a regular file", path)
	}
	id, err := idOf(fi)
	if err != nil {
		f.Close()
		return nil, fileID{}, err
	}
	return f, id, nil
}

// batch holds lines copied out of the read buffer until the Handler takes them.
type batch struct {
	data []byte
	ends []int    // end of each line in data
	out  [][]byte // the lines, rebuilt for every Handler call
	end  int64    // file offset just after the last line
}

func (b *batch) add(line []byte, end int64) {
	b.data = append(b.data, line...)
	b.ends = append(b.ends, len(b.data))
	b.end = end
}

func (b *batch) len() int  { return len(b.ends) }
func (b *batch) size() int { return len(b.data) }

// lines returns the batch's lines. Each has its capacity cut to its length,
// so appending to one cannot overwrite the next.
func (b *batch) lines() [][]byte {
	b.out = b.out[:0]
	start := 0
	for _, e := range b.ends {
		b.out = append(b.out, b.data[start:e:e])
		start = e
	}
	return b.out
}

func (b *batch) reset() {
	if cap(b.data) > 2*maxBatchBytes {
		b.data = nil // one huge batch does not pin its memory for ever
	}
	b.data, b.ends, b.out = b.data[:0], b.ends[:0], b.out[:0]
}

// backoff doubles a delay from min up to maxBackoff.
type backoff struct{ min, cur time.Duration }

func newBackoff(min time.Duration) backoff { return backoff{min: min} }

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, max(maxBackoff, b.min))
	}
	return b.cur
}

func (b *backoff) reset() { b.cur = 0 }

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

// stem is base without its extension: lumberjack's backup-name prefix.
func stem(base string) string { return strings.TrimSuffix(base, filepath.Ext(base)) }
