package archive

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cdewatch/cdewatch/internal/ledger"
)

// RestoreTestResult is the evidence of one restore test.
type RestoreTestResult struct {
	Time     time.Time     // when it started
	Duration time.Duration // how long it took
	OK       bool
	Error    string // why it failed
	Target   string // the store restored from
	Objects  int
	Bytes    int64
	Records  uint64 // records restored and verified
	// ArchivedRecords is how many records the archiver had stored when
	// the test began: the restore must hold at least as many.
	ArchivedRecords uint64
	LedgerRecords   uint64 // records in the live ledger when the test ended
	CheckpointSize  uint64 // tree size of the checkpoint the restore matched
	Root            string // base64 tree root over the restored records, equal to the live ledger's at that size
}

// RestoreTest restores the newest archive into a temporary directory under
// RestoreTestDir, verifies it with the live ledger's verifier key, checks
// that it holds every record archived so far and that its tree equals the
// live ledger's at the same size, and removes it. The result is recorded
// in the state file and returned; OnRestoreTest is not called (Run does).
func (a *Archiver) RestoreTest(ctx context.Context) RestoreTestResult {
	r := RestoreTestResult{Time: a.opts.Now().UTC(), Target: a.opts.Store.String(), ArchivedRecords: a.cursor().Leaf}
	start := time.Now()
	err := a.restoreTest(ctx, &r)
	r.Duration = time.Since(start)
	r.LedgerRecords = a.led.Size()
	r.OK = err == nil
	if err != nil {
		r.Error = err.Error()
		a.log.Error("archive restore test failed", "target", r.Target, "err", err, "duration", r.Duration)
	} else {
		a.log.Info("archive restore test passed", "target", r.Target, "records", r.Records, "bytes", r.Bytes, "duration", r.Duration)
	}
	a.mu.Lock()
	a.lastTest = &r
	a.mu.Unlock()
	if err := a.saveRestoreTest(r.Time); err != nil {
		a.log.Error("could not record the restore test time", "err", err)
	}
	return r
}

func (a *Archiver) restoreTest(ctx context.Context, r *RestoreTestResult) error {
	key, err := ledger.ReadVerifierKey(a.led.Dir())
	if err != nil {
		return err
	}
	if err := os.MkdirAll(a.opts.RestoreTestDir, 0o700); err != nil {
		return fmt.Errorf("create restore test directory: %w", err)
	}
	tmp, err := os.MkdirTemp(a.opts.RestoreTestDir, "cdewatch-restore-test-")
	if err != nil {
		return fmt.Errorf("create restore test directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	res, err := Restore(ctx, a.opts.Store, RestoreOptions{Dir: filepath.Join(tmp, "ledger"), Key: key})
	if err != nil {
		return err
	}
	r.Objects, r.Bytes, r.Records = res.Objects, res.Bytes, res.Records
	r.CheckpointSize = res.Anchor.Size
	r.Root = base64.StdEncoding.EncodeToString(res.Root)
	if res.Records < r.ArchivedRecords {
		return fmt.Errorf("the archive holds %d records but %d were archived: objects holding records %d..%d are missing", res.Records, r.ArchivedRecords, res.Records, r.ArchivedRecords-1)
	}
	live, err := a.led.RootAt(res.Records)
	if err != nil {
		return fmt.Errorf("the archive holds %d records, more than the live ledger: %w", res.Records, err)
	}
	if !bytes.Equal(live, res.Root) {
		return fmt.Errorf("the archive's tree of %d records has root %s, the live ledger's %s: they hold different records",
			res.Records, r.Root, base64.StdEncoding.EncodeToString(live))
	}
	return nil
}

func (a *Archiver) saveRestoreTest(t time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.cur
	c.LastRestoreTest = t
	err := a.writeLocked(c)
	a.cur.LastRestoreTest = t // due again after the interval even if not saved
	return err
}

// runRestoreTests runs a restore test whenever one is due, until ctx
// ends. The first waits for a successful archiving pass.
func (a *Archiver) runRestoreTests(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-a.synced:
	}
	for {
		last := a.cursor().LastRestoreTest
		wait := time.Duration(0)
		if !last.IsZero() {
			wait = max(last.Add(a.opts.RestoreTestInterval).Sub(a.opts.Now()), 0)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		r := a.RestoreTest(ctx)
		if ctx.Err() != nil {
			return
		}
		if a.opts.OnRestoreTest != nil {
			a.opts.OnRestoreTest(ctx, r)
		}
	}
}
