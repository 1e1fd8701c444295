package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cdewatch/cdewatch/internal/fsutil"
)

// tombstoneFormat names the content of an expired segment's tombstone.
const tombstoneFormat = "cdewatch-expired-segment/1"

// ErrExpired marks a request for records whose payloads expired.
var ErrExpired = errors.New("ledger: records expired under the retention policy")

// Tombstone stands for a segment whose records expired (FORMAT.md, Expiry):
// the records are gone, their leaf hashes stay in the tree, so every
// checkpoint stays provable and inclusion proofs of other leaves still
// verify.
type Tombstone struct {
	Format     string    `json:"format"`
	First      uint64    `json:"first"`       // first leaf of the segment
	End        uint64    `json:"end"`         // one past its last leaf
	Bytes      int64     `json:"bytes"`       // size of the removed file
	SHA256     string    `json:"sha256"`      // hex, of the removed file
	LastCommit time.Time `json:"last_commit"` // commit time of its last block
	ExpiredAt  time.Time `json:"expired_at"`
	Reason     string    `json:"reason"`
}

// tombstoneName is the file name of the tombstone of the segment at first.
func tombstoneName(first uint64) string { return fmt.Sprintf("%020d.expired", first) }

func readTombstone(path string) (*Tombstone, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read tombstone: %w", err)
	}
	var t Tombstone
	if err := json.Unmarshal(b, &t); err != nil || t.Format != tombstoneFormat || t.End <= t.First {
		return nil, fmt.Errorf("tombstone %s is not a valid %s record", path, tombstoneFormat)
	}
	return &t, nil
}

// SegmentState describes one segment for the retention policy.
type SegmentState struct {
	First, End uint64 // leaves [First, End)
	Path       string
	Bytes      int64
	Sealed     bool // no longer appended to: may expire
	Expired    *Tombstone
}

// Segments returns every segment, oldest first.
func (l *Ledger) Segments() []SegmentState {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]SegmentState, len(l.segments))
	for i, s := range l.segments {
		end := l.size
		if i+1 < len(l.segments) {
			end = l.segments[i+1].first
		}
		out[i] = SegmentState{First: s.first, End: end, Path: s.path, Bytes: s.size, Sealed: i+1 < len(l.segments), Expired: s.expired}
	}
	return out
}

// Expire drops the records of the sealed segment starting at leaf first:
// it writes the segment's tombstone (write, fsync, rename), then removes
// the segment file. The leaf hashes stay, so the tree, every checkpoint and
// every proof stay valid; reads skip the expired leaves. The decision (the
// retention policy, legal holds) is the caller's; reason is kept in the
// tombstone. A crash between the two steps is completed at the next Open.
func (l *Ledger) Expire(first uint64, reason string) (*Tombstone, error) {
	l.expireMu.Lock()
	defer l.expireMu.Unlock()
	var seg segmentInfo
	var end uint64
	l.mu.RLock()
	i := -1
	for k, s := range l.segments {
		if s.first == first {
			i, seg = k, s
			break
		}
	}
	if i >= 0 && i+1 < len(l.segments) {
		end = l.segments[i+1].first
	}
	l.mu.RUnlock()
	switch {
	case i < 0:
		return nil, fmt.Errorf("expire: no segment starts at leaf %d", first)
	case seg.expired != nil:
		return seg.expired, nil
	case end == 0:
		return nil, fmt.Errorf("expire: segment %s is still being appended to", seg.path)
	}
	f, err := os.Open(seg.path)
	if err != nil {
		return nil, fmt.Errorf("expire: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("expire: read %s: %w", seg.path, err)
	}
	var last int64
	if err := l.scanSegment(seg, 0, func(b blockHeader, _ []byte, _ int64) error {
		last = b.commit
		return nil
	}); err != nil {
		return nil, fmt.Errorf("expire: segment %s does not read back whole (%w); it is not expired: run `cdewatch verify`", seg.path, err)
	}
	t := &Tombstone{Format: tombstoneFormat, First: first, End: end, Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil)),
		LastCommit: time.Unix(0, last).UTC(), ExpiredAt: l.opts.Now().UTC(), Reason: reason}
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(seg.path)
	tpath := filepath.Join(dir, tombstoneName(first))
	if err := fsutil.WriteFileAtomic(tpath, append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("expire: write tombstone: %w", err)
	}
	l.mu.Lock()
	l.segments[i].expired, l.segments[i].path = t, tpath
	l.mu.Unlock()
	if err := os.Remove(seg.path); err != nil {
		return nil, fmt.Errorf("expire: remove %s (its tombstone is written; the next start removes it): %w", seg.path, err)
	}
	if err := fsutil.SyncDir(dir); err != nil {
		return nil, fmt.Errorf("expire: %w", err)
	}
	return t, nil
}

// removeExpiredLeftovers removes segment files whose tombstone exists (an
// expiry interrupted between its two steps).
func removeExpiredLeftovers(dir string, segs []segmentInfo) error {
	for _, s := range segs {
		if s.expired == nil {
			continue
		}
		p := filepath.Join(dir, segmentName(s.first))
		if err := os.Remove(p); err == nil {
			if err := fsutil.SyncDir(dir); err != nil {
				return err
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("complete the expiry of %s: %w", p, err)
		}
	}
	return nil
}

// parseSegmentFileName returns the first leaf named by a segment or
// tombstone file name.
func parseSegmentFileName(name string) (first uint64, expired bool, ok bool) {
	base, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		base, ext = name[:i], name[i:]
	}
	if (ext != ".seg" && ext != ".expired") || len(base) != 20 {
		return 0, false, false
	}
	if _, err := fmt.Sscanf(base, "%020d", &first); err != nil || fmt.Sprintf("%020d", first) != base {
		return 0, false, false
	}
	return first, ext == ".expired", true
}
