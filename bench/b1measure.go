package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// b1Settle is how long the floor's stack runs before its clock starts: each rekey side applies its desired
// state and starts its agent after its stack came up, seconds before its own clock.
const b1Settle = 2 * time.Second

// measureFloor: the operator's hand edit with no staging, no verification and no rollback. The tool is
// done when `docker compose up -d --wait` returns.
func measureFloor(root string) (b1End, error) {
	s, err := newStack(root)
	if s != nil {
		defer s.down()
	}
	if err != nil {
		return b1End{}, err
	}
	o, err := observerFor(s)
	if err != nil {
		return b1End{}, err
	}
	defer o.close()
	time.Sleep(b1Settle)
	value := "floor-" + randHex(16)
	if err := o.ready(fp(value)); err != nil {
		return b1End{}, err
	}
	env := filepath.Join(s.dir, ".env")
	data, _ := os.ReadFile(env)
	data = regexp.MustCompile(`(?m)^SESSION_SECRET=.*$`).ReplaceAll(data, []byte("SESSION_SECRET="+value))
	start := time.Now()
	if err := os.WriteFile(env, data, 0o600); err != nil {
		return b1End{}, err
	}
	if _, err := s.compose("up", "-d", "--wait", "--no-deps", "app", "worker"); err != nil {
		return b1End{}, err
	}
	doneAt := time.Now()
	if o == nil { // exec: sessions 1 to 4's rule, the probe polled until it sees the new key
		if err := s.waitFor(value, time.Minute); err != nil {
			return b1End{}, err
		}
		took := time.Since(start)
		return b1End{clock: took, done: doneAt.Sub(start), held: took}, nil
	}
	end, err := untilHeld(start, start.Add(time.Minute), realClock{},
		func() (time.Time, bool, error) { return doneAt, true, nil },
		func() (bool, string) { return o.holds(fp(value)) })
	if err != nil {
		return b1End{}, fmt.Errorf("%w\n%s", err, s.stuckReport())
	}
	return end, nil
}

// measureRekey: `values set`, commit, signed webhook, and rekey's full transaction with the old key
// dropped, timed from before `values set`. strategy, when set, is declared for both consumers in
// rekey.yaml (services.<name>.strategy); "" leaves rekey's choice (start-first: the demo app publishes no
// port). The agent runs with REKEY_TRACE set and without --quiet: its log (returned) holds a timestamped
// line per step and per phase of each roll. The tool is done when the log shows the transaction's
// committed step.
func measureRekey(root, bin, strategy string) (b1End, string, time.Time, error) {
	s, err := newStack(root)
	if s != nil {
		defer s.down()
	}
	if err != nil {
		return b1End{}, "", time.Time{}, err
	}
	o, err := observerFor(s)
	if err != nil {
		return b1End{}, "", time.Time{}, err
	}
	defer o.close()
	base := filepath.Dir(s.dir)
	repo, key := filepath.Join(base, "repo"), filepath.Join(root, "examples", "demo", "demo-age-key.txt")
	flags, err := s.applied(root, bin)
	if err != nil {
		return b1End{}, "", time.Time{}, err
	}
	git := func(args ...string) error {
		_, err := run(repo, "git", append([]string{"-c", "user.name=bench", "-c", "user.email=bench@example.invalid"}, args...)...)
		return err
	}
	if strategy != "" {
		if err := declareStrategy(root, bin, repo, strategy, flags, git); err != nil {
			return b1End{}, "", time.Time{}, err
		}
	}
	state := flags[3]
	secret := randHex(16)
	secretFile := filepath.Join(base, "hook.secret")
	os.WriteFile(secretFile, []byte(secret), 0o600)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort())
	agent := exec.Command(bin, append([]string{"agent", "--interval", "1h", "--webhook-addr", addr,
		"--webhook-secret-file", secretFile}, flags...)...)
	agent.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "REKEY_TRACE=1"}
	if tz, ok := os.LookupEnv("TZ"); ok { // the driver reads the agent's step times in its own zone
		agent.Env = append(agent.Env, "TZ="+tz)
	}
	var log syncBuffer
	agent.Stdout, agent.Stderr = &log, &log
	if err := agent.Start(); err != nil {
		return b1End{}, "", time.Time{}, err
	}
	defer func() { agent.Process.Signal(syscall.SIGTERM); agent.Wait() }()
	if _, err := run(root, bin, "reconcile", "--state-dir", state); err != nil { // the start run is over
		time.Sleep(time.Second)
		if _, err := run(root, bin, "reconcile", "--state-dir", state); err != nil {
			return b1End{}, "", time.Time{}, err
		}
	}
	// A commit finds the agent quiet, as it does unless it lands within the settle delay (200 ms) of a run
	// (the interval's run is once a minute by default); not right after the reconcile above.
	time.Sleep(300 * time.Millisecond)
	value := "rekey-" + randHex(16)
	if err := o.ready(fp(value)); err != nil {
		return b1End{}, "", time.Time{}, err
	}
	// The clock starts before the operator's edit (`values set`: the floor's edit of .env is inside its
	// clock too) and the commit: the agent watches the local repository and starts its run as soon as the
	// ref moves (a quiet agent runs a trigger at once), before the webhook that follows.
	mark := log.Len() // the start run's lines are not this rotation's
	start := time.Now()
	set := exec.Command(bin, "values", "set", "--repo", repo, "--age-key-file", key, "session-key")
	set.Stdin = strings.NewReader(value)
	if out, err := set.CombinedOutput(); err != nil {
		return b1End{}, "", time.Time{}, fmt.Errorf("values set: %v\n%s", err, out)
	}
	if err := git("commit", "-qam", "rotate"); err != nil {
		return b1End{}, "", time.Time{}, err
	}
	if err := postPush(addr, secret); err != nil {
		return b1End{}, "", time.Time{}, err
	}
	end, err := rekeyEnd(s, o, &log, mark, start, value)
	if err != nil {
		return b1End{}, "", time.Time{}, err
	}
	time.Sleep(300 * time.Millisecond) // the transaction's last lines (after the consumers turned)
	return end, log.String()[mark:], start, nil
}

// rekeyEnd waits for the end of a rekey side's clock. http: untilHeld, the agent's committed step then
// the consumers. exec (o nil): sessions 1 to 4's rule, the probe polled from the webhook on until it sees
// the new key; the committed step is then read from the log, after the clock, for its time alone.
func rekeyEnd(s *stack, o *httpObserver, log *syncBuffer, mark int, start time.Time, value string) (b1End, error) {
	deadline := start.Add(2 * time.Minute)
	done := agentDone(log, mark, "session-key", start, realClock{}, 10*time.Second)
	if o == nil {
		if err := s.waitFor(value, 2*time.Minute); err != nil {
			return b1End{}, fmt.Errorf("%w\nagent log:\n%s", err, log.String())
		}
		took := time.Since(start)
		end, err := untilHeld(start, deadline, realClock{}, done, func() (bool, string) { return true, "" })
		return b1End{clock: took, done: end.done, held: took}, err
	}
	end, err := untilHeld(start, deadline, realClock{}, done, func() (bool, string) { return o.holds(fp(value)) })
	if err != nil {
		return b1End{}, fmt.Errorf("%w\n%s\nagent log:\n%s", err, s.stuckReport(), log.String())
	}
	return end, nil
}

// declareStrategy sets services.app and services.worker to strategy in rekey.yaml, commits it and
// applies it (nothing rolls: no value changed).
func declareStrategy(root, bin, repo, strategy string, flags []string, git func(...string) error) error {
	cfg := filepath.Join(repo, "rekey.yaml")
	data, err := os.ReadFile(cfg)
	if err != nil {
		return err
	}
	data = append(data, fmt.Sprintf("\nservices:\n  app: {strategy: %s}\n  worker: {strategy: %s}\n", strategy, strategy)...)
	if err := os.WriteFile(cfg, data, 0o644); err != nil {
		return err
	}
	if err := git("commit", "-qam", "strategy "+strategy); err != nil {
		return err
	}
	_, err = run(root, bin, append([]string{"apply", "--quiet"}, flags...)...)
	return err
}

func postPush(addr, secret string) error {
	body := []byte(`{"ref":"refs/heads/main"}`)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/hooks/github", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("webhook answered %d", resp.StatusCode)
	}
	return nil
}
