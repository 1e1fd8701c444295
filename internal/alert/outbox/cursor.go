package outbox

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cdewatch/cdewatch/internal/fsutil"
)

// cursorVersion is the version of cursor files.
const cursorVersion = 1

// cursorFile is the persisted progress of one notifier.
type cursorFile struct {
	Version  int    `json:"version"`
	Notifier string `json:"notifier"`
	// Next is the id of the first entry the notifier has not finished
	// with: every entry below was delivered, filtered out by its route,
	// suppressed by its throttle (and counted in Throttle) or recorded as
	// failed.
	Next     uint64        `json:"next"`
	Updated  time.Time     `json:"updated"`
	Throttle throttleState `json:"throttle,omitempty"`
}

func cursorPath(dir, name string) string {
	return filepath.Join(dir, dirCursors, name+".json")
}

// readCursor reads a cursor file; ok is false if there is none.
func readCursor(path string) (c cursorFile, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, false, nil
	}
	if err != nil {
		return c, false, fmt.Errorf("read cursor: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, false, fmt.Errorf("%w: cursor %s: %w", ErrCorrupt, path, err)
	}
	if c.Version != cursorVersion || c.Next == 0 {
		return c, false, fmt.Errorf("%w: cursor %s: version %d, next %d", ErrCorrupt, path, c.Version, c.Next)
	}
	if c.Throttle == nil {
		c.Throttle = throttleState{}
	}
	return c, true, nil
}

// writeCursor replaces a cursor file durably: write, fsync, rename, fsync
// the directory.
func writeCursor(path string, c cursorFile) error {
	c.Version = cursorVersion
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode cursor: %w", err)
	}
	if err := fsutil.WriteFileAtomic(path, b, 0o600); err != nil {
		return fmt.Errorf("write cursor %s: %w", path, err)
	}
	return nil
}

// FailedEntry is an alert a notifier gave up on, kept with its last error.
type FailedEntry struct {
	Notifier string `json:"notifier"`
	// ID is the outbox entry id; 0 for a throttling summary.
	ID       uint64    `json:"id"`
	Enqueued time.Time `json:"enqueued"`
	Failed   time.Time `json:"failed"`
	Attempts int       `json:"attempts"`
	// Reason is "rejected" (the receiver refused it: a permanent error),
	// "expired" (older than MaxAge while deliveries were failing) or
	// "undecodable" (the stored alert could not be decoded).
	Reason string          `json:"reason"`
	Error  string          `json:"error"`
	Alert  json.RawMessage `json:"alert"`
}

// failedLog is the append-only log of failed entries: records of
// uint32 length, uint32 CRC-32C of the JSON, JSON FailedEntry.
type failedLog struct {
	mu   sync.Mutex
	path string
	f    *os.File
}

// openFailedLog opens the log, truncating a torn or damaged tail (whose
// bytes are saved under damaged/). It returns the bytes removed.
func openFailedLog(dir string) (*failedLog, int64, error) {
	path := filepath.Join(dir, fileFailed)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("open failed log: %w", err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("read failed log: %w", err)
	}
	good, _ := scanFailed(b, nil)
	var cut int64
	if good < len(b) {
		cut = int64(len(b) - good)
		if err := saveDamaged(dir, fileFailed, int64(good), b[good:]); err != nil {
			f.Close()
			return nil, 0, err
		}
		if err := f.Truncate(int64(good)); err == nil {
			err = f.Sync()
		}
		if err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("truncate failed log: %w", err)
		}
	}
	if _, err := f.Seek(int64(good), io.SeekStart); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("seek failed log: %w", err)
	}
	return &failedLog{path: path, f: f}, cut, nil
}

// scanFailed decodes records from b, calling fn for each, and returns the
// length of the valid prefix.
func scanFailed(b []byte, fn func(FailedEntry)) (int, error) {
	off := 0
	for off+8 <= len(b) {
		n := int(binary.BigEndian.Uint32(b[off:]))
		if n > maxPayload+4096 || off+8+n > len(b) {
			return off, errShort
		}
		rec := b[off+8 : off+8+n]
		if crc32.Checksum(rec, castagnoli) != binary.BigEndian.Uint32(b[off+4:]) {
			return off, errCorrupt
		}
		var fe FailedEntry
		if err := json.Unmarshal(rec, &fe); err != nil {
			return off, errCorrupt
		}
		if fn != nil {
			fn(fe)
		}
		off += 8 + n
	}
	if off != len(b) {
		return off, errShort
	}
	return off, nil
}

// append writes records and fsyncs.
func (l *failedLog) append(es []FailedEntry) error {
	var b []byte
	for _, e := range es {
		rec, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode failed entry: %w", err)
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(rec)))
		b = binary.BigEndian.AppendUint32(b, crc32.Checksum(rec, castagnoli))
		b = append(b, rec...)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.Write(b); err != nil {
		return fmt.Errorf("append failed log: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("fsync failed log: %w", err)
	}
	return nil
}

// all reads every record.
func (l *failedLog) all() ([]FailedEntry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, err := os.ReadFile(l.path)
	if err != nil {
		return nil, fmt.Errorf("read failed log: %w", err)
	}
	var out []FailedEntry
	if _, err := scanFailed(b, func(e FailedEntry) { out = append(out, e) }); err != nil {
		return out, fmt.Errorf("%w: %s: %w", ErrCorrupt, l.path, err)
	}
	return out, nil
}

func (l *failedLog) close() error { return l.f.Close() }

// saveDamaged keeps bytes removed by recovery under damaged/, for
// forensics, durably.
func saveDamaged(dir, file string, off int64, b []byte) error {
	dd := filepath.Join(dir, dirDamaged)
	if err := os.MkdirAll(dd, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dd, err)
	}
	name := fmt.Sprintf("%s.%d.%d", file, off, time.Now().UnixNano())
	if err := fsutil.WriteFileAtomic(filepath.Join(dd, name), b, 0o600); err != nil {
		return fmt.Errorf("save damaged bytes: %w", err)
	}
	return nil
}
