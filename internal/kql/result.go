package kql

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/cdewatch/cdewatch/internal/jsonscan"
	"math"
	"strconv"
	"strings"
	"time"
)

// Result is what a query returns: one table per tabular statement, in
// order, and what the query read (for the audit trail).
type Result struct {
	Tables []*Table `json:"Tables"`
	// TablesRead are the catalog tables the query read, sorted.
	TablesRead []string `json:"-"`
}

// Rows is the number of rows of every table of r.
func (r *Result) Rows() int {
	n := 0
	for _, t := range r.Tables {
		n += len(t.Rows)
	}
	return n
}

// Table is one result table in Kusto's shape: named, typed columns and
// rows. A cell holds, by column type:
//
//	string, guid  string
//	long, int     int64
//	real          float64 (NaN and ±Inf included)
//	bool          bool
//	datetime      time.Time, in UTC, microsecond precision
//	timespan      time.Duration, microsecond precision
//	dynamic       json.RawMessage, compact JSON
//
// and nil for null.
type Table struct {
	Name    string   `json:"TableName"`
	Columns []Column `json:"Columns"`
	Rows    [][]any  `json:"Rows"`
	Chart   *Chart   `json:"Chart,omitempty"`
	ordered bool     // rows are in an order the query asked for
}

// Ordered reports whether the query fixed the order of the rows (a sort,
// top, or an operator after one that keeps its order).
func (t *Table) Ordered() bool { return t.ordered }

// Column is a result column: its KQL name and type (string, long, int,
// real, bool, datetime, timespan, dynamic, guid).
type Column struct {
	Name string `json:"ColumnName"`
	Type string `json:"ColumnType"`
}

// Chart is the visualization a `render` operator asked for. Kind is the
// chart type (timechart, barchart, columnchart, piechart, table, ...);
// Props holds the `with (...)` properties as written (title, xcolumn,
// ycolumns, series, kind, ...), each a string or, for column lists, a
// list of strings.
type Chart struct {
	Kind  string         `json:"Visualization"`
	Props map[string]any `json:"Properties,omitempty"`
}

// MarshalJSON renders the table with each cell in its JSON form: datetime
// as RFC 3339 text, timespan as Kusto's [-][d.]hh:mm:ss[.fffffff] text,
// dynamic values as embedded JSON, non-finite reals as "NaN", "Infinity"
// or "-Infinity".
func (t *Table) MarshalJSON() ([]byte, error) {
	type plain struct {
		Name    string            `json:"TableName"`
		Columns []Column          `json:"Columns"`
		Rows    []json.RawMessage `json:"Rows"`
		Chart   *Chart            `json:"Chart,omitempty"`
	}
	p := plain{Name: t.Name, Columns: t.Columns, Rows: make([]json.RawMessage, len(t.Rows)), Chart: t.Chart}
	if p.Columns == nil {
		p.Columns = []Column{}
	}
	var b bytes.Buffer
	for i, row := range t.Rows {
		b.Reset()
		b.WriteByte('[')
		for j, v := range row {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(JSONValue(v))
		}
		b.WriteByte(']')
		p.Rows[i] = append(json.RawMessage(nil), b.Bytes()...)
	}
	return json.Marshal(p)
}

// JSONValue renders one cell as JSON (see Table.MarshalJSON).
func JSONValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return quoteJSON(x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return quoteJSON(formatReal64(x))
		}
		return formatReal64(x)
	case json.RawMessage:
		if len(x) == 0 {
			return "null"
		}
		return string(x)
	case time.Time, time.Duration:
		return quoteJSON(FormatValue(x))
	}
	return FormatValue(v)
}

// FormatValue renders one cell as text: strings as they are, datetime as
// RFC 3339 in UTC with only the fraction digits needed
// (2024-01-31T10:00:00Z, 2024-01-31T10:00:00.25Z), timespan as
// [-][d.]hh:mm:ss[.fffffff], reals in their shortest form, dynamic values
// as compact JSON, null as "".
func FormatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case int:
		return strconv.Itoa(x)
	case float64:
		return formatReal64(x)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.UTC().Format("2006-01-02T15:04:05.9999999Z07:00")
	case time.Duration:
		return FormatTimespan(x)
	case json.RawMessage:
		return string(x)
	}
	return fmt.Sprint(v)
}

// FormatTimespan renders d as Kusto does: [-][d.]hh:mm:ss[.fffffff].
func FormatTimespan(d time.Duration) string {
	var b strings.Builder
	if d < 0 {
		b.WriteByte('-')
		d = -d
	}
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	if days > 0 {
		fmt.Fprintf(&b, "%d.", days)
	}
	h := d / time.Hour
	d -= h * time.Hour
	m := d / time.Minute
	d -= m * time.Minute
	s := d / time.Second
	d -= s * time.Second
	fmt.Fprintf(&b, "%02d:%02d:%02d", h, m, s)
	if d > 0 {
		fmt.Fprintf(&b, ".%07d", d/100)
	}
	return b.String()
}

func quoteJSON(s string) string { return string(jsonscan.AppendString(nil, s, false)) }

// formatReal64 renders a real in its shortest form, as encoding/json does
// (plain digits from 1e-6 to 1e21, an exponent outside), and the
// non-finite ones as NaN, Infinity and -Infinity.
func formatReal64(x float64) string {
	switch {
	case math.IsNaN(x):
		return "NaN"
	case math.IsInf(x, 1):
		return "Infinity"
	case math.IsInf(x, -1):
		return "-Infinity"
	}
	if a := math.Abs(x); a != 0 && (a < 1e-6 || a >= 1e21) {
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return strconv.FormatFloat(x, 'f', -1, 64)
}
