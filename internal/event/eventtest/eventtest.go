// Package eventtest has test helpers for reading what receivers stored.
package eventtest

import (
	"testing"

	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/ledger"
)

// Stored returns the records of the ledger from seq from on, decoded, with
// Raw copied out of the ledger's buffers.
func Stored(tb testing.TB, l *ledger.Ledger, from uint64) []event.Record {
	tb.Helper()
	var out []event.Record
	if err := l.ReadRange(from, l.Size(), func(_ uint64, b []byte) error {
		var r event.Record
		if err := r.UnmarshalBinary(b); err != nil {
			return err
		}
		r.Raw = append([]byte(nil), r.Raw...)
		out = append(out, r)
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return out
}
