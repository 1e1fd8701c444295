package detect

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// template is a summary with {field} placeholders.
type template struct {
	parts []templatePart
}

// templatePart is literal text or, with paths set, a placeholder: the
// first of its fields that has a value.
type templatePart struct {
	text  string
	paths []string
	ids   []int
}

// parseTemplate reads "text {field.path} text"; "{a|b}" is the value of a,
// or of b when a has none; "{{" and "}}" stand for literal braces.
func parseTemplate(s string) (template, error) {
	var t template
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, templatePart{text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{' && i+1 < len(s) && s[i+1] == '{':
			lit.WriteByte('{')
			i++
		case c == '}' && i+1 < len(s) && s[i+1] == '}':
			lit.WriteByte('}')
			i++
		case c == '{':
			end := strings.IndexByte(s[i+1:], '}')
			if end < 0 || strings.IndexByte(s[i+1:i+1+end], '{') >= 0 {
				return template{}, errors.New("unclosed { in template (write {{ for a literal brace)")
			}
			var paths []string
			for _, p := range strings.Split(s[i+1:i+1+end], "|") {
				p = strings.TrimSpace(p)
				if msg := checkPath(p); msg != "" {
					return template{}, fmt.Errorf("placeholder {%s}: %s", s[i+1:i+1+end], msg)
				}
				paths = append(paths, p)
			}
			flush()
			t.parts = append(t.parts, templatePart{paths: paths})
			i += end + 1
		case c == '}':
			return template{}, errors.New("unmatched } in template (write }} for a literal brace)")
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return t, nil
}

// escapeTemplate returns s as a template of literal text.
func escapeTemplate(s string) string {
	return strings.NewReplacer("{", "{{", "}", "}}").Replace(s)
}

// Limits on rendered values.
const (
	maxSummaryValue = 256
	maxFieldValue   = 1024
)

// render fills in the placeholders; a field without value renders as "-".
func (t *template) render(sc *scratch) string {
	b := sc.out[:0]
	for _, p := range t.parts {
		if len(p.paths) == 0 {
			b = append(b, p.text...)
			continue
		}
		n := len(b)
		for _, id := range p.ids {
			if b = appendField(b, sc, id, maxSummaryValue); len(b) > n {
				break
			}
		}
		if len(b) == n {
			b = append(b, '-')
		}
	}
	sc.out = b
	return string(b)
}

// appendField appends the values of a path, comma-separated, truncated to
// about limit bytes.
func appendField(b []byte, sc *scratch, id, limit int) []byte {
	start := len(b)
	for i, v := range sc.get(id) {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, v.b...)
		if len(b)-start > limit {
			cut := start + limit
			for cut > start && !utf8.RuneStart(b[cut]) {
				cut--
			}
			return append(b[:cut], "…"...)
		}
	}
	return b
}
