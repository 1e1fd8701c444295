package syslog

import (
	"bytes"
	"io"
)

// excerptBytes is how much of an oversized message a reject keeps.
const excerptBytes = 256

// maxLenDigits bounds MSG-LEN: 9 digits (< 1 GB). A longer run of digits
// is not taken for a length.
const maxLenDigits = 9

// frame is one frame of a stream. Frames do not depend on how the stream
// was cut into reads.
type frame struct {
	// msg is the message (SYSLOG-MSG), without MSG-LEN SP or the LF; for
	// an oversized frame, its first bytes (up to excerptBytes); for a
	// truncated frame, what arrived. It aliases the framer's buffer until
	// the next fill.
	msg []byte
	// octets is set for an octet-counted frame.
	octets bool
	// oversize is the size of an oversized message: the MSG-LEN of an
	// octet-counted frame, or the length of an LF-delimited one (up to the
	// LF or the end of the stream). 0 for a message within the limit.
	oversize int
	// truncated is set when the stream ended inside an octet-counted
	// frame; oversize then holds the MSG-LEN.
	truncated bool
}

// framer splits a TCP or TLS stream into syslog frames (RFC 6587 §3.4),
// detecting the framing of each frame from its first byte: a digit 1-9
// starts an octet-counted frame "MSG-LEN SP SYSLOG-MSG" (§3.4.1, and RFC
// 5425); anything else a frame ended by LF (non-transparent framing,
// §3.4.2). Empty LF-delimited frames are skipped. An octet-counted frame
// longer than max is returned as an excerpt and the rest of it skipped; an
// LF-delimited frame longer than max likewise, skipping to the next LF. A
// run of digits that is not followed by SP, or longer than 9 digits, starts
// an LF-delimited frame.
//
// The framer does no I/O of its own: next returns frames from what is
// buffered and false when it needs more, and fill reads once. So a read
// that times out loses nothing.
type framer struct {
	buf    []byte
	r, w   int
	max    int
	skip   int  // bytes of an oversized octet-counted frame still to discard
	skipLF bool // discarding an oversized LF-delimited frame up to the next LF
	lfOver int  // bytes of that frame so far
	// excerpt holds the start of the oversized LF-delimited frame.
	excerpt [excerptBytes]byte
	exLen   int
	eof     bool // the reader returned io.EOF (or another final error): what is buffered is all there is
}

func newFramer(max int) *framer {
	size := max + maxLenDigits + 8
	if size < 32<<10 {
		size = 32 << 10
	}
	return &framer{buf: make([]byte, size), max: max}
}

// fill compacts the buffer and reads once into it. It returns what Read
// returned; io.EOF (or any other error but a timeout, which the caller
// handles) should be followed by setting eof.
func (f *framer) fill(rd io.Reader) (int, error) {
	if f.r > 0 {
		f.w = copy(f.buf, f.buf[f.r:f.w])
		f.r = 0
	}
	n, err := rd.Read(f.buf[f.w:])
	f.w += n
	return n, err
}

// excerptLen is how much of an oversized frame is kept: excerptBytes, or
// less when the limit is smaller (tests), so that an LF-delimited frame's
// excerpt is there as soon as the frame is known to be too long.
func (f *framer) excerptLen() int { return min(excerptBytes, f.max+1) }

// buffered returns how many bytes are buffered and not yet framed.
func (f *framer) buffered() int { return f.w - f.r }

// next returns the next complete frame, or false when more input is needed
// (or, at eof, when nothing is left).
func (f *framer) next() (frame, bool) {
	for {
		if f.skip > 0 {
			n := min(f.skip, f.w-f.r)
			f.r += n
			f.skip -= n
			if f.skip > 0 {
				return frame{}, false
			}
		}
		if f.skipLF {
			i := bytes.IndexByte(f.buf[f.r:f.w], '\n')
			if i < 0 {
				f.lfOver += f.w - f.r
				f.r = f.w
				if !f.eof {
					return frame{}, false
				}
			} else {
				f.lfOver += i
				f.r += i + 1
			}
			f.skipLF = false
			return frame{msg: f.excerpt[:f.exLen], oversize: f.lfOver}, true
		}
		if f.r == f.w {
			return frame{}, false
		}
		if c := f.buf[f.r]; c >= '1' && c <= '9' {
			fr, ok, decided := f.octetCounted()
			if decided {
				return fr, ok
			}
		}
		fr, ok, again := f.lfDelimited()
		if again {
			continue
		}
		return fr, ok
	}
}

// octetCounted reads an octet-counted frame. decided is false when the
// bytes are not MSG-LEN SP, so the frame is LF-delimited.
func (f *framer) octetCounted() (fr frame, ok, decided bool) {
	b := f.buf[f.r:f.w]
	n, i := 0, 0
	for i < len(b) && i <= maxLenDigits && b[i] >= '0' && b[i] <= '9' {
		n = n*10 + int(b[i]-'0')
		i++
	}
	switch {
	case i > maxLenDigits:
		return frame{}, false, false
	case i == len(b):
		if f.eof {
			return frame{}, false, false
		}
		return frame{}, false, true // more digits may follow
	case b[i] != ' ':
		return frame{}, false, false
	}
	start := i + 1
	if n > f.max {
		ex := min(n, f.excerptLen())
		if len(b)-start < ex && !f.eof {
			return frame{}, false, true
		}
		ex = min(ex, len(b)-start)
		fr = frame{msg: b[start : start+ex], octets: true, oversize: n}
		f.r += start
		f.skip = n
		return fr, true, true
	}
	if len(b)-start >= n {
		f.r += start + n
		return frame{msg: b[start : start+n], octets: true}, true, true
	}
	if f.eof {
		f.r = f.w
		return frame{msg: b[start:], octets: true, truncated: true, oversize: n}, true, true
	}
	return frame{}, false, true
}

// lfDelimited reads a frame ended by LF. again is set when an empty frame
// was skipped.
func (f *framer) lfDelimited() (fr frame, ok, again bool) {
	b := f.buf[f.r:f.w]
	i := bytes.IndexByte(b, '\n')
	switch {
	case i == 0 || i == 1 && b[0] == '\r':
		f.r += i + 1
		return frame{}, false, true
	case i > f.max:
		f.r += i + 1
		return frame{msg: b[:min(i, f.excerptLen())], oversize: i}, true, false
	case i > 0:
		f.r += i + 1
		return frame{msg: b[:i]}, true, false
	case len(b) > f.max:
		// Too long and no LF yet: keep an excerpt, skip to the LF and
		// return the frame then, with its size.
		f.exLen = copy(f.excerpt[:f.excerptLen()], b)
		f.lfOver = len(b)
		f.r = f.w
		f.skipLF = true
		return frame{}, false, true
	case f.eof:
		// The stream ended without a last LF: the rest is the last message.
		f.r = f.w
		if len(b) == 1 && b[0] == '\r' {
			return frame{}, false, false
		}
		return frame{msg: b}, true, false
	}
	return frame{}, false, false
}
