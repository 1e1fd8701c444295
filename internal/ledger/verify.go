package ledger

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// VerifyOptions configure Verify.
type VerifyOptions struct {
	Dir string
	// Verifier is the trusted checkpoint key. When nil, log.pub from Dir is
	// used, which proves integrity only against someone who did not also
	// replace the key: pass the key kept elsewhere for a real assurance.
	Verifier note.Verifier
	// CheckRecord, when set, is called for every record to check that it decodes.
	CheckRecord func([]byte) error
	Workers     int
	// Progress, when set, is called now and then with the leaves verified so far.
	Progress func(leaves uint64)
	// Against are signed checkpoint notes kept outside the ledger (by a
	// witness, an auditor, the archive): each must verify with the trusted
	// key and the tree rebuilt from the records must have its root at its
	// size, so a ledger rewritten or cut back since is found even when its
	// own checkpoint files were replaced along with it.
	Against [][]byte
}

// VerifyResult summarizes a successful verification.
type VerifyResult struct {
	Leaves      uint64
	Segments    int
	Checkpoints int
	Root        []byte
	Bytes       int64
	Elapsed     time.Duration
	TornTail    int64 // bytes of an unacknowledged torn tail (removed at next start)
	// ExpiredLeaves were checked by their kept leaf hashes only: their
	// records expired under the retention policy.
	ExpiredLeaves uint64
	KeyFromStore  bool // the verifier key was read from the ledger directory
}

// Summary is the one-line report of a successful verification.
func (r *VerifyResult) Summary() string {
	rate := 0.0
	if r.Elapsed > 0 {
		rate = float64(r.Leaves) / r.Elapsed.Seconds()
	}
	s := fmt.Sprintf("ledger intact: %d leaves in %d segments, %d signed checkpoints consistent, root %s, %.0f leaves/s",
		r.Leaves, r.Segments, r.Checkpoints, base64.StdEncoding.EncodeToString(r.Root), rate)
	if r.ExpiredLeaves > 0 {
		s += fmt.Sprintf(", %d expired leaves checked by their kept hashes", r.ExpiredLeaves)
	}
	if r.TornTail > 0 {
		s += fmt.Sprintf(", %d-byte unacknowledged torn tail (dropped at next start)", r.TornTail)
	}
	return s
}

// VerifyError names the first place where the ledger is not intact.
type VerifyError struct {
	Leaf    uint64 // first bad leaf index (or first missing one)
	Segment string // segment file, if the problem is in one
	Offset  int64  // byte offset in Segment, -1 if not applicable
	File    string // other file concerned (checkpoint log, tree hashes)
	Reason  string
}

func (e *VerifyError) Error() string {
	var where []string
	if e.Segment != "" {
		where = append(where, fmt.Sprintf("segment %s offset %d", e.Segment, e.Offset))
	}
	if e.File != "" {
		where = append(where, e.File)
	}
	loc := ""
	if len(where) > 0 {
		loc = " (" + strings.Join(where, ", ") + ")"
	}
	return fmt.Sprintf("leaf %d%s: %s", e.Leaf, loc, e.Reason)
}

type verifyJob struct {
	h       blockHeader
	payload []byte
	seg     string
	off     int64
	hashes  []tlog.Hash
	err     error
	bad     int // with err: index of the first bad record in the block
	done    chan struct{}
}

// Verify recomputes every leaf hash from the stored records, rebuilds the
// Merkle tree, compares it with the stored tree hashes, checks every
// checkpoint's signature and that every checkpoint's root matches the tree
// at its size (so all are mutually consistent). It never modifies the ledger.
func Verify(ctx context.Context, o VerifyOptions) (*VerifyResult, error) {
	start := time.Now()
	res := &VerifyResult{}
	v := o.Verifier
	if v == nil {
		vk, err := ReadVerifierKey(o.Dir)
		if err != nil {
			return nil, err
		}
		if v, err = note.NewVerifier(vk); err != nil {
			return nil, fmt.Errorf("parse verifier key: %w", err)
		}
		res.KeyFromStore = true
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	cps, err := verifyCheckpoints(o.Dir, v)
	if err != nil {
		return nil, err
	}
	if len(o.Against) > 0 {
		if cps, err = mergeAgainst(cps, o.Against, v); err != nil {
			return nil, err
		}
	}
	res.Checkpoints = len(cps)
	var maxSize uint64
	if len(cps) > 0 {
		maxSize = cps[len(cps)-1].Size
	}

	// Tree hashes are derived from the records (Open recomputes missing
	// ones): a missing file is checked as an empty one.
	var hashesSize int64
	var hashes io.Reader = bytes.NewReader(nil)
	if hf, err := os.Open(filepath.Join(o.Dir, fileHashes)); err == nil {
		defer hf.Close()
		st, err := hf.Stat()
		if err != nil {
			return nil, err
		}
		hashesSize, hashes = st.Size(), hf
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("open tree hashes: %w", err)
	}
	// Leaves with stored hashes were committed (hashes are written only
	// after their records are fsynced), as were those under a checkpoint:
	// a torn tail can only lie beyond both.
	committed := max(maxSize, leavesCovered(hashesSize/tlog.HashSize))
	stored := bufio.NewReaderSize(hashes, 1<<20)
	var storedIdx int64
	var storedEOF bool
	var hashErr *VerifyError // first stored-hash mismatch
	var hashErrIdx int64     // its index in the hash file
	var cur *verifyJob       // the block whose leaves are being added
	var tree treeBuilder
	// check compares the hash of the node at level, index with the next
	// stored hash; nodes come in tlog.StoredHashIndex order.
	check := func(level int, index uint64, h *tlog.Hash) {
		idx := storedIdx
		storedIdx++
		if storedEOF || hashErr != nil {
			return
		}
		var want tlog.Hash
		if _, err := io.ReadFull(stored, want[:]); err != nil {
			storedEOF = true // hashes not yet written are recomputed at open
			return
		}
		if want == *h {
			return
		}
		hashErrIdx = idx
		lo, hi := index<<level, (index+1)<<level
		hashErr = &VerifyError{Leaf: lo, Offset: -1, File: fileHashes,
			Reason: fmt.Sprintf("stored tree hash %d (level %d, leaves %d..%d) differs from the hash recomputed from the records", idx, level, lo, hi-1)}
		if level == 0 {
			// The record, or its stored leaf hash, was altered.
			hashErr.Segment, hashErr.Offset = cur.seg, cur.off
			hashErr.Reason = fmt.Sprintf("the record's hash differs from its stored leaf hash (tree hash %d)", idx)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// report returns the earliest damage found: ve, or a stored-hash
	// mismatch at an earlier leaf (as when a record was removed from or
	// inserted into a block rewritten with a valid checksum).
	report := func(ve *VerifyError) error {
		cancel()
		if hashErr != nil && hashErr.Leaf < ve.Leaf {
			e := *hashErr
			e.Reason += "; further on: " + ve.Error()
			return &e
		}
		return ve
	}
	nextCP := 0
	var lastCheckedRoot []byte
	var rangeSeg string // block holding the first leaf after the last matched checkpoint
	var rangeOff int64 = -1
	checkCheckpoints := func(size uint64) error {
		for nextCP < len(cps) && cps[nextCP].Size == size {
			rh := tree.root()
			root := rh[:]
			if !bytes.Equal(root, cps[nextCP].Root) {
				lo := uint64(0)
				if nextCP > 0 {
					lo = cps[nextCP-1].Size
				}
				if hashErr != nil && hashErr.Leaf >= lo {
					e := *hashErr
					e.Reason = fmt.Sprintf("record altered: %s, and the tree differs from signed checkpoint %d (size %d)", hashErr.Reason, nextCP, size)
					return &e
				}
				return report(&VerifyError{Leaf: lo, Segment: rangeSeg, Offset: rangeOff,
					Reason: fmt.Sprintf("tree root at size %d does not match signed checkpoint %d: records in leaves %d..%d were altered, removed, reordered or inserted", size, nextCP, lo, size-1)})
			}
			lastCheckedRoot = root
			nextCP++
			rangeSeg, rangeOff = "", -1
		}
		return nil
	}
	if err := checkCheckpoints(0); err != nil {
		return nil, err
	}

	segs, err := listSegments(filepath.Join(o.Dir, dirSegments))
	if err != nil {
		return nil, err
	}
	res.Segments = len(segs)
	jobs := make(chan *verifyJob, o.Workers*4)
	ordered := make(chan *verifyJob, o.Workers*8)
	for range o.Workers {
		go func() {
			// The block CRC and the leaf hashes cover the records: the
			// zstd frame checksum adds nothing here but time.
			dec := newDecoder()
			defer dec.Close()
			var buf []byte
			for j := range jobs {
				var recs [][]byte
				recs, buf, j.err = decodeRecords(dec, j.payload, j.h.count, buf)
				if j.err == nil {
					j.hashes = make([]tlog.Hash, len(recs))
					for i, r := range recs {
						j.hashes[i] = tlog.RecordHash(r)
					}
					if o.CheckRecord != nil {
						for i, r := range recs {
							if err := o.CheckRecord(r); err != nil {
								j.err, j.bad = fmt.Errorf("record does not decode: %w", err), i
								break
							}
						}
					}
				}
				close(j.done)
			}
		}()
	}
	var prodErr error
	go func() {
		defer close(jobs)
		defer close(ordered)
		prodErr = produceBlocks(ctx, segs, res, committed, storedLeafHashes(o.Dir), func(j *verifyJob) bool {
			select {
			case ordered <- j:
			case <-ctx.Done():
				return false
			}
			if j.hashes != nil {
				return true // an expired segment's kept leaf hashes
			}
			select {
			case jobs <- j:
			case <-ctx.Done():
				return false
			}
			return true
		})
	}()
	var seq uint64
	lastProgress := time.Now()
	for j := range ordered {
		<-j.done
		cur = j
		if j.h.first != seq {
			reason := fmt.Sprintf("block holds leaves from %d, expected %d: records %d..%d are missing", j.h.first, seq, seq, j.h.first-1)
			if j.h.first < seq {
				reason = fmt.Sprintf("block holds leaves from %d, expected %d: records duplicated or reordered", j.h.first, seq)
			}
			return nil, report(&VerifyError{Leaf: seq, Segment: j.seg, Offset: j.off, Reason: reason})
		}
		good := j.hashes
		if j.err != nil {
			good = good[:min(j.bad, len(good))]
		}
		for _, h := range good {
			if seq == lastCPSize(cps, nextCP) && rangeSeg == "" {
				rangeSeg, rangeOff = j.seg, j.off
			}
			tree.append(h, check)
			seq++
			if err := checkCheckpoints(seq); err != nil {
				cancel()
				return nil, err
			}
		}
		if j.err != nil {
			return nil, report(&VerifyError{Leaf: seq, Segment: j.seg, Offset: j.off, Reason: j.err.Error()})
		}
		if o.Progress != nil && time.Since(lastProgress) > time.Second {
			o.Progress(seq)
			lastProgress = time.Now()
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err // cancelled by the caller
	}
	if prodErr != nil {
		var ve *VerifyError
		if errors.As(prodErr, &ve) {
			return nil, report(ve)
		}
		return nil, prodErr
	}
	res.Leaves = seq
	if nextCP < len(cps) {
		return nil, report(&VerifyError{Leaf: seq, Offset: -1, File: fileCheckpoints,
			Reason: fmt.Sprintf("signed checkpoint %d covers %d leaves but only %d are stored: records from leaf %d on were removed", nextCP, cps[nextCP].Size, seq, seq)})
	}
	if hashErr != nil {
		if nextCP > 0 && hashErr.Leaf < cps[nextCP-1].Size {
			// The records match the signed checkpoints: the stored hash is damaged.
			hashErr.Segment, hashErr.Offset = "", -1
			hashErr.Reason = fmt.Sprintf("stored tree hash %d differs from the hash recomputed from the records, which match the signed checkpoints: %s is damaged", hashErrIdx, fileHashes)
		}
		return nil, hashErr
	}
	root := tree.root()
	if lastCheckedRoot == nil && seq > 0 {
		return nil, &VerifyError{Leaf: 0, Offset: -1, File: fileCheckpoints, Reason: "no signed checkpoint covers the ledger"}
	}
	res.Root = root[:]
	res.Elapsed = time.Since(start)
	return res, nil
}

// treeBuilder computes the RFC 6962 tree over leaf hashes appended in
// order, keeping the roots of the complete subtrees (largest first), with no
// allocation per node.
type treeBuilder struct {
	n     uint64
	stack []tlog.Hash
}

// append adds leaf hash h and passes it and every subtree it completes to
// visit, lowest level first (the order of tlog.StoredHashIndex).
func (t *treeBuilder) append(h tlog.Hash, visit func(level int, index uint64, h *tlog.Hash)) {
	visit(0, t.n, &h)
	level, index := 0, t.n
	for index&1 == 1 {
		h = tlog.NodeHash(t.stack[len(t.stack)-1], h)
		t.stack = t.stack[:len(t.stack)-1]
		level, index = level+1, index>>1
		visit(level, index, &h)
	}
	t.stack = append(t.stack, h)
	t.n++
}

// root returns the root hash of the tree so far.
func (t *treeBuilder) root() tlog.Hash {
	if len(t.stack) == 0 {
		return tlog.Hash(rfc6962.DefaultHasher.EmptyRoot())
	}
	h := t.stack[len(t.stack)-1]
	for i := len(t.stack) - 2; i >= 0; i-- {
		h = tlog.NodeHash(t.stack[i], h)
	}
	return h
}

// lastCPSize is the size of the checkpoint before cps[next], 0 if none.
func lastCPSize(cps []*Checkpoint, next int) uint64 {
	if next == 0 {
		return 0
	}
	return cps[next-1].Size
}

// produceBlocks reads every block of every segment in order and hands it to
// emit. It checks framing, checksums and segment continuity. A bad block at
// the end of the last segment beyond the committed leaves is a torn tail,
// and so is a last segment holding only the start of its header.
func produceBlocks(ctx context.Context, segs []segmentInfo, res *VerifyResult, committed uint64, leafHashes func(from, to uint64) ([]tlog.Hash, error), emit func(*verifyJob) bool) error {
	var expect uint64
	for si, seg := range segs {
		if seg.first != expect {
			return &VerifyError{Leaf: expect, Segment: seg.path, Offset: 0,
				Reason: fmt.Sprintf("segment starts at leaf %d, expected %d", seg.first, expect)}
		}
		if t := seg.expired; t != nil {
			// Its records expired; its leaf hashes were kept, and the
			// tree built from them must still match every checkpoint.
			if si == len(segs)-1 {
				return &VerifyError{Leaf: expect, Segment: seg.path, Offset: -1, Reason: "the last segment is marked expired: the segment being appended to never expires; segments were removed"}
			}
			hs, err := leafHashes(t.First, t.End)
			if err != nil {
				return &VerifyError{Leaf: t.First, Segment: seg.path, Offset: -1, File: fileHashes,
					Reason: fmt.Sprintf("the kept leaf hashes of expired leaves %d..%d are missing: %v", t.First, t.End-1, err)}
			}
			j := &verifyJob{h: blockHeader{first: t.First, count: uint32(len(hs))}, seg: seg.path, off: -1, hashes: hs, done: make(chan struct{})}
			close(j.done)
			if !emit(j) {
				return nil
			}
			res.ExpiredLeaves += t.End - t.First
			expect = t.End
			continue
		}
		data, err := os.ReadFile(seg.path)
		if err != nil {
			return fmt.Errorf("read segment: %w", err)
		}
		res.Bytes += int64(len(data))
		if si == len(segs)-1 && expect >= committed && len(data) < segmentHdrSize {
			// A crash while the segment was being created: nothing in
			// it was acknowledged, and the next start writes its header
			// (the same rule as recoverTail's).
			res.TornTail = int64(len(data))
			break
		}
		if first, err := parseSegmentHeader(data); err != nil || first != seg.first {
			return &VerifyError{Leaf: expect, Segment: seg.path, Offset: 0, Reason: fmt.Sprintf("bad segment header (first %d): %v", first, err)}
		}
		off := segmentHdrSize
		for off < len(data) {
			if ctx.Err() != nil {
				return nil
			}
			h, payload, total, err := parseBlock(data[off:])
			if err != nil {
				if si == len(segs)-1 && expect >= committed && mayBeTorn(data[off:], total, err) {
					res.TornTail = int64(len(data) - off)
					break
				}
				return &VerifyError{Leaf: expect, Segment: seg.path, Offset: int64(off), Reason: err.Error()}
			}
			if !emit(&verifyJob{h: h, payload: payload, seg: seg.path, off: int64(off), done: make(chan struct{})}) {
				return nil
			}
			expect = h.first + uint64(h.count)
			off += total
		}
	}
	return nil
}

// verifyCheckpoints checks every stored checkpoint's signature and order,
// and that the published checkpoint file is one of them.
func verifyCheckpoints(dir string, v note.Verifier) ([]*Checkpoint, error) {
	path := filepath.Join(dir, fileCheckpoints)
	ents, _, err := readCheckpointLog(path)
	if err != nil && !errors.Is(err, errTornCheckpoint) {
		return nil, &VerifyError{Offset: -1, File: fileCheckpoints, Reason: err.Error()}
	}
	var out []*Checkpoint
	for i, e := range ents {
		cp, err := ParseCheckpoint(e.Note, v)
		if err != nil {
			return nil, &VerifyError{Offset: -1, File: fmt.Sprintf("%s entry %d at byte %d", fileCheckpoints, i, e.Offset),
				Reason: fmt.Sprintf("checkpoint does not verify: %v", err)}
		}
		if n := len(out); n > 0 && cp.Size < out[n-1].Size {
			return nil, &VerifyError{Leaf: cp.Size, Offset: -1, File: fmt.Sprintf("%s entry %d", fileCheckpoints, i),
				Reason: fmt.Sprintf("checkpoint size %d is smaller than the previous one (%d)", cp.Size, out[n-1].Size)}
		}
		out = append(out, cp)
	}
	pub, err := os.ReadFile(filepath.Join(dir, fileCheckpoint))
	if err == nil {
		cp, err := ParseCheckpoint(pub, v)
		if err != nil {
			return nil, &VerifyError{Offset: -1, File: fileCheckpoint, Reason: fmt.Sprintf("published checkpoint does not verify: %v", err)}
		}
		i := sort.Search(len(out), func(i int) bool { return out[i].Size >= cp.Size })
		if i == len(out) || !bytes.Equal(out[i].Root, cp.Root) {
			return nil, &VerifyError{Leaf: cp.Size, Offset: -1, File: fileCheckpoint, Reason: "published checkpoint is not in the checkpoint log"}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	// Same-size checkpoints must agree; the tree walk checks each against the records.
	for i := 1; i < len(out); i++ {
		if out[i].Size == out[i-1].Size && !bytes.Equal(out[i].Root, out[i-1].Root) {
			return nil, &VerifyError{Leaf: out[i].Size, Offset: -1, File: fmt.Sprintf("%s entry %d", fileCheckpoints, i), Reason: "two signed checkpoints of the same size disagree"}
		}
	}
	return out, nil
}

// storedLeafHashes returns a reader of the stored leaf hashes of the
// ledger directory dir, for expired segments.
func storedLeafHashes(dir string) func(from, to uint64) ([]tlog.Hash, error) {
	return func(from, to uint64) ([]tlog.Hash, error) {
		f, err := os.Open(filepath.Join(dir, fileHashes))
		if err != nil {
			return nil, err
		}
		defer f.Close()
		idx := make([]int64, 0, to-from)
		for n := from; n < to; n++ {
			idx = append(idx, tlog.StoredHashIndex(0, int64(n)))
		}
		return (&hashStore{f: f}).ReadHashes(idx)
	}
}

// mergeAgainst adds checkpoints kept elsewhere to the ledger's own, in
// size order, so that the tree walk checks them too.
func mergeAgainst(cps []*Checkpoint, notes [][]byte, v note.Verifier) ([]*Checkpoint, error) {
	for i, n := range notes {
		cp, err := ParseCheckpoint(n, v)
		if err != nil {
			return nil, &VerifyError{Offset: -1, File: fmt.Sprintf("external checkpoint %d", i+1), Reason: fmt.Sprintf("does not verify with the trusted key: %v", err)}
		}
		k := sort.Search(len(cps), func(k int) bool { return cps[k].Size >= cp.Size })
		if k < len(cps) && cps[k].Size == cp.Size {
			if !bytes.Equal(cps[k].Root, cp.Root) {
				return nil, &VerifyError{Leaf: cp.Size, Offset: -1, File: fmt.Sprintf("external checkpoint %d", i+1),
					Reason: fmt.Sprintf("the ledger's checkpoint log signs another root at size %d than the checkpoint kept elsewhere: history was rewritten", cp.Size)}
			}
			continue
		}
		cps = slices.Insert(cps, k, cp)
	}
	return cps, nil
}
