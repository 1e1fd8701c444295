package appaccess

import (
	"strings"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/event"
)

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		outcome    event.Outcome
		missing    string // event.Record.Missing of the record
		problems   int
		err        string
	}{
		{"complete", `{"timestamp":"2026-11-26T10:00:00Z","user_id":"alice","action":"read","resource":"cards/8812","result":"success","source_ip":"10.1.2.3"}`,
			event.Success, "", 0, ""},
		{"denied", `{"timestamp":"2026-11-26T10:00:00Z","user_id":"mallory","action":"export","resource":"cards","result":"denied","source_ip":"10.1.2.9"}`,
			event.Failure, "", 0, ""},
		{"http code", `{"timestamp":1764151200,"user_id":"svc","action":"decrypt","resource":"pan/1","result":403,"source_ip":"10.0.0.1"}`,
			event.Failure, "", 0, ""},
		{"no user nor ip", `{"timestamp":"2026-11-26T10:00:00Z","action":"read","resource":"cards/1","result":"ok"}`,
			event.Success, "user,origin", 0, ""},
		{"odd result", `{"timestamp":"2026-11-26T10:00:00Z","user_id":"a","action":"read","resource":"r","result":"maybe","source_ip":"1.2.3.4"}`,
			event.Unknown, "outcome", 0, ""},
		{"bad time", `{"timestamp":"yesterday","user_id":"a","action":"read","resource":"r","result":"ok","source_ip":"1.2.3.4"}`,
			event.Success, "time", 1, ""},
		{"object user", `{"timestamp":"2026-11-26T10:00:00Z","user_id":{"id":1},"action":"read","resource":"r","result":"ok","source_ip":"1.2.3.4"}`,
			event.Success, "user", 1, ""},
		{"empty object", `{}`, event.Unknown, "user,type,time,outcome,origin,resource", 0, ""},
		{"array", `[1]`, "", "", 0, "not a JSON object"},
		{"two values", `{} {}`, "", "", 0, "more than one value"},
		{"broken", `{"user_id":`, "", "", 0, "malformed JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := Decode([]byte(tc.line))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rec, err := a.Record("checkout", []byte(tc.line))
			if err != nil {
				t.Fatal(err)
			}
			if rec.Outcome != tc.outcome || rec.Missing().String() != tc.missing || len(a.Problems) != tc.problems {
				t.Errorf("outcome %s missing %q problems %v; want %s %q %d", rec.Outcome, rec.Missing(), a.Problems, tc.outcome, tc.missing, tc.problems)
			}
			if rec.PCI&event.CHDAccess == 0 || (rec.Outcome == event.Failure) != (rec.PCI&event.InvalidAccess != 0) {
				t.Errorf("PCI classes %s", rec.PCI)
			}
			app, back, err := DecodeEnvelope(rec.Raw)
			if err != nil || app != "checkout" || back.User != a.User || !back.Time.Equal(a.Time) {
				t.Errorf("envelope round trip: %q %+v %v", app, back, err)
			}
		})
	}
}

func TestNumericTime(t *testing.T) {
	for _, tc := range []struct {
		line string
		want time.Time
	}{
		{`{"timestamp":1764151200}`, time.Unix(1764151200, 0)},
		{`{"timestamp":1764151200.5}`, time.Unix(1764151200, 5e8)},
		{`{"timestamp":1764151200123}`, time.UnixMilli(1764151200123)},
	} {
		a, err := Decode([]byte(tc.line))
		if err != nil || !a.Time.Equal(tc.want) {
			t.Errorf("%s: time %v, %v; want %v", tc.line, a.Time, err, tc.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"timestamp":"2026-11-26T10:00:00Z","user_id":"alice","action":"read","resource":"cards/8812","result":"success","source_ip":"10.1.2.3"}`))
	f.Add([]byte(`{"timestamp":1764151200.5,"result":404,"event_id":"x"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		a, err := Decode(line)
		if err != nil {
			return
		}
		rec, err := a.Record("app", line)
		if err != nil {
			t.Fatal(err)
		}
		if _, back, err := DecodeEnvelope(rec.Raw); err != nil || back.User != a.User || back.Action != a.Action {
			t.Fatalf("envelope does not round-trip: %v", err)
		}
	})
}
