package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Server is a credential server whose logins some secrets are the passwords of. rekey reaches it by
// running its own client inside the server's compose service container, over the local socket.
type Server struct {
	Type    string `yaml:"type"`    // redis, postgres, mariadb, smtp, http or exec
	Service string `yaml:"service"` // the compose service running the server (not for smtp; optional for exec)
	// User is the login whose password rotates. redis: the ACL user ("default", the user behind
	// requirepass, when empty). postgres: the owner role (NOLOGIN) the two login roles act as. mariadb:
	// the user (chain) or the base name of the two login users (USER_a, USER_b).
	User string `yaml:"user"`
	// Logins are the two login roles or users used in turn (postgres, mariadb without chain; default
	// USER_a and USER_b).
	Logins []string `yaml:"logins"`
	// Chain (mariadb) keeps one user and gives it the old and the new password at once (an OR chain of
	// two mysql_native_password entries) instead of alternating two users.
	Chain bool `yaml:"chain"`
	// Host is the mariadb account host of the user(s) (default '%').
	Host string `yaml:"host"`
	// Single (postgres): consumers log in as User itself, which has one password: no overlap, for secrets
	// with strategy: swap.
	Single bool `yaml:"single"`
	// Database is the postgres database the login roles connect to (default: USER).
	Database string `yaml:"database"`
	Port     int    `yaml:"port"`
	// Admin is the login rekey changes passwords with. redis: a user and the values-file entry holding
	// its password (without it, rekey logs in as User itself). postgres: the superuser role psql logs in
	// as over the container's local socket (psql -U; default postgres), with no password: the socket's
	// peer or trust authentication must let root in the container log in as it.
	Admin *Admin `yaml:"admin"`
	// DrainTimeout bounds the wait for sessions of the old login to end before it is revoked (postgres;
	// default 60s). Terminate ends the stragglers when it is over instead of failing the finalize.
	DrainTimeout Duration `yaml:"drain_timeout"`
	Terminate    bool     `yaml:"terminate"`
	// smtp: a relay rekey cannot create or revoke keys on (external credentials). Addr is host:port as
	// rekey reaches it; TLS is starttls (default), tls or none (loopback only); CAFile and ServerName
	// say how its certificate is checked.
	Addr       string `yaml:"addr"`
	TLS        string `yaml:"tls"`
	CAFile     string `yaml:"ca_file"`
	ServerName string `yaml:"server_name"`
	// http: a third-party API key, checked with a declared request; the key goes into Header where
	// "{value}" stands. Expect are the statuses of a working key (default [200]), Rejected those of a
	// rejected one (default [401, 403]).
	URL      string `yaml:"url"`
	Method   string `yaml:"method"`
	Header   string `yaml:"header"`
	Expect   []int  `yaml:"expect"`
	Rejected []int  `yaml:"rejected"`
	// Commands (exec) are declared commands, run in Service's container or, without a service, on the
	// host. Values reach them on stdin, one per line (docs/providers.md#generic-commands-type-exec).
	Commands *Commands `yaml:"commands"`
}

// Commands are an exec server's commands, each an argv.
type Commands struct {
	Check   []string `yaml:"check"`
	Stage   []string `yaml:"stage"`
	Verify  []string `yaml:"verify"`
	Drain   []string `yaml:"drain"`
	Revoke  []string `yaml:"revoke"`
	Unstage []string `yaml:"unstage"`
	Probe   []string `yaml:"probe"`
}

// Admin is how rekey logs in to change passwords.
type Admin struct {
	User     string `yaml:"user"`
	Password string `yaml:"password"` // redis: the values-file entry holding the admin password
}

// Server types.
const (
	ServerRedis    = "redis"
	ServerPostgres = "postgres"
	ServerMariaDB  = "mariadb"
	ServerSMTP     = "smtp"
	ServerExec     = "exec"
	ServerHTTP     = "http"
)

// Strategies of a secret with a server.
const (
	StrategyOverlap = "overlap" // the default: the server accepts old and new during the rotation
	StrategySwap    = "swap"    // no overlap: consumers stop while the server switches
)

// DefaultDrainTimeout is how long a finalize waits for sessions of the old login.
const DefaultDrainTimeout = 60 * time.Second

// ServerNames returns the server names, sorted.
func (c *Config) ServerNames() []string {
	names := make([]string, 0, len(c.Servers))
	for n := range c.Servers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// RotatedUser is the login a secret of this server is the password of, for messages and docs.
func (s *Server) RotatedUser() string {
	if s.User == "" && s.Type == ServerRedis {
		return "default"
	}
	return s.User
}

// Alternates reports a server whose logins take turns: the user name changes with the value.
func (s *Server) Alternates() bool {
	return s.Type == ServerPostgres && !s.Single || s.Type == ServerMariaDB && !s.Chain
}

// Swappable reports a server a secret with strategy: swap can use: one whose driver can make it accept
// exactly one given value.
func (s *Server) Swappable() bool {
	switch s.Type {
	case ServerRedis:
		return true
	case ServerExec:
		return s.Commands != nil && len(s.Commands.Revoke) > 0
	case ServerPostgres:
		return s.Single
	case ServerMariaDB:
		return s.Chain
	}
	return false
}

// LoginRoles returns the two logins used in turn.
func (s *Server) LoginRoles() []string {
	if len(s.Logins) == 2 {
		return s.Logins
	}
	return []string{s.User + "_a", s.User + "_b"}
}

// Mechanism says, for plans and docs, how old and new values overlap on this server.
func (s *Server) Mechanism() string {
	switch s.Type {
	case ServerRedis:
		return fmt.Sprintf("Redis ACL user %s holds the old and the new password at once", s.RotatedUser())
	case ServerPostgres:
		if s.Single {
			return fmt.Sprintf("PostgreSQL login role %s has one password: no overlap, swapped with consumers stopped", s.User)
		}
		r := s.LoginRoles()
		return fmt.Sprintf("PostgreSQL login roles %s and %s take turns, both acting as the owner role %s", r[0], r[1], s.User)
	case ServerMariaDB:
		if s.Chain {
			return fmt.Sprintf("MariaDB user %s holds the old and the new password at once (an OR chain)", s.User)
		}
		r := s.LoginRoles()
		return fmt.Sprintf("MariaDB users %s and %s take turns, with identical grants", r[0], r[1])
	case ServerHTTP:
		return fmt.Sprintf("API key checked with %s: you create and revoke keys at the provider, rekey follows the old one until it stops working", s.URL)
	case ServerExec:
		if s.Commands != nil && len(s.Commands.Revoke) == 0 {
			return "declared commands; you revoke the old value by hand, rekey probes it until it stops working"
		}
		return "declared commands stage the new value next to the old one and revoke the old one"
	case ServerSMTP:
		return fmt.Sprintf("SMTP relay %s: you create the new key at the provider, rekey checks it logs in as %s, and follows the old one until you revoke it", s.Addr, s.User)
	}
	return s.Type
}

func (c *Config) validateServers(p *problems) {
	for _, name := range c.ServerNames() {
		at := "servers." + name
		s := c.Servers[name]
		if s == nil {
			p.add(at, "server %s: empty declaration", name)
			continue
		}
		if !secretName.MatchString(name) {
			p.add(at, "server %s: names use lowercase letters, digits, '-', '_' and '.'", name)
		}
		if s.Service == "" && s.Type != ServerSMTP && s.Type != ServerExec && s.Type != ServerHTTP {
			p.add(at, "server %s: service is required: the compose service running it (rekey runs its client there)", name)
		}
		if s.Type != ServerSMTP && (s.Addr != "" || s.TLS != "" || s.CAFile != "" || s.ServerName != "") {
			p.add(at, "server %s: addr, tls, ca_file and server_name are smtp settings", name)
		}
		if s.Type != ServerHTTP && (s.URL != "" || s.Method != "" || s.Header != "" || len(s.Expect) > 0 || len(s.Rejected) > 0) {
			p.add(at, "server %s: url, method, header, expect and rejected are http settings", name)
		}
		if s.Type != ServerExec && s.Commands != nil {
			p.add(at+".commands", "server %s: commands are for servers of type exec", name)
		}
		if s.Port < 0 || s.Port > 65535 {
			p.add(at+".port", "server %s: port %d is out of range", name, s.Port)
		}
		switch s.Type {
		case ServerRedis:
			c.validateRedis(p, at, name, s)
		case ServerPostgres:
			c.validatePostgres(p, at, name, s)
		case ServerMariaDB:
			c.validateMariaDB(p, at, name, s)
		case ServerSMTP:
			c.validateSMTP(p, at, name, s)
		case ServerExec:
			validateExec(p, at, name, s)
		case ServerHTTP:
			validateHTTP(p, at, name, s)
		case "":
			p.add(at, "server %s: type is required (redis, postgres, mariadb, smtp, http or exec)", name)
		default:
			p.add(at+".type", "server %s: unknown type %q (want redis, postgres, mariadb, smtp, http or exec)", name, s.Type)
		}
	}
	used := map[string]string{}
	for _, name := range c.Names() {
		sec := c.Secrets[name]
		if sec == nil || sec.Server == "" {
			continue
		}
		at := "secrets." + name + ".server"
		srv, ok := c.Servers[sec.Server]
		switch {
		case !ok:
			p.add(at, "secret %s: no server %q under servers (servers: %v)", name, sec.Server, c.ServerNames())
			continue
		case sec.Type != TypeToken:
			p.add(at, "secret %s: a server's password is a token (the server itself keeps old and new during the rotation)", name)
		case sec.Env == nil && sec.File == "" && len(sec.Derived) == 0:
			p.add(at, "secret %s: say where the stack reads the password: env, file or derived", name)
		case used[sec.Server] != "":
			p.add(at, "secret %s: server %s already rotates %s; one secret per server", name, sec.Server, used[sec.Server])
		}
		used[sec.Server] = name
		switch {
		case sec.Strategy != "" && sec.Strategy != StrategyOverlap && sec.Strategy != StrategySwap:
			p.add("secrets."+name+".strategy", "secret %s: unknown strategy %q (want overlap or swap)", name, sec.Strategy)
		case srv != nil && sec.Strategy == StrategySwap && !srv.Swappable():
			p.add("secrets."+name+".strategy", "secret %s: server %s cannot swap (it has an overlap of its own, or rekey cannot set its value): swap works with redis, mariadb with chain, postgres with single, and exec with a revoke command", name, sec.Server)
		case srv != nil && srv.Type == ServerPostgres && srv.Single && sec.Strategy != StrategySwap:
			p.add(at, "secret %s: a postgres single login role has no overlap: set strategy: swap (consumers stop while the password changes)", name)
		}
		if srv != nil && srv.Alternates() && sec.LoginEnv == "" && len(sec.Derived) == 0 {
			p.add(at, "secret %s: %s logins take turns: set login_env to the variable holding the user name", name, srv.Type)
		}
		if srv != nil && !srv.Alternates() && sec.LoginEnv != "" {
			p.add("secrets."+name+".login_env", "secret %s: login_env is for servers whose logins take turns (postgres, mariadb without chain)", name)
		}
	}
	for _, name := range c.Names() {
		if sec := c.Secrets[name]; sec != nil && sec.Strategy != "" && sec.Server == "" {
			p.add("secrets."+name+".strategy", "secret %s: strategy is for secrets with a server", name)
		}
		if sec := c.Secrets[name]; sec != nil && sec.LoginEnv != "" && sec.Server == "" {
			p.add("secrets."+name+".login_env", "secret %s: login_env needs a server", name)
		} else if sec != nil && sec.LoginEnv != "" && !varName.MatchString(sec.LoginEnv) {
			p.add("secrets."+name+".login_env", "secret %s: %q is not a valid variable name", name, sec.LoginEnv)
		}
	}
}

func (c *Config) validateRedis(p *problems, at, name string, s *Server) {
	if len(s.Logins) > 0 || s.Database != "" || s.Terminate || s.DrainTimeout.Duration != 0 || s.Chain || s.Host != "" || s.Single {
		p.add(at, "server %s: logins, database, drain_timeout, terminate, chain, host and single are not redis settings", name)
	}
	if a := s.Admin; a != nil {
		switch {
		case a.User == s.RotatedUser():
			p.add(at+".admin.user", "server %s: the admin is the rotated user %s itself: leave admin out (rekey then logs in with the value it holds at each step)", name, a.User)
		case a.User == "" || a.Password == "":
			p.add(at+".admin", "server %s: admin needs user and password (the values-file entry holding it)", name)
		case !secretName.MatchString(a.Password):
			p.add(at+".admin.password", "server %s: admin.password %q is not the name of an entry in the values file", name, a.Password)
		case c.Secrets[a.Password] != nil:
			p.add(at+".admin.password", "server %s: admin.password %s is a managed secret; keep the admin password in its own entry of the values file", name, a.Password)
		}
	}
}

func validateHTTP(p *problems, at, name string, s *Server) {
	u, err := url.Parse(s.URL)
	switch {
	case s.URL == "" || err != nil || u.Host == "" || u.Scheme != "https" && u.Scheme != "http":
		p.add(at, "server %s: an http server needs url, the https URL of a request a working key passes", name)
	case u.Scheme == "http" && !loopback(u.Hostname()):
		p.add(at+".url", "server %s: %s would send the key in clear text: use https (http only on loopback)", name, s.URL)
	}
	if strings.Count(s.Header, "{value}") != 1 || !strings.Contains(s.Header, ":") {
		p.add(at+".header", "server %s: header must be \"Name: …{value}…\" with {value} exactly once, e.g. \"Authorization: Bearer {value}\"", name)
	}
	if s.Service != "" || s.User != "" || s.Admin != nil || s.Port != 0 || s.Commands != nil || s.Addr != "" {
		p.add(at, "server %s: an http server takes url, method, header, expect and rejected only", name)
	}
}

func validateExec(p *problems, at, name string, s *Server) {
	cs := s.Commands
	if cs != nil && s.Service == "" {
		for _, c := range [][]string{cs.Check, cs.Stage, cs.Verify, cs.Drain, cs.Revoke, cs.Unstage, cs.Probe} {
			if len(c) > 0 && !filepath.IsAbs(c[0]) {
				p.add(at+".commands", "server %s: host commands need an absolute path (the agent's working directory is not yours), got %q", name, c[0])
				break
			}
		}
	}
	switch {
	case cs == nil || len(cs.Verify) == 0:
		p.add(at, "server %s: an exec server needs commands.verify (exit 0 when the value on stdin logs in)", name)
	case len(cs.Revoke) == 0 && len(cs.Probe) == 0:
		p.add(at+".commands", "server %s: without commands.revoke the old value is revoked by hand: commands.probe must tell rekey when it stops working (exit 1)", name)
	}
	if s.User != "" || len(s.Logins) > 0 || s.Database != "" || s.Chain || s.Host != "" || s.Admin != nil || s.Port != 0 ||
		s.Terminate || s.DrainTimeout.Duration != 0 {
		p.add(at, "server %s: an exec server takes service and commands only", name)
	}
}

func (c *Config) validateSMTP(p *problems, at, name string, s *Server) {
	if s.Addr == "" || s.User == "" {
		p.add(at, "server %s: an smtp relay needs addr (host:port as rekey reaches it) and user", name)
	} else if host, _, err := net.SplitHostPort(s.Addr); err != nil {
		p.add(at+".addr", "server %s: addr %q is not host:port (e.g. smtp.example.com:587)", name, s.Addr)
	} else if s.TLS == "none" && !loopback(host) {
		p.add(at+".tls", "server %s: tls: none sends the key in clear text: only for a relay on a loopback address, not %s", name, host)
	}
	switch s.TLS {
	case "", "starttls", "tls", "none":
	default:
		p.add(at+".tls", "server %s: unknown tls %q (want starttls, tls or none)", name, s.TLS)
	}
	if s.CAFile != "" && !filepath.IsAbs(s.CAFile) {
		p.add(at+".ca_file", "server %s: ca_file must be an absolute path, got %q", name, s.CAFile)
	}
	if s.Service != "" || len(s.Logins) > 0 || s.Database != "" || s.Chain || s.Host != "" || s.Admin != nil || s.Port != 0 ||
		s.Terminate || s.DrainTimeout.Duration != 0 {
		p.add(at, "server %s: an smtp relay takes addr, user, tls, ca_file and server_name only", name)
	}
}

// loopback reports a host that is a loopback address or localhost.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *Config) validateMariaDB(p *problems, at, name string, s *Server) {
	if s.User == "" {
		p.add(at, "server %s: user is required: the user whose password rotates (chain), or the base name of the two login users", name)
	}
	switch {
	case s.Chain && len(s.Logins) > 0:
		p.add(at+".logins", "server %s: chain keeps one user: logins are for alternating users", name)
	case len(s.Logins) != 0 && len(s.Logins) != 2:
		p.add(at+".logins", "server %s: logins takes exactly two login users, used in turn", name)
	case len(s.Logins) == 2 && s.Logins[0] == s.Logins[1]:
		p.add(at+".logins", "server %s: the two login users must differ", name)
	}
	if s.Database != "" {
		p.add(at+".database", "server %s: database is a postgres setting", name)
	}
	if s.Chain && (s.Terminate || s.DrainTimeout.Duration != 0) {
		p.add(at, "server %s: a chain keeps one user, whose sessions rekey cannot tell apart by password: drain_timeout and terminate do not apply", name)
	}
	if s.Admin != nil && s.Admin.Password != "" {
		p.add(at+".admin.password", "server %s: mariadb admin logs in over the container's local socket as admin.user (unix_socket), without a password", name)
	}
	if s.DrainTimeout.Duration < 0 {
		p.add(at+".drain_timeout", "server %s: drain_timeout must not be negative", name)
	}
}

func (c *Config) validatePostgres(p *problems, at, name string, s *Server) {
	if s.Chain || s.Host != "" {
		p.add(at, "server %s: chain and host are mariadb settings", name)
	}
	if s.Single && len(s.Logins) > 0 {
		p.add(at+".logins", "server %s: single: consumers log in as user itself; logins are for alternating roles", name)
	}
	if s.User == "" {
		p.add(at, "server %s: user is required: the owner role (NOLOGIN) the login roles act as", name)
	}
	switch {
	case len(s.Logins) != 0 && len(s.Logins) != 2:
		p.add(at+".logins", "server %s: logins takes exactly two login roles, used in turn", name)
	case len(s.Logins) == 2 && (s.Logins[0] == s.Logins[1] || s.Logins[0] == s.User || s.Logins[1] == s.User):
		p.add(at+".logins", "server %s: the two login roles and the owner role must all differ", name)
	}
	if s.Admin != nil && s.Admin.Password != "" {
		p.add(at+".admin.password", "server %s: postgres admin logs in over the container's local socket as the role admin.user, without a password", name)
	}
	if s.DrainTimeout.Duration < 0 {
		p.add(at+".drain_timeout", "server %s: drain_timeout must not be negative", name)
	}
}
