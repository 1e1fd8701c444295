package archive

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// AzureStore keeps objects as block blobs in an Azure Blob Storage
// container with version-level immutability (WORM): each blob is created
// once (If-None-Match: *) with a Locked time-based retention policy in the
// same request, which nobody, the account owner included, can shorten or
// remove before it ends; the policy, size and MD5 are read back after each
// write. A container without immutability is refused.
type AzureStore struct {
	ctr  *container.Client
	loc  Location
	lock bool // set and verify a Locked immutability policy on each blob
}

// AzureOptions configure OpenAzure.
type AzureOptions struct {
	// CredentialsFile holds the storage account's connection string
	// (AccountName=…;AccountKey=…, as `az storage account
	// show-connection-string` prints it). Empty: the key in
	// AZURE_STORAGE_KEY, for the account in AZURE_STORAGE_ACCOUNT, which
	// must be the URL's when set.
	CredentialsFile string

	// worm weakens the immutability checks for tests against Azurite,
	// which implements no immutability. Only this package's tests set it.
	worm wormCheck
	// token and transport replace, for this package's tests, the
	// Microsoft Entra ID credential of an auth=entra-id location and the
	// HTTP client (to trust a test server's certificate).
	token     azcore.TokenCredential
	transport policy.Transporter
}

// wormCheck says how much of the immutability protection OpenAzure
// requires.
type wormCheck int

const (
	// wormRequired: the container must have version-level immutability,
	// and every blob is locked and its lock read back.
	wormRequired wormCheck = iota
	// wormSkipContainerCheck: any container is opened, but every blob is
	// still locked and its lock read back.
	wormSkipContainerCheck
	// wormNone: no container check and no lock on the blobs.
	wormNone
)

// Environment variables of the Azure CLI and SDKs that OpenAzure reads.
const (
	envAzureAccount = "AZURE_STORAGE_ACCOUNT"
	envAzureKey     = "AZURE_STORAGE_KEY"
)

// OpenAzure connects to the container of loc and checks that it has
// version-level immutability; it refuses (ErrUnsuitable) a container
// without it, or with a container-level policy only, whose lock state and
// period cannot be read through the Blob API.
func OpenAzure(ctx context.Context, loc Location, opts AzureOptions) (*AzureStore, error) {
	if loc.Scheme != "azblob" {
		return nil, fmt.Errorf("archive location %s is not an azblob:// URL", loc)
	}
	ctr, err := azureContainer(loc, opts)
	if err != nil {
		return nil, err
	}
	s := &AzureStore{ctr: ctr, loc: loc, lock: opts.worm != wormNone}
	props, err := ctr.GetProperties(ctx, nil)
	switch {
	case bloberror.HasCode(err, bloberror.ContainerNotFound):
		return nil, fmt.Errorf("%w: archive %s: container %q does not exist in storage account %q at %s; %s",
			ErrUnsuitable, loc, loc.Container, loc.Account, loc.Endpoint, howToCreateWORMContainer(loc))
	case loc.Auth == AuthEntraID && bloberror.HasCode(err, bloberror.AuthenticationFailed, bloberror.AuthorizationFailure, bloberror.AuthorizationPermissionMismatch):
		return nil, fmt.Errorf("archive %s: the storage account %q refused cdewatch's Microsoft Entra ID identity: assign it a data role on the container that writes blobs and sets their immutability policies (Storage Blob Data Owner): %w",
			loc, loc.Account, err)
	case loc.Auth == AuthEntraID && isTokenError(err):
		return nil, fmt.Errorf("archive %s: no Microsoft Entra ID token for Azure Storage: on AKS enable workload identity for cdewatch's service account (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE); elsewhere use a managed identity, a service principal (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_CLIENT_SECRET) or `az login`: %w",
			loc, err)
	case bloberror.HasCode(err, bloberror.AuthenticationFailed, bloberror.AuthorizationFailure):
		return nil, fmt.Errorf("archive %s: the storage account %q refused the account key: check %s or the credentials file, and that shared key access is allowed on the account: %w",
			loc, loc.Account, envAzureKey, err)
	case err != nil:
		return nil, fmt.Errorf("archive %s: reach container %q at %s: %w", loc, loc.Container, loc.Endpoint, err)
	}
	if opts.worm != wormRequired {
		return s, nil
	}
	if props.IsImmutableStorageWithVersioningEnabled != nil && *props.IsImmutableStorageWithVersioningEnabled {
		return s, nil
	}
	if props.HasImmutabilityPolicy != nil && *props.HasImmutabilityPolicy {
		return nil, fmt.Errorf("%w: archive %s: container %q has a container-level immutability policy only; whether it is locked and how long it retains cannot be read through the Blob API, and cdewatch cannot lock each blob to the archive's retention under it; refusing to use it. Migrate the container to version-level immutability: `az storage container-rm migrate-vlw --storage-account %s --name %s` (cannot be undone), or create a new one: %s",
			ErrUnsuitable, loc, loc.Container, loc.Account, loc.Container, howToCreateWORMContainer(loc))
	}
	return nil, fmt.Errorf("%w: archive %s: container %q does not have version-level immutability (WORM) enabled, so archived audit logs could be deleted or overwritten (PCI DSS 10.3.3); refusing to use it. %s",
		ErrUnsuitable, loc, loc.Container, howToCreateWORMContainer(loc))
}

func howToCreateWORMContainer(loc Location) string {
	return fmt.Sprintf("Create a container with version-level immutability support: enable blob versioning on the account (`az storage account blob-service-properties update --account-name %s --enable-versioning true`), then `az storage container-rm create --storage-account %s --name %s --enable-vlw`; in the Azure portal: storage account > Containers > + Container > Advanced > Enable version-level immutability support",
		loc.Account, loc.Account, loc.Container)
}

// azureContainer returns a client for loc's container, authenticated as
// loc says: with Microsoft Entra ID (azidentity's default chain: the
// environment's service principal, workload identity, managed identity,
// the Azure CLI) or with the account's shared key.
func azureContainer(loc Location, opts AzureOptions) (*container.Client, error) {
	copts := &container.ClientOptions{ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: 3}, Transport: opts.transport}}
	url := loc.Endpoint + "/" + loc.Container
	if loc.Auth == AuthEntraID {
		if opts.CredentialsFile != "" {
			return nil, fmt.Errorf("%w: archive %s: auth=%s signs in with Microsoft Entra ID and takes no credentials file: remove credentials_file, or drop auth=%s to use the account key", ErrUnsuitable, loc, AuthEntraID, AuthEntraID)
		}
		tok := opts.token
		if tok == nil {
			c, err := azidentity.NewDefaultAzureCredential(nil)
			if err != nil {
				return nil, fmt.Errorf("archive %s: Microsoft Entra ID credential: %w", loc, err)
			}
			tok = c
		}
		ctr, err := container.NewClient(url, tok, copts)
		if err != nil {
			return nil, fmt.Errorf("archive %s: Azure Blob client: %w", loc, err)
		}
		return ctr, nil
	}
	cred, err := azureCredential(loc, opts.CredentialsFile)
	if err != nil {
		return nil, err
	}
	ctr, err := container.NewClientWithSharedKeyCredential(url, cred, copts)
	if err != nil {
		return nil, fmt.Errorf("archive %s: Azure Blob client: %w", loc, err)
	}
	return ctr, nil
}

// isTokenError reports whether err is a failure to get a token (no
// response from the storage service).
func isTokenError(err error) bool {
	var re *azcore.ResponseError
	return err != nil && !errors.As(err, &re)
}

// azureCredential reads the shared key of loc's account from file, or
// from the environment when file is "".
func azureCredential(loc Location, file string) (*container.SharedKeyCredential, error) {
	var account, key string
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("archive %s: read Azure credentials: %w", loc, err)
		}
		if account, key, err = parseConnectionString(string(b)); err != nil {
			return nil, fmt.Errorf("%w: archive %s: Azure credentials file %s: %w", ErrUnsuitable, loc, file, err)
		}
		if account != loc.Account {
			return nil, fmt.Errorf("%w: archive %s: the credentials file %s is for storage account %q, the URL names %q", ErrUnsuitable, loc, file, account, loc.Account)
		}
	} else {
		account, key = os.Getenv(envAzureAccount), strings.TrimSpace(os.Getenv(envAzureKey))
		if key == "" {
			return nil, fmt.Errorf("%w: archive %s: no Azure credentials: set %s (and %s=%s), or name a credentials file holding the account's connection string (`az storage account show-connection-string --name %s`)",
				ErrUnsuitable, loc, envAzureKey, envAzureAccount, loc.Account, loc.Account)
		}
		if account != "" && account != loc.Account {
			return nil, fmt.Errorf("%w: archive %s: %s is %q, the URL names storage account %q", ErrUnsuitable, loc, envAzureAccount, account, loc.Account)
		}
	}
	cred, err := container.NewSharedKeyCredential(loc.Account, key)
	if err != nil {
		return nil, fmt.Errorf("%w: archive %s: the account key is not valid base64: %w", ErrUnsuitable, loc, err)
	}
	return cred, nil
}

// parseConnectionString reads the account name and key from an Azure
// Storage connection string: KEY=VALUE pairs separated by ';', keys in any
// case. Endpoint fields are accepted and ignored (the archive URL says
// where to connect); a shared access signature is not supported.
func parseConnectionString(s string) (account, key string, err error) {
	s = strings.TrimSpace(s)
	if strings.ContainsAny(s, "\n\r\x00") {
		return "", "", errors.New("want one line: a connection string AccountName=…;AccountKey=…")
	}
	seen := map[string]bool{}
	for i, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok || k == "" {
			// Not quoted: it may be key material.
			return "", "", fmt.Errorf("field %d is not KEY=VALUE; want a connection string AccountName=…;AccountKey=…", i+1)
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if seen[k] {
			return "", "", fmt.Errorf("%s given twice", k)
		}
		seen[k] = true
		switch k {
		case "accountname":
			account = v
		case "accountkey":
			key = v
		case "defaultendpointsprotocol", "endpointsuffix", "blobendpoint", "queueendpoint", "tableendpoint", "fileendpoint":
		case "sharedaccesssignature":
			return "", "", errors.New("a shared access signature is not supported: use the account key (AccountName=…;AccountKey=…)")
		default:
			return "", "", fmt.Errorf("unknown field %q; want a connection string AccountName=…;AccountKey=…", k)
		}
	}
	if account == "" || key == "" {
		return "", "", errors.New("AccountName or AccountKey missing; want a connection string AccountName=…;AccountKey=…")
	}
	return account, key, nil
}

// String implements Store.
func (s *AzureStore) String() string { return s.loc.String() }

func (s *AzureStore) key(name string) string {
	if s.loc.Prefix == "" {
		return name
	}
	return s.loc.Prefix + "/" + name
}

// Put implements Store.
func (s *AzureStore) Put(ctx context.Context, name string, data []byte, retainUntil time.Time) error {
	until := roundUpSecond(retainUntil)
	sum := md5.Sum(data)
	opts := uploadOptions(data, retainUntil, s.lock)
	bb := s.ctr.NewBlockBlobClient(s.key(name))
	resp, err := bb.Upload(ctx, streaming.NopCloser(bytes.NewReader(data)), opts)
	if err != nil {
		if isExists(err) {
			return ErrExists
		}
		return fmt.Errorf("upload archive object %s to %s: %w", name, s.loc, err)
	}
	// Read the lock back: a server that ignores the policy must not pass
	// for a WORM store.
	bc := bb.BlobClient()
	if resp.VersionID != nil {
		if bc, err = bc.WithVersionID(*resp.VersionID); err != nil {
			return fmt.Errorf("check archive object %s: %w", name, err)
		}
	}
	props, err := bc.GetProperties(ctx, nil)
	if err != nil {
		return fmt.Errorf("check the lock of archive object %s: %w", name, err)
	}
	if props.ContentLength == nil || *props.ContentLength != int64(len(data)) {
		return fmt.Errorf("archive object %s holds %s bytes after upload, want %d", name, ptrString(props.ContentLength), len(data))
	}
	if props.ContentMD5 != nil && !bytes.Equal(props.ContentMD5, sum[:]) {
		return fmt.Errorf("archive object %s has MD5 %x after upload, want %x", name, props.ContentMD5, sum)
	}
	if !s.lock {
		return nil
	}
	locked := props.ImmutabilityPolicyMode != nil && strings.EqualFold(string(*props.ImmutabilityPolicyMode), string(blob.ImmutabilityPolicyModeLocked))
	if !locked || props.ImmutabilityPolicyExpiresOn == nil || props.ImmutabilityPolicyExpiresOn.Before(until) {
		return fmt.Errorf("archive object %s was stored without the requested immutability policy (mode %s, expires %s; want %s until %s): the server does not enforce version-level immutability",
			name, ptrString(props.ImmutabilityPolicyMode), ptrTime(props.ImmutabilityPolicyExpiresOn), blob.ImmutabilityPolicyModeLocked, until.Format(time.RFC3339))
	}
	if resp.VersionID == nil {
		return fmt.Errorf("archive object %s was stored without a version id: blob versioning is not enabled on storage account %q, which version-level immutability needs", name, s.loc.Account)
	}
	return nil
}

// uploadOptions are the options of the upload of data: create only
// (If-None-Match: *), with an MD5 the server checks, and with lock a
// Locked immutability policy until retainUntil rounded up to the second
// (Azure keeps whole seconds; never shorten), set in the same request that
// creates the blob so that no blob ever exists without its lock.
func uploadOptions(data []byte, retainUntil time.Time, lock bool) *blockblob.UploadOptions {
	sum := md5.Sum(data)
	opts := &blockblob.UploadOptions{
		HTTPHeaders:             &blob.HTTPHeaders{BlobContentType: to.Ptr("application/octet-stream")},
		TransactionalValidation: blob.TransferValidationTypeMD5(sum[:]),
		AccessConditions:        &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: to.Ptr(azcore.ETagAny)}},
	}
	if lock {
		until := roundUpSecond(retainUntil)
		opts.ImmutabilityPolicyMode = to.Ptr(blob.ImmutabilityPolicySettingLocked)
		opts.ImmutabilityPolicyExpiryTime = &until
	}
	return opts
}

// roundUpSecond rounds t up to a whole second, in UTC.
func roundUpSecond(t time.Time) time.Time {
	r := t.UTC().Truncate(time.Second)
	if r.Before(t) {
		r = r.Add(time.Second)
	}
	return r
}

// isExists reports whether an upload failed because the name is taken.
func isExists(err error) bool {
	if bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet, bloberror.BlobImmutableDueToPolicy) {
		return true
	}
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusPreconditionFailed
}

func ptrString[T any](p *T) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprint(*p)
}

func ptrTime(p *time.Time) string {
	if p == nil {
		return "none"
	}
	return p.UTC().Format(time.RFC3339)
}

// versions lists every version of every blob under prefix (relative to
// the store), folded by foldVersions.
func (s *AzureStore) versions(ctx context.Context, prefix string, exact bool) ([]ObjectInfo, error) {
	full := s.key(prefix)
	var items []*container.BlobItem
	pager := s.ctr.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &full, Include: container.ListBlobsInclude{Versions: true}})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s under %q: %w", s.loc, prefix, err)
		}
		for _, b := range page.Segment.BlobItems {
			if b.Name != nil && (!exact || *b.Name == full) {
				items = append(items, b)
			}
		}
	}
	return foldVersions(items, s.loc.Prefix), nil
}

// foldVersions turns a listing with versions into one ObjectInfo per name
// (relative to prefix), sorted by name: that of the first version written.
// A name none of whose versions is current was deleted (Hidden). A blob
// without a version id (a container without versioning) is one
// unversioned object.
func foldVersions(items []*container.BlobItem, prefix string) []ObjectInfo {
	byName := map[string]*ObjectInfo{}
	current := map[string]bool{}
	for _, b := range items {
		if b.Name == nil {
			continue
		}
		name := *b.Name
		if prefix != "" {
			var ok bool
			if name, ok = strings.CutPrefix(name, prefix+"/"); !ok {
				continue
			}
		}
		var size int64
		if b.Properties != nil && b.Properties.ContentLength != nil {
			size = *b.Properties.ContentLength
		}
		o := byName[name]
		if o == nil {
			o = &ObjectInfo{Name: name}
			byName[name] = o
		}
		if b.VersionID == nil {
			o.Size = size
			current[name] = true
			continue
		}
		if b.IsCurrentVersion != nil && *b.IsCurrentVersion {
			current[name] = true
		}
		o.Versions++
		// Version ids are creation times of fixed width: the smallest is
		// the first written.
		if o.Versions == 1 || *b.VersionID < o.Version {
			o.Version, o.Size = *b.VersionID, size
		}
	}
	out := make([]ObjectInfo, 0, len(byName))
	for name, o := range byName {
		o.Hidden = !current[name]
		out = append(out, *o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Stat implements Store.
func (s *AzureStore) Stat(ctx context.Context, name string) (ObjectInfo, error) {
	return listedObject(s.versions(ctx, name, true))
}

// Get implements Store.
func (s *AzureStore) Get(ctx context.Context, obj ObjectInfo) ([]byte, error) {
	bc := s.ctr.NewBlobClient(s.key(obj.Name))
	if obj.Version != "" {
		var err error
		if bc, err = bc.WithVersionID(obj.Version); err != nil {
			return nil, fmt.Errorf("download archive object %s: %w", obj.Name, err)
		}
	}
	resp, err := bc.DownloadStream(ctx, nil)
	if err != nil {
		if bloberror.HasCode(err, bloberror.BlobNotFound) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, obj.Name)
		}
		return nil, fmt.Errorf("download archive object %s: %w", obj.Name, err)
	}
	body := resp.NewRetryReader(ctx, nil)
	defer body.Close()
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, fmt.Errorf("download archive object %s: %w", obj.Name, err)
	}
	return wholeObject(obj, b)
}

// List implements Store.
func (s *AzureStore) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	return s.versions(ctx, prefix, false)
}

var _ Store = (*AzureStore)(nil)
