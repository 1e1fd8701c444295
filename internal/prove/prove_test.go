package prove

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/kql"
	"github.com/cdewatch/cdewatch/internal/ledger"
)

// fixture is a ledger of ten records with a checkpoint, and a result whose
// rows name three of them (one twice).
func fixture(tb testing.TB) (*ledger.Ledger, *kql.Result, note.Verifier) {
	tb.Helper()
	dir := tb.TempDir()
	l, err := ledger.Open(ledger.Options{Dir: dir, Origin: "test.cdewatch/prove", CheckpointInterval: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	at := time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC)
	var recs [][]byte
	for i := range 10 {
		r := event.Record{Time: at, Received: at.Add(time.Duration(i) * time.Second), Source: "aks-prod", Table: event.TableKubeAudit,
			User: "alice", Action: "get secrets", Outcome: event.Success, Raw: []byte(`{"i":` + string(rune('0'+i)) + `}`)}
		b, err := r.MarshalBinary()
		if err != nil {
			tb.Fatal(err)
		}
		recs = append(recs, b)
	}
	if _, err := l.Append(context.Background(), recs); err != nil {
		tb.Fatal(err)
	}
	l.Close() // signs a checkpoint
	if l, err = ledger.Open(ledger.Options{Dir: dir, Origin: "test.cdewatch/prove", CheckpointInterval: time.Hour}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	row := func(seq int) []any {
		return []any{"alice", "aks-prod", at.Add(time.Duration(seq) * time.Second).Truncate(time.Microsecond), int64(seq)}
	}
	res := &kql.Result{Tables: []*kql.Table{
		{Name: "PrimaryResult", Columns: []kql.Column{{Name: "User", Type: "string"}, {Name: "Source", Type: "string"}, {Name: "ReceivedTime", Type: "datetime"}, {Name: "seq", Type: "long"}},
			Rows: [][]any{row(1), row(4), row(8)}},
		{Name: "Table_1", Columns: []kql.Column{{Name: "seq", Type: "long"}}, Rows: [][]any{{int64(4)}}},
	}}
	return l, res, l.Verifier()
}

// answer is what a client saves: the result and its proof, as JSON.
func answer(tb testing.TB, res *kql.Result, b *Bundle) []byte {
	tb.Helper()
	out, err := json.Marshal(struct {
		Tables []*kql.Table
		Proof  *Bundle
	}{res.Tables, b})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestProveAndCheck(t *testing.T) {
	l, res, v := fixture(t)
	b, err := Build(l, res)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Records) != 3 || len(b.Records[1].Rows) != 2 {
		t.Fatalf("bundle records %+v", b.Records)
	}
	saved := answer(t, res, b)
	var a Answer
	if err := json.Unmarshal(saved, &a); err != nil {
		t.Fatal(err)
	}
	rep, err := Check(&a, v)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows != 4 || rep.Records != 3 || rep.TreeSize < 10 {
		t.Fatalf("report %+v", rep)
	}
	cases := []struct {
		name string
		edit func(*Answer)
		want string
	}{
		{"row's source changed", func(a *Answer) { a.Tables[0].Rows[1][1] = json.RawMessage(`"aks-test"`) }, "Source"},
		{"row's time changed", func(a *Answer) { a.Tables[0].Rows[0][2] = json.RawMessage(`"2026-11-26T10:00:05.123456Z"`) }, "ReceivedTime"},
		{"row's seq changed", func(a *Answer) { a.Tables[0].Rows[2][3] = json.RawMessage(`7`) }, "seq"},
		{"record changed", func(a *Answer) { a.Proof.Records[0].Record[len(a.Proof.Records[0].Record)-2] ^= 1 }, "not in the signed tree"},
		{"proof changed", func(a *Answer) { a.Proof.Records[2].Proof[0][0] ^= 1 }, "not in the signed tree"},
		{"row without proof", func(a *Answer) { a.Proof.Records = a.Proof.Records[:2] }, "has no proof"},
		{"row added", func(a *Answer) { a.Tables[1].Rows = append(a.Tables[1].Rows, a.Tables[1].Rows[0]) }, "has no proof"},
		{"checkpoint forged", func(a *Answer) { a.Proof.Checkpoint = strings.Replace(a.Proof.Checkpoint, "\n10\n", "\n11\n", 1) }, "does not verify"},
		{"no proof", func(a *Answer) { a.Proof = nil }, "no proof"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var a Answer
			if err := json.Unmarshal(saved, &a); err != nil {
				t.Fatal(err)
			}
			tc.edit(&a)
			if _, err := Check(&a, v); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check: %v; want an error containing %q", err, tc.want)
			}
		})
	}
	// Another log's key does not verify the checkpoint.
	_, vkey, _ := note.GenerateKey(nil, "test.cdewatch/prove")
	other, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Check(&a, other); err == nil {
		t.Fatal("checked with another key")
	}
}

func TestBuildRefusals(t *testing.T) {
	l, res, _ := fixture(t)
	res.Tables[1].Columns[0].Name = "n"
	if _, err := Build(l, res); !errors.Is(err, ErrNoSeq) {
		t.Fatalf("no seq column: %v", err)
	}
	res.Tables[1].Columns[0].Name = "seq"
	res.Tables[1].Rows[0][0] = int64(10) // beyond the checkpoint
	if _, err := Build(l, res); !errors.Is(err, ErrNotCovered) {
		t.Fatalf("uncovered row: %v", err)
	}
	res.Tables[1].Rows[0][0] = nil
	if _, err := Build(l, res); !errors.Is(err, ErrNoSeq) {
		t.Fatalf("null seq: %v", err)
	}
}

func FuzzCheck(f *testing.F) {
	l, res, v := fixture(f)
	b, err := Build(l, res)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(answer(f, res, b))
	f.Add([]byte(`{"Tables":[],"Proof":{"checkpoint":"","records":[{"seq":1,"rows":[{"table":5,"row":-1}]}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var a Answer
		if json.Unmarshal(data, &a) != nil {
			return
		}
		_, _ = Check(&a, v) // must not panic
	})
}
