package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cdewatch/cdewatch/internal/api"
	"github.com/cdewatch/cdewatch/internal/event"
)

const sourcesUsage = `Usage: cdewatch sources [flags]

Shows, per source, the records the index holds, the newest event, the share
of records missing each PCI DSS 10.2.2 detail (user, type, time, outcome,
origin, resource) and, since the server started, the rate, rejects, masked
card data and refused deliveries.

The token (any role but ingest and metrics) comes from --token-file or $CDEWATCH_TOKEN.

Flags:`

func runSources(ctx context.Context, args []string) error {
	return sourcesCommand(ctx, args, os.Stdout)
}

func sourcesCommand(ctx context.Context, args []string, stdout io.Writer) error {
	fs := commandFlags("sources", sourcesUsage)
	af := addAPIFlags(fs, "a token of any role but ingest and metrics")
	format := fs.String("format", "table", "output format: table or json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if *format != "table" && *format != "json" {
		return fmt.Errorf("%w: --format %q: want table or json", errUsage, *format)
	}
	c, err := af.client("a log-reader token: cdewatch token create --role log-reader", time.Minute)
	if err != nil {
		return err
	}
	body, err := c.send(ctx, http.MethodGet, "/v1/sources", nil, 64<<20)
	if err != nil {
		return err
	}
	var ans api.SourcesAnswer
	if err := json.Unmarshal(body, &ans); err != nil {
		return fmt.Errorf("the server's answer is not a sources view: %w", err)
	}
	if *format == "json" {
		return printJSON(stdout, ans)
	}
	return printSources(stdout, &ans)
}

// printSources writes the sources view as a table, one line per source.
func printSources(w io.Writer, ans *api.SourcesAnswer) error {
	if ans.Error != "" {
		fmt.Fprintf(w, "note: %s\n", ans.Error)
	} else if !ans.Indexed {
		fmt.Fprintln(w, "note: the index is disabled; only counts since the server started are shown")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := []string{"SOURCE", "RECORDS", "LAST EVENT", "TABLES"}
	for _, d := range event.DetailNames {
		head = append(head, "NO "+strings.ToUpper(d))
	}
	head = append(head, "RATE/S", "REJECTED", "MASKED", "REFUSED")
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, s := range ans.Sources {
		last := "-"
		if !s.LastEvent.IsZero() {
			last = s.LastEvent.Format(time.RFC3339)
		}
		tables := make([]string, 0, len(s.Tables))
		for t := range s.Tables {
			tables = append(tables, t)
		}
		slices.Sort(tables)
		row := []string{s.Source, fmt.Sprint(s.Records), last, strings.Join(tables, ",")}
		for _, d := range event.DetailNames {
			m := s.Missing[d]
			row = append(row, fmt.Sprintf("%.1f%%", 100*m.Share))
		}
		if l := s.Live; l != nil {
			row = append(row, fmt.Sprintf("%.1f", l.Rate), fmt.Sprint(l.Rejected), fmt.Sprint(l.Masked), fmt.Sprint(l.Pushbacks+l.Failures))
		} else {
			row = append(row, "-", "-", "-", "-")
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}
