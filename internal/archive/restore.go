package archive

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/cdewatch/cdewatch/internal/fsutil"
	"github.com/cdewatch/cdewatch/internal/ledger"
)

// RestoreOptions configure Restore.
type RestoreOptions struct {
	// Dir is the ledger directory to rebuild; it must be missing or empty.
	Dir string
	// Key is the trusted verifier key ("<origin>+<hash>+<key>"), kept
	// apart from the archive. Empty: the archived log.pub is trusted, which
	// proves nothing against someone who could replace it.
	Key string
	// Checkpoint is a trusted signed checkpoint note kept apart from the
	// archive. Nil: the newest archived checkpoint is the anchor.
	Checkpoint []byte
	// CheckRecord, when set, is called for every record to check that it decodes.
	CheckRecord func([]byte) error
	// Concurrency is how many objects are downloaded at once; default 4.
	Concurrency int
	// Progress, when set, is called now and then.
	Progress func(Progress)
}

// Progress reports how far a restore is.
type Progress struct {
	Phase                 string // "download", "verify" or "hash"
	Objects, ObjectsTotal int
	Bytes, BytesTotal     int64
	Leaves                uint64 // verify
}

// RestoreResult summarizes a successful restore.
type RestoreResult struct {
	Objects     int
	Bytes       int64
	Segments    int
	Records     uint64
	Checkpoints int
	Root        []byte // tree root over all records
	// Anchor is the signed checkpoint the restored tree was proved
	// against; AnchorGiven says it came from RestoreOptions.Checkpoint,
	// not from the archive.
	Anchor      *ledger.Checkpoint
	AnchorGiven bool
	// KeyFromArchive: no key was given and the archived log.pub was trusted.
	KeyFromArchive bool
	// Hidden lists objects whose newest version is a delete marker;
	// Rewritten those written again after archiving. Their first versions
	// were restored.
	Hidden, Rewritten []string
	Elapsed           time.Duration
}

// Summary is a few lines describing the result.
func (r *RestoreResult) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "restored %d records (%d segments, %d bytes, %d objects, %d signed checkpoints) in %s\n",
		r.Records, r.Segments, r.Bytes, r.Objects, r.Checkpoints, r.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(&b, "verified: every block checksum, leaf hash and stored checkpoint; tree root %s\n", base64.StdEncoding.EncodeToString(r.Root))
	src := "the newest checkpoint in the archive"
	if r.AnchorGiven {
		src = "the checkpoint given"
	}
	fmt.Fprintf(&b, "checkpoint matched: %s (size %d, root %s, signed %s)\n", src, r.Anchor.Size,
		base64.StdEncoding.EncodeToString(r.Anchor.Root), r.Anchor.Time.Format(time.RFC3339))
	if r.KeyFromArchive {
		b.WriteString("trust anchor: the archive's own log.pub (pass --key with the verifier key kept elsewhere to rule out a replaced key)\n")
	} else {
		b.WriteString("trust anchor: the verifier key given\n")
	}
	if !r.AnchorGiven {
		b.WriteString("note: the newest archived checkpoint proves what the archive holds, not that nothing newer was withheld; pass --checkpoint with one kept elsewhere to prove that\n")
	}
	for _, n := range r.Hidden {
		fmt.Fprintf(&b, "warning: archive object %s was deleted (a delete marker hides it); its locked version was restored\n", n)
	}
	for _, n := range r.Rewritten {
		fmt.Fprintf(&b, "warning: archive object %s was written again after archiving; its first version was restored\n", n)
	}
	return b.String()
}

// RestoreError is a restore that failed because the archive is not intact.
// It names the archive object concerned when there is one.
type RestoreError struct {
	Object string
	Err    error
}

// Error implements error.
func (e *RestoreError) Error() string {
	if e.Object != "" {
		return fmt.Sprintf("archive object %s: %v", e.Object, e.Err)
	}
	return e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *RestoreError) Unwrap() error { return e.Err }

type chunk struct {
	info ObjectInfo
	name ObjectName
	file string // destination path
}

// Restore rebuilds a ledger directory from the archive in store and proves
// it: every block checksum, leaf hash and archived checkpoint is verified
// (ledger.Verify), and the tree must match the anchor checkpoint. The
// signing key is not archived: copy log.key from its own backup into the
// restored directory to append to it again.
func Restore(ctx context.Context, store Store, o RestoreOptions) (*RestoreResult, error) {
	start := time.Now()
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if err := prepareDir(o.Dir); err != nil {
		return nil, err
	}
	objs, err := store.List(ctx, "")
	if err != nil {
		return nil, err
	}
	res := &RestoreResult{KeyFromArchive: o.Key == ""}
	var verifier *ObjectInfo
	segs := map[uint64][]chunk{}
	var cps []chunk
	for i := range objs {
		obj := objs[i]
		n, err := ParseObjectName(obj.Name)
		if err != nil {
			return nil, &RestoreError{Err: fmt.Errorf("%w; is %s a cdewatch archive?", err, store)}
		}
		if obj.Hidden {
			res.Hidden = append(res.Hidden, obj.Name)
		}
		if obj.Versions > 1 {
			res.Rewritten = append(res.Rewritten, obj.Name)
		}
		switch n.Kind {
		case KindVerifier:
			verifier = &obj
		case KindSegment:
			segs[n.Segment] = append(segs[n.Segment], chunk{info: obj, name: n,
				file: filepath.Join(o.Dir, ledger.SegmentsDir, ledger.SegmentFileName(n.Segment))})
		case KindCheckpoints:
			cps = append(cps, chunk{info: obj, name: n, file: filepath.Join(o.Dir, ledger.CheckpointLogFile)})
		}
	}
	if len(segs) == 0 {
		return nil, &RestoreError{Err: fmt.Errorf("%s holds no segment chunks (%d objects): wrong bucket or prefix, or nothing was archived yet", store, len(objs))}
	}
	// The key: the archived log.pub, or the one given (which must agree).
	key := strings.TrimSpace(o.Key)
	if verifier != nil {
		b, err := store.Get(ctx, *verifier)
		if err != nil {
			return nil, &RestoreError{Object: verifier.Name, Err: err}
		}
		archived := strings.TrimSpace(string(b))
		if key == "" {
			key = archived
		} else if archived != key {
			return nil, &RestoreError{Object: verifier.Name, Err: fmt.Errorf("holds the verifier key %q, not the trusted key %q: the archive belongs to another ledger, or its key was replaced", archived, key)}
		}
	} else if key == "" {
		return nil, &RestoreError{Err: fmt.Errorf("%s has no %s: pass the ledger's verifier key (cdewatch version --verifier) with --key", store, nameVerifier)}
	}
	v, err := note.NewVerifier(key)
	if err != nil {
		return nil, fmt.Errorf("verifier key %q: %w", key, err)
	}
	// Every file must be complete: chunks follow on byte for byte.
	var all []chunk
	firsts := make([]uint64, 0, len(segs))
	for first := range segs {
		firsts = append(firsts, first)
	}
	sort.Slice(firsts, func(i, j int) bool { return firsts[i] < firsts[j] })
	for _, first := range firsts {
		if err := contiguous(segs[first], "segment "+ledger.SegmentFileName(first)); err != nil {
			return nil, err
		}
		all = append(all, segs[first]...)
	}
	if len(cps) == 0 {
		return nil, &RestoreError{Err: fmt.Errorf("%s holds no checkpoints: nothing proves its records; the archive is incomplete", store)}
	}
	if err := contiguous(cps, "the checkpoint log"); err != nil {
		return nil, err
	}
	all = append(all, cps...)
	res.Segments, res.Objects = len(segs), len(all)
	for _, c := range all {
		res.Bytes += c.info.Size
	}
	if err := download(ctx, store, all, o, res); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(o.Dir, ledger.VerifierFile), []byte(key+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("write %s: %w", ledger.VerifierFile, err)
	}
	logBytes, err := os.ReadFile(filepath.Join(o.Dir, ledger.CheckpointLogFile))
	if err != nil {
		return nil, err
	}
	notes, err := ledger.SplitCheckpointLog(logBytes)
	if err != nil {
		return nil, &RestoreError{Object: cps[len(cps)-1].info.Name, Err: fmt.Errorf("the archived checkpoint log is damaged: %w", err)}
	}
	if len(notes) == 0 {
		return nil, &RestoreError{Err: errors.New("the archived checkpoint log is empty")}
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(o.Dir, ledger.CheckpointFile), notes[len(notes)-1], 0o644); err != nil {
		return nil, fmt.Errorf("write %s: %w", ledger.CheckpointFile, err)
	}
	if err := fsutil.SyncDir(filepath.Join(o.Dir, ledger.SegmentsDir)); err != nil {
		return nil, err
	}
	if err := fsutil.SyncDir(o.Dir); err != nil {
		return nil, err
	}

	vo := ledger.VerifyOptions{Dir: o.Dir, Verifier: v, CheckRecord: o.CheckRecord}
	if o.Progress != nil {
		vo.Progress = func(n uint64) { o.Progress(Progress{Phase: "verify", Leaves: n}) }
	}
	vr, err := ledger.Verify(ctx, vo)
	if err != nil {
		return nil, blame(err, all, o.Dir)
	}
	if vr.TornTail > 0 {
		return nil, &RestoreError{Object: lastSegmentChunk(segs, firsts), Err: fmt.Errorf("the last segment ends in %d bytes that are not a whole block: the archive holds a torn write", vr.TornTail)}
	}
	res.Records, res.Checkpoints, res.Root = vr.Leaves, vr.Checkpoints, vr.Root
	if o.Progress != nil {
		o.Progress(Progress{Phase: "hash", Leaves: vr.Leaves})
	}
	if _, err := ledger.RebuildTreeHashes(ctx, o.Dir); err != nil {
		return nil, err
	}

	// The anchor: the checkpoint given, or the newest archived one.
	anchorNote, src := notes[len(notes)-1], "the newest archived checkpoint"
	if o.Checkpoint != nil {
		anchorNote, src, res.AnchorGiven = o.Checkpoint, "the checkpoint given", true
	}
	anchor, err := ledger.ParseCheckpoint(anchorNote, v)
	if err != nil {
		return nil, fmt.Errorf("%s does not verify with the trusted key %s: %w", src, v.Name(), err)
	}
	if anchor.Size > res.Records {
		return nil, &RestoreError{Object: lastSegmentChunk(segs, firsts), Err: fmt.Errorf("%s covers %d records but the archive holds only %d: records %d..%d are missing from the archive (deleted, or not archived yet)",
			src, anchor.Size, res.Records, res.Records, anchor.Size-1)}
	}
	root, err := ledger.TreeRootAt(o.Dir, anchor.Size)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(root, anchor.Root) {
		return nil, &RestoreError{Err: fmt.Errorf("the restored tree at size %d has root %s but %s signs %s: the archive does not hold the log that checkpoint describes",
			anchor.Size, base64.StdEncoding.EncodeToString(root), src, base64.StdEncoding.EncodeToString(anchor.Root))}
	}
	res.Anchor = anchor
	res.Elapsed = time.Since(start)
	return res, nil
}

// prepareDir creates dir, which must be missing or empty.
func prepareDir(dir string) error {
	if dir == "" {
		return errors.New("restore: no target directory")
	}
	ents, err := os.ReadDir(dir)
	if err == nil && len(ents) > 0 {
		return fmt.Errorf("restore target %s is not empty: restore into a new or empty directory (nothing was changed)", dir)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("restore target: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, ledger.SegmentsDir), 0o755); err != nil {
		return fmt.Errorf("create restore target: %w", err)
	}
	return nil
}

// contiguous sorts the chunks of one file by offset and checks that they
// start at 0 and follow on without a gap or overlap.
func contiguous(cs []chunk, what string) error {
	sort.Slice(cs, func(i, j int) bool { return cs[i].name.Offset < cs[j].name.Offset })
	var next int64
	for i, c := range cs {
		switch {
		case c.info.Size <= 0:
			return &RestoreError{Object: c.info.Name, Err: errors.New("is empty: the archive is damaged")}
		case c.name.Offset > next && i == 0:
			return &RestoreError{Err: fmt.Errorf("%s: bytes 0..%d are missing from the archive (no object %s): the archive is damaged", what, c.name.Offset-1, nameAt(c.name, 0))}
		case c.name.Offset > next:
			return &RestoreError{Err: fmt.Errorf("%s: bytes %d..%d are missing from the archive (no object %s between %s and %s): the archive is damaged",
				what, next, c.name.Offset-1, nameAt(c.name, next), cs[i-1].info.Name, c.info.Name)}
		case c.name.Offset < next:
			return &RestoreError{Object: c.info.Name, Err: fmt.Errorf("overlaps %s (%s bytes up to %d): the archive is damaged", cs[i-1].info.Name, what, next)}
		}
		next = c.name.Offset + c.info.Size
	}
	return nil
}

func nameAt(n ObjectName, off int64) string {
	n.Offset = off
	return n.String()
}

// download fetches every chunk and writes it at its offset in its file.
func download(ctx context.Context, store Store, all []chunk, o RestoreOptions, res *RestoreResult) error {
	files := map[string]*os.File{}
	for _, c := range all {
		if files[c.file] != nil {
			continue
		}
		f, err := os.OpenFile(c.file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return fmt.Errorf("create %s: %w", c.file, err)
		}
		defer f.Close()
		files[c.file] = f
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan chunk)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
		done     atomic.Int64
		bytesIn  atomic.Int64
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	for range o.Concurrency {
		wg.Go(func() {
			for c := range jobs {
				b, err := store.Get(ctx, c.info)
				if err == nil && int64(len(b)) != c.info.Size {
					err = fmt.Errorf("downloaded %d bytes, listed as %d", len(b), c.info.Size)
				}
				if err != nil {
					fail(&RestoreError{Object: c.info.Name, Err: err})
					continue
				}
				if _, err := files[c.file].WriteAt(b, c.name.Offset); err != nil {
					fail(fmt.Errorf("write %s: %w", c.file, err))
					continue
				}
				done.Add(1)
				bytesIn.Add(int64(len(b)))
			}
		})
	}
	report := func() {
		if o.Progress != nil {
			o.Progress(Progress{Phase: "download", Objects: int(done.Load()), ObjectsTotal: len(all), Bytes: bytesIn.Load(), BytesTotal: res.Bytes})
		}
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
feed:
	for _, c := range all {
		for {
			select {
			case jobs <- c:
				continue feed
			case <-ctx.Done():
				break feed
			case <-tick.C:
				report()
			}
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	report()
	for name, f := range files {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", name, err)
		}
	}
	return nil
}

// blame turns a verification failure of the restored directory into a
// RestoreError naming the archive object that holds the damaged bytes.
func blame(err error, all []chunk, dir string) error {
	var ve *ledger.VerifyError
	if !errors.As(err, &ve) {
		return fmt.Errorf("verify the restored ledger: %w", err)
	}
	if ve.Segment == "" && ve.File == ledger.CheckpointLogFile && ve.Leaf > 0 {
		// Signed checkpoints cover records beyond the last segment chunk.
		var last string
		for _, c := range all {
			if c.name.Kind == KindSegment {
				last = c.info.Name
			}
		}
		return &RestoreError{Err: fmt.Errorf("the archive's records end at leaf %d, before what its signed checkpoints cover: objects after %s are missing: %w", ve.Leaf, last, err)}
	}
	if ve.Segment != "" && ve.Offset >= 0 {
		for _, c := range all {
			if c.file == ve.Segment && ve.Offset == 0 && c.name.Offset == 0 && c.name.Segment > ve.Leaf {
				return &RestoreError{Object: c.info.Name, Err: fmt.Errorf("records %d..%d are missing from the archive: no segment holding them was archived before this one (objects %s%020d/… are absent): %w",
					ve.Leaf, c.name.Segment-1, prefixSegments, ve.Leaf, err)}
			}
			if c.file == ve.Segment && ve.Offset >= c.name.Offset && ve.Offset < c.name.Offset+c.info.Size {
				return &RestoreError{Object: c.info.Name, Err: fmt.Errorf("the restored ledger does not verify: %w", err)}
			}
		}
	}
	if rel, rerr := filepath.Rel(dir, ve.Segment); rerr == nil && ve.Segment != "" {
		return &RestoreError{Err: fmt.Errorf("the restored ledger does not verify (%s): %w", rel, err)}
	}
	return &RestoreError{Err: fmt.Errorf("the restored ledger does not verify: %w", err)}
}

func lastSegmentChunk(segs map[uint64][]chunk, firsts []uint64) string {
	cs := segs[firsts[len(firsts)-1]]
	return cs[len(cs)-1].info.Name
}
