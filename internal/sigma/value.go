package sigma

import (
	"encoding/base64"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Token kinds of a Sigma string value: literal text, the * wildcard (any
// run of characters) and the ? wildcard (exactly one character).
const (
	tokLit = iota
	tokStar
	tokOne
)

type token struct {
	kind uint8
	lit  string
}

// pattern is a Sigma string value split into literals and wildcards.
type pattern []token

// parseWildcards splits a Sigma string into literals and wildcards. A
// backslash escapes *, ? and itself; before any other character it is a
// plain backslash (the Sigma specification's escaping rules).
func parseWildcards(s string) pattern {
	var p pattern
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			p = append(p, token{kind: tokLit, lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 < len(s) && (s[i+1] == '*' || s[i+1] == '?' || s[i+1] == '\\') {
				lit.WriteByte(s[i+1])
				i++
			} else {
				lit.WriteByte('\\')
			}
		case '*':
			flush()
			if len(p) == 0 || p[len(p)-1].kind != tokStar {
				p = append(p, token{kind: tokStar})
			}
		case '?':
			flush()
			p = append(p, token{kind: tokOne})
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return p
}

// literal returns the pattern's text when it has no wildcard.
func (p pattern) literal() (string, bool) {
	var b strings.Builder
	for _, t := range p {
		if t.kind != tokLit {
			return "", false
		}
		b.WriteString(t.lit)
	}
	return b.String(), true
}

func (p pattern) withStar(front, back bool) pattern {
	q := make(pattern, 0, len(p)+2)
	if front && (len(p) == 0 || p[0].kind != tokStar) {
		q = append(q, token{kind: tokStar})
	}
	q = append(q, p...)
	if back && (len(q) == 0 || q[len(q)-1].kind != tokStar) {
		q = append(q, token{kind: tokStar})
	}
	return q
}

// String renders the pattern back in Sigma syntax (for messages and keys).
func (p pattern) String() string {
	var b strings.Builder
	for _, t := range p {
		switch t.kind {
		case tokStar:
			b.WriteByte('*')
		case tokOne:
			b.WriteByte('?')
		default:
			for i := 0; i < len(t.lit); i++ {
				if c := t.lit[i]; c == '*' || c == '?' || c == '\\' {
					b.WriteByte('\\')
				}
				b.WriteByte(t.lit[i])
			}
		}
	}
	return b.String()
}

// valueMatcher decides whether one scalar field value (or, for textual
// matchers, the JSON text of an object or array) matches.
type valueMatcher interface {
	match(c *ctx, fv *fieldVal) bool
	// textual matchers also compare the JSON text of objects and arrays.
	textual() bool
	// key is a canonical description, for sharing identical conditions.
	key() string
}

// String matching shapes.
const (
	smExact = iota
	smPrefix
	smSuffix
	smContains
	smAny
	smGlob
)

// strMatcher matches text against a wildcard pattern, case-insensitively
// unless cased.
type strMatcher struct {
	shape uint8
	fold  bool
	lit   string  // the literal of exact, prefix, suffix, contains (lowered when fold)
	pat   pattern // for smGlob (literals lowered when fold)
	num   float64 // the literal as a number, when isNum
	isNum bool
	src   string // the pattern as written, for keys and messages
}

func newStrMatcher(p pattern, cased bool) *strMatcher {
	m := &strMatcher{fold: !cased, src: p.String()}
	low := func(s string) string {
		if m.fold {
			return strings.ToLower(s)
		}
		return s
	}
	n := len(p)
	switch {
	case n == 0:
		m.shape = smExact
	case n == 1 && p[0].kind == tokStar:
		m.shape = smAny
	case n == 1 && p[0].kind == tokLit:
		m.shape, m.lit = smExact, low(p[0].lit)
		if f, err := strconv.ParseFloat(strings.TrimSpace(p[0].lit), 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			m.num, m.isNum = f, true
		}
	case n == 2 && p[0].kind == tokLit && p[1].kind == tokStar:
		m.shape, m.lit = smPrefix, low(p[0].lit)
	case n == 2 && p[0].kind == tokStar && p[1].kind == tokLit:
		m.shape, m.lit = smSuffix, low(p[1].lit)
	case n == 3 && p[0].kind == tokStar && p[1].kind == tokLit && p[2].kind == tokStar:
		m.shape, m.lit = smContains, low(p[1].lit)
	default:
		m.shape = smGlob
		m.pat = make(pattern, len(p))
		for i, t := range p {
			m.pat[i] = token{kind: t.kind, lit: low(t.lit)}
		}
	}
	return m
}

func (m *strMatcher) textual() bool { return true }

func (m *strMatcher) key() string {
	if m.fold {
		return "s:" + m.src
	}
	return "S:" + m.src
}

func (m *strMatcher) match(c *ctx, fv *fieldVal) bool {
	if fv.v == nil {
		return false
	}
	if m.shape == smAny {
		return true
	}
	if f, ok := fv.v.(float64); ok && m.shape == smExact {
		// A number equals a numeric literal only; its text is a number.
		return m.isNum && f == m.num
	}
	var s string
	if m.fold {
		s = fv.lower()
	} else {
		s = fv.text()
	}
	switch m.shape {
	case smExact:
		return s == m.lit
	case smPrefix:
		return strings.HasPrefix(s, m.lit)
	case smSuffix:
		return strings.HasSuffix(s, m.lit)
	case smContains:
		return strings.Contains(s, m.lit)
	}
	return globMatch(m.pat, s)
}

// globMatch matches s against p: * any run of characters, ? one
// character (one UTF-8 sequence), literals exactly.
func globMatch(p pattern, s string) bool {
	// Iterative matching with backtracking to the last star.
	pi, si := 0, 0
	starP, starS := -1, 0
	for {
		if pi < len(p) {
			t := p[pi]
			switch t.kind {
			case tokStar:
				starP, starS = pi, si
				pi++
				continue
			case tokOne:
				if si < len(s) {
					_, n := utf8.DecodeRuneInString(s[si:])
					si += n
					pi++
					continue
				}
			default:
				if strings.HasPrefix(s[si:], t.lit) {
					si += len(t.lit)
					pi++
					continue
				}
			}
		} else if si == len(s) {
			return true
		}
		if starP < 0 || starS >= len(s) {
			return false
		}
		// Let the last star swallow one more character.
		_, n := utf8.DecodeRuneInString(s[starS:])
		starS += n
		pi, si = starP+1, starS
	}
}

// reMatcher matches text against a regular expression (Go RE2 syntax,
// which covers the metacharacters the Sigma specification allows).
type reMatcher struct {
	re  *regexp.Regexp
	src string
}

func (m *reMatcher) textual() bool { return true }
func (m *reMatcher) key() string   { return "re:" + m.re.String() }
func (m *reMatcher) match(c *ctx, fv *fieldVal) bool {
	if fv.v == nil {
		return false
	}
	return m.re.MatchString(fv.text())
}

// cidrMatcher matches an IP address in a network.
type cidrMatcher struct{ pfx netip.Prefix }

func (m *cidrMatcher) textual() bool { return false }
func (m *cidrMatcher) key() string   { return "cidr:" + m.pfx.String() }
func (m *cidrMatcher) match(c *ctx, fv *fieldVal) bool {
	s, ok := fv.v.(string)
	if !ok {
		return false
	}
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		// "1.2.3.4:5678" and "[::1]:80" carry a port.
		ap, err2 := netip.ParseAddrPort(strings.TrimSpace(s))
		if err2 != nil {
			return false
		}
		a = ap.Addr()
	}
	return m.pfx.Contains(a.Unmap())
}

// numMatcher compares a number (a JSON number or a numeric string).
type numMatcher struct {
	op string // lt, lte, gt, gte
	n  float64
}

func (m *numMatcher) textual() bool { return false }
func (m *numMatcher) key() string   { return m.op + ":" + strconv.FormatFloat(m.n, 'g', -1, 64) }
func (m *numMatcher) match(c *ctx, fv *fieldVal) bool {
	f, ok := number(fv.v)
	if !ok {
		return false
	}
	return compare(m.op, f, m.n)
}

func compare(op string, a, b float64) bool {
	switch op {
	case "lt":
		return a < b
	case "lte":
		return a <= b
	case "gt":
		return a > b
	case "gte":
		return a >= b
	}
	return a == b
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	}
	return 0, false
}

// timeMatcher extracts a part of a timestamp (minute, hour, day, week,
// month, year) and compares it (eq, or a numeric modifier after it).
type timeMatcher struct {
	part string
	op   string
	n    float64
}

func (m *timeMatcher) textual() bool { return false }
func (m *timeMatcher) key() string {
	return "t:" + m.part + ":" + m.op + ":" + strconv.FormatFloat(m.n, 'g', -1, 64)
}
func (m *timeMatcher) match(c *ctx, fv *fieldVal) bool {
	s, ok := fv.v.(string)
	if !ok {
		return false
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return false
	}
	t = t.UTC()
	var v int
	switch m.part {
	case "minute":
		v = t.Minute()
	case "hour":
		v = t.Hour()
	case "day":
		v = t.Day()
	case "week":
		_, v = t.ISOWeek()
	case "month":
		v = int(t.Month())
	case "year":
		v = t.Year()
	}
	return compare(m.op, float64(v), m.n)
}

// fieldrefMatcher compares with the values of another field of the same
// event.
type fieldrefMatcher struct {
	ref  *fieldRef
	fold bool
}

// Modifiers cdewatch knows, by kind.
func modifierKind(m string) string {
	switch m {
	case "contains", "startswith", "endswith":
		return "position"
	case "all", "cased", "neq":
		return "flag"
	case "base64", "base64offset", "utf16le", "utf16be", "utf16", "wide", "windash":
		return "transform"
	case "re", "cidr", "lt", "lte", "gt", "gte", "exists", "fieldref", "expand":
		return "type"
	case "i", "m", "s", "ignorecase", "multiline", "dotall":
		return "re-flag"
	case "minute", "hour", "day", "week", "month", "year":
		return "time"
	}
	return ""
}

// valueSpec is what a field's modifiers say about its values.
type valueSpec struct {
	mods        []string
	contains    bool
	startswith  bool
	endswith    bool
	all         bool
	cased       bool
	neq         bool
	re          bool
	reFlags     string
	cidr        bool
	numOp       string // lt, lte, gt, gte
	exists      bool
	fieldref    bool
	expand      bool
	timePart    string
	transforms  []string // base64, base64offset, utf16le, utf16be, utf16, wide, windash in order
	keyword     bool
	positionSet bool
}

// parseModifiers validates a modifier chain ("contains", "all", …).
func parseModifiers(mods []string, keyword bool) (*valueSpec, error) {
	vs := &valueSpec{mods: mods, keyword: keyword}
	seen := map[string]bool{}
	for i, m := range mods {
		kind := modifierKind(m)
		if kind == "" {
			if m == "" {
				return nil, fmt.Errorf("empty modifier")
			}
			return nil, unsupported("modifier %q is not a Sigma modifier cdewatch knows", m)
		}
		if seen[m] {
			return nil, fmt.Errorf("modifier %q given twice", m)
		}
		seen[m] = true
		if vs.re && kind != "re-flag" {
			return nil, fmt.Errorf("modifier %q after re: only the re flags i, m and s may follow re", m)
		}
		switch kind {
		case "position":
			if vs.positionSet {
				return nil, fmt.Errorf("modifier %q with another of contains, startswith, endswith", m)
			}
			vs.positionSet = true
			switch m {
			case "contains":
				vs.contains = true
			case "startswith":
				vs.startswith = true
			default:
				vs.endswith = true
			}
		case "flag":
			switch m {
			case "all":
				vs.all = true
			case "cased":
				vs.cased = true
			default:
				vs.neq = true
			}
		case "transform":
			if vs.positionSet && m != "windash" {
				return nil, fmt.Errorf("modifier %q after %s: encode the value before placing it", m, positionName(vs))
			}
			vs.transforms = append(vs.transforms, m)
		case "re-flag":
			if !vs.re {
				return nil, fmt.Errorf("modifier %q without re before it", m)
			}
			switch m {
			case "i", "ignorecase":
				vs.reFlags += "i"
			case "m", "multiline":
				vs.reFlags += "m"
			default:
				vs.reFlags += "s"
			}
		case "time":
			if vs.timePart != "" {
				return nil, fmt.Errorf("modifier %q with %q: one time part only", m, vs.timePart)
			}
			vs.timePart = m
		case "type":
			switch m {
			case "re":
				if i > 0 && !onlyFlags(mods[:i], "all", "cased") {
					return nil, fmt.Errorf("modifier re with %s: a regular expression takes no other modifier", strings.Join(mods[:i], "|"))
				}
				vs.re = true
			case "cidr":
				vs.cidr = true
			case "lt", "lte", "gt", "gte":
				if vs.numOp != "" {
					return nil, fmt.Errorf("modifier %q with %q: one comparison only", m, vs.numOp)
				}
				vs.numOp = m
			case "exists":
				vs.exists = true
			case "fieldref":
				vs.fieldref = true
			case "expand":
				vs.expand = true
			}
		}
	}
	typed := 0
	for _, b := range []bool{vs.re, vs.cidr, vs.numOp != "", vs.exists, vs.fieldref} {
		if b {
			typed++
		}
	}
	if typed > 1 {
		return nil, fmt.Errorf("modifiers %s combine incompatible types", strings.Join(mods, "|"))
	}
	if typed == 1 && (vs.positionSet || len(vs.transforms) > 0) && !vs.fieldref {
		return nil, fmt.Errorf("modifiers %s: re, cidr, lt/lte/gt/gte and exists take no string modifier", strings.Join(mods, "|"))
	}
	if vs.fieldref && (vs.positionSet || len(vs.transforms) > 0 || vs.all) {
		return nil, unsupported("modifiers %s: fieldref combines only with neq and cased in cdewatch", strings.Join(mods, "|"))
	}
	if vs.exists && (vs.all || vs.neq || vs.cased) {
		return nil, fmt.Errorf("modifiers %s: exists takes no other modifier", strings.Join(mods, "|"))
	}
	if vs.timePart != "" && (vs.re || vs.cidr || vs.exists || vs.fieldref || vs.positionSet || len(vs.transforms) > 0) {
		return nil, fmt.Errorf("modifier %s extracts a number from a date: only lt, lte, gt, gte may go with it", vs.timePart)
	}
	if keyword && (vs.exists || vs.fieldref || vs.neq) {
		return nil, fmt.Errorf("modifiers %s need a field: a keyword search has none", strings.Join(mods, "|"))
	}
	for i, t := range vs.transforms {
		if strings.HasPrefix(t, "utf16") || t == "wide" {
			rest := vs.transforms[i+1:]
			if len(rest) == 0 || (rest[0] != "base64" && rest[0] != "base64offset") {
				return nil, fmt.Errorf("modifier %s must be followed by base64 or base64offset: a UTF-16 value matches no text", t)
			}
		}
	}
	return vs, nil
}

func positionName(vs *valueSpec) string {
	switch {
	case vs.contains:
		return "contains"
	case vs.startswith:
		return "startswith"
	}
	return "endswith"
}

func onlyFlags(mods []string, allowed ...string) bool {
	for _, m := range mods {
		ok := false
		for _, a := range allowed {
			ok = ok || m == a
		}
		if !ok {
			return false
		}
	}
	return true
}

// maxExpansion caps the alternatives one value may expand into
// (windash permutations, placeholders).
const maxExpansion = 4096

// compileValue turns the text of one YAML scalar of a field (or keyword)
// into the alternatives it matches (OR-linked); ref resolves the field a
// fieldref value names.
func (vs *valueSpec) compileValue(raw string, placeholders map[string][]string, ref func(string) (*fieldRef, error)) ([]valueMatcher, error) {
	switch {
	case vs.fieldref:
		f, err := ref(raw)
		if err != nil {
			return nil, err
		}
		return []valueMatcher{&fieldrefMatcher{ref: f, fold: !vs.cased}}, nil
	case vs.re:
		flags := vs.reFlags
		src := raw
		if flags != "" {
			src = "(?" + flags + ")" + raw
		}
		re, err := regexp.Compile(src)
		if err != nil {
			return nil, fmt.Errorf("re: %q: %w", raw, err)
		}
		return []valueMatcher{&reMatcher{re: re, src: raw}}, nil
	case vs.cidr:
		pfx, err := netip.ParsePrefix(strings.TrimSpace(raw))
		if err != nil {
			if a, err2 := netip.ParseAddr(strings.TrimSpace(raw)); err2 == nil {
				pfx = netip.PrefixFrom(a, a.BitLen())
			} else {
				return nil, fmt.Errorf("cidr: %q is not a network: %w", raw, err)
			}
		}
		return []valueMatcher{&cidrMatcher{pfx: pfx.Masked()}}, nil
	case vs.timePart != "":
		n, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a number", vs.timePart, raw)
		}
		op := vs.numOp
		if op == "" {
			op = "eq"
		}
		return []valueMatcher{&timeMatcher{part: vs.timePart, op: op, n: n}}, nil
	case vs.numOp != "":
		n, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if err != nil || math.IsNaN(n) {
			return nil, fmt.Errorf("%s: %q is not a number", vs.numOp, raw)
		}
		return []valueMatcher{&numMatcher{op: vs.numOp, n: n}}, nil
	}
	raws := []string{raw}
	if vs.expand {
		var err error
		if raws, err = expandPlaceholders(raw, placeholders); err != nil {
			return nil, err
		}
	}
	var pats []pattern
	for _, r := range raws {
		pats = append(pats, parseWildcards(r))
	}
	for _, t := range vs.transforms {
		var next []pattern
		for _, p := range pats {
			out, err := transform(t, p)
			if err != nil {
				return nil, err
			}
			next = append(next, out...)
			if len(next) > maxExpansion {
				return nil, unsupported("%s: value %q expands into more than %d alternatives", t, raw, maxExpansion)
			}
		}
		pats = next
	}
	out := make([]valueMatcher, 0, len(pats))
	for _, p := range pats {
		switch {
		case vs.contains:
			p = p.withStar(true, true)
		case vs.startswith:
			p = p.withStar(false, true)
		case vs.endswith:
			p = p.withStar(true, false)
		case vs.keyword:
			// A keyword is searched for anywhere in the event's text.
			p = p.withStar(true, true)
		}
		out = append(out, newStrMatcher(p, vs.cased))
	}
	return out, nil
}

// transform applies an encoding modifier to a pattern.
func transform(name string, p pattern) ([]pattern, error) {
	if name == "windash" {
		out := windash(p)
		if out == nil {
			return nil, unsupported("windash: value %q has too many flags: more than %d alternatives", p.String(), maxExpansion)
		}
		return out, nil
	}
	lit, ok := p.literal()
	if !ok {
		return nil, fmt.Errorf("%s: value %q has wildcards: an encoded value must be literal", name, p.String())
	}
	one := func(s string) []pattern { return []pattern{{{kind: tokLit, lit: s}}} }
	switch name {
	case "base64":
		return one(base64.StdEncoding.EncodeToString([]byte(lit))), nil
	case "base64offset":
		// The three encodings of the value at offsets 0, 1 and 2 of a
		// longer base64 text, without the characters that depend on its
		// neighbours (as pySigma computes them).
		start := [3]int{0, 2, 3}
		endTrim := [3]int{0, 3, 2}
		var out []pattern
		for i := 0; i < 3; i++ {
			enc := base64.StdEncoding.EncodeToString(append([]byte(strings.Repeat(" ", i)), lit...))
			end := len(enc) - endTrim[(len(lit)+i)%3]
			if start[i] > end {
				continue
			}
			out = append(out, one(enc[start[i]:end])...)
		}
		return out, nil
	case "utf16le", "wide":
		return one(encodeUTF16(lit, false, false)), nil
	case "utf16be":
		return one(encodeUTF16(lit, true, false)), nil
	case "utf16":
		return one(encodeUTF16(lit, false, true)), nil
	}
	return nil, fmt.Errorf("unknown transformation %q", name)
}

func encodeUTF16(s string, bigEndian, bom bool) string {
	u := utf16.Encode([]rune(s))
	var b []byte
	if bom {
		b = append(b, 0xff, 0xfe)
	}
	for _, c := range u {
		if bigEndian {
			b = append(b, byte(c>>8), byte(c))
		} else {
			b = append(b, byte(c), byte(c>>8))
		}
	}
	return string(b)
}

// windash expands each - or / that starts a word (regexp \B[-/]\b, as
// pySigma) into all five dash characters, every combination; nil when
// there would be more than maxExpansion.
func windash(p pattern) []pattern {
	out := []pattern{nil}
	for _, t := range p {
		if t.kind != tokLit {
			for i := range out {
				out[i] = append(out[i], t)
			}
			continue
		}
		// Split the literal at the flag characters.
		parts := []string{""}
		s := t.lit
		for i := 0; i < len(s); {
			r, n := utf8.DecodeRuneInString(s[i:])
			if (r == '-' || r == '/') && !wordBefore(s, i) && wordAfter(s, i+n) {
				parts = append(parts, "") // a flag position
				parts = append(parts, "")
				i += n
				continue
			}
			parts[len(parts)-1] += s[i : i+n]
			i += n
		}
		// parts alternates literal, flag, literal, flag, …: flags are the
		// empty strings at odd indexes.
		// A Windows command-line flag may start with any of these.
		windashChars := []string{"-", "/", "\u2013", "\u2014", "\u2015"}
		lits := []string{""}
		for i, part := range parts {
			if i%2 == 1 {
				if len(lits)*len(windashChars)*len(out) > maxExpansion {
					return nil
				}
				var next []string
				for _, l := range lits {
					for _, d := range windashChars {
						next = append(next, l+d)
					}
				}
				lits = next
				continue
			}
			for j := range lits {
				lits[j] += part
			}
		}
		var next []pattern
		for _, o := range out {
			for _, l := range lits {
				q := append(append(pattern(nil), o...), token{kind: tokLit, lit: l})
				next = append(next, q)
			}
		}
		out = next
	}
	return out
}

func isWordRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

func wordBefore(s string, i int) bool {
	if i == 0 {
		return false
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return isWordRune(r)
}

func wordAfter(s string, i int) bool {
	if i >= len(s) {
		return false
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return isWordRune(r)
}

// expandPlaceholders replaces each %name% of s (not preceded by a
// backslash) with each value defined for it, all combinations.
func expandPlaceholders(s string, defs map[string][]string) ([]string, error) {
	out := []string{""}
	for i := 0; i < len(s); {
		c := s[i]
		if c == '\\' && i+1 < len(s) && s[i+1] == '%' {
			for j := range out {
				out[j] += "%"
			}
			i += 2
			continue
		}
		if c == '%' {
			end := strings.IndexByte(s[i+1:], '%')
			if end < 0 {
				return nil, fmt.Errorf("expand: unterminated placeholder in %q", s)
			}
			name := s[i+1 : i+1+end]
			vals, ok := defs[name]
			if !ok || len(vals) == 0 {
				return nil, unsupported("expand: placeholder %%%s%% has no values (define it in the loader's Placeholders)", name)
			}
			var next []string
			for _, o := range out {
				for _, v := range vals {
					next = append(next, o+v)
				}
			}
			if len(next) > maxExpansion {
				return nil, unsupported("expand: %q expands into more than %d alternatives", s, maxExpansion)
			}
			out = next
			i += end + 2
			continue
		}
		for j := range out {
			out[j] += s[i : i+1]
		}
		i++
	}
	return out, nil
}
