package kql

import (
	"fmt"
	"strings"
)

// parseMakeGraph reads `make-graph Source --> Target [with Nodes on Key
// [, Nodes2 on Key2]]` or `... [with_node_id=Name]`, then optionally
// `partitioned-by Column (operators)`.
func (p *parser) parseMakeGraph(t token) Operator {
	mg := &MakeGraph{Pos: t.pos}
	mg.Source = p.parseName("the column of source node ids after 'make-graph' (make-graph Source --> Target)")
	if !p.acceptArrow("-", "-", ">") {
		p.unexpected("'-->' between the source and target columns (make-graph Source --> Target)")
	}
	mg.Target = p.parseName("the column of target node ids after '-->'")
	if p.acceptWord("with") {
		for {
			g := &GraphNodes{Pos: p.tok().pos}
			g.Table = p.parseTabularOperand("with")
			p.expectWord("on", "and the column of node ids (with Nodes on NodeId)")
			g.On = p.parseName("the column of node ids after 'on'")
			mg.Nodes = append(mg.Nodes, g)
			if !p.acceptPunct(",") {
				break
			}
		}
		if len(mg.Nodes) > 2 {
			p.failAt(mg.Nodes[2].Pos, "make-graph takes at most two node tables (with Nodes1 on Id1, Nodes2 on Id2)")
		}
	} else {
		for _, o := range p.parseOptions("make-graph", true, "with_node_id") {
			if o.Name == "with_node_id" {
				id, ok := o.Values[0].(*Ident)
				if !ok {
					p.failAt(o.Values[0].Position(), "with_node_id takes the name of the node id property, such as with_node_id=Name")
				}
				mg.NodeID = id
			}
		}
	}
	if name, n := p.operatorName(p.i); name == "partitioned-by" {
		p.i += n
		mg.PartitionBy = p.parseName("the partition column after 'partitioned-by'")
		mg.PartitionOps = p.parseSubOps("partitioned-by")
	}
	return mg
}

// acceptArrow consumes the punctuation tokens parts when they come next.
func (p *parser) acceptArrow(parts ...string) bool {
	for k, s := range parts {
		if !p.peek(k).isPunct(s) {
			return false
		}
	}
	p.i += len(parts)
	return true
}

// parseGraphMatch reads `graph-match [cycles=...] Pattern [where Pred]
// project Columns`; with shortest, graph-shortest-paths [output=...].
func (p *parser) parseGraphMatch(t token, shortest bool) Operator {
	gm := &GraphMatch{Pos: t.pos, Shortest: shortest}
	opt := "cycles"
	if shortest {
		opt = "output"
	}
	gm.Options = p.parseOptions(t.text, true, opt)
	for _, o := range gm.Options {
		switch o.Name {
		case "cycles":
			p.optionWord(o, t.text, []string{"unique_edges", "none", "all"})
		case "output":
			p.optionWord(o, t.text, []string{"any", "all"})
		}
	}
	for {
		gm.Paths = append(gm.Paths, p.parseGraphPath())
		if !p.acceptPunct(",") {
			break
		}
	}
	if p.acceptWord("where") {
		gm.Where = p.parseExpr()
	}
	pt := p.expectWord("project", fmt.Sprintf("and the columns %s returns (... project Name = n.Property, ...)", t.text))
	gm.Project = p.requireNamedExprs(pt, false)
	return gm
}

// parseGraphPath reads one sequence of a pattern: (n)-[e]->(m)...
func (p *parser) parseGraphPath() *GraphPath {
	gp := &GraphPath{Pos: p.tok().pos}
	gp.Nodes = append(gp.Nodes, p.parseGraphNode())
	for p.isPunct("-") || p.isPunct("<") {
		gp.Edges = append(gp.Edges, p.parseGraphEdge())
		gp.Nodes = append(gp.Nodes, p.parseGraphNode())
	}
	return gp
}

// parseGraphNode reads `(name)` or `()`.
func (p *parser) parseGraphNode() *GraphNode {
	open := p.expectPunct("(", "to start a node of the pattern, such as (n) or ()")
	n := &GraphNode{Pos: open.pos}
	if !p.isPunct(")") {
		n.Name = p.parseName("a node variable name or ')'")
	}
	p.closing(open)
	return n
}

// parseGraphEdge reads an edge: -[e]->, <-[e]-, -[e]-, -->, <--, --, with
// an optional *Min..Max inside the brackets.
func (p *parser) parseGraphEdge() *GraphEdge {
	e := &GraphEdge{Pos: p.tok().pos}
	left := p.acceptPunct("<")
	const what = "an edge of the pattern: -[e]->, <-[e]-, -[e]-, -->, <-- or --"
	p.expectPunct("-", "in "+what)
	if open := p.tok(); p.acceptPunct("[") {
		if !p.isPunct("*") && !p.isPunct("]") {
			e.Name = p.parseName("an edge variable name, '*' or ']'")
		}
		if p.acceptPunct("*") {
			e.Var = true
			e.Min = p.graphHops("the least number of hops after '*' (*Min..Max)")
			p.expectPunct("..", "between the least and the most hops (*Min..Max)")
			e.Max = p.graphHops("the most hops after '..' (*Min..Max)")
			if e.Min > e.Max {
				p.failAt(e.Pos, "a variable-length edge's least hops (%d) exceed its most (%d)", e.Min, e.Max)
			}
		}
		p.closing(open)
	}
	p.expectPunct("-", "in "+what)
	right := p.acceptPunct(">")
	switch {
	case left && right:
		p.failAt(e.Pos, "an edge points one way (-[e]-> or <-[e]-) or either way (-[e]-), not both")
	case left:
		e.Dir = "<-"
	case right:
		e.Dir = "->"
	default:
		e.Dir = "--"
	}
	return e
}

// graphHops reads a hop count of a variable-length edge.
func (p *parser) graphHops(what string) int64 {
	t := p.tok()
	if t.kind != tLong {
		p.unexpected(what)
	}
	p.advance()
	l := &Literal{Pos: t.pos, Kind: LitLong, Value: t.text}
	n, ok := l.Int()
	if !ok || n < 0 || n > maxGraphHops {
		p.fail(t, "hops must be a whole number from 0 to %d, not %s", maxGraphHops, t.text)
	}
	return n
}

// maxGraphHops bounds a variable-length edge: every walk up to it is
// enumerated.
const maxGraphHops = 20

// parseGraphToTable reads `graph-to-table nodes|edges [as Name] [options]
// [, ...]`.
func (p *parser) parseGraphToTable(t token) Operator {
	gt := &GraphToTable{Pos: t.pos}
	for {
		part := &GraphTablePart{Pos: p.tok().pos}
		switch {
		case p.acceptWord("nodes"):
			part.Kind = "nodes"
		case p.acceptWord("edges"):
			part.Kind = "edges"
		default:
			p.unexpected("'nodes' or 'edges' after 'graph-to-table'")
		}
		allowed := []string{"with_node_id"}
		if part.Kind == "edges" {
			allowed = []string{"with_source_id", "with_target_id"}
		}
		for {
			part.Options = append(part.Options, p.parseOptions("graph-to-table "+part.Kind, true, allowed...)...)
			if part.As != nil || !p.acceptWord("as") {
				break
			}
			part.As = p.parseName("a table name after 'as'")
		}
		for _, o := range part.Options {
			if _, ok := o.Values[0].(*Ident); !ok && strings.HasPrefix(o.Name, "with_") {
				p.failAt(o.Values[0].Position(), "%s takes a column name, such as %s=Id", o.Name, o.Name)
			}
		}
		gt.Parts = append(gt.Parts, part)
		if !p.acceptPunct(",") {
			break
		}
	}
	return gt
}

// parseGraphMarkComponents reads `graph-mark-components [kind=weak|strong]
// [with_component_id=Name]`.
func (p *parser) parseGraphMarkComponents(t token) Operator {
	gc := &GraphMarkComponents{Pos: t.pos, Options: p.parseOptions(t.text, true, "kind", "with_component_id")}
	for _, o := range gc.Options {
		switch o.Name {
		case "kind":
			p.optionWord(o, t.text, []string{"weak", "strong"})
		case "with_component_id":
			if _, ok := o.Values[0].(*Ident); !ok {
				p.failAt(o.Values[0].Position(), "with_component_id takes a column name, such as with_component_id=ComponentId")
			}
		}
	}
	return gc
}
