package kql

// Node is any node of the syntax tree. Every node embeds the Pos of its
// first token.
type Node interface {
	Position() Pos
}

// Query is a whole query: statements separated by ';' (or, between two
// complete statements, by a blank line). The parser keeps them in order;
// each TabularStmt yields one result table, each LetStmt binds a name for
// the statements after it.
type Query struct {
	Pos
	Statements []Statement
}

// Statement is *LetStmt, *SetStmt or *TabularStmt.
type Statement interface {
	Node
	stmtNode()
}

// LetStmt is `let Name = ...`. Exactly one of Value, Tabular and Func is
// set:
//   - Func for a function: `let f = (a:string, b:long = 5) { ... }` or a
//     view `let v = view () { ... }`;
//   - Tabular when the value is certainly tabular: it starts with a tabular
//     operator (datatable, range, print, union, ...) or has a '|';
//   - Value otherwise: a scalar expression, or a bare name or function call
//     that may be either (`let T = SigninLogs;`, `let m = materialize(x);`):
//     the translator decides by resolving the name.
type LetStmt struct {
	Pos
	Name    *Ident
	Value   Expr
	Tabular *Pipe
	Func    *FuncDef
}

// SetStmt is `set name [= value]` (a request property, kept for the
// translator to accept or refuse).
type SetStmt struct {
	Pos
	Name  string
	Value Expr // nil for `set name`
}

// TabularStmt is a tabular expression statement: one result table.
type TabularStmt struct {
	Pos
	Expr *Pipe
}

func (*LetStmt) stmtNode()     {}
func (*SetStmt) stmtNode()     {}
func (*TabularStmt) stmtNode() {}

// FuncDef is a user-defined function: `(params) { body }`, or with View a
// `view (params) { body }`.
type FuncDef struct {
	Pos
	View   bool
	Params []*Param
	Body   *FuncBody
}

// Param is a function parameter: `name:type [= default]` for a scalar,
// `T:(col:type, ...)` or `T:(*)` for a tabular one.
type Param struct {
	Pos
	Name *Ident
	// Type is the canonical scalar type (see ColumnDecl), "" for a tabular
	// parameter.
	Type string
	// Tabular marks a tabular parameter; Schema lists the columns it must
	// have and Star is set when the schema has a '*' (any other columns).
	Tabular bool
	Schema  []*ColumnDecl
	Star    bool
	Default Expr // nil when none
}

// FuncBody is the `{ ... }` of a function: let statements then one
// expression, scalar (Value) or tabular (Tabular), as for LetStmt.
type FuncBody struct {
	Pos
	Lets    []*LetStmt
	Value   Expr
	Tabular *Pipe
}

// ColumnDecl is `name:type` in a datatable, externaldata, parse-kv or
// function schema. Type is canonical: string, long, int, real, bool,
// datetime, timespan, dynamic, guid or decimal (aliases such as double,
// boolean, date, time, int64 and uniqueid are mapped to these).
type ColumnDecl struct {
	Pos
	Name *Ident
	Type string
}

// Pipe is a tabular expression: a source followed by '|' operators, each
// applied to the table produced by what precedes it. A parenthesised
// tabular expression used as a source is itself a *Pipe.
type Pipe struct {
	Pos
	Source Source
	Ops    []Operator
}

// Source is the first element of a Pipe: *TableRef, *FuncSource, *Pipe,
// *Union, *Print, *DataTable, *Range, *Search, *ExternalData or *Evaluate.
type Source interface {
	Node
	sourceNode()
}

// TableRef names a table, or a let-bound tabular value: `SigninLogs`,
// `['my table']`. Within union and search Name may hold '*' wildcards
// (`Kube*`, `*`), then Wildcard is set.
type TableRef struct {
	Pos
	Name     string
	Wildcard bool
}

// FuncSource is a function call used as a table: a user function
// returning a table (`MyFilter(T, 5)`), materialize(...), table("x").
type FuncSource struct {
	Pos
	Call *Call
}

// Print is `print [name =] expr, ...`: one row.
type Print struct {
	Pos
	Columns []*NamedExpr
}

// DataTable is `datatable (col:type, ...) [v1, v2, ...]`. Values holds
// the cells row after row; len(Values) is a multiple of len(Columns).
type DataTable struct {
	Pos
	Columns []*ColumnDecl
	Values  []Expr
}

// Range is `range Column from From to To step Step`.
type Range struct {
	Pos
	Column         *Ident
	From, To, Step Expr
}

// ExternalData is `externaldata (col:type, ...) [uri, ...] [with (...)]`.
type ExternalData struct {
	Pos
	Columns []*ColumnDecl
	URIs    []Expr
	Props   []*Option
}

func (*TableRef) sourceNode()     {}
func (*FuncSource) sourceNode()   {}
func (*Pipe) sourceNode()         {}
func (*Union) sourceNode()        {}
func (*Print) sourceNode()        {}
func (*DataTable) sourceNode()    {}
func (*Range) sourceNode()        {}
func (*Search) sourceNode()       {}
func (*ExternalData) sourceNode() {}
func (*Evaluate) sourceNode()     {}

// Operator is a tabular operator after '|'. Each concrete type documents
// its syntax.
type Operator interface {
	Node
	opNode()
}

// Option is a `name = value` parameter of an operator: `kind=inner`,
// `hint.strategy=broadcast`, a render property `title="x"` or
// `ycolumns=a, b` (several Values). Values are *Ident for bare words,
// *Literal for literals, any Expr for render properties.
type Option struct {
	Pos
	Name   string
	Values []Expr
}

// NamedExpr is an expression with an optional output name: `x`,
// `n = count()`, `(a, b) = arg_max(t, x)`. Names is nil when the expression
// is unnamed; the translator then derives the column name as Kusto does
// (a bare column keeps its name, `count()` is `count_`, and so on).
type NamedExpr struct {
	Pos
	Names []*Ident
	Expr  Expr
}

// NamePattern is a column (or table) name that may contain '*' wildcards:
// `Col`, `Col*`, `*Id`, `['odd name']`.
type NamePattern struct {
	Pos
	Pattern  string
	Wildcard bool
}

// Where is `where Predicate` (also written `filter`).
type Where struct {
	Pos
	Pred Expr
}

// Project is `project [name =] expr, ...`.
type Project struct {
	Pos
	Columns []*NamedExpr
}

// ProjectAway is `project-away pattern, ...`.
type ProjectAway struct {
	Pos
	Columns []*NamePattern
}

// ProjectKeep is `project-keep pattern, ...`.
type ProjectKeep struct {
	Pos
	Columns []*NamePattern
}

// ProjectRename is `project-rename new = old, ...`.
type ProjectRename struct {
	Pos
	Renames []*Rename
}

// Rename is one `new = old` of project-rename.
type Rename struct {
	Pos
	New, Old *Ident
}

// ProjectReorder is `project-reorder pattern [asc|desc|granny-asc|granny-desc], ...`.
type ProjectReorder struct {
	Pos
	Columns []*ReorderColumn
}

// ReorderColumn is one column pattern of project-reorder; Order is "" when
// not given.
type ReorderColumn struct {
	Pos
	Pattern *NamePattern
	Order   string
}

// ProjectByNames is `project-by-names expr, ...` (column names given as
// strings or dynamic arrays).
type ProjectByNames struct {
	Pos
	Columns []Expr
}

// Extend is `extend [name =] expr, ...`.
type Extend struct {
	Pos
	Columns []*NamedExpr
}

// Summarize is `summarize [hints] [aggregates] [by keys]`: Aggs may be
// empty (`summarize by x`), By may be empty (one output row).
type Summarize struct {
	Pos
	Hints []*Option
	Aggs  []*NamedExpr
	By    []*NamedExpr
}

// Sort is `order by` / `sort by key [asc|desc] [nulls first|last], ...`.
// Kusto's defaults (desc; nulls last when descending, first when
// ascending) are the translator's to apply: SortKey keeps what was written.
type Sort struct {
	Pos
	Keys []*SortKey
}

// SortKey is one ordering key. Order is "", "asc" or "desc"; Nulls is "",
// "first" or "last" ("" when not written).
type SortKey struct {
	Pos
	Expr  Expr
	Order string
	Nulls string
}

// Top is `top N by key [asc|desc] [nulls first|last]` (default desc).
type Top struct {
	Pos
	N  Expr
	By []*SortKey
}

// TopHitters is `top-hitters N of Value [by Sum]`: the N values of Value
// with the most rows (or the largest sum of Sum).
type TopHitters struct {
	Pos
	N     Expr
	Value Expr
	Sum   Expr // nil: count the rows
}

// Take is `take N` (also written `limit N`).
type Take struct {
	Pos
	N Expr
}

// Distinct is `distinct *` (Star) or `distinct col, ...`.
type Distinct struct {
	Pos
	Hints   []*Option
	Star    bool
	Columns []*NamedExpr
}

// Count is `count`.
type Count struct {
	Pos
}

// Union is `union [kind=inner|outer] [withsource=Name] [isfuzzy=bool] leg, ...`.
// As a Source it has only its Legs; as an Operator the piped input is its
// first leg. Kind is "" (outer) unless written. Each leg is a Pipe: a
// table (maybe with wildcards), a function call or a parenthesised query.
type Union struct {
	Pos
	Kind       string
	WithSource *Ident
	IsFuzzy    bool
	Options    []*Option // every option as written, hints included
	Legs       []*Pipe
}

// Join is `join [kind=K] [hints] Right on cond, ...`. Kind is "" when not
// written (Kusto's default is innerunique). Each On condition is a column
// *Ident (same name on both sides) or `$left.a == $right.b` (a *Binary of
// two *Member whose X is the *Ident $left or $right), possibly joined by
// `and`.
type Join struct {
	Pos
	Kind  string
	Hints []*Option
	Right *Pipe
	On    []Expr
}

// Lookup is `lookup [kind=leftouter|inner] Right on cond, ...`.
type Lookup struct {
	Pos
	Kind  string
	Hints []*Option
	Right *Pipe
	On    []Expr
}

// MvExpand is `mv-expand [kind=bag|array] [bagexpansion=bag|array]
// [with_itemindex=Name] item, ... [limit N]`.
type MvExpand struct {
	Pos
	Kind      string
	ItemIndex *Ident
	Options   []*Option
	Items     []*MvItem
	Limit     Expr
}

// MvItem is one `[Name =] expr [to typeof(type)]` of mv-expand or
// mv-apply; ToType is "" when not given.
type MvItem struct {
	Pos
	Name   *Ident
	Expr   Expr
	ToType string
}

// MvApply is `mv-apply [options] item, ... [limit N] on (op | op ...)`:
// Ops run on the per-row table of expanded items.
type MvApply struct {
	Pos
	Options   []*Option
	ItemIndex *Ident
	Items     []*MvItem
	Limit     Expr
	Ops       []Operator
}

// Partition is `partition [hints] by Column (op | op ...)`: Ops run on
// the rows of each value of By, and their results are put together.
type Partition struct {
	Pos
	Hints []*Option
	By    *Ident
	Ops   []Operator
}

// Fork is `fork [name=](op | op ...) ...`: each leg runs on the input and
// is a result table of its own. It ends a statement.
type Fork struct {
	Pos
	Legs []*ForkLeg
}

// ForkLeg is one `[name=](op | op ...)` of a fork; Name is nil when not
// given.
type ForkLeg struct {
	Pos
	Name *Ident
	Ops  []Operator
}

// Scan is `scan [with_match_id=Name] [declare (Col:type [= Default], ...)]
// with (step Name [output=all|last|none]: Condition [=> Col = Expr, ...]; ...)`:
// a state machine over the ordered input rows that outputs the rows its
// steps match, extended with the declared columns.
type Scan struct {
	Pos
	Hints   []*Option
	MatchID *Ident // nil when not asked for
	Declare []*ScanDecl
	Steps   []*ScanStep
}

// ScanDecl is a column a scan adds: its default (nil: null) is its value
// where no step assigned it.
type ScanDecl struct {
	Pos
	Name    *Ident
	Type    string
	Default Expr
}

// ScanStep is one step of a scan. Output is "all", "last" or "none" ("":
// all).
type ScanStep struct {
	Pos
	Name   *Ident
	Output string
	Cond   Expr
	Assign []*NamedExpr
}

// MakeGraph is `make-graph Source --> Target [with Nodes on Key [, Nodes2
// on Key2]]` or `make-graph Source --> Target [with_node_id=Name]`, then
// optionally `partitioned-by Column (graph operators)`: a graph whose
// edges are the input rows, for the graph operators after it.
type MakeGraph struct {
	Pos
	Source, Target *Ident
	Nodes          []*GraphNodes
	NodeID         *Ident // nil when not given
	// PartitionBy, when set, makes one graph for each value of the column
	// (in the edges and the node tables), and PartitionOps run on each.
	PartitionBy  *Ident
	PartitionOps []Operator
}

// GraphNodes is one `Nodes on Key` of make-graph: a table of node
// properties and its column of node ids.
type GraphNodes struct {
	Pos
	Table *Pipe
	On    *Ident
}

// GraphMatch is `graph-match [cycles=...] Pattern [where Pred] project
// Columns`, or with Shortest `graph-shortest-paths [output=any|all]
// Pattern [where Pred] project Columns`.
type GraphMatch struct {
	Pos
	Shortest bool
	Options  []*Option
	Paths    []*GraphPath
	Where    Expr // nil when not given
	Project  []*NamedExpr
}

// GraphPath is one sequence of a pattern: nodes joined by edges
// (len(Edges) == len(Nodes)-1).
type GraphPath struct {
	Pos
	Nodes []*GraphNode
	Edges []*GraphEdge
}

// GraphNode is `(name)` or `()` in a pattern; Name is nil when anonymous.
type GraphNode struct {
	Pos
	Name *Ident
}

// GraphEdge is an edge of a pattern: `-[e]->`, `<-[e]-`, `-[e]-` (Dir
// "->", "<-", "--"), anonymous (`-->`, Name nil) or of variable length
// (`-[e*Min..Max]->`, Var set).
type GraphEdge struct {
	Pos
	Name     *Ident
	Dir      string
	Var      bool
	Min, Max int64
}

// GraphToTable is `graph-to-table nodes|edges [as Name] [with_... = Col]`;
// Kusto's form with both parts gives two tables.
type GraphToTable struct {
	Pos
	Parts []*GraphTablePart
}

// GraphTablePart is one part of graph-to-table: Kind is "nodes" or
// "edges"; Options are with_node_id, with_source_id and with_target_id.
type GraphTablePart struct {
	Pos
	Kind    string
	As      *Ident
	Options []*Option
}

// GraphMarkComponents is `graph-mark-components [kind=weak|strong]
// [with_component_id=Name]`: it gives each node the id of its connected
// component.
type GraphMarkComponents struct {
	Pos
	Options []*Option
}

// Facet is `facet by Col, ... [with (op | op ...)]`: a result table of
// each column's values and their counts, after the table With makes of
// the input (when given). It ends a statement.
type Facet struct {
	Pos
	By   []*Ident
	With []Operator
}

// ParseOp (named so because Parse is the package's function) is `parse [kind=simple|regex|relaxed [flags=F]] Expr with pattern`
// (Where set for parse-where, which drops rows that do not match). Kind is
// "" when not written (simple).
type ParseOp struct {
	Pos
	Where   bool
	Kind    string
	Flags   string
	Source  Expr
	Pattern []*ParseElem
}

// ParseElem is one element of a parse pattern: `*` (Star), a string
// (Text) or a column capture `name[:type]` (Column, Type "" = string).
type ParseElem struct {
	Pos
	Star   bool
	Text   *Literal
	Column *Ident
	Type   string
}

// ParseKV is `parse-kv Expr as (name:type, ...) [with (prop = value, ...)]`.
type ParseKV struct {
	Pos
	Source  Expr
	Columns []*ColumnDecl
	Props   []*Option
}

// Render is `render Chart [with (prop = value, ...)]`. Chart is one of
// ChartTypes.
type Render struct {
	Pos
	Chart string
	Props []*Option
}

// Serialize is `serialize [name = expr, ...]`.
type Serialize struct {
	Pos
	Columns []*NamedExpr
}

// GetSchema is `getschema`.
type GetSchema struct {
	Pos
}

// As is `as [hint.materialized=true] Name`: binds the piped table to Name.
type As struct {
	Pos
	Hints []*Option
	Name  *Ident
}

// Invoke is `invoke f(args)`: calls f with the piped table as first
// argument.
type Invoke struct {
	Pos
	Call *Call
}

// Sample is `sample N`.
type Sample struct {
	Pos
	N Expr
}

// SampleDistinct is `sample-distinct N of Column`.
type SampleDistinct struct {
	Pos
	N      Expr
	Column Expr
}

// TopNested is `top-nested [N] of Expr [with others = V] by Agg [asc|desc], ...`.
type TopNested struct {
	Pos
	Levels []*TopNestedLevel
}

// TopNestedLevel is one level of top-nested. N is nil for all values.
type TopNestedLevel struct {
	Pos
	N      Expr
	Of     *NamedExpr
	Others Expr // the `with others = V` value, nil when absent
	By     *NamedExpr
	Order  string
}

// Evaluate is `evaluate [hints] plugin(args) [: (schema)]`.
type Evaluate struct {
	Pos
	Hints      []*Option
	Call       *Call
	Schema     []*ColumnDecl
	SchemaStar bool
}

// MakeSeries is `make-series [kind=nonempty] [name =] agg [default = v], ...
// on Axis [from F] [to T] step S [by keys]` (or `in range(F, T, S)`).
type MakeSeries struct {
	Pos
	Kind           string
	Hints          []*Option
	Aggs           []*SeriesAgg
	On             Expr
	From, To, Step Expr
	By             []*NamedExpr
}

// SeriesAgg is one aggregate of make-series with its default value (nil
// when not given).
type SeriesAgg struct {
	Pos
	Agg     *NamedExpr
	Default Expr
}

// Search is `search [kind=case_sensitive|case_insensitive] [in (T, ...)]
// Predicate`. The predicate may use a bare string (matches any column),
// `Col:"term"` (a *Binary with Op ":") and `*` (a *Star).
type Search struct {
	Pos
	Kind   string
	Tables []*TableRef
	Pred   Expr
}

// Reduce is `reduce [kind=source] by Expr [with threshold=T, characters=C]`.
type Reduce struct {
	Pos
	Kind  string
	By    Expr
	Props []*Option
}

func (*Where) opNode()               {}
func (*Project) opNode()             {}
func (*ProjectAway) opNode()         {}
func (*ProjectKeep) opNode()         {}
func (*ProjectRename) opNode()       {}
func (*ProjectReorder) opNode()      {}
func (*ProjectByNames) opNode()      {}
func (*Extend) opNode()              {}
func (*Summarize) opNode()           {}
func (*Sort) opNode()                {}
func (*Top) opNode()                 {}
func (*Take) opNode()                {}
func (*Distinct) opNode()            {}
func (*Count) opNode()               {}
func (*Union) opNode()               {}
func (*Join) opNode()                {}
func (*Lookup) opNode()              {}
func (*MvExpand) opNode()            {}
func (*MvApply) opNode()             {}
func (*Partition) opNode()           {}
func (*Fork) opNode()                {}
func (*Facet) opNode()               {}
func (*ParseOp) opNode()             {}
func (*ParseKV) opNode()             {}
func (*Render) opNode()              {}
func (*Serialize) opNode()           {}
func (*GetSchema) opNode()           {}
func (*As) opNode()                  {}
func (*Invoke) opNode()              {}
func (*Sample) opNode()              {}
func (*SampleDistinct) opNode()      {}
func (*TopNested) opNode()           {}
func (*Evaluate) opNode()            {}
func (*MakeSeries) opNode()          {}
func (*Search) opNode()              {}
func (*Reduce) opNode()              {}
func (*Scan) opNode()                {}
func (*TopHitters) opNode()          {}
func (*MakeGraph) opNode()           {}
func (*GraphMatch) opNode()          {}
func (*GraphToTable) opNode()        {}
func (*GraphMarkComponents) opNode() {}

// Expr is a scalar expression: *Ident, *Literal, *Dynamic, *Binary,
// *Unary, *Call, *NamedArg, *Star, *Member, *Index, *InList, *Between or
// *SubQuery.
type Expr interface {
	Node
	exprNode()
}

// Ident is a name: a column, a let-bound value, $left/$right in join
// conditions. Name is as written, or the text inside ['...'].
type Ident struct {
	Pos
	Name string
}

// LitKind is the type of a Literal.
type LitKind uint8

// The literal kinds. Literal.Value holds, for each:
const (
	LitString   LitKind = iota + 1 // the decoded text
	LitLong                        // a decimal int64: 42, -7 (plain integer literals are long)
	LitInt                         // a decimal int32, from int(...)
	LitReal                        // Go's strconv 'g' form of a float64 with a '.' or exponent: 1.5, 1e+06, 2.0; or NaN, +Inf, -Inf
	LitDecimal                     // a decimal number as written in decimal(...)
	LitBool                        // true or false
	LitDateTime                    // RFC 3339 in UTC with up to 7 fraction digits: 2024-01-31T10:00:00.5Z
	LitTimespan                    // a signed integer count of ticks (100 ns): 1d is 864000000000
	LitGuid                        // lower-case 8-4-4-4-12 hexadecimal
	LitType                        // a canonical type name, from typeof(...)
	LitNull                        // null inside dynamic(...): Value is ""
)

var litKindNames = [...]string{"", "string", "long", "int", "real", "decimal", "bool", "datetime", "timespan", "guid", "type", "null"}

// String returns the kind's name: string, long, int, real, ...
func (k LitKind) String() string {
	if int(k) < len(litKindNames) {
		return litKindNames[k]
	}
	return "?"
}

// Literal is a constant. Null marks a typed null such as int(null) or
// datetime(null) (Value is then ""). Obfuscated marks an h'...' string,
// whose value must not be logged.
type Literal struct {
	Pos
	Kind       LitKind
	Value      string
	Null       bool
	Obfuscated bool
}

// Dynamic is dynamic(...): Value is a *Literal (a JSON scalar, a KQL
// literal such as datetime(...), or LitNull), a *DynArray or a *DynBag.
type Dynamic struct {
	Pos
	Value Expr
}

// DynArray is a JSON array inside dynamic(...).
type DynArray struct {
	Pos
	Elems []Expr
}

// DynBag is a JSON object inside dynamic(...), keys in written order.
type DynBag struct {
	Pos
	Keys   []string
	Values []Expr
}

// Binary is `L Op R`. Op is one of: or and == != < <= > >= =~ !~ + - * / %,
// a string operator (contains !contains contains_cs !contains_cs has !has
// has_cs !has_cs hasprefix !hasprefix hasprefix_cs !hasprefix_cs hassuffix
// !hassuffix hassuffix_cs !hassuffix_cs startswith !startswith
// startswith_cs !startswith_cs endswith !endswith endswith_cs
// !endswith_cs), "matches regex", or ":" in a search predicate. `<>` is
// read as "!=". OpPos is the operator's place.
type Binary struct {
	Pos
	Op    string
	OpPos Pos
	L, R  Expr
}

// Unary is `-X` or `+X` (a minus on a numeric or timespan literal is
// folded into the literal instead).
type Unary struct {
	Pos
	Op string
	X  Expr
}

// Call is a function call `Name(args)`. Args may hold *NamedArg
// (`f(x, n=3)`), *Star (`arg_max(t, *)`) and *SubQuery
// (`toscalar(T | count)`).
type Call struct {
	Pos
	Name string
	Args []Expr
}

// NamedArg is `name = value` in a call's arguments.
type NamedArg struct {
	Pos
	Name  string
	Value Expr
}

// Star is `*`: all columns, as in arg_max(t, *), or any column in
// `* has "x"`.
type Star struct {
	Pos
}

// Member is `X.Name` (also `X.['odd name']`): a property of a dynamic
// value, or $left.col / $right.col in a join condition.
type Member struct {
	Pos
	X    Expr
	Name string
}

// Index is `X[Index]`: an array element (`SourceIps[0]`) or a property by
// name (`ObjectRef['resource']`).
type Index struct {
	Pos
	X     Expr
	Index Expr
}

// InList is `X Op (e1, e2, ...)` with Op one of in !in in~ !in~ has_any
// has_all. An element may be a *SubQuery (`x in (T | project y)`), or a
// name or dynamic array whose values are the list.
type InList struct {
	Pos
	Op    string
	OpPos Pos
	X     Expr
	List  []Expr
}

// Between is `X between (Low .. High)`, or `!between` when Not.
type Between struct {
	Pos
	Not       bool
	X         Expr
	Low, High Expr
}

// SubQuery is a tabular expression where an expression was expected: an
// argument (`toscalar(T | count)`, `materialize(T | where ...)`), an in
// list element or a parenthesised query.
type SubQuery struct {
	Pos
	Pipe *Pipe
}

func (*Ident) exprNode()    {}
func (*Literal) exprNode()  {}
func (*Dynamic) exprNode()  {}
func (*DynArray) exprNode() {}
func (*DynBag) exprNode()   {}
func (*Binary) exprNode()   {}
func (*Unary) exprNode()    {}
func (*Call) exprNode()     {}
func (*NamedArg) exprNode() {}
func (*Star) exprNode()     {}
func (*Member) exprNode()   {}
func (*Index) exprNode()    {}
func (*InList) exprNode()   {}
func (*Between) exprNode()  {}
func (*SubQuery) exprNode() {}
