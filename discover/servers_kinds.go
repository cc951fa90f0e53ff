package discover

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/internal/images"
)

// alternatingLogin is a login role of the alternating layout: OWNER_a or OWNER_b.
var alternatingLogin = regexp.MustCompile(`^(.+)_[ab]$`)

// postgres proposes a PostgreSQL server. Three set-ups are told apart:
//   - the image sets its superuser's password with the value (POSTGRES_PASSWORD) and the consumers log in
//     as that superuser: one role, one password, so strategy: swap (the admin is the same role, which
//     must keep LOGIN: adopting it would lock rekey out);
//   - the consumers log in as OWNER_a or OWNER_b: the alternating layout exists, nothing to do first;
//   - the consumers log in as another role, named in a variable: the alternating layout with that role as
//     owner, after `rekey adopt` moves them to OWNER_a without downtime. A role written in compose
//     cannot take turns: one role, strategy: swap.
func (sf *serverFinder) postgres(s *Secret, svc string) (*ServerProposal, string) {
	superuser := sf.postgresSuperuser(svc)
	admin := fmt.Sprintf("psql as %s over the container's local socket, without a password (the postgres image trusts local connections from root in the container)", superuser)
	login := s.userOf()
	sp := &ServerProposal{Type: config.ServerPostgres, Service: svc, Admin: admin}
	single := func(role, why string) (*ServerProposal, string) {
		sp.User, sp.Login, sp.strategy = role, role, config.StrategySwap
		sp.spec = &config.Server{Type: config.ServerPostgres, Service: svc, User: role, Single: true, Admin: &config.Admin{User: superuser}}
		if db := orName(s.databaseOf(), sf.serverEnv(svc)["POSTGRES_DB"]); db != "" && db != role {
			sp.Database, sp.spec.Database = db, db
		}
		sp.Mode = why + ": one password, no overlap; strategy: swap stops the consumers while it changes (docs/providers.md)"
		return sp, ""
	}
	if sf.readsAs(s, svc, "POSTGRES_PASSWORD") {
		if login != "" && login != superuser {
			return nil, fmt.Sprintf("%s makes it the password of its superuser %s, but the consumers log in as %s: check which login it is and declare the server by hand", svc, superuser, login)
		}
		return single(superuser, fmt.Sprintf("the consumers log in as %s, the superuser the image created with this password", superuser))
	}
	if login == "" {
		return nil, fmt.Sprintf("no variable beside %s names the user the consumers log in as (such as DB_USER)", orName(s.Var, s.File))
	}
	if login == superuser {
		// Adopting the image's superuser would make rekey's admin and the operator's only superuser
		// NOLOGIN: its password is changed in place instead.
		return single(login, fmt.Sprintf("the consumers log in as %s, the image's superuser", login))
	}
	sp.LoginEnv = sf.loginVar(s, login)
	if sp.LoginEnv == "" {
		return single(login, fmt.Sprintf("the consumers log in as %s, written in compose rather than in a variable rekey can change", login))
	}
	owner := login
	if m := alternatingLogin.FindStringSubmatch(login); m != nil {
		owner = m[1]
	} else {
		sp.Adopt = true
	}
	sp.User, sp.Login = owner, login
	sp.spec = &config.Server{Type: config.ServerPostgres, Service: svc, User: owner, Admin: &config.Admin{User: superuser}}
	if db := s.databaseOf(); db != "" && db != owner {
		sp.Database, sp.spec.Database = db, db
	}
	sp.Mode = fmt.Sprintf("login roles %s_a and %s_b take turns, both acting as the owner role %s; %s holds the one the consumers use (%s now)", owner, owner, owner, sp.LoginEnv, login)
	if sp.Adopt {
		sp.Mode = fmt.Sprintf("login roles %s_a and %s_b will take turns, both acting as %s, which the consumers log in as now (%s holds it)", owner, owner, owner, sp.LoginEnv)
	}
	return sp, ""
}

// postgresSuperuser is the superuser the postgres image creates: POSTGRES_USER, or the content of the
// compose secret POSTGRES_USER_FILE names, else postgres.
func (sf *serverFinder) postgresSuperuser(svc string) string {
	env := sf.serverEnv(svc)
	if u := env["POSTGRES_USER"]; u != "" {
		return u
	}
	if target := env["POSTGRES_USER_FILE"]; target != "" {
		tp := sf.f.p.Types()
		for _, ref := range tp.Services[svc].Secrets {
			if secretTarget(ref.Source, ref.Target) != target {
				continue
			}
			if sc, ok := tp.Secrets[ref.Source]; ok && sc.File != "" {
				if u := readName(sf.f.p.Dir(), sc.File); u != "" {
					return u
				}
			}
		}
	}
	return "postgres"
}

func secretTarget(source, target string) string {
	switch {
	case target == "":
		return "/run/secrets/" + source
	case !strings.HasPrefix(target, "/"):
		return "/run/secrets/" + target
	}
	return target
}

// readName reads a short name from a file of the project (a user name in a compose secret).
func readName(dir, file string) string {
	if !filepath.IsAbs(file) {
		file = filepath.Join(dir, file)
	}
	fi, err := os.Lstat(file)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > 256 {
		return ""
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	name := strings.TrimSpace(string(data))
	if strings.ContainsAny(name, " \t\r\n") {
		return ""
	}
	return name
}

// mariadb proposes a MariaDB server with the two-password chain: one user, no name change, nothing to
// adopt. MySQL has no such chain that rekey supports, so a MySQL image gets no server.
func (sf *serverFinder) mariadb(s *Secret, svc string) (*ServerProposal, string) {
	image := sf.f.p.Types().Services[svc].Image
	if b := images.Base(image); b != "mariadb" && b != "mariadb-galera" {
		return nil, fmt.Sprintf("%s runs %s: rekey's mariadb server type needs MariaDB >= 10.4 (its two-password chain); MySQL is not supported", svc, image)
	}
	env := sf.serverEnv(svc)
	user := s.userOf()
	switch {
	case sf.readsAs(s, svc, "MARIADB_ROOT_PASSWORD", "MYSQL_ROOT_PASSWORD"):
		user = "root"
	case sf.readsAs(s, svc, "MARIADB_PASSWORD", "MYSQL_PASSWORD"):
		user = orName(env["MARIADB_USER"], env["MYSQL_USER"])
	}
	if user == "" {
		return nil, fmt.Sprintf("no variable beside %s names the user the consumers log in as (such as DB_USER)", orName(s.Var, s.File))
	}
	return &ServerProposal{Type: config.ServerMariaDB, Service: svc, User: user, Login: user,
		Mode:  fmt.Sprintf("MariaDB user %s holds the old and the new password at once (a two-password chain, MariaDB >= 10.4)", user),
		Admin: "the mariadb client as root over the container's local socket (unix_socket authentication), without a password",
		spec:  &config.Server{Type: config.ServerMariaDB, Service: svc, User: user, Chain: true, Admin: &config.Admin{User: "root"}}}, ""
}

// redis proposes a Redis server: the ACL user (default, behind requirepass) holds the old and the new
// password at once, and rekey logs in as that user with the value it holds.
func (sf *serverFinder) redis(s *Secret, svc string) *ServerProposal {
	user := s.sibling("USER", "USERNAME")
	spec := &config.Server{Type: config.ServerRedis, Service: svc}
	if user != "" && user != "default" {
		spec.User = user
	}
	return &ServerProposal{Type: config.ServerRedis, Service: svc, User: spec.RotatedUser(), Login: spec.RotatedUser(),
		Mode:  fmt.Sprintf("Redis ACL user %s holds the old and the new password at once (Redis >= 6)", spec.RotatedUser()),
		Admin: fmt.Sprintf("none: rekey logs in as %s with the value it holds at each step (redis-cli inside the container)", spec.RotatedUser()),
		spec:  spec}
}
