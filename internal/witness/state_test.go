package witness

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/golden"
)

// TestStateFormat pins the state file's format (FORMAT.md).
func TestStateFormat(t *testing.T) {
	dir := t.TempDir()
	cp := newTestLog(t).checkpoint(t, 26, "state")
	st := &state{Format: stateFormat, Origin: testOrigin,
		Published: &published{Size: 26, Root: cp.Root, Time: time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)},
		Witnesses: map[string]*witnessState{
			"witness.example/w1+1a2b3c4d+BPQ=": {Name: "witness.example/w1", URL: "https://witness.example/w1", Size: 26, Root: cp.Root,
				Note: string(cp.Note) + "\u2014 witness.example/w1 GisjTQAAAABpVbcA\n", CosignedAt: time.Date(2026, 1, 1, 0, 0, 59, 0, time.UTC),
				File: cosignedFileName("witness.example/w1", 0x1a2b3c4d)},
		}}
	if err := st.save(dir); err != nil {
		t.Fatal(err)
	}
	got := golden.Read(t, filepath.Join(dir, stateFile))
	golden.Check(t, "testdata/state.json", got, *update)
	back, err := loadState(dir, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	if ws := back.Witnesses["witness.example/w1+1a2b3c4d+BPQ="]; ws == nil || ws.Size != 26 || ws.Note != st.Witnesses["witness.example/w1+1a2b3c4d+BPQ="].Note {
		t.Fatalf("state read back: %+v", back)
	}
}

func TestLoadState(t *testing.T) {
	cases := []struct {
		name    string
		content string // "" = no file
		want    string
	}{
		{"no file", "", ""},
		{"empty witnesses", `{"format":"cdewatch-witness-state/1","origin":"` + testOrigin + `"}`, ""},
		{"damaged", `{"format":"cdewatch-witness-state/1",`, "is damaged"},
		{"other format", `{"format":"cdewatch-witness-state/9","origin":"` + testOrigin + `"}`, "is damaged"},
		{"another ledger", `{"format":"cdewatch-witness-state/1","origin":"other.example/log"}`, "the ledger was replaced"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.content != "" {
				if err := os.WriteFile(filepath.Join(dir, stateFile), []byte(tc.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			st, err := loadState(dir, testOrigin)
			wantErr(t, err, tc.want)
			if err == nil && (st.Witnesses == nil || st.Origin != testOrigin) {
				t.Fatalf("state %+v", st)
			}
		})
	}
}

func TestCosignedFileName(t *testing.T) {
	cases := []struct {
		name string
		hash uint32
		want string
	}{
		{"witness.example/w1", 0xdeadbeef, "cosigned-witness.example_w1-deadbeef.checkpoint"},
		{"../../etc/passwd", 1, "cosigned-.._.._etc_passwd-00000001.checkpoint"},
		{"wïtness", 2, "cosigned-w__tness-00000002.checkpoint"},
		{strings.Repeat("a", 300), 3, "cosigned-" + strings.Repeat("a", 100) + "-00000003.checkpoint"},
	}
	for _, tc := range cases {
		if got := cosignedFileName(tc.name, tc.hash); got != tc.want {
			t.Errorf("cosignedFileName(%q) = %q, want %q", tc.name, got, tc.want)
		}
		if strings.ContainsRune(cosignedFileName(tc.name, tc.hash), '/') {
			t.Errorf("file name of %q has a slash", tc.name)
		}
	}
}
