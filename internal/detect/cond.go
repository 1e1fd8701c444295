package detect

import (
	"bytes"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// cond is a compiled condition.
type cond interface {
	eval(sc *scratch) bool
}

type allCond []cond

func (c allCond) eval(sc *scratch) bool {
	for _, x := range c {
		if !x.eval(sc) {
			return false
		}
	}
	return true
}

type anyCond []cond

func (c anyCond) eval(sc *scratch) bool {
	for _, x := range c {
		if x.eval(sc) {
			return true
		}
	}
	return false
}

type notCond struct{ c cond }

func (c notCond) eval(sc *scratch) bool { return !c.c.eval(sc) }

// op is a field test's operator.
type op uint8

const (
	opEquals op = iota
	opIn
	opContains
	opStartsWith
	opEndsWith
	opRegex
	opCIDR
	opExists
	opGT
	opGTE
	opLT
	opLTE
)

// opInfo describes an operator of the language.
type opInfo struct {
	name   string
	op     op
	nocase bool // the case-insensitive variant (iequals, …)
}

// operators are the operator keys of a field test.
var operators = []opInfo{
	{"equals", opEquals, false}, {"iequals", opEquals, true},
	{"in", opIn, false}, {"iin", opIn, true},
	{"contains", opContains, false}, {"icontains", opContains, true},
	{"startswith", opStartsWith, false}, {"istartswith", opStartsWith, true},
	{"endswith", opEndsWith, false}, {"iendswith", opEndsWith, true},
	{"regex", opRegex, false}, {"iregex", opRegex, true},
	{"cidr", opCIDR, false},
	{"exists", opExists, false},
	{"gt", opGT, false}, {"gte", opGTE, false},
	{"lt", opLT, false}, {"lte", opLTE, false},
}

func lookupOp(name string) (opInfo, bool) {
	for _, o := range operators {
		if o.name == name {
			return o, true
		}
	}
	return opInfo{}, false
}

func operatorNames() []string {
	names := make([]string, len(operators))
	for i, o := range operators {
		names[i] = o.name
	}
	return names
}

// setThreshold is the number of constants from which equality tests use a
// map rather than a scan.
const setThreshold = 8

// test is a compiled field test: it holds when some value of one of its
// fields passes.
type test struct {
	paths  []int
	op     op
	nocase bool
	strs   [][]byte // constants, lower-cased when nocase
	nums   []float64
	isNum  []bool // strs[i] is a number, nums[i] its value
	set    map[string]struct{}
	res    []*regexp.Regexp
	nets   []netip.Prefix
	num    float64
	exists bool
	plain  bool // equals or in, case-sensitive, without set
	anyNum bool // some constant is a number
}

func (t *test) eval(sc *scratch) bool {
	if t.plain {
		// equals or in, case-sensitive, few text constants: the common
		// case, compared without the general dispatch.
		for _, id := range t.paths {
			for _, v := range sc.get(id) {
				if v.kind == kindRaw {
					continue
				}
				for _, s := range t.strs {
					if string(v.b) == string(s) {
						return true
					}
				}
				if v.kind == kindNumber && t.anyNum && t.numEqual(v.b) {
					return true
				}
			}
		}
		return false
	}
	if t.op == opExists {
		for _, id := range t.paths {
			if sc.has(id) {
				return t.exists
			}
		}
		return !t.exists
	}
	for _, id := range t.paths {
		for _, v := range sc.get(id) {
			if t.match(sc, v) {
				return true
			}
		}
	}
	return false
}

func (t *test) match(sc *scratch, v value) bool {
	b := v.b
	switch t.op {
	case opGT, opGTE, opLT, opLTE:
		if v.kind != kindNumber && v.kind != kindString {
			return false
		}
		f, err := strconv.ParseFloat(string(b), 64)
		if err != nil {
			return false
		}
		switch t.op {
		case opGT:
			return f > t.num
		case opGTE:
			return f >= t.num
		case opLT:
			return f < t.num
		}
		return f <= t.num
	case opCIDR:
		if v.kind != kindString {
			return false
		}
		a, err := netip.ParseAddr(string(b))
		if err != nil {
			return false
		}
		a = a.Unmap()
		for _, n := range t.nets {
			if n.Contains(a) {
				return true
			}
		}
		return false
	case opRegex:
		for _, re := range t.res {
			if re.Match(b) {
				return true
			}
		}
		return false
	}
	if t.nocase {
		b = sc.lower(b)
	}
	switch t.op {
	case opEquals, opIn:
		if v.kind == kindRaw {
			return false
		}
		if t.set != nil {
			if _, ok := t.set[string(b)]; ok {
				return true
			}
		} else {
			for _, s := range t.strs {
				if bytes.Equal(b, s) {
					return true
				}
			}
		}
		if v.kind == kindNumber && t.anyNum {
			return t.numEqual(b)
		}
		return false
	case opContains:
		for _, s := range t.strs {
			if bytes.Contains(b, s) {
				return true
			}
		}
	case opStartsWith:
		for _, s := range t.strs {
			if bytes.HasPrefix(b, s) {
				return true
			}
		}
	case opEndsWith:
		for _, s := range t.strs {
			if bytes.HasSuffix(b, s) {
				return true
			}
		}
	}
	return false
}

// numEqual compares a number with the numeric constants by value (201
// equals 201.0 and 2.01e2).
func (t *test) numEqual(b []byte) bool {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return false
	}
	for i, ok := range t.isNum {
		if ok && t.nums[i] == f {
			return true
		}
	}
	return false
}

// lower returns b lower-cased, in the scratch's buffer (or b itself when
// it has no upper-case ASCII letter and is ASCII).
func (sc *scratch) lower(b []byte) []byte {
	ascii, upper := true, false
	for _, c := range b {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
		if 'A' <= c && c <= 'Z' {
			upper = true
		}
	}
	if !ascii {
		return bytes.ToLower(b)
	}
	if !upper {
		return b
	}
	sc.low = sc.low[:0]
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		sc.low = append(sc.low, c)
	}
	return sc.low
}

// newTest builds a test of the given operator over constants (already
// expanded from lists).
func newTest(paths []int, o opInfo, nocase bool, consts []string) (*test, error) {
	t := &test{paths: paths, op: o.op, nocase: nocase || o.nocase}
	switch o.op {
	case opRegex:
		for _, c := range consts {
			if t.nocase {
				c = "(?i)" + c
			}
			re, err := regexp.Compile(c)
			if err != nil {
				return nil, err
			}
			t.res = append(t.res, re)
		}
		return t, nil
	case opCIDR:
		for _, c := range consts {
			var p netip.Prefix
			var err error
			if strings.Contains(c, "/") {
				p, err = netip.ParsePrefix(c)
			} else {
				var a netip.Addr
				if a, err = netip.ParseAddr(c); err == nil {
					p = netip.PrefixFrom(a, a.BitLen())
				}
			}
			if err != nil {
				return nil, err
			}
			p = p.Masked()
			if p.Addr().Is4In6() {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			t.nets = append(t.nets, p)
		}
		return t, nil
	}
	for _, c := range consts {
		if t.nocase {
			c = strings.ToLower(c)
		}
		t.strs = append(t.strs, []byte(c))
		f, err := strconv.ParseFloat(c, 64)
		t.isNum = append(t.isNum, err == nil && c != "" && !strings.ContainsAny(c, "xXnN_"))
		t.nums = append(t.nums, f)
	}
	if (o.op == opEquals || o.op == opIn) && len(consts) >= setThreshold {
		t.set = make(map[string]struct{}, len(t.strs))
		for _, s := range t.strs {
			t.set[string(s)] = struct{}{}
		}
	}
	for _, n := range t.isNum {
		t.anyNum = t.anyNum || n
	}
	t.plain = (o.op == opEquals || o.op == opIn) && !t.nocase && t.set == nil
	return t, nil
}
