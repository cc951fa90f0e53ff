// Command bench measures rekey against baselines taken in the same run (the machines are noisy):
//
//	go run ./bench [-runs 5] [-only b1,b3,b4,b5] [-rekey-rev COMMIT] [-before-rev COMMIT] [-profile DIR]
//
// B1, commit → old value revoked: a new session key is set (the clock starts) and committed to the demo
// stack's desired-state repository, and announced by a signed push webhook to a running `rekey agent`, which
// also watches the repository; the clock stops at the first look, once the tool has said it is done
// (`up --wait` returned; the agent logged the transaction committed), where both consumers run the new key
// and the app no longer accepts the old one (-b1-observer, docs/benchmarks.md). The floor is what an operator does
// by hand without any safety: edit .env, then `docker compose up -d --wait --no-deps app worker`. rekey is
// measured with its own roll strategy (start-first: the demo app sits behind Caddy) and with stop-first
// declared, and with -before-rev as of another commit too; the agent's REKEY_TRACE log gives the phases of
// each roll. It needs what scripts/setup.sh and scripts/build-images.sh prepare.
//
// B3, plan at scale: `rekey plan` on a generated project of 200 services and 1,000 secrets, wall time and
// peak RSS, against one compose-go load of the same project, `docker compose config` (when the Docker CLI
// and its Compose plugin are installed; no engine is needed) and `rekey version`. No Docker engine.
//
// B4, footprint: an idle agent for 60 s with 10 s drift scans on the demo stack (CPU, RSS) against the same
// agent with scans off; then a drift scan of 50 containers against `docker inspect` of them. Docker needed.
//
// B6, soak: the agent on the demo stack under load, N rotations of mixed secrets with a Redis restart and a
// kill -9 of the agent injected mid-rotation (commit → in sync, failed requests, RSS/FD/goroutine trend,
// journal size, status/history latency), and the year projection on a synthetic 10,000-rotation journal.
// Docker needed.
//
// B5, decrypt: sopsio.Decrypt of a 1,000-entry SOPS/age values file in process, against the sops CLI
// built from the module cache (skipped, with the reason, when it cannot be built). No Docker engine.
//
// B7, Swarm: on a single-node swarm, `rekey apply` of a file secret of a two-service stack until the old
// secret object is removed, against Docker's hand procedure (secret create, service update per service,
// secret rm), with failed requests through the routing mesh during each (b7swarm.go). Docker needed.
//
// Results go to stdout; the figures in docs/benchmarks.md come from it.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

func main() {
	runs := flag.Int("runs", 5, "repetitions of each measurement")
	only := flag.String("only", "b1,b2,b3,b4,b5", "comma-separated benchmarks to run: b1, b2, b2p, b3, b4, b5, b6, b7")
	b6Rotations := flag.Int("b6-rotations", 20, "b6: iterations of the soak (0: no soak)")
	flag.IntVar(&b6Retention, "b6-retention", 0, "b6: the agent's --journal-retention (0: its default), to see the journal flat once every secret sits at it")
	b6Year := flag.Bool("b6-year", true, "b6: also the year projection (a synthetic 10,000-rotation journal)")
	profile := flag.String("profile", "", "b3, b5: also run rekey's side in process once more under the CPU profiler, writing DIR/b3.pprof, DIR/b5.pprof")
	rev := flag.String("rekey-rev", "", "b1, b3: measure rekey as of this commit (default: the working tree)")
	flag.StringVar(&b1ObserverMode, "b1-observer", observerHTTP, "b1: how the clock's end is seen: http (the default: once the tool is done, GET each running app/worker container's /fingerprint every 20 ms) or exec (sessions 1-4: `docker compose exec … probe` polled)")
	beforeRev := flag.String("before-rev", "", "b1, b3: also measure rekey as of this commit (b1: start-first; b3: `rekey plan`), alternating with the rekey measured, in the same run")
	flag.Parse()
	want := map[string]bool{}
	for _, b := range strings.Split(*only, ",") {
		b = strings.ToLower(strings.TrimSpace(b))
		if b != "b1" && b != "b2" && b != "b2p" && b != "b3" && b != "b4" && b != "b5" && b != "b6" && b != "b7" {
			fail(fmt.Errorf("-only: unknown benchmark %q (want b1, b2, b2p, b3, b4, b5, b6, b7)", b))
		}
		want[b] = true
	}
	if *runs < 1 {
		fail(fmt.Errorf("-runs must be at least 1"))
	}
	root, err := repoRoot()
	if err != nil {
		fail(err)
	}
	var bin string
	if want["b1"] || want["b2"] || want["b2p"] || want["b3"] || want["b4"] || want["b6"] || want["b7"] {
		if bin, err = buildRekey(root, *rev); err != nil {
			fail(err)
		}
		fmt.Printf("rekey built from %s\n", describe(root, *rev))
		defer os.RemoveAll(filepath.Dir(bin))
	}
	var before string
	if (want["b1"] || want["b3"]) && *beforeRev != "" {
		if before, err = buildRekey(root, *beforeRev); err != nil {
			fail(err)
		}
		fmt.Printf("before: rekey built from %s\n", describe(root, *beforeRev))
		defer os.RemoveAll(filepath.Dir(before))
	}
	if want["b3"] || want["b5"] || want["b6"] {
		if rusageBin, err = goBuild(root, "./bench/rusage", "rusage"); err != nil {
			fail(err)
		}
		defer os.RemoveAll(filepath.Dir(rusageBin))
	}
	if want["b1"] {
		loadAverage()
		runB1(root, bin, before, *runs)
	}
	if want["b2"] {
		loadAverage()
		if err := runB2(root, bin, *runs); err != nil {
			fail(fmt.Errorf("b2: %w", err))
		}
	}
	if want["b2p"] {
		loadAverage()
		if err := runB2Proxy(root, bin, *runs); err != nil {
			fail(fmt.Errorf("b2p: %w", err))
		}
	}
	if want["b3"] {
		loadAverage()
		if err := runB3(root, bin, before, *runs, *profile); err != nil {
			fail(fmt.Errorf("b3: %w", err))
		}
	}
	if want["b4"] {
		loadAverage()
		if err := runB4(root, bin, *runs); err != nil {
			fail(fmt.Errorf("b4: %w", err))
		}
	}
	if want["b5"] {
		loadAverage()
		if err := runB5(root, *runs, *profile); err != nil {
			fail(fmt.Errorf("b5: %w", err))
		}
	}
	if want["b6"] {
		loadAverage()
		if err := runB6(root, bin, *runs, *b6Rotations, *b6Year); err != nil {
			fail(fmt.Errorf("b6: %w", err))
		}
	}
	if want["b7"] {
		loadAverage()
		if err := runB7(root, bin, *runs); err != nil {
			fail(fmt.Errorf("b7: %w", err))
		}
	}
	loadAverage()
}

// loadAverage prints the machine's load, which other work on it may drive up during a run.
func loadAverage() {
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average (1, 5, 15 min): %s\n", strings.Join(strings.Fields(string(b))[:3], " "))
	}
}

// alternate returns the measurements in the order of run i: rotated each run, so that drift in the
// machine's load hits every side alike.
func alternate[T any](i int, ms []T) []T {
	out := slices.Clone(ms)
	k := i % len(out)
	return append(out[k:], out[:k]...)
}

// describe names the source of the rekey binary: a commit, or the working tree on top of HEAD.
func describe(root, rev string) string {
	if rev != "" {
		out, err := run(root, "git", "rev-parse", "--short=12", rev+"^{commit}")
		if err != nil {
			return rev
		}
		return "commit " + strings.TrimSpace(out)
	}
	head, err := run(root, "git", "rev-parse", "--short=12", "HEAD")
	if err != nil {
		return "the working tree (not a git checkout)"
	}
	status, _ := run(root, "git", "status", "--porcelain", "--untracked-files=no")
	if strings.TrimSpace(status) != "" {
		return fmt.Sprintf("the working tree: HEAD %s plus uncommitted changes to %d files", strings.TrimSpace(head), len(strings.Split(strings.TrimSpace(status), "\n")))
	}
	return "the working tree: HEAD " + strings.TrimSpace(head)
}

func report(what string, ds []time.Duration) {
	med, lo, hi := summary(ds)
	fmt.Printf("  %-62s median %8s  min %8s  max %8s  (n=%d)\n", what, round(med), round(lo), round(hi), len(ds))
}

// reportMiB reports peak resident set sizes given in KiB.
func reportMiB(what string, kib []int64) {
	med, lo, hi := summary(kib)
	mib := func(k int64) string { return fmt.Sprintf("%.1f MiB", float64(k)/1024) }
	fmt.Printf("  %-62s median %8s  min %8s  max %8s  (n=%d)\n", what, mib(med), mib(lo), mib(hi), len(kib))
}

func ratio(what string, a, b time.Duration) {
	fmt.Printf("  ratio of medians, %s: %.2f×\n", what, float64(a)/float64(b))
}

// round keeps three significant figures.
func round(d time.Duration) time.Duration {
	unit := time.Duration(1)
	for d >= 1000*unit {
		unit *= 10
	}
	return d.Round(unit)
}

func summary[T ~int64 | ~float64](xs []T) (med, lo, hi T) {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2], s[0], s[n-1]
	}
	return (s[n/2-1] + s[n/2]) / 2, s[0], s[n-1]
}

func median[T ~int64 | ~float64](xs []T) T {
	m, _, _ := summary(xs)
	return m
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}
