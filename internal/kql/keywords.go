package kql

// Operators lists the tabular operators the parser reads, in the form they
// are written after '|'.
var Operators = []string{
	"where", "filter", "project", "project-away", "project-keep", "project-rename",
	"project-reorder", "project-by-names", "extend", "summarize", "order", "sort",
	"top", "take", "limit", "distinct", "count", "union", "join", "lookup",
	"mv-expand", "mv-apply", "partition", "fork", "facet", "parse", "parse-where", "parse-kv", "render",
	"serialize", "getschema", "as", "invoke", "sample", "sample-distinct",
	"top-nested", "top-hitters", "evaluate", "make-series", "search", "reduce", "scan",
	"make-graph", "graph-match", "graph-shortest-paths", "graph-to-table", "graph-mark-components",
}

// unsupportedOperators are Kusto operators this parser knows by name but
// does not read; they get a "not supported" error rather than a suggestion.
var unsupportedOperators = map[string]bool{
	"graph-merge": true,
	"find":        true, "macro-expand": true, "consume": true,
	"assert-schema": true, "execute-and-cache": true, "project-smart": true,
}

// pipeOnlyOperators are operators that cannot start a statement: a
// statement that starts with one followed by its arguments lacks a '|'.
var pipeOnlyOperators = map[string]bool{
	"where": true, "filter": true, "project": true, "extend": true, "summarize": true,
	"order": true, "sort": true, "top": true, "take": true, "limit": true, "join": true,
	"distinct": true, "render": true, "parse": true, "lookup": true,
}

// stringOps are the binary string operators (they bind tighter than '*').
var stringOps = map[string]bool{
	"=~": true, "!~": true,
	"contains": true, "!contains": true, "contains_cs": true, "!contains_cs": true,
	"has": true, "!has": true, "has_cs": true, "!has_cs": true,
	"hasprefix": true, "!hasprefix": true, "hasprefix_cs": true, "!hasprefix_cs": true,
	"hassuffix": true, "!hassuffix": true, "hassuffix_cs": true, "!hassuffix_cs": true,
	"startswith": true, "!startswith": true, "startswith_cs": true, "!startswith_cs": true,
	"endswith": true, "!endswith": true, "endswith_cs": true, "!endswith_cs": true,
	"matches": true, // followed by "regex"
}

// listOps take a parenthesised list on the right.
var listOps = map[string]bool{
	"in": true, "!in": true, "in~": true, "!in~": true, "has_any": true, "has_all": true,
}

// operatorWords are the words that can only be binary operators: one
// where an operand should be means the left operand is missing.
var operatorWords = func() map[string]bool {
	m := map[string]bool{"and": true, "or": true, "between": true, "matches": true}
	for w := range stringOps {
		m[w] = true
	}
	for w := range listOps {
		m[w] = true
	}
	return m
}()

// binaryWords is every word that can follow an operand as an operator, for
// suggestions.
var binaryWords = func() []string {
	words := []string{"and", "or", "between", "!between", "matches regex"}
	for w := range stringOps {
		if w != "=~" && w != "!~" && w != "matches" {
			words = append(words, w)
		}
	}
	for w := range listOps {
		words = append(words, w)
	}
	return sortStrings(words)
}()

// ChartTypes lists the chart types of render.
var ChartTypes = []string{
	"anomalychart", "areachart", "barchart", "card", "columnchart", "graph",
	"ladderchart", "linechart", "list", "piechart", "pivotchart", "plotly",
	"scatterchart", "stackedareachart", "table", "timechart", "timepivot",
	"treemap", "3Dchart",
}

// joinKinds are the join flavours.
var joinKinds = []string{
	"innerunique", "inner", "leftouter", "rightouter", "fullouter", "leftanti",
	"anti", "leftantisemi", "rightanti", "rightantisemi", "leftsemi", "rightsemi",
}

// typeAliases maps every scalar type name to its canonical name.
var typeAliases = map[string]string{
	"string": "string", "long": "long", "int64": "long", "int": "int", "int32": "int",
	"real": "real", "double": "real", "bool": "bool", "boolean": "bool",
	"datetime": "datetime", "date": "datetime", "timespan": "timespan", "time": "timespan",
	"dynamic": "dynamic", "guid": "guid", "uniqueid": "guid", "decimal": "decimal",
}

// typeNames are the canonical type names, for suggestions.
var typeNames = []string{"string", "long", "int", "real", "bool", "datetime", "timespan", "dynamic", "guid", "decimal"}

// reservedNames are words a name is bracketed for in the canonical
// rendering, so that it reads back as a name.
var reservedNames = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range []string{
		"and", "or", "by", "on", "of", "with", "asc", "desc", "nulls", "first", "last",
		"to", "from", "step", "limit", "let", "set", "declare", "true", "false", "TRUE",
		"FALSE", "True", "False", "between", "in", "matches",
		"regex", "has_any", "has_all", "print", "range", "datatable", "union", "search",
		"evaluate", "externaldata", "external_data", "view", "default", "granny-asc",
		"granny-desc", "others", "find",
	} {
		m[w] = true
	}
	for w := range stringOps {
		m[w] = true
	}
	return m
}()

func sortStrings(s []string) []string {
	m := make(map[string]bool, len(s))
	for _, w := range s {
		m[w] = true
	}
	return sortedKeys(m)
}
