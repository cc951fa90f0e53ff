package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// B2 through the reverse proxy (issue #15): the demo stack as it ships, Caddy in front of the app (the only
// published port), the load generator of B2 driving /count through Caddy. On one fresh stack per strategy
// and run, three rotations one after the other: the session key (app-key: two rolls of app and worker),
// the PostgreSQL password, the Redis password. The strategies:
//   - start-first: rekey's own choice for the app (no published port, container_name or exclusive volume);
//   - stop-first: the same stack with `services: {app: {strategy: stop-first}}` in rekey.yaml, the
//     baseline of the same run.
// Counted per rotation: failed requests (errors and non-200, from the load generator's own count), the
// slowest request, the failed logins PostgreSQL logged and those Redis's ACL LOG holds.

var b2pStrategies = []string{"start-first", "stop-first"}

// b2pRotation is one secret rotated under load: its name in the demo repo and the new value's prefix.
type b2pRotation struct{ label, secret string }

var b2pRotations = []b2pRotation{{"app key", "session-key"}, {"PostgreSQL password", "db-password"}, {"Redis password", "redis-password"}}

func runB2Proxy(root, bin string, runs int) error {
	results := map[string][]b2Result{} // strategy + "/" + rotation label
	for i := 0; i < runs; i++ {
		for _, strategy := range alternate(i, b2pStrategies) {
			rs, err := measureB2Proxy(root, bin, strategy)
			if err != nil {
				return fmt.Errorf("%s: %w", strategy, err)
			}
			for j, r := range rs {
				rot := b2pRotations[j]
				fmt.Printf("run %d  %-11s %-19s %5d requests  %3d failed  slowest %-6s  failed logins: PostgreSQL %d, Redis %d  apply took %s\n",
					i+1, strategy, rot.label, r.requests, r.failed, round(r.slowest), r.authFailedServer, r.authFailedClient, round(r.took))
				results[strategy+"/"+rot.label] = append(results[strategy+"/"+rot.label], r)
			}
		}
	}
	fmt.Printf("\nB2 through the proxy (%d clients through Caddy), median (min–max) over %d runs\n", b2Load, runs)
	for _, rot := range b2pRotations {
		for _, strategy := range b2pStrategies {
			var failed, pg, redis, slowest, took []int64
			for _, r := range results[strategy+"/"+rot.label] {
				failed, pg, redis = append(failed, r.failed), append(pg, r.authFailedServer), append(redis, r.authFailedClient)
				slowest, took = append(slowest, int64(r.slowest)), append(took, int64(r.took))
			}
			fm, fl, fh := summary(failed)
			pm, pl, ph := summary(pg)
			rm, rl, rh := summary(redis)
			fmt.Printf("  %-19s %-11s failed requests %d (%d–%d); failed logins PostgreSQL %d (%d–%d), Redis %d (%d–%d); slowest request %s; apply %s\n",
				rot.label, strategy, fm, fl, fh, pm, pl, ph, rm, rl, rh, round(time.Duration(median(slowest))), round(time.Duration(median(took))))
		}
	}
	return nil
}

// measureB2Proxy rotates the three secrets, one after the other, on a fresh demo stack under load through
// Caddy. In b2Result, authFailedServer is PostgreSQL's count and authFailedClient Redis's.
func measureB2Proxy(root, bin, strategy string) ([]b2Result, error) {
	s, flags, err := appliedStack(root, bin)
	if s != nil {
		defer s.down()
	}
	if err != nil {
		return nil, err
	}
	if strategy == "stop-first" {
		if err := stopFirstApp(flags[1]); err != nil {
			return nil, err
		}
	}
	redisPW, err := dotenv(s.dir, "REDIS_PASSWORD")
	if err != nil {
		return nil, err
	}
	obs := &observer{s: s}
	if err := obs.create(redisPW); err != nil {
		return nil, err
	}
	var out []b2Result
	for _, rot := range b2pRotations {
		r, err := b2pRotate(root, bin, flags, s, obs, rot)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rot.label, err)
		}
		out = append(out, r)
	}
	return out, nil
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

// b2pRotate commits a new value of rot's secret and applies it under load: 1 s of load before, 2 s after.
func b2pRotate(root, bin string, flags []string, s *stack, obs *observer, rot b2pRotation) (b2Result, error) {
	next := "b2p-" + randHex(16)
	pgBase, err := s.pgAuthFailures()
	if err != nil {
		return b2Result{}, err
	}
	after, err := dotenv(s.dir, "REDIS_PASSWORD")
	if err != nil {
		return b2Result{}, err
	}
	if rot.secret == "redis-password" {
		after = next
	}
	_, redisBase, err := obs.failures() // ACL LOG keeps the earlier rotations' entries
	if err != nil {
		return b2Result{}, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopObs := obs.watch(ctx, after)
	load := startLoad(ctx, s.port)
	time.Sleep(time.Second)
	start := time.Now()
	err = rekeySecret(root, bin, flags, rot.secret, next)
	took := time.Since(start)
	if err != nil {
		return b2Result{}, err
	}
	time.Sleep(2 * time.Second)
	r := load.stop()
	r.authFailedClient = stopObs() - redisBase // Redis's own count
	pg, err := s.pgAuthFailures()
	if err != nil {
		return r, err
	}
	r.authFailedServer, r.took = pg-pgBase, took
	if r.requests < 10 {
		return r, fmt.Errorf("the load generator made only %d requests", r.requests)
	}
	return r, nil
}
