package ledger

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cdewatch/cdewatch/internal/fsutil"
	"github.com/fsnotify/fsnotify"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Damage is a change to stored ledger data found by the integrity monitor.
type Damage struct {
	File      string `json:"file"`       // the file concerned (path)
	Offset    int64  `json:"offset"`     // byte offset in File; -1 when not known
	FirstLeaf uint64 `json:"first_leaf"` // first leaf of the damaged range
	EndLeaf   uint64 `json:"end_leaf"`   // one past its last leaf; == FirstLeaf when no leaf is concerned
	Reason    string `json:"reason"`
}

// Error describes the damage: the leaf range, the place, the reason.
func (d Damage) Error() string {
	where := d.File
	if d.Offset >= 0 {
		where += fmt.Sprintf(" offset %d", d.Offset)
	}
	if d.EndLeaf > d.FirstLeaf {
		return fmt.Sprintf("leaves %d..%d (%s): %s", d.FirstLeaf, d.EndLeaf-1, where, d.Reason)
	}
	return fmt.Sprintf("%s: %s", where, d.Reason)
}

// PassResult reports a completed full re-verification pass.
type PassResult struct {
	Started, Finished time.Time
	Leaves            uint64 // the tree size verified (a signed checkpoint's)
	Bytes             int64  // segment bytes re-read
	OK                bool   // every record and stored hash matched and the root matched the signature
}

// MonitorOptions configure a Monitor.
type MonitorOptions struct {
	// Interval between checks; default 30s. Each check compares every
	// segment file's metadata with what it was (any write to a sealed
	// segment changes its ctime, which no user can set back), re-reads what
	// was appended since the last check, re-checksums the active segment,
	// and checks the checkpoint files and the root of the stored tree.
	Interval time.Duration
	// FullPass bounds how long a full re-verification of every stored byte
	// takes (records re-hashed, every stored tree hash compared, the root
	// compared with a signed checkpoint); default 24h. Each check does a
	// share of it.
	FullPass time.Duration
	// MinPassBytes is the least each check re-reads of the full pass;
	// default 4 MiB.
	MinPassBytes int64
	// Verifier is the trusted checkpoint key; nil: the ledger's own.
	Verifier note.Verifier
	// StateFile keeps the segments' metadata and the pass position across
	// restarts, so that a change made while the monitor was not running is
	// found at the first check; "": kept in memory only.
	StateFile string
	// OnDamage is called once for each damage found (from the monitor's
	// goroutine).
	OnDamage func(Damage)
	// OnPass is called when a full pass ends.
	OnPass func(PassResult)
	Now    func() time.Time
	Logger *slog.Logger
}

// Monitor re-verifies a ledger's stored data while it runs (PCI DSS 10.3.4:
// file-integrity monitoring of audit logs), so that an alteration is found
// within one Interval for the data most at risk and within FullPass for
// every byte. Appending never counts as a change. It only reads.
type Monitor struct {
	l        *Ledger
	o        MonitorOptions
	st       monitorState
	reported map[string]bool
	active   activeSegment
	cpLogEnd int64 // checkpoints.log: entries before this offset were checked
	dec      *zstd.Decoder
	plain    []byte
	found    []Damage // reported by the current check
	byDigest int      // blocks checked by their digest (tests)
	rd       *bufio.Reader
	blockBuf []byte
}

// monitorState is the StateFile's content.
type monitorState struct {
	// Segments holds the metadata of every sealed segment, by file name.
	Segments map[string]fileID `json:"segments"`
	Pass     passState         `json:"pass"`
}

// passState is the position of the full pass.
type passState struct {
	Started time.Time `json:"started,omitzero"`
	Target  uint64    `json:"target"`      // tree size verified by this pass; 0: none running
	Root    string    `json:"root"`        // hex, signed root at Target
	Leaf    uint64    `json:"leaf"`        // next leaf to re-hash
	Segment uint64    `json:"segment"`     // first leaf of the segment being read
	Offset  int64     `json:"offset"`      // byte offset of the next block in it
	Stack   []string  `json:"stack"`       // hex, the tree builder's complete subtrees
	Bytes   int64     `json:"bytes"`       // read so far
	HashIdx int64     `json:"stored_hash"` // next stored hash to compare
}

// activeSegment tracks the verified prefix of the segment being appended to.
type activeSegment struct {
	first  uint64
	end    int64 // verified bytes
	leaf   uint64
	blocks []blockSum
}

type blockSum struct {
	off   int64
	n     int64 // bytes, prefix included
	crc   uint32
	first uint64
	count uint32
}

// NewMonitor returns an integrity monitor of l.
func (l *Ledger) NewMonitor(o MonitorOptions) *Monitor {
	if o.Interval <= 0 {
		o.Interval = 30 * time.Second
	}
	if o.FullPass <= 0 {
		o.FullPass = 24 * time.Hour
	}
	if o.MinPassBytes <= 0 {
		o.MinPassBytes = 4 << 20
	}
	if o.Verifier == nil {
		o.Verifier = l.verifier
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Monitor{l: l, o: o, reported: map[string]bool{}, dec: newDecoder(),
		st: monitorState{Segments: map[string]fileID{}}}
}

// Run checks every Interval until ctx ends. Between checks it watches
// the ledger directory and checks the published checkpoint as soon as the
// file changes, before the ledger's next signing could replace a forged
// one.
func (m *Monitor) Run(ctx context.Context) error {
	if err := m.load(); err != nil {
		return err
	}
	var events chan fsnotify.Event
	if w, err := fsnotify.NewWatcher(); err != nil {
		m.o.Logger.Warn("cannot watch the ledger directory; checking every interval only", "err", err)
	} else {
		defer w.Close()
		if err := w.Add(m.l.opts.Dir); err != nil {
			m.o.Logger.Warn("cannot watch the ledger directory; checking every interval only", "err", err)
		} else {
			events = w.Events
		}
	}
	t := time.NewTicker(m.o.Interval)
	defer t.Stop()
	m.Check(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			m.Check(ctx)
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if filepath.Base(ev.Name) == fileCheckpoint && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename|fsnotify.Remove) != 0 {
				m.found = nil
				m.l.mu.RLock()
				cp := m.l.checkpoint
				m.l.mu.RUnlock()
				m.checkPublished(cp)
			}
		}
	}
}

// load reads the state file, if any.
func (m *Monitor) load() error {
	if m.o.StateFile == "" {
		return nil
	}
	b, err := os.ReadFile(m.o.StateFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read integrity monitor state: %w", err)
	}
	var st monitorState
	if err := json.Unmarshal(b, &st); err != nil {
		m.o.Logger.Warn("integrity monitor state unreadable; starting afresh", "file", m.o.StateFile, "err", err)
		return nil
	}
	if st.Segments == nil {
		st.Segments = map[string]fileID{}
	}
	m.st = st
	return nil
}

func (m *Monitor) save() {
	if m.o.StateFile == "" {
		return
	}
	b, err := json.Marshal(m.st)
	if err == nil {
		err = os.MkdirAll(filepath.Dir(m.o.StateFile), 0o700)
	}
	if err == nil {
		err = fsutil.WriteFileAtomic(m.o.StateFile, b, 0o600)
	}
	if err != nil {
		m.o.Logger.Error("could not save integrity monitor state", "err", err)
	}
}

// report reports a damage once per place.
func (m *Monitor) report(d Damage) {
	// One report per place, whichever check finds it first.
	key := fmt.Sprintf("%s|%d|%d", d.File, d.Offset, d.FirstLeaf)
	if m.reported[key] {
		return
	}
	m.reported[key] = true
	m.found = append(m.found, d)
	m.o.Logger.Error("ledger integrity damage", "damage", d.Error())
	if m.o.OnDamage != nil {
		m.o.OnDamage(d)
	}
}

// Check runs one round of checks and returns the damage it newly found.
func (m *Monitor) Check(ctx context.Context) []Damage {
	m.found = nil
	report := m.report
	m.l.mu.RLock()
	segs := append([]segmentInfo(nil), m.l.segments...)
	size := m.l.size
	cp := m.l.checkpoint
	m.l.mu.RUnlock()

	m.checkSegments(segs, size, report)
	if cp != nil {
		m.checkHashes(cp, report)
	}
	m.checkCheckpoints(cp, report)
	if cp != nil && ctx.Err() == nil {
		m.pass(ctx, segs, cp, report)
	}
	m.save()
	return m.found
}

// checkSegments compares every segment file with what the ledger committed.
func (m *Monitor) checkSegments(segs []segmentInfo, size uint64, report func(Damage)) {
	known := map[string]bool{}
	for i, seg := range segs {
		name := filepath.Base(seg.path)
		known[name] = true
		end := size
		if i+1 < len(segs) {
			end = segs[i+1].first
		}
		id, err := statID(seg.path)
		if err != nil && seg.expired == nil && m.l.expiredNow(seg.first) {
			continue // expired since the snapshot: checked as a tombstone next time
		}
		if err != nil {
			report(Damage{File: seg.path, Offset: -1, FirstLeaf: seg.first, EndLeaf: end, Reason: "segment file missing or unreadable: " + err.Error()})
			continue
		}
		if i == len(segs)-1 {
			m.checkActive(seg, end, report)
			continue
		}
		prev, seen := m.st.Segments[name]
		if seg.expired != nil {
			if seen && prev != id {
				if t, err := readTombstone(seg.path); err != nil || *t != *seg.expired {
					report(Damage{File: seg.path, Offset: -1, FirstLeaf: seg.first, EndLeaf: end, Reason: "the tombstone of expired leaves was altered"})
				}
			}
			m.st.Segments[name] = id
			continue
		}
		if seen && prev == id {
			continue
		}
		if !seen && (m.active.end == 0 || m.active.first != seg.first) {
			// First sight (a new monitor): the full pass covers it.
			m.st.Segments[name] = id
			continue
		}
		// Just sealed (finish what the active check had not read), or
		// written to since it was sealed (check it all).
		from, leaf, sums := int64(segmentHdrSize), seg.first, []blockSum(nil)
		if !seen {
			from, leaf, sums = m.active.end, m.active.leaf, m.active.blocks
		}
		intact := m.verifyBlocks(seg, from, leaf, end, sums, report)
		switch {
		case id.Size > seg.size:
			report(Damage{File: seg.path, Offset: seg.size, FirstLeaf: end, EndLeaf: end,
				Reason: fmt.Sprintf("%d bytes were added to a sealed segment", id.Size-seg.size)})
		case intact && seen:
			m.o.Logger.Warn("sealed segment metadata changed; its content is intact", "segment", seg.path)
		}
		m.st.Segments[name] = id
	}
	for name := range m.st.Segments {
		if !known[name] {
			delete(m.st.Segments, name) // expired: its tombstone is known instead
		}
	}
	ents, err := os.ReadDir(filepath.Join(m.l.opts.Dir, dirSegments))
	if err != nil {
		report(Damage{File: filepath.Join(m.l.opts.Dir, dirSegments), Offset: -1, Reason: "segment directory unreadable: " + err.Error()})
		return
	}
	// Files listed before this second look were written by the ledger if
	// it lists them now, or is creating them (first leaf at its size).
	m.l.mu.RLock()
	for _, s := range m.l.segments {
		known[filepath.Base(s.path)] = true
	}
	size = m.l.size
	m.l.mu.RUnlock()
	for _, e := range ents {
		var first uint64
		if _, err := fmt.Sscanf(e.Name(), "%020d.seg", &first); err == nil && first >= size {
			continue // being created by a rotation (not yet listed): checked next time
		}
		if strings.HasSuffix(e.Name(), ".seg") && !known[e.Name()] {
			report(Damage{File: filepath.Join(m.l.opts.Dir, dirSegments, e.Name()), Offset: -1, Reason: "a segment file the ledger did not write appeared"})
		}
	}
}

// checkActive re-checksums the verified prefix of the segment being
// appended to, against the checksums seen when it was first read, then
// verifies what was committed since.
func (m *Monitor) checkActive(seg segmentInfo, end uint64, report func(Damage)) {
	if m.active.first != seg.first || m.active.end == 0 {
		m.active = activeSegment{first: seg.first, end: segmentHdrSize, leaf: seg.first}
	}
	if id, err := statID(seg.path); err == nil && id.Size < max(seg.size, m.active.end) {
		report(m.truncation(seg, id.Size, end))
		return
	}
	if len(m.active.blocks) > 0 {
		f, err := os.Open(seg.path)
		if err != nil {
			report(Damage{File: seg.path, Offset: -1, FirstLeaf: seg.first, EndLeaf: end, Reason: "segment unreadable: " + err.Error()})
			return
		}
		m.recheck(f, seg, end, m.active.blocks, m.active.end, report)
		f.Close()
	}
	if seg.size > m.active.end {
		m.verifyBlocks(seg, m.active.end, m.active.leaf, end, nil, report)
	}
}

// recheck compares the segment header, and the checksums of the blocks
// in sums (read before, all below size bytes) with the ones first read.
// It reports whether both were unchanged.
func (m *Monitor) recheck(f *os.File, seg segmentInfo, end uint64, sums []blockSum, size int64, report func(Damage)) bool {
	ok := true
	var hdr [segmentHdrSize]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		ok = false
		report(Damage{File: seg.path, Offset: 0, FirstLeaf: seg.first, EndLeaf: end, Reason: "segment header unreadable: " + err.Error()})
	} else if first, err := parseSegmentHeader(hdr[:]); err != nil || first != seg.first {
		ok = false
		report(Damage{File: seg.path, Offset: 0, FirstLeaf: seg.first, EndLeaf: end, Reason: "segment header altered"})
	}
	if len(sums) == 0 {
		return ok
	}
	r := m.newBlockReader(f, sums[0].off, size)
	for _, b := range sums {
		blk, err := r.blockAt(b.off, b.n)
		if err != nil || binary.BigEndian.Uint32(blk[4:8]) != b.crc || crc32.Checksum(blk[blockPrefixSize:], castagnoli) != b.crc {
			ok = false
			report(Damage{File: seg.path, Offset: b.off, FirstLeaf: b.first, EndLeaf: b.first + uint64(b.count),
				Reason: "block changed after it was committed (checksum differs from the one first read)"})
		}
	}
	return ok
}

// verifyBlocks re-reads the committed blocks of seg from byte offset from
// (where leaf starts) to seg.size: framing, checksums, continuity, and each
// block against the digest the ledger kept of it when it wrote it or,
// without one, each record's hash against its stored leaf hash, reporting
// every damage it can tell apart (it goes on past a bad block whose length
// and leaf numbers are intact). For the active segment the verified prefix
// advances. sums are checksums of blocks before from, to compare again.
// It reads one block at a time, never the whole segment. It reports
// whether everything was intact.
func (m *Monitor) verifyBlocks(seg segmentInfo, from int64, leaf, end uint64, sums []blockSum, report func(Damage)) bool {
	ok := true
	bad := func(d Damage) { ok = false; report(d) }
	f, err := os.Open(seg.path)
	var st os.FileInfo
	if err == nil {
		defer f.Close()
		st, err = f.Stat()
	}
	if err != nil {
		bad(Damage{File: seg.path, Offset: -1, FirstLeaf: leaf, EndLeaf: end, Reason: "segment unreadable: " + err.Error()})
		return false
	}
	if !m.recheck(f, seg, end, sums, st.Size(), report) {
		ok = false
	}
	hashes, err := os.Open(filepath.Join(m.l.opts.Dir, fileHashes))
	if err != nil {
		bad(Damage{File: filepath.Join(m.l.opts.Dir, fileHashes), Offset: -1, Reason: "tree hashes unreadable: " + err.Error()})
		return false
	}
	defer hashes.Close()
	active := m.active.end > 0 && m.active.first == seg.first
	limit := min(st.Size(), seg.size)
	r := m.newBlockReader(f, from, limit)
	off := from
	for off < limit {
		h, payload, total, err := parseBlock(r.next())
		if errors.Is(err, errShortBlock) {
			break
		}
		if err == nil && h.first != leaf {
			err = fmt.Errorf("%w: block starts at leaf %d, want %d", errBadBlock, h.first, leaf)
		}
		var stored []tlog.Hash
		if err == nil {
			var missing uint64
			if stored, missing, err = readLeafHashes(hashes, leaf, h.count); err != nil {
				bad(Damage{File: hashes.Name(), Offset: -1, FirstLeaf: missing, EndLeaf: end, Reason: err.Error()})
				return false
			}
		}
		written, known := m.l.digests.get(leaf)
		switch {
		case err == nil && known && digestBlock(r.last, stored) == written:
			m.byDigest++ // the block and its leaf hashes as written
		case err == nil:
			var recs [][]byte
			if recs, m.plain, err = decodeRecords(m.dec, payload, h.count, m.plain); err != nil {
				break
			}
			intact := true
			for i, rec := range recs {
				if tlog.RecordHash(rec) != stored[i] {
					intact = false
					n := leaf + uint64(i)
					bad(Damage{File: seg.path, Offset: off, FirstLeaf: n, EndLeaf: n + 1,
						Reason: "record does not match its stored leaf hash: the record or tree.hashes was altered"})
				}
			}
			if intact && known {
				// Its records match their leaf hashes, yet the block or
				// the hashes differ from what was written.
				bad(Damage{File: seg.path, Offset: off, FirstLeaf: leaf, EndLeaf: leaf + uint64(h.count),
					Reason: "block changed after it was committed (its SHA-256 with its leaf hashes differs from the one written)"})
			}
		}
		if err != nil {
			// Go on past it if its length and leaf numbers still hold.
			if total <= 0 { // r.last holds the whole block otherwise
				bad(Damage{File: seg.path, Offset: off, FirstLeaf: leaf, EndLeaf: end, Reason: err.Error()})
				return false
			}
			rawFirst := binary.BigEndian.Uint64(r.last[8:16])
			rawCount := binary.BigEndian.Uint32(r.last[16:20])
			if rawFirst != leaf || rawCount == 0 {
				bad(Damage{File: seg.path, Offset: off, FirstLeaf: leaf, EndLeaf: end, Reason: err.Error()})
				return false
			}
			bad(Damage{File: seg.path, Offset: off, FirstLeaf: leaf, EndLeaf: leaf + uint64(rawCount), Reason: err.Error()})
			leaf += uint64(rawCount)
			off += int64(total)
			continue
		}
		if active {
			m.active.blocks = append(m.active.blocks, blockSum{off: off, n: int64(total),
				crc: binary.BigEndian.Uint32(r.last[4:8]), first: h.first, count: h.count})
			m.active.end, m.active.leaf = off+int64(total), leaf+uint64(h.count)
		}
		leaf += uint64(h.count)
		off += int64(total)
	}
	if off < seg.size {
		bad(Damage{File: seg.path, Offset: off, FirstLeaf: leaf, EndLeaf: end,
			Reason: fmt.Sprintf("segment truncated to %d bytes; %d were committed", st.Size(), seg.size)})
	}
	return ok
}

// blockReader reads a segment file's consecutive blocks through one
// buffer, so that checking a segment holds one block in memory, not the
// file.
type blockReader struct {
	m    *Monitor
	f    *os.File
	off  int64 // file offset of the next byte the buffer gives
	end  int64 // nothing at or past it is read
	last []byte
}

func (m *Monitor) newBlockReader(f *os.File, off, end int64) *blockReader {
	r := &blockReader{m: m, f: f, end: end}
	r.seek(off)
	return r
}

func (r *blockReader) seek(off int64) {
	sec := io.NewSectionReader(r.f, off, max(r.end-off, 0))
	if r.m.rd == nil {
		r.m.rd = bufio.NewReaderSize(sec, 1<<20)
	} else {
		r.m.rd.Reset(sec)
	}
	r.off = off
}

// read returns the next n bytes (fewer at the end), valid until the next
// read.
func (r *blockReader) read(n int64) []byte {
	if int64(cap(r.m.blockBuf)) < n {
		r.m.blockBuf = make([]byte, n)
	}
	k, _ := io.ReadFull(r.m.rd, r.m.blockBuf[:n])
	r.off += int64(k)
	r.last = r.m.blockBuf[:k]
	return r.last
}

// next returns the block at the reader's offset, as long as its length
// field says: parseBlock checks it, and reports a block that extends past
// the end (of which only the prefix is returned) as short.
func (r *blockReader) next() []byte {
	pre, _ := r.m.rd.Peek(blockPrefixSize)
	if len(pre) < blockPrefixSize {
		r.last = pre
		return pre
	}
	n := int64(blockPrefixSize) + int64(binary.BigEndian.Uint32(pre))
	if n < blockPrefixSize+blockHdrSize || n > blockPrefixSize+maxBlockBody || r.off+n > r.end {
		r.last = pre
		return pre
	}
	return r.read(n)
}

// blockAt returns the n bytes of the block at off; an error when the file
// ends before.
func (r *blockReader) blockAt(off, n int64) ([]byte, error) {
	if off != r.off {
		r.seek(off)
	}
	if b := r.read(n); int64(len(b)) == n {
		return b, nil
	}
	return nil, fmt.Errorf("segment ends before byte %d", off+n)
}

// truncation describes a segment found shorter than committed: the leaves
// from the first block it no longer holds whole.
func (m *Monitor) truncation(seg segmentInfo, have int64, end uint64) Damage {
	d := Damage{File: seg.path, Offset: have, FirstLeaf: seg.first, EndLeaf: end,
		Reason: fmt.Sprintf("segment truncated to %d bytes; %d were committed", have, seg.size)}
	f, err := os.Open(seg.path)
	if err != nil {
		return d
	}
	defer f.Close()
	var hdr [blockPrefixSize + blockHdrSize]byte
	off, leaf := int64(segmentHdrSize), seg.first
	for {
		if _, err := f.ReadAt(hdr[:], off); err != nil {
			break
		}
		n := int64(binary.BigEndian.Uint32(hdr[:4]))
		first, count := binary.BigEndian.Uint64(hdr[8:16]), binary.BigEndian.Uint32(hdr[16:20])
		if first != leaf || off+blockPrefixSize+n > have {
			break
		}
		off, leaf = off+blockPrefixSize+n, leaf+uint64(count)
	}
	d.FirstLeaf, d.Offset = leaf, off
	return d
}

// checkHashes checks that tree.hashes is the file the ledger writes, is not
// shorter than the checkpoint needs, and yields the signed root.
func (m *Monitor) checkHashes(cp *Checkpoint, report func(Damage)) {
	path := filepath.Join(m.l.opts.Dir, fileHashes)
	id, err := statID(path)
	if err != nil {
		report(Damage{File: path, Offset: -1, FirstLeaf: 0, EndLeaf: cp.Size, Reason: "tree hashes missing or unreadable: " + err.Error()})
		return
	}
	if own, err := fileIDOf(m.l.hashes.f); err == nil && !own.sameFile(id) {
		report(Damage{File: path, Offset: -1, FirstLeaf: 0, EndLeaf: cp.Size, Reason: "tree.hashes was replaced by another file"})
		return
	}
	if need := tlog.StoredHashCount(int64(cp.Size)) * tlog.HashSize; id.Size < need {
		report(Damage{File: path, Offset: id.Size, FirstLeaf: leavesCovered(id.Size / tlog.HashSize), EndLeaf: cp.Size,
			Reason: fmt.Sprintf("tree hashes truncated to %d bytes; the signed checkpoint needs %d", id.Size, need)})
		return
	}
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	root, err := tlog.TreeHash(int64(cp.Size), &hashStore{f: f})
	if err != nil || !bytes.Equal(root[:], cp.Root) {
		report(Damage{File: path, Offset: -1, FirstLeaf: 0, EndLeaf: cp.Size,
			Reason: fmt.Sprintf("the root of the stored tree at size %d differs from the signed checkpoint: stored tree hashes were altered", cp.Size)})
	}
}

// checkCheckpoints checks the published checkpoint against the ledger's
// latest, and every checkpoint appended to the log since the last check.
func (m *Monitor) checkCheckpoints(latest *Checkpoint, report func(Damage)) {
	m.checkPublished(latest)
	logPath := filepath.Join(m.l.opts.Dir, fileCheckpoints)
	if st, err := os.Stat(logPath); err != nil || st.Size() < m.cpLogEnd {
		size := int64(0)
		if err == nil {
			size = st.Size()
		}
		report(Damage{File: logPath, Offset: size, Reason: fmt.Sprintf("checkpoint log shrank to %d bytes from at least %d", size, m.cpLogEnd)})
		return
	}
	from := m.cpLogEnd
	ents, next, err := readCheckpointLogFrom(logPath, from)
	if err != nil && !errors.Is(err, errTornCheckpoint) {
		report(Damage{File: logPath, Offset: next, Reason: err.Error()})
		return
	}
	if d := m.checkCheckpointEntries(logPath, ents); d != nil {
		report(*d)
		return
	}
	m.cpLogEnd = next
}

// checkPublished checks the published checkpoint file against the
// ledger's latest checkpoint.
func (m *Monitor) checkPublished(latest *Checkpoint) {
	report := m.report
	path := filepath.Join(m.l.opts.Dir, fileCheckpoint)
	b, err := os.ReadFile(path)
	switch {
	case err != nil && latest != nil:
		report(Damage{File: path, Offset: -1, Reason: "published checkpoint missing or unreadable: " + err.Error()})
	case err == nil:
		cp, perr := ParseCheckpoint(b, m.o.Verifier)
		switch {
		case perr != nil:
			report(Damage{File: path, Offset: -1, Reason: "published checkpoint replaced: it does not verify with the trusted key: " + perr.Error()})
		case latest != nil && cp.Size < latest.Size:
			report(Damage{File: path, Offset: -1, FirstLeaf: cp.Size, EndLeaf: latest.Size,
				Reason: fmt.Sprintf("published checkpoint rolled back to size %d; the ledger has signed size %d", cp.Size, latest.Size)})
		case latest != nil && cp.Size == latest.Size && !bytes.Equal(cp.Root, latest.Root):
			report(Damage{File: path, Offset: -1, Reason: "published checkpoint has another root than the one the ledger signed at the same size"})
		}
	}
}

// checkCheckpointEntries checks each entry's signature and that its root is
// the stored tree's at its size.
func (m *Monitor) checkCheckpointEntries(logPath string, ents []checkpointEntry) *Damage {
	if len(ents) == 0 {
		return nil
	}
	f, err := os.Open(filepath.Join(m.l.opts.Dir, fileHashes))
	if err != nil {
		return nil // reported by checkHashes
	}
	defer f.Close()
	for _, e := range ents {
		cp, err := ParseCheckpoint(e.Note, m.o.Verifier)
		if err != nil {
			return &Damage{File: logPath, Offset: e.Offset, Reason: "checkpoint entry does not verify with the trusted key: " + err.Error()}
		}
		root, err := tlog.TreeHash(int64(cp.Size), &hashStore{f: f})
		if err != nil || !bytes.Equal(root[:], cp.Root) {
			return &Damage{File: logPath, Offset: e.Offset, FirstLeaf: 0, EndLeaf: cp.Size,
				Reason: fmt.Sprintf("signed checkpoint of size %d does not match the stored tree", cp.Size)}
		}
	}
	return nil
}

// pass advances the full re-verification by its share of the bytes.
func (m *Monitor) pass(ctx context.Context, segs []segmentInfo, cp *Checkpoint, report func(Damage)) {
	p := &m.st.Pass
	if p.Target == 0 {
		if cp.Size == 0 {
			return
		}
		*p = passState{Started: m.o.Now().UTC(), Target: cp.Size, Root: hex.EncodeToString(cp.Root)}
	}
	var total int64
	for _, s := range segs {
		total += s.size
	}
	budget := max(m.o.MinPassBytes, int64(float64(total)*1.25*float64(m.o.Interval)/float64(m.o.FullPass)))
	tree := treeBuilder{n: p.Leaf}
	for _, s := range p.Stack {
		var h tlog.Hash
		if b, err := hex.DecodeString(s); err == nil && len(b) == tlog.HashSize {
			copy(h[:], b)
		}
		tree.stack = append(tree.stack, h)
	}
	fail := func(d Damage) {
		report(d)
		if m.o.OnPass != nil {
			m.o.OnPass(PassResult{Started: p.Started, Finished: m.o.Now().UTC(), Leaves: p.Target, Bytes: p.Bytes})
		}
		*p = passState{}
	}
	hashesPath := filepath.Join(m.l.opts.Dir, fileHashes)
	hf, err := os.Open(hashesPath)
	if err != nil {
		return // reported by checkHashes
	}
	defer hf.Close()
	stored := bufio.NewReaderSize(io.NewSectionReader(hf, p.HashIdx*tlog.HashSize, 1<<62), 1<<16)
	var hashErr *Damage
	visit := func(level int, index uint64, h *tlog.Hash) {
		var want tlog.Hash
		_, err := io.ReadFull(stored, want[:])
		p.HashIdx++
		if hashErr == nil && (err != nil || want != *h) {
			lo, hi := index<<level, (index+1)<<level
			hashErr = &Damage{File: hashesPath, Offset: (p.HashIdx - 1) * tlog.HashSize, FirstLeaf: lo, EndLeaf: hi,
				Reason: fmt.Sprintf("stored tree hash (level %d) differs from the hash recomputed from the records", level)}
		}
	}
	for budget > 0 && p.Leaf < p.Target && ctx.Err() == nil {
		i := sort.Search(len(segs), func(i int) bool { return segs[i].first > p.Leaf }) - 1
		if i < 0 {
			fail(Damage{File: filepath.Join(m.l.opts.Dir, dirSegments), Offset: -1, FirstLeaf: p.Leaf, EndLeaf: p.Target, Reason: "no segment holds these leaves"})
			return
		}
		seg := segs[i]
		if t := seg.expired; t != nil {
			// Expired: the tree is rebuilt from the kept leaf hashes.
			to := min(t.End, p.Target)
			hs, err := storedLeafHashes(m.l.opts.Dir)(p.Leaf, to)
			if err != nil {
				fail(Damage{File: hashesPath, Offset: -1, FirstLeaf: p.Leaf, EndLeaf: to, Reason: "kept leaf hashes of expired leaves unreadable: " + err.Error()})
				return
			}
			for _, h := range hs {
				tree.append(h, visit)
			}
			p.Leaf = to
			budget -= int64(len(hs)) * tlog.HashSize
			if hashErr != nil {
				fail(*hashErr)
				return
			}
			continue
		}
		if p.Segment != seg.first || p.Offset == 0 {
			p.Segment, p.Offset = seg.first, segmentHdrSize
		}
		n, d := m.passSegment(seg, p, &tree, visit, budget)
		if d != nil {
			fail(*d)
			return
		}
		if hashErr != nil {
			fail(*hashErr)
			return
		}
		if n == 0 {
			break // no progress (a segment expired meanwhile): go on at the next check
		}
		budget -= n
		p.Bytes += n
	}
	p.Stack = p.Stack[:0]
	for _, h := range tree.stack {
		p.Stack = append(p.Stack, hex.EncodeToString(h[:]))
	}
	if p.Leaf < p.Target {
		return
	}
	root := tree.root()
	if hex.EncodeToString(root[:]) != p.Root {
		fail(Damage{File: filepath.Join(m.l.opts.Dir, dirSegments), Offset: -1, FirstLeaf: 0, EndLeaf: p.Target,
			Reason: fmt.Sprintf("the tree recomputed from the records differs from the signed checkpoint of size %d: records were altered, removed or inserted", p.Target)})
		return
	}
	logPath := filepath.Join(m.l.opts.Dir, fileCheckpoints)
	ents, _, err := readCheckpointLog(logPath)
	if err != nil && !errors.Is(err, errTornCheckpoint) {
		fail(Damage{File: logPath, Offset: -1, Reason: err.Error()})
		return
	}
	if d := m.checkCheckpointEntries(logPath, ents); d != nil {
		fail(*d)
		return
	}
	res := PassResult{Started: p.Started, Finished: m.o.Now().UTC(), Leaves: p.Target, Bytes: p.Bytes, OK: true}
	m.o.Logger.Info("ledger re-verified", "leaves", res.Leaves, "bytes", res.Bytes, "took", res.Finished.Sub(res.Started).Round(time.Second))
	if m.o.OnPass != nil {
		m.o.OnPass(res)
	}
	*p = passState{}
}

// passSegment re-hashes blocks of seg from p's position until budget bytes
// were read, the segment's committed end, or the pass target.
func (m *Monitor) passSegment(seg segmentInfo, p *passState, tree *treeBuilder, visit func(int, uint64, *tlog.Hash), budget int64) (int64, *Damage) {
	f, err := os.Open(seg.path)
	if err != nil && m.l.expiredNow(seg.first) {
		return 0, nil // expired meanwhile: the next check reads its kept hashes
	}
	if err != nil {
		return 0, &Damage{File: seg.path, Offset: -1, FirstLeaf: p.Leaf, EndLeaf: p.Target, Reason: "segment unreadable: " + err.Error()}
	}
	defer f.Close()
	var read int64
	var buf []byte
	for read < budget && p.Offset < seg.size && p.Leaf < p.Target {
		var pre [blockPrefixSize]byte
		if _, err := f.ReadAt(pre[:], p.Offset); err != nil {
			return read, &Damage{File: seg.path, Offset: p.Offset, FirstLeaf: p.Leaf, EndLeaf: p.Target, Reason: "segment ends early: " + err.Error()}
		}
		n := int64(blockPrefixSize) + int64(binary.BigEndian.Uint32(pre[:4]))
		if n < blockPrefixSize+blockHdrSize || p.Offset+n > seg.size {
			return read, &Damage{File: seg.path, Offset: p.Offset, FirstLeaf: p.Leaf, EndLeaf: p.Target, Reason: "block length field altered"}
		}
		if cap(buf) < int(n) {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := f.ReadAt(buf, p.Offset); err != nil {
			return read, &Damage{File: seg.path, Offset: p.Offset, FirstLeaf: p.Leaf, EndLeaf: p.Target, Reason: "segment ends early: " + err.Error()}
		}
		h, payload, _, err := parseBlock(buf)
		if err == nil && h.first != p.Leaf {
			err = fmt.Errorf("%w: block starts at leaf %d, want %d", errBadBlock, h.first, p.Leaf)
		}
		var recs [][]byte
		if err == nil {
			recs, m.plain, err = decodeRecords(m.dec, payload, h.count, m.plain)
		}
		if err != nil {
			return read, &Damage{File: seg.path, Offset: p.Offset, FirstLeaf: p.Leaf, EndLeaf: p.Leaf + uint64(max(h.count, 1)), Reason: err.Error()}
		}
		for _, r := range recs {
			if p.Leaf == p.Target {
				break // the rest of the block is beyond the checkpoint: next pass
			}
			tree.append(tlog.RecordHash(r), visit)
			p.Leaf++
		}
		if p.Leaf == h.first+uint64(h.count) {
			p.Offset += n
		}
		read += n
	}
	return read, nil
}
