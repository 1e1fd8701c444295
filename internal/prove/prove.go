// Package prove makes query results provable (PCI DSS 10.3.2, 10.3.4): each
// row that carries its ledger seq is answered with the ledger record it
// came from and an RFC 6962 inclusion proof against a signed checkpoint.
// Anyone holding the ledger's verifier key can check a saved answer
// offline: the checkpoint's signature, each record's inclusion, and that
// each row names its record (seq) and agrees with it (Source,
// ReceivedTime). FORMAT.md describes the bundle.
package prove

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/kql"
	"github.com/cdewatch/cdewatch/internal/ledger"
)

// SeqColumn is the result column that names each row's ledger record.
const SeqColumn = "seq"

// Errors of Build.
var (
	// ErrNoSeq: a result table lacks the seq column, or a row's is null.
	ErrNoSeq = errors.New("a provable result needs every row's ledger seq")
	// ErrNotCovered: a row's record is newer than the latest checkpoint;
	// the next one (about a second later) covers it.
	ErrNotCovered = errors.New("a row's record is not covered by a signed checkpoint yet")
)

// Bundle is the proof of a result: the checkpoint and, per distinct seq,
// the record and its inclusion proof.
type Bundle struct {
	Checkpoint string   `json:"checkpoint"` // the signed note, as served at /v1/checkpoint
	Records    []Record `json:"records"`
}

// Record is one ledger record of the result and where it appears.
type Record struct {
	Seq    uint64   `json:"seq"`
	Record []byte   `json:"record"` // the ledger record (internal/event FORMAT.md), base64 in JSON
	Proof  [][]byte `json:"proof"`  // audit path of leaf Seq in the checkpoint's tree, base64 in JSON
	Rows   []RowRef `json:"rows"`   // the result rows that came from it
}

// RowRef points at a result row: table and row index, from 0.
type RowRef struct {
	Table int `json:"table"`
	Row   int `json:"row"`
}

// Ledger is what Build reads.
type Ledger interface {
	LatestCheckpoint() *ledger.Checkpoint
	InclusionProof(index, size uint64) (proof [][]byte, root []byte, err error)
	ReadRange(from, to uint64, fn func(seq uint64, rec []byte) error) error
}

// Build proves every row of res against the ledger's latest checkpoint.
func Build(l Ledger, res *kql.Result) (*Bundle, error) {
	cp := l.LatestCheckpoint()
	if cp == nil {
		return nil, fmt.Errorf("%w: no checkpoint signed yet", ErrNotCovered)
	}
	rows := map[uint64][]RowRef{}
	for ti, t := range res.Tables {
		col := slices.IndexFunc(t.Columns, func(c kql.Column) bool { return c.Name == SeqColumn })
		if col < 0 {
			return nil, fmt.Errorf("%w: result table %d (%s) has no seq column; keep it in the result, e.g. `| project TimeGenerated, …, seq` (aggregated rows cannot be proven: prove the rows they count)", ErrNoSeq, ti+1, t.Name)
		}
		for ri, row := range t.Rows {
			seq, ok := asSeq(row[col])
			if !ok {
				return nil, fmt.Errorf("%w: row %d of result table %d has no seq", ErrNoSeq, ri+1, ti+1)
			}
			if seq >= cp.Size {
				return nil, fmt.Errorf("%w: seq %d, checkpoint size %d", ErrNotCovered, seq, cp.Size)
			}
			rows[seq] = append(rows[seq], RowRef{Table: ti, Row: ri})
		}
	}
	b := &Bundle{Checkpoint: string(cp.Note)}
	for _, seq := range slices.Sorted(func(yield func(uint64) bool) {
		for s := range rows {
			if !yield(s) {
				return
			}
		}
	}) {
		var rec []byte
		if err := l.ReadRange(seq, seq+1, func(_ uint64, r []byte) error {
			rec = bytes.Clone(r)
			return nil
		}); err != nil {
			return nil, fmt.Errorf("read record %d: %w", seq, err)
		}
		if rec == nil {
			return nil, fmt.Errorf("record %d expired under the retention policy: its row cannot be proven", seq)
		}
		p, _, err := l.InclusionProof(seq, cp.Size)
		if err != nil {
			return nil, fmt.Errorf("prove record %d: %w", seq, err)
		}
		b.Records = append(b.Records, Record{Seq: seq, Record: rec, Proof: p, Rows: rows[seq]})
	}
	return b, nil
}

func asSeq(v any) (uint64, bool) {
	switch x := v.(type) {
	case int64:
		return uint64(x), x >= 0
	case uint64:
		return x, true
	case float64:
		return uint64(x), x >= 0 && x == math.Trunc(x)
	case json.Number:
		n, err := x.Int64()
		return uint64(n), err == nil && n >= 0
	}
	return 0, false
}

// Answer is a saved POST /v1/query answer with "prove": true.
type Answer struct {
	Tables []AnswerTable `json:"Tables"`
	Proof  *Bundle       `json:"Proof"`
}

// AnswerTable is a result table as JSON holds it.
type AnswerTable struct {
	Name    string `json:"TableName"`
	Columns []struct {
		Name string `json:"ColumnName"`
	} `json:"Columns"`
	Rows [][]json.RawMessage `json:"Rows"`
}

// Report says what Check verified.
type Report struct {
	Origin     string
	TreeSize   uint64
	Rows       int // rows checked
	Records    int // distinct records
	Checkpoint *ledger.Checkpoint
}

// Check verifies a saved answer offline with the ledger's verifier key:
// the checkpoint's signature; each record's inclusion in its tree; that
// every row of every table is accounted for by exactly one record whose
// seq it carries; and that the row's Source and ReceivedTime, where the
// result has them, are the record's.
func Check(a *Answer, v note.Verifier) (*Report, error) {
	if a.Proof == nil {
		return nil, errors.New("the answer has no proof: ask with \"prove\": true")
	}
	cp, err := ledger.ParseCheckpoint([]byte(a.Proof.Checkpoint), v)
	if err != nil {
		return nil, fmt.Errorf("checkpoint does not verify with the key: %w", err)
	}
	covered := map[RowRef]bool{}
	rep := &Report{Origin: v.Name(), TreeSize: cp.Size, Checkpoint: cp}
	for _, r := range a.Proof.Records {
		leaf := rfc6962.DefaultHasher.HashLeaf(r.Record)
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, r.Seq, cp.Size, leaf, r.Proof, cp.Root); err != nil {
			return nil, fmt.Errorf("record %d is not in the signed tree of size %d: %w", r.Seq, cp.Size, err)
		}
		var rec event.Record
		if err := rec.UnmarshalBinary(r.Record); err != nil {
			return nil, fmt.Errorf("record %d does not decode: %w", r.Seq, err)
		}
		for _, ref := range r.Rows {
			if err := checkRow(a, ref, r.Seq, &rec); err != nil {
				return nil, err
			}
			if covered[ref] {
				return nil, fmt.Errorf("table %d row %d is claimed by two records", ref.Table+1, ref.Row+1)
			}
			covered[ref] = true
		}
		rep.Records++
	}
	for ti, t := range a.Tables {
		for ri := range t.Rows {
			if !covered[RowRef{ti, ri}] {
				return nil, fmt.Errorf("table %d row %d has no proof", ti+1, ri+1)
			}
			rep.Rows++
		}
	}
	return rep, nil
}

// checkRow checks that a row carries seq and agrees with the record.
func checkRow(a *Answer, ref RowRef, seq uint64, rec *event.Record) error {
	if ref.Table < 0 || ref.Table >= len(a.Tables) || ref.Row < 0 || ref.Row >= len(a.Tables[ref.Table].Rows) {
		return fmt.Errorf("record %d points at table %d row %d, which the answer does not have", seq, ref.Table+1, ref.Row+1)
	}
	t := a.Tables[ref.Table]
	row := t.Rows[ref.Row]
	where := fmt.Sprintf("table %d (%s) row %d", ref.Table+1, t.Name, ref.Row+1)
	cell := func(name string) (json.RawMessage, bool) {
		i := slices.IndexFunc(t.Columns, func(c struct {
			Name string `json:"ColumnName"`
		}) bool {
			return c.Name == name
		})
		if i < 0 || i >= len(row) {
			return nil, false
		}
		return row[i], true
	}
	raw, ok := cell(SeqColumn)
	var got uint64
	if !ok || json.Unmarshal(raw, &got) != nil || got != seq {
		return fmt.Errorf("%s: its seq is %s, the proof is for record %d", where, raw, seq)
	}
	if raw, ok := cell("Source"); ok {
		var s string
		if json.Unmarshal(raw, &s) != nil || s != rec.Source {
			return fmt.Errorf("%s: Source %s differs from the record's %q", where, raw, rec.Source)
		}
	}
	if raw, ok := cell("ReceivedTime"); ok {
		var ts time.Time
		if json.Unmarshal(raw, &ts) != nil || !ts.Equal(rec.Received.Truncate(time.Microsecond)) {
			return fmt.Errorf("%s: ReceivedTime %s differs from the record's %s", where, raw, rec.Received.Format(time.RFC3339Nano))
		}
	}
	return nil
}
