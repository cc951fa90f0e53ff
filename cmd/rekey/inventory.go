package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/rekeyhq/rekey/composeio"
	"github.com/rekeyhq/rekey/reconcile"
)

// Formats of `rekey inventory`.
const (
	formatTable   = "table"
	formatJSON    = "json"
	formatMermaid = "mermaid"
	formatDot     = "dot"
)

// Kinds of hidden dependency: ways a secret reaches a consumer that a reader of compose.yaml easily misses.
const (
	hiddenShared   = "shared-variable" // one variable, several services: they switch one at a time
	hiddenBindFile = "bind-file"       // a single-file bind mount follows the inode
	hiddenInterp   = "interpolation"   // the value lands outside the environment (command, labels…)
	hiddenHostFile = "host-file"       // written by rekey, read by something it cannot restart
	hiddenNoHealth = "no-healthcheck"  // the health gate can only see that the container keeps running
)

// Words of the inventory's JSON.
const (
	consumerService  = "service"
	consumerHost     = "host"
	checkScopeOwn    = "consumer" // a host consumer's own check, run after that consumer only
	checkScopeSecret = "secret"
	checkScopeGlobal = "global"
	locationCurrent  = "current"
	locationPrevious = "previous"
)

// Prefixes of composeio's "via" reasons.
const (
	interpPrefix      = "interpolation:"
	interpEnvironment = interpPrefix + "environment"
	envFilePrefix     = "env_file:"
	bindFilePrefix    = composeio.KindBindFile + ":"
)

// inventory is the dependency map of the desired state. It is plain data: the render functions below
// turn it into a table, JSON, Mermaid or DOT.
type inventory struct {
	Revision   string         `json:"revision"`
	Repo       string         `json:"repo"`
	Project    string         `json:"project"`
	ProjectDir string         `json:"project_dir"`
	Secrets    []inventoryRow `json:"secrets"`
}

// inventoryRow is one secret: where it lives, who reads it, in which order they roll, what verifies it.
type inventoryRow struct {
	Secret       string         `json:"secret"`
	Kind         reconcile.Kind `json:"kind"`
	Sources      []invSource    `json:"sources"`
	Consumers    []invConsumer  `json:"consumers"`     // in roll order
	RestartOrder []string       `json:"restart_order"` // the consumers rekey rolls, in order
	Checks       []invCheck     `json:"checks"`        // run after each consumer: the secret's, then global
	Hidden       []hiddenDep    `json:"hidden,omitempty"`
	// Server is the credential server the value is a password of: it accepts old and new during a
	// rotation (or is swapped with consumers stopped) and is rolled after the revoke when it reads it too.
	Server *reconcile.Server `json:"server,omitempty"`
	Swap   bool              `json:"swap,omitempty"`
}

// invSource is one location of a secret and the consumers that read it there.
type invSource struct {
	Location string      `json:"location"` // path:VAR, or path for a whole file
	Path     string      `json:"path"`
	Key      string      `json:"key,omitempty"`
	Holds    string      `json:"holds"` // current or previous
	ReadBy   []invReader `json:"read_by,omitempty"`
}

// invReader is a consumer reading one source, and how.
type invReader struct {
	Consumer string   `json:"consumer"`
	Via      []string `json:"via"`
}

// invConsumer is a consumer of a secret, as the plan rolls it.
type invConsumer struct {
	Name   string               `json:"name"`
	Type   string               `json:"type"`   // service or host
	Action reconcile.RollAction `json:"action"` // recreate, restart or none
	Via    []string             `json:"via,omitempty"`
	Checks []invCheck           `json:"checks,omitempty"` // its own checks, run before the secret's
}

// invCheck is one verification and whose it is.
type invCheck struct {
	Scope string          `json:"scope"` // consumer, secret or global
	Text  string          `json:"text"`
	Check reconcile.Check `json:"check"`
}

// hiddenDep is a dependency the desired state reveals, as a short note for humans.
type hiddenDep struct {
	Kind     string `json:"kind"`
	Consumer string `json:"consumer,omitempty"`
	Note     string `json:"note"`
}

// invFacts is what the inventory needs from the Compose project besides the desired state.
type invFacts struct {
	dotenv    string                         // the project .env, where interpolated variables live
	varUses   map[string][]composeio.VarUse  // variable -> services using it, and how
	fileUses  map[string][]composeio.FileUse // whole-file location -> services seeing it
	noHealth  map[string]string              // service -> "none" or "disabled" (no compose healthcheck)
	ownChecks map[string]int                 // secret -> how many of Secret.Checks are its own
}

func cmdInventory(ctx context.Context, args []string, e env) error {
	var o options
	fs := newFlagSet("inventory", e.stderr, &o)
	format := fs.String("format", "", "table, json, mermaid or dot (default table; json with --output json)")
	if err := o.parse(fs, args); err != nil {
		return err
	}
	f, err := inventoryFormat(*format, o.json())
	if err != nil {
		return err
	}
	s, err := load(ctx, &o, e)
	if err != nil {
		return err
	}
	inv, err := s.inventory(ctx)
	if err != nil {
		return s.redact.Error(err)
	}
	var b bytes.Buffer
	if err := renderInventory(&b, f, inv); err != nil {
		return err
	}
	// Nothing here holds a value; the redactor is a second line of defence, as in every other output.
	_, err = io.WriteString(e.stdout, s.redact.String(b.String()))
	return err
}

// inventoryFormat reconciles --format with --output: --output json alone means json.
func inventoryFormat(format string, json bool) (string, error) {
	switch {
	case format == "" && json:
		return formatJSON, nil
	case format == "":
		return formatTable, nil
	case !slices.Contains([]string{formatTable, formatJSON, formatMermaid, formatDot}, format):
		return "", usageError("--format must be table, json, mermaid or dot, got %q", format)
	case json && format != formatJSON:
		return "", usageError("--output json and --format %s disagree: pick one", format)
	}
	return format, nil
}

func renderInventory(w io.Writer, format string, inv inventory) error {
	switch format {
	case formatJSON:
		return writeJSON(w, inv)
	case formatMermaid:
		printMermaid(w, inventoryGraph(inv))
	case formatDot:
		printDot(w, inventoryGraph(inv))
	default:
		printInventory(w, inv)
	}
	return nil
}

// inventory builds the dependency map of the loaded desired state. It asks the Compose project again
// which service reads which variable: the desired state merges that per secret, the map needs it per
// location.
func (s *session) inventory(ctx context.Context) (inventory, error) {
	f := invFacts{dotenv: s.project.DotEnvPath(), fileUses: map[string][]composeio.FileUse{},
		noHealth: map[string]string{}, ownChecks: map[string]int{}}
	if f.dotenv == "" {
		f.dotenv = filepath.Join(s.project.Dir(), ".env")
	}
	var vars []string
	for _, sec := range s.desired.Secrets {
		f.ownChecks[sec.Name] = len(s.cfg.Secrets[sec.Name].Verify)
		cur, prev := s.cfg.Secrets[sec.Name].Vars()
		vars = append(vars, slices.DeleteFunc([]string{cur, prev}, func(v string) bool { return v == "" })...)
		for _, l := range append(slices.Clone(sec.Current), sec.Previous...) {
			if l.Key != "" || isHost(sec, l.Path) {
				continue
			}
			uses, err := s.project.ConsumersOfFile(l.Path)
			if err != nil {
				return inventory{}, fmt.Errorf("failed to find the consumers of %s: %w", l.Path, err)
			}
			f.fileUses[l.Path] = uses
		}
	}
	uses, err := s.project.ConsumersOfVars(ctx, vars)
	if err != nil {
		return inventory{}, fmt.Errorf("failed to find the consumers of the secrets' variables: %w", err)
	}
	f.varUses = uses
	for name, svc := range s.project.Types().Services {
		switch {
		case svc.HealthCheck == nil:
			f.noHealth[name] = "none"
		case svc.HealthCheck.Disable:
			f.noHealth[name] = "disabled"
		}
	}
	inv := inventory{Revision: s.commit.Hash, Repo: s.repo.String(), Project: s.project.Name(), ProjectDir: s.project.Dir()}
	for _, sec := range s.desired.Secrets {
		inv.Secrets = append(inv.Secrets, inventorySecret(sec, f))
	}
	return inv, nil
}

// isHost reports whether path is a host-file consumer of the secret.
func isHost(sec reconcile.Secret, path string) bool {
	return slices.ContainsFunc(sec.Consumers, func(c reconcile.Consumer) bool {
		return c.Action == reconcile.NoRoll && c.Name == path
	})
}

// inventorySecret lays out one secret of the desired state.
func inventorySecret(sec reconcile.Secret, f invFacts) inventoryRow {
	row := inventoryRow{Secret: sec.Name, Kind: sec.Kind, RestartOrder: []string{}, Server: sec.Server, Swap: sec.Swap}
	for _, l := range sec.Current {
		row.Sources = append(row.Sources, source(sec, l, locationCurrent, f))
	}
	for _, l := range sec.Previous {
		row.Sources = append(row.Sources, source(sec, l, locationPrevious, f))
	}
	for _, c := range sec.Consumers {
		ic := invConsumer{Name: c.Name, Type: consumerService, Action: c.Action, Via: c.Via}
		if c.Action == reconcile.NoRoll {
			ic.Type = consumerHost
		} else {
			row.RestartOrder = append(row.RestartOrder, c.Name)
		}
		for _, ch := range c.Checks {
			ic.Checks = append(ic.Checks, invCheck{Scope: checkScopeOwn, Text: ch.String(), Check: ch})
		}
		row.Consumers = append(row.Consumers, ic)
	}
	own := min(f.ownChecks[sec.Name], len(sec.Checks))
	row.Checks = []invCheck{}
	for i, ch := range sec.Checks {
		scope := checkScopeGlobal
		if i < own {
			scope = checkScopeSecret
		}
		row.Checks = append(row.Checks, invCheck{Scope: scope, Text: ch.String(), Check: ch})
	}
	row.Hidden = hiddenDeps(row, f)
	return row
}

// source says who reads one location: the host consumer that is that file, the services that see the
// whole file, or the services a variable reaches from this file (the project .env interpolates, an
// env_file only feeds the services that list it).
func source(sec reconcile.Secret, l reconcile.Location, holds string, f invFacts) invSource {
	src := invSource{Location: l.String(), Path: l.Path, Key: l.Key, Holds: holds}
	switch {
	case isHost(sec, l.Path):
		src.ReadBy = []invReader{{Consumer: l.Path, Via: []string{"host_file"}}}
	case l.Key == "":
		for _, u := range f.fileUses[l.Path] {
			if isConsumer(sec, u.Service) {
				src.ReadBy = addReader(src.ReadBy, u.Service, u.Kind+":"+u.Target)
			}
		}
	default:
		for _, u := range f.varUses[l.Key] {
			if via := varVia(u, l.Path, f.dotenv); len(via) > 0 && isConsumer(sec, u.Service) {
				src.ReadBy = addReader(src.ReadBy, u.Service, via...)
			}
		}
	}
	return src
}

// varVia is how a service reads a variable from one file, if it does.
func varVia(u composeio.VarUse, path, dotenv string) []string {
	var via []string
	for _, v := range u.Via {
		switch {
		case v == envFilePrefix+path:
			via = append(via, v)
		case path == dotenv && !strings.HasPrefix(v, envFilePrefix):
			via = append(via, v)
		}
	}
	return via
}

func addReader(rs []invReader, consumer string, via ...string) []invReader {
	for i := range rs {
		if rs[i].Consumer == consumer {
			rs[i].Via = append(rs[i].Via, via...)
			return rs
		}
	}
	return append(rs, invReader{Consumer: consumer, Via: via})
}

func isConsumer(sec reconcile.Secret, name string) bool {
	return slices.ContainsFunc(sec.Consumers, func(c reconcile.Consumer) bool { return c.Name == name })
}

// hiddenDeps lists, in a fixed order, what an operator should know before touching this secret by hand.
func hiddenDeps(row inventoryRow, f invFacts) []hiddenDep {
	out := sharedVars(row)
	out = append(out, bindFiles(row)...)
	for _, c := range row.Consumers {
		for _, v := range c.Via {
			if area, ok := strings.CutPrefix(v, interpPrefix); ok && v != interpEnvironment {
				out = append(out, hiddenDep{Kind: hiddenInterp, Consumer: c.Name, Note: interpNote(c.Name, area, v)})
			}
		}
	}
	for _, c := range row.Consumers {
		if c.Type != consumerHost {
			continue
		}
		note := fmt.Sprintf("host file %s: rekey writes it but restarts nothing; whatever reads it (cron, scripts) picks the value up on its own", c.Name)
		if len(c.Checks) == 0 {
			note += ", and it has no check of its own"
		}
		out = append(out, hiddenDep{Kind: hiddenHostFile, Consumer: c.Name, Note: note})
	}
	for _, c := range row.Consumers {
		if why, ok := f.noHealth[c.Name]; ok && c.Type == consumerService {
			out = append(out, hiddenDep{Kind: hiddenNoHealth, Consumer: c.Name, Note: noHealthNote(c.Name, why, len(row.Checks) > 0)})
		}
	}
	return out
}

// bindFiles notes every whole-file source a service mounts as a single file.
func bindFiles(row inventoryRow) []hiddenDep {
	var out []hiddenDep
	for _, src := range row.Sources {
		for _, r := range src.ReadBy {
			for _, v := range r.Via {
				if target, ok := strings.CutPrefix(v, bindFilePrefix); ok {
					out = append(out, hiddenDep{Kind: hiddenBindFile, Consumer: r.Consumer, Note: fmt.Sprintf(
						"%s mounts %s as a single-file bind mount at %s: it follows the inode, so edit the file in place (an editor or mv that replaces it leaves %s on the old content)",
						r.Consumer, src.Path, target, r.Consumer)})
				}
			}
		}
	}
	return out
}

// sharedVars notes every variable of the secret that reaches more than one service.
func sharedVars(row inventoryRow) []hiddenDep {
	var out []hiddenDep
	for _, src := range row.Sources {
		if src.Key == "" || len(src.ReadBy) < 2 || slices.ContainsFunc(row.Consumers, func(c invConsumer) bool { return c.Name == src.Path }) {
			continue
		}
		names := make([]string, len(src.ReadBy))
		for i, r := range src.ReadBy {
			names[i] = r.Consumer
		}
		note := fmt.Sprintf("%s in %s reaches %d services (%s): they pick up a new value one at a time, in roll order",
			src.Key, src.Path, len(names), strings.Join(names, ", "))
		if row.Kind == reconcile.KindToken {
			note += "; a token has no overlap window, so between two rolls they hold different values"
		}
		out = append(out, hiddenDep{Kind: hiddenShared, Note: note})
	}
	return out
}

// interpNote says where an interpolated value shows besides the environment.
func interpNote(consumer, area, via string) string {
	where, seen := area, "in docker inspect"
	switch area {
	case "command", "entrypoint":
		seen += " and in the host's process list"
	case "labels":
		seen += " and to anything that reads labels (proxies, monitoring)"
	case "other":
		where = "configuration outside environment, command, entrypoint, healthcheck and labels"
	}
	return fmt.Sprintf("%s gets the value interpolated into its %s (%s), not only its environment: it shows %s", consumer, where, via, seen)
}

func noHealthNote(name, why string, checks bool) string {
	note := fmt.Sprintf("%s has no healthcheck in the compose file", name)
	if why == "disabled" {
		note = fmt.Sprintf("%s has its healthcheck disabled in the compose file", name)
	}
	note += " (its image may still define one): without one, the health gate only sees that it keeps running for 2 s"
	if !checks {
		note += ", and this secret has no checks"
	}
	return note
}

// printInventory writes the readable table, one block per secret.
func printInventory(w io.Writer, inv inventory) {
	fmt.Fprintf(w, "dependency map at %s; compose project %s in %s\n", short(inv.Revision), inv.Project, inv.ProjectDir)
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

func readers(rs []invReader) string {
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
func printChecks(w io.Writer, row inventoryRow) {
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
func inventoryGraph(inv inventory) graph {
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

func consumerNode(ids *nodeIDs, c invConsumer) graphNode {
	if c.Type == consumerHost {
		return graphNode{id: ids.get("host_", c.Name), shape: shapeHost, lines: []string{c.Name, "host file"}}
	}
	return graphNode{id: ids.get("svc_", c.Name), shape: shapeService, lines: []string{c.Name, "service"}}
}

func consumerEdges(ids *nodeIDs, row inventoryRow) []graphEdge {
	var out []graphEdge
	sid := ids.get("secret_", row.Secret)
	for i, c := range row.Consumers {
		to := consumerNode(ids, c).id
		label := fmt.Sprintf("%d. %s", i+1, c.Action)
		read := false
		for k, src := range row.Sources {
			if slices.ContainsFunc(src.ReadBy, func(r invReader) bool { return r.Consumer == c.Name }) {
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
