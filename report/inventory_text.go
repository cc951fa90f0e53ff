package report

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/rekeyhq/rekey/gitsync"
	"github.com/rekeyhq/rekey/reconcile"
)

func RenderInventory(w io.Writer, format string, inv Inventory) error {
	switch format {
	case FormatJSON:
		return WriteJSON(w, inv)
	case FormatMermaid:
		printMermaid(w, inventoryGraph(inv))
	case FormatDot:
		printDot(w, inventoryGraph(inv))
	default:
		printInventory(w, inv)
	}
	return nil
}

// printInventory writes the readable table, one block per secret.
func printInventory(w io.Writer, inv Inventory) {
	fmt.Fprintf(w, "dependency map at %s; compose project %s in %s\n", gitsync.Short(inv.Revision), inv.Project, inv.ProjectDir)
	for _, row := range inv.Secrets {
		fmt.Fprintf(w, "\n%s (%s)\n", row.Secret, row.Kind)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  sources:")
		for _, src := range row.Sources {
			fmt.Fprintf(tw, "    %s\t%s\t→ %s\n", src.Location, src.Holds, readers(src.ReadBy))
		}
		fmt.Fprintln(tw, "  consumers, in roll order:")
		for i, c := range row.Consumers {
			fmt.Fprintf(tw, "    %d. %s\t%s\t%s\t%s\n", i+1, c.Name, c.Type, c.Action, strings.Join(c.Via, ", "))
		}
		tw.Flush()
		fmt.Fprintf(w, "  restart order: %s\n", orderText(row.RestartOrder))
		if srv := row.Server; srv != nil {
			fmt.Fprintf(w, "  server: %s — %s\n", srv.Name, srv.Mechanism)
			if srv.Service != "" && srv.Roll != reconcile.NoRoll {
				fmt.Fprintf(w, "    %s reads the value too: rolled after the old value is revoked\n", srv.Service)
			}
		}
		printChecks(w, row)
		if len(row.Hidden) > 0 {
			fmt.Fprintln(w, "  hidden dependencies:")
			for _, h := range row.Hidden {
				fmt.Fprintf(w, "    - %s: %s\n", h.Kind, h.Note)
			}
		}
	}
}

func readers(rs []Reader) string {
	if len(rs) == 0 {
		return "(no consumer reads it here)"
	}
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = r.Consumer
	}
	return strings.Join(names, ", ")
}

func orderText(order []string) string {
	if len(order) == 0 {
		return "(nothing to restart)"
	}
	return strings.Join(order, " → ")
}

// printChecks lists the checks in the order rekey runs them after a consumer rolls.
func printChecks(w io.Writer, row Row) {
	var lines [][2]string
	for _, c := range row.Consumers {
		for _, ch := range c.Checks {
			lines = append(lines, [2]string{"after " + c.Name, ch.Text})
		}
	}
	for _, ch := range row.Checks {
		lines = append(lines, [2]string{ch.Scope, ch.Text})
	}
	if len(lines) == 0 {
		fmt.Fprintln(w, "  checks: (none: only the health gate)")
		return
	}
	fmt.Fprintln(w, "  checks, after each consumer rolls:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, l := range lines {
		fmt.Fprintf(tw, "    %s\t%s\n", l[0], l[1])
	}
	tw.Flush()
}

// Node shapes of the graphs.
const (
	shapeSecret  = "secret"
	shapeSource  = "source"
	shapeService = "service"
	shapeHost    = "host"
)

// graph is the inventory as nodes and edges, shared by the Mermaid and DOT renderers so both draw the
// same picture. Node ids are derived from names, so they stay the same from one run to the next.
type graph struct {
	nodes []graphNode
	edges []graphEdge
}

type graphNode struct {
	id    string
	shape string
	lines []string // the label, one entry per line, unescaped
}

type graphEdge struct {
	from, to, label string
}

// inventoryGraph draws secret → source → consumer, each consumer edge labelled with its place in the
// roll order and its action. A consumer no source explains (a declared service) hangs off the secret.
func inventoryGraph(inv Inventory) graph {
	var g graph
	ids := newIDs()
	consumers := map[string]graphNode{}
	for _, row := range inv.Secrets {
		sid := ids.get("secret_", row.Secret)
		g.nodes = append(g.nodes, graphNode{id: sid, shape: shapeSecret, lines: []string{row.Secret, string(row.Kind)}})
		for i, src := range row.Sources {
			id := ids.get("src_", fmt.Sprintf("%s_%d", row.Secret, i+1))
			g.nodes = append(g.nodes, graphNode{id: id, shape: shapeSource, lines: []string{src.Location, src.Holds}})
			g.edges = append(g.edges, graphEdge{from: sid, to: id})
		}
		for _, c := range row.Consumers {
			n := consumerNode(ids, c)
			consumers[n.id] = n
		}
	}
	for _, id := range slices.Sorted(maps.Keys(consumers)) {
		g.nodes = append(g.nodes, consumers[id])
	}
	for _, row := range inv.Secrets {
		g.edges = append(g.edges, consumerEdges(ids, row)...)
	}
	return g
}

func consumerNode(ids *nodeIDs, c Consumer) graphNode {
	if c.Type == consumerHost {
		return graphNode{id: ids.get("host_", c.Name), shape: shapeHost, lines: []string{c.Name, "host file"}}
	}
	return graphNode{id: ids.get("svc_", c.Name), shape: shapeService, lines: []string{c.Name, "service"}}
}

func consumerEdges(ids *nodeIDs, row Row) []graphEdge {
	var out []graphEdge
	sid := ids.get("secret_", row.Secret)
	for i, c := range row.Consumers {
		to := consumerNode(ids, c).id
		label := fmt.Sprintf("%d. %s", i+1, c.Action)
		read := false
		for k, src := range row.Sources {
			if slices.ContainsFunc(src.ReadBy, func(r Reader) bool { return r.Consumer == c.Name }) {
				from := ids.get("src_", fmt.Sprintf("%s_%d", row.Secret, k+1))
				out = append(out, graphEdge{from: from, to: to, label: label})
				read = true
			}
		}
		if !read {
			out = append(out, graphEdge{from: sid, to: to, label: label + " (" + strings.Join(c.Via, ", ") + ")"})
		}
	}
	return out
}

// nodeIDs hands out graph ids: a prefix and the name with everything but letters and digits turned into
// '_'. Names that collide that way (a-b, a.b) get _2, _3… in the order they are first asked for, which
// the inventory's sorted order makes the same every run.
type nodeIDs struct {
	byKey map[string]string
	used  map[string]bool
}

func newIDs() *nodeIDs { return &nodeIDs{byKey: map[string]string{}, used: map[string]bool{}} }

func (n *nodeIDs) get(prefix, name string) string {
	key := prefix + "\x00" + name
	if id, ok := n.byKey[key]; ok {
		return id
	}
	base := prefix + strings.Map(func(r rune) rune {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return r
		}
		return '_'
	}, name)
	id := base
	for i := 2; n.used[id]; i++ {
		id = fmt.Sprintf("%s_%d", base, i)
	}
	n.byKey[key], n.used[id] = id, true
	return id
}

// printMermaid writes a `flowchart LR`. Labels are quoted strings with Mermaid's entity codes for the
// characters that would end or reinterpret them.
func printMermaid(w io.Writer, g graph) {
	fmt.Fprintln(w, "flowchart LR")
	open := map[string][2]string{shapeSecret: {"[[", "]]"}, shapeSource: {"[(", ")]"}, shapeService: {"(", ")"}, shapeHost: {"[/", "/]"}}
	for _, n := range g.nodes {
		parts := make([]string, len(n.lines))
		for i, l := range n.lines {
			parts[i] = mermaidEscape(l)
		}
		o := open[n.shape]
		fmt.Fprintf(w, "  %s%s\"%s\"%s\n", n.id, o[0], strings.Join(parts, "<br/>"), o[1])
	}
	for _, e := range g.edges {
		if e.label == "" {
			fmt.Fprintf(w, "  %s --> %s\n", e.from, e.to)
			continue
		}
		fmt.Fprintf(w, "  %s -->|\"%s\"| %s\n", e.from, mermaidEscape(e.label), e.to)
	}
	fmt.Fprintln(w, "  classDef secret font-weight:bold")
	fmt.Fprintln(w, "  classDef host stroke-dasharray:4 3")
	for _, n := range g.nodes {
		if n.shape == shapeSecret || n.shape == shapeHost {
			fmt.Fprintf(w, "  class %s %s\n", n.id, n.shape)
		}
	}
}

// mermaidEscape turns the characters Mermaid would read as markup into entity codes (#34; is a double
// quote). '#' itself is escaped first, so a name holding "#quot;" stays text.
var mermaidEscape = strings.NewReplacer(
	"#", "#35;", `"`, "#34;", "<", "#60;", ">", "#62;", "&", "#38;", "`", "#96;", "|", "#124;",
	"\n", " ", "\r", " ",
).Replace

// printDot writes a Graphviz digraph. Ids and labels are double-quoted strings; inside them only '"' and
// '\' are special (and a newline, which becomes the \n escape).
func printDot(w io.Writer, g graph) {
	fmt.Fprintln(w, "digraph rekey {")
	fmt.Fprintln(w, "  rankdir=LR;")
	fmt.Fprintln(w, "  node [fontname=\"Helvetica\"];")
	attrs := map[string]string{
		shapeSecret:  `shape=box, style=bold`,
		shapeSource:  `shape=cylinder`,
		shapeService: `shape=box, style=rounded`,
		shapeHost:    `shape=parallelogram, style=dashed`,
	}
	for _, n := range g.nodes {
		parts := make([]string, len(n.lines))
		for i, l := range n.lines {
			parts[i] = dotEscape(l)
		}
		fmt.Fprintf(w, "  \"%s\" [label=\"%s\", %s];\n", dotEscape(n.id), strings.Join(parts, `\n`), attrs[n.shape])
	}
	for _, e := range g.edges {
		if e.label == "" {
			fmt.Fprintf(w, "  \"%s\" -> \"%s\";\n", dotEscape(e.from), dotEscape(e.to))
			continue
		}
		fmt.Fprintf(w, "  \"%s\" -> \"%s\" [label=\"%s\"];\n", dotEscape(e.from), dotEscape(e.to), dotEscape(e.label))
	}
	fmt.Fprintln(w, "}")
}

var dotEscape = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", "").Replace
