package ledger

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/cdewatch/cdewatch/internal/fsutil"
)

// Read-only access for copying a ledger elsewhere (internal/archive) and
// for rebuilding a ledger directory from such a copy. Nothing here changes
// an open ledger.

// Names of a ledger directory's files that a copy holds (FORMAT.md).
const (
	VerifierFile      = fileVerifier    // the note verifier key
	CheckpointFile    = fileCheckpoint  // the latest signed checkpoint
	CheckpointLogFile = fileCheckpoints // every signed checkpoint, length-prefixed
	TreeHashesFile    = fileHashes      // the stored tree hashes
	SegmentsDir       = dirSegments     // the directory of the segment files
)

// SegmentFileName is the file name, inside SegmentsDir, of the segment whose
// first record has sequence number first.
func SegmentFileName(first uint64) string { return segmentName(first) }

// Dir returns the ledger directory.
func (l *Ledger) Dir() string { return l.opts.Dir }

// SegmentFile is one segment file of an open ledger.
type SegmentFile struct {
	First uint64 // sequence number of its first record, which names it
	Path  string
}

// SegmentFiles returns the segment files, oldest first, without those
// whose records expired (Expire). All but the last
// have stopped growing, but records at their end may not all be committed
// yet: ReadCommitted says what is.
func (l *Ledger) SegmentFiles() []SegmentFile {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]SegmentFile, 0, len(l.segments))
	for _, s := range l.segments {
		if s.expired == nil {
			out = append(out, SegmentFile{First: s.first, Path: s.path})
		}
	}
	return out
}

// CommittedBytes is a run of whole blocks of one segment file, copied
// byte for byte, every record of which is committed (fsynced and hashed).
type CommittedBytes struct {
	Offset    int64  // byte offset in the segment file; 0 means Data starts with the segment header
	Data      []byte // the file's bytes from Offset
	FirstLeaf uint64 // sequence number of the first record in Data
	NextLeaf  uint64 // sequence number after the last record in Data
}

// ReadCommitted reads, from byte offset off of seg, the whole blocks whose
// records are all committed, as long as Data fits in maxBytes (but at least
// one block, which may be larger). off must be 0 or the end of a block, and
// leaf the sequence number of the record there (seg.First when off is 0).
// Every block's checksum and leaf numbers are checked, so damaged local data
// is reported, never copied. Data is empty when no committed block starts
// at off yet. buf is reused for Data if large enough.
func (l *Ledger) ReadCommitted(seg SegmentFile, off int64, leaf uint64, maxBytes int64, buf []byte) (CommittedBytes, error) {
	// Every block ending at or before size was completely written and
	// fsynced before size was published.
	size := l.Size()
	out := CommittedBytes{Offset: off, FirstLeaf: leaf, NextLeaf: leaf, Data: buf[:0]}
	f, err := os.Open(seg.Path)
	if err != nil {
		return out, fmt.Errorf("open segment: %w", err)
	}
	defer f.Close()
	pos := off
	if off == 0 {
		var hdr [segmentHdrSize]byte
		if _, err := f.ReadAt(hdr[:], 0); err != nil {
			return out, fmt.Errorf("segment %s: read header: %w", seg.Path, err)
		}
		if first, err := parseSegmentHeader(hdr[:]); err != nil || first != seg.First {
			return out, fmt.Errorf("segment %s: bad header (first %d): %v", seg.Path, first, err)
		}
		if leaf != seg.First {
			return out, fmt.Errorf("segment %s starts at leaf %d, not %d", seg.Path, seg.First, leaf)
		}
		out.Data = append(out.Data, hdr[:]...)
		pos = segmentHdrSize
	} else if off < segmentHdrSize {
		return out, fmt.Errorf("segment %s: offset %d is inside the header", seg.Path, off)
	}
	next := leaf
	for {
		var hdr [blockPrefixSize + blockHdrSize]byte
		if k, err := f.ReadAt(hdr[:], pos); k < len(hdr) {
			if k == 0 && errors.Is(err, io.EOF) {
				break
			}
			if errors.Is(err, io.EOF) {
				break // a block still being written
			}
			return out, fmt.Errorf("segment %s offset %d: %w", seg.Path, pos, err)
		}
		n := binary.BigEndian.Uint32(hdr[:4])
		first, count := binary.BigEndian.Uint64(hdr[8:16]), binary.BigEndian.Uint32(hdr[16:20])
		if first+uint64(count) > size || first+uint64(count) < first {
			break // not committed yet, or a torn tail past the committed leaves
		}
		if n < blockHdrSize || n > maxBlockBody {
			return out, fmt.Errorf("segment %s offset %d: %w: length %d", seg.Path, pos, errBadBlock, n)
		}
		total := int64(blockPrefixSize) + int64(n)
		if next != leaf && int64(len(out.Data))+total > maxBytes {
			break
		}
		start := len(out.Data)
		out.Data = append(out.Data, make([]byte, total)...)
		if _, err := f.ReadAt(out.Data[start:], pos); err != nil {
			return out, fmt.Errorf("segment %s offset %d (leaf %d): read committed block: %w", seg.Path, pos, first, err)
		}
		h, _, _, err := parseBlock(out.Data[start:])
		if err != nil {
			return out, fmt.Errorf("segment %s offset %d (leaf %d): committed block is damaged: %w; run `cdewatch verify`", seg.Path, pos, first, err)
		}
		if h.first != next {
			return out, fmt.Errorf("segment %s offset %d: %w: block starts at leaf %d, want %d", seg.Path, pos, errBadBlock, h.first, next)
		}
		next = h.first + uint64(h.count)
		pos += total
	}
	if next == leaf {
		out.Data = out.Data[:0] // a header alone holds nothing
	}
	out.NextLeaf = next
	return out, nil
}

// CheckpointLogEntry is one entry of the checkpoint log.
type CheckpointLogEntry struct {
	Offset int64  // byte offset of its length prefix in the log
	Size   uint64 // tree size it signs
	Note   []byte // the signed note
}

// ReadCheckpointLog returns the entries of the checkpoint log from byte
// offset off (0 or the end of an entry) that are durable, sign a tree of at
// most maxLeaves, and fit in maxBytes (at least one), together with the
// log's bytes holding them, copied as they are. An entry is durable when the
// latest checkpoint covers it: that checkpoint was published only after its
// log entry, and every earlier one, was fsynced. Every note's signature is
// checked with the ledger's key.
func (l *Ledger) ReadCheckpointLog(off int64, maxLeaves uint64, maxBytes int) ([]CheckpointLogEntry, []byte, error) {
	latest := l.LatestCheckpoint()
	if latest == nil {
		return nil, nil, nil
	}
	limit := min(latest.Size, maxLeaves)
	f, err := os.Open(filepath.Join(l.opts.Dir, fileCheckpoints))
	if err != nil {
		return nil, nil, fmt.Errorf("open checkpoint log: %w", err)
	}
	defer f.Close()
	r := bufio.NewReader(io.NewSectionReader(f, off, 1<<62))
	var out []CheckpointLogEntry
	var raw []byte
	pos := off
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			break // the end, or an entry being appended
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n > 1<<20 {
			return nil, nil, fmt.Errorf("checkpoint log entry at offset %d: length %d out of range", pos, n)
		}
		if len(out) > 0 && len(raw)+4+int(n) > maxBytes {
			break
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			break
		}
		cp, err := ParseCheckpoint(b, l.verifier)
		if err != nil {
			return nil, nil, fmt.Errorf("checkpoint log entry at offset %d does not verify with log.pub: %w; run `cdewatch verify`", pos, err)
		}
		if cp.Size > limit {
			break
		}
		out = append(out, CheckpointLogEntry{Offset: pos, Size: cp.Size, Note: b})
		raw = append(append(raw, hdr[:]...), b...)
		pos += 4 + int64(n)
	}
	return out, raw, nil
}

// RootAt returns the root hash of the tree of the first size leaves.
func (l *Ledger) RootAt(size uint64) ([]byte, error) {
	if cur := l.Size(); size > cur {
		return nil, fmt.Errorf("%w: root at size %d (tree has %d leaves)", ErrOutOfRange, size, cur)
	}
	h, err := tlog.TreeHash(int64(size), l.hashes)
	if err != nil {
		return nil, fmt.Errorf("root at size %d: %w", size, err)
	}
	return h[:], nil
}

// SplitCheckpointLog splits the bytes of a checkpoint log into its notes,
// without checking them. An incomplete last entry is an error.
func SplitCheckpointLog(b []byte) ([][]byte, error) {
	var out [][]byte
	for off := 0; off < len(b); {
		if len(b)-off < 4 {
			return out, fmt.Errorf("checkpoint log entry at offset %d: %w", off, errTornCheckpoint)
		}
		n := int(binary.BigEndian.Uint32(b[off:]))
		if n > 1<<20 {
			return out, fmt.Errorf("checkpoint log entry at offset %d: length %d out of range", off, n)
		}
		if len(b)-off-4 < n {
			return out, fmt.Errorf("checkpoint log entry at offset %d: %w", off, errTornCheckpoint)
		}
		out = append(out, b[off+4:off+4+n])
		off += 4 + n
	}
	return out, nil
}

// RebuildTreeHashes writes the tree hashes file of the ledger directory dir
// from its segments, as Open would, for a directory rebuilt from a copy
// (which need not hold the signing key that Open requires). The file must
// not exist yet. It returns the number of leaves hashed.
func RebuildTreeHashes(ctx context.Context, dir string) (uint64, error) {
	segs, err := listSegments(filepath.Join(dir, dirSegments))
	if err != nil {
		return 0, err
	}
	path := filepath.Join(dir, fileHashes)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, fmt.Errorf("create tree hashes: %w", err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	var tree treeBuilder
	var werr error
	write := func(_ int, _ uint64, h *tlog.Hash) {
		if werr == nil {
			_, werr = w.Write(h[:])
		}
	}
	dec := newDecoder()
	defer dec.Close()
	var plain []byte
	var n uint64
	l := &Ledger{}
	for _, seg := range segs {
		err := l.scanSegment(seg, 0, func(h blockHeader, payload []byte, off int64) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if h.first != n {
				return fmt.Errorf("segment %s offset %d: block starts at leaf %d, want %d", seg.path, off, h.first, n)
			}
			recs, p, err := decodeRecords(dec, payload, h.count, plain)
			plain = p
			if err != nil {
				return fmt.Errorf("segment %s offset %d (leaf %d): %w", seg.path, off, h.first, err)
			}
			for _, r := range recs {
				tree.append(tlog.RecordHash(r), write)
			}
			n += uint64(len(recs))
			return werr
		})
		if err != nil {
			return n, fmt.Errorf("rebuild tree hashes: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		return n, fmt.Errorf("write tree hashes: %w", err)
	}
	if err := f.Sync(); err != nil {
		return n, fmt.Errorf("fsync tree hashes: %w", err)
	}
	return n, fsutil.SyncDir(dir)
}

// TreeRootAt returns the root hash of the tree of the first size leaves of
// the ledger directory dir, from its stored tree hashes.
func TreeRootAt(dir string, size uint64) ([]byte, error) {
	path := filepath.Join(dir, fileHashes)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("tree hashes: %w", err)
	}
	hs, err := openHashStore(path)
	if err != nil {
		return nil, err
	}
	defer hs.close()
	if have := leavesCovered(hs.count); size > have {
		return nil, fmt.Errorf("%w: root at size %d (tree hashes cover %d leaves)", ErrOutOfRange, size, have)
	}
	h, err := tlog.TreeHash(int64(size), hs)
	if err != nil {
		return nil, fmt.Errorf("root at size %d: %w", size, err)
	}
	return h[:], nil
}
