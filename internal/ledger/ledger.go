// Package ledger is cdewatch's source of truth: an append-only log of
// records in checksummed, compressed segment files, each record a leaf of an
// RFC 6962 Merkle tree whose checkpoints are signed C2SP notes.
//
// Append returns only once the records are fsynced (group commit); the tree
// hashes and checkpoints follow. FORMAT.md documents every file.
package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/cdewatch/cdewatch/internal/fsutil"
)

// ErrPushback is returned by Append when more data is waiting to be committed
// than the ledger accepts; the caller should retry later (HTTP 503 +
// Retry-After). Nothing of the refused call was stored.
var ErrPushback = errors.New("ledger: too much data pending, retry later")

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("ledger: closed")

// Options configure a ledger. Zero values take the defaults.
type Options struct {
	Dir                string        // ledger directory, created if missing
	Origin             string        // checkpoint origin (and key name) for a new ledger; random if empty
	SegmentBytes       int64         // rotate segments at this size; default 128 MiB
	MaxBatchBytes      int           // group commit: most bytes written per fsync; default 16 MiB
	MaxBatchDelay      time.Duration // group commit: longest a batch waits to fill; default 0 (commit as soon as the disk is free)
	MaxPendingBytes    int64         // backpressure: compressed bytes queued before ErrPushback; default 256 MiB
	CheckpointInterval time.Duration // how often a new checkpoint is signed if the tree grew; default 1s
	// InitRecord returns the first record of a new ledger (its initialization, PCI 10.2.1.6).
	InitRecord func() ([]byte, error)
	// RecentBytes bounds the uncompressed payloads of the last committed
	// blocks kept in memory for readers of the tail; default 32 MiB,
	// negative: none.
	RecentBytes int64
	// OnCheckpointFailure, when set, is called from the signing goroutine
	// with the error of each failed periodic signing, and with nil at the
	// first success after failures (a failure of a control, PCI DSS
	// 10.7.2). It must not block.
	OnCheckpointFailure func(error)
	Logger              *slog.Logger
	Now                 func() time.Time
}

func (o *Options) setDefaults() {
	if o.RecentBytes == 0 {
		o.RecentBytes = 32 << 20
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 128 << 20
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 16 << 20
	}
	if o.MaxPendingBytes <= 0 {
		o.MaxPendingBytes = 256 << 20
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Recovery describes what Open found and repaired.
type Recovery struct {
	Created        bool   // a new ledger was initialized
	TruncatedBytes int64  // bytes of an unacknowledged torn tail removed from the last segment
	RehashedLeaves uint64 // leaves whose tree hashes were recomputed from records
}

type segmentInfo struct {
	first uint64
	path  string
	// size is the committed length of the file: for a sealed segment its
	// length when it was sealed (or found at open), for the last one what
	// the last commit wrote. Guarded by Ledger.mu once the ledger is open.
	size int64
	// expired is set when the segment's records expired; path is then
	// the tombstone's.
	expired *Tombstone
}

// blockPos is where a block starts and its first leaf.
type blockPos struct {
	first uint64
	off   int64
}

type appendReq struct {
	block  []byte
	plain  []byte // the block's uncompressed payload
	count  int
	hashes []tlog.Hash
	first  uint64
	done   chan error
}

// Ledger is an open ledger directory. It is safe for concurrent use.
type Ledger struct {
	opts     Options
	log      *slog.Logger
	signer   note.Signer
	verifier note.Verifier
	lockFile *os.File

	queue   chan *appendReq
	pending atomic.Int64
	// sendMu is held for reading while a request is being queued; Close
	// takes it to set closed, so nothing is queued after the committer
	// has drained the queue.
	sendMu  sync.RWMutex
	closed  bool
	closing chan struct{}
	stopped chan struct{}
	cpDone  chan struct{}
	closeMu sync.Once
	// expireMu serializes Expire calls.
	expireMu sync.Mutex

	encoders sync.Pool
	decoders sync.Pool

	// Owned by the committer goroutine (and Open before it starts).
	seg     *os.File
	segSize int64
	rng     *compact.Range
	hbuf    []byte

	hashes  *hashStore
	cplog   *checkpointLog
	recent  *recentBlocks[[]byte] // uncompressed payloads; nil: none kept
	digests *recentBlocks[blockDigest]

	mu sync.RWMutex
	// blocks locates the committed blocks of the last segment, so that
	// reads of the tail start at their block instead of walking the
	// segment's headers (and any damage among them).
	blocks     []blockPos
	size       uint64 // leaves committed and hashed
	root       []byte // root at size
	segments   []segmentInfo
	checkpoint *Checkpoint // latest signed
	failed     error       // set when an I/O error stopped the ledger
	Recovery   Recovery
}

var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// Open opens or creates the ledger in opts.Dir, recovering from a crash:
// an unacknowledged torn tail is truncated, missing tree hashes recomputed,
// and the latest checkpoint checked against the tree. Corruption inside
// acknowledged data is an error, never repaired silently.
func Open(opts Options) (*Ledger, error) {
	opts.setDefaults()
	l := &Ledger{
		opts: opts, log: opts.Logger,
		queue:   make(chan *appendReq, 1024),
		closing: make(chan struct{}),
		stopped: make(chan struct{}),
		cpDone:  make(chan struct{}),
	}
	if opts.RecentBytes > 0 {
		l.recent = newRecentPayloads(opts.RecentBytes)
	}
	l.digests = newRecentDigests()
	if err := os.MkdirAll(filepath.Join(opts.Dir, dirSegments), 0o755); err != nil {
		return nil, fmt.Errorf("create ledger directory: %w", err)
	}
	lf, err := os.OpenFile(filepath.Join(opts.Dir, fileLock), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lf.Close()
		return nil, fmt.Errorf("ledger %s is in use by another process (lock %s): %w", opts.Dir, fileLock, err)
	}
	l.lockFile = lf
	if err := l.open(); err != nil {
		l.closeFiles()
		return nil, err
	}
	go l.commitLoop()
	go l.checkpointLoop()
	return l, nil
}

func (l *Ledger) open() error {
	segs, err := listSegments(filepath.Join(l.opts.Dir, dirSegments))
	if err != nil {
		return err
	}
	created := len(segs) == 0
	l.signer, l.verifier, err = loadOrCreateKeys(l.opts.Dir, l.opts.Origin, created)
	if err != nil {
		return err
	}
	if l.hashes, err = openHashStore(filepath.Join(l.opts.Dir, fileHashes)); err != nil {
		return err
	}
	if l.cplog, err = openCheckpointLog(l.opts.Dir); err != nil {
		return err
	}
	latest, err := l.loadLatestCheckpoint()
	if err != nil {
		return err
	}
	if created {
		if latest != nil || l.hashes.count > 0 {
			return fmt.Errorf("ledger %s has checkpoints or tree hashes but no segments: segments were removed; restore them from backup", l.opts.Dir)
		}
		if err := l.createSegment(0); err != nil {
			return err
		}
		l.rng = rangeFactory.NewEmptyRange(0)
		l.root = rfc6962.DefaultHasher.EmptyRoot()
	} else {
		if segs[len(segs)-1].expired != nil {
			return fmt.Errorf("ledger %s: the last segment is marked expired, but the segment being appended to never expires: segments were removed; restore them from backup", l.opts.Dir)
		}
		if err := removeExpiredLeftovers(filepath.Join(l.opts.Dir, dirSegments), segs); err != nil {
			return err
		}
		l.segments = segs
		// Leaves with stored tree hashes were committed (hashes are written
		// only after their records are fsynced), as were those a checkpoint
		// covers: recovery must keep them all.
		committed := leavesCovered(l.hashes.count)
		if latest != nil {
			committed = max(committed, latest.Size)
		}
		if err := l.recoverTail(committed); err != nil {
			return err
		}
		if err := l.reconcileHashes(); err != nil {
			return err
		}
	}
	if l.size == 0 && latest == nil {
		// A new ledger, or one whose creation a crash interrupted (the
		// first checkpoint is signed only after the initialization record).
		l.Recovery.Created = true
		if l.opts.InitRecord != nil {
			rec, err := l.opts.InitRecord()
			if err != nil {
				return fmt.Errorf("build initialization record: %w", err)
			}
			req := l.prepare([][]byte{rec})
			if err := l.commit([]*appendReq{req}); err != nil {
				return fmt.Errorf("write initialization record: %w", err)
			}
		}
		return l.signNow()
	}
	if latest != nil {
		root, err := tlog.TreeHash(int64(latest.Size), l.hashes)
		if err != nil {
			return fmt.Errorf("compute root at checkpoint size %d: %w", latest.Size, err)
		}
		if string(root[:]) != string(latest.Root) {
			return fmt.Errorf("tree at size %d does not match the signed checkpoint: the ledger was altered; run `cdewatch verify`", latest.Size)
		}
		l.checkpoint = latest
	}
	if latest == nil || latest.Size < l.size {
		return l.signNow()
	}
	return nil
}

func listSegments(dir string) ([]segmentInfo, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	var out []segmentInfo
	byFirst := map[uint64]int{}
	for _, e := range ents {
		first, expired, ok := parseSegmentFileName(e.Name())
		if !ok {
			continue
		}
		path := filepath.Join(dir, e.Name())
		info := segmentInfo{first: first, path: path}
		if expired {
			t, err := readTombstone(path)
			if err != nil {
				return nil, err
			}
			info.expired, info.size = t, t.Bytes
		} else if st, err := os.Stat(path); err == nil {
			info.size = st.Size()
		}
		if i, dup := byFirst[first]; dup {
			// An expiry was interrupted after its tombstone was written:
			// the tombstone stands.
			if expired {
				out[i] = info
			}
			continue
		}
		byFirst[first] = len(out)
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].first < out[j].first })
	return out, nil
}

func (l *Ledger) loadLatestCheckpoint() (*Checkpoint, error) {
	ents, _, err := readCheckpointLog(filepath.Join(l.opts.Dir, fileCheckpoints))
	if errors.Is(err, errTornCheckpoint) {
		// A crash while appending: the torn entry was never published.
		var valid int64
		if len(ents) > 0 {
			last := ents[len(ents)-1]
			valid = last.Offset + 4 + int64(len(last.Note))
		}
		if err := l.cplog.f.Truncate(valid); err != nil {
			return nil, fmt.Errorf("truncate torn checkpoint log entry: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("read checkpoint log: %w", err)
	}
	var cp *Checkpoint
	if len(ents) > 0 {
		if cp, err = ParseCheckpoint(ents[len(ents)-1].Note, l.verifier); err != nil {
			return nil, fmt.Errorf("latest checkpoint in %s does not verify with log.pub: %w", fileCheckpoints, err)
		}
	}
	// The published checkpoint is written after the log entry, so it is
	// never newer, unless the log lost entries: then it is what the
	// ledger has committed to and must not contradict.
	pub, err := os.ReadFile(filepath.Join(l.opts.Dir, fileCheckpoint))
	if errors.Is(err, os.ErrNotExist) {
		return cp, nil
	} else if err != nil {
		return nil, fmt.Errorf("read published checkpoint: %w", err)
	}
	pcp, err := ParseCheckpoint(pub, l.verifier)
	if err != nil {
		return nil, fmt.Errorf("published checkpoint %s does not verify with log.pub: %w; run `cdewatch verify`", fileCheckpoint, err)
	}
	if cp == nil || pcp.Size > cp.Size {
		l.log.Warn("published checkpoint is newer than the checkpoint log", "size", pcp.Size)
		return pcp, nil
	}
	return cp, nil
}

func (l *Ledger) createSegment(first uint64) error {
	if l.seg != nil {
		if err := l.seg.Sync(); err != nil {
			return fmt.Errorf("fsync segment before rotation: %w", err)
		}
		if err := l.seg.Close(); err != nil {
			return err
		}
	}
	dir := filepath.Join(l.opts.Dir, dirSegments)
	path := filepath.Join(dir, segmentName(first))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("create segment: %w", err)
	}
	if _, err := f.Write(segmentHeader(first)); err != nil {
		f.Close()
		return fmt.Errorf("write segment header: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := fsutil.SyncDir(dir); err != nil {
		f.Close()
		return err
	}
	l.mu.Lock()
	if n := len(l.segments); n > 0 {
		l.segments[n-1].size = l.segSize // sealed
	}
	l.segments = append(l.segments, segmentInfo{first: first, path: path, size: segmentHdrSize})
	l.blocks = nil
	l.mu.Unlock()
	l.seg, l.segSize = f, segmentHdrSize
	return nil
}

// recoverTail scans the last segment, truncates a torn tail and sets size.
// It changes nothing if that would drop any of the first committed leaves.
func (l *Ledger) recoverTail(committed uint64) error {
	last := l.segments[len(l.segments)-1]
	data, err := os.ReadFile(last.path)
	if err != nil {
		return fmt.Errorf("read last segment: %w", err)
	}
	first, err := parseSegmentHeader(data)
	if err != nil || first != last.first {
		if len(data) < segmentHdrSize {
			// Crash while creating the segment: nothing was acknowledged in it.
			l.Recovery.TruncatedBytes = int64(len(data))
			first = last.first
			data = nil
		} else {
			return fmt.Errorf("segment %s: bad header (first %d, name says %d): %v", last.path, first, last.first, err)
		}
	}
	if len(l.segments) > 1 {
		if err := l.checkSegmentEnd(l.segments[len(l.segments)-2], first); err != nil {
			return err
		}
	}
	seq := first
	off := segmentHdrSize
	var tornErr error
	var blocks []blockPos
	for off < len(data) {
		h, _, total, err := parseBlock(data[off:])
		if err == nil && h.first != seq {
			err = fmt.Errorf("%w: block starts at leaf %d, want %d", errBadBlock, h.first, seq)
		}
		if err != nil {
			if !mayBeTorn(data[off:], total, err) {
				return fmt.Errorf("segment %s offset %d (leaf %d): %v, and valid blocks follow: acknowledged data is damaged, not a torn write; run `cdewatch verify`", last.path, off, seq, err)
			}
			tornErr = err
			break
		}
		blocks = append(blocks, blockPos{first: seq, off: int64(off)})
		seq += uint64(h.count)
		off += total
	}
	if seq < committed {
		where := fmt.Sprintf("the last segment %s ends there", last.path)
		if tornErr != nil {
			where = fmt.Sprintf("segment %s is damaged at offset %d (%v)", last.path, off, tornErr)
		}
		return fmt.Errorf("ledger holds %d intact records but %d were committed (tree hashes, checkpoint); %s: acknowledged records are missing or damaged; run `cdewatch verify` and restore from backup", seq, committed, where)
	}
	if tornErr != nil {
		l.Recovery.TruncatedBytes = int64(len(data) - off)
		l.log.Warn("truncating torn tail of ledger segment", "segment", last.path, "offset", off, "bytes", len(data)-off, "reason", tornErr)
	}
	f, err := os.OpenFile(last.path, os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("open last segment: %w", err)
	}
	if data == nil {
		if err = f.Truncate(0); err == nil {
			_, err = f.WriteAt(segmentHeader(first), 0)
		}
		off = segmentHdrSize
	} else if off < len(data) {
		err = f.Truncate(int64(off))
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("truncate torn tail of %s: %w", last.path, err)
	}
	l.seg, l.segSize, l.size = f, int64(off), seq
	l.segments[len(l.segments)-1].size = l.segSize
	l.blocks = blocks
	return nil
}

// checkSegmentEnd checks that the segment before the last one ends exactly
// where the last one begins (its final block).
func (l *Ledger) checkSegmentEnd(prev segmentInfo, next uint64) error {
	if prev.expired != nil {
		if prev.expired.End != next {
			return fmt.Errorf("expired segment %s ends at leaf %d but the next segment starts at %d: records are missing; run `cdewatch verify`", prev.path, prev.expired.End, next)
		}
		return nil
	}
	var end uint64
	err := l.scanSegment(prev, 0, func(h blockHeader, _ []byte, _ int64) error {
		end = h.first + uint64(h.count)
		return nil
	})
	if err != nil {
		return err
	}
	if end != next {
		return fmt.Errorf("segment %s ends at leaf %d but the next segment starts at %d: records are missing; run `cdewatch verify`", prev.path, end, next)
	}
	return nil
}

// reconcileHashes makes the hash store cover exactly l.size leaves and
// rebuilds the compact range for appending.
func (l *Ledger) reconcileHashes() error {
	have := leavesCovered(l.hashes.count)
	if have > l.size {
		// recoverTail refuses this case; never drop hashes of committed leaves.
		return fmt.Errorf("tree hashes cover %d leaves but the segments hold only %d: acknowledged records are missing; run `cdewatch verify`", have, l.size)
	}
	if want := tlog.StoredHashCount(int64(have)); want != l.hashes.count {
		if err := l.hashes.truncate(want); err != nil {
			return err
		}
	}
	ids := compact.RangeNodes(0, have, nil)
	idx := make([]int64, len(ids))
	for i, id := range ids {
		idx[i] = tlog.StoredHashIndex(int(id.Level), int64(id.Index))
	}
	hs, err := l.hashes.ReadHashes(idx)
	if err != nil {
		return err
	}
	hb := make([][]byte, len(hs))
	for i := range hs {
		hb[i] = hs[i][:]
	}
	if l.rng, err = rangeFactory.NewRange(0, have, hb); err != nil {
		return fmt.Errorf("rebuild tree state: %w", err)
	}
	target := l.size
	l.size = have
	if have < target {
		l.log.Info("recomputing tree hashes from records", "from", have, "to", target)
		err := l.readRange(have, target, func(seq uint64, rec []byte) error {
			l.appendLeafHash(tlog.RecordHash(rec))
			if len(l.hbuf) >= 1<<20 { // bound memory when rehashing a large ledger
				if err := l.hashes.append(l.hbuf); err != nil {
					return err
				}
				l.hbuf = l.hbuf[:0]
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("recompute tree hashes: %w", err)
		}
		if err := l.hashes.append(l.hbuf); err != nil {
			return err
		}
		l.hbuf = l.hbuf[:0]
		l.Recovery.RehashedLeaves = target - have
		l.size = target
	}
	root, err := l.rng.GetRootHash(nil)
	if err != nil {
		return err
	}
	if root == nil { // the empty tree
		root = rfc6962.DefaultHasher.EmptyRoot()
	}
	l.root = root
	return l.hashes.f.Sync()
}

// leavesCovered returns the largest n with StoredHashCount(n) <= count.
func leavesCovered(count int64) uint64 {
	lo, hi := int64(0), count
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		if tlog.StoredHashCount(mid) <= count {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return uint64(lo)
}

func (l *Ledger) appendLeafHash(h tlog.Hash) {
	_ = l.rng.Append(h[:], func(_ compact.NodeID, hash []byte) {
		l.hbuf = append(l.hbuf, hash...)
	})
}

func (l *Ledger) encoder() *zstd.Encoder {
	if e, ok := l.encoders.Get().(*zstd.Encoder); ok {
		return e
	}
	e, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true),
		zstd.WithEncoderCRC(false)) // the block's CRC-32C covers the frame
	return e
}

func (l *Ledger) decoder() *zstd.Decoder {
	if d, ok := l.decoders.Get().(*zstd.Decoder); ok {
		return d
	}
	return newDecoder()
}

// prepare compresses and hashes records in the caller's goroutine, so that
// this work runs in parallel across concurrent appenders.
func (l *Ledger) prepare(recs [][]byte) *appendReq {
	enc := l.encoder()
	block, plain := encodeBlock(enc, recs)
	req := &appendReq{block: block, plain: plain, count: len(recs), hashes: make([]tlog.Hash, len(recs)), done: make(chan error, 1)}
	l.encoders.Put(enc)
	for i, r := range recs {
		req.hashes[i] = tlog.RecordHash(r)
	}
	return req
}

// Append stores recs as consecutive leaves and returns the first one's
// sequence number. When it returns nil every record is durable (fsynced)
// and will be in every later checkpoint; on error none is acknowledged.
// recs are not retained after return. ErrPushback means "retry later".
func (l *Ledger) Append(ctx context.Context, recs [][]byte) (uint64, error) {
	if len(recs) == 0 {
		return 0, errors.New("ledger: append of no records")
	}
	if len(recs) > maxBlockRecords {
		return 0, fmt.Errorf("ledger: append of %d records, limit %d; split it into smaller calls", len(recs), maxBlockRecords)
	}
	plain := 0
	for i, r := range recs {
		if len(r) > maxRecordSize {
			return 0, fmt.Errorf("ledger: record %d is %d bytes, limit %d", i, len(r), maxRecordSize)
		}
		plain += len(r) + (bits.Len(uint(len(r))|1)+6)/7 // + uvarint length prefix
		if plain > maxAppendBytes {
			return 0, fmt.Errorf("ledger: append of more than %d bytes; split it into smaller calls", maxAppendBytes)
		}
	}
	select {
	case <-l.closing:
		return 0, ErrClosed
	default:
	}
	req := l.prepare(recs)
	n := int64(len(req.block))
	if n-blockPrefixSize > maxBlockBody {
		return 0, fmt.Errorf("ledger: compressed block of %d bytes exceeds the %d-byte limit; split the append", n-blockPrefixSize, maxBlockBody)
	}
	if l.pending.Add(n) > l.opts.MaxPendingBytes && l.pending.Load() != n {
		l.pending.Add(-n)
		return 0, ErrPushback
	}
	l.sendMu.RLock()
	if l.closed {
		l.sendMu.RUnlock()
		l.pending.Add(-n)
		return 0, ErrClosed
	}
	select {
	case l.queue <- req:
		l.sendMu.RUnlock()
	case <-ctx.Done():
		l.sendMu.RUnlock()
		l.pending.Add(-n)
		return 0, ctx.Err()
	}
	// Once queued the request will be committed or failed; wait for the
	// outcome so the caller never mistakes a durable write for a lost one.
	err := <-req.done
	return req.first, err
}

func (l *Ledger) commitLoop() {
	defer close(l.stopped)
	var batch []*appendReq
	for {
		var req *appendReq
		select {
		case req = <-l.queue:
		case <-l.closing:
			// Drain what was queued before Close.
			for {
				select {
				case req := <-l.queue:
					l.finish([]*appendReq{req}, l.commit([]*appendReq{req}))
				default:
					return
				}
			}
		}
		batch = append(batch[:0], req)
		bytes := len(req.block)
		var timer <-chan time.Time
		if l.opts.MaxBatchDelay > 0 {
			timer = time.After(l.opts.MaxBatchDelay)
		}
	fill:
		for bytes < l.opts.MaxBatchBytes {
			select {
			case r := <-l.queue:
				batch = append(batch, r)
				bytes += len(r.block)
			default:
				if timer == nil {
					break fill
				}
				select {
				case r := <-l.queue:
					batch = append(batch, r)
					bytes += len(r.block)
				case <-timer:
					break fill
				}
			}
		}
		l.finish(batch, l.commit(batch))
	}
}

func (l *Ledger) finish(batch []*appendReq, err error) {
	for _, r := range batch {
		l.pending.Add(-int64(len(r.block)))
		r.done <- err
	}
}

// commit writes, fsyncs and hashes a batch. Any I/O failure stops the
// ledger (fail-stop): later appends fail and the next Open recovers.
func (l *Ledger) commit(batch []*appendReq) error {
	if err := l.Err(); err != nil {
		return err
	}
	now := l.opts.Now().UnixNano()
	seq := l.size
	var written []blockPos // blocks of the last segment this commit wrote
	for _, r := range batch {
		if l.segSize > segmentHdrSize && l.segSize+int64(len(r.block)) > l.opts.SegmentBytes {
			if err := l.createSegment(seq); err != nil {
				return l.fail(fmt.Errorf("ledger stopped: rotate segment: %w", err))
			}
		}
		if len(written) > 0 && l.segments[len(l.segments)-1].first > written[0].first {
			written = written[:0] // rotated: only the new segment's blocks
		}
		written = append(written, blockPos{first: seq, off: l.segSize})
		r.first = seq
		sealBlock(r.block, blockHeader{first: seq, count: uint32(r.count), commit: now, codec: codecZstd})
		if _, err := l.seg.WriteAt(r.block, l.segSize); err != nil {
			return l.fail(fmt.Errorf("ledger stopped: write segment: %w", err))
		}
		l.segSize += int64(len(r.block))
		seq += uint64(r.count)
	}
	if err := l.seg.Sync(); err != nil {
		return l.fail(fmt.Errorf("ledger stopped: fsync segment: %w", err))
	}
	for _, r := range batch {
		for _, h := range r.hashes {
			l.appendLeafHash(h)
		}
	}
	if err := l.hashes.append(l.hbuf); err != nil {
		return l.fail(fmt.Errorf("ledger stopped: %w", err))
	}
	l.hbuf = l.hbuf[:0]
	for _, r := range batch {
		l.digests.add(r.first, digestBlock(r.block, r.hashes))
	}
	root, err := l.rng.GetRootHash(nil)
	if err != nil {
		return l.fail(fmt.Errorf("ledger stopped: tree root: %w", err))
	}
	l.mu.Lock()
	l.size, l.root = seq, root
	l.segments[len(l.segments)-1].size = l.segSize
	l.blocks = append(l.blocks, written...)
	l.mu.Unlock()
	for _, r := range batch {
		l.recent.add(r.first, r.plain)
		r.plain = nil
	}
	return nil
}

func (l *Ledger) checkpointLoop() {
	defer close(l.cpDone)
	t := time.NewTicker(l.opts.CheckpointInterval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-t.C:
			err := l.signNow()
			if err != nil {
				l.log.Error("signing checkpoint failed", "err", err)
			}
			if f := l.opts.OnCheckpointFailure; f != nil && (err != nil || failing) {
				f(err)
			}
			failing = err != nil
		case <-l.stopped:
			return
		}
	}
}

// signNow signs a checkpoint for the current tree if it grew since the last.
func (l *Ledger) signNow() error {
	l.mu.RLock()
	size, root, last := l.size, l.root, l.checkpoint
	l.mu.RUnlock()
	if last != nil && last.Size >= size {
		return nil
	}
	// Everything the checkpoint commits to must be on disk first.
	if err := l.hashes.f.Sync(); err != nil {
		return fmt.Errorf("fsync tree hashes: %w", err)
	}
	now := l.opts.Now().UTC()
	n, err := signCheckpoint(l.signer, size, root, now)
	if err != nil {
		return fmt.Errorf("sign checkpoint: %w", err)
	}
	if err := l.cplog.append(n); err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(l.opts.Dir, fileCheckpoint), n, 0o644); err != nil {
		return fmt.Errorf("publish checkpoint: %w", err)
	}
	l.mu.Lock()
	l.checkpoint = &Checkpoint{Size: size, Root: root, Time: now.Truncate(time.Second), Note: n}
	l.mu.Unlock()
	return nil
}

// Close stops accepting appends, commits what is queued, signs a final
// checkpoint and closes the files.
func (l *Ledger) Close() error {
	var err error
	l.closeMu.Do(func() {
		l.sendMu.Lock()
		l.closed = true
		close(l.closing)
		l.sendMu.Unlock()
		<-l.stopped
		<-l.cpDone
		if l.Err() == nil {
			err = l.signNow()
		}
		if cerr := l.closeFiles(); err == nil {
			err = cerr
		}
	})
	return err
}

func (l *Ledger) closeFiles() error {
	var errs []error
	if l.seg != nil {
		errs = append(errs, l.seg.Sync(), l.seg.Close())
	}
	if l.hashes != nil {
		errs = append(errs, l.hashes.f.Sync(), l.hashes.close())
	}
	if l.cplog != nil {
		errs = append(errs, l.cplog.f.Close())
	}
	if l.lockFile != nil {
		errs = append(errs, l.lockFile.Close())
	}
	return errors.Join(errs...)
}

// Size returns the number of durable, hashed leaves.
func (l *Ledger) Size() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.size
}

// fail stops the ledger after an I/O error and returns the error.
func (l *Ledger) fail(err error) error {
	l.mu.Lock()
	l.failed = err
	l.mu.Unlock()
	l.log.Error("ledger stopped after an I/O error; restart to recover", "err", err)
	return err
}

// Err returns the error that stopped the ledger, or nil while it is healthy.
func (l *Ledger) Err() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.failed
}

// LatestCheckpoint returns the latest signed checkpoint.
func (l *Ledger) LatestCheckpoint() *Checkpoint {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.checkpoint
}

// Verifier returns the checkpoint verifier key in note text form.
func (l *Ledger) Verifier() note.Verifier { return l.verifier }

// Origin returns the checkpoint origin line.
func (l *Ledger) Origin() string { return l.signer.Name() }
