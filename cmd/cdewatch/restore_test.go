package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdewatch/cdewatch/internal/archive"
	"github.com/cdewatch/cdewatch/internal/archive/versitytest"
	"github.com/cdewatch/cdewatch/internal/config"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/ledger"
)

// restoreCLI runs the cdewatch command line with args and returns its exit
// status and what it printed.
func restoreCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	outF, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	errF, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer outF.Close()
	defer errF.Close()
	so, se := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = outF, errF
	code = run(context.Background(), args)
	os.Stdout, os.Stderr = so, se
	o, _ := os.ReadFile(outF.Name())
	e, _ := os.ReadFile(errF.Name())
	return code, string(o), string(e)
}

// archivedLedger is a real ledger of audit records in data/ledger with a
// signed checkpoint over all of them.
func archivedLedger(t *testing.T, data string, n int) *ledger.Ledger {
	t.Helper()
	open := func() *ledger.Ledger {
		l, err := ledger.Open(ledger.Options{Dir: ledgerDir(data), Origin: "test.example/restore", SegmentBytes: 4096, CheckpointInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := open()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for i := 0; i < n; i += 5 {
		var recs [][]byte
		for j := i; j < min(n, i+5); j++ {
			r, err := event.SelfAudit{Action: event.ActionQuery, User: fmt.Sprintf("analyst-%d", j), Resource: fmt.Sprintf("query %d %x", j, j*7919)}.Record(now.Add(time.Duration(j) * time.Second))
			if err != nil {
				t.Fatal(err)
			}
			b, err := r.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, b)
		}
		if _, err := l.Append(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
	}
	// Closing signs a checkpoint over every record.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open()
	t.Cleanup(func() { l.Close() })
	return l
}

// archiveOnce builds the archive runner from an archive URL as serve does
// and makes one pass (the last one Run makes when its context ends).
func archiveOnce(t *testing.T, data, url string, led *ledger.Ledger) (*archive.Archiver, []event.SelfAudit) {
	t.Helper()
	cfg := config.Default()
	cfg.Data = data
	cfg.Archive.URL = url
	cfg.Archive.Validate(func(key, format string, args ...any) { t.Fatalf("%s: %s", key, fmt.Sprintf(format, args...)) })
	var audits []event.SelfAudit
	audit := func(_ context.Context, a event.SelfAudit) error { audits = append(audits, a); return nil }
	rs, a, err := archiveRunners(context.Background(), cfg, led, audit, nil, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 {
		t.Fatalf("%d archive runners", len(rs))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := rs[0].run(ctx); err != nil {
		t.Fatal(err)
	}
	if st := a.Status(); st.LagRecords != 0 || st.ArchivedRecords != led.Size() || st.ArchivedCheckpoint != led.Size() {
		t.Fatalf("archive status %+v, ledger size %d", st, led.Size())
	}
	return a, audits
}

func restoreTempFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRestoreFromS3 is the acceptance test end to end: records written to
// a real ledger are archived by the runner serve builds, to a real S3 server
// with Object Lock (versitygw); no archived version can be deleted; and
// `cdewatch restore` rebuilds the ledger in an empty directory, verifies it
// and matches it with the ledger's last checkpoint.
func TestRestoreFromS3(t *testing.T) {
	s := versitytest.Start(t)
	s.Bucket(t, "cdewatch-audit", true)
	t.Setenv("AWS_ACCESS_KEY_ID", s.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s.SecretKey)
	url := "s3://cdewatch-audit/prod/cluster-1?endpoint=" + s.Endpoint + "&insecure=1"
	src := t.TempDir()
	led := archivedLedger(t, src, 300)
	archiveOnce(t, src, url, led)

	ctx := context.Background()
	var versions int
	for o := range s.Client.ListObjects(ctx, "cdewatch-audit", minio.ListObjectsOptions{Prefix: "prod/cluster-1/", Recursive: true, WithVersions: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		versions++
		if err := s.Client.RemoveObject(ctx, "cdewatch-audit", o.Key, minio.RemoveObjectOptions{VersionID: o.VersionID, GovernanceBypass: true}); err == nil {
			t.Fatalf("deleting version %s of %s succeeded", o.VersionID, o.Key)
		}
	}
	if versions < 4 {
		t.Fatalf("only %d object versions archived", versions)
	}

	key, err := ledger.ReadVerifierKey(led.Dir())
	if err != nil {
		t.Fatal(err)
	}
	cp := led.LatestCheckpoint()
	keyFile, cpFile := restoreTempFile(t, "log.pub", []byte(key+"\n")), restoreTempFile(t, "checkpoint", cp.Note)
	dst := filepath.Join(t.TempDir(), "restored")
	code, out, errOut := restoreCLI(t, "restore", "--from", url, "--data", dst, "--key", "@"+keyFile, "--checkpoint", cpFile)
	if code != 0 {
		t.Fatalf("restore exited %d:\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		fmt.Sprintf("restored %d records", led.Size()),
		fmt.Sprintf("checkpoint matched: the checkpoint given (size %d", cp.Size),
		"trust anchor: the verifier key given",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("restore output lacks %q:\n%s", want, out)
		}
	}
	if code, out, errOut := restoreCLI(t, "verify", "--data", dst, "--key", "@"+keyFile); code != 0 {
		t.Fatalf("verify of the restored ledger exited %d:\n%s%s", code, out, errOut)
	}
	if code, _, errOut := restoreCLI(t, "restore", "--from", url, "--data", dst); code != 1 || !strings.Contains(errOut, "is not empty") {
		t.Fatalf("restore into a non-empty directory exited %d: %s", code, errOut)
	}
}

// TestRestoreDamagedFolderArchive: a restore from a local-folder archive
// with a chunk missing or changed fails, naming what is wrong.
func TestRestoreDamagedFolderArchive(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, chunks []string)
		want   []string
	}{
		{"chunk missing", func(t *testing.T, chunks []string) {
			if err := os.Remove(chunks[1]); err != nil {
				t.Fatal(err)
			}
		}, []string{"are missing from the archive", "archive object segments/"}},
		{"chunk changed", func(t *testing.T, chunks []string) {
			b, err := os.ReadFile(chunks[1])
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 1
			os.Chmod(chunks[1], 0o644)
			if err := os.WriteFile(chunks[1], b, 0o644); err != nil {
				t.Fatal(err)
			}
		}, []string{"archive object segments/", "does not verify"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := t.TempDir()
			led := archivedLedger(t, src, 300)
			root := filepath.Join(t.TempDir(), "archive")
			archiveOnce(t, src, "file://"+root, led)
			chunks, err := filepath.Glob(filepath.Join(root, "segments", "*", "*"))
			if err != nil || len(chunks) < 3 {
				t.Fatalf("%d chunks archived (%v)", len(chunks), err)
			}
			tc.damage(t, chunks)
			code, out, errOut := restoreCLI(t, "restore", "--quiet", "--from", "file://"+root, "--data", filepath.Join(t.TempDir(), "restored"))
			if code != 1 {
				t.Fatalf("restore of a damaged archive exited %d:\n%s%s", code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("restore error does not say %q:\n%s", w, errOut)
				}
			}
		})
	}
}

// TestRestoreUsage: command-line mistakes exit with status 2.
func TestRestoreUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"restore", "--data", "x"}, "--from and --data are required"},
		{[]string{"restore", "--from", "file:///x"}, "--from and --data are required"},
		{[]string{"restore", "--from", "ftp://x", "--data", "x"}, `scheme "ftp"`},
		{[]string{"restore", "--from", "file:///x", "--data", "x", "--credentials-file", "c"}, "for s3:// and azblob:// archives only"},
	}
	for _, tc := range tests {
		if code, _, errOut := restoreCLI(t, tc.args...); code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
	missing := filepath.Join(t.TempDir(), "none")
	if code, _, errOut := restoreCLI(t, "restore", "--from", "file://"+missing, "--data", filepath.Join(t.TempDir(), "d")); code != 1 || !strings.Contains(errOut, "no archive at "+missing) {
		t.Errorf("restore from a missing folder: exit %d, %q", code, errOut)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("restore created the archive folder it was to read")
	}
}

// TestArchiveRunners: no runner without an archive URL; a bucket without
// Object Lock stops serve from starting.
func TestArchiveRunners(t *testing.T) {
	led := archivedLedger(t, t.TempDir(), 5)
	cfg := config.Default()
	rs, a, err := archiveRunners(context.Background(), cfg, led, nil, nil, nil, slog.New(slog.DiscardHandler))
	if err != nil || rs != nil || a != nil {
		t.Fatalf("no archive configured: %v %v %v", rs, a, err)
	}

	s := versitytest.Start(t)
	s.Bucket(t, "unlocked", false)
	t.Setenv("AWS_ACCESS_KEY_ID", s.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s.SecretKey)
	cfg.Data = t.TempDir()
	cfg.Archive.URL = "s3://unlocked?endpoint=" + s.Endpoint + "&insecure=1"
	cfg.Archive.Validate(func(key, format string, args ...any) { t.Fatalf("%s: %s", key, fmt.Sprintf(format, args...)) })
	_, _, err = archiveRunners(context.Background(), cfg, led, nil, nil, nil, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "archive.url") || !strings.Contains(err.Error(), "Object Lock") {
		t.Fatalf("unlocked bucket: %v", err)
	}
}

// TestArchiveRestoreTestAudit: a restore test is recorded as evidence.
func TestArchiveRestoreTestAudit(t *testing.T) {
	tests := []struct {
		r       archive.RestoreTestResult
		outcome event.Outcome
	}{
		{archive.RestoreTestResult{OK: true, Target: "s3://b/p", Records: 10, Root: "abc="}, event.Success},
		{archive.RestoreTestResult{OK: false, Target: "s3://b/p", Error: "objects are missing"}, event.Failure},
	}
	for _, tc := range tests {
		a := restoreTestAudit(tc.r)
		rec, err := a.Record(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if rec.Action != event.ActionArchiveRestoreTest || rec.Outcome != tc.outcome || rec.Resource != "s3://b/p" || rec.Table != event.TableCdewatchAudit {
			t.Errorf("record %+v", rec)
		}
		if (tc.r.Error != "") != strings.Contains(string(rec.Raw), `"error"`) || !strings.Contains(string(rec.Raw), tc.r.Error) || !strings.Contains(string(rec.Raw), `"records"`) {
			t.Errorf("raw %s", rec.Raw)
		}
	}
}

func TestRestoreByteCount(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1536, "1.5 KiB"}, {14737, "14.4 KiB"}, {5 << 30, "5.0 GiB"}, {3 << 50, "3.0 PiB"}, {1 << 62, "4096.0 PiB"}}
	for _, tc := range tests {
		if got := byteCount(tc.n); got != tc.want {
			t.Errorf("byteCount(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
