package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/ledger"
	"golang.org/x/mod/sumdb/note"
)

// verifyFailed is a ledger that is not intact (exit status 1).
type verifyFailed struct{ err error }

func (v *verifyFailed) Error() string { return v.err.Error() }

func ledgerDir(data string) string { return filepath.Join(data, "ledger") }

func ledgerVerifierKey(data string) (string, error) {
	return ledger.ReadVerifierKey(ledgerDir(data))
}

func runVerify(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	data := fs.String("data", "./cdewatch-data", "data directory")
	key := fs.String("key", "", "trusted verifier key, or @FILE holding it (default: the ledger's own log.pub, which an intruder could replace)")
	quiet := fs.Bool("quiet", false, "no progress output")
	var against [][]byte
	fs.Func("against", "a signed checkpoint kept outside this machine (witness, archive, auditor's copy): the ledger must be consistent with it; repeatable", func(f string) error {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("read checkpoint: %w", err)
		}
		against = append(against, b)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	dir := ledgerDir(*data)
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("no ledger at %s: %w", dir, err)
	}
	opts := ledger.VerifyOptions{Dir: dir, Against: against, CheckRecord: decodesAsRecord}
	if *key != "" {
		v, err := verifierFlag(*key)
		if err != nil {
			return err
		}
		opts.Verifier = v
	}
	if !*quiet {
		opts.Progress = func(n uint64) { fmt.Fprintf(os.Stderr, "verified %d leaves...\n", n) }
	}
	res, err := ledger.Verify(ctx, opts)
	if err != nil {
		return &verifyFailed{err: err}
	}
	fmt.Println(res.Summary())
	if len(against) > 0 {
		fmt.Printf("consistent with %d checkpoint(s) kept elsewhere\n", len(against))
	}
	if res.KeyFromStore && !*quiet {
		fmt.Fprintln(os.Stderr, "note: checked against the ledger's own log.pub; pass --key with a copy kept elsewhere (cdewatch version --verifier) to rule out a replaced key")
	}
	return nil
}

// decodesAsRecord checks that a ledger entry decodes as an event.Record.
func decodesAsRecord(b []byte) error {
	var r event.Record
	return r.UnmarshalBinary(b)
}

// keyFlag returns the verifier key a --key flag gives: the key itself, or
// @FILE for the file holding it.
func keyFlag(v string) (string, error) {
	f, ok := strings.CutPrefix(v, "@")
	if !ok {
		return v, nil
	}
	b, err := os.ReadFile(f)
	if err != nil {
		return "", fmt.Errorf("read verifier key: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// verifierFlag returns the verifier of a --key flag (keyFlag).
func verifierFlag(v string) (note.Verifier, error) {
	k, err := keyFlag(v)
	if err != nil {
		return nil, err
	}
	ver, err := note.NewVerifier(k)
	if err != nil {
		return nil, fmt.Errorf("%w: --key: %v", errUsage, err)
	}
	return ver, nil
}
