package sigma

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// pair is one key/value of a YAML mapping.
type pair struct {
	key  string
	kn   *yaml.Node
	v    *yaml.Node
	path string // attribute path of the value, e.g. "detection.selection"
}

// pairs returns the entries of a mapping node, rejecting duplicate and
// non-string keys. at is the attribute path of the mapping ("" for the
// document).
func pairs(n *yaml.Node, at string) ([]pair, *posError) {
	if n.Kind != yaml.MappingNode {
		return nil, errf(n, at, "want a mapping, got %s", kindName(n))
	}
	out := make([]pair, 0, len(n.Content)/2)
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, errf(k, at, "a key must be a string, got %s", kindName(k))
		}
		p := k.Value
		if at != "" {
			p = at + "." + k.Value
		}
		if line, dup := seen[k.Value]; dup {
			return nil, errf(k, p, "duplicate key %q (first at line %d)", k.Value, line)
		}
		seen[k.Value] = k.Line
		out = append(out, pair{key: k.Value, kn: k, v: v, path: p})
	}
	return out, nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return "a scalar"
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

// resolveAlias follows YAML aliases (*anchor).
func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 16; i++ {
		n = n.Alias
	}
	return n
}

// str reads a string scalar (numbers and booleans as written).
func str(n *yaml.Node, at string) (string, *posError) {
	n = resolveAlias(n)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", errf(n, at, "want a string, got %s", kindName(n))
	}
	return n.Value, nil
}

// strList reads a string or a list of strings.
func strList(n *yaml.Node, at string) ([]string, *posError) {
	n = resolveAlias(n)
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		return []string{n.Value}, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, errf(n, at, "want a string or a list of strings, got %s", kindName(n))
	}
	out := make([]string, 0, len(n.Content))
	for i, e := range n.Content {
		s, err := str(e, fmt.Sprintf("%s[%d]", at, i))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// scalarValue reads a detection value: its text (integers and floats in
// canonical decimal form, booleans as true or false) and whether it is
// null.
func scalarValue(n *yaml.Node, at string) (text string, null bool, err *posError) {
	n = resolveAlias(n)
	if n.Kind != yaml.ScalarNode {
		return "", false, errf(n, at, "a value must be a string, number, boolean or null, got %s", kindName(n))
	}
	switch n.Tag {
	case "!!null":
		return "", true, nil
	case "!!int":
		if i, e := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); e == nil {
			return strconv.FormatInt(i, 10), false, nil
		}
	case "!!float":
		if f, e := strconv.ParseFloat(n.Value, 64); e == nil {
			return strconv.FormatFloat(f, 'f', -1, 64), false, nil
		}
	case "!!bool":
		return strings.ToLower(n.Value), false, nil
	}
	return n.Value, false, nil
}
