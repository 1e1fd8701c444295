package archive

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/cdewatch/cdewatch/internal/archive/azuritetest"
	"github.com/cdewatch/cdewatch/internal/ledger"
)

// The tests in this file run against Azurite, a real Azure Blob server
// (Microsoft's emulator) that implements the Blob API but no immutability:
// it ignores the immutability policy sent with an upload and answers 501
// to Set Blob Immutability Policy, and it lets anyone delete a blob. So
// write-once-read-many protection itself is NOT tested here; what is
// tested is the refusal of a container without it, the refusal of a
// server that does not apply the per-blob lock, and everything else the
// store does (conditional create, listing, download, archive and restore)
// with the immutability checks turned off through an unexported option.

// azurite is a running Azurite.
type azurite struct {
	*azuritetest.Server
}

func startAzurite(tb testing.TB) *azurite { return &azurite{azuritetest.Start(tb)} }

func (a *azurite) location(ctr, prefix string) Location {
	return Location{Scheme: "azblob", Account: azuritetest.Account, Container: ctr, Prefix: prefix, Endpoint: a.Endpoint}
}

// open opens loc with the emulator's key from a credentials file.
func (a *azurite) open(tb testing.TB, loc Location, worm wormCheck) (*AzureStore, error) {
	tb.Helper()
	file := filepath.Join(tb.TempDir(), "azure-credentials")
	writeFile(tb, file, []byte("DefaultEndpointsProtocol=http;AccountName="+azuritetest.Account+";AccountKey="+azuritetest.Key+";BlobEndpoint="+a.Endpoint+";\n"))
	return OpenAzure(context.Background(), loc, AzureOptions{CredentialsFile: file, worm: worm})
}

// mustOpenUnprotected opens a store with every immutability check off:
// Azurite cannot do immutability.
func (a *azurite) mustOpenUnprotected(tb testing.TB, loc Location) *AzureStore {
	tb.Helper()
	s, err := a.open(tb, loc, wormNone)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// TestArchiveAzureRefusesContainerWithoutImmutability: a container without
// version-level immutability (Azurite has none) or a missing one is
// refused, with a message saying how to create a suitable one.
func TestArchiveAzureRefusesContainerWithoutImmutability(t *testing.T) {
	az := startAzurite(t)
	az.Container(t, "plain")
	t.Setenv(envAzureAccount, azuritetest.Account)
	t.Setenv(envAzureKey, azuritetest.Key)
	for _, tc := range []struct {
		ctr, want string
	}{
		{"plain", "does not have version-level immutability (WORM) enabled"},
		{"missing", "does not exist"},
	} {
		t.Run(tc.ctr, func(t *testing.T) {
			loc := az.location(tc.ctr, "prod")
			for _, open := range []struct {
				how string
				fn  func() (Store, error)
			}{
				{"OpenAzure", func() (Store, error) { return OpenAzure(context.Background(), loc, AzureOptions{}) }},
				{"Open", func() (Store, error) { return Open(context.Background(), loc, "") }},
			} {
				s, err := open.fn()
				if !errors.Is(err, ErrUnsuitable) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--enable-vlw") || !strings.Contains(err.Error(), "Enable version-level immutability support") {
					t.Errorf("%s: %v, %v; want ErrUnsuitable, %q and how to create a container with immutability", open.how, s, err, tc.want)
				}
			}
		})
	}
}

// TestArchiveAzureRefusesUnlockedUpload: with the container check off,
// an upload to a server that does not apply the immutability policy sent
// with it (Azurite ignores it) fails instead of passing for WORM storage.
func TestArchiveAzureRefusesUnlockedUpload(t *testing.T) {
	az := startAzurite(t)
	az.Container(t, "archive")
	s, err := az.open(t, az.location("archive", ""), wormSkipContainerCheck)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Put(context.Background(), "log.pub", []byte("key"), time.Now().Add(time.Hour))
	if err == nil || !strings.Contains(err.Error(), "without the requested immutability policy") {
		t.Fatalf("upload to a server without immutability: %v, want a refusal", err)
	}
}

// TestArchiveAzureCredentials: the key comes from a connection string
// file or the environment; a missing, malformed, mismatched or wrong key
// is refused with a message naming the fix. Azurite checks shared-key
// signatures like Azure does.
func TestArchiveAzureCredentials(t *testing.T) {
	az := startAzurite(t)
	az.Container(t, "creds")
	loc := az.location("creds", "")
	wrongKey := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="
	tests := []struct {
		name        string
		file        string // credentials file content; "" for the environment
		account     string // AZURE_STORAGE_ACCOUNT
		key         string // AZURE_STORAGE_KEY
		want        string // "" for success
		unsuitable  bool
		noKeyInText bool // the error must not repeat the key
	}{
		{name: "environment", account: azuritetest.Account, key: azuritetest.Key},
		{name: "environment, key only", key: azuritetest.Key},
		{name: "file", file: "AccountName=" + azuritetest.Account + ";AccountKey=" + azuritetest.Key},
		{name: "nothing", want: "no Azure credentials: set AZURE_STORAGE_KEY", unsuitable: true},
		{name: "other account in environment", account: "otheraccount", key: azuritetest.Key, want: `names storage account "devstoreaccount1"`, unsuitable: true},
		{name: "other account in file", file: "AccountName=otheraccount;AccountKey=" + azuritetest.Key, want: `is for storage account "otheraccount"`, unsuitable: true, noKeyInText: true},
		{name: "not base64", key: "not base64!", want: "not valid base64", unsuitable: true},
		{name: "SAS", file: "AccountName=" + azuritetest.Account + ";SharedAccessSignature=sv=2020&sig=x", want: "shared access signature is not supported", unsuitable: true},
		{name: "wrong key", key: wrongKey, want: "refused the account key", noKeyInText: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(envAzureAccount, tc.account)
			t.Setenv(envAzureKey, tc.key)
			opts := AzureOptions{worm: wormNone}
			if tc.file != "" {
				opts.CredentialsFile = filepath.Join(t.TempDir(), "creds")
				writeFile(t, opts.CredentialsFile, []byte(tc.file))
			}
			_, err := OpenAzure(context.Background(), loc, opts)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, ErrUnsuitable) != tc.unsuitable {
				t.Fatalf("%v; want %q (unsuitable %v)", err, tc.want, tc.unsuitable)
			}
			if tc.noKeyInText && (strings.Contains(err.Error(), azuritetest.Key) || strings.Contains(err.Error(), wrongKey)) {
				t.Errorf("the error repeats the key: %v", err)
			}
		})
	}
}

// TestArchiveAzureStore: the Store contract on a real Blob server:
// upload, stat, list (under the prefix only), download, and a second
// upload under a taken name is refused without changing the blob.
// Immutability checks are off (Azurite cannot do immutability).
func TestArchiveAzureStore(t *testing.T) {
	ctx := context.Background()
	az := startAzurite(t)
	az.Container(t, "store")
	s := az.mustOpenUnprotected(t, az.location("store", "prod/ledger-1"))
	// A neighbour whose prefix starts the same way must not be listed.
	other := az.mustOpenUnprotected(t, az.location("store", "prod/ledger-10"))
	if err := other.Put(ctx, "log.pub", []byte("other"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	objects := map[string][]byte{
		"log.pub": []byte("verifier"),
		"segments/00000000000000000000/00000000000000000000": bytes.Repeat([]byte{1}, 3000),
		"segments/00000000000000000000/00000000000000003000": {},
		"checkpoints/00000000000000000000":                   []byte("cp"),
	}
	for name, data := range objects {
		if err := s.Put(ctx, name, data, time.Now().Add(time.Hour)); err != nil {
			t.Fatalf("put %s: %v", name, err)
		}
	}
	for name, data := range objects {
		err := s.Put(ctx, name, []byte("forged"), time.Now().Add(time.Hour))
		if !errors.Is(err, ErrExists) {
			t.Fatalf("second upload of %s: %v, want ErrExists", name, err)
		}
		obj, err := s.Stat(ctx, name)
		if err != nil || obj.Name != name || obj.Size != int64(len(data)) {
			t.Fatalf("stat %s: %+v, %v", name, obj, err)
		}
		got, err := s.Get(ctx, obj)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("get %s: %d bytes, %v; want the first upload's %d bytes", name, len(got), err, len(data))
		}
	}
	all, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range all {
		names = append(names, o.Name)
		if o.Hidden || o.Versions != 0 || o.Version != "" {
			t.Errorf("%+v: Azurite has no versioning, want an unversioned object", o)
		}
	}
	want := []string{"checkpoints/00000000000000000000", "log.pub", "segments/00000000000000000000/00000000000000000000", "segments/00000000000000000000/00000000000000003000"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("list: %v, want %v", names, want)
	}
	segs, err := s.List(ctx, "segments/")
	if err != nil || len(segs) != 2 {
		t.Fatalf("list segments/: %+v, %v", segs, err)
	}
	if _, err := s.Stat(ctx, "log"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stat of a name that only prefixes another: %v, want ErrNotFound", err)
	}
	if _, err := s.Get(ctx, ObjectInfo{Name: "missing"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get missing: %v, want ErrNotFound", err)
	}
	if got, want := s.String(), "azblob://devstoreaccount1/store/prod/ledger-1?endpoint="+az.Endpoint; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	// Open takes S3 credentials only for S3.
	if _, err := Open(ctx, az.location("store", ""), filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "credentials file") {
		t.Errorf("Open with S3 credentials for an Azure archive: %v", err)
	}
}

// TestArchiveAzureRoundTrip archives a real ledger to Azurite in several
// passes, restarts without the state file (every object is found and
// compared, none uploaded again), restores into an empty directory and
// checks it against the ledger, runs the restore test, and shows that a
// blob replaced behind the archive's back is an integrity alarm.
// Immutability checks are off: Azurite cannot do immutability, which is
// why replacing a blob is possible here at all.
func TestArchiveAzureRoundTrip(t *testing.T) {
	ctx := context.Background()
	az := startAzurite(t)
	ctr := az.Container(t, "roundtrip")
	store := &countingStore{Store: az.mustOpenUnprotected(t, az.location("roundtrip", "prod/ledger-1"))}
	state := filepath.Join(t.TempDir(), "state.json")
	led, a, objs := archiveInTwoPasses(t, store, state)
	uploaded := store.take()

	// Without the state file every object is found and compared, none
	// uploaded again.
	if err := os.Remove(state); err != nil {
		t.Fatal(err)
	}
	mustSync(t, newArchiver(t, led, store, state))
	if again := store.take(); len(again) != 0 {
		t.Fatalf("restart without the state file uploaded %v again (first passes uploaded %d objects)", again, len(uploaded))
	}

	want := led.LatestCheckpoint()
	key, err := ledger.ReadVerifierKey(led.Dir())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "ledger")
	res, err := Restore(ctx, store, RestoreOptions{Dir: dir, Key: key, Checkpoint: want.Note})
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != led.Size() || res.Anchor.Size != want.Size || !bytes.Equal(res.Root, want.Root) || !res.AnchorGiven || res.KeyFromArchive {
		t.Fatalf("restored %d records, root %x, anchor %d (given %v, key from archive %v); want %d records, root %x",
			res.Records, res.Root, res.Anchor.Size, res.AnchorGiven, res.KeyFromArchive, want.Size, want.Root)
	}
	if _, err := ledger.Verify(ctx, ledger.VerifyOptions{Dir: dir}); err != nil {
		t.Fatalf("verify the restored ledger: %v", err)
	}
	for _, seg := range led.SegmentFiles() {
		if !bytes.Equal(readFile(t, seg.Path), readFile(t, filepath.Join(dir, ledger.SegmentsDir, filepath.Base(seg.Path)))) {
			t.Fatalf("segment %s differs after restore", filepath.Base(seg.Path))
		}
	}
	a.opts.RestoreTestDir = t.TempDir()
	if r := a.RestoreTest(ctx); !r.OK || r.Records != led.Size() {
		t.Fatalf("restore test: %+v", r)
	}

	// Replace a chunk behind the archive's back (possible only because
	// Azurite enforces no immutability): a restart without the state file
	// raises an integrity alarm naming it.
	victim := ""
	for _, o := range objs {
		if strings.HasPrefix(o.Name, "segments/") {
			victim = o.Name
			break
		}
	}
	if _, err := ctr.NewBlobClient("prod/ledger-1/"+victim).Delete(ctx, nil); err != nil {
		t.Fatal(err)
	}
	orig := readBlobSize(t, objs, victim)
	forged := bytes.Repeat([]byte{0xAA}, int(orig))
	if _, err := ctr.NewBlockBlobClient("prod/ledger-1/"+victim).Upload(ctx, streaming.NopCloser(bytes.NewReader(forged)),
		nil); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(state); err != nil {
		t.Fatal(err)
	}
	err = newArchiver(t, led, store, state).Sync(ctx)
	var ie *IntegrityError
	if !errors.As(err, &ie) || ie.Object != victim {
		t.Fatalf("sync after a chunk was replaced: %v, want an integrity alarm for %s", err, victim)
	}
}

func readBlobSize(tb testing.TB, objs []ObjectInfo, name string) int64 {
	tb.Helper()
	for _, o := range objs {
		if o.Name == name {
			return o.Size
		}
	}
	tb.Fatalf("no object %s", name)
	return 0
}

// TestFoldVersions: how a listing with versions becomes one object per
// name. Azurite has no versioning, so the versioned cases are listings as
// Azure returns them for a container with versioning on.
func TestFoldVersions(t *testing.T) {
	item := func(name, version string, current bool, size int64) *container.BlobItem {
		b := &container.BlobItem{Name: to.Ptr(name), Properties: &container.BlobProperties{ContentLength: to.Ptr(size)}}
		if version != "" {
			b.VersionID = to.Ptr(version)
			b.IsCurrentVersion = to.Ptr(current)
		}
		return b
	}
	const (
		v1 = "2026-11-25T10:00:00.0000001Z"
		v2 = "2026-11-25T10:00:00.0000002Z"
		v3 = "2026-11-26T09:00:00.0000000Z"
	)
	tests := []struct {
		name   string
		prefix string
		items  []*container.BlobItem
		want   []ObjectInfo
	}{
		{"unversioned", "", []*container.BlobItem{item("b", "", false, 2), item("a", "", false, 1)},
			[]ObjectInfo{{Name: "a", Size: 1}, {Name: "b", Size: 2}}},
		{"one version each", "p", []*container.BlobItem{item("p/a", v1, true, 3)},
			[]ObjectInfo{{Name: "a", Size: 3, Version: v1, Versions: 1}}},
		{"written again: the first version wins, in any listing order", "", []*container.BlobItem{item("a", v3, true, 9), item("a", v1, false, 3), item("a", v2, false, 5)},
			[]ObjectInfo{{Name: "a", Size: 3, Version: v1, Versions: 3}}},
		{"deleted: no current version", "", []*container.BlobItem{item("a", v1, false, 3), item("b", v2, true, 4)},
			[]ObjectInfo{{Name: "a", Size: 3, Version: v1, Versions: 1, Hidden: true}, {Name: "b", Size: 4, Version: v2, Versions: 1}}},
		{"outside the prefix", "p", []*container.BlobItem{item("q/a", v1, true, 1), item("pa", v1, true, 1), item("p/b", v1, true, 2)},
			[]ObjectInfo{{Name: "b", Size: 2, Version: v1, Versions: 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := foldVersions(tc.items, tc.prefix)
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %+v, want %+v", got, tc.want)
				}
			}
		})
	}
}

// TestAzureUploadOptions pins what an upload asks of the server: create
// only (If-None-Match: *), an MD5 the server checks, and, on a protected
// store, a Locked immutability policy until the retention, rounded up to
// the second.
func TestAzureUploadOptions(t *testing.T) {
	until := time.Date(2027, 11, 26, 3, 0, 0, 500, time.UTC)
	for _, lock := range []bool{true, false} {
		o := uploadOptions([]byte("data"), until, lock)
		if o.AccessConditions == nil || o.AccessConditions.ModifiedAccessConditions == nil || o.AccessConditions.ModifiedAccessConditions.IfNoneMatch == nil || *o.AccessConditions.ModifiedAccessConditions.IfNoneMatch != "*" {
			t.Errorf("lock %v: upload without If-None-Match: *", lock)
		}
		if _, ok := o.TransactionalValidation.(blob.TransferValidationTypeMD5); !ok {
			t.Errorf("lock %v: upload without an MD5", lock)
		}
		if !lock {
			if o.ImmutabilityPolicyMode != nil || o.ImmutabilityPolicyExpiryTime != nil {
				t.Errorf("unprotected store sends an immutability policy")
			}
			continue
		}
		if o.ImmutabilityPolicyMode == nil || *o.ImmutabilityPolicyMode != blob.ImmutabilityPolicySettingLocked {
			t.Errorf("immutability mode %v, want Locked", o.ImmutabilityPolicyMode)
		}
		if o.ImmutabilityPolicyExpiryTime == nil || !o.ImmutabilityPolicyExpiryTime.Equal(until.Truncate(time.Second).Add(time.Second)) {
			t.Errorf("immutability expiry %v, want %v rounded up", o.ImmutabilityPolicyExpiryTime, until)
		}
	}
}

func TestParseConnectionString(t *testing.T) {
	tests := []struct {
		in, account, key, err string
	}{
		{in: "DefaultEndpointsProtocol=https;AccountName=acct1;AccountKey=a2V5==;EndpointSuffix=core.windows.net", account: "acct1", key: "a2V5=="},
		{in: "  accountname=acct1; ACCOUNTKEY=k ;\n", account: "acct1", key: "k"},
		{in: "AccountName=acct1;AccountKey=k;BlobEndpoint=http://127.0.0.1:10000/acct1", account: "acct1", key: "k"},
		{in: "AccountName=acct1", err: "AccountName or AccountKey missing"},
		{in: "", err: "missing"},
		{in: "AccountName=a;AccountKey=k\nAccountKey=j", err: "one line"},
		{in: "AccountName=a;AccountName=b;AccountKey=k", err: "given twice"},
		{in: "AccountName=a;AccountKey=k;Secret=x", err: `unknown field "secret"`},
		{in: "AccountName=a;AccountKey", err: "not KEY=VALUE"},
		{in: "AccountName=a;SharedAccessSignature=sig", err: "shared access signature"},
		{in: "UseDevelopmentStorage=true", err: "unknown field"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			account, key, err := parseConnectionString(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parseConnectionString(%q) = %q, %q, %v; want error %q", tc.in, account, key, err, tc.err)
				}
				return
			}
			if err != nil || account != tc.account || key != tc.key {
				t.Fatalf("parseConnectionString(%q) = %q, %q, %v; want %q, %q", tc.in, account, key, err, tc.account, tc.key)
			}
		})
	}
}

func FuzzParseConnectionString(f *testing.F) {
	for _, s := range []string{"DefaultEndpointsProtocol=https;AccountName=acct1;AccountKey=a2V5==;EndpointSuffix=core.windows.net", "AccountName=a;AccountKey=k;", "a=b=c", ";;", "AccountKey=0123456789abcdefXYZ;x", "AccountKey=0123456789abcdefXYZ\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		account, key, err := parseConnectionString(s)
		if err != nil {
			// No error repeats the key.
			for _, part := range strings.Split(s, ";") {
				k, v, _ := strings.Cut(part, "=")
				v = strings.TrimSpace(v)
				if strings.EqualFold(strings.TrimSpace(k), "accountkey") && len(v) >= 16 && strings.ContainsAny(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") && strings.Contains(err.Error(), v) {
					t.Fatalf("%q: the error repeats the key: %v", s, err)
				}
			}
			return
		}
		if account == "" || key == "" {
			t.Fatalf("%q: empty account %q or key %q without an error", s, account, key)
		}
		if !strings.Contains(s, account) || !strings.Contains(s, key) {
			t.Fatalf("%q: account %q, key %q not taken from the input", s, account, key)
		}
	})
}

func TestParseLocationAzblob(t *testing.T) {
	tests := []locationCase{
		{in: "azblob://cdewatchaudit/audit", want: Location{Scheme: "azblob", Account: "cdewatchaudit", Container: "audit", Endpoint: "https://cdewatchaudit.blob.core.windows.net"}},
		{in: "azblob://cdewatchaudit/audit-logs/prod/cluster-1/", want: Location{Scheme: "azblob", Account: "cdewatchaudit", Container: "audit-logs", Prefix: "prod/cluster-1", Endpoint: "https://cdewatchaudit.blob.core.windows.net"}},
		{in: "azblob://devstoreaccount1/c01/p?endpoint=http://127.0.0.1:10000/devstoreaccount1/", want: Location{Scheme: "azblob", Account: "devstoreaccount1", Container: "c01", Prefix: "p", Endpoint: "http://127.0.0.1:10000/devstoreaccount1"}},
		{in: "azblob://acct1/c01?endpoint=https%3A%2F%2Facct1.blob.core.usgovcloudapi.net", want: Location{Scheme: "azblob", Account: "acct1", Container: "c01", Endpoint: "https://acct1.blob.core.usgovcloudapi.net"}},
		{in: "azblob://acct1/c01?endpoint=http://[::1]:10000", want: Location{Scheme: "azblob", Account: "acct1", Container: "c01", Endpoint: "http://[::1]:10000"}},
		{in: "azblob://acct1/c01?endpoint=http://localhost:10000/acct1", want: Location{Scheme: "azblob", Account: "acct1", Container: "c01", Endpoint: "http://localhost:10000/acct1"}},
		{in: "azblob://acct1/c01?auth=entra-id", want: Location{Scheme: "azblob", Account: "acct1", Container: "c01", Endpoint: "https://acct1.blob.core.windows.net", Auth: AuthEntraID}},
		{in: "azblob://acct1/c01/p?endpoint=https://127.0.0.1:10000/acct1&auth=entra-id", want: Location{Scheme: "azblob", Account: "acct1", Container: "c01", Prefix: "p", Endpoint: "https://127.0.0.1:10000/acct1", Auth: AuthEntraID}},
		{in: "azblob://acct1/c01?auth=shared-key", want: Location{Scheme: "azblob", Account: "acct1", Container: "c01", Endpoint: "https://acct1.blob.core.windows.net"}},
		{in: "azblob://acct1/c01?auth=msi", err: `auth "msi": want shared-key`},
		{in: "azblob://acct1:s3cr3tkey@acct1/c01", err: "AZURE_STORAGE_KEY"},
		{in: "azblob://ab/c01", err: "3 to 24 characters"},
		{in: "azblob://Acct1/c01", err: "lowercase letters and digits only"},
		{in: "azblob://acct-1/c01", err: "lowercase letters and digits only"},
		{in: "azblob://acct1", err: "names no container"},
		{in: "azblob://acct1/", err: "names no container"},
		{in: "azblob://acct1//p", err: "names no container"},
		{in: "azblob://acct1/ab", err: "3 to 63 characters"},
		{in: "azblob://acct1/Logs", err: "lowercase letters, digits and '-' only"},
		{in: "azblob://acct1/-logs", err: "starts and ends"},
		{in: "azblob://acct1/a--b", err: "no '--'"},
		{in: "azblob://acct1/$root", err: "lowercase letters, digits and '-' only"},
		{in: "azblob://acct1/c01/a//b", err: "empty, '.' or '..' part"},
		{in: "azblob://acct1/c01/a/../b", err: "empty, '.' or '..' part"},
		{in: "azblob://acct1/c01?endpoint=http://10.0.0.5:10000", err: "loopback address only"},
		{in: "azblob://acct1/c01?endpoint=http://acct1.blob.core.windows.net", err: "loopback address only"},
		{in: "azblob://acct1/c01?endpoint=ftp://host", err: "not an http(s) URL"},
		{in: "azblob://acct1/c01?endpoint=acct1.blob.core.windows.net", err: "not an http(s) URL"},
		{in: "azblob://acct1/c01?endpoint=https://u:p@host", err: "credentials"},
		{in: "azblob://acct1/c01?endpoint=https://host/?sig=x", err: "parameters"},
		{in: "azblob://acct1/c01?endpoint=https://host:0", err: "port"},
		{in: "azblob://acct1/c01?endpoint=https://host:99999", err: "port"},
		{in: "azblob://acct1/c01?endpoint=https://ho_st", err: "not a DNS name"},
		{in: "azblob://acct1/c01?endpoint=https://host/a/../b", err: "not clean"},
		{in: "azblob://acct1/c01?endpoint=https://host/a%20b", err: "the path has a character"},
		{in: "azblob://acct1/c01?endpoint=https://", err: "no host"},
		{in: "azblob://acct1/c01?endpoint=https://a&endpoint=https://b", err: "given 2 times"},
		{in: "azblob://acct1/c01?region=x", err: `unknown parameter "region" (known: endpoint, auth)`},
	}
	checkLocations(t, tests, "s3cr3t")
}

// fakeToken stands in for Microsoft Entra ID, which cannot run here: it
// issues JWTs for Azurite's OAuth check (form, lifetime, issuer and
// audience; Azurite verifies no signature), or fails with err.
type fakeToken struct {
	aud string
	err error
}

func (f fakeToken) GetToken(_ context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if f.err != nil {
		return azcore.AccessToken{}, f.err
	}
	if len(opts.Scopes) != 1 || opts.Scopes[0] != "https://storage.azure.com/.default" {
		return azcore.AccessToken{}, fmt.Errorf("token asked for scopes %v, want Azure Storage's", opts.Scopes)
	}
	now := time.Now()
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	jwt := enc(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." +
		enc(map[string]any{"aud": f.aud, "iss": "https://sts.windows.net/ab1f708d-50f6-404c-a006-d71b2ac7a606/",
			"nbf": now.Add(-time.Minute).Unix(), "iat": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(),
			"oid": "11059fcc-5514-4800-b5f8-49808b9cfab6", "tid": "ab1f708d-50f6-404c-a006-d71b2ac7a606"}) + "." +
		base64.RawURLEncoding.EncodeToString([]byte("not verified by Azurite"))
	return azcore.AccessToken{Token: jwt, ExpiresOn: now.Add(time.Hour)}, nil
}

// TestArchiveAzureEntraID: an auth=entra-id archive signs its requests with
// an OAuth bearer token instead of the account key, against a real Azure
// Blob server (Azurite over HTTPS with OAuth). Microsoft Entra ID itself
// cannot run here: a fake credential issues the tokens. A token for
// another audience is refused by the server, a credential that cannot get
// a token, or a credentials file given with auth=entra-id, are refused
// with errors that say what to do.
func TestArchiveAzureEntraID(t *testing.T) {
	ctx := context.Background()
	az := azuritetest.StartOAuth(t)
	az.Container(t, "entra")
	loc, err := ParseLocation("azblob://" + azuritetest.Account + "/entra/p?endpoint=" + az.Endpoint + "&auth=entra-id")
	if err != nil {
		t.Fatal(err)
	}
	// No key anywhere: the environment's would otherwise be a fallback.
	t.Setenv(envAzureAccount, "")
	t.Setenv(envAzureKey, "")
	s, err := OpenAzure(ctx, loc, AzureOptions{worm: wormNone, token: fakeToken{aud: "https://storage.azure.com"}, transport: az.Transport()})
	if err != nil {
		t.Fatal(err)
	}
	putAndGet(t, s)
	if all, err := s.List(ctx, ""); err != nil || len(all) != 1 {
		t.Fatalf("list: %+v, %v", all, err)
	}
	if got := s.String(); !strings.HasSuffix(got, "&auth=entra-id") {
		t.Errorf("String() = %q, want it to keep auth=entra-id", got)
	}

	tests := []struct {
		name       string
		opts       AzureOptions
		want       string
		unsuitable bool
	}{
		{name: "token for another audience", opts: AzureOptions{token: fakeToken{aud: "https://management.azure.com"}},
			want: "refused cdewatch's Microsoft Entra ID identity: assign it a data role"},
		{name: "no token", opts: AzureOptions{token: fakeToken{err: errors.New("ManagedIdentityCredential: no managed identity endpoint")}},
			want: "no Microsoft Entra ID token for Azure Storage: on AKS enable workload identity"},
		{name: "credentials file too", opts: AzureOptions{CredentialsFile: "/etc/cdewatch/azure", token: fakeToken{aud: "https://storage.azure.com"}},
			want: "takes no credentials file", unsuitable: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.worm, tc.opts.transport = wormNone, az.Transport()
			_, err := OpenAzure(ctx, loc, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, ErrUnsuitable) != tc.unsuitable {
				t.Fatalf("%v; want %q (unsuitable %v)", err, tc.want, tc.unsuitable)
			}
		})
	}
}
