package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/rekeyhq/rekey/provider"
)

// ident quotes a PostgreSQL identifier.
func ident(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// literal quotes a string literal; every session sets standard_conforming_strings, so backslashes are
// plain characters.
func literal(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }

// prelude starts every admin session: literals as literal() writes them, no NOTICE chatter.
const prelude = "SET standard_conforming_strings = on;\nSET client_min_messages = warning;\n"

// quiet keeps the statements of a session that sets passwords out of the server log, even when they
// fail (both settings need a superuser, which rekey's admin is). The statements hold verifiers only,
// never a value, but a verifier is still better kept out of log files.
const quiet = "SET log_statement = 'none';\nSET log_min_error_statement = panic;\nSET log_min_duration_statement = -1;\n" +
	"SET log_duration = off;\nSET pg_stat_statements.track_utility = off;\n"

// admin runs sql in one psql session as the admin role, over the server's local socket inside its
// container: SQL on stdin, nothing but options in argv. It returns psql's output (query results, one
// per line) or an error carrying psql's first error line.
func (p *Postgres) admin(ctx context.Context, sql string) ([]byte, error) {
	argv := []string{"psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-U", p.adminUser, "-d", "postgres", "-p", strconv.Itoa(p.port)}
	code, out, err := p.exec.Exec(ctx, argv, []byte(prelude+sql))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", provider.ErrUnreachable, err)
	}
	if code != 0 {
		msg := psqlError(out)
		// psql exits 2 when the session could not start: no server on the socket (unreachable), or a
		// server that refused the admin role (reached, a FATAL from the server).
		if code == 2 && (!strings.Contains(msg, "FATAL:") || notReady(msg)) {
			return nil, fmt.Errorf("%w: %s (psql exit %d)", provider.ErrUnreachable, msg, code)
		}
		if code == 2 {
			return nil, &adminError{msg: msg, login: true}
		}
		return nil, &adminError{msg: msg}
	}
	return out, nil
}

// notReadyFatals are the FATALs of a server that is there but not taking sessions (shutting down,
// starting up, recovering, out of connection slots): the server is not ready, which says nothing about
// whether the admin role may log in, so pg_hba.conf is not the place to look.
var notReadyFatals = []string{
	"the database system is",                              // … shutting down, starting up, in recovery mode, not yet accepting connections
	"terminating connection due to administrator command", // a fast shutdown ended the session
	"terminating connection due to unexpected postmaster exit",
	"sorry, too many clients already",
	"remaining connection slots are reserved",
}

// notReady reports whether psql's error is a server that is not ready rather than a refused login.
func notReady(msg string) bool {
	for _, f := range notReadyFatals {
		if strings.Contains(msg, f) {
			return true
		}
	}
	return false
}

// adminError is psql's own report of a failed admin session or statement.
type adminError struct {
	msg   string
	login bool // the server refused the admin role's session
}

func (e *adminError) Error() string { return e.msg }

// psqlError keeps the part of psql's output worth showing: from the first ERROR or FATAL on, that one
// line, at most 300 bytes. Values never reach SQL or argv, so psql's output cannot hold one.
func psqlError(out []byte) string {
	s := string(out)
	for _, l := range strings.Split(s, "\n") {
		for _, tag := range []string{"FATAL:", "ERROR:", "PANIC:"} {
			if i := strings.Index(l, tag); i >= 0 {
				return limit(strings.Join(strings.Fields(l[i:]), " "))
			}
		}
	}
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	if l == "" {
		return "no output"
	}
	return limit(strings.TrimPrefix(strings.TrimSpace(l), "psql: error: "))
}

func limit(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

// decode reads n JSON documents, one per query, from psql's output.
func decode(out []byte, into ...any) error {
	d := json.NewDecoder(bytes.NewReader(out))
	for _, v := range into {
		if err := d.Decode(v); err != nil {
			return fmt.Errorf("unexpected output from psql: %q", psqlError(out))
		}
	}
	return nil
}

// loginScript runs psql as a consumer would: over TCP, with a password. The password arrives on stdin;
// the read loop keeps it byte for byte (spaces, backslashes, line breaks; only NUL, which PostgreSQL
// cannot store either, is lost) and hands it to psql in PGPASSWORD. This is the one place a value exists
// outside stdin: in the environment of that psql process, inside the server's own container, for the
// duration of one login. It is never in argv, nor in the exec's configured environment.
const loginScript = `v=; while IFS= read -r l; do v="$v$l
"; done; PGPASSWORD="$v$l"; export PGPASSWORD; PGAPPNAME=rekey; PGCONNECT_TIMEOUT=10; export PGAPPNAME PGCONNECT_TIMEOUT
exec psql -X -q -At -w -h 127.0.0.1 -p "$1" -U "$2" -d "$3" -c 'select 1'`

// login logs in over TCP as role with password, the way consumers do, and runs one query.
func (p *Postgres) login(ctx context.Context, role, password string) error {
	argv := []string{"sh", "-c", loginScript, "rekey-login", strconv.Itoa(p.port), role, p.database}
	code, out, err := p.exec.Exec(ctx, argv, []byte(password))
	if err != nil {
		return fmt.Errorf("%w: %w", provider.ErrUnreachable, err)
	}
	if code != 0 || strings.TrimSpace(string(out)) != "1" {
		msg := psqlError(out)
		le := &loginError{msg: msg}
		le.rejected = strings.Contains(msg, "password authentication failed")
		if code == 2 && !strings.Contains(msg, "FATAL:") {
			return fmt.Errorf("%w: %w", provider.ErrUnreachable, le)
		}
		return le
	}
	return nil
}

// loginError is a failed consumer-style login.
type loginError struct {
	msg      string
	rejected bool // the server rejected the password
}

func (e *loginError) Error() string { return e.msg }

func isRejected(err error) bool {
	var le *loginError
	return errors.As(err, &le) && le.rejected
}

// state is what rekey reads about the layout in one admin session.
type state struct {
	Version     int    `json:"version"`
	VersionText string `json:"version_text"`
	Admin       string `json:"admin"`
	Superuser   bool   `json:"superuser"`
	// Read from pg_authid, so only with a superuser admin.
	Owner    *ownerRole  `json:"owner"`
	Database *database   `json:"database"`
	Logins   []loginRole `json:"logins"`
}

// ownerRole is the owner role. Its String is its state: the stored password never prints.
type ownerRole struct {
	Login    bool    `json:"login"`
	Password *string `json:"password"` // read for Adopt, whose owner still logs in
}

func (o ownerRole) String() string   { return fmt.Sprintf("{login:%v}", o.Login) }
func (o ownerRole) GoString() string { return o.String() }

type database struct {
	Owner string `json:"owner"`
}

// loginRole is one of the two login roles. Its String is its name: the stored password never prints.
type loginRole struct {
	Name       string   `json:"name"`
	Login      bool     `json:"login"`
	Password   *string  `json:"password"`
	Member     bool     `json:"member"`
	Settings   []string `json:"settings"`    // ALTER ROLE … SET, in every database
	DBSettings []string `json:"db_settings"` // ALTER ROLE … IN DATABASE db SET
}

func (r loginRole) String() string   { return r.Name }
func (r loginRole) GoString() string { return r.Name }

// holds reports whether the role's stored password accepts value (checked locally, see accepts).
func (r loginRole) holds(value string) bool {
	return r.Password != nil && value != "" && accepts(*r.Password, r.Name, value)
}

// hasPassword reports whether the role has a password at all.
func (r loginRole) hasPassword() bool { return r.Password != nil && *r.Password != "" }

// roleSetting is the role the login role switches to at login, in the database, and whether that comes
// from a setting for the database alone: that one wins over the general one, as in PostgreSQL.
func (r loginRole) roleSetting() (role string, inDB, ok bool) {
	for i, set := range [][]string{r.DBSettings, r.Settings} {
		for _, kv := range set {
			if v, found := strings.CutPrefix(kv, "role="); found {
				return v, i == 0, true
			}
		}
	}
	return "", false, false
}

// read reads the server version, the admin's rights and the layout, in one session. The layout comes
// from pg_authid (the stored passwords), which only a superuser may read, so psql skips that query for
// any other admin and Check says why.
func (p *Postgres) read(ctx context.Context) (*state, error) {
	owner, db := literal(p.owner), literal(p.database)
	logins := literal(p.logins[0]) + ", " + literal(p.logins[1])
	sql := `SELECT json_build_object('version', current_setting('server_version_num')::int,
	'version_text', current_setting('server_version'), 'admin', current_user, 'superuser', rolsuper)
	FROM pg_roles WHERE rolname = current_user;
SELECT rolsuper AS rekey_superuser FROM pg_roles WHERE rolname = current_user \gset
\if :rekey_superuser
SELECT json_build_object(
	'owner', (SELECT json_build_object('login', rolcanlogin, 'password', rolpassword) FROM pg_authid WHERE rolname = ` + owner + `),
	'database', (SELECT json_build_object('owner', pg_get_userbyid(datdba)) FROM pg_database WHERE datname = ` + db + `),
	'logins', (SELECT coalesce(json_agg(json_build_object(
		'name', a.rolname,
		'login', a.rolcanlogin,
		'password', a.rolpassword,
		'member', coalesce((SELECT pg_has_role(a.oid, o.oid, 'MEMBER') FROM pg_authid o WHERE o.rolname = ` + owner + `), false),
		'settings', coalesce((SELECT s.setconfig FROM pg_db_role_setting s WHERE s.setrole = a.oid AND s.setdatabase = 0), '{}'),
		'db_settings', coalesce((SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
			WHERE s.setrole = a.oid AND d.datname = ` + db + `), '{}')
	)), '[]') FROM pg_authid a WHERE a.rolname IN (` + logins + `)));
\endif
`
	out, err := p.admin(ctx, sql)
	if err != nil {
		return nil, p.adminFailed(err)
	}
	var st state
	if err := decode(out, &st); err != nil {
		return nil, fmt.Errorf("postgres %s: %w", p.name, err)
	}
	if st.Superuser {
		if err := decode(out, &st, &st); err != nil {
			return nil, fmt.Errorf("postgres %s: %w", p.name, err)
		}
	}
	return &st, nil
}

// adminFailed explains a failed admin session.
func (p *Postgres) adminFailed(err error) error {
	var ae *adminError
	if errors.As(err, &ae) && ae.login {
		return fmt.Errorf("postgres %s: the admin role %s may not log in over the local socket (%s): rekey runs psql as root inside the container with -U %s; the server's pg_hba.conf/pg_ident.conf must let it in (peer authentication with root mapped to %s, or trust on the socket), and the role must exist", p.name, p.adminUser, ae.msg, p.adminUser, p.adminUser)
	}
	return fmt.Errorf("postgres %s: %w", p.name, err)
}
