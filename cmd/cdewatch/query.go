package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cdewatch/cdewatch/internal/api"
	"github.com/cdewatch/cdewatch/internal/kql"
)

const queryUsage = `Usage:
  cdewatch query [flags] 'KQL'            the query as the argument
  cdewatch query [flags] --file q.kql     the query from a file
  cdewatch query [flags] -                the query from standard input

The token (log-reader, soc-analyst, compliance or auditor) comes from --token-file or $CDEWATCH_TOKEN;
create one with: cdewatch token create --role log-reader
Every query is recorded in the audit trail (CdewatchAudit, OperationName "query").

Flags:`

// maxQueryAnswer bounds the answer the client reads.
const maxQueryAnswer = 2 << 30

func runQuery(ctx context.Context, args []string) error {
	return queryCommand(ctx, args, os.Stdin, os.Stdout)
}

// queryCommand is `cdewatch query`, reading a query from stdin when asked
// to and printing the result to stdout.
func queryCommand(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := commandFlags("query", queryUsage)
	af := addAPIFlags(fs, "a token of a role that reads logs")
	format := fs.String("format", "table", "output format: table, json or csv")
	file := fs.String("file", "", "read the query from this file")
	tableN := fs.Int("table", 0, "print only the Nth result table (1 is the first); csv needs it when the result has several")
	timeout := fs.Duration("timeout", 5*time.Minute, "how long to wait for the answer")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	switch *format {
	case "table", "json", "csv":
	default:
		return fmt.Errorf("%w: --format %q: want table, json or csv", errUsage, *format)
	}
	if *tableN < 0 {
		return fmt.Errorf("%w: --table %d: want a table number from 1", errUsage, *tableN)
	}

	var query string
	switch {
	case *file != "" && len(pos) > 0:
		return fmt.Errorf("%w: give the query either with --file or as an argument, not both", errUsage)
	case *file != "":
		b, err := os.ReadFile(*file)
		if err != nil {
			return fmt.Errorf("read query: %w", err)
		}
		query = string(b)
	case len(pos) == 1 && pos[0] == "-":
		b, err := io.ReadAll(io.LimitReader(stdin, api.MaxQueryRequestBytes+1))
		if err != nil {
			return fmt.Errorf("read query from standard input: %w", err)
		}
		query = string(b)
	case len(pos) > 0:
		if slices.Contains(pos, "-") {
			return fmt.Errorf("%w: \"-\" (the query from standard input) must be the only argument", errUsage)
		}
		query = strings.Join(pos, " ")
	default:
		return fmt.Errorf("%w: no query: give it as an argument, with --file, or - for standard input (-h for help)", errUsage)
	}
	if strings.TrimSpace(query) == "" {
		return fmt.Errorf("%w: the query is empty", errUsage)
	}

	c, err := af.client("a log-reader token: cdewatch token create --role log-reader", *timeout)
	if err != nil {
		return err
	}
	body, err := c.send(ctx, http.MethodPost, "/v1/query", api.QueryRequest{Query: query}, maxQueryAnswer)
	if err != nil {
		return err
	}
	return printQueryResult(stdout, body, *format, *tableN)
}

// parseInterspersed parses flags wherever they are among the arguments
// (`cdewatch query 'T | count' --format csv`) and returns the others. "--"
// ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// answerTable is a result table as POST /v1/query sends it, its cells
// still JSON.
type answerTable struct {
	Name    string              `json:"TableName"`
	Columns []kql.Column        `json:"Columns"`
	Rows    [][]json.RawMessage `json:"Rows"`
}

// printQueryResult writes the answer of POST /v1/query in format; n > 0
// picks the nth table.
func printQueryResult(w io.Writer, body []byte, format string, n int) error {
	var raw struct {
		Tables []json.RawMessage `json:"Tables"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return fmt.Errorf("the server's answer is not a query result: %w", err)
	}
	if n > len(raw.Tables) {
		return fmt.Errorf("%w: --table %d: the result has %s", errUsage, n, plural(len(raw.Tables), "table", "tables"))
	}
	if format == "json" {
		src := body
		if n > 0 {
			src = raw.Tables[n-1]
		}
		var b bytes.Buffer
		if err := json.Indent(&b, bytes.TrimSpace(src), "", "  "); err != nil {
			return fmt.Errorf("the server's answer is not valid JSON: %w", err)
		}
		b.WriteByte('\n')
		_, err := w.Write(b.Bytes())
		return err
	}
	tables := make([]answerTable, len(raw.Tables))
	for i, rt := range raw.Tables {
		if err := json.Unmarshal(rt, &tables[i]); err != nil {
			return fmt.Errorf("the server's answer: table %d: %w", i+1, err)
		}
	}
	if n > 0 {
		tables = tables[n-1 : n]
	}
	switch format {
	case "csv":
		switch len(tables) {
		case 0:
			return errors.New("the result has no table to write as CSV")
		case 1:
			return writeCSV(w, &tables[0])
		}
		names := make([]string, len(tables))
		for i, t := range tables {
			names[i] = strconv.Itoa(i+1) + " " + t.Name
		}
		return fmt.Errorf("%w: the result has %d tables (%s) and CSV holds one: pick one with --table N", errUsage, len(tables), strings.Join(names, ", "))
	default:
		var b bytes.Buffer
		if len(tables) == 0 {
			b.WriteString("(no result tables)\n")
		}
		for i := range tables {
			if i > 0 {
				b.WriteByte('\n')
			}
			writeTextTable(&b, &tables[i], len(tables) > 1)
		}
		_, err := w.Write(b.Bytes())
		return err
	}
}

// cells returns the table's cells as text, as kql.FormatValue renders them.
func (t *answerTable) cells() [][]string {
	out := make([][]string, len(t.Rows))
	for i, row := range t.Rows {
		out[i] = make([]string, len(row))
		for j, raw := range row {
			typ := ""
			if j < len(t.Columns) {
				typ = t.Columns[j].Type
			}
			out[i][j] = kql.FormatValue(cellValue(typ, raw))
		}
	}
	return out
}

// cellValue turns a cell of the JSON answer back into the value the
// engine held (see kql.Table.MarshalJSON), so that kql.FormatValue renders
// it as the server would.
func cellValue(typ string, raw json.RawMessage) any {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var s string
	isString := json.Unmarshal(raw, &s) == nil
	switch typ {
	case "dynamic":
		var b bytes.Buffer
		if json.Compact(&b, raw) == nil {
			return json.RawMessage(b.Bytes())
		}
		return json.RawMessage(raw)
	case "long", "int":
		if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
			return n
		}
	case "real":
		if isString {
			switch s {
			case "NaN":
				return math.NaN()
			case "Infinity":
				return math.Inf(1)
			case "-Infinity":
				return math.Inf(-1)
			}
		} else if f, err := strconv.ParseFloat(string(raw), 64); err == nil {
			return f
		}
	case "bool":
		if b, err := strconv.ParseBool(string(raw)); err == nil {
			return b
		}
	case "datetime":
		if isString {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return t
			}
		}
	}
	if isString {
		return s // string, guid, timespan (already in Kusto's text form)
	}
	return json.RawMessage(raw)
}

func writeCSV(w io.Writer, t *answerTable) error {
	cw := csv.NewWriter(w)
	header := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		header[i] = c.Name
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	if err := cw.WriteAll(t.cells()); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// controlEscaper keeps a cell on one line of the text table.
var controlEscaper = strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", `\t`)

// writeTextTable writes t as aligned columns under a header and a
// separator line, numbers right-aligned, then "(N rows)"; withName puts the
// table's name first.
func writeTextTable(b *bytes.Buffer, t *answerTable, withName bool) {
	if withName {
		b.WriteString(t.Name + "\n")
	}
	cells := t.cells()
	ncol := len(t.Columns)
	for _, row := range cells {
		ncol = max(ncol, len(row))
	}
	header := make([]string, ncol)
	right := make([]bool, ncol)
	width := make([]int, ncol)
	for i := range ncol {
		if i < len(t.Columns) {
			header[i] = controlEscaper.Replace(t.Columns[i].Name)
			switch t.Columns[i].Type {
			case "long", "int", "real":
				right[i] = true
			}
		}
		width[i] = utf8.RuneCountInString(header[i])
	}
	for _, row := range cells {
		for j := range row {
			row[j] = controlEscaper.Replace(row[j])
			width[j] = max(width[j], utf8.RuneCountInString(row[j]))
		}
	}
	line := func(vals []string) {
		var l strings.Builder
		for i := range ncol {
			v := ""
			if i < len(vals) {
				v = vals[i]
			}
			if i > 0 {
				l.WriteString("  ")
			}
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(v))
			switch {
			case right[i]:
				l.WriteString(pad + v)
			case i == ncol-1: // no padding at the end of the line
				l.WriteString(v)
			default:
				l.WriteString(v + pad)
			}
		}
		s := l.String()
		if len(vals) < ncol || vals[ncol-1] == "" {
			s = strings.TrimRight(s, " ")
		}
		b.WriteString(s + "\n")
	}
	if ncol > 0 {
		line(header)
		sep := make([]string, ncol)
		for i := range sep {
			sep[i] = strings.Repeat("-", width[i])
		}
		line(sep)
		for _, row := range cells {
			line(row)
		}
	}
	fmt.Fprintf(b, "(%s)\n", plural(len(cells), "row", "rows"))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
