package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cdewatch/cdewatch/internal/fsutil"
	"github.com/cdewatch/cdewatch/internal/posture"
	"github.com/cdewatch/cdewatch/internal/posture/auditpolicy"
)

const policyUsage = `Usage:
  cdewatch policy check [--format text|json] [--cde-namespaces NS,...] [--log-namespaces NS,...] POLICY
  cdewatch policy generate --cde-namespaces NS,... [--out FILE]

check reads a kube-apiserver audit policy (audit.k8s.io/v1 Policy, YAML or
JSON; "-" reads standard input), evaluates it over a matrix of requests the
way kube-apiserver does (first matching rule wins, default None) and reports
per PCI DSS 10.2.1.x class whether the requests it names are logged, with
findings (secret bodies written to the log, missing catch-all, omitStages
that lose failed logins, requests left at None, namespaces not covered).
--cde-namespaces names the namespaces holding cardholder data (without it,
every namespace is treated as holding some); --log-namespaces those running
the audit and log pipeline (default kube-system).

generate writes a recommended policy for the declared CDE namespaces.

Exit status: 0 when no requirement fails; 1 when one fails (after the
report) or the policy cannot be read; 2 for a usage mistake.
Findings, verdict rules and the JSON report: docs/POSTURE.md.`

func runPolicy(_ context.Context, args []string) error {
	return policyCommand(args, os.Stdin, os.Stdout, os.Stderr)
}

func policyCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: name a subcommand: check or generate (-h for help)", errUsage)
	}
	switch args[0] {
	case "check":
		return policyCheck(args[1:], stdin, stdout, stderr)
	case "generate":
		return policyGenerate(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, policyUsage)
		return flag.ErrHelp
	}
	return fmt.Errorf("%w: unknown subcommand %q: want check or generate", errUsage, args[0])
}

func policyCheck(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := commandFlags("policy check", policyUsage+"\n\nFlags of check:")
	fs.SetOutput(stderr)
	format := fs.String("format", "text", "report format: text or json")
	cde := fs.String("cde-namespaces", "", "comma-separated namespaces that hold cardholder data")
	logNS := fs.String("log-namespaces", "kube-system", "comma-separated namespaces that run the audit and log pipeline")
	path, err := reportInput(fs, args, format, "policy file")
	if err != nil {
		return err
	}
	src, err := readPostureInput(path, stdin, auditpolicy.MaxPolicyBytes)
	if err != nil {
		return err
	}
	p, err := auditpolicy.Parse(src)
	if err != nil {
		return fmt.Errorf("%s is not a valid audit policy:\n%w", path, err)
	}
	opts := auditpolicy.Options{CDENamespaces: postureList(*cde), LogNamespaces: postureList(*logNS)}
	rep, err := auditpolicy.Check(p, path, opts)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if *format == "json" {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		return err
	}
	verdicts := make([]posture.Verdict, len(rep.Verdicts))
	for i, v := range rep.Verdicts {
		verdicts[i] = v.Verdict
	}
	return posture.Check(verdicts)
}

func policyGenerate(args []string, stdout, stderr io.Writer) error {
	fs := commandFlags("policy generate", policyUsage+"\n\nFlags of generate:")
	fs.SetOutput(stderr)
	cde := fs.String("cde-namespaces", "", "comma-separated namespaces that hold cardholder data (required)")
	out := fs.String("out", "", "write the policy to this file instead of standard output")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	namespaces := postureList(*cde)
	if len(namespaces) == 0 {
		return fmt.Errorf("%w: --cde-namespaces is required: name the namespaces that hold cardholder data", errUsage)
	}
	src, err := auditpolicy.Generate(auditpolicy.GenerateOptions{CDENamespaces: namespaces})
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if *out == "" {
		_, err := stdout.Write(src)
		return err
	}
	if err := fsutil.WriteFileAtomic(*out, src, 0o644); err != nil {
		return fmt.Errorf("writing the policy: %w", err)
	}
	fmt.Fprintf(stderr, "wrote %s: audit policy for CDE namespaces %s (use it with kube-apiserver --audit-policy-file)\n", *out, strings.Join(namespaces, ", "))
	return nil
}

// readPostureInput reads a file, or standard input for "-", refusing more than
// limit bytes.
func readPostureInput(path string, stdin io.Reader, limit int) ([]byte, error) {
	var r io.Reader
	if path == "-" {
		r = stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(b) > limit {
		return nil, fmt.Errorf("reading %s: %w", path, errPostureInputTooBig{limit})
	}
	return b, nil
}

type errPostureInputTooBig struct{ limit int }

func (e errPostureInputTooBig) Error() string {
	return fmt.Sprintf("larger than %d bytes: this is not the file meant", e.limit)
}

// postureList splits a comma-separated flag value, dropping blanks.
func postureList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
