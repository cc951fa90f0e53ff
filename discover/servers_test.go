package discover

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/composeio"
	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/engine"
	"github.com/rekeyhq/rekey/provider"
)

func discoverDir(t *testing.T, dir string) (*composeio.Project, *Report) {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := composeio.Load(context.Background(), abs)
	if err != nil {
		t.Fatal(err)
	}
	rep, _, err := Discover(context.Background(), p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p, rep
}

// TestDemoServersProposed: on the demo stack, init proposes the demo's own servers: Redis's default user,
// and the alternating PostgreSQL roles shop_a/shop_b of owner shop with DB_USER as login_env; the
// proposal parses and plan builds it with each secret attached to its server.
func TestDemoServersProposed(t *testing.T) {
	p, rep := discoverDir(t, "../examples/demo/stack")
	yml, err := RekeyYAML(p, rep)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(config.FileName, yml)
	if err != nil {
		t.Fatalf("%v\n%s", err, yml)
	}
	want := map[string]config.Server{
		"db":    {Type: config.ServerPostgres, Service: "db", User: "shop", Admin: &config.Admin{User: "postgres"}},
		"redis": {Type: config.ServerRedis, Service: "redis"},
	}
	if len(cfg.Servers) != len(want) {
		t.Fatalf("servers %v, want %v\n%s", cfg.ServerNames(), want, yml)
	}
	for name, w := range want {
		got := cfg.Servers[name]
		if got == nil || got.Type != w.Type || got.Service != w.Service || got.User != w.User || got.Single || (w.Admin == nil) != (got.Admin == nil) {
			t.Errorf("server %s: %+v, want %+v", name, got, w)
		}
	}
	if s := cfg.Secrets["db-password"]; s.Server != "db" || s.LoginEnv != "DB_USER" || s.Strategy != "" {
		t.Errorf("db-password: server %q login_env %q strategy %q", s.Server, s.LoginEnv, s.Strategy)
	}
	if s := cfg.Secrets["redis-password"]; s.Server != "redis" {
		t.Errorf("redis-password: server %q", s.Server)
	}
	if s := cfg.Secrets["postgres-password"]; s.Server != "" {
		t.Errorf("the superuser's bootstrap-only password got server %q: rekey makes no value of it", s.Server)
	}
	d, err := engine.Build(context.Background(), engine.Input{Config: cfg, Project: p, Values: rep.Values(), FP: func(v string) string { return "fp" }, Revision: "t"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range d.Secrets {
		if (s.Name == "db-password" || s.Name == "redis-password") && s.Server == nil {
			t.Errorf("plan has no server for %s", s.Name)
		}
	}
}

// fakeStack answers like Docker would: which services run, and a verdict per server.
type fakeStack struct {
	running map[string]bool
	answers map[string]func(config.Server, string) (bool, error)
	asked   map[string]int
	logins  map[string]config.Server
}

func (f *fakeStack) Running(_ context.Context, svc string) (bool, error) { return f.running[svc], nil }

func (f *fakeStack) Login(_ context.Context, name string, s config.Server, value string) (bool, error) {
	f.asked[name]++
	f.logins[name] = s
	return f.answers[name](s, value)
}

// TestConfirmLogins: one login per server, with the login the consumers use today; the verdicts are
// "confirmed by login", "not confirmed (reason)" and "not checked (reason)", and no reason holds a value.
func TestConfirmLogins(t *testing.T) {
	p, rep := discoverDir(t, "../examples/demo/stack")
	values := rep.Values()
	st := &fakeStack{running: map[string]bool{"db": true, "redis": true, "app": true}, asked: map[string]int{}, logins: map[string]config.Server{},
		answers: map[string]func(config.Server, string) (bool, error){
			"db": func(s config.Server, v string) (bool, error) { return v == values["db-password"], nil },
			"redis": func(s config.Server, v string) (bool, error) {
				return false, fmt.Errorf("redis redis: WRONGPASS for %s", v) // a driver that would quote the value
			},
		}}
	ConfirmLogins(context.Background(), rep, p.Services(), st)
	got := map[string]string{}
	for _, sp := range rep.Servers {
		got[sp.Name] = sp.LoginCheck
		if st.asked[sp.Name] != 1 {
			t.Errorf("server %s asked %d times, want once", sp.Name, st.asked[sp.Name])
		}
	}
	if got["db"] != LoginConfirmed {
		t.Errorf("db: %q, want %q", got["db"], LoginConfirmed)
	}
	if yml, err := RekeyYAML(p, rep); err != nil || !strings.Contains(string(yml), "# login with the value found: confirmed by login\n  db:\n") {
		t.Errorf("rekey.yaml does not say what the login said (%v):\n%s", err, yml)
	}
	if l := st.logins["db"]; l.User != "shop_a" || !l.Single || l.Database != "shop" {
		t.Errorf("db login %+v: want the role the app uses now (shop_a, database shop), alone", l)
	}
	if !strings.HasPrefix(got["redis"], "not confirmed (") || strings.Contains(got["redis"], values["redis-password"]) {
		t.Errorf("redis: %q: want not confirmed, without the value", got["redis"])
	}

	st.answers["db"] = func(config.Server, string) (bool, error) {
		return false, fmt.Errorf("%w: no container", provider.ErrUnreachable)
	}
	st.running["redis"] = false
	ConfirmLogins(context.Background(), rep, p.Services(), st)
	for _, sp := range rep.Servers {
		got[sp.Name] = sp.LoginCheck
	}
	if !strings.HasPrefix(got["db"], "not checked (server unreachable: ") || got["redis"] != "not checked (service redis not running)" {
		t.Errorf("got %v", got)
	}

	st = &fakeStack{running: map[string]bool{}, asked: map[string]int{}}
	ConfirmLogins(context.Background(), rep, p.Services(), st)
	for _, sp := range rep.Servers {
		if sp.LoginCheck != "not checked (stack not running)" || st.asked[sp.Name] != 0 {
			t.Errorf("stopped stack: %s: %q, asked %d times", sp.Name, sp.LoginCheck, st.asked[sp.Name])
		}
	}
	var b strings.Builder
	Print(&b, *rep)
	if !strings.Contains(b.String(), "login with the value found: not checked (stack not running)") {
		t.Errorf("the report does not say it:\n%s", b.String())
	}

}

func TestHostOf(t *testing.T) {
	for in, want := range map[string]string{"db": "db", "db:5432": "db", "postgres://u:p@pg:5432/x": "pg",
		"jdbc:postgresql://postgres/keycloak": "postgres", "redis://:pw@cache": "cache", "": ""} {
		if got := hostOf(in); got != want {
			t.Errorf("hostOf(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRefusedServerDropped: a server plan would refuse is taken out of the proposal, with plan's reason
// on its secret; the other server and every secret stay.
func TestRefusedServerDropped(t *testing.T) {
	p, rep := discoverDir(t, "../examples/demo/stack")
	var secrets []*Secret
	for _, s := range rep.Secrets {
		secrets = append(secrets, s)
		if s.server != nil && s.server.Name == "db" {
			s.server.spec.Service = "nosuch"
		}
	}
	if err := checkServers(context.Background(), p, secrets, rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Servers) != 1 || rep.Servers[0].Name != "redis" {
		t.Fatalf("servers left: %v, want redis only", rep.Servers)
	}
	db := secretNamed(secrets, "db-password")
	if db.Server != "" || !strings.Contains(db.ServerNote, `unknown service "nosuch"`) {
		t.Errorf("db-password: server %q, note %q", db.Server, db.ServerNote)
	}
	if _, err := RekeyYAML(p, rep); err != nil {
		t.Error(err)
	}
}
