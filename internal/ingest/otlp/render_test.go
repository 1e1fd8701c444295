package otlp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/cdewatch/cdewatch/internal/golden"
	"github.com/cdewatch/cdewatch/internal/logdoc"
)

// renderAll renders every log record of an OTLP/JSON export request, one
// document a line.
func renderAll(tb testing.TB, in []byte) []byte {
	tb.Helper()
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalJSON(in); err != nil {
		tb.Fatal(err)
	}
	var out []byte
	rls := req.Logs().ResourceLogs()
	for i := range rls.Len() {
		rl := rls.At(i)
		for j := range rl.ScopeLogs().Len() {
			sl := rl.ScopeLogs().At(j)
			for k := range sl.LogRecords().Len() {
				out = Render(rl.Resource(), sl.Scope(), sl.LogRecords().At(k), out)
				out = append(out, '\n')
			}
		}
	}
	return out
}

// TestRenderGolden renders the export requests of testdata/render/*.json
// (OTLP/JSON) and compares the documents, one a line, with the .golden
// files (go test -update rewrites them). Every document must be valid
// JSON that logdoc reads as an OTLP document.
func TestRenderGolden(t *testing.T) {
	for _, file := range golden.Glob(t, filepath.Join("testdata", "render", "*.json")) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			got := renderAll(t, golden.Read(t, file))
			for line := range bytes.Lines(got) {
				var m map[string]any
				if err := json.Unmarshal(line, &m); err != nil {
					t.Errorf("not valid JSON: %v\n%s", err, line)
				}
				if _, ok := logdoc.Extract(line); !ok {
					t.Errorf("logdoc cannot read %s", line)
				}
			}
			golden.Check(t, strings.TrimSuffix(file, ".json")+".golden", got, *update)
		})
	}
}

// TestRenderDeterministic: rendering the same record twice, or the
// record decoded again from its protobuf encoding, gives the same bytes.
func TestRenderDeterministic(t *testing.T) {
	for _, file := range golden.Glob(t, filepath.Join("testdata", "render", "*.json")) {
		in := golden.Read(t, file)
		a, b := renderAll(t, in), renderAll(t, in)
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalJSON(in); err != nil {
			t.Fatal(err)
		}
		pb, err := req.MarshalProto()
		if err != nil {
			t.Fatal(err)
		}
		again := plogotlp.NewExportRequest()
		if err := again.UnmarshalProto(pb); err != nil {
			t.Fatal(err)
		}
		js, err := again.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if c := renderAll(t, js); !bytes.Equal(a, b) || !bytes.Equal(a, c) {
			t.Errorf("%s: renderings differ:\n%s\n%s\n%s", file, a, b, c)
		}
	}
}

// TestRenderValues covers values OTLP/JSON cannot carry or that need
// care: NaN and infinities, invalid UTF-8, control characters, bytes,
// depth, and large maps with repeated keys.
func TestRenderValues(t *testing.T) {
	deep := pcommon.NewValueMap()
	m := deep.Map()
	for range maxDepth + 5 {
		m = m.PutEmptyMap("d")
	}
	m.PutStr("leaf", "x")
	for _, tc := range []struct {
		name string
		body func() pcommon.Value
		want string // the rendered body
	}{
		{"NaN", func() pcommon.Value { return pcommon.NewValueDouble(math.NaN()) }, `"NaN"`},
		{"+Inf", func() pcommon.Value { return pcommon.NewValueDouble(math.Inf(1)) }, `"Infinity"`},
		{"-Inf", func() pcommon.Value { return pcommon.NewValueDouble(math.Inf(-1)) }, `"-Infinity"`},
		{"whole double", func() pcommon.Value { return pcommon.NewValueDouble(-2) }, `-2.0`},
		{"small double", func() pcommon.Value { return pcommon.NewValueDouble(1e-7) }, `1e-07`},
		{"min int", func() pcommon.Value { return pcommon.NewValueInt(math.MinInt64) }, `-9223372036854775808`},
		{"invalid UTF-8", func() pcommon.Value { return pcommon.NewValueStr("a\xffb\xc3") }, `"a\ufffdb\ufffd"`},
		{"control characters", func() pcommon.Value { return pcommon.NewValueStr("\x00\x1f\r\x7f") }, `"\u0000\u001f\r` + "\x7f" + `"`},
		{"bytes", func() pcommon.Value {
			v := pcommon.NewValueBytes()
			v.Bytes().FromRaw([]byte("4111 1111"))
			return v
		}, `"NDExMSAxMTEx"`},
		{"deep", func() pcommon.Value { return deep }, strings.Repeat(`{"d":`, maxDepth) + `"(nested too deep)"` + strings.Repeat(`}`, maxDepth)},
		{"bool", func() pcommon.Value { return pcommon.NewValueBool(false) }, `false`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lr := plog.NewLogRecord()
			tc.body().CopyTo(lr.Body())
			got := string(Render(pcommon.NewResource(), pcommon.NewInstrumentationScope(), lr, nil))
			if want := `{"body":` + tc.want + `}`; got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
			if !json.Valid([]byte(got)) {
				t.Errorf("not valid JSON: %s", got)
			}
		})
	}
	t.Run("wide map with a repeated key", func(t *testing.T) {
		// pdata's Put replaces a value: a repeated key comes from the wire.
		var kvs []string
		for i := range 100 {
			kvs = append(kvs, fmt.Sprintf(`{"key":"k%d","value":{"intValue":"%d"}}`, i, i))
		}
		kvs = append(kvs, `{"key":"k0","value":{"stringValue":"repeated"}}`)
		req := plogotlp.NewExportRequest()
		in := `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"kvlistValue":{"values":[` + strings.Join(kvs, ",") + `]}}}]}]}]}`
		if err := req.UnmarshalJSON([]byte(in)); err != nil {
			t.Fatal(err)
		}
		lr := req.Logs().ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
		got := Render(pcommon.NewResource(), pcommon.NewInstrumentationScope(), lr, []byte("prefix "))
		var doc struct {
			Body map[string]any `json:"body"`
		}
		if !bytes.HasPrefix(got, []byte("prefix ")) {
			t.Fatalf("dst not appended to: %s", got)
		}
		if err := json.Unmarshal(got[len("prefix "):], &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.Body) != 100 || doc.Body["k0"] != 0.0 || doc.Body["k99"] != 99.0 || bytes.Count(got, []byte(`"k0":`)) != 1 {
			t.Errorf("%d members, k0 = %v: %s", len(doc.Body), doc.Body["k0"], got)
		}
	})
}
