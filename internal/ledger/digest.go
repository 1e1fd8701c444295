package ledger

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/mod/sumdb/tlog"
)

// blockDigest is what the ledger remembers of a block it committed, for
// the integrity monitor: SHA-256 over the block's bytes as written
// (framing, header, compressed records) followed by its records' leaf
// hashes. A block on disk with the same digest, next to the same stored
// leaf hashes, holds exactly the records that were hashed when it was
// appended, so the monitor checks a new block by hashing its compressed
// bytes (about a tenth of its records' size) instead of decompressing it
// and re-hashing every record. Digests live only in the memory of the
// process that wrote the blocks: whoever can change the files cannot
// change them.
type blockDigest [sha256.Size]byte

// digestMemory bounds the digests a ledger keeps (the last blocks
// committed): 4 MiB is about 87,000 blocks, minutes of appends at any
// rate the committer sustains. A block whose digest is gone is checked by
// re-hashing its records.
const digestMemory = 4 << 20

// digestEntryBytes is what one kept digest costs: the digest, its key and
// its place in the eviction order.
const digestEntryBytes = sha256.Size + 16

func newRecentDigests() *recentBlocks[blockDigest] {
	return newRecentBlocks(digestMemory, func(blockDigest) int64 { return digestEntryBytes })
}

func digestBlock(block []byte, leaves []tlog.Hash) blockDigest {
	h := sha256.New()
	h.Write(block)
	for i := range leaves {
		h.Write(leaves[i][:])
	}
	var d blockDigest
	h.Sum(d[:0])
	return d
}

// readLeafHashes reads the stored leaf hashes of leaves first..first+count-1
// from tree.hashes (f) in one read. When the file ends early it returns
// the first leaf whose hash is missing and an error saying so.
func readLeafHashes(f *os.File, first uint64, count uint32) ([]tlog.Hash, uint64, error) {
	if count == 0 {
		return nil, first, nil
	}
	lo := tlog.StoredHashIndex(0, int64(first))
	hi := tlog.StoredHashIndex(0, int64(first)+int64(count)-1)
	buf := make([]byte, (hi-lo+1)*tlog.HashSize)
	n, err := f.ReadAt(buf, lo*tlog.HashSize)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, first, fmt.Errorf("read stored leaf hashes of leaves %d..%d: %w", first, first+uint64(count)-1, err)
	}
	out := make([]tlog.Hash, count)
	for i := range out {
		at := (tlog.StoredHashIndex(0, int64(first)+int64(i)) - lo) * tlog.HashSize
		if at+tlog.HashSize > int64(n) {
			leaf := first + uint64(i)
			return nil, leaf, fmt.Errorf("stored leaf hash missing: tree.hashes ends before leaf %d", leaf)
		}
		copy(out[i][:], buf[at:])
	}
	return out, first, nil
}
