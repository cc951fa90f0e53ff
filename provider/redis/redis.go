// Package redis rotates the password of a Redis ACL user with a real overlap: an ACL user can hold several
// passwords at once (Redis ≥ 6.0), so the new one is added next to the old one, consumers move over, and
// the old one is removed. It talks to the server with redis-cli inside the server's own container; every
// command, and every value, travels on redis-cli's stdin.
package redis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/rekeyhq/rekey/provider"
)

// Redis drives one ACL user on one server.
type Redis struct {
	name  string
	exec  provider.Exec
	user  string
	admin *Login
	port  int
}

// Login is a user and password rekey authenticates as.
type Login struct {
	User     string
	Password string
}

// Option configures a Redis driver.
type Option func(*Redis)

// WithUser sets the ACL user whose password rotates (default "default", the user behind requirepass).
func WithUser(u string) Option { return func(r *Redis) { r.user = u } }

// WithAdmin makes rekey authenticate as a separate admin user to change the rotated user's passwords.
// Without it, rekey authenticates as the rotated user itself (with the value it holds at that point),
// which must then be allowed to run ACL commands: the usual requirepass setup.
func WithAdmin(l Login) Option { return func(r *Redis) { r.admin = &l } }

// WithPort sets the port redis-cli connects to inside the container (default 6379).
func WithPort(p int) Option { return func(r *Redis) { r.port = p } }

// New returns a driver for the server called name (for messages), reached through exec.
func New(name string, exec provider.Exec, opts ...Option) *Redis {
	r := &Redis{name: name, exec: exec, user: "default", port: 6379}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Mechanism implements provider.Provider.
func (r *Redis) Mechanism() string {
	return fmt.Sprintf("Redis ACL user %s holds the old and the new password at once", r.user)
}

// as is the login that changes the rotated user's passwords while that user holds value.
func (r *Redis) as(value string) Login {
	if r.admin != nil {
		return *r.admin
	}
	return Login{User: r.user, Password: value}
}

// grants says what the login rekey changes passwords with needs.
const grants = "grant it +@all, or at least +acl +echo +info +config|get, and +config|set +config|rewrite when the rotated user is default"

// Check implements provider.Provider.
func (r *Redis) Check(ctx context.Context, current string) error {
	admin := r.as(current)
	info, err := r.run(ctx, admin, cmd("INFO", "server"), cmd("ACL", "GETUSER", r.user), cmd("CONFIG", "GET", "aclfile"))
	if err != nil {
		return r.loginError(err, current)
	}
	if err := supported(info[0]); err != nil {
		return fmt.Errorf("redis %s: %w", r.name, err)
	}
	switch {
	case isError(info[1]) && strings.HasPrefix(info[1], "(error) NOPERM"):
		return fmt.Errorf("redis %s: %s may not run the commands rekey needs (%s): %s", r.name, admin.User, errorText(info[1]), grants)
	case isError(info[1]):
		return fmt.Errorf("redis %s: failed to read ACL user %s: %s", r.name, r.user, errorText(info[1]))
	case strings.TrimSpace(info[1]) == "(nil)":
		return fmt.Errorf("redis %s: no ACL user %s on the server: check servers.%s.user", r.name, r.user, r.name)
	case isError(info[2]):
		// Without it rekey cannot tell whether changes must be saved to an aclfile, and a restart would
		// bring the old passwords back.
		return fmt.Errorf("redis %s: %s may not read the configuration (%s): %s", r.name, admin.User, errorText(info[2]), grants)
	}
	if r.admin != nil {
		if _, err := r.run(ctx, Login{User: r.user, Password: current}); err != nil {
			return r.loginError(err, current)
		}
	}
	return nil
}

// loginError explains a failed session: a rejected value says which, anything else passes through.
func (r *Redis) loginError(err error, current string) error {
	var re *replyError
	if errors.As(err, &re) && re.noperm {
		return fmt.Errorf("redis %s: %s may not run the commands rekey needs (%s): %s", r.name, re.user, re.text, grants)
	}
	if !errors.As(err, &re) || !re.auth {
		return fmt.Errorf("redis %s: %w", r.name, err)
	}
	if r.admin != nil && re.user == r.admin.User {
		return fmt.Errorf("redis %s: the admin login %s was rejected (%s): check its password in the values file", r.name, r.admin.User, re.text)
	}
	return fmt.Errorf("redis %s: the current value of %s, as the sources hold it, does not log in (%s): rekey will not rotate from a value the server rejects; compare with `rekey drift` and fix the source or the server first", r.name, r.user, re.text)
}

// supported checks the version in INFO server: ACL users with several passwords came in 6.0.
func supported(info string) error {
	v := field(info, "redis_version")
	major, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(major)
	if err != nil {
		return fmt.Errorf("failed to read the server version from INFO server (got %q)", v)
	}
	if n < 6 {
		return fmt.Errorf("redis %s has no ACL users with several passwords (needs 6.0 or later): upgrade, or rotate this password by hand in a maintenance window", v)
	}
	return nil
}

// Stage implements provider.Provider.
func (r *Redis) Stage(ctx context.Context, current, next string) (string, error) {
	if err := r.do(ctx, r.as(current), cmd("ACL", "SETUSER", r.user, hashed(next))); err != nil {
		return "", fmt.Errorf("redis %s: failed to add the new password to %s: %w", r.name, r.user, err)
	}
	return "", r.persist(ctx, r.as(current))
}

// Verify implements provider.Provider.
func (r *Redis) Verify(ctx context.Context, next string) error {
	if _, err := r.run(ctx, Login{User: r.user, Password: next}); err != nil {
		return fmt.Errorf("redis %s: the new value of %s does not log in: %w", r.name, r.user, err)
	}
	return nil
}

// Drain implements provider.Provider. Redis cannot tell which password a connection authenticated with,
// and removing a password does not end the sessions that used it, so there is nothing to wait for.
func (r *Redis) Drain(context.Context, string) error { return nil }

// Revoke implements provider.Provider.
func (r *Redis) Revoke(ctx context.Context, next string) error {
	if err := r.only(ctx, r.as(next), next); err != nil {
		return fmt.Errorf("redis %s: failed to remove the old password of %s: %w", r.name, r.user, err)
	}
	return r.persist(ctx, r.as(next))
}

// Unstage implements provider.Provider.
func (r *Redis) Unstage(ctx context.Context, current, next string) error {
	as := r.as(current)
	err := r.only(ctx, as, current)
	var re *replyError
	if errors.As(err, &re) && re.auth {
		// current no longer logs in (a restart, or a crash after the new value became the only one):
		// log in with the value that does, and make current the only one again.
		as = r.unstageAs(ctx, current, next)
		err = r.only(ctx, as, current)
	}
	if err != nil {
		return fmt.Errorf("redis %s: failed to remove the new password of %s: %w", r.name, r.user, err)
	}
	// current is now the only password: whatever login the removal used, persisting logs in with it.
	return r.persist(ctx, r.as(current))
}

// only leaves value as the user's one password. For the default user, requirepass is set too, so that
// CONFIG GET requirepass (and so CONFIG REWRITE) stays in step; ACL SETUSER must come first: CONFIG SET
// does nothing when requirepass already holds the value (it still does after a Stage). requirepass
// only takes the value itself; every ACL rule gets its hash.
func (r *Redis) only(ctx context.Context, as Login, value string) error {
	cmds := [][]string{cmd("ACL", "SETUSER", r.user, "resetpass", hashed(value))}
	if r.user == "default" {
		cmds = append(cmds, cmd("CONFIG", "SET", "requirepass", value))
	}
	return r.do(ctx, as, cmds...)
}

// hashed is the ACL rule that adds value as a password by its SHA-256 (`#<64 lowercase hex>`, Redis ≥ 6.0,
// which Check requires) rather than in clear (`>value`): the server never receives the value in an ACL
// command, so it cannot show up in the command's echo in an error, a MONITOR, a slow log or a proxy's log.
// Logins (AUTH) still need the value itself.
func hashed(value string) string {
	sum := sha256.Sum256([]byte(value))
	return "#" + hex.EncodeToString(sum[:])
}

// persist saves the change the way the server keeps its users: ACL SAVE with an aclfile, CONFIG REWRITE
// with a config file (requirepass lives there), nothing for a server configured on its command line
// (whose service then reads the secret and is rolled after the revoke).
func (r *Redis) persist(ctx context.Context, as Login) error {
	out, err := r.run(ctx, as, cmd("CONFIG", "GET", "aclfile"), cmd("INFO", "server"))
	if err == nil {
		err = check(out)
	}
	if err != nil {
		return fmt.Errorf("redis %s: the change is live, but rekey cannot tell how the server persists users, so a restart may undo it: %w", r.name, err)
	}
	var save []string
	switch {
	case configValue(out[0]) != "":
		save = cmd("ACL", "SAVE")
	case field(out[1], "config_file") != "" && r.user == "default":
		save = cmd("CONFIG", "REWRITE")
	default:
		return nil
	}
	if err := r.do(ctx, as, save); err != nil {
		return fmt.Errorf("redis %s: the change is live but %s failed, so a restart would undo it: %w", r.name, strings.Join(save, " "), err)
	}
	return nil
}
