package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// B2 through the reverse proxy (issue #15): the demo stack with its Redis in the aclfile layout
// (examples/demo/redis-aclfile), Caddy in front of the app (the only published port), the load generator of
// B2 driving /count through Caddy. Three rotations one after the other (the session key: app-key, two rolls
// of app and worker; the PostgreSQL password; the Redis password), made four ways:
//   - start-first: rekey apply, rekey's own choice for the app (no published port, container_name or
//     exclusive volume);
//   - stop-first: rekey apply with `services: {app: {strategy: stop-first}}` in rekey.yaml;
//   - compose and rollout: by hand, without rekey (b2phand.go): `docker compose up -d`, and the
//     docker-rollout procedure.
// One stack per method, brought up once and reused by every run of that method (paused while the others
// run); the order of the methods alternates between runs. Counted per rotation: failed requests (errors and
// non-200, the load generator's own count), requests held 200 ms or more, the slowest request, the failed
// logins PostgreSQL logged and those Redis's ACL LOG holds.

var b2pMethods = []string{"start-first", "stop-first", "compose", "rollout"}

// b2pRotation is one secret rotated under load: its label and its name in the demo repo.
type b2pRotation struct{ label, secret string }

var b2pRotations = []b2pRotation{{"app key", "session-key"}, {"PostgreSQL password", "db-password"}, {"Redis password", "redis-password"}}

// b2pHeld is the time from which a served request counts as held (a proxy retry hid a gap).
const b2pHeld = 200 * time.Millisecond

// b2pResult is one rotation under load. In b2Result, authFailedServer is PostgreSQL's count of failed
// logins and authFailedClient Redis's.
type b2pResult struct {
	b2Result
	held       int64
	events     []b2Event
	start, end time.Duration // the change, since the load started
}

// b2pStack is one method's stack, with rekey's flags (nil for the procedures by hand).
type b2pStack struct {
	s     *stack
	flags []string
	obs   *observer
}

func runB2Proxy(root, bin string, runs int) error {
	boot := *b2pBoot // the flag is declared in b2pboot.go
	if boot < 0 || boot > 5*time.Minute {
		return fmt.Errorf("-b2p-boot %s: want 0 to 5m (the demo app's bounds)", boot)
	}
	if boot > 0 {
		if err := buildB2pBootImage(root); err != nil {
			return err
		}
		defer run(root, "docker", "rmi", b2pBootImage)
		fmt.Printf("the app boots in %s in every stack: DEMOAPP_BOOT_DELAY=%s, image %s built from the working tree\n", boot, boot, b2pBootImage)
	}
	stacks := map[string]*b2pStack{}
	defer func() {
		for _, st := range stacks {
			st.s.down()
		}
	}()
	for _, m := range b2pMethods {
		st, err := b2pSetup(root, bin, m, boot)
		if st != nil {
			stacks[m] = st
		}
		if err == nil {
			err = st.s.pause()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
	}
	began := time.Now()
	results := map[string][]b2pResult{} // method + "/" + rotation label
	for i := 0; i < runs; i++ {
		for _, m := range alternate(i, b2pMethods) {
			if err := b2pRun(root, bin, i, m, stacks[m], boot, results); err != nil {
				return fmt.Errorf("run %d, %s: %w", i+1, m, err)
			}
		}
	}
	b2pReport(runs, boot, results)
	fmt.Printf("\nthe runs took %s (after bringing up the four stacks)\n", round(time.Since(began)))
	loadAverage()
	var panels []b2pPanel
	for _, rot := range b2pRotations {
		for _, m := range b2pMethods {
			rs := results[m+"/"+rot.label]
			panels = append(panels, b2pPanel{title: rot.label + " — " + m, res: rs[len(rs)-1]})
		}
	}
	svg := filepath.Join(root, "docs", "b2-proxy.svg")
	caption := fmt.Sprintf("B2 through the proxy: %d clients through Caddy, run %d of %d (go run ./bench -only b2p)", b2Load, runs, runs)
	if boot > 0 {
		svg = filepath.Join(root, "docs", "b2-proxy-boot.svg")
		caption = fmt.Sprintf("B2 through the proxy, the app booting in %s: %d clients through Caddy, run %d of %d (go run ./bench -only b2p -b2p-boot %s)", boot, b2Load, runs, runs, boot)
	}
	if err := writeB2PlotSVG(svg, caption, len(b2pRotations), len(b2pMethods), panels); err != nil {
		return err
	}
	fmt.Printf("\nplot of run %d: %s\n", runs, svg)
	return nil
}

// b2pSetup brings up method's stack: for rekey, with the demo's desired state applied once (and the app
// declared stop-first for stop-first); for the procedures by hand, the stack alone. The app boots in boot.
func b2pSetup(root, bin, method string, boot time.Duration) (*b2pStack, error) {
	s, err := newOverlayStack(root, b2pOverlay, boot)
	if s == nil || err != nil {
		return &b2pStack{s: s}, err
	}
	if boot > 0 {
		if err := checkBooting(s, boot); err != nil {
			return &b2pStack{s: s}, err
		}
	}
	st := &b2pStack{s: s, obs: &observer{s: s}}
	if method == "start-first" || method == "stop-first" {
		if st.flags, err = s.applied(root, bin); err != nil {
			return st, err
		}
	}
	if method == "stop-first" {
		if err := stopFirstApp(st.flags[1]); err != nil {
			return st, err
		}
	}
	pw, err := dotenv(s.dir, "REDIS_PASSWORD")
	if err != nil {
		return st, err
	}
	return st, st.obs.create(pw)
}

// b2pRun is one run of method: its stack resumed, the three rotations, the stack paused again. With a boot
// delay, the app container the rotations leave must have booted with it too.
func b2pRun(root, bin string, i int, method string, st *b2pStack, boot time.Duration, results map[string][]b2pResult) error {
	if err := st.s.resume(); err != nil {
		return err
	}
	for _, rot := range b2pRotations {
		r, err := b2pRotate(root, bin, st, method, rot)
		if err != nil {
			return fmt.Errorf("%s: %w", rot.label, err)
		}
		fmt.Printf("run %d  %-11s %-19s %5d requests  %3d failed  %3d held  slowest %-6s  failed logins: PostgreSQL %d, Redis %d  change took %s\n",
			i+1, method, rot.label, r.requests, r.failed, r.held, round(r.slowest), r.authFailedServer, r.authFailedClient, round(r.took))
		results[method+"/"+rot.label] = append(results[method+"/"+rot.label], r)
	}
	if boot > 0 {
		if err := checkBooting(st.s, boot); err != nil {
			return err
		}
	}
	return st.s.pause()
}

// b2pReport prints the table of docs/benchmarks.md: median (min–max) over the runs.
func b2pReport(runs int, boot time.Duration, results map[string][]b2pResult) {
	fmt.Printf("\nB2 through the proxy (%d clients through Caddy, app boot %s), median (min–max) over %d runs\n\n", b2Load, boot, runs)
	fmt.Println("| rotation | method | failed requests | failed logins PostgreSQL / Redis | held ≥ 200 ms | slowest request | change took |")
	fmt.Println("|---|---|---|---|---|---|---|")
	span := func(xs []int64) string {
		m, lo, hi := summary(xs)
		return fmt.Sprintf("%d (%d–%d)", m, lo, hi)
	}
	for _, rot := range b2pRotations {
		for _, m := range b2pMethods {
			var failed, pg, redis, held, slowest, took []int64
			for _, r := range results[m+"/"+rot.label] {
				failed, pg, redis = append(failed, r.failed), append(pg, r.authFailedServer), append(redis, r.authFailedClient)
				held, slowest, took = append(held, r.held), append(slowest, int64(r.slowest)), append(took, int64(r.took))
			}
			fmt.Printf("| %s | %s | %s | %s / %s | %s | %s | %s |\n", rot.label, m, span(failed), span(pg), span(redis), span(held),
				round(time.Duration(median(slowest))), round(time.Duration(median(took))))
		}
	}
}

// stopFirstApp declares strategy stop-first for the app in the repo's rekey.yaml and commits it.
func stopFirstApp(repo string) error {
	f, err := os.OpenFile(filepath.Join(repo, "rekey.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString("\nservices:\n  app:\n    strategy: stop-first\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	_, err = run(repo, "git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "commit", "-qam", "app stop-first")
	return err
}

// b2pRotate changes rot's secret under load, by rekey apply or by hand: 1 s of load before, 2 s after.
func b2pRotate(root, bin string, st *b2pStack, method string, rot b2pRotation) (b2pResult, error) {
	s, next := st.s, "b2p-"+randHex(16)
	pgBase, err := s.pgAuthFailures()
	if err != nil {
		return b2pResult{}, err
	}
	after, err := dotenv(s.dir, "REDIS_PASSWORD")
	if err != nil {
		return b2pResult{}, err
	}
	if rot.secret == "redis-password" {
		after = next
	}
	_, redisBase, err := st.obs.failures() // ACL LOG keeps the earlier rotations' entries
	if err != nil {
		return b2pResult{}, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopObs := st.obs.watch(ctx, after)
	load := startLoad(ctx, s.port)
	time.Sleep(time.Second)
	start := time.Now()
	if st.flags != nil {
		err = rekeySecret(root, bin, st.flags, rot.secret, next)
	} else {
		err = handRotate(s, rot, next, method)
	}
	end := time.Now()
	if err != nil {
		return b2pResult{}, err
	}
	time.Sleep(2 * time.Second)
	r := b2pResult{b2Result: load.stop(), events: load.events, start: start.Sub(load.t0), end: end.Sub(load.t0)}
	r.took = end.Sub(start)
	for _, e := range r.events {
		if !e.failed && e.took >= b2pHeld {
			r.held++
		}
	}
	r.authFailedClient = stopObs() - redisBase // Redis's own count
	pg, err := s.pgAuthFailures()
	if err != nil {
		return r, err
	}
	r.authFailedServer = pg - pgBase
	if r.requests < 10 {
		return r, fmt.Errorf("the load generator made only %d requests", r.requests)
	}
	return r, nil
}
