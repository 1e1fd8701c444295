package filetail

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/cdewatch/cdewatch/internal/fsutil"
)

// stateVersion is the version of the state file written by this package.
const stateVersion = 1

// headBytes is how many bytes from the start of a file its fingerprint covers.
// The first line of a kube-apiserver audit log holds a unique auditID well
// within this, so two different files practically never share a fingerprint.
const headBytes = 1024

// state is the content of the state file; FORMAT.md documents it.
type state struct {
	Version    int       `json:"version"`
	Dev        uint64    `json:"dev"`
	Inode      uint64    `json:"inode"`
	Offset     int64     `json:"offset"`
	Path       string    `json:"path"`
	Seen       time.Time `json:"seen,omitzero"`
	HeadBytes  int64     `json:"head_bytes"`
	HeadSHA256 string    `json:"head_sha256,omitempty"`
}

// head is a fingerprint of the first n bytes of a file (none if n is 0). Device and inode
// numbers are reused once a file is deleted (lumberjack deletes each backup
// it compresses), so a persisted identity is trusted only when the
// fingerprint matches too.
type head struct {
	n   int64
	sum [sha256.Size]byte
}

// readHead fingerprints the first n bytes of f.
func readHead(f *os.File, n int64) (head, error) {
	h := head{n: n}
	if n == 0 {
		return h, nil
	}
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, 0); err != nil {
		if errors.Is(err, io.EOF) {
			return h, fmt.Errorf("file is shorter than its fingerprint (%d bytes)", n)
		}
		return h, err
	}
	h.sum = sha256.Sum256(buf)
	return h, nil
}

// matches reports whether f starts with the bytes h fingerprints. A read
// error counts as a mismatch. An empty fingerprint (n = 0) matches any file.
func (h head) matches(f *os.File) bool {
	if h.n == 0 {
		return true
	}
	got, err := readHead(f, h.n)
	return err == nil && bytes.Equal(got.sum[:], h.sum[:])
}

// loadState reads the state file at path. ok is false if there is none.
func loadState(path string) (st state, ok bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return state{}, false, nil
	}
	if err != nil {
		return state{}, false, fmt.Errorf("filetail: read state: %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return state{}, false, fmt.Errorf("filetail: state file %s: %w", path, err)
	}
	if st.Version != stateVersion {
		return state{}, false, fmt.Errorf("filetail: state file %s: unsupported version %d", path, st.Version)
	}
	if st.Offset < 0 || st.HeadBytes < 0 || st.HeadBytes > headBytes || st.HeadBytes > st.Offset {
		return state{}, false, fmt.Errorf("filetail: state file %s: inconsistent offset %d / head_bytes %d", path, st.Offset, st.HeadBytes)
	}
	if st.Dev == 0 && st.Inode == 0 && (st.Offset != 0 || st.Seen.IsZero()) {
		return state{}, false, fmt.Errorf("filetail: state file %s: no file identity but offset %d / no start time", path, st.Offset)
	}
	if _, err := st.head(); err != nil {
		return state{}, false, fmt.Errorf("filetail: state file %s: %w", path, err)
	}
	return st, true, nil
}

// head returns the fingerprint recorded in the state.
func (st state) head() (head, error) {
	h := head{n: st.HeadBytes}
	if st.HeadBytes == 0 {
		return h, nil
	}
	b, err := hex.DecodeString(st.HeadSHA256)
	if err != nil || len(b) != sha256.Size {
		return h, fmt.Errorf("bad head_sha256 %q", st.HeadSHA256)
	}
	copy(h.sum[:], b)
	return h, nil
}

// saveState writes st to path atomically: readers, and a restart after a
// crash, see the old or the new state, never a mix.
func saveState(path string, st state) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	data = append(data, '\n')
	return fsutil.WriteFileAtomic(path, data, 0o600)
}
