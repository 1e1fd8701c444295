package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/cdewatch/cdewatch/internal/posture"
	"github.com/cdewatch/cdewatch/internal/posture/azurediag"
)

const postureUsage = `Usage:
  cdewatch posture azure [--format text|json] [--lifecycle FILE] SETTINGS.json

azure checks the diagnostic settings of an AKS cluster, exported with
  az monitor diagnostic-settings list --resource <cluster ID>   (a list, or {"value": [...]})
  az monitor diagnostic-settings show --resource <cluster ID> --name <setting>
("-" reads standard input): kube-audit exported (kube-audit-admin alone
drops the reads of cardholder data), a destination cdewatch reads (an event
hub through the Kafka input, a storage account through cdewatch import; a
Log Analytics workspace alone is a warning), retention of 12 months, and the
other categories worth exporting (guard, kube-apiserver, ...).

Azure no longer applies the retention policy of diagnostic settings: a
storage account's lifecycle management rules decide how long the logs stay.
Pass them with --lifecycle (the output of az storage account
management-policy show) to have the retention checked; without it the
retention of a storage destination is reported as unverified.

Exit status: 0 when no requirement fails; 1 when one fails (after the
report) or the export cannot be read; 2 for a usage mistake.
Findings and verdict rules: docs/POSTURE.md.`

func runPosture(_ context.Context, args []string) error {
	return postureCommand(args, os.Stdin, os.Stdout, os.Stderr)
}

func postureCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: name what to check: azure (-h for help)", errUsage)
	}
	switch args[0] {
	case "azure":
		return postureAzure(args[1:], stdin, stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, postureUsage)
		return flag.ErrHelp
	}
	return fmt.Errorf("%w: unknown check %q: want azure", errUsage, args[0])
}

func postureAzure(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := commandFlags("posture azure", postureUsage+"\n\nFlags of azure:")
	fs.SetOutput(stderr)
	format := fs.String("format", "text", "report format: text or json")
	lifecycle := fs.String("lifecycle", "", "lifecycle management policy of the storage account (az storage account management-policy show)")
	path, err := reportInput(fs, args, format, "diagnostic settings export")
	if err != nil {
		return err
	}
	src, err := readPostureInput(path, stdin, azurediag.MaxInputBytes)
	if err != nil {
		return err
	}
	settings, err := azurediag.Decode(src)
	if err != nil {
		return fmt.Errorf("%s is not a diagnostic settings export: %w", path, err)
	}
	var opts azurediag.Options
	if *lifecycle != "" {
		lsrc, err := readPostureInput(*lifecycle, stdin, azurediag.MaxInputBytes)
		if err != nil {
			return err
		}
		if opts.Lifecycle, err = azurediag.DecodeLifecycle(lsrc); err != nil {
			return fmt.Errorf("%s: %w", *lifecycle, err)
		}
	}
	rep := azurediag.Check(settings, path, opts)
	if *format == "json" {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		return err
	}
	return posture.Check(rep.Verdicts)
}

// reportInput parses the flags and the one input of a report command (a
// file, or - for standard input), and checks --format.
func reportInput(fs *flag.FlagSet, args []string, format *string, what string) (string, error) {
	paths, err := parseInterspersed(fs, args)
	if err != nil {
		return "", err
	}
	if len(paths) != 1 {
		return "", fmt.Errorf("%w: name one %s (or - for standard input)", errUsage, what)
	}
	if *format != "text" && *format != "json" {
		return "", fmt.Errorf("%w: --format %q: want text or json", errUsage, *format)
	}
	return paths[0], nil
}
