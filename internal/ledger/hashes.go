package ledger

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/mod/sumdb/tlog"
)

// hashStore is the file of stored Merkle tree hashes in the dense layout of
// golang.org/x/mod/sumdb/tlog (StoredHashIndex): appending leaf n appends its
// leaf hash followed by the hashes of every subtree it completes. Hash tiles
// (c2sp.org/tlog-tiles) are cut from it on request.
type hashStore struct {
	f     *os.File
	count int64 // hashes in the file
}

func openHashStore(path string) (*hashStore, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open hash store: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &hashStore{f: f, count: st.Size() / tlog.HashSize}, nil
}

// truncate cuts the store to n hashes.
func (s *hashStore) truncate(n int64) error {
	if err := s.f.Truncate(n * tlog.HashSize); err != nil {
		return fmt.Errorf("truncate hash store to %d hashes: %w", n, err)
	}
	s.count = n
	return s.f.Sync()
}

// append writes hashes (a multiple of HashSize bytes) at the end.
func (s *hashStore) append(b []byte) error {
	if _, err := s.f.WriteAt(b, s.count*tlog.HashSize); err != nil {
		return fmt.Errorf("append to hash store: %w", err)
	}
	s.count += int64(len(b) / tlog.HashSize)
	return nil
}

// ReadHashes implements tlog.HashReader. Callers must only ask for indexes
// below the stored count of a size they know to be integrated.
func (s *hashStore) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		if _, err := s.f.ReadAt(out[i][:], idx*tlog.HashSize); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("read stored hash %d: %w", idx, err)
		}
	}
	return out, nil
}

func (s *hashStore) close() error { return s.f.Close() }
