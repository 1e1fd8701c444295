package ledger

import (
	"context"
	"fmt"
	"testing"
)

func TestSmoke(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(Options{Dir: dir, InitRecord: func() ([]byte, error) { return []byte("init"), nil }, SegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		var recs [][]byte
		for j := 0; j < 7; j++ {
			recs = append(recs, []byte(fmt.Sprintf("record %d/%d some payload payload payload", i, j)))
		}
		if _, err := l.Append(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := Verify(context.Background(), VerifyOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.Summary())
	l, err = Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Size() != 351 {
		t.Fatal(l.Size())
	}
	n := 0
	l.ReadRange(0, 400, func(seq uint64, rec []byte) error { n++; return nil })
	if n != 351 {
		t.Fatal(n)
	}
}
