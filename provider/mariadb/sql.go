package mariadb

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/rekeyhq/rekey/provider"
)

// nativeHash is what mysql_native_password stores for value: "*" and the uppercase hex of
// SHA1(SHA1(value)), the same as the server's PASSWORD(). rekey computes it here so that no value ever
// reaches the server in SQL.
func nativeHash(value string) string {
	a := sha1.Sum([]byte(value))
	b := sha1.Sum(a[:])
	return "*" + strings.ToUpper(hex.EncodeToString(b[:]))
}

// invalidAuth is the authentication string that makes every password fail. mysql_native_password accepts
// the literal 'invalid' as a hash no scramble can match (mariadb-install-db uses it for root's password
// half); anything else that is not a 41-character hash is refused with ERROR 1396.
const invalidAuth = "invalid"

// ident quotes an identifier (a user or host name in an account, a role).
func ident(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// account is user@host as SHOW GRANTS prints it.
func account(user, host string) string { return ident(user) + "@" + ident(host) }

// literal quotes a string literal. Text with a backslash or a control character goes as a hex literal,
// which reads the same whether or not the session has NO_BACKSLASH_ESCAPES.
func literal(s string) string {
	plain := true
	for _, r := range s {
		if r == '\\' || r < 0x20 || r == 0x7f {
			plain = false
			break
		}
	}
	if !plain {
		return "_utf8mb4 X'" + hex.EncodeToString([]byte(s)) + "'"
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// sqlError is an ERROR line of the mariadb client.
type sqlError struct {
	num  int    // the server's (or the client's, 2xxx) error number
	text string // the line, without hashes
}

func (e *sqlError) Error() string { return e.text }

// unreachable says whether the client could not reach the server at all (2002 no socket, 2003 no TCP
// listener, 2006 gone away, 2013 lost connection).
func (e *sqlError) unreachable() bool {
	return e.num == 2002 || e.num == 2003 || e.num == 2006 || e.num == 2013
}

// denied says whether the login itself was refused (1045 wrong password, 1698 unix_socket mismatch,
// 4151 locked account).
func (e *sqlError) denied() bool { return e.num == 1045 || e.num == 1698 || e.num == 4151 }

var (
	errorLine = regexp.MustCompile(`^ERROR (\d+)(?: \([0-9A-Z]+\))?`)
	// hashes are redacted from anything the server says back: a syntax error quotes the statement.
	hashText = regexp.MustCompile(`\*[0-9A-Fa-f]{40}`)
)

// firstError finds the client's first ERROR line in out (stdout then stderr). The client echoes a failed
// statement around it in batch mode; only the ERROR line is kept.
func firstError(out string) *sqlError {
	for l := range strings.SplitSeq(out, "\n") {
		l = strings.TrimSpace(l)
		if m := errorLine.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			return &sqlError{num: n, text: hashText.ReplaceAllString(l, "*…")}
		}
	}
	return nil
}

// lastLine is the end of the client's output, where stderr is; hashes redacted.
func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return hashText.ReplaceAllString(s[strings.LastIndexByte(s, '\n')+1:], "*…")
}

// marker ends the output of statement i.
func marker(i int) string { return fmt.Sprintf("rekey-result-%d", i) }

// adminError is a failure of the admin's own session: the admin login refused, or no client.
type adminError struct{ msg string }

func (e *adminError) Error() string { return e.msg }

// query runs stmts in one admin session over the socket and returns each statement's rows, every row its
// columns. The SQL goes on the client's stdin; a marker SELECT after each statement splits the output.
// The client stops at the first failing statement, so nothing after it runs; that error is returned.
func (m *MariaDB) query(ctx context.Context, stmts ...string) ([][][]string, error) {
	var in bytes.Buffer
	for i, s := range stmts {
		fmt.Fprintf(&in, "%s;\nSELECT '%s';\n", s, marker(i))
	}
	argv := []string{"mariadb", "--protocol=socket", "--user=" + m.admin, "--batch", "--skip-column-names",
		"--default-character-set=utf8mb4"}
	code, out, err := m.exec.Exec(ctx, argv, in.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", provider.ErrUnreachable, err)
	}
	if code != 0 {
		e := firstError(string(out))
		switch {
		case e == nil && (code == 126 || code == 127):
			return nil, &adminError{fmt.Sprintf("no mariadb client in the container (exit %d): is servers.%s.service the MariaDB service?", code, m.name)}
		case e == nil:
			return nil, fmt.Errorf("the mariadb client failed (exit %d): %s", code, lastLine(string(out)))
		case e.unreachable():
			return nil, fmt.Errorf("%w: %s", provider.ErrUnreachable, e.text)
		case e.denied():
			return nil, &adminError{fmt.Sprintf("the admin login %s was refused over the socket (%s): rekey logs in as %s through unix_socket authentication, as the container's OS root; check servers.%s.admin", m.admin, e.text, m.admin, m.name)}
		}
		return nil, e
	}
	results := make([][][]string, 0, len(stmts))
	var rows [][]string
	for l := range strings.SplitSeq(strings.TrimSuffix(string(out), "\n"), "\n") {
		if len(results) < len(stmts) && l == marker(len(results)) {
			results = append(results, rows)
			rows = nil
			continue
		}
		cols := strings.Split(l, "\t")
		for i, c := range cols {
			cols[i] = unescape(c)
		}
		rows = append(rows, cols)
	}
	if len(results) < len(stmts) {
		return nil, fmt.Errorf("unexpected output from the mariadb client: %d of %d statements answered", len(results), len(stmts))
	}
	return results, nil
}

// unescape undoes the client's batch-mode escaping of a column: \\, \t, \n and \0.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case '0':
			b.WriteByte(0)
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// do runs stmts and keeps no output.
func (m *MariaDB) do(ctx context.Context, stmts ...string) error {
	_, err := m.query(ctx, stmts...)
	return err
}

// loginScript logs in over TCP as $1 on port $2 with the password read from stdin. This is the one place
// a value exists outside a process's stdin: the shell reads it and hands it to this one mariadb process
// in its environment (MYSQL_PWD), which only root and the process's own user can read; it is never in
// argv and never in the exec's configured environment.
const loginScript = `IFS= read -r MYSQL_PWD; export MYSQL_PWD; exec mariadb --protocol=tcp --host=127.0.0.1 --port="$2" --user="$1" --batch --skip-column-names --connect-timeout=10 -e 'SELECT 1'`

// login is one real login as user with value, over TCP inside the container. A refused login is a
// *sqlError that denied() says so about.
func (m *MariaDB) login(ctx context.Context, user, value string) error {
	if err := passable(value); err != nil {
		return err
	}
	argv := []string{"sh", "-c", loginScript, "rekey-login", user, strconv.Itoa(m.port)}
	code, out, err := m.exec.Exec(ctx, argv, []byte(value+"\n"))
	if err != nil {
		return fmt.Errorf("%w: %w", provider.ErrUnreachable, err)
	}
	if code == 0 && strings.TrimSpace(string(out)) == "1" {
		return nil
	}
	e := firstError(string(out))
	switch {
	case e == nil:
		return fmt.Errorf("the login as %s failed (exit %d): %s", user, code, lastLine(string(out)))
	case e.unreachable():
		return fmt.Errorf("%w: %s: the login over TCP inside the container found no server on 127.0.0.1:%d; check servers.%s.port, and that the server listens on TCP (no skip-networking)",
			provider.ErrUnreachable, e.text, m.port, m.name)
	}
	return e
}

// passable refuses values the login cannot pass on: the shell reads one line.
func passable(value string) error {
	if strings.ContainsAny(value, "\n\r\x00") {
		return errors.New("the value holds a line break or NUL byte, which rekey cannot pass to the mariadb client: use a generator without them")
	}
	return nil
}

// auth is one element of an account's authentication chain.
type auth struct {
	Plugin     string `json:"plugin"`
	AuthString string `json:"authentication_string"`
}

// user is an account as mysql.global_priv holds it.
type user struct {
	name, host string
	chain      []auth // in the order the server tries them
	locked     bool
}

// privJSON is the part of mysql.global_priv.Priv rekey reads. The first element of the chain sits at the
// top level; with an OR chain, auth_or lists every element in order, {} standing for the top-level one.
type privJSON struct {
	auth
	AuthOr []auth `json:"auth_or"`
	Locked bool   `json:"account_locked"`
}

func parseUser(name, host, priv string) (user, error) {
	var p privJSON
	if err := json.Unmarshal([]byte(priv), &p); err != nil {
		return user{}, fmt.Errorf("failed to read mysql.global_priv of %s: %v", account(name, host), err)
	}
	u := user{name: name, host: host, locked: p.Locked}
	if len(p.AuthOr) == 0 {
		u.chain = []auth{p.auth}
		return u, nil
	}
	for _, a := range p.AuthOr {
		if a.Plugin == "" {
			a = p.auth
		}
		u.chain = append(u.chain, a)
	}
	return u, nil
}

const native = "mysql_native_password"

// holds says whether value logs the user in through one of its mysql_native_password hashes.
func (u user) holds(value string) bool {
	h := nativeHash(value)
	for _, a := range u.chain {
		if a.Plugin == native && strings.EqualFold(a.AuthString, h) {
			return true
		}
	}
	return false
}

// open says whether the user may log in with some password: unlocked, with a usable hash.
func (u user) open() bool {
	if u.locked {
		return false
	}
	for _, a := range u.chain {
		if a.Plugin != native || (a.AuthString != invalidAuth && a.AuthString != "") {
			return true
		}
	}
	return false
}

// others lists the plugins of the chain other than mysql_native_password.
func (u user) others() []string {
	var ps []string
	for _, a := range u.chain {
		if a.Plugin != native {
			ps = append(ps, a.Plugin)
		}
	}
	return ps
}

// users reads the named accounts at m.host from mysql.global_priv; missing ones are absent from the map.
func (m *MariaDB) users(ctx context.Context, names ...string) (map[string]user, error) {
	lits := make([]string, len(names))
	for i, n := range names {
		lits[i] = literal(n)
	}
	res, err := m.query(ctx, fmt.Sprintf("SELECT User, Host, Priv FROM mysql.global_priv WHERE Host = %s AND User IN (%s)",
		literal(m.host), strings.Join(lits, ", ")))
	if err != nil {
		return nil, err
	}
	us := map[string]user{}
	for _, r := range res[0] {
		if len(r) != 3 {
			return nil, fmt.Errorf("unexpected row from mysql.global_priv (%d columns)", len(r))
		}
		u, err := parseUser(r[0], r[1], r[2])
		if err != nil {
			return nil, err
		}
		us[u.name] = u
	}
	return us, nil
}

// grantee finds " TO acct" or " FOR acct" in a SHOW GRANTS line, ending the line or followed by a space;
// it returns where acct starts, or -1.
func grantee(line, acct string) int {
	for _, kw := range []string{" TO ", " FOR "} {
		i := strings.LastIndex(line, kw+acct)
		if i < 0 {
			continue
		}
		end := i + len(kw) + len(acct)
		if end == len(line) || line[end] == ' ' {
			return i + len(kw)
		}
	}
	return -1
}

// stripAuth removes the IDENTIFIED … clause SHOW GRANTS puts after the grantee of the USAGE line (it
// holds the password hash), up to REQUIRE, WITH or the end of the line, outside quotes.
func stripAuth(line string, at int) string {
	rest := line[at:]
	if !strings.HasPrefix(rest, " IDENTIFIED ") {
		return line
	}
	var quote byte
	for i := 1; i < len(rest); i++ {
		c := rest[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '`' || c == '"':
			quote = c
		case c == ' ' && (strings.HasPrefix(rest[i:], " WITH ") || strings.HasPrefix(rest[i:], " REQUIRE ")):
			return line[:at] + rest[i:]
		}
	}
	return line[:at]
}

// rewrite turns one SHOW GRANTS line for from into the same statement for to, without the
// authentication clause. ok is false when the line does not name from as its grantee.
func rewrite(line, from, to string) (string, bool) {
	i := grantee(line, from)
	if i < 0 {
		return "", false
	}
	end := i + len(from)
	return stripAuth(line[:i]+to+line[end:], i+len(to)), true
}

// normalize is a user's grants with the grantee replaced by a placeholder and no authentication,
// sorted: equal for two users exactly when their grants are identical modulo the name.
func normalize(lines []string, acct string) ([]string, error) {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		n, ok := rewrite(l, acct, "<login>")
		if !ok {
			return nil, fmt.Errorf("a SHOW GRANTS line for %s does not name it as the grantee (%s …): rekey cannot copy its grants", acct, strings.Join(strings.Fields(l)[:min(2, len(strings.Fields(l)))], " "))
		}
		out = append(out, sortColumns(n))
	}
	slices.Sort(out)
	return out, nil
}

// sortColumns sorts the column list of each column grant, "SELECT (`b`, `a`)": the server prints the
// columns in no fixed order, so two users with the same grants may list them differently.
func sortColumns(line string) string {
	var b strings.Builder
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '`' || c == '"':
			quote = c
		case c == '(':
			if end, cols, ok := columnList(line, i+1); ok {
				slices.Sort(cols)
				b.WriteString("(" + strings.Join(cols, ", ") + ")")
				i = end
				continue
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

// columnList reads "`a`, `b`)" from line[i:]: the quoted names and the index of the ")".
func columnList(line string, i int) (int, []string, bool) {
	var cols []string
	for i < len(line) {
		if line[i] != '`' {
			return 0, nil, false
		}
		j := i + 1
		for ; j < len(line); j++ {
			if line[j] == '`' {
				if j+1 < len(line) && line[j+1] == '`' {
					j++
					continue
				}
				break
			}
		}
		if j >= len(line) {
			return 0, nil, false
		}
		cols = append(cols, line[i:j+1])
		switch rest := line[j+1:]; {
		case strings.HasPrefix(rest, ")"):
			return j + 1, cols, true
		case strings.HasPrefix(rest, ", "):
			i = j + 3
		default:
			return 0, nil, false
		}
	}
	return 0, nil, false
}

// revokeAll is the SQL that takes every grant from acct, given its SHOW GRANTS lines: privileges and
// grant option, roles, proxy grants, the default role, TLS requirements and resource limits.
// Roles and proxy grants go first: REVOKE ALL takes roles too, after which revoking one fails.
func revokeAll(lines []string, acct string) []string {
	var stmts []string
	for _, l := range lines {
		i := grantee(l, acct)
		if i < 0 || !strings.HasPrefix(l, "GRANT ") {
			continue
		}
		what := strings.TrimSuffix(l[len("GRANT "):i], " TO ")
		switch {
		case strings.HasPrefix(what, "`"): // a role
			stmts = append(stmts, "REVOKE "+what+" FROM "+acct)
		case strings.HasPrefix(what, "PROXY ON "):
			stmts = append(stmts, "REVOKE "+what+" FROM "+acct)
		}
	}
	return append(stmts,
		"REVOKE ALL PRIVILEGES, GRANT OPTION FROM "+acct,
		"SET DEFAULT ROLE NONE FOR "+acct,
		"ALTER USER "+acct+" REQUIRE NONE WITH MAX_QUERIES_PER_HOUR 0 MAX_UPDATES_PER_HOUR 0 MAX_CONNECTIONS_PER_HOUR 0 MAX_USER_CONNECTIONS 0 MAX_STATEMENT_TIME 0")
}

// column returns the first column of each row.
func column(rows [][]string) []string {
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, r[0])
	}
	return out
}
