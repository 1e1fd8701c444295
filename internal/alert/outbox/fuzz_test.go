package outbox

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecodeEntry: decodeEntry never panics, never reads beyond its input,
// and what it accepts re-encodes to the same bytes.
func FuzzDecodeEntry(f *testing.F) {
	good := appendEntry(nil, 7, 5, 1_700_000_000_000_000_000, []byte(`{"rule":"r","severity":"high"}`))
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(good[:8])
	f.Add(appendEntry(nil, 1, 1, 0, nil))
	f.Add(append(append([]byte(nil), good...), good...))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, n, err := decodeEntry(b)
		if err != nil {
			if !errors.Is(err, errShort) && !errors.Is(err, errCorrupt) {
				t.Fatalf("unexpected error type: %v", err)
			}
			if n != 0 {
				t.Fatalf("error with size %d", n)
			}
			return
		}
		if n < entryHeaderLen || n > len(b) || len(e.payload) > maxPayload || e.batch == 0 || e.batch > e.id {
			t.Fatalf("accepted entry out of bounds: n %d of %d, %+v", n, len(b), e)
		}
		if re := appendEntry(nil, e.id, e.batch, e.enqueued, e.payload); !bytes.Equal(re, b[:n]) {
			t.Fatalf("re-encoding differs:\n%x\n%x", re, b[:n])
		}
	})
}

// FuzzScanSegment: scanning any segment bytes never panics and reports a
// valid prefix within the file.
func FuzzScanSegment(f *testing.F) {
	seg := segHeader(1)
	seg = appendEntry(seg, 1, 1, 1, []byte(`{}`))
	seg = appendEntry(seg, 2, 1, 1, []byte(`{"a":1}`))
	f.Add(seg)
	f.Add(seg[:len(seg)-3])
	f.Add(append(append([]byte(nil), seg...), 0, 0, 0, 40, 1, 2, 3))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := t.TempDir() + "/s"
		if err := writeBytes(path, b); err != nil {
			t.Fatal(err)
		}
		r, err := scanSegment(path, 1)
		if err != nil {
			t.Fatal(err)
		}
		if r.good > int64(len(b)) || (r.damage == nil && r.good != int64(len(b))) {
			t.Fatalf("scan %+v of %d bytes", r, len(b))
		}
		if _, err := scanFailed(b, nil); err != nil && !errors.Is(err, errShort) && !errors.Is(err, errCorrupt) {
			t.Fatalf("scanFailed: %v", err)
		}
	})
}
