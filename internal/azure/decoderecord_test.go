package azure

import (
	"bytes"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestDecodeRecordSame checks that DecodeRecord decodes the Raw of every
// record DecodeBody returns for the golden bodies to the same record, and
// rejects the Raw of every bad record for the same reason.
func TestDecodeRecordSame(t *testing.T) {
	for _, input := range glob(t, filepath.Join("testdata", "decode", "*.json")) {
		t.Run(filepath.Base(input), func(t *testing.T) {
			recs, bad, err := DecodeBody(readFile(t, input), Limits{})
			if err != nil {
				return // a body rejected whole has no records
			}
			for i := range recs {
				want := recs[i]
				got, err := DecodeRecord(want.Raw, Limits{})
				if err != nil {
					t.Errorf("record %d: %v", want.Index, err)
					continue
				}
				if got.Index != -1 || got.Line != 0 || offsetIn(want.Raw, got.Raw) != 0 || len(got.Raw) != len(want.Raw) {
					t.Errorf("record %d: index %d line %d, Raw not the input", want.Index, got.Index, got.Line)
				}
				want.Index, want.Line = -1, 0
				if !reflect.DeepEqual(got, want) {
					t.Errorf("record %d:\n got %+v\nwant %+v", recs[i].Index, got, want)
				}
			}
			for _, b := range bad {
				if b.Raw == nil {
					continue
				}
				_, err := DecodeRecord(b.Raw, Limits{})
				var e *Error
				if !errors.As(err, &e) || e.Field != b.Field || e.Reason != b.Reason || errors.Is(err, ErrUnsupportedCategory) != errors.Is(b, ErrUnsupportedCategory) {
					t.Errorf("bad record %d (%v): DecodeRecord error %v", b.Index, b, err)
				}
			}
		})
	}
}

func TestDecodeRecord(t *testing.T) {
	const guard = `{"time":"2025-01-01T00:00:00Z","category":"guard","properties":{"log":"I0101 00:00:00.0 1 x.go:1] ok"}}`
	tests := []struct {
		name, in    string
		lim         Limits
		err         string // "" for success
		unsupported bool
	}{
		{"record", guard, Limits{}, "", false},
		{"space and BOM around", "\xef\xbb\xbf \r\n" + guard + "\n\t", Limits{}, "", false},
		{"exactly the limit", guard, Limits{MaxRecordBytes: len(guard)}, "", false},
		{"over the limit", guard, Limits{MaxRecordBytes: len(guard) - 1}, "record: record of 103 bytes exceeds the limit of 102 bytes", false},
		{"empty", " \n", Limits{}, "record: empty record", false},
		{"malformed", `{"time":`, Limits{}, "record: malformed JSON", false},
		{"not an object", `["x"]`, Limits{}, "record: not a JSON object", false},
		{"no time", `{"category":"guard","properties":{"log":"x"}}`, Limits{}, "record: time: missing", false},
		{"a records document", `{"records":[` + guard + `]}`, Limits{}, "record: category: missing", false},
		{"unsupported", `{"time":"2025-01-01T00:00:00Z","category":"AuditLogs","properties":{}}`, Limits{}, `record: category: unsupported category "AuditLogs"`, true},
		{"invalid UTF-8", `{"time":"2025-01-01T00:00:00Z","category":"guard","properties":{"log":"` + "\xff" + `"}}`, Limits{}, "record: invalid UTF-8", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := DecodeRecord([]byte(tt.in), tt.lim)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if rec.Kind != KindControlPlane || rec.ControlPlane.Message != "I0101 00:00:00.0 1 x.go:1] ok" || !bytes.Equal(rec.Raw, []byte(guard)) {
					t.Errorf("record %+v, Raw %q", rec, rec.Raw)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || !strings.HasPrefix(err.Error(), tt.err) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
			if e.Index != -1 || e.Line != 0 || e.Size != len(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(tt.in), "\xef\xbb\xbf"))) {
				t.Errorf("error index %d line %d size %d", e.Index, e.Line, e.Size)
			}
			if errors.Is(err, ErrUnsupportedCategory) != tt.unsupported {
				t.Errorf("errors.Is(ErrUnsupportedCategory) = %v", !tt.unsupported)
			}
			if rec.Kind != "" || rec.Raw != nil {
				t.Errorf("record %+v with an error", rec)
			}
		})
	}
}
