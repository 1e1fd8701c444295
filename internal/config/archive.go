package config

import (
	"strings"
	"time"
)

// Archive configures the copy of the ledger to storage that is difficult
// to modify (internal/archive, docs/ARCHIVE.md; PCI DSS 10.3.3). Zero
// values take the defaults written beside each field.
type Archive struct {
	// URL of the archive: s3://BUCKET/PREFIX?endpoint=HOST:PORT (a bucket
	// with S3 Object Lock; ?auth=iam takes the AWS role's credentials
	// instead of access keys), azblob://ACCOUNT/CONTAINER/PREFIX (a container
	// with version-level immutability; ?auth=entra-id signs in with
	// Microsoft Entra ID instead of the account key) or file:///PATH (a
	// local folder, weaker). Empty:
	// no archive. internal/archive.ParseLocation checks the rest when
	// serve starts.
	URL string `yaml:"url"`
	// CredentialsFile holds the S3 credentials in the AWS shared
	// credentials format (profile [default]), or the Azure storage
	// account's connection string. Empty: AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY, or AZURE_STORAGE_KEY, from the environment.
	CredentialsFile string `yaml:"credentials_file"`
	// Retention is how long each archived object stays locked: default
	// and minimum 365d (PCI DSS 10.5.1), at most 3650d.
	Retention Duration `yaml:"retention"`
	// Interval between archiving passes; default 1m, at most 1h.
	Interval Duration `yaml:"interval"`
	// MaxChunkBytes bounds one archived object; default 16MiB.
	MaxChunkBytes ByteSize `yaml:"max_chunk_bytes"`
	// RestoreTestInterval is how often the archive is restored and
	// verified; default 24h, at least 1h.
	RestoreTestInterval Duration `yaml:"restore_test_interval"`
	// RestoreTestDisabled turns the scheduled restore test off.
	RestoreTestDisabled bool `yaml:"restore_test_disabled"`
	// RestoreTestDir is where the test restores (it needs room for a
	// copy of the archive); default <data>/archive/restore-test.
	RestoreTestDir string `yaml:"restore_test_dir"`
}

// Archive defaults.
const (
	DefaultArchiveRetention           = 365 * 24 * time.Hour
	DefaultArchiveInterval            = time.Minute
	DefaultArchiveMaxChunkBytes       = 16 << 20
	DefaultArchiveRestoreTestInterval = 24 * time.Hour
)

// Validate fills in the defaults and reports values that make no sense to
// bad (key, message), as Config.Validate does for the other sections.
func (a *Archive) Validate(bad func(key, format string, args ...any)) {
	if a.URL == "" {
		if a.CredentialsFile != "" || a.Retention != 0 || a.Interval != 0 || a.MaxChunkBytes != 0 || a.RestoreTestInterval != 0 || a.RestoreTestDir != "" {
			bad("archive.url", "must be set for the other archive settings to take effect, e.g. s3://BUCKET/PREFIX or file:///PATH")
		}
		return
	}
	scheme, rest, ok := strings.Cut(a.URL, "://")
	switch {
	case !ok || (scheme != "s3" && scheme != "azblob" && scheme != "file"):
		bad("archive.url", "%q: want s3://BUCKET/PREFIX[?endpoint=HOST:PORT] (S3 with Object Lock), azblob://ACCOUNT/CONTAINER/PREFIX (Azure Blob with version-level immutability) or file:///PATH (a local folder)", a.URL)
	case strings.Contains(strings.SplitN(rest, "/", 2)[0], "@"):
		bad("archive.url", "must not carry credentials: use credentials_file, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (S3) or AZURE_STORAGE_KEY (Azure)")
	case scheme == "file" && a.CredentialsFile != "":
		bad("archive.credentials_file", "is for s3:// and azblob:// archives only")
	case scheme == "azblob" && a.CredentialsFile != "" && strings.Contains(a.URL, "auth=entra-id"):
		bad("archive.credentials_file", "is not used with auth=entra-id, which signs in with Microsoft Entra ID: remove it, or drop auth=entra-id to use the account key")
	case scheme == "s3" && a.CredentialsFile != "" && strings.Contains(a.URL, "auth=iam"):
		bad("archive.credentials_file", "is not used with auth=iam, which takes the AWS role's credentials: remove it, or drop auth=iam to use access keys")
	}
	if a.Retention == 0 {
		a.Retention = Duration(DefaultArchiveRetention)
	}
	if r := time.Duration(a.Retention); r < DefaultArchiveRetention || r > 10*DefaultArchiveRetention {
		bad("archive.retention", "%v must be between 365d and 3650d: PCI DSS 10.5.1 keeps audit log history at least 12 months, and a compliance-mode lock cannot be lifted", a.Retention)
	}
	if a.Interval == 0 {
		a.Interval = Duration(DefaultArchiveInterval)
	}
	if i := time.Duration(a.Interval); i < time.Second || i > time.Hour {
		bad("archive.interval", "%v must be between 1s and 1h (PCI DSS 10.3.3 asks for prompt backup)", a.Interval)
	}
	if a.MaxChunkBytes == 0 {
		a.MaxChunkBytes = DefaultArchiveMaxChunkBytes
	}
	if a.MaxChunkBytes < 64<<10 || a.MaxChunkBytes > 1<<30 {
		bad("archive.max_chunk_bytes", "%v must be between 64KiB and 1GiB", a.MaxChunkBytes)
	}
	if a.RestoreTestInterval == 0 {
		a.RestoreTestInterval = Duration(DefaultArchiveRestoreTestInterval)
	}
	if time.Duration(a.RestoreTestInterval) < time.Hour {
		bad("archive.restore_test_interval", "%v must be at least 1h (each test downloads the whole archive)", a.RestoreTestInterval)
	}
}
