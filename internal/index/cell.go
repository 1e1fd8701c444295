package index

import "time"

// A cell is one column's value of a row as a mapping computes it and
// chunk.add stages it, held without boxing it in an interface (which cost
// a heap allocation per value). The zero cell is NULL.
type cell struct {
	k cellKind
	s string // text, unless b holds it
	b []byte // text, when the value is bytes of the record (valid while it is mapped)
	n uint64 // a number, as stagedColumn.nums holds it
	// checked: the text is valid UTF-8 and, for a JSON column, JSON that
	// validJSON accepts; the stage does not check it again.
	checked bool
}

// cellKind is what a cell holds; chunk.add checks it against the column.
type cellKind uint8

const (
	cellNull  cellKind = iota
	cellText           // for string and JSON columns
	cellInt            // for INTEGER (when it fits) and BIGINT columns
	cellUint           // for UBIGINT columns
	cellFloat          // for DOUBLE columns
	cellBool           // for BOOLEAN columns
	cellTime           // for TIMESTAMP columns: microseconds since the Unix epoch
)

var cellKindNames = [...]string{"NULL", "text", "integer", "unsigned integer", "float", "bool", "time"}

func (k cellKind) String() string {
	if int(k) < len(cellKindNames) {
		return cellKindNames[k]
	}
	return "unknown"
}

// text is a text value.
func text[S ~string](s S) cell { return cell{k: cellText, s: string(s)} }

// textBytes is a text value held in the record's bytes.
func textBytes(b []byte) cell { return cell{k: cellText, b: b} }

// integer is a signed integer value.
func integer[I ~int | ~int32 | ~int64](n I) cell { return cell{k: cellInt, n: uint64(int64(n))} }

// unsigned is an unsigned integer value.
func unsigned(n uint64) cell { return cell{k: cellUint, n: n} }

// boolean is a bool value.
func boolean(v bool) cell {
	c := cell{k: cellBool}
	if v {
		c.n = 1
	}
	return c
}

// timestamp is a time value, NULL for the zero time.
func timestamp(t time.Time) cell {
	if t.IsZero() {
		return cell{}
	}
	return at(t)
}

// at is a time value.
func at(t time.Time) cell { return cell{k: cellTime, n: uint64(t.UnixMicro())} }
