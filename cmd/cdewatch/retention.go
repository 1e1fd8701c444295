package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"time"

	"github.com/cdewatch/cdewatch/internal/api"
	"github.com/cdewatch/cdewatch/internal/retention"
)

const retentionUsage = `Usage:
  cdewatch retention status [flags]
  cdewatch retention hold REASON [flags]
  cdewatch retention release REASON [flags]

Shows the retention policy in effect (docs/PROTECT.md): per table, the
shortenings scheduled, the legal hold and what expired; or sets or releases
the legal hold, under which nothing expires. hold and release need a
compliance token and are recorded with who and why; status any of
platform-admin, compliance, auditor. The token comes from --token-file or
$CDEWATCH_TOKEN.

Flags:`

func runRetention(ctx context.Context, args []string) error {
	return retentionCommand(ctx, args, os.Stdout)
}

func retentionCommand(ctx context.Context, args []string, stdout io.Writer) error {
	fs := commandFlags("retention", retentionUsage)
	af := addAPIFlags(fs, "the token")
	asJSON := fs.Bool("json", false, "status as JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	verb := ""
	if len(pos) > 0 {
		verb = pos[0]
	}
	switch {
	case verb == "status" && len(pos) == 1:
	case (verb == "hold" || verb == "release") && len(pos) == 2:
	default:
		return fmt.Errorf("%w: want status, or hold|release REASON", errUsage)
	}
	c, err := af.client("a compliance token: cdewatch token create --role compliance", time.Minute)
	if err != nil {
		return err
	}
	var body []byte
	if verb == "status" {
		body, err = c.send(ctx, http.MethodGet, "/v1/retention", nil, 1<<20)
	} else {
		body, err = c.send(ctx, http.MethodPost, "/v1/retention/hold", api.HoldRequest{Hold: verb == "hold", Reason: pos[1]}, 1<<20)
	}
	if err != nil {
		return err
	}
	var st retention.Status
	if err := json.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("the server's answer is not a retention status: %w", err)
	}
	if *asJSON {
		return printJSON(stdout, st)
	}
	return printRetention(stdout, &st)
}

// printRetention writes the retention status for people.
func printRetention(w io.Writer, st *retention.Status) error {
	days := func(d time.Duration) string { return fmt.Sprintf("%dd", int(d.Hours()/24)) }
	fmt.Fprintf(w, "retention in effect: %s (default)", days(st.Effective.Default))
	tables := make([]string, 0, len(st.Effective.Tables))
	for t := range st.Effective.Tables {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	for _, t := range tables {
		fmt.Fprintf(w, ", %s %s", t, days(st.Effective.Tables[t]))
	}
	fmt.Fprintln(w)
	for _, c := range st.Pending {
		t := c.Table
		if t == "" {
			t = "default"
		}
		fmt.Fprintf(w, "scheduled: %s from %s to %s on %s\n", t, days(c.From), days(c.To), c.EffectiveAt.Format(time.RFC3339))
	}
	if st.Hold != nil {
		fmt.Fprintf(w, "legal hold: set by %s on %s (%s): nothing expires\n", st.Hold.By, st.Hold.Since.Format(time.RFC3339), st.Hold.Reason)
	} else {
		fmt.Fprintln(w, "legal hold: none")
	}
	fmt.Fprintf(w, "expired: %d leaves; oldest record held: leaf %d", st.Expired, st.OldestLeaf)
	if !st.OldestRecord.IsZero() {
		fmt.Fprintf(w, ", received %s", st.OldestRecord.Format(time.RFC3339))
	}
	_, err := fmt.Fprintln(w)
	return err
}
