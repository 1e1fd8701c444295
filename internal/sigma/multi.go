package sigma

import (
	"sort"
	"strings"
)

// minMulti is the number of contains values of one field from which they
// are searched for together, in one pass over the text.
const minMulti = 4

// multiContains matches text containing any of several literals: one pass
// over the text tests each position's first two bytes against a bitmap of
// the literals' first two bytes, and only then compares the literals that
// start so. (Most texts share no two-byte prefix with a rule's literals:
// a request URI against a list of shell paths.)
type multiContains struct {
	fold    bool
	pairs   [1024]uint64        // bitmap of the literals' first two bytes
	byPair  map[uint16][]string // the literals by their first two bytes
	singles string              // one-byte literals
	firsts  string              // the distinct first bytes of the longer literals
	lits    []string
}

func newMultiContains(lits []string, fold bool) *multiContains {
	m := &multiContains{fold: fold, byPair: map[uint16][]string{}}
	sort.Strings(lits)
	for _, l := range lits {
		if len(l) == 1 {
			m.singles += l
			continue
		}
		k := uint16(l[0])<<8 | uint16(l[1])
		m.pairs[k>>6] |= 1 << (k & 63)
		if strings.IndexByte(m.firsts, l[0]) < 0 {
			m.firsts += l[:1]
		}
		m.byPair[k] = append(m.byPair[k], l)
	}
	m.lits = lits
	return m
}

func (m *multiContains) textual() bool { return true }

func (m *multiContains) key() string {
	p := "mc:"
	if !m.fold {
		p = "MC:"
	}
	return p + strings.Join(m.lits, "\x00")
}

func (m *multiContains) match(c *ctx, fv *fieldVal) bool {
	if fv.v == nil {
		return false
	}
	var s string
	if m.fold {
		s = fv.lower()
	} else {
		s = fv.text()
	}
	if m.singles != "" && strings.ContainsAny(s, m.singles) {
		return true
	}
	if len(m.firsts) <= 4 {
		// Few distinct first bytes: jump between their occurrences.
		for _, b := range []byte(m.firsts) {
			for i := 0; i+1 < len(s); {
				j := strings.IndexByte(s[i:len(s)-1], b)
				if j < 0 {
					break
				}
				i += j
				k := uint16(s[i])<<8 | uint16(s[i+1])
				if m.pairs[k>>6]&(1<<(k&63)) != 0 {
					for _, l := range m.byPair[k] {
						if strings.HasPrefix(s[i:], l) {
							return true
						}
					}
				}
				i++
			}
		}
		return false
	}
	for i := 0; i+1 < len(s); i++ {
		k := uint16(s[i])<<8 | uint16(s[i+1])
		if m.pairs[k>>6]&(1<<(k&63)) == 0 {
			continue
		}
		for _, l := range m.byPair[k] {
			if strings.HasPrefix(s[i:], l) {
				return true
			}
		}
	}
	return false
}

// mergeContains replaces the contains values of an OR-linked field
// condition by one multiContains when there are at least minMulti of them.
func mergeContains(groups [][]valueMatcher) [][]valueMatcher {
	var fold, cased []string
	n := 0
	for _, g := range groups {
		for _, a := range g {
			if sm, ok := a.(*strMatcher); ok && sm.shape == smContains && sm.lit != "" {
				n++
			}
		}
	}
	if n < minMulti {
		return groups
	}
	var out [][]valueMatcher
	for _, g := range groups {
		var rest []valueMatcher
		for _, a := range g {
			if sm, ok := a.(*strMatcher); ok && sm.shape == smContains && sm.lit != "" {
				if sm.fold {
					fold = append(fold, sm.lit)
				} else {
					cased = append(cased, sm.lit)
				}
				continue
			}
			rest = append(rest, a)
		}
		if len(rest) > 0 {
			out = append(out, rest)
		}
	}
	if len(fold) > 0 {
		out = append(out, []valueMatcher{newMultiContains(fold, true)})
	}
	if len(cased) > 0 {
		out = append(out, []valueMatcher{newMultiContains(cased, false)})
	}
	return out
}
