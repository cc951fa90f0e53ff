package smtp_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/internal/testenv"
	"github.com/rekeyhq/rekey/provider"
	"github.com/rekeyhq/rekey/provider/providertest"
	"github.com/rekeyhq/rekey/provider/smtp"
	"github.com/rekeyhq/rekey/reconcile"
)

const image = "rekey-demo/smtp:dev"

// relay is the compose stack of testdata/relay: the smtp service (TLS) and the plain one (no TLS, AUTH
// LOGIN only), sharing one keys file.
type relay struct {
	st                       *testenv.Stack
	ca                       string // the PEM file of the CA that signed the relay's certificate
	port, tlsPort, plainPort int
	keys                     string // the keys file, user:password per line

	mu      sync.Mutex
	created []string // every value the test made valid, to look for in the logs
}

func start(t *testing.T) *relay {
	testenv.RequireImages(t, image)
	st := testenv.NewStack(t, filepath.Join("testdata", "relay"))
	ports := freePorts(t, 3)
	for i, k := range []string{"SMTP_PORT", "SMTPS_PORT", "PLAIN_PORT"} {
		setEnv(t, filepath.Join(st.Dir, ".env"), k, strconv.Itoa(ports[i]))
	}
	r := &relay{st: st, port: ports[0], tlsPort: ports[1], plainPort: ports[2], keys: filepath.Join(st.Dir, "keys", "keys")}
	r.ca = testenv.WriteTLS(t, filepath.Join(st.Dir, "tls"), t.TempDir())
	st.Up(t)
	return r
}

func (r *relay) addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// edit rewrites the keys file through a rename, as an atomic change the relay sees at its next AUTH.
func (r *relay) edit(t *testing.T, change func(lines []string) []string) {
	t.Helper()
	b, err := os.ReadFile(r.keys)
	if err != nil {
		t.Fatal(err)
	}
	lines := change(strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"))
	tmp := r.keys + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, r.keys); err != nil {
		t.Fatal(err)
	}
}

// create adds a key for user, as the operator does at the provider.
func (r *relay) create(t *testing.T, user, value string) {
	r.mu.Lock()
	r.created = append(r.created, value)
	r.mu.Unlock()
	r.edit(t, func(lines []string) []string { return append(lines, user+":"+value) })
}

// revoke removes a key of user.
func (r *relay) revoke(t *testing.T, user, value string) {
	r.edit(t, func(lines []string) []string {
		return slices.DeleteFunc(lines, func(l string) bool { return l == user+":"+value })
	})
}

// reset leaves value as the one key of user.
func (r *relay) reset(t *testing.T, user, value string) {
	r.edit(t, func(lines []string) []string {
		lines = slices.DeleteFunc(lines, func(l string) bool { return strings.HasPrefix(l, user+":") })
		return append(lines, user+":"+value)
	})
}

// logs returns the output of a service's container.
func (r *relay) logs(ctx context.Context, service string) (string, error) {
	out, err := exec.CommandContext(ctx, "docker", "compose", "-p", r.st.Name, "--project-directory", r.st.Dir,
		"logs", "--no-color", "--no-log-prefix", service).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("docker compose logs %s: %w: %s", service, err, out)
	}
	return string(out), nil
}

// authFailures counts the relay's own "auth failed" lines.
func (r *relay) authFailures(service string) func(context.Context) (int, error) {
	return func(ctx context.Context) (int, error) {
		out, err := r.logs(ctx, service)
		if err != nil {
			return 0, err
		}
		return strings.Count(out, "auth failed for user "), nil
	}
}

// noValueInLogs fails the test when the relay printed a key.
func (r *relay) noValueInLogs(t *testing.T) {
	t.Helper()
	for _, svc := range []string{"smtp", "plain"} {
		out, err := r.logs(context.Background(), svc)
		if err != nil {
			t.Fatal(err)
		}
		r.mu.Lock()
		for _, v := range append([]string{"initial-app-key", "initial-legacy-key"}, r.created...) {
			if strings.Contains(out, v) {
				t.Errorf("the %s relay printed a key", svc)
			}
		}
		r.mu.Unlock()
	}
}

func TestRelay(t *testing.T) {
	r := start(t)
	modes := []struct {
		name string
		opts []smtp.Option
	}{
		{"starttls", []smtp.Option{smtp.WithAddr(r.addr(r.port))}},
		{"implicit-tls", []smtp.Option{smtp.WithAddr(r.addr(r.tlsPort)), smtp.WithTLS(smtp.ImplicitTLS), smtp.WithServerName("localhost")}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r.reset(t, "app", "initial-app-key")
			opts := append([]smtp.Option{smtp.WithUser("app"), smtp.WithCAFile(r.ca)}, m.opts...)
			providertest.RunExternal(t, providertest.ExternalHarness{
				Provider:     func() provider.Provider { return smtp.New("mail", opts...) },
				Initial:      "initial-app-key",
				Create:       func(t *testing.T, v string) { r.create(t, "app", v) },
				Revoke:       func(t *testing.T, v string) { r.revoke(t, "app", v) },
				AuthFailures: r.authFailures("smtp"),
			})
		})
	}
	r.reset(t, "app", "initial-app-key")

	misconfigured(t, r)

	t.Run("none on loopback, AUTH LOGIN", func(t *testing.T) {
		p := smtp.New("mail", smtp.WithAddr(r.addr(r.plainPort)), smtp.WithUser("legacy"), smtp.WithTLS(smtp.NoTLS))
		ctx := context.Background()
		count := r.authFailures("plain")
		before, err := count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Check(ctx, "initial-legacy-key"); err != nil {
			t.Fatal(err)
		}
		if err := p.Check(ctx, "wrong-legacy-key"); !errors.Is(err, provider.ErrRejected) {
			t.Errorf("Check with a wrong key: want provider.ErrRejected, got %v", err)
		}
		if ok, err := p.Accepts(ctx, "wrong-legacy-key"); ok || err != nil {
			t.Errorf("Accepts(wrong) = %v, %v; want false, nil", ok, err)
		}
		if ok, err := p.Accepts(ctx, "initial-legacy-key"); !ok || err != nil {
			t.Errorf("Accepts(current) = %v, %v; want true, nil", ok, err)
		}
		time.Sleep(200 * time.Millisecond) // let the log catch up
		if after, err := count(ctx); err != nil || after-before != 2 {
			t.Errorf("the relay recorded %d authentication failures (%v), want 2", after-before, err)
		}
		out, err := r.logs(ctx, "plain")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "auth ok for user 'legacy' (LOGIN)") {
			t.Errorf("the plain relay logged no AUTH LOGIN:\n%s", out)
		}
	})

	t.Run("no mail sent, no value in the logs", func(t *testing.T) {
		for _, svc := range []string{"smtp", "plain"} {
			out, err := r.logs(context.Background(), svc)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(out, "discarded") {
				t.Errorf("the driver sent mail through %s", svc)
			}
		}
		r.noValueInLogs(t)
	})

	t.Run("server down", func(t *testing.T) {
		r.st.Compose(t, "stop", "smtp")
		for _, port := range []int{r.port, r.tlsPort} {
			p := smtp.New("mail", smtp.WithAddr(r.addr(port)), smtp.WithUser("app"), smtp.WithCAFile(r.ca))
			err := p.Check(context.Background(), "initial-app-key")
			if !errors.Is(err, provider.ErrUnreachable) {
				t.Errorf("Check with the relay down: want provider.ErrUnreachable, got %v", err)
			} else {
				t.Logf("%v", err)
			}
			if ok, err := p.Accepts(context.Background(), "initial-app-key"); ok || !errors.Is(err, provider.ErrUnreachable) {
				t.Errorf("Accepts with the relay down = %v, %v; want an error wrapping provider.ErrUnreachable", ok, err)
			}
		}
	})
}

// misconfigured: misconfigurations fail Check before any AUTH, and the relay records no failure.
func misconfigured(t *testing.T, r *relay) {
	bad := []struct {
		name string
		opts []smtp.Option
		want string // in the error
	}{
		{"wrong CA, starttls", []smtp.Option{smtp.WithAddr(r.addr(r.port)), smtp.WithCAFile(testenv.OtherCA(t))}, "certificate"},
		{"wrong CA, implicit tls", []smtp.Option{smtp.WithAddr(r.addr(r.tlsPort)), smtp.WithTLS(smtp.ImplicitTLS), smtp.WithCAFile(testenv.OtherCA(t))}, "certificate"},
		{"system roots", []smtp.Option{smtp.WithAddr(r.addr(r.port))}, "certificate"},
		{"name not in the certificate", []smtp.Option{smtp.WithAddr(r.addr(r.port)), smtp.WithCAFile(r.ca), smtp.WithServerName("smtp.example.com")}, "certificate"},
		{"implicit tls on the STARTTLS port", []smtp.Option{smtp.WithAddr(r.addr(r.port)), smtp.WithTLS(smtp.ImplicitTLS), smtp.WithCAFile(r.ca)}, "set tls to starttls"},
		{"starttls on the implicit-TLS port", []smtp.Option{smtp.WithAddr(r.addr(r.tlsPort)), smtp.WithCAFile(r.ca), smtp.WithTimeout(time.Second)}, "set tls to tls"},
		{"starttls on a relay without it", []smtp.Option{smtp.WithAddr(r.addr(r.plainPort))}, "does not offer STARTTLS"},
		{"none on a relay that wants TLS first", []smtp.Option{smtp.WithAddr(r.addr(r.port)), smtp.WithTLS(smtp.NoTLS)}, "wants TLS first"},
		{"none on a non-loopback address", []smtp.Option{smtp.WithAddr("smtp.example.com:587"), smtp.WithTLS(smtp.NoTLS)}, "loopback"},
		{"missing CA file", []smtp.Option{smtp.WithAddr(r.addr(r.port)), smtp.WithCAFile(filepath.Join(t.TempDir(), "nope.pem"))}, "CA file"},
	}
	t.Run("misconfigured", func(t *testing.T) {
		count := r.authFailures("smtp")
		before, err := count(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bad {
			t.Run(b.name, func(t *testing.T) {
				p := smtp.New("mail", append([]smtp.Option{smtp.WithUser("app")}, b.opts...)...)
				err := p.Check(context.Background(), "initial-app-key")
				if err == nil {
					t.Fatal("Check passed")
				}
				t.Logf("%v", err)
				if !strings.Contains(err.Error(), b.want) {
					t.Errorf("the error does not say %q", b.want)
				}
				if errors.Is(err, provider.ErrRejected) {
					t.Error("a configuration error wraps provider.ErrRejected: rekey would take the key for revoked")
				}
				if strings.Contains(err.Error(), "initial-app-key") {
					t.Error("the error carries the key")
				}
				if ok, err := p.Accepts(context.Background(), "initial-app-key"); ok || err == nil {
					t.Errorf("Accepts = %v, %v; want an error", ok, err)
				}
			})
		}
		if after, err := count(context.Background()); err != nil || after != before {
			t.Errorf("the relay recorded %d authentication failures (%v), want none", after-before, err)
		}
	})
}

// TestOffline covers what needs no relay: configuration errors, Revoke's message, and deadlines.
func TestOffline(t *testing.T) {
	ctx := context.Background()
	for name, c := range map[string]struct {
		opts []smtp.Option
		want string
	}{
		"no address":   {[]smtp.Option{smtp.WithUser("app")}, "no relay address"},
		"no port":      {[]smtp.Option{smtp.WithUser("app"), smtp.WithAddr("smtp.example.com")}, "not host:port"},
		"no user":      {[]smtp.Option{smtp.WithAddr("127.0.0.1:1")}, "no SMTP user"},
		"unknown mode": {[]smtp.Option{smtp.WithUser("app"), smtp.WithAddr("127.0.0.1:1"), smtp.WithTLS("ssl")}, "unknown tls mode"},
		"none on a public address": {
			[]smtp.Option{smtp.WithUser("app"), smtp.WithAddr("192.0.2.1:587"), smtp.WithTLS(smtp.NoTLS)}, "clear text",
		},
	} {
		t.Run(name, func(t *testing.T) {
			err := smtp.New("mail", c.opts...).Check(ctx, "secret-value")
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "smtp mail: ") {
				t.Fatalf("want an error saying %q, got %v", c.want, err)
			}
			if errors.Is(err, provider.ErrUnreachable) || errors.Is(err, provider.ErrRejected) {
				t.Errorf("a configuration error wraps a server condition: %v", err)
			}
			t.Log(err)
		})
	}

	t.Run("revoke by hand", func(t *testing.T) {
		err := smtp.New("mail", smtp.WithAddr("smtp.example.com:587"), smtp.WithUser("apikey")).Revoke(ctx, "secret-value")
		if !errors.Is(err, reconcile.ErrRevokeByHand) {
			t.Fatalf("want reconcile.ErrRevokeByHand, got %v", err)
		}
		for _, want := range []string{"smtp.example.com:587", "apikey", "dashboard"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Revoke's error does not name %q: %v", want, err)
			}
		}
		if strings.Contains(err.Error(), "secret-value") {
			t.Error("Revoke's error carries the value")
		}
	})

	// A relay that accepts the connection and never greets: the deadline ends the session.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	for name, c := range map[string]struct {
		ctx  func() (context.Context, context.CancelFunc)
		opts []smtp.Option
	}{
		"ctx deadline": {func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 300*time.Millisecond) }, nil},
		"timeout":      {func() (context.Context, context.CancelFunc) { return ctx, func() {} }, []smtp.Option{smtp.WithTimeout(300 * time.Millisecond)}},
		"cancel": {func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(ctx)
			time.AfterFunc(300*time.Millisecond, cancel)
			return ctx, cancel
		}, nil},
	} {
		t.Run("silent relay, "+name, func(t *testing.T) {
			ctx, cancel := c.ctx()
			defer cancel()
			p := smtp.New("mail", append([]smtp.Option{smtp.WithAddr(l.Addr().String()), smtp.WithUser("app")}, c.opts...)...)
			start := time.Now()
			err := p.Check(ctx, "secret-value")
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("Check took %v", took)
			}
			if !errors.Is(err, provider.ErrUnreachable) {
				t.Fatalf("want provider.ErrUnreachable, got %v", err)
			}
			t.Log(err)
		})
	}
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// setEnv sets key=value in the stack's .env, replacing the template's placeholder.
func setEnv(t *testing.T, file, key, value string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	lines = slices.DeleteFunc(lines, func(l string) bool { return strings.HasPrefix(l, key+"=") })
	lines = append(lines, key+"="+value)
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}
