package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/internal/testenv"
)

// Fault injection on real parts (issue #13): each test breaks one real thing under a rotation of the
// demo stack — the Docker engine, the journal, the state dir's filesystem, the filesystem of .env, a
// credential server — and checks four things: the stack keeps serving (its own HTTP endpoints answer),
// the transaction ends rolled back or finished (`rekey status` and the journal through `rekey history`),
// no value is lost (the sources byte-identical to before after a rollback, or holding the new value and
// nothing else changed after a finish), and rekey's message says what to do next.

// restartAlways makes every demo service come back when the engine restarts, as production stacks do
// (proxy: the demo's Caddy, in front of the app, through which the tests reach it).
const restartAlways = `services:
  db: {restart: always}
  redis: {restart: always}
  app: {restart: always}
  worker: {restart: always}
  proxy: {restart: always}
`

// nextStep is what every failing run must tell the operator: the command that finishes the job.
const nextStep = "rekey apply"

// TestFaultDockerdRestartMidRoll restarts dockerd after the app rolled onto the new session key and
// before the worker rolls: the engine stops every container and comes back with them (restart: always)
// while rekey goes on with the worker. rekey must end rolled back or finished, the stack must serve
// again, and a second apply must converge.
func TestFaultDockerdRestartMidRoll(t *testing.T) { dockerdFault(t, 0) }

// TestFaultDockerdDownDuringRoll is the same with the engine away for a few seconds, as a slow restart
// (or an upgrade of the package) leaves it: the worker's roll meets no engine at all. rekey must still end
// rolled back or finished, not with a half-applied rotation.
func TestFaultDockerdDownDuringRoll(t *testing.T) { dockerdFault(t, 5*time.Second) }

// dockerdFault stops dockerd when the rotation sits between its two rolls, lets rekey go on, and starts
// dockerd again after down.
func dockerdFault(t *testing.T, down time.Duration) {
	// The restart stops every container on the engine: no stack of another test or benchmark, in this
	// process or another, may run meanwhile. Taken first, held until after every cleanup (the stack's
	// down, dockerd answering again); the test's own stack shares it.
	testenv.HoldEngineExclusiveFor(t)
	hook := newPauseHook(t)
	r := faultRig(t, restartAlways, hook.check())
	dockerd := newDockerdRunner(t) // after the stack: its cleanup runs first, so the stack can be removed
	before := r.readSources()
	redisID, redisStarted := r.stack.ContainerID(t, "redis"), r.startedAt("redis")
	const next = "dockerd-restart-session-secret-0123456789"
	r.values["session-key"] = next
	r.commitValues("rotate the session key across a dockerd restart")

	run := r.startRekey("apply")
	hook.waitPaused(run, 90*time.Second) // app recreated, healthy and verified; the worker is next
	start := time.Now()
	dockerd.stop(60 * time.Second)
	hook.resume() // rekey rolls the worker while the engine comes back
	time.Sleep(down)
	dockerd.start()
	dockerd.waitReady(60 * time.Second)
	t.Logf("dockerd restarted in %v", time.Since(start).Round(time.Millisecond))
	res := run.wait(3 * time.Minute)
	t.Logf("apply across the restart exited %d:\n%s%s", res.code, res.stdout, res.stderr)

	r.waitServing(60 * time.Second)
	// The restart reached the stack: redis, which this rotation does not roll, was stopped with the engine
	// and started again by it (restart: always), the same container.
	if r.stack.ContainerID(t, "redis") != redisID || r.startedAt("redis") == redisStarted {
		t.Errorf("redis was not restarted in place by the engine: the fault did not happen")
	}
	switch res.code {
	case 0:
		r.assertEnvRotated(before[".env"], map[string]string{"SESSION_SECRET": next, "SESSION_SECRET_PREVIOUS": ""})
	case 3:
		r.assertSourcesUnchanged(before, "after the rollback")
		assertSays(t, res, nextStep)
	default:
		t.Errorf("apply across a dockerd restart exited %d: want it to end rolled back (3) or finished (0)\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
		r.assertSourcesUnchanged(before, "after a failed rollback") // the restore is a file write: it ran
		assertSays(t, res, nextStep)
	}
	if res.code != 0 {
		if st := r.secretStatus("session-key"); res.code == 3 && st["open_txn"] != nil {
			t.Errorf("status after the rollback: the transaction is still open: %v", st["open_txn"])
		}
	}

	res = r.rekey("apply")
	if res.code != 0 {
		t.Fatalf("the second apply exited %d:\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	r.assertEnded("session-key", "rotated")
	r.assertEnvRotated(before[".env"], map[string]string{"SESSION_SECRET": next, "SESSION_SECRET_PREVIOUS": ""})
	app, worker := r.fingerprints()
	if want := testenv.Fingerprint(next); app["session_key"] != want || worker["session_key"] != want || app["session_key_previous"] != "" {
		t.Errorf("after the second apply: app=%v worker=%v, want the new key only", app, worker)
	}
	r.waitServing(30 * time.Second)
}

// TestFaultJournalImmutableFromStart makes journal.db immutable (chattr +i) before apply: rekey cannot
// journal its intent, so it must change nothing and say how to make the journal writable.
func TestFaultJournalImmutableFromStart(t *testing.T) {
	r := faultRig(t, "", "")
	r.mustApply() // creates the journal
	journal := filepath.Join(r.stateDir, "journal.db")
	chattr(t, "+i", journal)
	t.Cleanup(func() { _ = exec.Command("chattr", "-i", journal).Run() })
	before, ids := r.readSources(), r.ids()
	const next = "immutable-journal-session-secret-0123456"
	r.values["session-key"] = next
	r.commitValues("rotate while the journal cannot be written")

	res := r.rekey("apply")
	t.Logf("apply with an immutable journal exited %d:\n%s%s", res.code, res.stdout, res.stderr)
	if res.code != 1 {
		t.Errorf("apply exited %d, want 1 (an unusable dependency, nothing changed)\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	r.assertSourcesUnchanged(before, "after apply refused to start")
	if after := r.ids(); fmt.Sprint(after) != fmt.Sprint(ids) {
		t.Errorf("containers changed although nothing could be journaled: %v → %v", ids, after)
	}
	r.waitServing(10 * time.Second)
	assertSays(t, res, journal, "chattr -i")

	chattr(t, "-i", journal)
	r.mustApply()
	r.assertEnded("session-key", "rotated")
	r.assertEnvRotated(before[".env"], map[string]string{"SESSION_SECRET": next, "SESSION_SECRET_PREVIOUS": ""})
	r.waitServing(30 * time.Second)
}

// TestFaultJournalImmutableMidRoll makes journal.db immutable after the app rolled: the next journal
// record fails, so rekey must roll back (a rollback goes ahead without the journal), leave the sources
// byte-identical and say what to do; once the journal is writable again, apply converges.
func TestFaultJournalImmutableMidRoll(t *testing.T) {
	hook := newPauseHook(t)
	r := faultRig(t, "", hook.check())
	r.mustApply()
	journal := filepath.Join(r.stateDir, "journal.db")
	t.Cleanup(func() { _ = exec.Command("chattr", "-i", journal).Run() })
	before := r.readSources()
	const next = "journal-midway-session-secret-0123456789"
	r.values["session-key"] = next
	r.commitValues("rotate; the journal becomes unwritable half-way")

	run := r.startRekey("apply")
	hook.waitPaused(run, 90*time.Second)
	chattr(t, "+i", journal)
	hook.resume()
	res := run.wait(3 * time.Minute)
	t.Logf("apply with the journal made immutable mid-roll exited %d:\n%s%s", res.code, res.stdout, lastLines(res.stderr, 3))
	if res.code != 3 || !strings.Contains(res.stdout, "rolled-back") {
		t.Errorf("apply exited %d, want 3 rolled-back\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	r.assertSourcesUnchanged(before, "after the rollback")
	r.waitServing(30 * time.Second)
	app, worker := r.fingerprints()
	if want := testenv.Fingerprint(before.env(t)["SESSION_SECRET"]); app["session_key"] != want || worker["session_key"] != want {
		t.Errorf("after the rollback: app=%v worker=%v, want the old key", app, worker)
	}
	assertSays(t, res, "journal.db", "chattr -i", nextStep)

	chattr(t, "-i", journal)
	res = r.rekey("apply")
	if res.code != 0 {
		t.Fatalf("apply with the journal writable again exited %d:\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	r.assertEnded("session-key", "rotated")
	r.assertEnvRotated(before[".env"], map[string]string{"SESSION_SECRET": next, "SESSION_SECRET_PREVIOUS": ""})
	r.waitServing(30 * time.Second)
}

// TestFaultStateDirFull puts the state dir on a small tmpfs and fills it: apply must fail before any side
// effect or roll back, lose no value, and say that the disk is full; with space again, apply converges.
func TestFaultStateDirFull(t *testing.T) {
	r := faultRig(t, "", "")
	tmpfs(t, r.stateDir, 512<<10)
	r.mustApply() // journal.db and fingerprint.key, on the tmpfs
	filler := filepath.Join(r.stateDir, "filler")
	t.Logf("filled the state dir with %d bytes", fillFS(t, filler))
	before := r.readSources()
	const next = "state-dir-full-session-secret-0123456789"
	r.values["session-key"] = next
	r.values["webhook-token"] = "state-dir-full-webhook-token"
	r.commitValues("rotate both while the state dir is full")

	res := r.rekey("apply")
	t.Logf("apply on a full state dir exited %d:\n%s%s", res.code, res.stdout, lastLines(res.stderr, 3))
	if res.code != 1 && res.code != 3 {
		t.Errorf("apply exited %d, want 1 (nothing done) or 3 (rolled back)\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	r.assertSourcesUnchanged(before, "after apply on a full state dir")
	r.waitServing(30 * time.Second)
	app, worker := r.fingerprints()
	if want := testenv.Fingerprint(before.env(t)["SESSION_SECRET"]); app["session_key"] != want || worker["session_key"] != want {
		t.Errorf("containers run app=%v worker=%v, want the old key", app, worker)
	}
	assertSays(t, res, "no space left on device", r.stateDir, nextStep)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	res = r.rekey("apply")
	if res.code != 0 {
		t.Fatalf("apply with space again exited %d:\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	r.assertEnded("session-key", "rotated")
	r.assertEnded("webhook-token", "rotated")
	r.assertEnvRotated(before[".env"], map[string]string{"SESSION_SECRET": next, "SESSION_SECRET_PREVIOUS": ""})
	if got := r.stack.ReadFile(t, "secrets/webhook_token.txt"); got != r.values["webhook-token"] {
		t.Errorf("the webhook token file holds %d bytes, want the new value", len(got))
	}
	r.waitServing(30 * time.Second)
}

// TestFaultEnvFileNoSpace runs the stack from a nearly full tmpfs, with .env a few bytes short of a page:
// the rotation's first write grows .env into a page the filesystem does not have (ENOSPC). rekey must roll
// back with .env byte-identical (no lost tail), exit 3 and say that the disk is full; with space again,
// apply converges with every other line intact.
func TestFaultEnvFileNoSpace(t *testing.T) {
	testenv.RequireImages(t)
	dir := filepath.Join(t.TempDir(), "stack")
	tmpfs(t, dir, 256<<10) // before the stack: unmounted after `compose down`
	st := testenv.NewStack(t, testenv.DemoStackDir(t))
	if out, err := exec.Command("cp", "-a", st.Dir+"/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("copy the stack onto the tmpfs: %v: %s", err, out)
	}
	st.Dir = dir
	padToPage(t, filepath.Join(dir, ".env"), 8)
	st.Up(t)
	r := faultRigFor(t, st, "")
	r.mustApply()
	filler := filepath.Join(dir, ".filler")
	t.Logf("filled the stack's filesystem with %d bytes", fillFS(t, filler))
	before := r.readSources()
	const next = "env-file-no-space-session-secret-0123456789"
	r.values["session-key"] = next
	r.commitValues("rotate while .env cannot grow")

	res := r.rekey("apply")
	t.Logf("apply with .env unable to grow exited %d:\n%s%s", res.code, res.stdout, lastLines(res.stderr, 3))
	if res.code != 3 || !strings.Contains(res.stdout, "rolled-back") {
		t.Errorf("apply exited %d, want 3 rolled-back\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	r.waitServing(30 * time.Second)
	assertSays(t, res, "no space left on device", filepath.Join(dir, ".env"))
	r.assertSourcesUnchanged(before, "after the rollback")
	if t.Failed() {
		t.FailNow() // a damaged .env makes everything after this meaningless
	}
	app, worker := r.fingerprints()
	if want := testenv.Fingerprint(before.env(t)["SESSION_SECRET"]); app["session_key"] != want || worker["session_key"] != want {
		t.Errorf("containers run app=%v worker=%v, want the old key", app, worker)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	r.mustApply()
	r.assertEnded("session-key", "rotated")
	r.assertEnvRotated(before[".env"], map[string]string{"SESSION_SECRET": next, "SESSION_SECRET_PREVIOUS": ""})
	r.waitServing(30 * time.Second)
}

// padToPage appends a comment to a file so that it ends short bytes before a 4 KiB page boundary.
func padToPage(t *testing.T, path string, short int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096
	prefix, suffix := "# padding: everything after the rotated lines must survive a full disk ", "\n"
	n := page - short - len(b) - len(prefix) - len(suffix)
	if n < 0 {
		t.Fatalf("%s is already %d bytes", path, len(b))
	}
	pad := string(b) + prefix + strings.Repeat("=", n) + suffix
	if err := os.WriteFile(path, []byte(pad), 0o600); err != nil {
		t.Fatal(err)
	}
}

// env parses the .env held in files.
func (f stackFiles) env(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, line := range strings.Split(string(f[".env"]), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(k, "#") {
			env[k] = strings.Trim(v, `"'`)
		}
	}
	return env
}

// finalizeDone is the progress line of the step that ends the verified phase of a server rotation:
// drain starts right after it.
var finalizeDone = regexp.MustCompile(`db-password\s+finalize\s+ok`)

// TestFaultCredentialServerDownDuringDrain rotates the app's PostgreSQL password while a session of the
// old login role stays open, so that rekey waits in drain; the test stops the database right then. The
// new value is verified everywhere, so rekey must finish forward, not back: the stack serves on the new
// login once the server is back (no consumer locked out), the message names the next step, and a second
// apply drains, revokes and converges.
func TestFaultCredentialServerDownDuringDrain(t *testing.T) {
	r := pgRig(t, "")
	old := r.values["db-password"]
	holdOldSession(t, r, old)
	before := r.readSources()
	const next = "drain-fault-db-password-5c1e"
	r.values["db-password"] = next
	r.commitValues("rotate the database password; the server goes down during drain")

	run := r.startRekey("apply")
	run.waitStderr(finalizeDone, 2*time.Minute)
	r.stack.Compose(t, "stop", "-t", "5", "db")
	res := run.wait(2 * time.Minute)
	t.Logf("apply with the server down during drain exited %d:\n%s%s", res.code, res.stdout, lastLines(res.stderr, 3))
	if res.code != 0 && res.code != 3 {
		t.Errorf("apply exited %d, want 3 (finalize-failed: the new value stays live) or 0\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	if res.code != 0 {
		assertSays(t, res, nextStep)
		// A server that is shutting down is not a login problem: sending the operator to pg_hba.conf
		// would be the wrong next step.
		if strings.Contains(res.stdout, "pg_hba.conf") {
			t.Errorf("the message blames pg_hba.conf for a server that was stopped:\n%s", res.stdout)
		}
	}
	// The new value was verified by every consumer: it stays, nothing else in .env changed.
	r.assertEnvRotated(before[".env"], map[string]string{"DB_PASSWORD": next, "DB_USER": "shop_b"})
	r.assertSourcesUnchanged(stackFiles{"secrets/webhook_token.txt": before["secrets/webhook_token.txt"]}, "during drain")
	if app := appFingerprintInside(t, r); app["db_user"] != "shop_b" || app["db_password"] != testenv.Fingerprint(next) {
		t.Errorf("the app runs %s with %s, want shop_b with the new password", app["db_user"], app["db_password"])
	}

	r.stack.Compose(t, "up", "-d", "--wait", "--no-deps", "db")
	r.waitServing(60 * time.Second) // the app logs in again: nobody was locked out
	res = r.rekey("apply")
	if res.code != 0 {
		t.Fatalf("apply with the server back exited %d:\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	r.assertEnded("db-password", "rotated", "finalized")
	if got := psql(t, r, "SELECT string_agg(rolname || ':' || rolcanlogin || ':' || (rolpassword IS NULL), ',' ORDER BY rolname) FROM pg_authid WHERE rolname IN ('shop_a','shop_b')"); got != "shop_a:false:true,shop_b:true:false" {
		t.Errorf("roles after the second apply: %s, want shop_a without login and password, shop_b active", got)
	}
	r.waitServing(30 * time.Second)
	if res := r.rekey("apply"); res.code != 0 || !strings.Contains(res.stdout, "in-sync") {
		t.Errorf("a third apply is not in sync (exit %d):\n%s", res.code, res.stdout)
	}
}

// holdOldSession keeps a session logged in as the active login role (shop_a) open inside the database
// container, so that drain has a session to wait for. It ends with the server or the test.
func holdOldSession(t *testing.T, r *rig, password string) {
	t.Helper()
	cmd := exec.Command("docker", "exec", "-e", "PGPASSWORD", r.stack.ContainerID(t, "db"),
		"psql", "-XAtq", "host=127.0.0.1 dbname=shop user=shop_a", "-c", "SELECT pg_sleep(600)")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "PGPASSWORD=" + password}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	deadline := time.Now().Add(20 * time.Second)
	for psql(t, r, "SELECT count(*) FROM pg_stat_activity WHERE usename = 'shop_a' AND query LIKE 'SELECT pg_sleep%'") != "1" {
		if time.Now().After(deadline) {
			t.Fatal("the session of shop_a did not start")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// lastLines is the last n lines of s (rekey's message after its progress lines), for the test log.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n") + "\n"
}

// appFingerprintInside reads the app's /fingerprint from inside its container. Through the published port
// (the demo's Caddy) it is refused while the database is down: Caddy's health checks of the app's /healthz,
// which needs the database, take the app out of its rotation.
func appFingerprintInside(t *testing.T, r *rig) map[string]string {
	t.Helper()
	out, err := r.stack.Exec(t, "app", "/demoapp", "probe", "http://127.0.0.1:8080/fingerprint")
	if err != nil {
		t.Fatalf("app fingerprint from inside: %v", err)
	}
	var fps map[string]string
	if err := json.Unmarshal([]byte(out), &fps); err != nil {
		t.Fatalf("app fingerprint %q: %v", out, err)
	}
	return fps
}
