package ingest

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// JSONPathAt returns the path of the scalar value of the JSON document doc
// that holds byte offset off, e.g. "requestObject.data.note" or
// "records[2].properties.log"; "" when doc is not JSON or off is not inside
// a scalar value. Findings use it to name the field that held card data.
func JSONPathAt(doc []byte, off int) string {
	type frame struct {
		obj       bool
		expectKey bool
		key       string
		idx       int
	}
	var st []frame
	value := func() { // a value starts in the innermost container
		if n := len(st); n > 0 && !st[n-1].obj {
			st[n-1].idx++
		}
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	for {
		start := int(dec.InputOffset())
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		end := int(dec.InputOffset())
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				value()
				st = append(st, frame{obj: d == '{', expectKey: d == '{', idx: -1})
			default:
				st = st[:len(st)-1]
				if n := len(st); n > 0 && st[n-1].obj {
					st[n-1].expectKey = true
				}
			}
			continue
		}
		if n := len(st); n > 0 && st[n-1].obj && st[n-1].expectKey {
			st[n-1].key, _ = tok.(string)
			st[n-1].expectKey = false
			continue
		}
		value()
		if off >= start && off < end {
			var b strings.Builder
			for _, f := range st {
				if f.obj {
					if b.Len() > 0 {
						b.WriteByte('.')
					}
					b.WriteString(f.key)
				} else {
					b.WriteString("[" + strconv.Itoa(f.idx) + "]")
				}
			}
			return b.String()
		}
		if n := len(st); n > 0 && st[n-1].obj {
			st[n-1].expectKey = true
		}
	}
}
