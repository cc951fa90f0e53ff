package redis_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/dockerio"
	"github.com/rekeyhq/rekey/envfile"
	"github.com/rekeyhq/rekey/internal/testenv"
	"github.com/rekeyhq/rekey/provider"
	"github.com/rekeyhq/rekey/provider/providertest"
	"github.com/rekeyhq/rekey/provider/redis"
)

// server is a Redis container reached with the harness's own redis-cli sessions, never the driver's.
type server struct {
	exec     provider.Exec
	user     string
	observer redis.Login // a user that may read ACL LOG and nothing else
}

func (s server) session(ctx context.Context, l redis.Login, cmds ...string) (string, error) {
	var in bytes.Buffer
	fmt.Fprintf(&in, "AUTH %s %s\n", hexQuote(l.User), hexQuote(l.Password))
	for _, c := range cmds {
		in.WriteString(c + "\n")
	}
	code, out, err := s.exec.Exec(ctx, []string{"redis-cli", "-h", "127.0.0.1"}, in.Bytes())
	if err != nil || code != 0 {
		return "", fmt.Errorf("redis-cli exited %d: %v: %s", code, err, out)
	}
	first, rest, _ := strings.Cut(string(out), "\n")
	if first != "OK" {
		return "", errors.New(first)
	}
	return rest, nil
}

func hexQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, `\x%02x`, s[i])
	}
	b.WriteByte('"')
	return b.String()
}

func (s server) Login(ctx context.Context, value string) error {
	out, err := s.session(ctx, redis.Login{User: s.user, Password: value}, "PING")
	if err != nil {
		return err
	}
	if strings.TrimSpace(out) != "PONG" {
		return fmt.Errorf("PING after login: %q", out)
	}
	return nil
}

// AuthFailures sums the counts of ACL LOG entries with reason auth (Redis groups repeated failures).
func (s server) AuthFailures(ctx context.Context) (int, error) {
	out, err := s.session(ctx, s.observer, "ACL LOG 1000")
	if err != nil {
		return 0, err
	}
	return testenv.RedisAuthFailures(out, ""), nil
}

func start(t *testing.T, dir string) (*testenv.Stack, provider.Exec) {
	testenv.RequireImages(t, "rekey-demo/redis:dev")
	st := testenv.NewStack(t, filepath.Join("testdata", dir))
	st.Up(t)
	ctx := context.Background()
	eng, err := dockerio.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return st, provider.Service{Engine: eng, Project: st.Name, Name: "redis"}
}

// TestRequirepass rotates the default user's password, set by requirepass: rekey logs in with the value
// it rotates, and there is no other user.
func TestRequirepass(t *testing.T) {
	st, exec := start(t, "requirepass")
	srv := server{exec: exec, user: "default", observer: redis.Login{User: "observer", Password: "observer-pw"}}
	// An observer for the server's own failure count, so that reading it never needs the rotated value.
	if _, err := srv.session(context.Background(), redis.Login{User: "default", Password: "initial-default-pw"},
		"ACL SETUSER observer on >observer-pw +acl|log"); err != nil {
		t.Fatal(err)
	}
	providertest.Run(t, providertest.Harness{
		Server:  srv,
		Exec:    exec,
		Initial: "initial-default-pw",
		New:     func(e provider.Exec) provider.Provider { return redis.New("cache", e) },
		Bad: map[string]func(provider.Exec) provider.Provider{
			"unknown user": func(e provider.Exec) provider.Provider { return redis.New("cache", e, redis.WithUser("nobody")) },
			"wrong port":   func(e provider.Exec) provider.Provider { return redis.New("cache", e, redis.WithPort(6390)) },
		},
		Restart: func(t *testing.T) { st.Compose(t, "restart", "redis") },
		// requirepass comes from the container's environment: a restart boots on it, and rekey recreates
		// the server's service from the sources once they hold the new value.
		Bootstrap: func(t *testing.T, value string) {
			st.SetEnv(t, "REDIS_PASSWORD", envfile.Quote(value)) // the suite's values hold quotes and $
			st.Compose(t, "up", "-d", "redis")
		},
		Stop: func(t *testing.T) { st.Compose(t, "stop", "redis") },
	})
}

// TestACLFile rotates an ACL user's password through a separate admin user, on a server that keeps its
// users in an aclfile: every change must be saved there, or a restart would undo it.
func TestACLFile(t *testing.T) {
	st, exec := start(t, "aclfile")
	srv := server{exec: exec, user: "app", observer: redis.Login{User: "observer", Password: "observer-pw"}}
	admin := redis.Login{User: "rekey", Password: "admin-pw"}
	var last string
	providertest.Run(t, providertest.Harness{
		Server:  srv,
		Exec:    exec,
		Initial: "initial-app-pw",
		New: func(e provider.Exec) provider.Provider {
			return redis.New("cache", e, redis.WithUser("app"), redis.WithAdmin(admin))
		},
		Bad: map[string]func(provider.Exec) provider.Provider{
			"wrong admin password": func(e provider.Exec) provider.Provider {
				return redis.New("cache", e, redis.WithUser("app"), redis.WithAdmin(redis.Login{User: "rekey", Password: "nope"}))
			},
			"unknown user": func(e provider.Exec) provider.Provider {
				return redis.New("cache", e, redis.WithUser("nobody"), redis.WithAdmin(admin))
			},
			"admin without ACL permission": func(e provider.Exec) provider.Provider {
				return redis.New("cache", e, redis.WithUser("app"), redis.WithAdmin(redis.Login{User: "weak", Password: "weak-pw"}))
			},
		},
		Invariant: func(t *testing.T) {
			// The aclfile holds exactly one password for app after each rotation: the change was saved.
			acl := st.ReadFile(t, "acl/users.acl")
			for _, l := range strings.Split(acl, "\n") {
				if strings.HasPrefix(l, "user app ") && strings.Count(l, " #") != 1 {
					t.Errorf("aclfile line for app holds %d passwords: %q", strings.Count(l, " #"), l)
				}
			}
			if acl == last {
				t.Error("the aclfile did not change with the rotation")
			}
			last = acl
		},
		Restart: func(t *testing.T) { st.Compose(t, "restart", "redis") },
	})
}
