package kql

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// This file holds the comparison of TestConformance: it reads the expected
// output of a documentation example (a markdown table as the Kusto docs
// render it) and compares it with a *Result. See conformanceRules for the
// rules as the report states them.

// mdExpected is a markdown table of an expected output: the header cells and
// the data rows, each cell cleaned of markdown (see mdCleanCell) but not yet
// interpreted as a value.
type mdExpected struct {
	Header []string
	Rows   [][]string
}

// mdParseTables reads every table of md, in order. A table is a
// header row, a separator row (cells of dashes with optional colons) and
// the data rows up to the first line that is not a table row. Text around
// tables is ignored. It returns nil when md holds no table.
func mdParseTables(md string) []mdExpected {
	lines := strings.Split(strings.ReplaceAll(md, "\r\n", "\n"), "\n")
	var out []mdExpected
	for i := 0; i+1 < len(lines); i++ {
		if !mdIsTableLine(lines[i]) || !mdIsSeparatorLine(lines[i+1]) {
			continue
		}
		head := mdSplitRow(lines[i])
		t := mdExpected{Header: make([]string, len(head))}
		for j, h := range head {
			t.Header[j] = mdCleanHeader(h)
		}
		// the header decides the column count, whatever the separator has
		// (#322 has three names over |--|--|--|--|)
		i += 2
		for ; i < len(lines) && mdIsTableLine(lines[i]) && !mdIsSeparatorLine(lines[i]); i++ {
			cells := mdSplitRow(lines[i])
			row := make([]string, len(t.Header))
			for j := range row {
				if j < len(cells) {
					row[j] = mdCleanCell(cells[j])
				}
			}
			// cells beyond the header are dropped, as GitHub does
			t.Rows = append(t.Rows, row)
		}
		i-- // the loop's i++ looks at the line that ended the table
		out = append(out, t)
	}
	return out
}

// mdIsTableLine reports whether line may be a table row: it holds a pipe that
// is not escaped.
func mdIsTableLine(line string) bool {
	s := strings.TrimSpace(line)
	return s != "" && len(mdSplitRow(s)) > 1 || strings.HasPrefix(s, "|")
}

var mdSeparatorCell = regexp.MustCompile(`^:?-+:?$`)

// mdIsSeparatorLine reports whether line is the |---|:--:| row under a header.
func mdIsSeparatorLine(line string) bool {
	s := strings.TrimSpace(line)
	if !strings.Contains(s, "-") || !strings.Contains(s, "|") && !strings.HasPrefix(s, "-") {
		return false
	}
	for _, c := range mdSplitRow(s) {
		if !mdSeparatorCell.MatchString(strings.TrimSpace(c)) {
			return false
		}
	}
	return true
}

// mdSplitRow splits a table row at its unescaped pipes, dropping the
// optional leading and trailing pipe. Cells keep their spaces and escapes.
func mdSplitRow(line string) []string {
	s := strings.TrimSpace(line)
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '|':
			cur.WriteString(`\|`)
			i++
		case s[i] == '|':
			cells = append(cells, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	cells = append(cells, cur.String())
	if strings.HasPrefix(s, "|") {
		cells = cells[1:]
	}
	if strings.HasSuffix(s, "|") && !strings.HasSuffix(s, `\|`) && len(cells) > 0 {
		cells = cells[:len(cells)-1]
	}
	return cells
}

var (
	mdBrTag      = regexp.MustCompile(`(?i)<br\s*/?>`)
	mdLink       = regexp.MustCompile(`^\[([^\[\]]*)\]\([^()\s]*\)$`)
	mdHTMLEntity = strings.NewReplacer("&nbsp;", " ", "&lt;", "<", "&gt;", ">", "&quot;", `"`, "&#124;", "|", "&amp;", "&")
	// markdown escapes that the docs use outside code spans; `\\` is left
	// alone: the docs write Windows paths and regexes raw (C:\temp, \d).
	mdUnescaper = strings.NewReplacer(`\|`, "|", `\_`, "_", `\*`, "*", "\\`", "`", `\#`, "#", `\[`, "[", `\]`, "]", `\<`, "<", `\>`, ">", `\~`, "~")
)

// mdCleanCell turns the markdown of one cell into the text the docs show:
// escaped pipes become pipes, <br> a newline, HTML entities their
// character, a cell wrapped in backticks loses them (and is otherwise
// taken literally, as a code span is), a cell that is one link its text,
// other markdown escapes are undone, and the surrounding spaces are
// trimmed.
func mdCleanCell(s string) string {
	s = strings.TrimSpace(s)
	if m := mdLink.FindStringSubmatch(s); m != nil {
		s = m[1]
	}
	if len(s) >= 2 && s[0] == '`' && s[len(s)-1] == '`' && !strings.Contains(s[1:len(s)-1], "`") {
		return strings.TrimSpace(strings.ReplaceAll(s[1:len(s)-1], `\|`, "|"))
	}
	s = mdBrTag.ReplaceAllString(s, "\n")
	s = mdHTMLEntity.Replace(s)
	s = mdUnescaper.Replace(s)
	return strings.TrimSpace(s)
}

// mdCleanHeader is mdCleanCell for a column name, which the docs sometimes
// write as code or in bold: `Name`, **Name**.
func mdCleanHeader(s string) string {
	s = mdCleanCell(s)
	if len(s) >= 4 && strings.HasPrefix(s, "**") && strings.HasSuffix(s, "**") {
		s = strings.TrimSpace(s[2 : len(s)-2])
	}
	return strings.Trim(s, "`")
}

// mdIsElision reports whether an expected cell is the docs' "..." for
// values left out.
func mdIsElision(s string) bool { return s == "..." || s == "…" }

// confCellEqual reports whether the expected text want (cleaned by mdCleanCell)
// shows the result value got. The comparison follows got's type:
//
//	nil          want is "", null or (null)
//	string       equal after trimming
//	int64        the same integer (or number)
//	float64      confNumbersClose; NaN, ±Infinity (∞) by name
//	bool         true/false in any case, or 1/0 as the docs sometimes print them
//	time.Time    confParseTime gives the same instant, to the microsecond
//	Duration     confParseTimespan gives the same span, to the microsecond
//	RawMessage   as JSON (confJSONEqual); a JSON string also equals its text
//
// An empty want also equals "" and an empty dynamic value.
func confCellEqual(want string, got any) bool {
	want = strings.TrimSpace(want)
	if mdIsElision(want) {
		return true
	}
	switch g := got.(type) {
	case nil:
		return want == "" || strings.EqualFold(want, "null") || strings.EqualFold(want, "(null)")
	case string:
		return want == strings.TrimSpace(g)
	case int64, int32, int:
		if want == "" {
			return false
		}
		gs := FormatValue(g)
		if want == gs {
			return true
		}
		if w, err := strconv.ParseInt(want, 10, 64); err == nil {
			gi, _ := strconv.ParseInt(gs, 10, 64)
			return w == gi
		}
		gf, _ := strconv.ParseFloat(gs, 64)
		return confNumbersClose(want, gf)
	case float64:
		return confNumbersClose(want, g)
	case bool:
		// the documentation sometimes renders true and false as 1 and 0
		if want == "1" || want == "0" {
			return (want == "1") == g
		}
		return strings.EqualFold(want, strconv.FormatBool(g))
	case time.Time:
		w, ok := confParseTime(want)
		return ok && confAbs(w.Sub(g)) < time.Microsecond
	case time.Duration:
		w, ok := confParseTimespan(want)
		return ok && confAbs(w-g) < time.Microsecond
	case json.RawMessage:
		return confDynamicEqual(want, g)
	}
	return want == strings.TrimSpace(FormatValue(got))
}

func confAbs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// confNumbersClose reports whether the expected text want shows the real got:
// NaN and infinities by name (NaN, Infinity, inf, ∞, with a sign), a
// number within a relative 1e-6 of got, or, when want is written with two
// or more fraction digits, got rounded to that many digits (the docs
// often round: 40.734 for 40.73412...).
func confNumbersClose(want string, got float64) bool {
	w := strings.TrimSpace(want)
	switch strings.ToLower(strings.TrimPrefix(w, "+")) {
	case "nan":
		return math.IsNaN(got)
	case "infinity", "inf", "∞":
		return math.IsInf(got, 1)
	case "-infinity", "-inf", "-∞":
		return math.IsInf(got, -1)
	}
	if math.IsNaN(got) || math.IsInf(got, 0) {
		return false
	}
	f, err := strconv.ParseFloat(w, 64)
	if err != nil {
		return false
	}
	if f == got {
		return true
	}
	diff := math.Abs(f - got)
	if diff <= 1e-6*math.Max(math.Abs(f), math.Abs(got)) || diff <= 1e-12 {
		return true
	}
	if dot := strings.IndexByte(w, '.'); dot >= 0 && !strings.ContainsAny(w, "eE") {
		if digits := len(w) - dot - 1; digits >= 2 {
			return diff <= 0.5*math.Pow(10, -float64(digits))*(1+1e-9)
		}
	}
	return false
}

// confTimeLayouts are the forms of datetime values in the docs: Kusto's UI
// text (2018-07-01 00:00:00.0000000) and RFC 3339 with or without a zone.
// When parsing, Go accepts a fraction of any length after the seconds.
var confTimeLayouts = []string{
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05Z07:00",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02",
}

// confParseTime reads a datetime as the docs write it; times without a
// zone are UTC.
func confParseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, layout := range confTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

var confTimespanRE = regexp.MustCompile(`^(-)?(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$`)

// confParseTimespan reads [-][d.]hh:mm:ss[.fffffff].
func confParseTimespan(s string) (time.Duration, bool) {
	m := confTimespanRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, false
	}
	num := func(x string) time.Duration {
		n, _ := strconv.ParseInt(x, 10, 64)
		return time.Duration(n)
	}
	d := num(m[2])*24*time.Hour + num(m[3])*time.Hour + num(m[4])*time.Minute + num(m[5])*time.Second
	if m[6] != "" {
		frac := (m[6] + "000000000")[:9]
		d += num(frac)
	}
	if m[1] != "" {
		d = -d
	}
	return d, true
}

// confDynamicEqual compares the text of an expected dynamic cell with the
// result's JSON. The docs print JSON with <br> line breaks (newlines after
// mdCleanCell) and any spacing; a dynamic string prints without its quotes;
// an empty cell is null or "".
func confDynamicEqual(want string, got json.RawMessage) bool {
	gv, err := confDecodeJSON(got)
	if err != nil {
		return want == strings.TrimSpace(string(got))
	}
	if want == "" {
		return gv == nil || gv == ""
	}
	wv, err := confDecodeJSON([]byte(want))
	if err == nil && confJSONEqual(wv, gv) {
		return true
	}
	if s, ok := gv.(string); ok {
		// a dynamic string shows as its text
		return want == s || err == nil && confJSONEqual(wv, s)
	}
	return false
}

// confDecodeJSON decodes one JSON value keeping numbers as json.Number.
func confDecodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after JSON value")
	}
	return v, nil
}

// confJSONEqual compares decoded JSON values: objects whatever their key
// order, arrays in order, numbers as numbers (14.0 equals 14, within
// confNumbersClose), strings exactly or, when both are datetimes, as times
// (Kusto writes datetimes inside dynamic values with seven fraction digits).
func confJSONEqual(want, got any) bool {
	switch w := want.(type) {
	case nil:
		return got == nil
	case bool:
		g, ok := got.(bool)
		return ok && g == w
	case json.Number:
		g, ok := got.(json.Number)
		if !ok {
			return false
		}
		if w == g {
			return true
		}
		gf, err := g.Float64()
		return err == nil && confNumbersClose(string(w), gf)
	case string:
		g, ok := got.(string)
		if !ok {
			return false
		}
		if w == g {
			return true
		}
		if !confLooksLikeTime(w) || !confLooksLikeTime(g) {
			return false
		}
		wt, ok1 := confParseTime(w)
		gt, ok2 := confParseTime(g)
		return ok1 && ok2 && confAbs(wt.Sub(gt)) < time.Microsecond
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !confJSONEqual(w[i], g[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok || !confJSONEqual(wv, gv) {
				return false
			}
		}
		return true
	}
	return false
}

var confTimeShape = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}`)

func confLooksLikeTime(s string) bool { return confTimeShape.MatchString(s) }

// confCompareResult compares the expected tables with the result. It returns
// "" when they match, else a failure category (one of the cat* constants)
// and a one-line reason. The expected tables are compared with the
// result's tables in order; when the result has more tables than the docs
// show (several statements, of which the docs show the last), with its
// last ones.
func confCompareResult(want []mdExpected, got *Result) (category, reason string) {
	if len(want) == 0 {
		return confCatNoTable, "the expected output holds no markdown table"
	}
	tables := got.Tables
	if len(tables) < len(want) {
		return confCatTableCount, fmt.Sprintf("want %d result table(s), got %d", len(want), len(tables))
	}
	tables = tables[len(tables)-len(want):]
	for i, w := range want {
		if cat, r := confCompareTable(w, tables[i]); cat != "" {
			if len(want) > 1 {
				r = fmt.Sprintf("table %d: %s", i+1, r)
			}
			return cat, r
		}
	}
	return "", ""
}

// confCompareTable compares one expected table with one result table: the
// column names (unless the docs left the header empty), then the rows: in
// order when the result is Ordered() or the docs elided rows with a row
// of "...", else as multisets.
func confCompareTable(want mdExpected, got *Table) (category, reason string) {
	gotNames := make([]string, len(got.Columns))
	for i, c := range got.Columns {
		gotNames[i] = c.Name
	}
	emptyHeader := true
	for _, h := range want.Header {
		if h != "" {
			emptyHeader = false
		}
	}
	if len(want.Header) != len(gotNames) {
		return confCatColumns, fmt.Sprintf("want %d columns %s, got %d %s", len(want.Header), confQuoteList(want.Header), len(gotNames), confQuoteList(gotNames))
	}
	if !emptyHeader {
		for i := range want.Header {
			if want.Header[i] != gotNames[i] {
				return confCatColumns, fmt.Sprintf("column %d: want %q, got %q (want %s, got %s)", i+1, want.Header[i], gotNames[i], confQuoteList(want.Header), confQuoteList(gotNames))
			}
		}
	}
	// a row of "..." stands for rows the docs left out
	elided := -1
	for i, row := range want.Rows {
		if mdIsElisionRow(row) {
			elided = i
			break
		}
	}
	if elided >= 0 {
		head, tail := want.Rows[:elided], want.Rows[elided+1:]
		if len(got.Rows) < len(head)+len(tail) {
			return confCatRowCount, fmt.Sprintf("want at least %d rows (the docs elide some), got %d", len(head)+len(tail), len(got.Rows))
		}
		if cat, r := confCompareInOrder(want.Header, head, got.Rows[:len(head)], 0, gotNames); cat != "" {
			return cat, r
		}
		off := len(got.Rows) - len(tail)
		return confCompareInOrder(want.Header, tail, got.Rows[off:], off, gotNames)
	}
	if len(want.Rows) != len(got.Rows) {
		return confCatRowCount, fmt.Sprintf("want %d rows, got %d", len(want.Rows), len(got.Rows))
	}
	if got.Ordered() {
		return confCompareInOrder(want.Header, want.Rows, got.Rows, 0, gotNames)
	}
	return confCompareUnordered(want.Rows, got.Rows, gotNames)
}

func mdIsElisionRow(row []string) bool {
	seen := false
	for _, c := range row {
		switch {
		case mdIsElision(c):
			seen = true
		case c != "":
			return false
		}
	}
	return seen
}

// confCompareInOrder compares rows pairwise; off is the index of got[0] in the
// whole result, for the message.
func confCompareInOrder(header []string, want [][]string, got [][]any, off int, names []string) (category, reason string) {
	for i := range want {
		if j := confFirstDiff(want[i], got[i]); j >= 0 {
			return confCatCell, confCellReason(i+off, j, names, want[i][j], got[i][j])
		}
	}
	return "", ""
}

// confCompareUnordered matches each expected row with an equal result row not
// matched yet. On a failure it names the first expected row without a
// match and its difference with the nearest unmatched result row.
func confCompareUnordered(want [][]string, got [][]any, names []string) (category, reason string) {
	used := make([]bool, len(got))
	for i, w := range want {
		found := false
		for k, g := range got {
			if !used[k] && confFirstDiff(w, g) < 0 {
				used[k], found = true, true
				break
			}
		}
		if found {
			continue
		}
		best, bestEq := -1, -1
		for k, g := range got {
			if used[k] {
				continue
			}
			eq := 0
			for j := range w {
				if j < len(g) && confCellEqual(w[j], g[j]) {
					eq++
				}
			}
			if eq > bestEq {
				best, bestEq = k, eq
			}
		}
		if best < 0 {
			return confCatCell, fmt.Sprintf("row %d (unordered): no result row left to match", i+1)
		}
		j := confFirstDiff(w, got[best])
		return confCatCell, fmt.Sprintf("row %d (unordered) has no equal result row; nearest is result row %d: %s", i+1, best+1, confCellReason(-1, j, names, w[j], got[best][j]))
	}
	return "", ""
}

// confFirstDiff returns the index of the first cell where want and got differ,
// or -1.
func confFirstDiff(want []string, got []any) int {
	for j := range want {
		if j >= len(got) || !confCellEqual(want[j], got[j]) {
			return j
		}
	}
	return -1
}

func confCellReason(row, col int, names []string, want string, got any) string {
	name := ""
	if col < len(names) {
		name = names[col]
	}
	where := fmt.Sprintf("column %q", name)
	if row >= 0 {
		where = fmt.Sprintf("row %d, column %q", row+1, name)
	}
	return fmt.Sprintf("%s: want %s, got %s", where, confQuoteCell(want), confDescribeValue(got))
}

// confDescribeValue renders a result cell with its Go type, so that "1" the
// string and 1 the long read differently in a report.
func confDescribeValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(x)
	case time.Time:
		return "datetime " + FormatValue(x)
	case time.Duration:
		return "timespan " + FormatValue(x)
	case json.RawMessage:
		return "dynamic " + FormatValue(x)
	case float64:
		return "real " + FormatValue(x)
	case bool:
		return "bool " + FormatValue(x)
	}
	return fmt.Sprintf("%T %s", v, FormatValue(v))
}

func confQuoteCell(s string) string { return strconv.Quote(s) }

func confQuoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = n
	}
	return "[" + strings.Join(q, ", ") + "]"
}
