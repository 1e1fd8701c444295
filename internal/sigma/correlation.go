package sigma

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Correlation types.
const (
	EventCount      = "event_count"
	ValueCount      = "value_count"
	Temporal        = "temporal"
	TemporalOrdered = "temporal_ordered"
)

// Bound is one criterion of a correlation condition: the count compared
// with N by Op (gt, gte, lt, lte or eq).
type Bound struct {
	Op string `json:"op"`
	N  int    `json:"n"`
}

// Correlation is a loaded Sigma v2 correlation rule: it fires on a number
// or a sequence of matches of other rules within a time span, per group.
type Correlation struct {
	Meta
	// Type is event_count, value_count, temporal or temporal_ordered.
	Type string
	// Rules are the rules correlated, as written (ids or names); Refs are
	// their ids in the same order.
	Rules []string
	Refs  []string
	// GroupBy are the fields whose values make a group (aliases allowed).
	GroupBy []string
	// Timespan is the sliding window.
	Timespan time.Duration
	// Condition are the criteria the count must meet (AND-linked): events
	// for event_count, distinct values of CountFields for value_count,
	// distinct rules matched for temporal (default: all of them), rules
	// matched in order for temporal_ordered (default: all of them).
	Condition   []Bound
	CountFields []string
	// Aliases map an alias used in GroupBy to the field of each rule (by
	// id or name).
	Aliases map[string]map[string]string
	// Generate says the correlated rules also raise alerts of their own.
	Generate bool

	index  int
	deps   []dep // the correlated rules or correlations, as Refs
	fp     string
	emits  bool // raises alerts of its own (not only feeding other correlations)
	linked bool
}

// dep is a correlated rule or correlation.
type dep struct {
	rule *Rule
	corr *Correlation
}

func (d dep) id() string {
	if d.rule != nil {
		return d.rule.ID
	}
	return d.corr.ID
}

// parseCorrelation reads the correlation section (and the generate
// attribute) of a correlation rule.
func parseCorrelation(p pair, generate *yaml.Node, c *Correlation) *posError {
	ps, err := pairs(resolveAlias(p.v), p.path)
	if err != nil {
		return err
	}
	var condNode *yaml.Node
	var condPath string
	seen := map[string]bool{}
	for _, q := range ps {
		seen[q.key] = true
		switch q.key {
		case "type":
			c.Type, err = str(q.v, q.path)
			if err == nil {
				switch c.Type {
				case EventCount, ValueCount, Temporal, TemporalOrdered:
				case "value_sum", "value_avg", "value_percentile", "value_median", "value_min", "value_max":
					err = errAt(q.v, q.path, unsupported("correlation type %s is not implemented: cdewatch evaluates event_count, value_count, temporal and temporal_ordered", c.Type))
				default:
					err = errf(q.v, q.path, "unknown correlation type %q: want event_count, value_count, temporal or temporal_ordered", c.Type)
				}
			}
		case "rules":
			c.Rules, err = strList(q.v, q.path)
			if err == nil && len(c.Rules) == 0 {
				err = errf(q.v, q.path, "no rules")
			}
		case "group-by":
			c.GroupBy, err = strList(q.v, q.path)
		case "timespan":
			var s string
			if s, err = str(q.v, q.path); err == nil {
				var e error
				if c.Timespan, e = parseTimespan(s); e != nil {
					err = errAt(q.v, q.path, e)
				}
			}
		case "condition":
			condNode, condPath = resolveAlias(q.v), q.path
		case "aliases":
			err = parseAliases(q, c)
		case "generate":
			generate = q.v
		case "timeframe":
			err = errf(q.kn, q.path, "timeframe is not a correlation attribute: use timespan")
		case "ordered":
			err = errAt(q.kn, q.path, unsupported("ordered is a draft attribute: use type temporal_ordered"))
		}
		if err != nil {
			return err
		}
	}
	for _, k := range []string{"type", "rules", "timespan"} {
		if !seen[k] {
			return errf(p.v, p.path+"."+k, "missing")
		}
	}
	if generate != nil {
		g, err := str(generate, "generate")
		if err != nil {
			return err
		}
		switch strings.ToLower(g) {
		case "true":
			c.Generate = true
		case "false":
		default:
			return errf(generate, "generate", "want true or false, got %q", g)
		}
	}
	if condNode == nil {
		if c.Type == EventCount || c.Type == ValueCount {
			return errf(p.v, p.path+".condition", "missing: %s needs a condition such as gte: 5", c.Type)
		}
		return nil
	}
	return parseCorrCondition(condNode, condPath, c)
}

func parseCorrCondition(n *yaml.Node, at string, c *Correlation) *posError {
	ps, err := pairs(n, at)
	if err != nil {
		return err
	}
	for _, q := range ps {
		switch q.key {
		case "gt", "gte", "lt", "lte", "eq":
			s, err := str(q.v, q.path)
			if err != nil {
				return err
			}
			v, e := strconv.Atoi(strings.TrimSpace(s))
			if e != nil || v < 0 {
				return errf(q.v, q.path, "want a count (an integer ≥ 0), got %q", s)
			}
			c.Condition = append(c.Condition, Bound{Op: q.key, N: v})
		case "field":
			c.CountFields, err = strList(q.v, q.path)
			if err != nil {
				return err
			}
		default:
			return errf(q.kn, q.path, "unknown condition criterion %q: want gt, gte, lt, lte, eq (and field for value_count)", q.key)
		}
	}
	if len(c.Condition) == 0 {
		return errf(n, at, "no criterion: want one of gt, gte, lt, lte, eq")
	}
	switch {
	case c.Type == ValueCount && len(c.CountFields) == 0:
		return errf(n, at+".field", "missing: value_count counts the distinct values of a field")
	case c.Type != ValueCount && len(c.CountFields) > 0:
		return errf(n, at+".field", "only value_count counts the values of a field")
	}
	if c.Type == Temporal || c.Type == TemporalOrdered {
		for _, b := range c.Condition {
			if b.Op != "gt" && b.Op != "gte" {
				return errAt(n, at, unsupported("%s condition %s: cdewatch evaluates temporal correlations with gt or gte only", c.Type, b.Op))
			}
		}
	}
	return nil
}

func parseAliases(q pair, c *Correlation) *posError {
	ps, err := pairs(resolveAlias(q.v), q.path)
	if err != nil {
		return err
	}
	c.Aliases = map[string]map[string]string{}
	for _, a := range ps {
		rs, err := pairs(resolveAlias(a.v), a.path)
		if err != nil {
			return err
		}
		m := map[string]string{}
		for _, r := range rs {
			f, err := str(r.v, r.path)
			if err != nil {
				return err
			}
			m[r.key] = f
		}
		c.Aliases[a.key] = m
	}
	return nil
}

// eager reports whether the condition has lower bounds only (gt, gte):
// it can fire as soon as it holds. Otherwise it is decided when a group's
// window closes.
func (c *Correlation) eager() bool {
	for _, b := range c.Condition {
		if b.Op != "gt" && b.Op != "gte" {
			return false
		}
	}
	return true
}

// holds reports whether n meets the condition (for temporal types
// without one: all the rules).
func (c *Correlation) holds(n int) bool {
	if len(c.Condition) == 0 {
		return n >= len(c.Refs)
	}
	for _, b := range c.Condition {
		if !compare(b.Op, float64(n), float64(b.N)) {
			return false
		}
	}
	return true
}

// fieldFor returns the field of the rule with id or name that group-by
// field (or alias) g means.
func (c *Correlation) fieldFor(g string, d dep) string {
	if m, ok := c.Aliases[g]; ok {
		for _, k := range []string{d.id(), depName(d)} {
			if f, ok := m[k]; ok && k != "" {
				return f
			}
		}
	}
	return g
}

func depName(d dep) string {
	if d.rule != nil {
		return d.rule.Name
	}
	return d.corr.Name
}

// fingerprint identifies the semantics of the correlation, so that state
// saved for a different definition is dropped on restore.
func (c *Correlation) fingerprint() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%v|%v|%s|%v|%v|%v", c.Type, c.Refs, c.GroupBy, c.Timespan, c.Condition, c.CountFields, c.Aliases)
	return b.String()
}
