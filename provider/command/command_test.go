package command_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/dockerio"
	"github.com/rekeyhq/rekey/internal/testenv"
	"github.com/rekeyhq/rekey/provider"
	"github.com/rekeyhq/rekey/provider/command"
	"github.com/rekeyhq/rekey/provider/providertest"
	"github.com/rekeyhq/rekey/provider/smtp"
	"github.com/rekeyhq/rekey/reconcile"
)

// Scripts an operator could declare for a relay whose keys live in a file: each reads its values from
// stdin, one per line, as the driver sends them.
const (
	keys = `K = "/etc/smtp/keys.d/keys"` + "\n"
	// Bytes throughout: values are UTF-8, whatever the container's locale.
	read  = "import sys\nvals = [l.rstrip(b'\\n') for l in sys.stdin.buffer]\n"
	lines = keys + "def load():\n    return [l for l in open(K, 'rb').read().split(b'\\n') if l]\n" +
		"def save(ls):\n    open(K + '.tmp', 'wb').write(b''.join(l + b'\\n' for l in ls))\n    import os; os.replace(K + '.tmp', K)\n"
	stage  = read + lines + "ls = load()\nif b'app:' + vals[1] not in ls: ls.append(b'app:' + vals[1])\nsave(ls)\n"
	only   = lines + "save([l for l in load() if not l.startswith(b'app:')] + [b'app:' + keep])\n"
	revoke = read + "keep = vals[0]\n" + only
	unstg  = read + "keep = vals[0]\n" + only
	// AUTH PLAIN by hand: smtplib's login encodes the password as ASCII.
	login = read + "import base64, smtplib\ns = smtplib.SMTP('127.0.0.1', 587, timeout=10)\ns.ehlo()\n" +
		"code, _ = s.docmd('AUTH', 'PLAIN ' + base64.b64encode(b'\\0app\\0' + vals[0]).decode())\ns.quit()\n" +
		"sys.exit(0 if code == 235 else 1 if code == 535 else 2)\n"
)

func py(script string) []string { return []string{"python3", "-c", script} }

type relay struct {
	t    *testing.T
	st   *testenv.Stack
	port int
}

func (r relay) Login(ctx context.Context, value string) error {
	ok, err := smtp.New("probe", smtp.WithAddr(fmt.Sprintf("127.0.0.1:%d", r.port)), smtp.WithUser("app"), smtp.WithTLS(smtp.NoTLS)).Accepts(ctx, value)
	if err == nil && !ok {
		err = fmt.Errorf("rejected")
	}
	return err
}

func (r relay) AuthFailures(context.Context) (int, error) {
	return strings.Count(r.st.Logs(r.t, "relay"), "auth failed for user"), nil
}

func TestSuite(t *testing.T) {
	testenv.RequireImages(t, "rekey-demo/smtp:dev")
	st := testenv.NewStack(t, filepath.Join("testdata", "relay"))
	port := testenv.FreePort(t)
	st.SetEnv(t, "SMTP_PORT", fmt.Sprint(port))
	st.Up(t)
	eng, err := dockerio.New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	exec := provider.Service{Engine: eng, Project: st.Name, Name: "relay"}
	cmds := command.Commands{Stage: py(stage), Verify: py(login), Revoke: py(revoke), Unstage: py(unstg), Probe: py(login)}
	mustNew := func(e provider.Exec, c command.Commands) provider.Provider {
		p, err := command.New("relay", e, c)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	srv := relay{t: t, st: st, port: port}
	providertest.Run(t, providertest.Harness{
		Server:  srv,
		Exec:    exec,
		Initial: "initial-relay-key",
		New:     func(e provider.Exec) provider.Provider { return mustNew(e, cmds) },
		Bad: map[string]func(provider.Exec) provider.Provider{
			"check command missing": func(e provider.Exec) provider.Provider {
				c := cmds
				c.Check = []string{"/no/such/check"}
				return mustNew(e, c)
			},
			"check command fails": func(e provider.Exec) provider.Provider {
				c := cmds
				c.Check = py("import sys; sys.exit(3)")
				return mustNew(e, c)
			},
		},
		Stop: func(t *testing.T) { st.Compose(t, "stop", "relay") },
	})
}

func TestNewRefusesIncompleteCommands(t *testing.T) {
	if _, err := command.New("x", provider.Host{}, command.Commands{}); err == nil || !strings.Contains(err.Error(), "verify command is required") {
		t.Errorf("no verify: %v", err)
	}
	if _, err := command.New("x", provider.Host{}, command.Commands{Verify: []string{"true"}}); err == nil || !strings.Contains(err.Error(), "probe command") {
		t.Errorf("no revoke and no probe: %v", err)
	}
}

// TestHost runs commands on the host: values on stdin, nothing in the environment but what is given,
// and an external credential (no revoke) reported as revoke-by-hand.
func TestHost(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "valid")
	sh := func(script string) []string { return []string{"/bin/sh", "-c", script, "cmd"} }
	h := provider.Host{Env: []string{"PATH=/usr/bin:/bin", "STATE=" + state}}
	p, err := command.New("api", h, command.Commands{
		Check:  sh(`IFS= read -r v; grep -qxF -- "$v" "$STATE"`),
		Verify: sh(`IFS= read -r v; grep -qxF -- "$v" "$STATE"`),
		Probe:  sh(`IFS= read -r v; if [ -n "$LEAK" ]; then exit 9; fi; grep -qxF -- "$v" "$STATE" || exit 1`),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	write := func(lines ...string) {
		if err := os.WriteFile(state, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("old key")
	if err := p.Check(ctx, "old key"); err != nil {
		t.Fatalf("check: %v", err)
	}
	if _, err := p.Stage(ctx, "old key", "new key"); err == nil || !strings.Contains(err.Error(), "create the new credential at the provider first") {
		t.Errorf("stage before the key exists: %v", err)
	}
	write("old key", "new key")
	if _, err := p.Stage(ctx, "old key", "new key"); err != nil {
		t.Errorf("stage: %v", err)
	}
	if err := p.Revoke(ctx, "new key"); !errors.Is(err, reconcile.ErrRevokeByHand) {
		t.Errorf("revoke without a command: %v, want ErrRevokeByHand", err)
	}
	var pr reconcile.Prober = p
	if ok, err := pr.Accepts(ctx, "old key"); !ok || err != nil {
		t.Errorf("probe of a live key: %v, %v", ok, err)
	}
	write("new key")
	if ok, err := pr.Accepts(ctx, "old key"); ok || err != nil {
		t.Errorf("probe of a revoked key: %v, %v", ok, err)
	}
	if _, err := p.Stage(ctx, "old key", "a\nb"); err == nil || !strings.Contains(err.Error(), "line break") {
		t.Errorf("a value with a newline: %v", err)
	}
}
