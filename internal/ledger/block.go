package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/klauspost/compress/zstd"
)

// On-disk constants; FORMAT.md describes the layout.
const (
	segmentMagic    = "CDWSEG\x00\x01"
	segmentHdrSize  = 16 // magic + first seq
	blockPrefixSize = 8  // length + crc
	blockHdrSize    = 21 // first seq, count, commit time, codec
	codecZstd       = 1

	// maxBlockBody bounds a block's length field so a corrupt length cannot
	// make a reader allocate without limit.
	maxBlockBody = 1 << 30
	// maxRecordSize bounds one record inside a block.
	maxRecordSize = 64 << 20
	// maxAppendBytes bounds the framed, uncompressed records of one block
	// (one Append), so that the block fits maxBlockBody once compressed and
	// decompresses within the readers' limit (maxBlockBody).
	maxAppendBytes = maxBlockBody - 1<<20
	// maxBlockRecords bounds the records of one block (one Append), which
	// bounds what a reader allocates for a block of tiny records.
	maxBlockRecords = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errBadBlock marks a block that fails framing, checksum or decoding.
var errBadBlock = errors.New("bad block")

// blockHeader is the checksummed header of one block.
type blockHeader struct {
	first  uint64 // sequence number (leaf index) of the first record
	count  uint32 // records in the block
	commit int64  // commit time, Unix nanoseconds
	codec  byte
}

// encodeBlockBody compresses records into a block body (header left zero,
// filled by sealBlock). The result starts with blockPrefixSize reserved bytes.
func encodeBlockBody(enc *zstd.Encoder, recs [][]byte) []byte {
	b, _ := encodeBlock(enc, recs)
	return b
}

// encodeBlock is encodeBlockBody that also returns the uncompressed
// payload (what decompressing the block gives back).
func encodeBlock(enc *zstd.Encoder, recs [][]byte) (block, plain []byte) {
	n := 0
	for _, r := range recs {
		n += binary.MaxVarintLen32 + len(r)
	}
	plain = make([]byte, 0, n)
	for _, r := range recs {
		plain = binary.AppendUvarint(plain, uint64(len(r)))
		plain = append(plain, r...)
	}
	out := make([]byte, blockPrefixSize+blockHdrSize, blockPrefixSize+blockHdrSize+len(plain)/4+64)
	return enc.EncodeAll(plain, out), plain
}

// sealBlock fills in the header and framing of a block made by
// encodeBlockBody.
func sealBlock(b []byte, h blockHeader) {
	binary.BigEndian.PutUint32(b[0:4], uint32(len(b)-blockPrefixSize))
	p := b[blockPrefixSize:]
	binary.BigEndian.PutUint64(p[0:8], h.first)
	binary.BigEndian.PutUint32(p[8:12], h.count)
	binary.BigEndian.PutUint64(p[12:20], uint64(h.commit))
	p[20] = h.codec
	binary.BigEndian.PutUint32(b[4:8], crc32.Checksum(p, castagnoli))
}

// parseBlock checks the framing and checksum of the block at the start of b.
// It returns the header, the compressed payload and the block's total size.
// A block that extends past len(b) is reported with errShortBlock.
func parseBlock(b []byte) (blockHeader, []byte, int, error) {
	var h blockHeader
	if len(b) < blockPrefixSize {
		return h, nil, 0, errShortBlock
	}
	n := binary.BigEndian.Uint32(b[0:4])
	if n < blockHdrSize || n > maxBlockBody {
		return h, nil, 0, fmt.Errorf("%w: length %d out of range", errBadBlock, n)
	}
	total := blockPrefixSize + int(n)
	if len(b) < total {
		return h, nil, 0, errShortBlock
	}
	p := b[blockPrefixSize:total]
	if got, want := crc32.Checksum(p, castagnoli), binary.BigEndian.Uint32(b[4:8]); got != want {
		return h, nil, total, fmt.Errorf("%w: checksum %08x, want %08x", errBadBlock, got, want)
	}
	h.first = binary.BigEndian.Uint64(p[0:8])
	h.count = binary.BigEndian.Uint32(p[8:12])
	h.commit = int64(binary.BigEndian.Uint64(p[12:20]))
	h.codec = p[20]
	if h.codec != codecZstd {
		return h, nil, total, fmt.Errorf("%w: unknown codec %d", errBadBlock, h.codec)
	}
	if h.count == 0 {
		return h, nil, total, fmt.Errorf("%w: empty block", errBadBlock)
	}
	return h, p[blockHdrSize:], total, nil
}

var errShortBlock = errors.New("block extends past end of data")

// mayBeTorn reports whether a block that failed to parse at the start of b
// (with parseBlock's total and error) can be an interrupted write: it is
// short, or no valid block starts where its length says it ends. A bad block
// followed by a valid one is damage to acknowledged data.
func mayBeTorn(b []byte, total int, err error) bool {
	if errors.Is(err, errShortBlock) || total <= 0 || total >= len(b) {
		return true
	}
	_, _, _, nextErr := parseBlock(b[total:])
	return nextErr != nil
}

// newDecoder returns a zstd decoder for block payloads, limited to what a
// block may hold. It ignores a frame's content checksum (blocks written
// before 2026-11-27 have one): the block's CRC-32C, checked before a
// payload is decoded, covers the whole frame.
func newDecoder() *zstd.Decoder {
	d, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxBlockBody), zstd.IgnoreChecksum(true))
	return d
}

// decodeRecords decompresses a block payload and splits it into count
// records. The records alias buf's storage (reused if large enough).
func decodeRecords(dec *zstd.Decoder, payload []byte, count uint32, buf []byte) ([][]byte, []byte, error) {
	if count > maxBlockRecords {
		return nil, buf, fmt.Errorf("%w: %d records, limit %d", errBadBlock, count, maxBlockRecords)
	}
	plain, err := dec.DecodeAll(payload, buf[:0])
	if err != nil {
		return nil, buf, fmt.Errorf("%w: decompress: %v", errBadBlock, err)
	}
	recs, err := splitRecords(plain, count)
	return recs, plain, err
}

// splitRecords splits a block's uncompressed payload into its count
// records, which alias plain.
func splitRecords(plain []byte, count uint32) ([][]byte, error) {
	if count > maxBlockRecords {
		return nil, fmt.Errorf("%w: %d records, limit %d", errBadBlock, count, maxBlockRecords)
	}
	// count comes from the block header: each record takes at least one
	// byte (its length), so never reserve more than the data can hold.
	recs := make([][]byte, 0, min(uint64(count), uint64(len(plain))))
	p := plain
	for len(p) > 0 {
		if uint32(len(recs)) == count {
			return nil, fmt.Errorf("%w: more than the %d records the header says", errBadBlock, count)
		}
		n, k := binary.Uvarint(p)
		if k <= 0 || n > maxRecordSize || n > uint64(len(p)-k) {
			return nil, fmt.Errorf("%w: record %d framing", errBadBlock, len(recs))
		}
		recs = append(recs, p[k:k+int(n):k+int(n)])
		p = p[k+int(n):]
	}
	if uint32(len(recs)) != count {
		return nil, fmt.Errorf("%w: %d records, header says %d", errBadBlock, len(recs), count)
	}
	return recs, nil
}

// segmentHeader returns the 16-byte header of a segment whose first record
// has sequence number first.
func segmentHeader(first uint64) []byte {
	b := make([]byte, segmentHdrSize)
	copy(b, segmentMagic)
	binary.BigEndian.PutUint64(b[8:], first)
	return b
}

func parseSegmentHeader(b []byte) (uint64, error) {
	if len(b) < segmentHdrSize || string(b[:8]) != segmentMagic {
		return 0, errors.New("not a cdewatch segment (bad magic)")
	}
	return binary.BigEndian.Uint64(b[8:16]), nil
}

// segmentName is the file name of the segment starting at seq first.
func segmentName(first uint64) string { return fmt.Sprintf("%020d.seg", first) }
