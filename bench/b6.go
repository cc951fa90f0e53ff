package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// B6, soak: the agent as an operator runs it (a short interval, metrics on loopback, logs to a file) on the
// demo stack under the B2 load, and N rotations committed to its local repository: the app's session key
// every iteration, the Redis password every 5th, the PostgreSQL password every 10th. Two faults: Redis
// restarted (docker restart, and docker stop then start 10 s later) right after the app moved to the new
// password, and a kill -9 of the agent in the middle of a rotation (the app on the new key, the old one
// still accepted), restarted a second later as a service manager would. Measured per iteration: commit →
// in sync (the app runs every desired value and no previous key, and the agent's metrics report the
// commit applied by an ok run with no revocation pending), the load's failed requests from that commit
// to the next, the agent's RSS, FDs and goroutines, and journal.db's size. Then `rekey status` and
// `rekey history` before the soak (its baseline) and after it, and the year projection (b6year.go).

const (
	b6Interval = 5 * time.Second  // the agent's --interval and --drift-interval
	b6Cap      = 3 * time.Minute  // an iteration not in sync by then is stuck: an operator would step in
	b6Down     = 10 * time.Second // how long the stop/start fault keeps Redis down
	b6Settle   = time.Second      // between an iteration in sync and the next commit
)

const (
	faultRestart   = "redis docker restart"
	faultStopStart = "redis stop/start"
	faultKill      = "agent kill -9"
)

// demoMix is the demo's three secrets in the soak's mix: every iteration, every 5th, every 10th.
var demoMix = [3]string{"session-key", "redis-password", "db-password"}

type b6Iter struct {
	i                int
	kind, fault      string
	took, afterClear time.Duration // commit → in sync; fault cleared → in sync
	faultAt          time.Duration // commit → fault injected
	commitTook, wall time.Duration // setting the values and committing; the whole iteration
	gap              time.Duration // the longest stretch without a successful request
	converged        bool
	requests, failed int64
	proc             procSample
	journal          int64
	agentStart       int // which start of the agent this sample is of
}

type soak struct {
	s        *stack
	bin      string
	flags    []string
	agent    *soakAgent
	load     *load
	gap      *gapProbe
	values   map[string]string
	sessions []string // session keys, oldest first
}

func runB6(root, bin string, runs, rotations int, year bool) error {
	if rotations > 0 {
		if err := runB6Soak(root, bin, runs, rotations); err != nil {
			return err
		}
	}
	if !year {
		return nil
	}
	loadAverage()
	return runB6Year(root, bin, runs)
}

func runB6Soak(root, bin string, runs, rotations int) error {
	s, flags, err := appliedStack(root, bin)
	if s != nil {
		defer s.down()
	}
	if err != nil {
		return err
	}
	k := &soak{s: s, bin: bin, flags: flags, values: map[string]string{}}
	if cur, err := dotenv(s.dir, "SESSION_SECRET"); err == nil {
		k.sessions = append(k.sessions, cur)
	} else {
		return err
	}
	before, err := k.readLatency(runs)
	if err != nil {
		return err
	}
	if k.agent, err = newSoakAgent(bin, filepath.Dir(s.dir), flags, b6Interval); err != nil {
		return err
	}
	if err := k.agent.waitReady(2 * time.Minute); err != nil {
		k.agent.stop()
		return fmt.Errorf("%w\n%s", err, k.agent.logTail(30))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	k.load, k.gap = startLoad(ctx, s.port), startGapProbe(ctx, s.port)
	time.Sleep(time.Second)
	iters := k.iterate(rotations)
	total := k.load.stop()
	k.agent.stop()
	after, err := k.readLatency(runs)
	if err != nil {
		return err
	}
	reportB6(iters, rotations, total, before, after)
	loud := logLevels(k.agent.logPath)
	fmt.Printf("  agent log: %d WARN or ERROR lines over the soak (at most 20 shown)\n", len(loud))
	for _, l := range loud[:min(20, len(loud))] {
		fmt.Println("    " + l)
	}
	out, err := run(root, bin, append([]string{"status"}, flags...)...)
	fmt.Printf("  rekey status at the end (%v):\n%s", err, out)
	return nil
}

// iterate runs the rotations, injecting each planned fault at the first iteration where it can hit.
func (k *soak) iterate(rotations int) []b6Iter {
	plan := planFaults(rotations)
	var iters []b6Iter
	stuck := 0
	for i := 1; i <= rotations; i++ {
		fault := ""
		for j, f := range plan {
			if f.at <= i && (f.name == faultKill || i%5 == 0) {
				fault, plan = f.name, append(plan[:j:j], plan[j+1:]...)
				break
			}
		}
		it, missed := k.iteration(i, fault)
		if missed { // in sync before the fault could hit: try again at the next chance
			plan = append(plan, plannedFault{name: fault, at: i + 1})
			it.fault = fault + " (missed, moved on)"
		}
		iters = append(iters, it)
		fmt.Printf("b6 %3d %-28s %-26s in sync %-8s %4d/%5d failed, longest gap %-7s rss %5.1f MiB (anon %4.1f, heap %4.1f) fds %3d goroutines %3d journal %6.0f KiB  (commit %s, iteration %s)\n",
			it.i, it.kind, it.fault, tookString(it), it.failed, it.requests, round(it.gap), float64(it.proc.rss)/1024, float64(it.proc.anon)/1024, float64(it.proc.heap)/1024, it.proc.fds,
			it.proc.goroutines, float64(it.journal)/1024, round(it.commitTook), round(it.wall))
		if !it.converged {
			fmt.Printf("b6 %d: not in sync after %s; agent log:\n%s\n", i, b6Cap, k.agent.logTail(40))
			fmt.Printf("b6 %d: the stack's containers and their last lines (before the stack is removed):\n%s\n", i, k.s.stuckReport())
			if stuck++; stuck >= 2 {
				fmt.Println("b6: two iterations in a row stuck: stopping the soak")
				break
			}
		} else {
			stuck = 0
		}
	}
	return iters
}

type plannedFault struct {
	name string
	at   int
}

// planFaults spreads the faults over the run: a Redis restart from a quarter on, a stop/start from the
// half (each at a Redis iteration, where they hit hardest), the kill from three quarters (at the first
// iteration there: it hits the agent, whatever the secret).
func planFaults(n int) []plannedFault {
	return []plannedFault{{faultRestart, max(1, n/4)}, {faultStopStart, max(1, n/2)}, {faultKill, max(1, 3*n/4)}}
}

func tookString(it b6Iter) string {
	if !it.converged {
		return "STUCK"
	}
	return round(it.took).String()
}

func kindOf(i int) string {
	switch {
	case i%10 == 0:
		return "app key + redis + postgres"
	case i%5 == 0:
		return "app key + redis"
	}
	return "app key"
}

// iteration commits new values for the iteration's mix and waits until the stack is in sync, injecting
// fault when its moment comes. missed says the fault never found its moment.
func (k *soak) iteration(i int, fault string) (b6Iter, bool) {
	it := b6Iter{i: i, kind: kindOf(i), fault: fault}
	r0, f0 := k.load.requests.Load(), k.load.failed.Load()
	began := time.Now()
	k.gap.window()
	hash, err := k.commit(i)
	it.commitTook = time.Since(began)
	if err != nil {
		fmt.Printf("b6 %d: commit: %v\n", i, err)
		return it, false
	}
	start := time.Now()
	want := map[string]string{"session_key": fp(k.values["session-key"]), "session_key_previous": ""}
	if v, ok := k.values["redis-password"]; ok {
		want["redis_password"] = fp(v)
	}
	if v, ok := k.values["db-password"]; ok {
		want["db_password"] = fp(v)
	}
	injected, cleared := false, func() time.Time { return time.Time{} }
	for time.Since(start) < b6Cap {
		app, appErr := appFingerprints(k.s.port)
		if fault != "" && !injected && appErr == nil && k.moment(fault, app, want) {
			injected, it.faultAt = true, time.Since(start)
			cleared = k.inject(fault)
		}
		if appErr == nil && matches(app, want) && (fault == "" || injected && !cleared().IsZero()) {
			if v := k.agent.view(); v.revision == hash && v.pending == 0 {
				it.converged, it.took = true, time.Since(start)
				if injected {
					it.afterClear = time.Since(cleared())
				}
				break
			}
		}
		if fault != "" && !injected && appErr == nil && matches(app, want) && k.agent.view().revision == hash {
			break // the rotation is over: the fault found no moment
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(b6Settle)
	it.proc, it.journal, it.agentStart = k.agent.sampleIdle(), fileSize(filepath.Join(k.flags[3], "journal.db")), k.agent.starts
	it.requests, it.failed = k.load.requests.Load()-r0, k.load.failed.Load()-f0
	it.wall, it.gap = time.Since(began), k.gap.window()
	return it, fault != "" && !injected
}

// moment says whether fault's moment has come: Redis faults right after the app moved to the new Redis
// password, the kill while the app runs the new key and still accepts the old one.
func (k *soak) moment(fault string, app, want map[string]string) bool {
	if fault == faultKill {
		return len(k.sessions) > 1 && app["session_key"] == want["session_key"] &&
			app["session_key_previous"] == fp(k.sessions[len(k.sessions)-2])
	}
	return want["redis_password"] != "" && app["redis_password"] == want["redis_password"]
}

// inject breaks something and returns when it was repaired (zero until it is).
func (k *soak) inject(fault string) func() time.Time {
	switch fault {
	case faultKill:
		k.agent.kill()
		time.Sleep(time.Second) // a service manager's restart delay
		if err := k.agent.start(); err != nil {
			fmt.Printf("b6: restarting the agent: %v\n", err)
		}
		at := time.Now()
		return func() time.Time { return at }
	default:
		f := &serverFault{}
		if fault == faultStopStart {
			f.down = b6Down
		}
		if err := f.inject(k.s); err != nil {
			fmt.Printf("b6: %s: %v\n", fault, err)
			f.clear()
		}
		return f.clearedAt
	}
}

func matches(app, want map[string]string) bool {
	for k, v := range want {
		if app[k] != v {
			return false
		}
	}
	return true
}

// commit sets new values for iteration i's mix in the desired-state repository and commits them; it
// returns the commit's hash.
func (k *soak) commit(i int) (string, error) {
	repo, key := k.flags[1], k.flags[5]
	for _, secret := range mixOf(i) {
		value := fmt.Sprintf("b6-%03d-%s", i, randHex(12))
		set := exec.Command(k.bin, "values", "set", "--repo", repo, "--age-key-file", key, secret)
		set.Stdin = strings.NewReader(value)
		if out, err := set.CombinedOutput(); err != nil {
			return "", fmt.Errorf("values set %s: %v\n%s", secret, err, out)
		}
		k.values[secret] = value
		if secret == "session-key" {
			k.sessions = append(k.sessions, value)
		}
	}
	if _, err := run(repo, "git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "commit", "-qam", fmt.Sprintf("b6 rotation %d", i)); err != nil {
		return "", err
	}
	out, err := run(repo, "git", "rev-parse", "HEAD")
	return strings.TrimSpace(out), err
}

func mixOf(i int) []string {
	out := []string{demoMix[0]}
	if i%5 == 0 {
		out = append(out, demoMix[1])
	}
	if i%10 == 0 {
		out = append(out, demoMix[2])
	}
	return out
}

// latency is `rekey status` and `rekey history` (default limit, and --limit 0): wall times and peak RSS.
type latency struct {
	status, history, historyAll []time.Duration
	statusRSS                   []int64
}

func (k *soak) readLatency(runs int) (latency, error) {
	var l latency
	var err error
	if l.status, l.statusRSS, err = timed(runs, k.bin, append([]string{"status"}, k.flags...)...); err != nil {
		return l, err
	}
	if l.history, _, err = timed(runs, k.bin, append([]string{"history"}, k.flags...)...); err != nil {
		return l, err
	}
	l.historyAll, _, err = timed(runs, k.bin, append([]string{"history", "--limit", "0"}, k.flags...)...)
	return l, err
}

// logLevels returns the agent log's WARN and ERROR lines (the agent redacts its logs: fingerprints only).
func logLevels(path string) []string {
	data, _ := os.ReadFile(path)
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			out = append(out, l)
		}
	}
	return out
}
