// Command cdewatch is a continuous security monitoring system for Kubernetes
// clusters in PCI DSS scope: it collects audit events into a tamper-evident
// ledger and proves the logs untouched.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `cdewatch — PCI DSS Requirement 10 monitoring for Kubernetes

Usage:
  cdewatch serve   [--config FILE] [--listen ADDR] [--data DIR] [--demo]   run the server
  cdewatch verify  --data DIR [--key VERIFIER] [--against CHECKPOINT]      check the ledger end to end (and against checkpoints kept elsewhere)
  cdewatch restore --from URL --data DIR [--key VERIFIER] [--checkpoint F] rebuild the ledger from its archive and prove it
  cdewatch prove   --key VERIFIER FILE                                      check a saved provable query answer offline
  cdewatch token   create|list|revoke ...                                  manage API tokens
  cdewatch query   [--token-file F] [--format table|json|csv] 'KQL'|-      run a KQL query (recorded in the audit trail)
  cdewatch sources [--token-file F] [--format table|json]                  per source: volume, last event, records missing 10.2.2 details
  cdewatch incidents list | ack|resolve ID REASON                          open incidents, and their lifecycle (recorded)
  cdewatch retention status | hold|release REASON                         retention in effect, and the legal hold (recorded)
  cdewatch import  [--token-file F] [--state FILE] PATH...                  send saved Azure diagnostic exports (storage blobs, Event Hubs bodies)
  cdewatch policy  check|generate [--cde-namespaces NS,...] ...             check an audit policy against PCI DSS 10.2.1, or write one
  cdewatch posture azure [--lifecycle FILE] SETTINGS.json                  check an AKS diagnostic settings export (kube-audit, destination, retention)
  cdewatch reindex --data DIR                                              rebuild the query index from the ledger
  cdewatch bench   [--self | --server URL --token-file F] [...]            load generator
  cdewatch version [--verifier --data DIR]                                 print version or the checkpoint verifier key

Run "cdewatch <command> -h" for the flags of a command.
`

// errUsage marks command-line mistakes (exit status 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

func run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	cmds := map[string]func(context.Context, []string) error{
		"serve":     runServe,
		"verify":    runVerify,
		"prove":     runProve,
		"incidents": runIncidents,
		"retention": runRetention,
		"restore":   runRestore,
		"token":     runToken,
		"query":     runQuery,
		"sources":   runSources,
		"import":    runImport,
		"policy":    runPolicy,
		"posture":   runPosture,
		"reindex":   runReindex,
		"bench":     runBench,
		"version":   runVersion,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			fmt.Print(usage)
			return 0
		}
		fmt.Fprintf(os.Stderr, "cdewatch: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	err := cmd(ctx, args[1:])
	var ve *verifyFailed
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(os.Stderr, "cdewatch %s: %v\n", args[0], err)
		return 2
	case errors.As(err, &ve):
		fmt.Fprintf(os.Stderr, "cdewatch %s: FAILED: %v\n", args[0], ve.err)
		return 1
	default:
		fmt.Fprintf(os.Stderr, "cdewatch %s: %v\n", args[0], err)
		return 1
	}
}

func runVersion(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	verifier := fs.Bool("verifier", false, "print the ledger's checkpoint verifier key (keep a copy outside the data directory)")
	data := fs.String("data", "./cdewatch-data", "data directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *verifier {
		k, err := ledgerVerifierKey(*data)
		if err != nil {
			return err
		}
		fmt.Println(k)
		return nil
	}
	fmt.Println("cdewatch", version)
	return nil
}
