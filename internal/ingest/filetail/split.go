package filetail

import "bytes"

// splitter cuts a byte stream, fed in chunks of any size, into lines.
//
// A line is the bytes before a '\n'; the '\n' is not part of it. A line
// longer than max bytes is cut to its first max+1 bytes, so that its
// consumer can tell it was oversize, and the rest of it is skipped. The
// splitter never holds more than max+1 bytes of the current line.
type splitter struct {
	max     int
	partial []byte // start of the current line, not yet ended; at most max+1 bytes
}

func newSplitter(max int) *splitter {
	return &splitter{max: max}
}

// next consumes bytes from p up to the end of the current line.
//
// If p contains a '\n', next returns the completed line, the number of bytes
// of p consumed (through the '\n') and ok = true. The line may alias p or the
// splitter's own buffer: it is valid only until the next call.
//
// Otherwise next keeps the start of the unfinished line (up to max+1 bytes)
// and returns n = len(p) and ok = false.
func (s *splitter) next(p []byte) (line []byte, n int, ok bool) {
	i := bytes.IndexByte(p, '\n')
	if i < 0 {
		s.absorb(p)
		return nil, len(p), false
	}
	if len(s.partial) == 0 {
		// Common case: the whole line is in p; no copy.
		if i > s.max {
			return p[:s.max+1], i + 1, true
		}
		return p[:i], i + 1, true
	}
	s.absorb(p[:i])
	line = s.partial
	s.partial = s.partial[:0]
	return line, i + 1, true
}

// absorb appends p to the unfinished line, dropping what goes past max+1 bytes.
func (s *splitter) absorb(p []byte) {
	if room := s.max + 1 - len(s.partial); len(p) > room {
		p = p[:room]
	}
	s.partial = append(s.partial, p...)
}

// pending reports whether an unfinished line (bytes after the last '\n') is held.
func (s *splitter) pending() bool { return len(s.partial) > 0 }

// rest returns the unfinished line, as next would return it had a '\n'
// followed, and resets the splitter. The result is valid until the next call.
func (s *splitter) rest() []byte {
	line := s.partial
	s.partial = s.partial[:0]
	return line
}

// reset drops any unfinished line.
func (s *splitter) reset() { s.partial = s.partial[:0] }
