package otlp

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/cdewatch/cdewatch/internal/golden"
)

// FuzzDecode runs the handler's decode → render → route path over
// arbitrary bodies, as protobuf and as JSON. It must not panic; every
// rendered document must be valid JSON, and every log record of a decoded
// request must become a record or a reject. With no application
// registered, the router may refuse a rendered document only for its
// size. The corpus is seeded from testdata/render in both encodings.
func FuzzDecode(f *testing.F) {
	for _, file := range golden.Glob(f, filepath.Join("testdata", "render", "*.json")) {
		in := golden.Read(f, file)
		f.Add(in, true)
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalJSON(in); err != nil {
			f.Fatal(err)
		}
		pb, err := req.MarshalProto()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pb, false)
	}
	f.Add([]byte{}, false)
	f.Add([]byte("{}"), true)
	f.Add([]byte("\x0a\x02\x12\x00"), false)
	f.Fuzz(func(t *testing.T, body []byte, asJSON bool) {
		h := newTestHandler(nil)
		h.AppServices = nil
		enc := encProto
		if asJSON {
			enc = encJSON
		}
		b, total, err := h.decode(body, enc, testSource, nil)
		if err != nil {
			return
		}
		if got := len(b.Records) + len(b.Rejects); got != total {
			t.Fatalf("%d log records became %d records and %d rejects", total, len(b.Records), len(b.Rejects))
		}
		for _, rj := range b.Rejects {
			if !strings.Contains(rj.Reason, "over the limit") {
				t.Errorf("a rendered document was refused: %s\n%s", rj.Reason, rj.Raw)
			}
		}
		req := plogotlp.NewExportRequest()
		if asJSON {
			err = req.UnmarshalJSON(body)
		} else {
			err = req.UnmarshalProto(body)
		}
		if err != nil {
			t.Fatalf("decoded once, not twice: %v", err)
		}
		rls := req.Logs().ResourceLogs()
		for i := range rls.Len() {
			rl := rls.At(i)
			for j := range rl.ScopeLogs().Len() {
				sl := rl.ScopeLogs().At(j)
				for k := range sl.LogRecords().Len() {
					doc := Render(rl.Resource(), sl.Scope(), sl.LogRecords().At(k), nil)
					if !json.Valid(doc) {
						t.Fatalf("rendered document is not valid JSON: %s", doc)
					}
				}
			}
		}
	})
}
