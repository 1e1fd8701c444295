package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/cdewatch/cdewatch/internal/archive"
)

const restoreUsage = `cdewatch restore --from URL --data DIR [--key VERIFIER|@FILE] [--checkpoint FILE] [--credentials-file FILE]

Rebuilds the ledger (DIR/ledger) from its archive and proves it: every block
checksum, leaf hash and archived checkpoint is verified, and the tree must
match the anchor checkpoint (--checkpoint, or the newest one archived).
DIR must be missing or empty.

URL is s3://BUCKET/PREFIX[?endpoint=HOST:PORT&region=R&insecure=1] (S3
credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or
--credentials-file in the AWS shared credentials format),
azblob://ACCOUNT/CONTAINER[/PREFIX][?endpoint=URL] (the key from
AZURE_STORAGE_KEY, or --credentials-file holding the account's connection
string) or file:///PATH.
`

func runRestore(ctx context.Context, args []string) error {
	fs := commandFlags("restore", restoreUsage+"\nFlags:")
	from := fs.String("from", "", "archive URL: s3://BUCKET/PREFIX?endpoint=HOST:PORT, azblob://ACCOUNT/CONTAINER/PREFIX or file:///PATH")
	data := fs.String("data", "", "data directory to restore into (must be missing or empty); the ledger goes to DIR/ledger")
	key := fs.String("key", "", "trusted verifier key, or @FILE holding it (default: the archive's own log.pub, which proves less)")
	cpFile := fs.String("checkpoint", "", "file holding a trusted signed checkpoint kept apart from the archive (default: the newest archived one)")
	credsFile := fs.String("credentials-file", "", "s3://: credentials in the AWS shared credentials format, profile [default] (default: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY); azblob://: the storage account's connection string (default: AZURE_STORAGE_KEY)")
	quiet := fs.Bool("quiet", false, "no progress output")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if *from == "" || *data == "" {
		return fmt.Errorf("%w: --from and --data are required", errUsage)
	}
	loc, err := archive.ParseLocation(*from)
	if err != nil {
		return fmt.Errorf("%w: --from: %v", errUsage, err)
	}
	if ents, err := os.ReadDir(*data); err == nil && len(ents) > 0 {
		return fmt.Errorf("%s is not empty: restore into a new or empty directory (nothing was changed)", *data)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("--data: %w", err)
	}
	opts := archive.RestoreOptions{Dir: ledgerDir(*data), CheckRecord: decodesAsRecord}
	if *key != "" {
		k, err := keyFlag(*key)
		if err != nil {
			return err
		}
		opts.Key = strings.TrimSpace(k)
	}
	if *cpFile != "" {
		b, err := os.ReadFile(*cpFile)
		if err != nil {
			return fmt.Errorf("read the trusted checkpoint: %w", err)
		}
		opts.Checkpoint = b
	}
	if *credsFile != "" && loc.Scheme == "file" {
		return fmt.Errorf("%w: --credentials-file is for s3:// and azblob:// archives only", errUsage)
	}
	if !*quiet {
		opts.Progress = progressPrinter(os.Stderr)
	}
	if loc.Scheme == "file" {
		if _, err := os.Stat(loc.Path); err != nil {
			return fmt.Errorf("no archive at %s: %w", loc.Path, err)
		}
	}
	store, err := archive.Open(ctx, loc, *credsFile)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*data, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", *data, err)
	}
	res, err := archive.Restore(ctx, store, opts)
	if err != nil {
		return fmt.Errorf("%w\nthe partial restore in %s is left for inspection; remove it before trying again", err, *data)
	}
	fmt.Print(res.Summary())
	fmt.Printf("restored into %s\n", ledgerDir(*data))
	fmt.Println("to run cdewatch on it, copy the signing key log.key from its own backup into that directory (mode 0600), then run `cdewatch reindex`")
	return nil
}

// progressPrinter reports restore progress on w, at most once a second.
func progressPrinter(w io.Writer) func(archive.Progress) {
	var last time.Time
	var phase string
	return func(p archive.Progress) {
		if p.Phase == phase && time.Since(last) < time.Second {
			return
		}
		phase, last = p.Phase, time.Now()
		switch p.Phase {
		case "download":
			fmt.Fprintf(w, "downloaded %d/%d objects, %s of %s...\n", p.Objects, p.ObjectsTotal, byteCount(p.Bytes), byteCount(p.BytesTotal))
		case "verify":
			fmt.Fprintf(w, "verified %d records...\n", p.Leaves)
		case "hash":
			fmt.Fprintf(w, "writing tree hashes for %d records...\n", p.Leaves)
		}
	}
}

// byteCount renders n bytes with a binary unit, e.g. "14.4 KiB".
func byteCount(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
