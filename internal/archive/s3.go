package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// ErrUnsuitable marks an archive target that can never work as it is: no
// credentials, a missing bucket or container, or one without Object Lock
// or immutability. Retrying does not help; the configuration must change.
var ErrUnsuitable = errors.New("unsuitable archive target")

// S3Store keeps objects in an S3-compatible bucket with Object Lock: each
// object is written once (If-None-Match: *) with a COMPLIANCE-mode
// retention, which nobody, the bucket owner and root account included, can
// shorten or remove before it ends; the lock is read back after each write.
type S3Store struct {
	client *minio.Client
	loc    Location
}

// OpenS3 connects to the bucket of loc and checks that it has Object Lock
// and versioning enabled; it refuses a bucket without them. creds nil reads
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, or, for
// auth=iam, the credentials of the environment's AWS role (IRSA, EKS Pod
// Identity, ECS, EC2 instance profile), renewed before they expire.
func OpenS3(ctx context.Context, loc Location, creds *credentials.Credentials) (*S3Store, error) {
	if loc.Scheme != "s3" {
		return nil, fmt.Errorf("archive location %s is not an s3:// URL", loc)
	}
	if creds == nil {
		creds = credentials.NewEnvAWS()
		if loc.Auth == AuthIAM {
			creds = credentials.NewIAM("")
		}
	}
	v, err := creds.GetWithContext(&credentials.CredContext{Client: http.DefaultClient})
	if err != nil && loc.Auth == AuthIAM {
		return nil, fmt.Errorf("archive %s: no credentials from the AWS role of the environment: on EKS use IAM roles for service accounts (AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE) or Pod Identity (AWS_CONTAINER_CREDENTIALS_FULL_URI), on EC2 an instance profile, on ECS a task role: %w", loc, err)
	}
	if err != nil {
		return nil, fmt.Errorf("archive %s: read S3 credentials: %w", loc, err)
	}
	if v.AccessKeyID == "" || v.SecretAccessKey == "" {
		return nil, fmt.Errorf("%w: archive %s: no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a credentials file (AWS shared credentials format, profile [default])", ErrUnsuitable, loc)
	}
	c, err := minio.New(loc.Endpoint, &minio.Options{Creds: creds, Secure: !loc.Insecure, Region: loc.Region, MaxRetries: 3})
	if err != nil {
		return nil, fmt.Errorf("archive %s: S3 client: %w", loc, err)
	}
	s := &S3Store{client: c, loc: loc}
	ok, err := c.BucketExists(ctx, loc.Bucket)
	if err != nil {
		return nil, fmt.Errorf("archive %s: reach bucket %q at %s: %w", loc, loc.Bucket, loc.Endpoint, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: archive %s: bucket %q does not exist at %s; %s", ErrUnsuitable, loc, loc.Bucket, loc.Endpoint, howToCreateBucket(loc.Bucket))
	}
	lock, _, _, _, err := c.GetObjectLockConfig(ctx, loc.Bucket)
	if err != nil && minio.ToErrorResponse(err).Code != "ObjectLockConfigurationNotFoundError" {
		return nil, fmt.Errorf("archive %s: read the Object Lock configuration of bucket %q: %w", loc, loc.Bucket, err)
	}
	if lock != "Enabled" {
		return nil, fmt.Errorf("%w: archive %s: bucket %q does not have S3 Object Lock enabled, so archived audit logs could be deleted or overwritten (PCI DSS 10.3.3); refusing to use it. %s", ErrUnsuitable, loc, loc.Bucket, howToCreateBucket(loc.Bucket))
	}
	ver, err := c.GetBucketVersioning(ctx, loc.Bucket)
	if err != nil {
		return nil, fmt.Errorf("archive %s: read the versioning state of bucket %q: %w", loc, loc.Bucket, err)
	}
	if !ver.Enabled() {
		return nil, fmt.Errorf("%w: archive %s: bucket %q has Object Lock but versioning is %q; Object Lock needs versioning enabled", ErrUnsuitable, loc, loc.Bucket, ver.Status)
	}
	return s, nil
}

func howToCreateBucket(b string) string {
	return fmt.Sprintf("Create a bucket with Object Lock (most servers allow it only at creation), e.g. `aws s3api create-bucket --bucket %s --object-lock-enabled-for-bucket` or `mc mb --with-lock ALIAS/%s`, and point the archive URL at it", b, b)
}

// String implements Store.
func (s *S3Store) String() string { return s.loc.String() }

func (s *S3Store) key(name string) string {
	if s.loc.Prefix == "" {
		return name
	}
	return s.loc.Prefix + "/" + name
}

// Put implements Store.
func (s *S3Store) Put(ctx context.Context, name string, data []byte, retainUntil time.Time) error {
	// S3 keeps retention dates in whole seconds: round up, never shorten.
	until := retainUntil.UTC().Truncate(time.Second)
	if until.Before(retainUntil) {
		until = until.Add(time.Second)
	}
	opts := minio.PutObjectOptions{
		Mode: minio.Compliance, RetainUntilDate: until,
		SendContentMd5: true, DisableMultipart: true,
		ContentType: "application/octet-stream",
	}
	opts.SetMatchETagExcept("*") // never a second version under the name
	info, err := s.client.PutObject(ctx, s.loc.Bucket, s.key(name), bytes.NewReader(data), int64(len(data)), opts)
	if err != nil {
		if r := minio.ToErrorResponse(err); r.StatusCode == http.StatusPreconditionFailed || r.Code == "PreconditionFailed" {
			return ErrExists
		}
		return fmt.Errorf("upload archive object %s to %s: %w", name, s.loc, err)
	}
	// Read the lock back: a server that ignores the lock headers must not
	// pass for a WORM store.
	st, err := s.client.StatObject(ctx, s.loc.Bucket, s.key(name), minio.StatObjectOptions{VersionID: info.VersionID})
	if err != nil {
		return fmt.Errorf("check the lock of archive object %s: %w", name, err)
	}
	mode := st.Metadata.Get("X-Amz-Object-Lock-Mode")
	got, perr := time.Parse(time.RFC3339, st.Metadata.Get("X-Amz-Object-Lock-Retain-Until-Date"))
	if mode != string(minio.Compliance) || perr != nil || got.Before(until) {
		return fmt.Errorf("archive object %s was stored without the requested lock (mode %q, retain until %q; want %s until %s): the server does not enforce S3 Object Lock",
			name, mode, st.Metadata.Get("X-Amz-Object-Lock-Retain-Until-Date"), minio.Compliance, until.Format(time.RFC3339))
	}
	if st.Size != int64(len(data)) {
		return fmt.Errorf("archive object %s holds %d bytes after upload, want %d", name, st.Size, len(data))
	}
	return nil
}

// versions lists every version of every key under prefix (a key prefix
// relative to the store) and folds them into one ObjectInfo per key,
// sorted by name: the first version written that is not a delete marker.
// Listings may put delete markers apart from the versions of their key, so
// versions are matched by key and ordered by time (listed newest first).
func (s *S3Store) versions(ctx context.Context, prefix string, exact bool) ([]ObjectInfo, error) {
	type entry struct {
		info  ObjectInfo
		first time.Time
	}
	byName := map[string]*entry{}
	full := s.key(prefix)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for o := range s.client.ListObjects(ctx, s.loc.Bucket, minio.ListObjectsOptions{Prefix: full, Recursive: true, WithVersions: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("list %s under %q: %w", s.loc, prefix, o.Err)
		}
		if exact && o.Key != full {
			continue
		}
		name := o.Key
		if s.loc.Prefix != "" {
			var ok bool
			if name, ok = strings.CutPrefix(o.Key, s.loc.Prefix+"/"); !ok {
				continue
			}
		}
		e := byName[name]
		if e == nil {
			e = &entry{info: ObjectInfo{Name: name}}
			byName[name] = e
		}
		if o.IsDeleteMarker {
			if o.IsLatest {
				e.info.Hidden = true
			}
			continue
		}
		e.info.Versions++
		if e.info.Versions == 1 || !o.LastModified.After(e.first) {
			e.first, e.info.Version, e.info.Size = o.LastModified, o.VersionID, o.Size
		}
	}
	out := make([]ObjectInfo, 0, len(byName))
	for _, e := range byName {
		if e.info.Versions > 0 {
			out = append(out, e.info)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Stat implements Store.
func (s *S3Store) Stat(ctx context.Context, name string) (ObjectInfo, error) {
	return listedObject(s.versions(ctx, name, true))
}

// Get implements Store.
func (s *S3Store) Get(ctx context.Context, obj ObjectInfo) ([]byte, error) {
	r, err := s.client.GetObject(ctx, s.loc.Bucket, s.key(obj.Name), minio.GetObjectOptions{VersionID: obj.Version})
	if err != nil {
		return nil, fmt.Errorf("download archive object %s: %w", obj.Name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" || minio.ToErrorResponse(err).Code == "NoSuchVersion" {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, obj.Name)
		}
		return nil, fmt.Errorf("download archive object %s: %w", obj.Name, err)
	}
	return wholeObject(obj, b)
}

// List implements Store.
func (s *S3Store) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	return s.versions(ctx, prefix, false)
}

var _ Store = (*S3Store)(nil)
var _ Store = (*DirStore)(nil)

// errNoStore is returned by Open for an unknown scheme.
var errNoStore = errors.New("no such archive store")

// Open opens the store of loc: an S3 bucket with Object Lock, an Azure
// Blob container with version-level immutability, or a local directory.
// credentialsFile, when set, holds the credentials: for S3 in the AWS
// shared credentials format (profile [default]), for Azure the storage
// account's connection string; empty: from the environment
// (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AZURE_STORAGE_KEY). A
// local directory takes none.
func Open(ctx context.Context, loc Location, credentialsFile string) (Store, error) {
	if credentialsFile != "" {
		if _, err := os.Stat(credentialsFile); err != nil {
			return nil, fmt.Errorf("credentials file: %w", err)
		}
	}
	switch loc.Scheme {
	case "s3":
		var creds *credentials.Credentials
		if credentialsFile != "" && loc.Auth == AuthIAM {
			return nil, fmt.Errorf("%w: archive %s: auth=%s takes the AWS role's credentials and no credentials file: remove credentials_file, or drop auth=%s to use access keys", ErrUnsuitable, loc, AuthIAM, AuthIAM)
		}
		if credentialsFile != "" {
			creds = credentials.NewFileAWSCredentials(credentialsFile, "default")
		}
		return OpenS3(ctx, loc, creds)
	case "azblob":
		return OpenAzure(ctx, loc, AzureOptions{CredentialsFile: credentialsFile})
	case "file":
		if credentialsFile != "" {
			return nil, fmt.Errorf("%w: archive %s: a local folder takes no credentials file", ErrUnsuitable, loc)
		}
		return OpenDir(loc.Path)
	}
	return nil, fmt.Errorf("%w: %q", errNoStore, loc.Scheme)
}
