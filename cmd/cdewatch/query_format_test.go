package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/kql"
)

// formatFixture is an answer of POST /v1/query with two tables and a cell
// of every type, marshalled as the server marshals it.
func formatFixture(t *testing.T) []byte {
	t.Helper()
	cols := []kql.Column{{Name: "s", Type: "string"}, {Name: "n", Type: "long"}, {Name: "r", Type: "real"}, {Name: "b", Type: "bool"},
		{Name: "d", Type: "datetime"}, {Name: "ts", Type: "timespan"}, {Name: "dyn", Type: "dynamic"}, {Name: "g", Type: "guid"}}
	res := &kql.Result{Tables: []*kql.Table{
		{Name: "PrimaryResult", Columns: cols, Rows: [][]any{
			{"bob", int64(42), 1.5, true, time.Date(2026, 11, 26, 10, 0, 0, 250_000_000, time.UTC), 90 * time.Minute,
				json.RawMessage(`{"a":[1,2],"s":"x y"}`), "0f8fad5b-d9cb-469f-a165-70867728950e"},
			{"multi\nline\ttab", int64(-7), math.NaN(), false, nil, nil, json.RawMessage(`"str"`), ""},
			{"élan 日本", nil, math.Inf(-1), nil, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), -(26*time.Hour + 1500*time.Microsecond), nil, nil},
		}},
		{Name: "Counts", Columns: []kql.Column{{Name: "Count", Type: "long"}}, Rows: [][]any{{int64(3)}}},
	}}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPrintQueryResult(t *testing.T) {
	body := formatFixture(t)
	const table1 = "" +
		"s                  n          r  b      d                        ts                   dyn                    g\n" +
		"----------------  --  ---------  -----  -----------------------  -------------------  ---------------------  ------------------------------------\n" +
		"bob               42        1.5  true   2026-11-26T10:00:00.25Z  01:30:00             {\"a\":[1,2],\"s\":\"x y\"}  0f8fad5b-d9cb-469f-a165-70867728950e\n" +
		"multi\\nline\\ttab  -7        NaN  false                                                \"str\"\n" +
		"élan 日本               -Infinity         2026-01-02T03:04:05Z     -1.02:00:00.0015000\n" +
		"(3 rows)\n"
	const table2 = "" +
		"Count\n" +
		"-----\n" +
		"    3\n" +
		"(1 row)\n"
	const csv1 = "s,n,r,b,d,ts,dyn,g\n" +
		"bob,42,1.5,true,2026-11-26T10:00:00.25Z,01:30:00,\"{\"\"a\"\":[1,2],\"\"s\"\":\"\"x y\"\"}\",0f8fad5b-d9cb-469f-a165-70867728950e\n" +
		"\"multi\nline\ttab\",-7,NaN,false,,,\"\"\"str\"\"\",\n" +
		"élan 日本,,-Infinity,,2026-01-02T03:04:05Z,-1.02:00:00.0015000,,\n"
	for _, tt := range []struct {
		name   string
		format string
		n      int
		want   string
	}{
		{"table, both", "table", 0, "PrimaryResult\n" + table1 + "\nCounts\n" + table2},
		{"table, first", "table", 1, table1},
		{"table, second", "table", 2, table2},
		{"csv, first", "csv", 1, csv1},
		{"csv, second", "csv", 2, "Count\n3\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := printQueryResult(&out, body, tt.format, tt.n); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("output\n%s\nwant\n%s", out.String(), tt.want)
			}
		})
	}

	// JSON is the answer as received, indented; --table picks one table.
	var out bytes.Buffer
	if err := printQueryResult(&out, body, "json", 0); err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	json.Compact(&compact, out.Bytes())
	if compact.String() != string(body) || !strings.Contains(out.String(), "\n  \"Tables\": [\n") {
		t.Errorf("json output\n%s", out.String())
	}
	out.Reset()
	if err := printQueryResult(&out, body, "json", 2); err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"TableName\": \"Counts\",\n  \"Columns\": [\n    {\n      \"ColumnName\": \"Count\",\n      \"ColumnType\": \"long\"\n    }\n  ],\n  \"Rows\": [\n    [\n      3\n    ]\n  ]\n}\n"; out.String() != want {
		t.Errorf("json --table 2\n%s\nwant\n%s", out.String(), want)
	}

	// CSV holds one table: several need --table.
	out.Reset()
	err := printQueryResult(&out, body, "csv", 0)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "2 tables (1 PrimaryResult, 2 Counts)") || !strings.Contains(err.Error(), "--table N") {
		t.Errorf("csv of two tables: %v", err)
	}
	if err := printQueryResult(&out, body, "table", 3); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "the result has 2 tables") {
		t.Errorf("--table 3: %v", err)
	}
	if out.Len() != 0 {
		t.Errorf("output on error: %q", out.String())
	}

	// No table at all.
	out.Reset()
	if err := printQueryResult(&out, []byte(`{"Tables":[]}`), "table", 0); err != nil || out.String() != "(no result tables)\n" {
		t.Errorf("no tables: %v %q", err, out.String())
	}
	if err := printQueryResult(&out, []byte(`{"Tables":[]}`), "csv", 0); err == nil {
		t.Error("csv of no table succeeded")
	}
	if err := printQueryResult(&out, []byte(`<html>`), "table", 0); err == nil {
		t.Error("garbage answer accepted")
	}
}

// Cells of the JSON answer print as kql.FormatValue prints the engine's values.
func TestCellValue(t *testing.T) {
	for _, tt := range []struct {
		typ, raw, want string
	}{
		{"string", `"a\"b"`, `a"b`},
		{"string", `null`, ``},
		{"long", `9007199254740993`, `9007199254740993`},
		{"int", `-3`, `-3`},
		{"real", `0.1`, `0.1`},
		{"real", `1e+21`, `1e+21`},
		{"real", `"NaN"`, `NaN`},
		{"real", `"Infinity"`, `Infinity`},
		{"bool", `true`, `true`},
		{"datetime", `"2026-11-26T10:00:00.000002Z"`, `2026-11-26T10:00:00.000002Z`},
		{"datetime", `"2026-11-26T10:00:00Z"`, `2026-11-26T10:00:00Z`},
		{"timespan", `"1.02:03:04.5000000"`, `1.02:03:04.5000000`},
		{"dynamic", `{ "a" : [1, 2] }`, `{"a":[1,2]}`},
		{"dynamic", `"s"`, `"s"`},
		{"dynamic", `null`, ``},
		{"guid", `"0f8fad5b-d9cb-469f-a165-70867728950e"`, `0f8fad5b-d9cb-469f-a165-70867728950e`},
		{"unknown", `{"x":1}`, `{"x":1}`},
	} {
		if got := kql.FormatValue(cellValue(tt.typ, json.RawMessage(tt.raw))); got != tt.want {
			t.Errorf("%s %s: %q, want %q", tt.typ, tt.raw, got, tt.want)
		}
	}
}
