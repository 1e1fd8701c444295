package outbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/cdewatch/cdewatch/internal/fsutil"
)

// On-disk constants; FORMAT.md documents them.
const (
	dirSegments  = "segments"
	dirCursors   = "cursors"
	dirDamaged   = "damaged"
	fileFailed   = "failed.log"
	fileLock     = "LOCK"
	segSuffix    = ".seg"
	segMagic     = "CDWOBX\x00\x01"
	segHeaderLen = 16
	// entryHeaderLen is length(4) crc(4) id(8) batch(8) enqueued(8).
	entryHeaderLen = 32
	// entryFixed is the part of an entry after the CRC field that is not
	// payload: id, batch, enqueued.
	entryFixed = 24
	// maxPayload bounds what a reader accepts, whatever MaxEntryBytes was
	// when the entry was written.
	maxPayload = 16 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// entry is one alert in the outbox.
type entry struct {
	id       uint64 // dense, from 1
	batch    uint64 // id of the first entry of the group commit that wrote it
	enqueued int64  // Unix nanoseconds
	payload  []byte // the alert, JSON
}

var (
	errShort   = errors.New("incomplete entry")
	errCorrupt = errors.New("damaged entry")
)

// appendEntry appends the encoding of one entry to b.
func appendEntry(b []byte, id, batch uint64, enqueued int64, payload []byte) []byte {
	start := len(b)
	b = binary.BigEndian.AppendUint32(b, uint32(entryFixed+len(payload)))
	b = binary.BigEndian.AppendUint32(b, 0) // CRC, below
	b = binary.BigEndian.AppendUint64(b, id)
	b = binary.BigEndian.AppendUint64(b, batch)
	b = binary.BigEndian.AppendUint64(b, uint64(enqueued))
	b = append(b, payload...)
	binary.BigEndian.PutUint32(b[start+4:], crc32.Checksum(b[start+8:], castagnoli))
	return b
}

// decodeEntry decodes the entry at the start of b and returns its size.
// errShort means b ends inside the entry (as far as its length field can
// be trusted); errCorrupt that the length is out of bounds, the checksum
// does not match or batch > id. The payload aliases b.
func decodeEntry(b []byte) (entry, int, error) {
	if len(b) < 8 {
		return entry{}, 0, errShort
	}
	length := binary.BigEndian.Uint32(b)
	if length < entryFixed || length-entryFixed > maxPayload {
		return entry{}, 0, fmt.Errorf("%w: length %d out of bounds", errCorrupt, length)
	}
	n := 8 + int(length)
	if len(b) < n {
		return entry{}, 0, errShort
	}
	if crc32.Checksum(b[8:n], castagnoli) != binary.BigEndian.Uint32(b[4:]) {
		return entry{}, 0, fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	e := entry{
		id:       binary.BigEndian.Uint64(b[8:]),
		batch:    binary.BigEndian.Uint64(b[16:]),
		enqueued: int64(binary.BigEndian.Uint64(b[24:])),
		payload:  b[entryHeaderLen:n],
	}
	if e.batch > e.id || e.batch == 0 {
		return entry{}, 0, fmt.Errorf("%w: batch %d after entry %d", errCorrupt, e.batch, e.id)
	}
	return e, n, nil
}

// segInfo is one segment file.
type segInfo struct {
	first uint64 // id of its first entry (its name)
	size  int64  // bytes, header included
}

func segName(first uint64) string { return fmt.Sprintf("%020d%s", first, segSuffix) }

func segHeader(first uint64) []byte {
	b := append([]byte(segMagic), make([]byte, 8)...)
	binary.BigEndian.PutUint64(b[8:], first)
	return b
}

// listSegments returns the segments in dir, by first id.
func listSegments(dir string) ([]segInfo, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	var segs []segInfo
	for _, de := range des {
		name := de.Name()
		if !strings.HasSuffix(name, segSuffix) {
			continue
		}
		first, err := strconv.ParseUint(strings.TrimSuffix(name, segSuffix), 10, 64)
		if err != nil || segName(first) != name {
			return nil, fmt.Errorf("%w: unexpected file %s in %s", ErrCorrupt, name, dir)
		}
		info, err := de.Info()
		if err != nil {
			return nil, fmt.Errorf("stat segment: %w", err)
		}
		segs = append(segs, segInfo{first: first, size: info.Size()})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].first < segs[j].first })
	return segs, nil
}

// createSegment writes a new segment holding only its header, durably.
func createSegment(dir string, first uint64) (*os.File, error) {
	path := filepath.Join(dir, segName(first))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	if _, err := f.Write(segHeader(first)); err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = fsutil.SyncDir(dir)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("create segment %s: %w", path, err)
	}
	return f, nil
}

// scanResult is what scanning a segment found.
type scanResult struct {
	next    uint64 // id after the last valid entry
	good    int64  // bytes up to the end of the last valid entry
	damage  error  // why scanning stopped before the end of the file, nil if it did not
	laterOK bool   // a valid entry of a later group commit follows the damage
}

// scanSegment checks a whole segment: header, then entries with
// contiguous ids from first. It stops at the first incomplete, damaged or
// out-of-sequence entry, and then looks beyond it for a valid entry written
// by a later group commit — evidence that the damaged entry had been
// acknowledged.
func scanSegment(path string, first uint64) (scanResult, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return scanResult{}, fmt.Errorf("read segment: %w", err)
	}
	r := scanResult{next: first, good: segHeaderLen}
	if len(b) < segHeaderLen || string(b[:8]) != segMagic || binary.BigEndian.Uint64(b[8:]) != first {
		r.good = 0
		r.damage = fmt.Errorf("%w: bad segment header", errCorrupt)
		return r, nil
	}
	off := segHeaderLen
	for off < len(b) {
		e, n, err := decodeEntry(b[off:])
		if err == nil && e.id != r.next {
			err = fmt.Errorf("%w: entry %d where %d was expected", errCorrupt, e.id, r.next)
		}
		if err != nil {
			r.damage = fmt.Errorf("offset %d: %w", off, err)
			r.laterOK = laterBatchFollows(b[off:], r.next)
			return r, nil
		}
		off += n
		r.next++
		r.good = int64(off)
	}
	return r, nil
}

// laterBatchFollows reports whether b holds, at some offset, a valid entry
// with an id above damaged whose group commit started above damaged too.
// Group commits are written one after the other, each after the previous
// one was fsynced: such an entry proves that the damaged entry was durable
// and acknowledged, so the damage is not a torn write.
func laterBatchFollows(b []byte, damaged uint64) bool {
	for off := 1; off+entryHeaderLen <= len(b); off++ {
		id := binary.BigEndian.Uint64(b[off+8:])
		batch := binary.BigEndian.Uint64(b[off+16:])
		if id <= damaged || batch <= damaged || batch > id || id-damaged > uint64(len(b)) {
			continue
		}
		if e, _, err := decodeEntry(b[off:]); err == nil && e.id == id {
			return true
		}
	}
	return false
}

// reader reads one notifier's entries in order, across segments, never
// beyond what has been committed.
type reader struct {
	dir string // segments directory
	f   *os.File
	seg segInfo // the segment f is
	off int64   // offset of entry id in f
	id  uint64  // next id to return
	buf []byte
}

func (r *reader) close() {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}

// read returns up to count entries from r.id on, below end, given the
// segments snapshot segs (their sizes bound what is read of each). Payloads
// are copies.
func (r *reader) read(segs []segInfo, end uint64, count int) ([]entry, error) {
	var out []entry
	for len(out) < count && r.id < end {
		cur := -1
		if r.f != nil {
			cur = slices.IndexFunc(segs, func(s segInfo) bool { return s.first == r.seg.first })
		}
		if cur < 0 || r.id < r.seg.first {
			// First read, or the segment was compacted away once read
			// to its end: open the one holding r.id.
			if err := r.open(segs); err != nil {
				return out, err
			}
			continue
		}
		limit := segs[cur].size
		if r.off >= limit {
			if cur+1 >= len(segs) || segs[cur+1].first != r.id {
				return out, fmt.Errorf("%w: segment %s ends at entry %d; no segment starts there", ErrCorrupt, segName(r.seg.first), r.id)
			}
			if err := r.open(segs); err != nil {
				return out, err
			}
			continue
		}
		n := min(limit-r.off, max(256<<10, int64(cap(r.buf))))
		if int64(cap(r.buf)) < n {
			r.buf = make([]byte, n)
		}
		buf := r.buf[:n]
		if _, err := r.f.ReadAt(buf, r.off); err != nil {
			return out, fmt.Errorf("read %s at %d: %w", segName(r.seg.first), r.off, err)
		}
		p := 0
		for p < len(buf) && len(out) < count && r.id < end {
			e, size, err := decodeEntry(buf[p:])
			if errors.Is(err, errShort) {
				if p == 0 { // one entry larger than the buffer
					need := int64(8 + int(beUint32(buf)))
					if r.off+need > limit {
						return out, fmt.Errorf("%w: %s at %d: entry beyond the committed end", ErrCorrupt, segName(r.seg.first), r.off)
					}
					r.buf = make([]byte, need)
				}
				break
			}
			if err == nil && e.id != r.id {
				err = fmt.Errorf("%w: entry %d where %d was expected", errCorrupt, e.id, r.id)
			}
			if err != nil {
				return out, fmt.Errorf("%w: %s at %d: %w", ErrCorrupt, segName(r.seg.first), r.off, err)
			}
			e.payload = append([]byte(nil), e.payload...)
			out = append(out, e)
			p += size
			r.off += int64(size)
			r.id++
		}
	}
	return out, nil
}

// open positions r at entry r.id: it opens the segment holding it and
// skips the entries before it.
func (r *reader) open(segs []segInfo) error {
	r.close()
	i := sort.Search(len(segs), func(i int) bool { return segs[i].first > r.id }) - 1
	if i < 0 {
		return fmt.Errorf("entry %d is older than the oldest segment", r.id)
	}
	f, err := os.Open(filepath.Join(r.dir, segName(segs[i].first)))
	if err != nil {
		return fmt.Errorf("open segment: %w", err)
	}
	r.f, r.seg, r.off = f, segs[i], segHeaderLen
	want := r.id
	r.id = segs[i].first
	for r.id < want { // skip, reading in chunks
		n := min(want-r.id, 4096)
		es, err := r.read(segs[:i+1], r.id+n, int(n))
		if err == nil && len(es) == 0 {
			err = fmt.Errorf("%w: segment %s has no entry %d", ErrCorrupt, segName(segs[i].first), want)
		}
		if err != nil {
			r.close()
			r.id = want
			return err
		}
	}
	return nil
}

func beUint32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }
