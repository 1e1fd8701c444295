package kql

import "sort"

// Inspect walks the tree rooted at n depth-first, in source order: it
// calls f(n) and, when f returns true, walks each child of n. Nil children
// are skipped.
func Inspect(n Node, f func(Node) bool) {
	if n == nil || !f(n) {
		return
	}
	for _, c := range Children(n) {
		Inspect(c, f)
	}
}

// Children returns the direct children of n in source order.
func Children(n Node) []Node {
	var out []Node
	add := func(cs ...Node) {
		for _, c := range cs {
			if !isNilNode(c) {
				out = append(out, c)
			}
		}
	}
	exprs := func(es []Expr) {
		for _, e := range es {
			add(e)
		}
	}
	named := func(ns []*NamedExpr) {
		for _, ne := range ns {
			add(ne)
		}
	}
	options := func(os []*Option) {
		for _, o := range os {
			add(o)
		}
	}
	ops := func(os []Operator) {
		for _, o := range os {
			add(o)
		}
	}
	cols := func(cs []*ColumnDecl) {
		for _, c := range cs {
			add(c)
		}
	}
	switch n := n.(type) {
	case *Query:
		for _, s := range n.Statements {
			add(s)
		}
	case *LetStmt:
		add(n.Name, n.Value, n.Tabular, n.Func)
	case *SetStmt:
		add(n.Value)
	case *TabularStmt:
		add(n.Expr)
	case *FuncDef:
		for _, p := range n.Params {
			add(p)
		}
		add(n.Body)
	case *Param:
		add(n.Name)
		cols(n.Schema)
		add(n.Default)
	case *FuncBody:
		for _, l := range n.Lets {
			add(l)
		}
		add(n.Value, n.Tabular)
	case *ColumnDecl:
		add(n.Name)
	case *Pipe:
		add(n.Source)
		ops(n.Ops)
	case *FuncSource:
		add(n.Call)
	case *Print:
		named(n.Columns)
	case *DataTable:
		cols(n.Columns)
		exprs(n.Values)
	case *Range:
		add(n.Column, n.From, n.To, n.Step)
	case *ExternalData:
		cols(n.Columns)
		exprs(n.URIs)
		options(n.Props)
	case *Option:
		exprs(n.Values)
	case *NamedExpr:
		for _, id := range n.Names {
			add(id)
		}
		add(n.Expr)
	case *Where:
		add(n.Pred)
	case *Project:
		named(n.Columns)
	case *ProjectAway:
		for _, c := range n.Columns {
			add(c)
		}
	case *ProjectKeep:
		for _, c := range n.Columns {
			add(c)
		}
	case *ProjectRename:
		for _, r := range n.Renames {
			add(r)
		}
	case *Rename:
		add(n.New, n.Old)
	case *ProjectReorder:
		for _, c := range n.Columns {
			add(c)
		}
	case *ReorderColumn:
		add(n.Pattern)
	case *ProjectByNames:
		exprs(n.Columns)
	case *Extend:
		named(n.Columns)
	case *Summarize:
		options(n.Hints)
		named(n.Aggs)
		named(n.By)
	case *Sort:
		for _, k := range n.Keys {
			add(k)
		}
	case *SortKey:
		add(n.Expr)
	case *Top:
		add(n.N)
		for _, k := range n.By {
			add(k)
		}
	case *TopHitters:
		add(n.N, n.Value, n.Sum)
	case *MakeGraph:
		add(n.Source, n.Target)
		for _, g := range n.Nodes {
			add(g)
		}
		add(n.NodeID)
		add(n.PartitionBy)
		ops(n.PartitionOps)
	case *GraphNodes:
		add(n.Table, n.On)
	case *GraphMatch:
		options(n.Options)
		for _, gp := range n.Paths {
			add(gp)
		}
		add(n.Where)
		named(n.Project)
	case *GraphPath:
		for i, nd := range n.Nodes {
			if i > 0 {
				add(n.Edges[i-1])
			}
			add(nd)
		}
	case *GraphNode:
		add(n.Name)
	case *GraphEdge:
		add(n.Name)
	case *GraphToTable:
		for _, part := range n.Parts {
			add(part)
		}
	case *GraphTablePart:
		// `as Name` may come before, between or after the options
		var cs []Node
		for _, o := range n.Options {
			cs = append(cs, o)
		}
		if n.As != nil {
			cs = append(cs, n.As)
		}
		sort.SliceStable(cs, func(i, j int) bool { return cs[i].Position().Offset < cs[j].Position().Offset })
		add(cs...)
	case *GraphMarkComponents:
		options(n.Options)
	case *Take:
		add(n.N)
	case *Distinct:
		options(n.Hints)
		named(n.Columns)
	case *Union:
		options(n.Options)
		for _, l := range n.Legs {
			add(l)
		}
	case *Join:
		options(n.Hints)
		add(n.Right)
		exprs(n.On)
	case *Lookup:
		options(n.Hints)
		add(n.Right)
		exprs(n.On)
	case *MvExpand:
		options(n.Options)
		for _, it := range n.Items {
			add(it)
		}
		add(n.Limit)
	case *MvItem:
		add(n.Name, n.Expr)
	case *MvApply:
		options(n.Options)
		for _, it := range n.Items {
			add(it)
		}
		add(n.Limit)
		ops(n.Ops)
	case *Fork:
		for _, l := range n.Legs {
			add(l)
		}
	case *ForkLeg:
		add(n.Name)
		ops(n.Ops)
	case *Facet:
		for _, c := range n.By {
			add(c)
		}
		ops(n.With)
	case *Partition:
		options(n.Hints)
		add(n.By)
		ops(n.Ops)
	case *ParseOp:
		add(n.Source)
		for _, el := range n.Pattern {
			add(el)
		}
	case *ParseElem:
		add(n.Text, n.Column)
	case *ParseKV:
		add(n.Source)
		cols(n.Columns)
		options(n.Props)
	case *Render:
		options(n.Props)
	case *Serialize:
		named(n.Columns)
	case *As:
		options(n.Hints)
		add(n.Name)
	case *Invoke:
		add(n.Call)
	case *Sample:
		add(n.N)
	case *SampleDistinct:
		add(n.N, n.Column)
	case *TopNested:
		for _, l := range n.Levels {
			add(l)
		}
	case *TopNestedLevel:
		add(n.N, n.Of, n.Others, n.By)
	case *Evaluate:
		options(n.Hints)
		add(n.Call)
		cols(n.Schema)
	case *MakeSeries:
		options(n.Hints)
		for _, a := range n.Aggs {
			add(a)
		}
		add(n.On, n.From, n.To, n.Step)
		named(n.By)
	case *SeriesAgg:
		add(n.Agg, n.Default)
	case *Search:
		for _, t := range n.Tables {
			add(t)
		}
		add(n.Pred)
	case *Reduce:
		add(n.By)
		options(n.Props)
	case *Scan:
		options(n.Hints)
		add(n.MatchID)
		for _, d := range n.Declare {
			add(d)
		}
		for _, st := range n.Steps {
			add(st)
		}
	case *ScanDecl:
		add(n.Name, n.Default)
	case *ScanStep:
		add(n.Name, n.Cond)
		named(n.Assign)
	case *Dynamic:
		add(n.Value)
	case *DynArray:
		exprs(n.Elems)
	case *DynBag:
		exprs(n.Values)
	case *Binary:
		add(n.L, n.R)
	case *Unary:
		add(n.X)
	case *Call:
		exprs(n.Args)
	case *NamedArg:
		add(n.Value)
	case *Member:
		add(n.X)
	case *Index:
		add(n.X, n.Index)
	case *InList:
		add(n.X)
		exprs(n.List)
	case *Between:
		add(n.X, n.Low, n.High)
	case *SubQuery:
		add(n.Pipe)
	}
	return out
}

// isNilNode reports whether n is nil or a typed nil pointer.
func isNilNode(n Node) bool {
	switch v := n.(type) {
	case nil:
		return true
	case *Ident:
		return v == nil
	case *Pipe:
		return v == nil
	case *FuncDef:
		return v == nil
	case *FuncBody:
		return v == nil
	case *Literal:
		return v == nil
	case *NamedExpr:
		return v == nil
	case *Call:
		return v == nil
	}
	return false
}
