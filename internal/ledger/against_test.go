package ledger

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cdewatch/cdewatch/internal/ledger/ledgertest"
)

// TestVerifyAgainst: a checkpoint kept elsewhere exposes a ledger cut back
// or rewritten (and re-signed with its own key) since.
func TestVerifyAgainst(t *testing.T) {
	base := t.TempDir()
	orig := filepath.Join(base, "orig")
	l := openLedger(t, testOptions(orig))
	appendRecs(t, l, smallRecords(0, 20))
	if err := l.signNow(); err != nil {
		t.Fatal(err)
	}
	closeLedger(t, l)
	snapshot := filepath.Join(base, "snapshot")
	ledgertest.CopyDir(t, orig, snapshot)
	l = openLedger(t, testOptions(orig))
	appendRecs(t, l, smallRecords(20, 20))
	if err := l.signNow(); err != nil {
		t.Fatal(err)
	}
	kept := l.LatestCheckpoint().Note // a witness's copy, size 40
	closeLedger(t, l)

	// The snapshot grown with other records and re-signed: a rewrite.
	rewritten := filepath.Join(base, "rewritten")
	ledgertest.CopyDir(t, snapshot, rewritten)
	l = openLedger(t, testOptions(rewritten))
	appendRecs(t, l, smallRecords(1000, 20))
	closeLedger(t, l)

	other := filepath.Join(base, "other")
	l = openLedger(t, testOptions(other))
	appendRecs(t, l, smallRecords(0, 3))
	closeLedger(t, l)
	foreign := readFile(t, filepath.Join(other, fileCheckpoint))

	cases := []struct {
		name, dir string
		against   []byte
		want      string // "" = passes
	}{
		{"the ledger that signed it", orig, kept, ""},
		{"cut back", snapshot, kept, "covers 40 leaves but only 20 are stored"},
		{"rewritten and re-signed", rewritten, kept, "another root at size 40"},
		{"signed by another key", orig, foreign, "does not verify with the trusted key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(context.Background(), VerifyOptions{Dir: tc.dir, Against: [][]byte{tc.against}})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("verify: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("verify: %v; want an error containing %q", err, tc.want)
			}
		})
	}
}
