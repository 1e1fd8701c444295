// Package kql is cdewatch's KQL (Kusto Query Language) engine: a
// hand-written lexer and recursive-descent parser, the syntax tree they
// produce, the translation of that tree to DuckDB SQL, and execution
// (Engine). docs/KQL.md describes the language as cdewatch supports it
// for users; this comment describes the code.
//
// # Translation and execution
//
//	eng := kql.NewEngine(db, tables, kql.Options{Timeout: 30 * time.Second})
//	res, err := eng.Run(ctx, "KubeAuditLogs | where Verb == 'delete' | count")
//
// Run parses, translates (Engine.Translate gives the Plan: one SQL
// statement per tabular statement) and executes within the time limit,
// reading at most MaxRows rows per table and MaxBytes in all. Errors are
// *Error (the query is wrong: line, column, message), *LimitError (a
// limit stopped it) or another error (the database failed).
//
// The translator (translate*.go) turns each tabular operator into a
// SELECT over the previous one. It tracks every column's KQL name and
// type and gives each a generated SQL name (c1, c2, …): KQL names never
// reach SQL, so case-insensitive DuckDB identifiers, quotes and keywords
// cannot collide with them, and every literal reaches SQL through
// sqlString or as a parsed number. Expressions are typed (texpr) and
// translated with KQL's semantics (translate_expr.go: comparisons, string
// operators, dynamic access, arithmetic on datetimes and timespans);
// functions.go, functions_more.go, geo*.go, series.go and sketches.go hold
// the scalar functions, aggregates.go the aggregations, evaluate.go the
// plugins. Functions SQL cannot express are written in Go and registered
// in DuckDB as scalar UDFs (udf.go). Datetimes are TIMESTAMPs, timespans
// BIGINT microseconds, dynamic values JSON. DuckDB keeps the order of a
// sorted subquery through projections and filters, which is how order by
// carries to the result.
//
// Tests: testdata/semantics/*.test are script-driven golden cases (tables,
// queries, expected results; see the README there) run by TestSemantics;
// TestConformance runs the Kusto documentation's examples and reports the
// pass rate (docs/KQL-CONFORMANCE.md); hostile_test.go feeds hostile text
// to every place a query's text meets SQL; engine_limits_test.go checks
// the limits; BenchmarkQuery measures the guide's daily review over the
// index's tables against the same query written by hand in SQL.
//
// # API
//
//	q, err := kql.Parse(src)          // *Query, or an *Error
//	q, err := kql.ParseWithLimits(src, kql.Limits{MaxDepth: 50})
//	q.String(), kql.Format(node)      // canonical rendering
//	kql.Inspect(node, func(kql.Node) bool { ... })   // walk the tree
//	kql.Children(node)                // direct children, in source order
//	kql.Suggest(word, candidates)     // nearest candidate by edit distance
//	lit.Int(), lit.Float(), lit.Ticks(), lit.Time()  // values of literals
//
// Errors are *Error values: Pos (Line, Col, Offset) of the offending token
// and Msg. Error() reads "line 3, column 12: unknown operator 'summarise'
// (did you mean 'summarize'?)". Lines and columns count from 1, columns in
// characters (a tab is one). The parser stops at the first error. Messages
// are specific: unterminated strings name where the string starts,
// unbalanced brackets name the unclosed one, a misspelt operator, keyword,
// parameter, chart type, join kind or type name gets the nearest valid one
// (Suggest), a missing `by` after summarize aggregates or after order/top
// is named as such, `=` for `==` and names with dashes are explained.
// Function names are not checked here: which functions exist is the
// translator's business (it uses Suggest for the same kind of message).
//
// # The tree
//
// A Query is a list of Statements: *LetStmt (a scalar, a tabular value or
// a function), *SetStmt and *TabularStmt (each one result table). A
// tabular expression is a *Pipe: a Source followed by Operators. Sources
// are *TableRef, *FuncSource, a parenthesised *Pipe, *Union, *Print,
// *DataTable, *Range, *Search, *ExternalData and *Evaluate; operators are
// one struct each (*Where, *Project, *Summarize, *Join, ...; see ast.go,
// where every type documents the syntax it holds). Scalar expressions
// (Expr) are *Ident, *Literal, *Dynamic (with *DynArray and *DynBag),
// *Binary, *Unary, *Call (with *NamedArg and *Star arguments), *Member,
// *Index, *InList, *Between and *SubQuery (a tabular expression where a
// scalar was expected: toscalar(T | count), x in (T | project y)).
//
// Every node embeds the Pos of its first token (for a binary expression,
// its left operand's; OpPos is the operator's), so later stages can report
// semantic errors at the right place. Literals are normalized (see
// LitKind): integers are decimal int64 text, timespans are tick counts,
// datetimes RFC 3339 UTC, guids lower case; a minus before a numeric or
// timespan literal is folded into it. What the parser cannot decide
// without a schema is left to the translator and documented on the type:
// `let T = X;` keeps X as a scalar *Ident that may name a table, a summarize
// aggregate keeps its expression and no derived column name, a sort key
// keeps "" when no direction was written (Kusto's default is desc).
//
// # Syntax read
//
// Statements are separated by ';'. Like the Log Analytics editor, a blank
// line (a line of only whitespace) between two complete statements also
// separates them; a blank line inside a statement that is not finished
// (after a ',' or an operator, or before a '|' or a binary operator) does
// not. After a blank line a '(' or '[' starts a statement rather than
// calling or indexing what precedes it. Comments run from // to the end of
// the line; -- is two minus signs.
//
// Tabular sources: table names (['odd name'] too), let-bound names,
// function calls (materialize(...) included), print, datatable, range,
// union, search, externaldata, evaluate. Operators: where/filter, project,
// project-away, project-keep, project-rename, project-reorder,
// project-by-names, extend, summarize, order/sort, top, take/limit,
// distinct, count, union, join, lookup, mv-expand, mv-apply, partition,
// fork, facet, parse, parse-where, parse-kv, render, serialize, getschema,
// as, invoke, sample, sample-distinct, top-nested, top-hitters, evaluate, make-series,
// search, reduce, scan, and the graph operators make-graph, graph-match,
// graph-shortest-paths, graph-to-table and graph-mark-components
// (translate_graph.go). graph-merge and find are recognized and refused
// with "not supported"; declare, alias, restrict and pattern statements
// likewise.
//
// Scalars: string literals '..' and ".." with escapes, verbatim @'..',
// multi-line ```..```, obfuscated h'..', adjacent strings concatenated;
// long (decimal, 0x hex), real, bool, timespan (2d, 1.5h, 30m, 10s,
// 100ms, 10microseconds, 1tick, ...), and the typed literals datetime(..),
// time(..)/timespan(..), guid(..), int(..), long(..), real(..)/double(..),
// decimal(..), bool(..), each with (null); dynamic([...]/{...}/scalar);
// typeof(type). Operators bind, loosest first: or; and; == != in !in in~
// !in~ has_any has_all between !between; < <= > >=; + -; * / %; the string
// operators (=~ !~ contains has hasprefix hassuffix startswith endswith,
// their _cs and ! forms, matches regex) — tighter than arithmetic, as in
// Kusto; unary - +; then calls, x.y, x['y'] and x[0].
//
// # Limits
//
// Parse bounds its work (Limits, DefaultLimits): the query length (1 MiB),
// the token count (200,000) and the nesting depth of the tree (200
// levels: parentheses, chained operators, sub-queries, dynamic values).
// Past a limit it returns an error rather than using more time, memory or
// stack; no input makes it panic or loop (FuzzParse checks this).
//
// # Canonical rendering
//
// Format renders a node as KQL that parses back to the same tree (given
// room in the limits: the rendering has more parentheses than most
// queries): every binary, in, between and sub-query expression in
// parentheses, literals in
// their normal form, one '|' operator a line for statements. The golden
// tests under testdata/parse compare it, and every parsed query must
// render to text that parses to the same rendering again.
//
// # Tests
//
// testdata/parse/*.txt hold the golden cases: each starts with a line
// "=== name", then the KQL, then a line "--- want" and the expected
// rendering, or "error: line L, column C: message". `go test
// ./internal/kql -run TestGolden -update` rewrites the expectations.
// TestCorpus parses the KQL documentation examples of
// ../shared/corpora/kql-docs (MicrosoftDocs/dataexplorer-docs, CC-BY-4.0)
// when CDEWATCH_CORPORA names the corpora directory, and logs the pass rate
// and every failure; FuzzParse fuzzes the parser from the golden inputs.
package kql
