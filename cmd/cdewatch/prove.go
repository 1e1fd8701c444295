package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/cdewatch/cdewatch/internal/prove"
)

// runProve checks a saved provable query answer offline.
func runProve(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("prove", flag.ContinueOnError)
	key := fs.String("key", "", "the ledger's verifier key (cdewatch version --verifier), or @FILE holding it; required")
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(files) != 1 || *key == "" {
		return fmt.Errorf("%w: want --key VERIFIER and one FILE (an answer of POST /v1/query with \"prove\": true, or - for standard input)", errUsage)
	}
	v, err := verifierFlag(*key)
	if err != nil {
		return err
	}
	var b []byte
	if name := files[0]; name == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(name)
	}
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	var a prove.Answer
	if err := json.Unmarshal(b, &a); err != nil {
		return fmt.Errorf("the file is not a query answer (JSON): %w", err)
	}
	rep, err := prove.Check(&a, v)
	if err != nil {
		return &verifyFailed{err: err}
	}
	fmt.Printf("proven: %d rows from %d ledger records are in the tree of size %d signed by %s at %s\n",
		rep.Rows, rep.Records, rep.TreeSize, rep.Origin, rep.Checkpoint.Time.Format("2006-01-02T15:04:05Z"))
	return nil
}
