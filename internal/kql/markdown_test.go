package kql

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Tests of the comparison of TestConformance (conformance_compare_test.go).
// The inputs are rows of the documentation corpus, shortened.

func TestMarkdownTables(t *testing.T) {
	cases := []struct {
		name string
		md   string
		want []mdExpected
	}{
		{"plain (#0 active-users-count)",
			"|Timestamp|dcount|\n|---|---|\n|2018-07-01 00:00:00.0000000|1|\n|2018-07-15 00:00:00.0000000|1|",
			[]mdExpected{{[]string{"Timestamp", "dcount"}, [][]string{{"2018-07-01 00:00:00.0000000", "1"}, {"2018-07-15 00:00:00.0000000", "1"}}}}},
		{"backticked header (#1 activity-counts-metrics)",
			"|`Timestamp`|`count`|`dcount`|\n|---|---|---|\n|2017-08-01 00:00:00.0000000|4|4|",
			[]mdExpected{{[]string{"Timestamp", "count", "dcount"}, [][]string{{"2017-08-01 00:00:00.0000000", "4", "4"}}}}},
		{"spaces around cells (#2 activity-metrics)",
			"| _day | dcount_values | dcount_newvalues |\n|--|--|--|\n| 2017-01-02 00:00:00.0000000 | 630 | 630 |",
			[]mdExpected{{[]string{"_day", "dcount_values", "dcount_newvalues"}, [][]string{{"2017-01-02 00:00:00.0000000", "630", "630"}}}}},
		{"single-dash separator (#228 geospatial-joins)",
			"|name|id|\n|-|-|\n|a|1|\n|b|1|",
			[]mdExpected{{[]string{"name", "id"}, [][]string{{"a", "1"}, {"b", "1"}}}}},
		{"header without its last pipe, empty trailing cells (#175 geo-line-lookup)",
			"|location_name|longitude|latitude|road_name|road\n|---|---|---|---|---|\n|Statue of Liberty|-74.04462223203123|40.689195627512674|||",
			[]mdExpected{{[]string{"location_name", "longitude", "latitude", "road_name", "road"}, [][]string{{"Statue of Liberty", "-74.04462223203123", "40.689195627512674", "", ""}}}}},
		{"rows without a closing pipe, backslashes kept (#335 parse-path)",
			"|p|path_parts\n|---|---\n|C:\\temp\\file.txt|{\"Scheme\":\"\",\"DirectoryPath\":\"C:\\\\temp\"}\n|\\\\shared\\users\\temp\\file.txt.gz|{}",
			[]mdExpected{{[]string{"p", "path_parts"}, [][]string{{`C:\temp\file.txt`, `{"Scheme":"","DirectoryPath":"C:\\temp"}`}, {`\\shared\users\temp\file.txt.gz`, "{}"}}}}},
		{"markdown escapes in the header (#400 series-periods-validate)",
			"| series\\_periods\\_validate\\_y\\_periods  | series\\_periods\\_validate\\_y\\_scores |\n|-------------|-------------------|\n| [14.0, 10.0] | [0.84, 0.0]  |",
			[]mdExpected{{[]string{"series_periods_validate_y_periods", "series_periods_validate_y_scores"}, [][]string{{"[14.0, 10.0]", "[0.84, 0.0]"}}}}},
		{"<br> and &nbsp; (#305 mv-apply)",
			"| Source | Target | Count | `values` |\n|--|--|--|--|\n| 555-2424 | &nbsp; | &nbsp; | {<br> \"Source\": \"555-2424\"<br> } |",
			[]mdExpected{{[]string{"Source", "Target", "Count", "values"}, [][]string{{"555-2424", "", "", "{\n \"Source\": \"555-2424\"\n }"}}}}},
		{"code span taken literally (#360 regex-quote)",
			"| result |\n|---|\n| `\\(so\\$me\\.Te\\^xt\\)` |",
			[]mdExpected{{[]string{"result"}, [][]string{{`\(so\$me\.Te\^xt\)`}}}}},
		{"cells padded with spaces (#36 bag-unpack)",
			"|`Age`|`Name`|\n|---|-------|\n|20 |John   |\n|30 |Jasmine|",
			[]mdExpected{{[]string{"Age", "Name"}, [][]string{{"20", "John"}, {"30", "Jasmine"}}}}},
		{"a cell that is a link is its text (#125 geo-geohash-to-central-point)",
			"|geohash|url|\n|---|---|\n|sv8wzvy7|[https://www.bing.com/maps?sp=point.32.1_34.8_You+are+here](https://www.bing.com/maps?sp=point.32.1_34.8_You+are+here)|",
			[]mdExpected{{[]string{"geohash", "url"}, [][]string{{"sv8wzvy7", "https://www.bing.com/maps?sp=point.32.1_34.8_You+are+here"}}}}},
		{"escaped pipe",
			"|a|b|\n|---|---|\n|x \\| y|`p\\|q`|",
			[]mdExpected{{[]string{"a", "b"}, [][]string{{"x | y", "p|q"}}}}},
		{"separator longer than the header (#322 pack)",
			"| SourceNumber | TargetNumber | `Packed` |\n|--|--|--|--|\n| 555-555-1234 | 555-555-1213 | {\"CharsCount\":\"50\"} |",
			[]mdExpected{{[]string{"SourceNumber", "TargetNumber", "Packed"}, [][]string{{"555-555-1234", "555-555-1213", `{"CharsCount":"50"}`}}}}},
		{"row shorter than the header",
			"|a|b|c|\n|---|---|---|\n|1|2|",
			[]mdExpected{{[]string{"a", "b", "c"}, [][]string{{"1", "2", ""}}}}},
		{"two tables with text between",
			"|a|\n|---|\n|1|\n\nand then\n\n|b|c|\n|:--|--:|\n|2|3|",
			[]mdExpected{{[]string{"a"}, [][]string{{"1"}}}, {[]string{"b", "c"}, [][]string{{"2", "3"}}}}},
		{"no table", "The query returns the chart below.", nil},
		{"empty", "", nil},
		{"header only", "|x|y|\n|---|---|", []mdExpected{{[]string{"x", "y"}, nil}}},
	}
	for _, c := range cases {
		got := mdParseTables(c.md)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got  %q\n want %q", c.name, got, c.want)
		}
	}
}

func TestCellEqual(t *testing.T) {
	day := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	cases := []struct {
		name string
		want string // as mdCleanCell leaves it
		got  any
		eq   bool
	}{
		{"datetime, UI form (#0)", "2018-07-01 00:00:00.0000000", day("2018-07-01T00:00:00Z"), true},
		{"datetime, RFC 3339 (#50 bin-at)", "2017-05-14T12:00:00Z", day("2017-05-14T12:00:00Z"), true},
		{"datetime, 7 digits and Z (#318)", "2022-06-19T08:22:54.6623324Z", day("2022-06-19T08:22:54.662332Z"), true},
		{"datetime, milliseconds (#354 range)", "2015-12-05 09:10:04.627", day("2015-12-05T09:10:04.627Z"), true},
		{"datetime, another day", "2018-07-01 00:00:00.0000000", day("2018-07-02T00:00:00Z"), false},
		{"datetime vs string", "2018-07-01 00:00:00.0000000", "2018-07-01T00:00:00Z", false},
		{"timespan with days (#81 dayofweek)", "1.00:00:00", 24 * time.Hour, true},
		{"timespan zero (#80)", "00:00:00", time.Duration(0), true},
		{"timespan fraction", "00:00:00.1000000", 100 * time.Millisecond, true},
		{"timespan negative", "-01:30:00", -90 * time.Minute, true},
		{"timespan differs", "01:00:00", 2 * time.Hour, false},
		{"real, 15 digits (#46 beta-cdf)", "0.999999999999959", 0.99999999999995903, true},
		{"real written as integer (#46)", "10", 10.0, true},
		{"real rounded by the docs (#113)", "40.734", 40.73412, true},
		{"real rounded wrongly", "40.734", 40.7356, false},
		{"real 1.5 vs 1.50", "1.50", 1.5, true},
		{"real one digit is not rounding", "1.5", 1.46, false},
		{"NaN (#46)", "NaN", math.NaN(), true},
		{"infinity sign (#262 isinf)", "-∞", math.Inf(-1), true},
		{"infinity", "∞", math.Inf(1), true},
		{"NaN vs number", "NaN", 1.0, false},
		{"long", "1187", int64(1187), true},
		{"long, big (#235 hash)", "-3122868243544336885", int64(-3122868243544336885), true},
		{"long, big and off by one", "-3122868243544336885", int64(-3122868243544336884), false},
		{"long vs empty", "", int64(0), false},
		{"bool lower case (#72)", "false", false, true},
		{"bool title case", "True", true, true},
		{"bool differs", "true", false, false},
		{"null written null (#369 null-values)", "null", nil, true},
		{"null as empty cell (#175)", "", nil, true},
		{"null written (null) (#297 max-of)", "(null)", nil, true},
		{"null vs value", "5", nil, false},
		{"string exact (#305)", "555-1234", "555-1234", true},
		{"string, backslashes (#373)", `C:\Folder\filename.txt`, `C:\Folder\filename.txt`, true},
		{"string, case matters", "Seattle", "seattle", false},
		{"string vs number text", "1", "1.0", false},
		{"empty string (#319 pack-all)", "", "", true},
		{"dynamic array with <br> (#23 array-sort-asc)", "[\n  \"ls\",\n  \"mkdir\",\n  \"chmod\"\n]", raw(`["ls","mkdir","chmod"]`), true},
		{"dynamic array order matters", "[\n  \"ls\",\n  \"mkdir\"\n]", raw(`["mkdir","ls"]`), false},
		{"dynamic bag, key order (#74 datatable)", "{\n  \"key1\": \"value3\",\n  \"key2\": \"value4\"\n}", raw(`{"key2":"value4","key1":"value3"}`), true},
		{"dynamic reals 14.0 (#400)", "[14.0, 10.0]", raw(`[14,10]`), true},
		{"dynamic datetimes (#292 make-series)", "[\n  \"2017-01-01T00:00:00.0000000Z\",\n  \"2017-01-02T00:00:00.0000000Z\"\n]", raw(`["2017-01-01T00:00:00Z","2017-01-02T00:00:00Z"]`), true},
		{"dynamic nested (#58 buildschema)", `{"x":["long","string"],"y":["double",{"w":"string"}],"z":{"` + "`indexer`" + `":["long","string"]}}`, raw(`{"z":{"` + "`indexer`" + `":["long","string"]},"x":["long","string"],"y":["double",{"w":"string"}]}`), true},
		{"dynamic missing key", `{"a":1,"b":2}`, raw(`{"a":1}`), false},
		{"dynamic string shown bare", "value4", raw(`"value4"`), true},
		{"dynamic number", "46", raw(`46`), true},
		{"dynamic null as empty cell", "", raw(`null`), true},
		{"dynamic elided by the docs (#211)", "{\"type\": \"MultiPolygon\",\n  \"coordinates\": [ ... ]}", raw(`{"type":"MultiPolygon","coordinates":[[1,2]]}`), false},
		{"elided cell", "...", "anything", true},
	}
	for _, c := range cases {
		if got := confCellEqual(c.want, c.got); got != c.eq {
			t.Errorf("%s: confCellEqual(%q, %#v) = %v, want %v", c.name, c.want, c.got, got, c.eq)
		}
	}
}

func TestCompareResult(t *testing.T) {
	cols := func(names ...string) []Column {
		out := make([]Column, len(names))
		for i, n := range names {
			out[i] = Column{Name: n, Type: "string"}
		}
		return out
	}
	md := "|name|id|\n|-|-|\n|a|1|\n|b|1|\n|c|1|" // #228 geospatial-joins
	tab := func(ordered bool, rows ...[]any) *Result {
		return &Result{Tables: []*Table{{Columns: cols("name", "id"), Rows: rows, ordered: ordered}}}
	}
	cases := []struct {
		name   string
		md     string
		res    *Result
		cat    string
		reason string // a part of the reason
	}{
		{"equal", md, tab(false, []any{"a", "1"}, []any{"b", "1"}, []any{"c", "1"}), "", ""},
		{"unordered: another order", md, tab(false, []any{"c", "1"}, []any{"a", "1"}, []any{"b", "1"}), "", ""},
		{"ordered: another order", md, tab(true, []any{"c", "1"}, []any{"a", "1"}, []any{"b", "1"}), confCatCell, `row 1, column "name": want "a", got "c"`},
		{"unordered: a wrong row", md, tab(false, []any{"a", "1"}, []any{"b", "1"}, []any{"d", "1"}), confCatCell, `row 3 (unordered) has no equal result row; nearest is result row 3: column "name": want "c", got "d"`},
		{"row count", md, tab(false, []any{"a", "1"}), confCatRowCount, "want 3 rows, got 1"},
		{"column names", md, &Result{Tables: []*Table{{Columns: cols("name", "ID")}}}, confCatColumns, `column 2: want "id", got "ID"`},
		{"column count", md, &Result{Tables: []*Table{{Columns: cols("name")}}}, confCatColumns, "want 2 columns"},
		{"no table", md, &Result{}, confCatTableCount, "want 1 result table(s), got 0"},
		{"no expected table", "a chart", &Result{}, confCatNoTable, ""},
		{"last of several result tables", md, &Result{Tables: []*Table{{Columns: cols("x")}, tab(false, []any{"a", "1"}, []any{"b", "1"}, []any{"c", "1"}).Tables[0]}}, "", ""},
		{"elided rows (#354 range)", "|LastWeek|\n|---|\n|2015-12-05 09:10:04.627|\n|...|\n|2015-12-07 09:10:04.627|",
			&Result{Tables: []*Table{{Columns: cols("LastWeek"), Rows: [][]any{
				{time.Date(2015, 12, 5, 9, 10, 4, 627e6, time.UTC)},
				{time.Date(2015, 12, 6, 9, 10, 4, 627e6, time.UTC)},
				{time.Date(2015, 12, 7, 9, 10, 4, 627e6, time.UTC)},
			}}}}, "", ""},
		{"elided rows, wrong last", "|LastWeek|\n|---|\n|2015-12-05 09:10:04.627|\n|...|\n|2015-12-08 09:10:04.627|",
			&Result{Tables: []*Table{{Columns: cols("LastWeek"), Rows: [][]any{
				{time.Date(2015, 12, 5, 9, 10, 4, 627e6, time.UTC)},
				{time.Date(2015, 12, 7, 9, 10, 4, 627e6, time.UTC)},
			}}}}, confCatCell, `row 2, column "LastWeek"`},
		{"empty header skips names", "||\n|---|\n|1|", &Result{Tables: []*Table{{Columns: cols("whatever"), Rows: [][]any{{int64(1)}}}}}, "", ""},
	}
	for _, c := range cases {
		cat, reason := confCompareResult(mdParseTables(c.md), c.res)
		if cat != c.cat || !strings.Contains(reason, c.reason) {
			t.Errorf("%s: got %q %q, want %q containing %q", c.name, cat, reason, c.cat, c.reason)
		}
	}
}
