package discover

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/internal/images"
)

// ServerProposal is a credential server `rekey init` proposes for a recognised PostgreSQL, MariaDB or
// Redis password: what rekey.yaml declares under servers:, and what a human must know about it.
type ServerProposal struct {
	Name    string `json:"name"`
	Secret  string `json:"secret"`
	Type    string `json:"type"`
	Service string `json:"service"`
	// User is the user rekey.yaml names (postgres: the owner role); Login the login the consumers use
	// now, and LoginEnv the variable holding it when the logins take turns.
	User     string `json:"user,omitempty"`
	Login    string `json:"login,omitempty"`
	LoginEnv string `json:"login_env,omitempty"`
	Database string `json:"database,omitempty"`
	// Mode says how the old and the new value overlap; Admin where rekey's admin access comes from.
	Mode  string `json:"mode"`
	Admin string `json:"admin"`
	// Adopt: the consumers log in as the owner role itself; `rekey adopt SECRET` moves them to the
	// alternating login roles before the first rotation.
	Adopt bool `json:"adopt,omitempty"`
	// LoginCheck is what the read-only login with the value found said: confirmed by login, not
	// confirmed (reason), or not checked (reason).
	LoginCheck string `json:"login_check,omitempty"`

	spec     *config.Server
	strategy string
}

// Login check outcomes, as the report prints them.
const (
	LoginConfirmed    = "confirmed by login"
	loginNotConfirmed = "not confirmed"
	loginNotChecked   = "not checked"
)

// passwordSuffix is the end of a variable name that holds a password; what comes before it names the
// connection (DB_ in DB_PASSWORD, KC_DB_ in KC_DB_PASSWORD, PAPERLESS_DB in PAPERLESS_DBPASS).
var passwordSuffix = regexp.MustCompile(`(?i)(PASSWORD|PASSWD|PASS|PWD)$`)

// serverFinder proposes the servers of one project's secrets.
type serverFinder struct {
	f     *finder
	names map[string]bool // server names handed out
}

// proposeServers gives every recognised database or Redis password rekey may generate a ready-to-use
// server: the service running it, the user, where the admin access comes from, and whether
// `rekey adopt` must run first. A password it cannot place gets a comment saying why instead.
func proposeServers(f *finder, secrets []*Secret, rep *Report) {
	sf := &serverFinder{f: f, names: map[string]bool{}}
	for _, s := range secrets {
		if s.Kind == kindToken && s.Rotation == config.RotationGenerated && s.Var != "" {
			sf.refineKind(s)
		}
		if s.Kind != kindPostgres && s.Kind != kindMySQL && s.Kind != kindRedis {
			continue
		}
		sp, why := sf.propose(s, rep)
		if sp == nil {
			if why != "" {
				s.ServerNote = why
				s.comments = append(s.comments, "no server proposed: "+why)
			}
			continue
		}
		sp.Name = sf.name(sp.Service, s.Name)
		sp.Secret = s.Name
		s.server = sp
		s.Server = sp.Name
		s.comments = slices.DeleteFunc(s.comments, isServerAdvice)
		rep.Servers = append(rep.Servers, sp)
	}
}

// isServerAdvice is a line of the comment that tells a human to declare the server init now declares.
func isServerAdvice(line string) bool {
	return strings.Contains(line, "credential: written as a plain token, so a rotation") ||
		strings.HasPrefix(line, "server's own password. Declare the server") ||
		strings.HasPrefix(line, "here so the server accepts old and new during the rotation")
}

// refineKind takes a token for a database password when the variables beside the one its consumers read
// point at a database service of the project (DB_ADDR=db:5432 beside DB_PASSWORD, a JDBC URL beside
// KC_DB_PASSWORD).
func (sf *serverFinder) refineKind(s *Secret) {
	for _, svc := range sf.f.p.Services() {
		family := images.Family(sf.f.p.Types().Services[svc].Image)
		if family == "" || family == images.Mongo || slices.Contains(consumerNames(s.Consumers), svc) {
			continue
		}
		if s.pointsAt(svc) {
			s.Kind = family
			s.comments = append(s.comments, fmt.Sprintf("a %s password: the variables beside %s point at service %s", family, s.Var, svc))
			return
		}
	}
}

// propose builds the server of one secret, or says why there is none.
func (sf *serverFinder) propose(s *Secret, rep *Report) (*ServerProposal, string) {
	switch {
	case s.Rotation != config.RotationGenerated:
		return nil, "" // rekey makes no value of it: a server would change nothing
	case s.Type != kindToken:
		return nil, "a server's password is a token, and this secret is an app key"
	case strings.Contains(s.value, "://"):
		return nil, "its value is a connection URL, not a password: the server's password would be only part of it"
	}
	if len(s.derived) > 0 {
		return nil, fmt.Sprintf("its value is also written out in %s, proposed as a derived location: init does not yet combine the two; declare the server by hand, and put {{ .login }} in the template where the user is if its login roles alternate (docs/config.md)", strings.Join(s.Derived, ", "))
	}
	for _, h := range rep.Hidden {
		if h.Kind == HiddenEmbedded && h.Secret == s.Name {
			return nil, "its value is also in another secret (the same password, or a URL holding it): the server would change it under that one; rotate them together by hand, or derive the other from this variable"
		}
	}
	svc, why := sf.serverService(s)
	if svc == "" {
		return nil, why
	}
	switch s.Kind {
	case kindPostgres:
		return sf.postgres(s, svc)
	case kindMySQL:
		return sf.mariadb(s, svc)
	}
	return sf.redis(s, svc), ""
}

// serverService finds the compose service running the server: the one of the right image family that
// reads the value, or that the consumers' variables point at, or the only one.
func (sf *serverFinder) serverService(s *Secret) (string, string) {
	var all []string
	for _, svc := range sf.f.p.Services() {
		if images.Family(sf.f.p.Types().Services[svc].Image) == s.Kind {
			all = append(all, svc)
		}
	}
	if len(all) == 0 {
		return "", fmt.Sprintf("no service of the project runs a %s image (an outside server?): declare it by hand if rekey can reach it", s.Kind)
	}
	for _, svc := range all {
		if slices.Contains(s.BootstrapReaders, svc) || slices.Contains(consumerNames(s.Consumers), svc) {
			return svc, ""
		}
	}
	for _, svc := range all {
		if s.pointsAt(svc) {
			return svc, ""
		}
	}
	if len(all) == 1 {
		return all[0], ""
	}
	return "", fmt.Sprintf("services %s all run %s and nothing says which one checks it", strings.Join(all, ", "), s.Kind)
}

// names are the variables the consumers read the value as.
func (s *Secret) names() []string {
	out := []string{}
	if s.Var != "" {
		out = append(out, s.Var)
	}
	return append(out, s.aliases...)
}

// siblings are the consumers' variables beside the password's: those sharing its prefix, by the rest
// of their name (HOST, ADDR, USER, NAME, URL…), upper-cased.
func (s *Secret) siblings() map[string]string {
	out := map[string]string{}
	for _, n := range s.names() {
		loc := passwordSuffix.FindStringIndex(n)
		if loc == nil || loc[0] == 0 {
			continue
		}
		prefix := n[:loc[0]]
		for k, v := range s.svcEnv {
			if rest, ok := strings.CutPrefix(k, prefix); ok && rest != "" && k != n {
				if _, seen := out[strings.ToUpper(rest)]; !seen {
					out[strings.ToUpper(rest)] = v
				}
			}
		}
	}
	return out
}

// pointsAt reports a sibling variable naming svc: as the value, a host:port, or a URL's host.
func (s *Secret) pointsAt(svc string) bool { return slices.Contains(s.hosts(), svc) }

func (s *Secret) hosts() []string {
	var out []string
	for _, v := range s.siblings() {
		out = append(out, hostOf(v))
	}
	return out
}

// hostOf is the host a connection setting names: "db", "db:5432", "postgres://u@db/x", "jdbc:postgresql://db/x".
func hostOf(v string) string {
	v = strings.TrimPrefix(strings.TrimSpace(v), "jdbc:")
	if strings.Contains(v, "://") {
		if u, err := url.Parse(v); err == nil {
			return u.Hostname()
		}
		return ""
	}
	host, _, _ := strings.Cut(v, ":")
	return host
}

// sibling is the first of the sibling variables with one of these name ends.
func (s *Secret) sibling(ends ...string) string {
	sib := s.siblings()
	for _, e := range ends {
		if v := sib[e]; v != "" {
			return v
		}
	}
	return ""
}

// databaseOf is the database the consumers connect to: a NAME-like sibling, else a URL's path.
func (s *Secret) databaseOf() string {
	if v := s.sibling("NAME", "DATABASE", "DB", "DBNAME", "DB_NAME"); v != "" {
		return v
	}
	for _, v := range s.siblings() {
		if u, err := url.Parse(strings.TrimPrefix(v, "jdbc:")); err == nil && u.Host != "" && len(u.Path) > 1 {
			return strings.TrimPrefix(u.Path, "/")
		}
	}
	return ""
}

// userOf is the login the consumers use: a USER-like sibling, else a URL's user.
func (s *Secret) userOf() string {
	if v := s.sibling("USER", "USERNAME", "USER_NAME", "LOGIN"); v != "" {
		return v
	}
	for _, n := range s.names() {
		if u, err := url.Parse(s.svcEnv[n]); err == nil && u.User != nil {
			return u.User.Username()
		}
	}
	for k, v := range s.svcEnv { // a URL carrying the value: postgresql://vaultwarden:${VW_DB_PASSWORD}@db/…
		if u, err := url.Parse(v); err == nil && u.User != nil && k != s.Var {
			if pw, ok := u.User.Password(); ok && pw == s.value && s.value != "" {
				return u.User.Username()
			}
		}
	}
	return ""
}

// serverEnv is the environment of the server's own service, as compose resolves it.
func (sf *serverFinder) serverEnv(svc string) map[string]string {
	out := map[string]string{}
	for k, v := range sf.f.p.Types().Services[svc].Environment {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

// readsAs reports the server's service reading the value as one of these variables (POSTGRES_PASSWORD).
func (sf *serverFinder) readsAs(s *Secret, svc string, keys ...string) bool {
	env := sf.serverEnv(svc)
	for _, k := range keys {
		if v, ok := env[k]; ok && v == s.value && v != "" {
			return true
		}
	}
	return false
}

// loginVar is the variable of the project's env files that holds user and that the consumers read under
// the same name: the place rekey writes the login the new value was staged on. A variable only some other
// service reads (a backup job's BACKUP_USER) would move that service instead and leave the consumers on a
// role adopt makes NOLOGIN, so there is none then.
func (sf *serverFinder) loginVar(s *Secret, user string) string {
	for _, k := range slices.Sorted(maps.Keys(sf.f.env)) {
		if sf.f.env[k] != user || !strings.Contains(strings.ToUpper(k), "USER") && !strings.Contains(strings.ToUpper(k), "LOGIN") {
			continue
		}
		if _, ok := s.svcEnv[k]; ok {
			return k // the consumers read it under the same name: DB_USER
		}
	}
	return ""
}

// name is the server's name in rekey.yaml: the service's, or with the secret's when taken.
func (sf *serverFinder) name(service, secret string) string {
	base := notNameChar.ReplaceAllString(strings.ToLower(service), "-")
	if base == "" || !isNameStart(base[0]) {
		base = "db-" + base
	}
	name := base
	if sf.names[name] {
		name = base + "-" + secret
	}
	if len(name) > 63 {
		name = name[:63]
	}
	sf.names[name] = true
	return name
}

var notNameChar = regexp.MustCompile(`[^a-z0-9_.-]`)

func isNameStart(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
