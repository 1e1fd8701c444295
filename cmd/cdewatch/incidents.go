package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"text/tabwriter"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/api"
)

const incidentsUsage = `Usage:
  cdewatch incidents list [flags]
  cdewatch incidents ack ID REASON [flags]
  cdewatch incidents resolve ID REASON [flags]

Lists the open incidents (alerts of one rule and key), or moves one
forward with the reason, recorded in the ledger with who and when (PCI DSS
10.4.1). ack and resolve need a soc-analyst token; list any role that reads
logs. The token comes from --token-file or $CDEWATCH_TOKEN.

Flags:`

func runIncidents(ctx context.Context, args []string) error {
	return incidentsCommand(ctx, args, os.Stdout)
}

func incidentsCommand(ctx context.Context, args []string, stdout io.Writer) error {
	fs := commandFlags("incidents", incidentsUsage)
	af := addAPIFlags(fs, "the token")
	format := fs.String("format", "table", "list output: table or json")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	verb := ""
	if len(pos) > 0 {
		verb = pos[0]
	}
	switch {
	case verb == "list" && len(pos) == 1:
	case (verb == "ack" || verb == "resolve") && len(pos) == 3:
	default:
		return fmt.Errorf("%w: want list, or ack|resolve ID REASON", errUsage)
	}
	c, err := af.client("a soc-analyst token: cdewatch token create --role soc-analyst", time.Minute)
	if err != nil {
		return err
	}
	if verb == "list" {
		body, err := c.send(ctx, http.MethodGet, "/v1/incidents", nil, 16<<20)
		if err != nil {
			return err
		}
		var incs []alert.IncidentChange
		if err := json.Unmarshal(body, &incs); err != nil {
			return fmt.Errorf("the server's answer is not a list of incidents: %w", err)
		}
		if *format == "json" {
			return printJSON(stdout, incs)
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATUS\tSEVERITY\tOPENED\tRULE\tKEY")
		for _, i := range incs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", i.ID, i.Status, i.Severity, i.Opened.Format(time.RFC3339), i.Rule, i.Key)
		}
		fmt.Fprintf(tw, "(%d open)\n", len(incs))
		return tw.Flush()
	}
	status := alert.IncidentAcknowledged
	if verb == "resolve" {
		status = alert.IncidentResolved
	}
	body, err := c.send(ctx, http.MethodPost, "/v1/incidents/"+url.PathEscape(pos[1])+"/status",
		api.IncidentStatusRequest{Status: status, Reason: pos[2]}, 1<<20)
	if err != nil {
		return err
	}
	var ch alert.IncidentChange
	if err := json.Unmarshal(body, &ch); err != nil {
		return fmt.Errorf("the server's answer is not an incident change: %w", err)
	}
	fmt.Fprintf(stdout, "incident %s %s by %s\n", ch.ID, ch.Status, ch.By)
	return nil
}
