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
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/transparency-dev/merkle/compact"
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
}

// VerifyResult summarizes a successful verification.
type VerifyResult struct {
	Leaves       uint64
	Segments     int
	Checkpoints  int
	Root         []byte
	Bytes        int64
	Elapsed      time.Duration
	TornTail     int64 // bytes of an unacknowledged torn tail (removed at next start)
	KeyFromStore bool  // the verifier key was read from the ledger directory
}

// Summary is the one-line report of a successful verification.
func (r *VerifyResult) Summary() string {
	rate := float64(r.Leaves) / r.Elapsed.Seconds()
	s := fmt.Sprintf("ledger intact: %d leaves in %d segments, %d signed checkpoints consistent, root %s, %.0f leaves/s",
		r.Leaves, r.Segments, r.Checkpoints, base64.StdEncoding.EncodeToString(r.Root), rate)
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
	res.Checkpoints = len(cps)
	var maxSize uint64
	if len(cps) > 0 {
		maxSize = cps[len(cps)-1].Size
	}

	hf, err := os.Open(filepath.Join(o.Dir, fileHashes))
	if err != nil {
		return nil, fmt.Errorf("open tree hashes: %w", err)
	}
	defer hf.Close()
	stored := bufio.NewReaderSize(hf, 1<<20)
	var storedIdx int64
	var storedEOF bool
	var hashErr *VerifyError // first stored-hash mismatch
	rng := rangeFactory.NewEmptyRange(0)
	visit := func(id compact.NodeID, h []byte) {
		if storedEOF || hashErr != nil {
			storedIdx++
			return
		}
		var want [tlog.HashSize]byte
		if _, err := io.ReadFull(stored, want[:]); err != nil {
			storedEOF = true
			return
		}
		if !bytes.Equal(want[:], h) {
			lo, hi := id.Coverage()
			hashErr = &VerifyError{Leaf: lo, Offset: -1, File: fileHashes,
				Reason: fmt.Sprintf("stored tree hash %d (level %d, leaves %d..%d) differs from the hash recomputed from the records", storedIdx, id.Level, lo, hi-1)}
		}
		storedIdx++
	}
	nextCP := 0
	var lastCheckedRoot []byte
	checkCheckpoints := func(size uint64, seg string, off int64) error {
		for nextCP < len(cps) && cps[nextCP].Size == size {
			root, err := rng.GetRootHash(nil)
			if err != nil {
				return err
			}
			if !bytes.Equal(root, cps[nextCP].Root) {
				lo := uint64(0)
				if nextCP > 0 {
					lo = cps[nextCP-1].Size
				}
				ve := &VerifyError{Leaf: lo, Segment: seg, Offset: off,
					Reason: fmt.Sprintf("tree root at size %d does not match signed checkpoint %d: records in leaves %d..%d were altered, removed, reordered or inserted", size, nextCP, lo, size-1)}
				if hashErr != nil && hashErr.Leaf >= lo {
					ve.Leaf = hashErr.Leaf
					ve.Reason = fmt.Sprintf("record altered: its hash differs from the stored tree hash and from signed checkpoint %d (size %d)", nextCP, size)
				}
				return ve
			}
			lastCheckedRoot = root
			nextCP++
		}
		return nil
	}
	if err := checkCheckpoints(0, "", -1); err != nil {
		return nil, err
	}

	segs, err := listSegments(filepath.Join(o.Dir, dirSegments))
	if err != nil {
		return nil, err
	}
	res.Segments = len(segs)
	jobs := make(chan *verifyJob, o.Workers*4)
	ordered := make(chan *verifyJob, o.Workers*8)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range o.Workers {
		go func() {
			dec, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxBlockBody))
			defer dec.Close()
			var buf []byte
			for j := range jobs {
				var recs [][]byte
				recs, buf, j.err = decodeRecords(dec, j.payload, j.h.count, buf)
				if j.err == nil {
					j.hashes = make([]tlog.Hash, len(recs))
					for i, r := range recs {
						j.hashes[i] = tlog.RecordHash(r)
						if o.CheckRecord != nil && j.err == nil {
							if err := o.CheckRecord(r); err != nil {
								j.err = fmt.Errorf("record %d of block does not decode: %w", i, err)
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
		prodErr = produceBlocks(ctx, segs, res, maxSize, func(j *verifyJob) bool {
			select {
			case ordered <- j:
			case <-ctx.Done():
				return false
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
	var lastProgress time.Time
	for j := range ordered {
		<-j.done
		if j.h.first != seq {
			cancel()
			reason := fmt.Sprintf("block holds leaves from %d, expected %d: records %d..%d are missing", j.h.first, seq, seq, j.h.first-1)
			if j.h.first < seq {
				reason = fmt.Sprintf("block holds leaves from %d, expected %d: records duplicated or reordered", j.h.first, seq)
			}
			return nil, &VerifyError{Leaf: seq, Segment: j.seg, Offset: j.off, Reason: reason}
		}
		if j.err != nil {
			cancel()
			return nil, &VerifyError{Leaf: j.h.first, Segment: j.seg, Offset: j.off, Reason: j.err.Error()}
		}
		for _, h := range j.hashes {
			if err := rng.Append(h[:], visit); err != nil {
				return nil, err
			}
			seq++
			if err := checkCheckpoints(seq, j.seg, j.off); err != nil {
				cancel()
				return nil, err
			}
		}
		if o.Progress != nil && time.Since(lastProgress) > time.Second {
			o.Progress(seq)
			lastProgress = time.Now()
		}
	}
	if prodErr != nil {
		var ve *VerifyError
		if errors.As(prodErr, &ve) && ve.Leaf == 0 && ve.Segment != "" {
			ve.Leaf = seq
		}
		return nil, prodErr
	}
	res.Leaves = seq
	if nextCP < len(cps) {
		return nil, &VerifyError{Leaf: seq, Offset: -1, File: fileCheckpoints,
			Reason: fmt.Sprintf("signed checkpoint %d covers %d leaves but only %d are stored: records from leaf %d on were removed", nextCP, cps[nextCP].Size, seq, seq)}
	}
	if hashErr != nil {
		return nil, hashErr
	}
	root, err := rng.GetRootHash(nil)
	if err != nil {
		return nil, err
	}
	if lastCheckedRoot == nil && seq > 0 {
		return nil, &VerifyError{Leaf: 0, Offset: -1, File: fileCheckpoints, Reason: "no signed checkpoint covers the ledger"}
	}
	res.Root = root
	res.Elapsed = time.Since(start)
	return res, nil
}

// produceBlocks reads every block of every segment in order and hands it to
// emit. It checks framing, checksums and segment continuity.
func produceBlocks(ctx context.Context, segs []segmentInfo, res *VerifyResult, checkpointed uint64, emit func(*verifyJob) bool) error {
	var expect uint64
	for si, seg := range segs {
		if seg.first != expect {
			return &VerifyError{Leaf: expect, Segment: seg.path, Offset: 0,
				Reason: fmt.Sprintf("segment starts at leaf %d, expected %d", seg.first, expect)}
		}
		data, err := os.ReadFile(seg.path)
		if err != nil {
			return fmt.Errorf("read segment: %w", err)
		}
		res.Bytes += int64(len(data))
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
				last := si == len(segs)-1
				tail := errors.Is(err, errShortBlock) || total <= 0 || off+total >= len(data)
				if !tail && total > 0 {
					_, _, _, nextErr := parseBlock(data[off+total:])
					tail = nextErr != nil
				}
				if last && tail && expect >= checkpointed {
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

