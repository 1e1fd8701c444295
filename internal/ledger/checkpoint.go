package ledger

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"github.com/cdewatch/cdewatch/internal/fsutil"
)

// File names inside a ledger directory (FORMAT.md).
const (
	fileSigner      = "log.key"         // note signer key, 0600
	fileVerifier    = "log.pub"         // note verifier key
	fileCheckpoint  = "checkpoint"      // latest signed checkpoint
	fileCheckpoints = "checkpoints.log" // every signed checkpoint, length-prefixed
	fileHashes      = "tree.hashes"     // stored Merkle hashes
	dirSegments     = "segments"
	fileLock        = "LOCK"
)

// timestampPrefix starts the checkpoint extension line carrying signing time.
const timestampPrefix = "timestamp "

// Checkpoint is a parsed, signature-checked checkpoint.
type Checkpoint struct {
	Size uint64
	Root []byte
	Time time.Time // signing time from the extension line; zero if absent
	Note []byte    // the signed note as served
}

// loadOrCreateKeys returns the ledger's signer and verifier. A new key pair
// is made only when create is true (a new ledger).
func loadOrCreateKeys(dir, origin string, create bool) (note.Signer, note.Verifier, error) {
	skPath := filepath.Join(dir, fileSigner)
	sk, err := os.ReadFile(skPath)
	if create && err == nil {
		// A crash while creating the keys can leave log.key without
		// log.pub; no checkpoint was signed with it (there is no segment).
		if _, perr := os.Stat(filepath.Join(dir, fileVerifier)); errors.Is(perr, os.ErrNotExist) {
			err = perr
		}
	}
	if errors.Is(err, os.ErrNotExist) && create {
		if origin == "" {
			var id [6]byte
			if _, err := rand.Read(id[:]); err != nil {
				return nil, nil, err
			}
			origin = fmt.Sprintf("cdewatch.local/%x", id)
		}
		skey, vkey, err := note.GenerateKey(rand.Reader, origin)
		if err != nil {
			return nil, nil, fmt.Errorf("generate checkpoint signing key for origin %q: %w", origin, err)
		}
		if err := fsutil.WriteFileAtomic(skPath, []byte(skey+"\n"), 0o600); err != nil {
			return nil, nil, fmt.Errorf("write signing key: %w", err)
		}
		if err := fsutil.WriteFileAtomic(filepath.Join(dir, fileVerifier), []byte(vkey+"\n"), 0o644); err != nil {
			return nil, nil, fmt.Errorf("write verifier key: %w", err)
		}
		sk = []byte(skey)
	} else if err != nil {
		return nil, nil, fmt.Errorf("read checkpoint signing key %s (a ledger with segments needs its key; restore it from backup): %w", skPath, err)
	}
	if st, err := os.Stat(skPath); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, nil, fmt.Errorf("signing key %s has mode %v: it must not be readable by group or others (chmod 600)", skPath, st.Mode().Perm())
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(sk)))
	if err != nil {
		return nil, nil, fmt.Errorf("parse signing key %s: %w", skPath, err)
	}
	vb, err := os.ReadFile(filepath.Join(dir, fileVerifier))
	if err != nil {
		return nil, nil, fmt.Errorf("read verifier key: %w", err)
	}
	verifier, err := note.NewVerifier(strings.TrimSpace(string(vb)))
	if err != nil {
		return nil, nil, fmt.Errorf("parse verifier key: %w", err)
	}
	if verifier.Name() != signer.Name() || verifier.KeyHash() != signer.KeyHash() {
		return nil, nil, errors.New("log.pub does not match log.key")
	}
	return signer, verifier, nil
}

// ReadVerifierKey returns the verifier key of the ledger in dir, in the
// golang.org/x/mod/sumdb/note text form ("<origin>+<hash>+<key>").
func ReadVerifierKey(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, fileVerifier))
	if err != nil {
		return "", fmt.Errorf("read verifier key: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// signCheckpoint makes the signed note for a tree of the given size and root.
func signCheckpoint(s note.Signer, size uint64, root []byte, now time.Time) ([]byte, error) {
	cp := log.Checkpoint{Origin: s.Name(), Size: size, Hash: root}
	text := string(cp.Marshal()) + timestampPrefix + strconv.FormatInt(now.Unix(), 10) + "\n"
	return note.Sign(&note.Note{Text: text}, s)
}

// ParseCheckpoint checks a signed checkpoint note against the verifier.
func ParseCheckpoint(b []byte, v note.Verifier) (*Checkpoint, error) {
	cp, ext, _, err := log.ParseCheckpoint(b, v.Name(), v)
	if err != nil {
		return nil, err
	}
	out := &Checkpoint{Size: cp.Size, Root: cp.Hash, Note: b}
	for _, line := range strings.Split(string(ext), "\n") {
		if ts, ok := strings.CutPrefix(line, timestampPrefix); ok {
			sec, err := strconv.ParseInt(ts, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("checkpoint timestamp %q: %w", ts, err)
			}
			out.Time = time.Unix(sec, 0).UTC()
		}
	}
	return out, nil
}

// checkpointLog is the append-only file of every checkpoint signed.
type checkpointLog struct {
	f *os.File
}

func openCheckpointLog(dir string) (*checkpointLog, error) {
	f, err := os.OpenFile(filepath.Join(dir, fileCheckpoints), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open checkpoint log: %w", err)
	}
	return &checkpointLog{f: f}, nil
}

func (c *checkpointLog) append(n []byte) error {
	b := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(n)), uint32(len(n)))
	b = append(b, n...)
	if _, err := c.f.Write(b); err != nil {
		return fmt.Errorf("append checkpoint: %w", err)
	}
	if err := c.f.Sync(); err != nil {
		return fmt.Errorf("fsync checkpoint log: %w", err)
	}
	return nil
}

// checkpointEntry is one stored checkpoint note and its byte offset in the log.
type checkpointEntry struct {
	Offset int64
	Note   []byte
}

// errTornCheckpoint marks an incomplete final entry of the checkpoint log.
var errTornCheckpoint = errors.New("incomplete final checkpoint entry")

// readCheckpointLog returns every entry. A truncated final entry is returned
// as errTornCheckpoint together with the complete entries before it.
func readCheckpointLog(path string) ([]checkpointEntry, int64, error) {
	return readCheckpointLogFrom(path, 0)
}

// readCheckpointLogFrom is readCheckpointLog for the entries from byte
// offset off (an entry boundary) on; the int64 is the offset after the last
// complete entry.
func readCheckpointLogFrom(path string, off int64) ([]checkpointEntry, int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, off, nil
	}
	if err != nil {
		return nil, off, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, off, err
	}
	r := bufio.NewReader(f)
	var out []checkpointEntry
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(r, hdr[:]); err == io.EOF {
			return out, off, nil
		} else if err != nil {
			return out, off, errTornCheckpoint
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n > 1<<20 {
			return out, off, fmt.Errorf("checkpoint log entry at offset %d: length %d out of range", off, n)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return out, off, errTornCheckpoint
		}
		out = append(out, checkpointEntry{Offset: off, Note: b})
		off += 4 + int64(n)
	}
}
