package ingest

import (
	"github.com/klauspost/compress/gzip"
	"io"
	"sync"
)

// BufPool recycles the byte buffers receivers read request bodies into.
// The zero value is ready: buffers start at 64 KiB and those grown past
// 64 MiB are dropped rather than kept.
type BufPool struct {
	pool sync.Pool
}

const (
	bufInitial = 64 << 10
	bufMaxKept = 64 << 20
)

// Get returns an empty buffer.
func (p *BufPool) Get() *[]byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		*b = (*b)[:0]
		return b
	}
	b := make([]byte, 0, bufInitial)
	return &b
}

// Put gives b back; nothing may refer to its bytes any more.
func (p *BufPool) Put(b *[]byte) {
	if cap(*b) <= bufMaxKept {
		p.pool.Put(b)
	}
}

// GzipPool recycles gzip readers. The zero value is ready.
type GzipPool struct {
	pool sync.Pool
}

// Reader returns a reader of the gzip stream r; give it back with Put.
func (p *GzipPool) Reader(r io.Reader) (*gzip.Reader, error) {
	if zr, ok := p.pool.Get().(*gzip.Reader); ok {
		if err := zr.Reset(r); err != nil {
			return nil, err
		}
		return zr, nil
	}
	return gzip.NewReader(r)
}

// Put gives zr back.
func (p *GzipPool) Put(zr *gzip.Reader) { p.pool.Put(zr) }
