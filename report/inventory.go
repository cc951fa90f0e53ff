package report

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rekeyhq/rekey/composeio"
	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/reconcile"
)

// Formats of `rekey inventory`.
const (
	FormatTable   = "table"
	FormatJSON    = "json"
	FormatMermaid = "mermaid"
	FormatDot     = "dot"
)

// Kinds of hidden dependency: ways a secret reaches a consumer that a reader of compose.yaml easily misses.
const (
	HiddenShared   = "shared-variable" // one variable, several services: they switch one at a time
	HiddenBindFile = "bind-file"       // a single-file bind mount follows the inode
	HiddenInterp   = "interpolation"   // the value lands outside the environment (command, labels…)
	HiddenHostFile = "host-file"       // written by rekey, read by something it cannot restart
	HiddenNoHealth = "no-healthcheck"  // the health gate can only see that the container keeps running
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

// Inventory is the dependency map of the desired state. It is plain data: RenderInventory
// (inventory_text.go) turns it into a table, JSON, Mermaid or DOT.
type Inventory struct {
	Revision   string `json:"revision"`
	Repo       string `json:"repo"`
	Project    string `json:"project"`
	ProjectDir string `json:"project_dir"`
	Secrets    []Row  `json:"secrets"`
}

// Row is one secret: where it lives, who reads it, in which order they roll, what verifies it.
type Row struct {
	Secret       string         `json:"secret"`
	Kind         reconcile.Kind `json:"kind"`
	Sources      []Source       `json:"sources"`
	Consumers    []Consumer     `json:"consumers"`     // in roll order
	RestartOrder []string       `json:"restart_order"` // the consumers rekey rolls, in order
	Checks       []Check        `json:"checks"`        // run after each consumer: the secret's, then global
	Hidden       []Hidden       `json:"hidden,omitempty"`
	// Server is the credential server the value is a password of: it accepts old and new during a
	// rotation (or is swapped with consumers stopped) and is rolled after the revoke when it reads it too.
	Server *reconcile.Server `json:"server,omitempty"`
	Swap   bool              `json:"swap,omitempty"`
}

// Source is one location of a secret and the consumers that read it there.
type Source struct {
	Location string   `json:"location"` // path:VAR, or path for a whole file
	Path     string   `json:"path"`
	Key      string   `json:"key,omitempty"`
	Holds    string   `json:"holds"` // current or previous
	ReadBy   []Reader `json:"read_by,omitempty"`
}

// Reader is a consumer reading one source, and how.
type Reader struct {
	Consumer string   `json:"consumer"`
	Via      []string `json:"via"`
}

// Consumer is a consumer of a secret, as the plan rolls it.
type Consumer struct {
	Name   string               `json:"name"`
	Type   string               `json:"type"`   // service or host
	Action reconcile.RollAction `json:"action"` // recreate, restart or none
	Via    []string             `json:"via,omitempty"`
	Checks []Check              `json:"checks,omitempty"` // its own checks, run before the secret's
}

// Check is one verification and whose it is.
type Check struct {
	Scope string          `json:"scope"` // consumer, secret or global
	Text  string          `json:"text"`
	Check reconcile.Check `json:"check"`
}

// Hidden is a dependency the desired state reveals, as a short note for humans.
type Hidden struct {
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

// InventoryInput is a loaded desired state: the config and Compose project it was built from.
type InventoryInput struct {
	Revision string // the commit the desired state was read at
	Repo     string // the repository, as shown to humans
	Config   *config.Config
	Project  *composeio.Project
	Desired  reconcile.Desired
}

// BuildInventory builds the dependency map of a loaded desired state. It asks the Compose project again
// which service reads which variable: the desired state merges that per secret, the map needs it per
// location.
func BuildInventory(ctx context.Context, in InventoryInput) (Inventory, error) {
	f, err := inventoryFacts(ctx, in)
	if err != nil {
		return Inventory{}, err
	}
	inv := Inventory{Revision: in.Revision, Repo: in.Repo, Project: in.Project.Name(), ProjectDir: in.Project.Dir()}
	for _, sec := range in.Desired.Secrets {
		inv.Secrets = append(inv.Secrets, inventorySecret(sec, f))
	}
	return inv, nil
}

// inventoryFacts asks the Compose project who reads each variable and file of the desired state.
func inventoryFacts(ctx context.Context, in InventoryInput) (invFacts, error) {
	f := invFacts{dotenv: in.Project.DotEnvPath(), fileUses: map[string][]composeio.FileUse{},
		noHealth: map[string]string{}, ownChecks: map[string]int{}}
	if f.dotenv == "" {
		f.dotenv = filepath.Join(in.Project.Dir(), ".env")
	}
	var vars []string
	for _, sec := range in.Desired.Secrets {
		f.ownChecks[sec.Name] = len(in.Config.Secrets[sec.Name].Verify)
		cur, prev := in.Config.Secrets[sec.Name].Vars()
		vars = append(vars, slices.DeleteFunc([]string{cur, prev}, func(v string) bool { return v == "" })...)
		for _, l := range append(slices.Clone(sec.Current), sec.Previous...) {
			if l.Key != "" || isHost(sec, l.Path) {
				continue
			}
			uses, err := in.Project.ConsumersOfFile(l.Path)
			if err != nil {
				return invFacts{}, fmt.Errorf("failed to find the consumers of %s: %w", l.Path, err)
			}
			f.fileUses[l.Path] = uses
		}
	}
	uses, err := in.Project.ConsumersOfVars(ctx, vars)
	if err != nil {
		return invFacts{}, fmt.Errorf("failed to find the consumers of the secrets' variables: %w", err)
	}
	f.varUses = uses
	for name, svc := range in.Project.Types().Services {
		switch {
		case svc.HealthCheck == nil:
			f.noHealth[name] = "none"
		case svc.HealthCheck.Disable:
			f.noHealth[name] = "disabled"
		}
	}
	return f, nil
}

// isHost reports whether path is a host-file consumer of the secret.
func isHost(sec reconcile.Secret, path string) bool {
	return slices.ContainsFunc(sec.Consumers, func(c reconcile.Consumer) bool {
		return c.Action == reconcile.NoRoll && c.Name == path
	})
}

// inventorySecret lays out one secret of the desired state.
func inventorySecret(sec reconcile.Secret, f invFacts) Row {
	row := Row{Secret: sec.Name, Kind: sec.Kind, RestartOrder: []string{}, Server: sec.Server, Swap: sec.Swap}
	for _, l := range sec.Current {
		row.Sources = append(row.Sources, source(sec, l, locationCurrent, f))
	}
	for _, l := range sec.Previous {
		row.Sources = append(row.Sources, source(sec, l, locationPrevious, f))
	}
	for _, c := range sec.Consumers {
		ic := Consumer{Name: c.Name, Type: consumerService, Action: c.Action, Via: c.Via}
		switch {
		case c.Action == reconcile.NoRoll && slices.Contains(c.Via, "host_file"):
			ic.Type = consumerHost
		case c.Action == reconcile.NoRoll: // a bootstrap-only service: a service, not rolled
		default:
			row.RestartOrder = append(row.RestartOrder, c.Name)
		}
		for _, ch := range c.Checks {
			ic.Checks = append(ic.Checks, Check{Scope: checkScopeOwn, Text: ch.String(), Check: ch})
		}
		row.Consumers = append(row.Consumers, ic)
	}
	own := min(f.ownChecks[sec.Name], len(sec.Checks))
	row.Checks = []Check{}
	for i, ch := range sec.Checks {
		scope := checkScopeGlobal
		if i < own {
			scope = checkScopeSecret
		}
		row.Checks = append(row.Checks, Check{Scope: scope, Text: ch.String(), Check: ch})
	}
	row.Hidden = hiddenDeps(row, f)
	return row
}

// source says who reads one location: the host consumer that is that file, the services that see the
// whole file, or the services a variable reaches from this file (the project .env interpolates, an
// env_file only feeds the services that list it).
func source(sec reconcile.Secret, l reconcile.Location, holds string, f invFacts) Source {
	src := Source{Location: l.String(), Path: l.Path, Key: l.Key, Holds: holds}
	switch {
	case isHost(sec, l.Path):
		src.ReadBy = []Reader{{Consumer: l.Path, Via: []string{"host_file"}}}
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

func addReader(rs []Reader, consumer string, via ...string) []Reader {
	for i := range rs {
		if rs[i].Consumer == consumer {
			rs[i].Via = append(rs[i].Via, via...)
			return rs
		}
	}
	return append(rs, Reader{Consumer: consumer, Via: via})
}

func isConsumer(sec reconcile.Secret, name string) bool {
	return slices.ContainsFunc(sec.Consumers, func(c reconcile.Consumer) bool { return c.Name == name })
}

// hiddenDeps lists, in a fixed order, what an operator should know before touching this secret by hand.
func hiddenDeps(row Row, f invFacts) []Hidden {
	out := sharedVars(row)
	out = append(out, bindFiles(row)...)
	for _, c := range row.Consumers {
		for _, v := range c.Via {
			if area, ok := strings.CutPrefix(v, interpPrefix); ok && v != interpEnvironment {
				out = append(out, Hidden{Kind: HiddenInterp, Consumer: c.Name, Note: interpNote(c.Name, area, v)})
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
		out = append(out, Hidden{Kind: HiddenHostFile, Consumer: c.Name, Note: note})
	}
	for _, c := range row.Consumers {
		if why, ok := f.noHealth[c.Name]; ok && c.Type == consumerService {
			out = append(out, Hidden{Kind: HiddenNoHealth, Consumer: c.Name, Note: noHealthNote(c.Name, why, len(row.Checks) > 0)})
		}
	}
	return out
}

// bindFiles notes every whole-file source a service mounts as a single file.
func bindFiles(row Row) []Hidden {
	var out []Hidden
	for _, src := range row.Sources {
		for _, r := range src.ReadBy {
			for _, v := range r.Via {
				if target, ok := strings.CutPrefix(v, bindFilePrefix); ok {
					out = append(out, Hidden{Kind: HiddenBindFile, Consumer: r.Consumer, Note: fmt.Sprintf(
						"%s mounts %s as a single-file bind mount at %s: it follows the inode, so edit the file in place (an editor or mv that replaces it leaves %s on the old content)",
						r.Consumer, src.Path, target, r.Consumer)})
				}
			}
		}
	}
	return out
}

// sharedVars notes every variable of the secret that reaches more than one service.
func sharedVars(row Row) []Hidden {
	var out []Hidden
	for _, src := range row.Sources {
		if src.Key == "" || len(src.ReadBy) < 2 || slices.ContainsFunc(row.Consumers, func(c Consumer) bool { return c.Name == src.Path }) {
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
		out = append(out, Hidden{Kind: HiddenShared, Note: note})
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
