package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// proposal has every field Marshal writes, with values that need quoting where a field allows it.
func proposal() Proposal {
	return Proposal{
		Config: Config{
			Version: 1,
			Compose: Compose{ProjectDir: "/srv/my shop: \"prod\" #1", ProjectName: "shop", Files: []string{"compose.yaml", "over ride.yaml"}},
			Values:  "secrets.sops.yaml",
			Secrets: map[string]*Secret{
				"db-password": {Type: "token", Env: &Env{Value: "DB_PASSWORD"},
					Consumers: []Consumer{{HostFile: "/etc/cron.d/back up.env", Key: "DB_PASSWORD"}, {HostFile: "/etc/x.env", Key: "DB_PASSWORD"}}},
				"session-secret": {Type: "app-key", Env: &Env{Current: "SESSION_SECRET", Previous: "SESSION_SECRET_PREVIOUS"}},
				"true":           {Type: "token", Env: &Env{Value: "TRUE"}, Generate: &Generate{Length: 64, Charset: "hex", Format: "sk_{value}"}},
				"field-key":      {Type: "token", Env: &Env{Value: "FIELD_KEY"}, Rotation: RotationNever, RotationReason: "encrypts fields: \"a\" # b"},
				"oauth":          {Type: "token", Env: &Env{Value: "OAUTH_SECRET"}, Rotation: RotationIssued},
				"api-token":      {Type: "token", File: "secrets/api token.txt"},
				"outside-token":  {Type: "token", File: "/run/keys/outside token.txt", FileOutsideProject: true},
				"db-admin": {Type: "token", Derived: []Derived{
					{Env: "DATABASE_URL", Template: "postgres://app:{{ urlquery .value }}@db/app?a=1&b=\"x\" # not a comment"},
					{File: "secrets/htpasswd", Template: "{{ htpasswd \"admin\" .value }}\n"},
					{File: "/etc/caddy/users", FileOutsideProject: true, Template: "{{ bcrypt .value }}"},
					{HostFile: "/etc/x.env", Key: "URL", Template: "{{ base64 .value }}"}}},
			},
			Verify: []Check{
				{Logs: &LogsCheck{Deny: []string{"password authentication failed", `say "no"`, "NOAUTH"}}},
				{HTTP: &HTTPCheck{URL: "http://127.0.0.1:8080/health?a=1&b=2", Status: 204}},
				{Logs: &LogsCheck{Service: "app", Deny: []string{"x"}}},
			},
		},
		Header:        []string{"Written by a test from /srv/my shop.", "second line\nwith a break"},
		Order:         []string{"session-secret", "db-password", "true", "api-token", "outside-token", "field-key", "oauth", "db-admin"},
		Comments:      map[string][]string{"db-password": {"found by name; consumers: app, worker"}, "api-token": {"a: b # c"}},
		VerifyComment: []string{"Checks run after every consumer rolls."},
		Suggested:     []Suggestion{{Check: Check{HTTP: &HTTPCheck{URL: "http://127.0.0.1:8080/", Status: 200}}, Note: "app publishes 80"}},
	}
}

// TestMarshalRoundTrips: what Marshal writes, Parse reads back as the same values, field by field.
func TestMarshalRoundTrips(t *testing.T) {
	p := proposal()
	data, err := Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(FileName, data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	want := p.Config
	if got.Version != want.Version || !reflect.DeepEqual(got.Compose, want.Compose) || got.Values != want.Values {
		t.Errorf("top level: got %+v %+v %q, want %+v %+v %q", got.Version, got.Compose, got.Values, want.Version, want.Compose, want.Values)
	}
	if !reflect.DeepEqual(got.Secrets, want.Secrets) {
		for name := range want.Secrets {
			t.Errorf("secret %s: got %+v, want %+v", name, got.Secrets[name], want.Secrets[name])
		}
	}
	if !reflect.DeepEqual(got.Verify, want.Verify) {
		t.Errorf("verify: got %+v, want %+v", got.Verify, want.Verify)
	}
	// The order is kept, and every comment is a comment.
	text := string(data)
	if strings.Index(text, "  session-secret:") > strings.Index(text, "  db-password:") {
		t.Errorf("order not kept:\n%s", text)
	}
	for _, want := range []string{"# Written by a test from /srv/my shop.\n", "# second line with a break\n",
		"  # found by name; consumers: app, worker\n  db-password:\n", "  # a: b # c\n",
		"# Checks run after every consumer rolls.\nverify:\n",
		"  # - http: {url: \"http://127.0.0.1:8080/\", status: 200}   # app publishes 80\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if again, _ := Marshal(p); string(again) != text {
		t.Error("two runs wrote different bytes")
	}
}

// TestMarshalQuotesWhatYAMLWouldRetype: a name YAML reads as a boolean, a number or null is quoted.
func TestMarshalQuotesWhatYAMLWouldRetype(t *testing.T) {
	for in, want := range map[string]string{"token": "token", "DB_PASSWORD": "DB_PASSWORD", "a.b-c": "a.b-c",
		"true": `"true"`, "no": "no", // YAML 1.2, as the parser reads it: "no" is a string
		"null": `"null"`, "123": `"123"`, "1e3": `"1e3"`, "a b": `"a b"`, "": `""`, "x:y": `"x:y"`} {
		if got := scalar(in); got != want {
			t.Errorf("scalar(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestMarshalRefusesWhatItDoesNotWrite: a field Marshal would drop is an error, not a silent loss.
func TestMarshalRefusesWhatItDoesNotWrite(t *testing.T) {
	yes := true
	for name, change := range map[string]func(*Proposal){
		"servers":       func(p *Proposal) { p.Config.Servers = map[string]*Server{"db": {}} },
		"command":       func(p *Proposal) { p.Config.Compose.Command = []string{"podman-compose"} },
		"health":        func(p *Proposal) { p.Config.HealthTimeout = Duration{time.Minute} },
		"heal":          func(p *Proposal) { p.Config.Secrets["true"].Heal = &yes },
		"server":        func(p *Proposal) { p.Config.Secrets["true"].Server = "db" },
		"service":       func(p *Proposal) { p.Config.Secrets["true"].Consumers = []Consumer{{Service: "app"}} },
		"allow_destroy": func(p *Proposal) { p.Config.AllowDestroy = []string{"field-key"} },
		"services":      func(p *Proposal) { p.Config.Services = map[string]*Service{"app": {Strategy: "stop-first"}} },
		"swarm":         func(p *Proposal) { p.Config.Swarm = Swarm{Stack: "shop"} },
		"rotate_every":  func(p *Proposal) { p.Config.Secrets["true"].RotateEvery = Duration{time.Hour} },
		"exec check":    func(p *Proposal) { p.Config.Verify = append(p.Config.Verify, Check{Exec: &ExecCheck{Service: "a"}}) },
		"missing order": func(p *Proposal) { p.Order = p.Order[1:] },
		"double order":  func(p *Proposal) { p.Order = append(p.Order[1:], p.Order[1]) },
	} {
		p := proposal()
		change(&p)
		if _, err := Marshal(p); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestMarshalServersRoundTrip: the servers `rekey init` proposes, and the secrets naming them, read back
// as written, comments included.
func TestMarshalServersRoundTrip(t *testing.T) {
	p := proposal()
	p.Config.Servers = map[string]*Server{
		"db":    {Type: ServerPostgres, Service: "db", User: "shop", Database: "shop data", Admin: &Admin{User: "postgres"}},
		"cache": {Type: ServerRedis, Service: "redis"},
		"maria": {Type: ServerMariaDB, Service: "mariadb", User: "true", Chain: true, Admin: &Admin{User: "root"}},
		"su":    {Type: ServerPostgres, Service: "db", User: "postgres", Single: true, Admin: &Admin{User: "postgres"}},
	}
	p.Config.Secrets["db-password"].Server, p.Config.Secrets["db-password"].LoginEnv = "db", "DB_USER"
	p.Config.Secrets["api-token"].Server, p.Config.Secrets["api-token"].Strategy = "su", StrategySwap
	p.Config.Secrets["oauth"].Server = "cache"
	p.Config.Secrets["true"].Server = "maria"
	p.ServersComment = []string{"Credential servers."}
	p.ServerComments = map[string][]string{"db": {"admin: postgres over the socket"}}
	data, err := Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(FileName, data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if !reflect.DeepEqual(got.Servers, p.Config.Servers) {
		for name := range p.Config.Servers {
			t.Errorf("server %s: got %+v, want %+v", name, got.Servers[name], p.Config.Servers[name])
		}
	}
	if !reflect.DeepEqual(got.Secrets, p.Config.Secrets) {
		for name := range p.Config.Secrets {
			t.Errorf("secret %s: got %+v, want %+v", name, got.Secrets[name], p.Config.Secrets[name])
		}
	}
	for _, want := range []string{"# Credential servers.\nservers:\n", "  # admin: postgres over the socket\n  db:\n"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("output lacks %q:\n%s", want, data)
		}
	}
	for name, change := range map[string]func(*Proposal){
		"smtp server":    func(p *Proposal) { p.Config.Servers["cache"] = &Server{Type: ServerSMTP, Addr: "x:587", User: "u"} },
		"port":           func(p *Proposal) { p.Config.Servers["cache"].Port = 6380 },
		"logins":         func(p *Proposal) { p.Config.Servers["db"].Logins = []string{"a", "b"} },
		"unknown server": func(p *Proposal) { p.Config.Secrets["oauth"].Server = "nope" },
		"login_env only": func(p *Proposal) { p.Config.Secrets["field-key"].LoginEnv = "DB_USER" },
	} {
		q := p
		q.Config.Servers = map[string]*Server{}
		for k, v := range p.Config.Servers {
			c := *v
			q.Config.Servers[k] = &c
		}
		q.Config.Secrets = map[string]*Secret{}
		for k, v := range p.Config.Secrets {
			c := *v
			q.Config.Secrets[k] = &c
		}
		change(&q)
		if _, err := Marshal(q); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
