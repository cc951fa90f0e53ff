package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// B7, Swarm: on a single-node swarm (the host engine, `docker swarm init --advertise-addr 127.0.0.1`,
// left again at the end), two copies of a two-service stack (b7StackFile: app with 2 replicas behind a
// Caddy proxy whose port is published, admin with 1; both mount the file secret webhook_token) run side
// by side for the whole benchmark. Each run rotates the secret once on each copy, in alternating order:
//   - rekey: a new value is committed to the desired-state repository (not timed), then `rekey apply`
//     through the CLI (a direct apply, no agent); the clock runs from the apply's start until the old
//     secret object is gone (rekey removes it after both services verified the new one);
//   - hand: Docker's documented procedure, as fast as a script does it: `docker secret create` of the new
//     object (value on stdin), `docker service update --secret-rm OLD --secret-add source=NEW,target=T`
//     for app then admin (the CLI waits for each update to converge), `docker secret rm OLD`; the clock
//     runs from the create until the rm returned. No stack file is edited (a later `docker stack deploy`
//     would put the old object back), nothing is verified or rolled back.
// Throughout each rotation (from 1 s before to 2 s after) proxyLoad drives the app through the proxy on
// loopback; counted: failed requests, the slowest request. After each rotation every task of
// both services is asked (inside its container) which value it runs.

const b7Before, b7After = time.Second, 2 * time.Second

type b7Run struct {
	took  time.Duration
	load  proxyResult
	steps string // the hand side's steps, or rekey's
}

func runB7(root, bin string, runs int) error {
	base, err := os.MkdirTemp("", "rekey-bench-b7-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(base)
	leave, err := joinSwarm()
	if err != nil {
		return fmt.Errorf("swarm: %w", err)
	}
	var stacks []*swarmStack
	var once sync.Once
	cleanup := func() {
		once.Do(func() {
			for _, s := range stacks {
				s.remove()
			}
			leave()
		})
	}
	defer cleanup()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() { // an interrupted benchmark leaves the swarm too
		<-sigs
		cleanup()
		os.Exit(130)
	}()

	suffix := randHex(3)
	rk, err := deploySwarmStack(base, "b7r"+suffix)
	if rk != nil {
		stacks = append(stacks, rk)
	}
	if err != nil {
		return err
	}
	hd, err := deploySwarmStack(base, "b7h"+suffix)
	if hd != nil {
		stacks = append(stacks, hd)
	}
	if err != nil {
		return err
	}
	for _, s := range stacks {
		if err := waitProxy(s.port, time.Minute); err != nil {
			return err
		}
	}
	repo, err := newB7Repo(base, rk)
	if err != nil {
		return err
	}
	if out, err := run(root, bin, append([]string{"apply", "--quiet"}, repo.flags()...)...); err != nil {
		return fmt.Errorf("first apply: %w\n%s", err, out)
	}
	results := map[string][]b7Run{}
	for i := 0; i < runs; i++ {
		for _, side := range alternate(i, []string{"rekey", "hand"}) {
			var r b7Run
			if side == "rekey" {
				r, err = rotateRekey(root, bin, rk, repo)
			} else {
				r, err = rotateHand(hd, i)
			}
			if err != nil {
				return fmt.Errorf("run %d, %s: %w", i+1, side, err)
			}
			results[side] = append(results[side], r)
			fmt.Printf("run %d  %-5s %7s  failed %d of %d, slowest %s, on the new value %d  %s%s\n", i+1, side,
				r.took.Round(10*time.Millisecond), r.load.failed, r.load.requests, r.load.slowest.Round(time.Millisecond),
				r.load.onNew, r.steps, reasons(r.load.errs))
		}
	}
	reportB7(results)
	return nil
}

// rotateRekey commits a new value and runs `rekey apply`; done when the old object is gone.
func rotateRekey(root, bin string, s *swarmStack, repo *b7Repo) (b7Run, error) {
	old, next := s.current, "b7-rekey-"+randHex(16)
	if err := repo.commit(next); err != nil {
		return b7Run{}, err
	}
	load := startProxyLoad(s.port, next)
	time.Sleep(b7Before)
	start := time.Now()
	out, err := run(root, bin, append([]string{"apply", "--quiet"}, repo.flags()...)...)
	applied := time.Since(start)
	for err == nil && objectExists(old) {
		if time.Since(start) > 3*time.Minute {
			err = fmt.Errorf("the old object %s is still there 3 minutes after the apply started", old)
		}
		time.Sleep(100 * time.Millisecond)
	}
	took := time.Since(start)
	time.Sleep(b7After)
	res := load.stop()
	if err != nil {
		return b7Run{}, fmt.Errorf("%w\n%s", err, out)
	}
	if s.current, err = s.currentObject(); err != nil {
		return b7Run{}, err
	}
	s.value = next
	steps := fmt.Sprintf("(apply %s)", applied.Round(10*time.Millisecond))
	return b7Run{took: took, load: res, steps: steps}, s.waitValue(next, 30*time.Second)
}

// rotateHand is Docker's procedure for rotating a secret, one service update per consumer.
func rotateHand(s *swarmStack, i int) (b7Run, error) {
	old, next := s.current, "b7-hand-"+randHex(16)
	name := fmt.Sprintf("%s_webhook_token_h%d", s.name, i+1)
	load := startProxyLoad(s.port, next)
	time.Sleep(b7Before)
	start := time.Now()
	var steps []string
	step := func(what string, stdin string, args ...string) error {
		t := time.Now()
		cmd := exec.Command("docker", args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
		cmd.Stdin = strings.NewReader(stdin)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("docker %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		steps = append(steps, fmt.Sprintf("%s %s", what, time.Since(t).Round(10*time.Millisecond)))
		return nil
	}
	err := step("create", next, "secret", "create", name, "-")
	for _, svc := range []string{"app", "admin"} { // admin depends on app
		if err == nil {
			err = step("update "+svc, "", "service", "update", "--quiet", "--no-resolve-image", "--secret-rm", old,
				"--secret-add", "source="+name+",target="+b7Targets[svc], s.name+"_"+svc)
		}
	}
	if err == nil {
		err = step("rm", "", "secret", "rm", old)
	}
	took := time.Since(start)
	time.Sleep(b7After)
	res := load.stop()
	if err != nil {
		return b7Run{}, err
	}
	s.current, s.value = name, next
	return b7Run{took: took, load: res, steps: "(" + strings.Join(steps, ", ") + ")"}, s.waitValue(next, 30*time.Second)
}

// waitProxy waits until the app answers through the proxy on loopback.
func waitProxy(port int, within time.Duration) error {
	deadline := time.Now().Add(within)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the app does not answer through the proxy on 127.0.0.1:%d: %v", port, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func reasons(errs map[string]int) string {
	if len(errs) == 0 {
		return ""
	}
	var parts []string
	for r, n := range errs {
		parts = append(parts, fmt.Sprintf("%d× %s", n, r))
	}
	sort.Strings(parts)
	return "  failures: " + strings.Join(parts, "; ")
}

func reportB7(results map[string][]b7Run) {
	fmt.Println()
	fmt.Println("B7 Swarm: commit → old secret object removed, two services (2 + 1 tasks), load through the proxy")
	for _, side := range []string{"rekey", "hand"} {
		var took, slowest []time.Duration
		var failed, requests []int64
		for _, r := range results[side] {
			took, slowest = append(took, r.took), append(slowest, r.load.slowest)
			failed, requests = append(failed, r.load.failed), append(requests, r.load.requests)
		}
		label := map[string]string{"rekey": "rekey (rekey apply → old object removed)",
			"hand": "hand (secret create, 2× service update, secret rm)"}[side]
		report(label, took)
		fm, flo, fhi := summary(failed)
		rm, rlo, rhi := summary(requests)
		fmt.Printf("  %-62s failed median %d (%d–%d) of median %d (%d–%d) requests; slowest request median %s\n",
			"", fm, flo, fhi, rm, rlo, rhi, round(median(slowest)))
	}
	ratio("rekey / hand", median(durations(results["rekey"])), median(durations(results["hand"])))
}

func durations(rs []b7Run) []time.Duration {
	out := make([]time.Duration, len(rs))
	for i, r := range rs {
		out[i] = r.took
	}
	return out
}
