package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rekeyhq/rekey/internal/testenv"
)

// B2, interruption under load: the demo's Redis password, then its PostgreSQL password, changed three ways,
// each on a fresh demo stack, while a load generator drives the app, every request of which increments a
// counter in Redis and one in PostgreSQL (pools of long-lived connections, and a fresh connection every
// fifth call):
//   - rekey: commit the new value and run rekey apply (dual window: the server accepts both passwords until
//     the app verified the new one; Redis itself is recreated last, on its new environment);
//   - naive: the hard swap by hand: change the password on the live server (CONFIG SET requirepass,
//     ALTER ROLE), edit .env, compose up -d;
//   - restart: no secret change, the same services recreated in the same order (redis: app then redis;
//     postgres: app): the floor any rotation that recreates them pays.
// Counted: failed requests, the failures the app reports as rejected logins, and the failed logins the
// server itself records (Redis: ACL LOG, polled by an observer user, summed over the server processes;
// PostgreSQL: "password authentication failed" in its log).

const b2Load = 4 // concurrent clients

type b2Result struct {
	requests, failed, authFailedClient, authFailedServer int64
	took, slowest                                        time.Duration
}

func runB2(root, bin string, runs int) error {
	for _, server := range []string{"redis", "postgres"} {
		if err := runB2For(root, bin, runs, server); err != nil {
			return fmt.Errorf("%s: %w", server, err)
		}
	}
	return nil
}

func runB2For(root, bin string, runs int, server string) error {
	scenarios := []string{"rekey", "naive", "restart"}
	results := map[string][]b2Result{}
	for i := 0; i < runs; i++ {
		for _, sc := range alternate(i, scenarios) {
			measure := measureB2
			if server == "postgres" {
				measure = measureB2Postgres
			}
			r, err := measure(root, bin, sc)
			if err != nil {
				return fmt.Errorf("%s: %w", sc, err)
			}
			fmt.Printf("run %d  %-8s %-8s %6d requests  %4d failed  %4d auth failures (clients)  %4d auth failures (%s)  change took %s\n",
				i+1, server, sc, r.requests, r.failed, r.authFailedClient, r.authFailedServer, server, r.took.Round(10*time.Millisecond))
			results[sc] = append(results[sc], r)
		}
	}
	fmt.Println()
	fmt.Printf("B2 interruption under load (%d clients, %s password change)\n", b2Load, server)
	for _, sc := range scenarios {
		var failed, authC, authS []int64
		var took []time.Duration
		for _, r := range results[sc] {
			failed, authC, authS = append(failed, r.failed), append(authC, r.authFailedClient), append(authS, r.authFailedServer)
			took = append(took, r.took)
		}
		fm, fl, fh := summary(failed)
		am, al, ah := summary(authS)
		cm, cl, ch := summary(authC)
		fmt.Printf("  %-8s failed requests median %d (min %d, max %d); auth failures %s median %d (%d–%d), clients median %d (%d–%d); change took median %s\n",
			sc, fm, fl, fh, server, am, al, ah, cm, cl, ch, round(median(took)))
	}
	return nil
}

// appliedStack brings up a fresh demo stack with its desired state applied once; the caller takes it down.
func appliedStack(root, bin string) (*stack, []string, error) {
	s, err := newStack(root)
	if err != nil {
		return s, nil, err
	}
	flags, err := s.applied(root, bin)
	return s, flags, err
}

func measureB2(root, bin, scenario string) (b2Result, error) {
	s, flags, err := appliedStack(root, bin)
	if s != nil {
		defer s.down()
	}
	if err != nil {
		return b2Result{}, err
	}
	old, err := dotenv(s.dir, "REDIS_PASSWORD")
	if err != nil {
		return b2Result{}, err
	}
	next := "b2-" + randHex(12)
	after := next
	if scenario == "restart" {
		after = old
	}
	obs := &observer{s: s}
	if err := obs.create(old); err != nil {
		return b2Result{}, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopObs := obs.watch(ctx, after)
	load := startLoad(ctx, s.port)
	time.Sleep(time.Second) // steady state first
	start := time.Now()
	switch scenario {
	case "rekey":
		err = rekeyRedis(root, bin, flags, next)
	case "naive":
		err = naiveRedis(s, old, next)
	case "restart":
		if _, err = s.compose("up", "-d", "--wait", "--force-recreate", "--no-deps", "app"); err == nil {
			_, err = s.compose("up", "-d", "--wait", "--force-recreate", "--no-deps", "redis")
		}
	}
	took := time.Since(start)
	if err != nil {
		return b2Result{}, err
	}
	time.Sleep(2 * time.Second) // let the clients reconnect
	r := load.stop()
	r.authFailedServer = stopObs()
	r.took = took
	if r.requests < 10 {
		return r, fmt.Errorf("the load generator made only %d requests", r.requests)
	}
	return r, nil
}

// measureB2Postgres is measureB2 for the app's PostgreSQL password (login roles shop_a and shop_b).
func measureB2Postgres(root, bin, scenario string) (b2Result, error) {
	s, flags, err := appliedStack(root, bin)
	if s != nil {
		defer s.down()
	}
	if err != nil {
		return b2Result{}, err
	}
	next := "b2-" + randHex(12)
	base, err := s.pgAuthFailures()
	if err != nil {
		return b2Result{}, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	load := startLoad(ctx, s.port)
	time.Sleep(time.Second)
	start := time.Now()
	switch scenario {
	case "rekey":
		err = rekeySecret(root, bin, flags, "db-password", next)
	case "naive":
		err = naivePostgres(s, next)
	case "restart":
		_, err = s.compose("up", "-d", "--wait", "--force-recreate", "--no-deps", "app")
	}
	took := time.Since(start)
	if err != nil {
		return b2Result{}, err
	}
	time.Sleep(2 * time.Second)
	r := load.stop()
	n, err := s.pgAuthFailures()
	if err != nil {
		return r, err
	}
	r.authFailedServer, r.took = n-base, took
	if r.requests < 10 {
		return r, fmt.Errorf("the load generator made only %d requests", r.requests)
	}
	return r, nil
}

// naivePostgres changes shop_a's password on the live server, then the source, then recreates.
func naivePostgres(s *stack, next string) error {
	cmd := exec.Command("docker", "compose", "-p", s.name, "--project-directory", s.dir, "exec", "-T", "db",
		"psql", "-U", "postgres", "-XAtq", "-v", "ON_ERROR_STOP=1")
	// Benchmark only: the password is a throwaway value, sent as SQL on stdin.
	cmd.Stdin = strings.NewReader(fmt.Sprintf("ALTER ROLE shop_a PASSWORD '%s';\n", next))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("psql: %v: %s", err, out)
	}
	env := filepath.Join(s.dir, ".env")
	data, err := os.ReadFile(env)
	if err != nil {
		return err
	}
	data = regexp.MustCompile(`(?m)^DB_PASSWORD=.*$`).ReplaceAll(data, []byte("DB_PASSWORD="+next))
	if err := os.WriteFile(env, data, 0o600); err != nil {
		return err
	}
	_, err = s.compose("up", "-d", "--wait")
	return err
}

func (s *stack) pgAuthFailures() (int64, error) {
	out, err := s.compose("logs", "--no-color", "db")
	if err != nil {
		return 0, err
	}
	return int64(strings.Count(out, "password authentication failed")), nil
}

func rekeyRedis(root, bin string, flags []string, next string) error {
	return rekeySecret(root, bin, flags, "redis-password", next)
}

// rekeySecret commits a new value of secret and applies it.
func rekeySecret(root, bin string, flags []string, secret, next string) error {
	repo, key := flags[1], flags[5]
	set := exec.Command(bin, "values", "set", "--repo", repo, "--age-key-file", key, secret)
	set.Stdin = strings.NewReader(next)
	if out, err := set.CombinedOutput(); err != nil {
		return fmt.Errorf("values set: %v\n%s", err, out)
	}
	if _, err := run(repo, "git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "commit", "-qam", "rotate "+secret); err != nil {
		return err
	}
	_, err := run(root, bin, append([]string{"apply", "--quiet"}, flags...)...)
	return err
}

func naiveRedis(s *stack, old, next string) error {
	if _, err := s.redisCLI(fmt.Sprintf("AUTH %q\nCONFIG SET requirepass %q\n", old, next)); err != nil {
		return err
	}
	env := filepath.Join(s.dir, ".env")
	data, err := os.ReadFile(env)
	if err != nil {
		return err
	}
	data = regexp.MustCompile(`(?m)^REDIS_PASSWORD=.*$`).ReplaceAll(data, []byte("REDIS_PASSWORD="+next))
	if err := os.WriteFile(env, data, 0o600); err != nil {
		return err
	}
	_, err = s.compose("up", "-d", "--wait")
	return err
}

func dotenv(dir, key string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dir, ".env"))
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^` + key + `=(.*)$`).FindSubmatch(data)
	if m == nil {
		return "", fmt.Errorf("%s not in .env", key)
	}
	return string(m[1]), nil
}

// redisCLI runs redis-cli in the stack's redis container with commands on stdin.
func (s *stack) redisCLI(stdin string) (string, error) {
	cmd := exec.Command("docker", "compose", "-p", s.name, "--project-directory", s.dir, "exec", "-T", "redis", "redis-cli")
	cmd.Dir, cmd.Stdin = s.dir, strings.NewReader(stdin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("redis-cli: %v: %s", err, out)
	}
	return string(out), nil
}

// observer reads Redis's own count of failed logins through a user that may only read ACL LOG.
type observer struct{ s *stack }

func (o *observer) create(password string) error {
	out, err := o.s.redisCLI(fmt.Sprintf("AUTH %q\nACL SETUSER observer on >observer-pw +acl|log +info\n", password))
	if err == nil && strings.Count(out, "OK") < 2 {
		err = fmt.Errorf("creating the observer: %s", out)
	}
	return err
}

// failures returns the server process's run_id and its failed logins, the observer's own excluded.
func (o *observer) failures() (string, int64, error) {
	out, err := o.s.redisCLI("AUTH observer observer-pw\nINFO server\nACL LOG 1000\n")
	if err != nil {
		return "", 0, err
	}
	if !strings.HasPrefix(out, "OK") {
		return "", 0, errors.New("observer cannot log in")
	}
	id := regexp.MustCompile(`run_id:(\w+)`).FindStringSubmatch(out)
	if id == nil {
		return "", 0, errors.New("no run_id")
	}
	return id[1], int64(testenv.RedisAuthFailures(out, "observer")), nil
}

// watch polls every 100 ms; when the observer cannot log in (a recreated server), it is created again with
// the password the server has after the change. The returned func stops and sums the highest count of
// each server process.
func (o *observer) watch(ctx context.Context, after string) func() int64 {
	var mu sync.Mutex
	highest := map[string]int64{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			id, n, err := o.failures()
			if err != nil {
				o.create(after) // a new server: fails harmlessly while it starts
			} else {
				mu.Lock()
				highest[id] = max(highest[id], n)
				mu.Unlock()
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return func() int64 {
		id, n, err := o.failures() // a last look
		if err == nil {
			mu.Lock()
			highest[id] = max(highest[id], n)
			mu.Unlock()
		}
		mu.Lock()
		defer mu.Unlock()
		var sum int64
		for _, v := range highest {
			sum += v
		}
		return sum
	}
}

// load is the load generator: b2Load clients on loopback, each with keep-alive, one request every 20 ms.
type load struct {
	requests, failed, auth atomic.Int64
	slowest                atomic.Int64 // nanoseconds of the slowest finished request
	cancel                 context.CancelFunc
	wg                     sync.WaitGroup
	t0                     time.Time
	mu                     sync.Mutex
	events                 []b2Event // every finished request, for B2 through the proxy's plot
}

// b2Event is one finished request: when it ended (since the load started), how long it took, whether it failed.
type b2Event struct {
	end, took time.Duration
	failed    bool
}

func startLoad(parent context.Context, port int) *load {
	ctx, cancel := context.WithCancel(parent)
	l := &load{cancel: cancel, t0: time.Now()}
	url := fmt.Sprintf("http://127.0.0.1:%d/count", port)
	startClients(ctx, &l.wg, func(c *http.Client) { l.hit(ctx, c, url) })
	return l
}

// startClients starts b2Load clients on wg, each with its own keep-alive connection (3 s per request, 1 s
// to connect), calling hit every 20 ms until ctx ends: the load of B2 and B7.
func startClients(ctx context.Context, wg *sync.WaitGroup, hit func(*http.Client)) {
	for range b2Load {
		wg.Go(func() {
			client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
				DialContext: (&net.Dialer{Timeout: time.Second}).DialContext, MaxIdleConnsPerHost: 1}}
			defer client.CloseIdleConnections()
			for ctx.Err() == nil {
				hit(client)
				select {
				case <-ctx.Done():
				case <-time.After(20 * time.Millisecond):
				}
			}
		})
	}
}

func (l *load) hit(ctx context.Context, c *http.Client, url string) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	start := time.Now()
	resp, err := c.Do(req)
	if ctx.Err() != nil {
		return // stopped mid-request: not a failure
	}
	l.requests.Add(1)
	took := time.Since(start)
	for {
		if old := l.slowest.Load(); int64(took) <= old || l.slowest.CompareAndSwap(old, int64(took)) {
			break
		}
	}
	failed := err != nil
	if err == nil {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		resp.Body.Close()
		if failed = resp.StatusCode != http.StatusOK; failed && strings.Contains(string(body), "auth failed") {
			l.auth.Add(1)
		}
	}
	if failed {
		l.failed.Add(1)
	}
	l.mu.Lock()
	l.events = append(l.events, b2Event{end: time.Since(l.t0), took: took, failed: failed})
	l.mu.Unlock()
}

func (l *load) stop() b2Result {
	l.cancel()
	l.wg.Wait()
	return b2Result{requests: l.requests.Load(), failed: l.failed.Load(), authFailedClient: l.auth.Load(),
		slowest: time.Duration(l.slowest.Load())}
}
