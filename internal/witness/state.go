package witness

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cdewatch/cdewatch/internal/fsutil"
)

// Files in the Publisher's state directory (FORMAT.md).
const (
	stateFile     = "state.json"
	stateFormat   = "cdewatch-witness-state/1"
	cosignedExt   = ".checkpoint"
	cosignedStart = "cosigned-"
)

// state is the Publisher's persisted state.
type state struct {
	Format string `json:"format"`
	// Origin is the ledger's checkpoint origin the state is about.
	Origin string `json:"origin"`
	// Published is the last checkpoint handed to the PublishFunc: another
	// one (larger, or smaller or with another root after a rollback) is
	// published.
	Published *published `json:"published,omitempty"`
	// Witnesses are keyed by the witness's verifier key.
	Witnesses map[string]*witnessState `json:"witnesses"`
}

type published struct {
	Size uint64    `json:"size"`
	Root []byte    `json:"root"`
	Time time.Time `json:"time"`
}

// witnessState is what one witness has cosigned.
type witnessState struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// Size and Root are of the latest checkpoint the witness cosigned.
	Size uint64 `json:"size"`
	Root []byte `json:"root"`
	// Note is that checkpoint with the witness's cosignature.
	Note string `json:"note"`
	// CosignedAt is the cosignature's timestamp.
	CosignedAt time.Time `json:"cosigned_at"`
	// File holds Note, in the state directory.
	File string `json:"file"`
}

// loadState reads the state file in dir; a missing file is an empty state.
func loadState(dir, origin string) (*state, error) {
	path := filepath.Join(dir, stateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &state{Format: stateFormat, Origin: origin, Witnesses: map[string]*witnessState{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read witness state: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil || st.Format != stateFormat {
		if err == nil {
			err = fmt.Errorf("format %q, want %q", st.Format, stateFormat)
		}
		return nil, fmt.Errorf("witness state %s is damaged (%v): move it away; the witnesses then tell their sizes again at the next round", path, err)
	}
	if st.Origin != origin {
		return nil, fmt.Errorf("witness state %s is about the ledger with origin %q, but this ledger's origin is %q: the ledger was replaced by another one — find out why (PCI DSS 10.3.4); to start over for the new ledger, move the state directory away",
			path, st.Origin, origin)
	}
	if st.Witnesses == nil {
		st.Witnesses = map[string]*witnessState{}
	}
	return &st, nil
}

// save writes the state atomically.
func (st *state) save(dir string) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(dir, stateFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write witness state: %w", err)
	}
	return nil
}

// cosignedFileName is the file, in the state directory, of the latest
// checkpoint the witness with this name and key hash cosigned: the name
// with every byte other than letters, digits, '.', '-' and '_' replaced by
// '_', and the key hash, which keeps two witnesses of the same name apart.
func cosignedFileName(name string, keyHash uint32) string {
	var b strings.Builder
	b.WriteString(cosignedStart)
	for i := 0; i < len(name) && i < 100; i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	fmt.Fprintf(&b, "-%08x%s", keyHash, cosignedExt)
	return b.String()
}
