package report

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/composeio"
	"github.com/rekeyhq/rekey/reconcile"
)

// fixture is a small stack: an app key read by app (environment) and worker (command), a token in a
// file mounted by worker, and a token also written to a host file.
func fixture() (reconcile.Desired, invFacts) {
	env := "/srv/shop/.env"
	http := reconcile.Check{Kind: reconcile.CheckHTTP, URL: "http://127.0.0.1:8080/healthz", Status: 200}
	logs := reconcile.Check{Kind: reconcile.CheckLogs, Deny: []string{"invalid signature"}}
	host := reconcile.Check{Kind: reconcile.CheckCmd, Cmd: []string{"/usr/local/bin/backup", "--check"}}
	d := reconcile.Desired{Revision: "0123456789abcdef0123", Secrets: []reconcile.Secret{
		{
			Name: "api-token", Kind: reconcile.KindToken,
			Current: []reconcile.Location{{Path: env, Key: "API_TOKEN"}, {Path: "/etc/shop/backup.env", Key: "BACKUP_KEY"}},
			Consumers: []reconcile.Consumer{
				{Name: "worker", Action: reconcile.Recreate, Via: []string{"interpolation:labels"}},
				{Name: "/etc/shop/backup.env", Action: reconcile.NoRoll, Via: []string{"host_file"}, Checks: []reconcile.Check{host}},
			},
			Checks: []reconcile.Check{http},
		},
		{
			Name: "session-key", Kind: reconcile.KindAppKey,
			Current:  []reconcile.Location{{Path: env, Key: "SESSION_SECRET"}},
			Previous: []reconcile.Location{{Path: env, Key: "SESSION_SECRET_PREVIOUS"}},
			Consumers: []reconcile.Consumer{
				{Name: "app", Action: reconcile.Recreate, Via: []string{"interpolation:environment"}},
				{Name: "worker", Action: reconcile.Recreate, Via: []string{"interpolation:command"}},
			},
			Checks: []reconcile.Check{logs, http},
		},
		{
			Name: "webhook-token", Kind: reconcile.KindToken,
			Current:   []reconcile.Location{{Path: "/srv/shop/secrets/token.txt"}},
			Consumers: []reconcile.Consumer{{Name: "worker", Action: reconcile.Restart, Via: []string{"bind-file:/run/token"}}},
		},
	}}
	f := invFacts{
		dotenv: env,
		varUses: map[string][]composeio.VarUse{
			"API_TOKEN":               {{Service: "worker", Via: []string{"interpolation:labels"}}},
			"SESSION_SECRET":          {{Service: "app", Via: []string{"interpolation:environment"}}, {Service: "worker", Via: []string{"interpolation:command"}}},
			"SESSION_SECRET_PREVIOUS": {{Service: "app", Via: []string{"interpolation:environment"}}},
		},
		fileUses: map[string][]composeio.FileUse{
			"/srv/shop/secrets/token.txt": {{Service: "worker", Target: "/run/token", Kind: composeio.KindBindFile}},
		},
		noHealth:  map[string]string{"worker": "none"},
		ownChecks: map[string]int{"session-key": 1},
	}
	return d, f
}

func fixtureInventory() Inventory {
	d, f := fixture()
	inv := Inventory{Revision: d.Revision, Repo: "/srv/secrets-repo", Project: "shop", ProjectDir: "/srv/shop"}
	for _, sec := range d.Secrets {
		inv.Secrets = append(inv.Secrets, inventorySecret(sec, f))
	}
	return inv
}

func render(t *testing.T, format string, inv Inventory) string {
	t.Helper()
	var b bytes.Buffer
	if err := RenderInventory(&b, format, inv); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := RenderInventory(&again, format, inv); err != nil {
		t.Fatal(err)
	}
	if b.String() != again.String() {
		t.Fatalf("%s output differs between two runs", format)
	}
	return b.String()
}

func TestInventorySources(t *testing.T) {
	inv := fixtureInventory()
	sk := inv.Secrets[1]
	want := []Source{
		{Location: "/srv/shop/.env:SESSION_SECRET", Path: "/srv/shop/.env", Key: "SESSION_SECRET", Holds: locationCurrent,
			ReadBy: []Reader{{Consumer: "app", Via: []string{"interpolation:environment"}}, {Consumer: "worker", Via: []string{"interpolation:command"}}}},
		{Location: "/srv/shop/.env:SESSION_SECRET_PREVIOUS", Path: "/srv/shop/.env", Key: "SESSION_SECRET_PREVIOUS", Holds: locationPrevious,
			ReadBy: []Reader{{Consumer: "app", Via: []string{"interpolation:environment"}}}},
	}
	if !reflect.DeepEqual(sk.Sources, want) {
		t.Errorf("sources = %+v\nwant %+v", sk.Sources, want)
	}
	if !reflect.DeepEqual(sk.RestartOrder, []string{"app", "worker"}) {
		t.Errorf("restart order = %v", sk.RestartOrder)
	}
	if got := []string{sk.Checks[0].Scope, sk.Checks[1].Scope}; !reflect.DeepEqual(got, []string{checkScopeSecret, checkScopeGlobal}) {
		t.Errorf("check scopes = %v, want the secret's first, then global", got)
	}
	api := inv.Secrets[0]
	if !reflect.DeepEqual(api.RestartOrder, []string{"worker"}) {
		t.Errorf("a host file is not restarted: restart order = %v", api.RestartOrder)
	}
	if c := api.Consumers[1]; c.Type != consumerHost || len(c.Checks) != 1 || c.Checks[0].Scope != checkScopeOwn {
		t.Errorf("host consumer = %+v", c)
	}
}

func TestInventoryEnvFileOnlyFeedsItsServices(t *testing.T) {
	sec := reconcile.Secret{Name: "t", Kind: reconcile.KindToken,
		Current: []reconcile.Location{{Path: "/s/.env", Key: "T"}, {Path: "/s/worker.env", Key: "T"}},
		Consumers: []reconcile.Consumer{
			{Name: "app", Action: reconcile.Recreate, Via: []string{"interpolation:environment"}},
			{Name: "worker", Action: reconcile.Recreate, Via: []string{"env_file:/s/worker.env"}},
		}}
	f := invFacts{dotenv: "/s/.env", varUses: map[string][]composeio.VarUse{"T": {
		{Service: "app", Via: []string{"interpolation:environment"}},
		{Service: "worker", Via: []string{"env_file:/s/worker.env"}},
	}}}
	row := inventorySecret(sec, f)
	if got := readers(row.Sources[0].ReadBy); got != "app" {
		t.Errorf(".env read by %s, want app", got)
	}
	if got := readers(row.Sources[1].ReadBy); got != "worker" {
		t.Errorf("worker.env read by %s, want worker", got)
	}
	if len(row.Hidden) != 0 {
		t.Errorf("one service per file is not shared: %+v", row.Hidden)
	}
}

func TestHiddenDeps(t *testing.T) {
	inv := fixtureInventory()
	kinds := func(row Row) []string {
		var out []string
		for _, h := range row.Hidden {
			out = append(out, h.Kind+" "+h.Consumer)
		}
		return out
	}
	tests := []struct {
		row  Row
		want []string
	}{
		{inv.Secrets[0], []string{"interpolation worker", "host-file /etc/shop/backup.env", "no-healthcheck worker"}},
		{inv.Secrets[1], []string{"shared-variable ", "interpolation worker", "no-healthcheck worker"}},
		{inv.Secrets[2], []string{"bind-file worker", "no-healthcheck worker"}},
	}
	for _, tt := range tests {
		if got := kinds(tt.row); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: hidden = %q, want %q", tt.row.Secret, got, tt.want)
		}
	}
	notes := map[string]string{}
	for _, row := range inv.Secrets {
		for _, h := range row.Hidden {
			notes[row.Secret+" "+h.Kind] = h.Note
		}
	}
	for key, want := range map[string]string{
		"session-key shared-variable":  "SESSION_SECRET in /srv/shop/.env reaches 2 services (app, worker)",
		"session-key interpolation":    "worker gets the value interpolated into its command (interpolation:command)",
		"webhook-token bind-file":      "worker mounts /srv/shop/secrets/token.txt as a single-file bind mount at /run/token",
		"webhook-token no-healthcheck": "and this secret has no checks",
		"api-token host-file":          "host file /etc/shop/backup.env: rekey writes it but restarts nothing",
		"api-token interpolation":      "to anything that reads labels",
	} {
		if !strings.Contains(notes[key], want) {
			t.Errorf("%s note = %q, want it to contain %q", key, notes[key], want)
		}
	}
	if strings.Contains(notes["session-key shared-variable"], "overlap") {
		t.Error("an app key has an overlap window: no token warning")
	}
}

func TestInventoryTable(t *testing.T) {
	out := render(t, FormatTable, fixtureInventory())
	for _, want := range []string{
		"dependency map at 0123456789ab; compose project shop in /srv/shop\n",
		"\nsession-key (app-key)\n  sources:\n    /srv/shop/.env:SESSION_SECRET           current   → app, worker\n    /srv/shop/.env:SESSION_SECRET_PREVIOUS  previous  → app\n",
		"  consumers, in roll order:\n    1. app     service  recreate  interpolation:environment\n    2. worker  service  recreate  interpolation:command\n",
		"  restart order: app → worker\n",
		"    secret  logs of rolled consumers deny [\"invalid signature\"]\n    global  http http://127.0.0.1:8080/healthz → 200\n",
		"    after /etc/shop/backup.env  host cmd: /usr/local/bin/backup --check\n",
		"  checks: (none: only the health gate)\n",
		"    - bind-file: worker mounts /srv/shop/secrets/token.txt",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestInventoryJSONShape(t *testing.T) {
	out := render(t, FormatJSON, fixtureInventory())
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"revision", "repo", "project", "project_dir", "secrets"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("no %q in %s", k, out)
		}
	}
	sec := doc["secrets"].([]any)[2].(map[string]any)
	for _, k := range []string{"secret", "kind", "sources", "consumers", "restart_order", "checks", "hidden"} {
		if _, ok := sec[k]; !ok {
			t.Errorf("no %q in a secret", k)
		}
	}
	if checks, ok := sec["checks"].([]any); !ok || len(checks) != 0 {
		t.Errorf("checks = %v, want [] (not null) for a secret without checks", sec["checks"])
	}
	src := sec["sources"].([]any)[0].(map[string]any)
	if src["location"] != "/srv/shop/secrets/token.txt" || src["holds"] != "current" {
		t.Errorf("source = %v", src)
	}
	if _, ok := src["key"]; ok {
		t.Error("a whole file has no key")
	}
	var back Inventory
	if err := json.Unmarshal([]byte(out), &back); err != nil || !reflect.DeepEqual(back, fixtureInventory()) {
		t.Errorf("JSON does not read back into the same inventory (%v)", err)
	}
}

func TestInventoryMermaid(t *testing.T) {
	out := render(t, FormatMermaid, fixtureInventory())
	for _, want := range []string{
		"flowchart LR\n",
		"  secret_session_key[[\"session-key<br/>app-key\"]]\n",
		"  src_session_key_1[(\"/srv/shop/.env:SESSION_SECRET<br/>current\")]\n",
		"  svc_worker(\"worker<br/>service\")\n",
		"  host__etc_shop_backup_env[/\"/etc/shop/backup.env<br/>host file\"/]\n",
		"  secret_session_key --> src_session_key_1\n",
		"  src_session_key_1 -->|\"2. recreate\"| svc_worker\n",
		"  src_webhook_token_1 -->|\"1. restart\"| svc_worker\n",
		"  class host__etc_shop_backup_env host\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("mermaid lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "svc_worker(") != 1 {
		t.Error("a service shared by several secrets must be one node")
	}
}

func TestInventoryDot(t *testing.T) {
	out := render(t, FormatDot, fixtureInventory())
	for _, want := range []string{
		"digraph rekey {\n  rankdir=LR;\n",
		"  \"secret_session_key\" [label=\"session-key\\napp-key\", shape=box, style=bold];\n",
		"  \"src_session_key_1\" -> \"svc_worker\" [label=\"2. recreate\"];\n",
		"}\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dot lacks %q:\n%s", want, out)
		}
	}
}

// nasty names every character the graph syntaxes treat specially.
func nastyInventory() Inventory {
	name := `we"ird\svc<b>#quot;&|` + "`x`\nnl"
	return Inventory{Revision: "r", Secrets: []Row{{
		Secret: "s", Kind: reconcile.KindToken,
		Sources:   []Source{{Location: `/p/"q"\r.txt`, Path: `/p/"q"\r.txt`, Holds: locationCurrent, ReadBy: []Reader{{Consumer: name}}}},
		Consumers: []Consumer{{Name: name, Type: consumerService, Action: reconcile.Restart}},
	}}}
}

func TestMermaidEscaping(t *testing.T) {
	out := render(t, FormatMermaid, nastyInventory())
	want := `  svc_we_ird_svc_b__quot____x__nl("we#34;ird\svc#60;b#62;#35;quot;#38;#124;#96;x#96; nl<br/>service")` + "\n"
	if !strings.Contains(out, want) {
		t.Errorf("mermaid lacks %q:\n%s", want, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		// Every quoted string must stay one string: an even number of quotes on every line.
		if strings.Count(line, `"`)%2 != 0 {
			t.Errorf("unbalanced quotes: %s", line)
		}
	}
}

func TestDotEscaping(t *testing.T) {
	out := render(t, FormatDot, nastyInventory())
	want := `[label="we\"ird\\svc<b>#quot;&|` + "`x`" + `\nnl\nservice", shape=box, style=rounded];`
	if !strings.Contains(out, want) {
		t.Errorf("dot lacks %q:\n%s", want, out)
	}
	if !strings.Contains(out, `[label="/p/\"q\"\\r.txt\ncurrent", shape=cylinder]`) {
		t.Errorf("a backslash in a path must stay a backslash:\n%s", out)
	}
	if _, err := exec.LookPath("dot"); err != nil {
		skipOutsideCI(t, "no graphviz dot (scripts/setup.sh installs it)")
	} else {
		cmd := exec.Command("dot", "-Tsvg")
		cmd.Stdin = strings.NewReader(out)
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("graphviz refuses the graph: %v: %s", err, msg)
		}
	}
}

func TestNodeIDsAreStableAndUnique(t *testing.T) {
	ids := newIDs()
	a, b, c := ids.get("svc_", "a-b"), ids.get("svc_", "a.b"), ids.get("svc_", "a_b")
	if a != "svc_a_b" || b != "svc_a_b_2" || c != "svc_a_b_3" {
		t.Errorf("ids = %s %s %s", a, b, c)
	}
	if ids.get("svc_", "a.b") != b {
		t.Error("the same name must get the same id")
	}
	if ids.get("host_", "a-b") != "host_a_b" {
		t.Error("prefixes keep kinds apart")
	}
}

// skipOutsideCI skips where a tool may be missing, and fails in CI, where a skip would hide a missing test.
func skipOutsideCI(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
}
