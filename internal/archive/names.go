package archive

import (
	"fmt"
	"strconv"
	"strings"
)

// Object names inside the archive, relative to its prefix (FORMAT.md).
const (
	nameVerifier       = "log.pub"
	prefixSegments     = "segments/"
	prefixCheckpoints  = "checkpoints/"
	numberDigits       = 20
	maxArchivedOffsets = 1<<63 - 1
)

// ObjectKind is what an archive object holds.
type ObjectKind int

// The kinds of archive objects.
const (
	KindVerifier    ObjectKind = iota + 1 // the ledger's log.pub
	KindSegment                           // a chunk of a segment file
	KindCheckpoints                       // a chunk of the checkpoint log
)

// ObjectName is a parsed archive object name.
type ObjectName struct {
	Kind    ObjectKind
	Segment uint64 // KindSegment: the segment's first sequence number
	Offset  int64  // KindSegment, KindCheckpoints: byte offset of the chunk in its file
}

// String returns the object name.
func (n ObjectName) String() string {
	switch n.Kind {
	case KindVerifier:
		return nameVerifier
	case KindSegment:
		return segmentChunkName(n.Segment, n.Offset)
	case KindCheckpoints:
		return checkpointChunkName(n.Offset)
	}
	return fmt.Sprintf("invalid object kind %d", n.Kind)
}

// segmentChunkName is the object holding the bytes of segment first from
// byte offset off.
func segmentChunkName(first uint64, off int64) string {
	return fmt.Sprintf("%s%020d/%020d", prefixSegments, first, off)
}

// checkpointChunkName is the object holding the bytes of the checkpoint log
// from byte offset off.
func checkpointChunkName(off int64) string {
	return fmt.Sprintf("%s%020d", prefixCheckpoints, off)
}

// ParseObjectName parses an archive object name (relative to the prefix).
func ParseObjectName(s string) (ObjectName, error) {
	switch {
	case s == nameVerifier:
		return ObjectName{Kind: KindVerifier}, nil
	case strings.HasPrefix(s, prefixSegments):
		seg, off, ok := strings.Cut(s[len(prefixSegments):], "/")
		if !ok {
			return ObjectName{}, fmt.Errorf("archive object %q: want %s<first leaf, 20 digits>/<offset, 20 digits>", s, prefixSegments)
		}
		first, err := parseNumber(seg)
		if err != nil {
			return ObjectName{}, fmt.Errorf("archive object %q: segment: %w", s, err)
		}
		o, err := parseNumber(off)
		if err != nil || o > maxArchivedOffsets {
			return ObjectName{}, fmt.Errorf("archive object %q: offset: %v", s, orRange(err))
		}
		return ObjectName{Kind: KindSegment, Segment: first, Offset: int64(o)}, nil
	case strings.HasPrefix(s, prefixCheckpoints):
		o, err := parseNumber(s[len(prefixCheckpoints):])
		if err != nil || o > maxArchivedOffsets {
			return ObjectName{}, fmt.Errorf("archive object %q: offset: %v", s, orRange(err))
		}
		return ObjectName{Kind: KindCheckpoints, Offset: int64(o)}, nil
	}
	return ObjectName{}, fmt.Errorf("archive object %q is not part of a cdewatch archive (want %s, %s… or %s…)", s, nameVerifier, prefixSegments, prefixCheckpoints)
}

func orRange(err error) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("out of range")
}

// parseNumber reads exactly numberDigits decimal digits.
func parseNumber(s string) (uint64, error) {
	if len(s) != numberDigits {
		return 0, fmt.Errorf("%q: want %d digits", s, numberDigits)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%q: want %d digits", s, numberDigits)
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	return n, nil
}
