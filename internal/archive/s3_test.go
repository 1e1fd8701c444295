package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/cdewatch/cdewatch/internal/ledger"
)

// TestArchiveS3ObjectLock is the acceptance test against a real S3 server
// enforcing Object Lock (versitygw): records written to a real ledger are
// archived in several passes; no archived version can be deleted or
// overwritten; a restore into an empty directory verifies and matches the
// ledger's last checkpoint, even after the objects were "deleted".
func TestArchiveS3ObjectLock(t *testing.T) {
	ctx := context.Background()
	v := startVersity(t)
	v.bucket(t, "cdewatch-archive", true)
	store, err := v.open(t, v.location("cdewatch-archive", "prod/ledger-1"))
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "archive.json")
	led, _, objs := archiveInTwoPasses(t, store, state)
	want := led.LatestCheckpoint()
	// Every version of every object is locked in compliance mode.
	var versions int
	for o := range v.client.ListObjects(ctx, "cdewatch-archive", minio.ListObjectsOptions{Prefix: "prod/ledger-1/", Recursive: true, WithVersions: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		versions++
		for _, opts := range []minio.RemoveObjectOptions{{VersionID: o.VersionID}, {VersionID: o.VersionID, GovernanceBypass: true}} {
			err := v.client.RemoveObject(ctx, "cdewatch-archive", o.Key, opts)
			if err == nil {
				t.Fatalf("deleting version %s of %s (governance bypass %v) succeeded", o.VersionID, o.Key, opts.GovernanceBypass)
			}
			if !strings.Contains(err.Error(), "object lock") {
				t.Errorf("deleting %s: %v, want a refusal for the object lock", o.Key, err)
			}
		}
		// Shortening the retention is refused too.
		shorter := time.Now().Add(time.Minute)
		mode := minio.Governance
		if err := v.client.PutObjectRetention(ctx, "cdewatch-archive", o.Key, minio.PutObjectRetentionOptions{VersionID: o.VersionID, Mode: &mode, RetainUntilDate: &shorter, GovernanceBypass: true}); err == nil {
			t.Errorf("shortening the retention of %s succeeded", o.Key)
		} else if !strings.Contains(err.Error(), "object lock") {
			t.Errorf("shortening the retention of %s: %v, want a refusal for the object lock", o.Key, err)
		}
	}
	if versions != len(objs) {
		t.Fatalf("%d versions for %d objects: something was written twice", versions, len(objs))
	}
	// Overwriting through the store is refused, and the archiver never tries.
	if err := store.Put(ctx, objs[0].Name, []byte("forged"), time.Now().Add(time.Hour)); !errors.Is(err, ErrExists) {
		t.Fatalf("overwrite through the store: %v, want ErrExists", err)
	}
	// A plain delete only adds a delete marker; the locked version stays.
	hidden := objs[len(objs)-1].Name
	if err := v.client.RemoveObject(ctx, "cdewatch-archive", "prod/ledger-1/"+hidden, minio.RemoveObjectOptions{}); err != nil {
		t.Fatalf("plain delete: %v", err)
	}
	mustSync(t, newArchiver(t, led, store, state)) // finds nothing to do and no conflict

	for _, tc := range []struct {
		name       string
		checkpoint []byte
	}{
		{"newest archived checkpoint", nil},
		{"checkpoint given", want.Note},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ledger")
			key, err := ledger.ReadVerifierKey(led.Dir())
			if err != nil {
				t.Fatal(err)
			}
			res, err := Restore(ctx, store, RestoreOptions{Dir: dir, Key: key, Checkpoint: tc.checkpoint})
			if err != nil {
				t.Fatal(err)
			}
			if res.Records != led.Size() || res.Anchor.Size != want.Size || !bytes.Equal(res.Root, want.Root) || !bytes.Equal(res.Anchor.Root, want.Root) {
				t.Fatalf("restored %d records, root %x, anchor %d; want %d records, root %x", res.Records, res.Root, res.Anchor.Size, want.Size, want.Root)
			}
			if res.AnchorGiven != (tc.checkpoint != nil) || res.KeyFromArchive {
				t.Errorf("anchor given %v, key from archive %v", res.AnchorGiven, res.KeyFromArchive)
			}
			if len(res.Hidden) != 1 || res.Hidden[0] != hidden {
				t.Errorf("hidden objects %v, want [%s]", res.Hidden, hidden)
			}
			if !strings.Contains(res.Summary(), "was deleted") {
				t.Errorf("summary does not mention the deleted object:\n%s", res.Summary())
			}
			// The restored directory is a ledger: verify passes on its own.
			if _, err := ledger.Verify(ctx, ledger.VerifyOptions{Dir: dir}); err != nil {
				t.Fatalf("verify the restored ledger: %v", err)
			}
			// And the same records, byte for byte.
			for _, seg := range led.SegmentFiles() {
				a, b := readFile(t, seg.Path), readFile(t, filepath.Join(dir, ledger.SegmentsDir, filepath.Base(seg.Path)))
				if !bytes.Equal(a, b) {
					t.Fatalf("segment %s differs after restore", filepath.Base(seg.Path))
				}
			}
		})
	}
}

// TestArchiveS3RefusesBucketWithoutLock: a bucket without Object Lock is
// refused with a message saying how to create one.
func TestArchiveS3RefusesBucketWithoutLock(t *testing.T) {
	v := startVersity(t)
	v.bucket(t, "plain", false)
	for _, tc := range []struct {
		bucket, want string
	}{
		{"plain", "does not have S3 Object Lock enabled"},
		{"missing", "does not exist"},
	} {
		_, err := v.open(t, v.location(tc.bucket, ""))
		if !errors.Is(err, ErrUnsuitable) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--object-lock-enabled-for-bucket") {
			t.Errorf("bucket %s: %v, want %q and how to create a locked bucket", tc.bucket, err, tc.want)
		}
	}
}

// TestArchiveS3RestoreTest runs the scheduled restore test against S3.
func TestArchiveS3RestoreTest(t *testing.T) {
	v := startVersity(t)
	v.bucket(t, "restore-test", true)
	store, err := v.open(t, v.location("restore-test", ""))
	if err != nil {
		t.Fatal(err)
	}
	led := openLedger(t, filepath.Join(t.TempDir(), "ledger"))
	appendRecords(t, led, 0, 60, 4)
	led = checkpointNow(t, led)
	a := newArchiver(t, led, store, filepath.Join(t.TempDir(), "state.json"))
	a.opts.RestoreTestDir = t.TempDir()
	mustSync(t, a)
	r := a.RestoreTest(context.Background())
	if !r.OK || r.Records != led.Size() || r.ArchivedRecords != led.Size() || r.CheckpointSize != led.Size() {
		t.Fatalf("restore test: %+v", r)
	}
}

// TestArchiveS3IAM: an auth=iam archive takes its S3 credentials from the
// AWS role the environment provides, against a real S3 server
// (versitygw). The role's credential endpoint is a stand-in: this one
// answers as EKS Pod Identity's agent does (AWS_CONTAINER_CREDENTIALS_FULL_URI,
// with the pod's token from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE), with
// versitygw's keys; no AWS service can run here. A role that gives no
// credentials, or a credentials file given with auth=iam, is refused with
// an error that says what to do.
func TestArchiveS3IAM(t *testing.T) {
	ctx := context.Background()
	v := startVersity(t)
	v.bucket(t, "iam-archive", true)
	tokenFile := filepath.Join(t.TempDir(), "eks-pod-identity-token")
	writeFile(t, tokenFile, []byte("pod-token"))
	var calls atomic.Int64
	deny := atomic.Bool{}
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if deny.Load() || r.Header.Get("Authorization") != "pod-token" {
			http.Error(w, "no association for this service account", http.StatusForbidden)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"AccessKeyId": v.AccessKey, "SecretAccessKey": v.SecretKey,
			"Expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	}))
	defer agent.Close()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", agent.URL+"/v1/credentials")
	t.Setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tokenFile)

	loc, err := ParseLocation("s3://iam-archive/prod?endpoint=" + v.Endpoint + "&insecure=1&auth=iam")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, loc, "")
	if err != nil {
		t.Fatal(err)
	}
	putAndGet(t, s)
	if calls.Load() == 0 {
		t.Fatal("the role's credential endpoint was never asked")
	}
	if got := s.String(); !strings.Contains(got, "auth=iam") {
		t.Errorf("String() = %q, want it to keep auth=iam", got)
	}

	deny.Store(true)
	if _, err := Open(ctx, loc, ""); err == nil || !strings.Contains(err.Error(), "no credentials from the AWS role of the environment: on EKS use IAM roles for service accounts") {
		t.Fatalf("a role without credentials: %v", err)
	}
	file := filepath.Join(t.TempDir(), "aws-credentials")
	writeFile(t, file, []byte("[default]\naws_access_key_id = x\naws_secret_access_key = y\n"))
	if _, err := Open(ctx, loc, file); !errors.Is(err, ErrUnsuitable) || !strings.Contains(err.Error(), "no credentials file") {
		t.Fatalf("a credentials file with auth=iam: %v", err)
	}
}
