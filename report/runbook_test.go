package report

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/reconcile"
)

func tm(sec int) time.Time { return time.Date(2026, 11, 26, 10, 41, sec, 0, time.UTC) }

// history fabricates a journal: session-key rotated (app, then worker; finalized in the same run), then a
// second rotation that rolled back; webhook-token never rotated.
func history() []reconcile.Record {
	rec := func(sec int, txn, typ string, r reconcile.Record) reconcile.Record {
		r.Time, r.Txn, r.Secret, r.Type = tm(sec), txn, "session-key", reconcile.RecordType(typ)
		if r.Revision == "" {
			r.Revision = "aaaa000000000000000000000000000000000001"
		}
		return r
	}
	roll := func(sec int, txn, c string) []reconcile.Record {
		step := "recreate " + c
		if c == "worker" { // a start-first roll names its strategy in the step
			step += " (start-first: no published port, container_name or exclusive volume)"
		}
		return []reconcile.Record{
			rec(sec, txn, "intent", reconcile.Record{Step: step, Consumer: c, Roll: reconcile.Recreate}),
			rec(sec+1, txn, "done", reconcile.Record{Step: step, Containers: []string{c + "0c0ffee0"}}),
		}
	}
	var out []reconcile.Record
	out = append(out, rec(1, "t1", "begin", reconcile.Record{FromFP: "hmac:a", ToFP: "hmac:b"}),
		rec(2, "t1", "phase", reconcile.Record{Phase: reconcile.PhaseRolling}))
	out = append(out, roll(3, "t1", "app")...)
	out = append(out, roll(5, "t1", "worker")...)
	out = append(out, rec(7, "t1", "phase", reconcile.Record{Phase: reconcile.PhaseVerified}),
		rec(8, "t1", "phase", reconcile.Record{Phase: reconcile.PhaseFinalizing}))
	out = append(out, roll(9, "t1", "app")...)
	out = append(out, rec(11, "t1", "end", reconcile.Record{Outcome: reconcile.OutcomeFinalized}))
	r2 := reconcile.Record{Revision: "bbbb000000000000000000000000000000000002"}
	out = append(out, rec(20, "t2", "begin", reconcile.Record{Revision: r2.Revision, FromFP: "hmac:b", ToFP: "hmac:c"}))
	out = append(out, roll(21, "t2", "app")...)
	out = append(out, rec(23, "t2", "failed", reconcile.Record{Revision: r2.Revision, Step: "verify http", Reason: "GET http://x: status 500, want 200"}),
		rec(24, "t2", "intent", reconcile.Record{Revision: r2.Revision, Step: "restore"}))
	out = append(out, roll(25, "t2", "app")...)
	return append(out, rec(27, "t2", "end", reconcile.Record{Revision: r2.Revision, Outcome: reconcile.OutcomeRolledBack, Reason: "verify http: status 500"}))
}

func fixtureRunbook(heal bool) Runbook {
	inv := fixtureInventory()
	rb := Runbook{Repo: "/srv/secrets-repo", RepoDir: "/srv/secrets-repo", Commit: "cccc000000000000000000000000000000000003",
		Subject: "rotate again", Project: "shop", ProjectDir: "/srv/shop",
		Compose:  []string{"docker", "compose", "-p", "shop", "--project-directory", "/srv/shop", "-f", "/srv/shop/compose.yaml"},
		StateDir: "/var/lib/rekey", KeyFile: "/root/keys.txt",
		RekeyFlags: []string{"--repo", "/srv/secrets-repo", "--state-dir", "/var/lib/rekey", "--age-key-file", "/root/keys.txt"}}
	for _, row := range inv.Secrets {
		rs := RunbookSecret{Row: row, DesiredFP: "hmac:" + row.Secret, Heal: heal}
		for _, t := range groupTxns(history()) {
			if t.Secret == row.Secret {
				rs.Txns = append(rs.Txns, t)
			}
		}
		if row.Secret == "session-key" {
			rs.Old = OldValue{Commit: "9999000000000000000000000000000000000009", Values: "secrets.sops.yaml", Searched: 2}
		}
		rb.Secrets = append(rb.Secrets, rs)
	}
	return rb
}

func runbookText(rb Runbook) string {
	var b bytes.Buffer
	PrintRunbook(&b, rb)
	return b.String()
}

// section returns the text of one "### " section of one secret.
func section(t *testing.T, doc, secret, title string) string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "\n## "+secret+" ")
	if !ok {
		t.Fatalf("no section for %s", secret)
	}
	rest, _, _ = strings.Cut(rest, "\n## ")
	_, body, ok := strings.Cut(rest, "\n### "+title+"\n")
	if !ok {
		t.Fatalf("no %q section for %s", title, secret)
	}
	body, _, _ = strings.Cut(body, "\n### ")
	return body
}

func TestRunbookIsDeterministic(t *testing.T) {
	if a, b := runbookText(fixtureRunbook(false)), runbookText(fixtureRunbook(false)); a != b {
		t.Fatal("the same inputs printed different runbooks")
	}
}

func TestRunbookSections(t *testing.T) {
	doc := runbookText(fixtureRunbook(false))
	for _, want := range []string{
		"# rekey runbook: compose project `shop`\n",
		"| `session-key` | app-key | app → worker | rolled-back at 2026-11-26T10:41:27Z |\n",
		"| `webhook-token` | token | worker | never (no journal record) |\n",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("runbook lacks %q", want)
		}
	}
	checks := []struct{ title, want string }{
		{"Where it lives", "| `/srv/shop/.env:SESSION_SECRET` | current | app (interpolation:environment); worker (interpolation:command) |\n"},
		{"Who consumes it", "| 2 | `worker` | service | recreate | interpolation:command |\n"},
		{"Restart order", "Configured (`depends_on` order, host files last, never restarted): app → worker.\n"},
		{"Restart order", "Last time it worked: transaction `t1`, outcome `finalized` at 2026-11-26T10:41:11Z:\n\n" +
			"1. 2026-11-26T10:41:03Z recreate `app` (rotation) → container `app0c0ffee0`\n" +
			"2. 2026-11-26T10:41:05Z recreate `worker` (rotation) → container `worker0c0ffee0`\n" +
			"3. 2026-11-26T10:41:09Z recreate `app` (finalize) → container `app0c0ffee0`\n"},
		{"Verification", "- secret: `logs of rolled consumers deny [\"invalid signature\"]`\n- global: `http http://127.0.0.1:8080/healthz → 200`\n"},
		{"Hidden dependencies", "- **shared-variable**: SESSION_SECRET in /srv/shop/.env reaches 2 services (app, worker)"},
		{"Last rotation", "- transaction: `t2`\n- revision: `bbbb000000000000000000000000000000000002`\n- value: `hmac:b` → `hmac:c`\n"},
		{"Last rotation", "- failed at 2026-11-26T10:41:23Z: `GET http://x: status 500, want 200`\n- outcome: `rolled-back` at 2026-11-26T10:41:27Z: `verify http: status 500`\n"},
		{"Last rotation", "Last successful rotation:\n\n- transaction: `t1`\n"},
	}
	for _, c := range checks {
		if body := section(t, doc, "session-key", c.title); !strings.Contains(body, c.want) {
			t.Errorf("%s lacks %q:\n%s", c.title, c.want, body)
		}
	}
	if body := section(t, doc, "webhook-token", "Manual rollback"); !strings.Contains(body, "nothing of rekey's to roll back") {
		t.Errorf("a secret never rotated has nothing to roll back:\n%s", body)
	}
}

func TestRunbookRollbackAppKey(t *testing.T) {
	body := section(t, runbookText(fixtureRunbook(false)), "session-key", "Manual rollback")
	for _, want := range []string{
		"rotation `t1` (`hmac:a` → `hmac:b`, revision `aaaa00000000`)",
		"1. Stop `rekey agent` if one runs on `/var/lib/rekey`. Drift healing is off",
		"2. Get the old value (`hmac:a`) from commit `999900000000`",
		"   ```sh\n   export SOPS_AGE_KEY_FILE=/root/keys.txt\n   git -C /srv/secrets-repo show 9999000000000000000000000000000000000009:secrets.sops.yaml | sops -d --input-type yaml --output-type yaml --extract '[\"session-key\"]' /dev/stdin\n   ```\n",
		"   - `/srv/shop/.env`: set `SESSION_SECRET_PREVIOUS=` to the value the current variable holds now (`hmac:b`), copied over before you change it\n   - `/srv/shop/.env`: set `SESSION_SECRET=` to the old value\n",
		"in roll order (the ones that accept the previous value go first)",
		"   1. `app` (recreate: it reads the value when its container is created):\n\n      ```sh\n      docker compose -p shop --project-directory /srv/shop -f /srv/shop/compose.yaml up -d --no-deps --no-build --pull never app\n      docker compose -p shop --project-directory /srv/shop -f /srv/shop/compose.yaml ps app\n      ```\n   2. `worker`",
		"does not export `SESSION_SECRET` or `SESSION_SECRET_PREVIOUS`",
		"   - `docker compose -p shop --project-directory /srv/shop -f /srv/shop/compose.yaml logs --no-log-prefix --since 10m app worker | grep -F -e 'invalid signature'` prints nothing\n",
		"   - `curl -sS -o /dev/null -w '%{http_code}\\n' http://127.0.0.1:8080/healthz` prints `200`\n",
		"6. Once every consumer runs the old value, clear the previous variable (`/srv/shop/.env:SESSION_SECRET_PREVIOUS`: leave it empty)",
		"7. Confirm: `rekey status --repo /srv/secrets-repo --state-dir /var/lib/rekey --age-key-file /root/keys.txt` shows `live hmac:a` for `session-key`. Git now holds `hmac:session-key`, which rekey has not applied",
		"8. Afterwards: `hmac:a` is revoked in rekey's journal",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("rollback lacks %q:\n%s", want, body)
		}
	}
}

func TestRunbookRollbackToken(t *testing.T) {
	rb := fixtureRunbook(true)
	api := &rb.Secrets[0]
	api.Txns = []Txn{{ID: "t9", Secret: "api-token", Revision: "dddd", FromFP: "hmac:x", ToFP: "hmac:y",
		Outcome: reconcile.OutcomeRotated, Ended: tm(50)}}
	api.Old = OldValue{Searched: 7}
	api.DesiredFP = "hmac:y" // Git still holds what rekey applied
	body := section(t, runbookText(rb), "api-token", "Manual rollback")
	for _, want := range []string{
		"**Stop `rekey agent`** if one runs on `/var/lib/rekey`: drift healing is on for this secret, so at its next run it would put Git's value (`hmac:y`) back",
		"It is in none of the 7 commits up to `dddd`",
		"in reverse roll order (as rekey's own rollback does)",
		"   1. `/etc/shop/backup.env`: a host file, nothing to restart",
		"   2. `worker` (recreate",
		"   - after `/etc/shop/backup.env` only: `/usr/local/bin/backup --check` exits 0\n",
		"`rekey drift` now reports its sources as `source-edited` (exit 6): expected, Git still holds `hmac:y`",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("rollback lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "clear the previous variable") {
		t.Error("a token has no previous variable to clear")
	}
}

func TestRunbookRollbackFileAndOpenTxn(t *testing.T) {
	rb := fixtureRunbook(false)
	wt := &rb.Secrets[2]
	wt.Txns = []Txn{
		{ID: "t5", Secret: "webhook-token", Revision: "eeee", FromFP: "hmac:f", ToFP: "hmac:g", Outcome: reconcile.OutcomeRotated, Ended: tm(5),
			Rolls: []Roll{{Consumer: "worker", Action: reconcile.Restart, Time: tm(4), During: rollRotation}}},
		{ID: "t6", Secret: "webhook-token", Revision: "ffff", FromFP: "hmac:g", ToFP: "hmac:h", OpenPhase: "writing", Began: tm(9)},
	}
	wt.Old = OldValue{Commit: "1234567890abcdef", Values: "vals.env"}
	doc := runbookText(rb)
	body := section(t, doc, "webhook-token", "Manual rollback")
	for _, want := range []string{
		"**A transaction is still open** (`t6`, phase `writing`)",
		"git -C /srv/secrets-repo show 1234567890abcdef:vals.env | sops -d --input-type dotenv --output-type dotenv /dev/stdin | sed -n 's/^webhook-token=//p' > /srv/shop/secrets/token.txt\n",
		"   1. `worker` (restart: it reads a file when it starts):\n\n      ```sh\n      docker compose -p shop --project-directory /srv/shop -f /srv/shop/compose.yaml restart worker\n",
		"Check by hand: no check is configured for this secret",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("rollback lacks %q:\n%s", want, body)
		}
	}
	if last := section(t, doc, "webhook-token", "Last rotation"); !strings.Contains(last, "- still open: phase `writing`\n") {
		t.Errorf("last rotation:\n%s", last)
	}
}

func TestMarkdownAndShellQuoting(t *testing.T) {
	for in, want := range map[string]string{"a": "`a`", "a`b": "`` a`b ``", "``x": "``` ``x ```"} {
		if got := code(in); got != want {
			t.Errorf("code(%q) = %q, want %q", in, got, want)
		}
	}
	if got := cell("a|b"); got != `a\|b` {
		t.Errorf("cell = %q", got)
	}
	for in, want := range map[string]string{"/srv/a.env": "/srv/a.env", "it's": `'it'\''s'`, "": "''", "a b": "'a b'", `["x"]`: `'["x"]'`} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
	if got, err := exec.Command("sh", "-c", "printf %s "+shellQuote(`it's "$HOME" \n`)).Output(); err == nil && string(got) != `it's "$HOME" \n` {
		t.Errorf("sh read back %q", got)
	}
}

// TestRunbookRollbackServer: a server password cannot be rolled back by editing the sources (the server
// revoked the old one): the runbook says so, and says what to do instead.
func TestRunbookRollbackServer(t *testing.T) {
	rb := fixtureRunbook(false)
	var api *RunbookSecret
	for i := range rb.Secrets {
		if rb.Secrets[i].Row.Secret == "api-token" {
			api = &rb.Secrets[i]
		}
	}
	api.Row.Server = &reconcile.Server{Name: "cache", Mechanism: "Redis ACL user default holds the old and the new password at once"}
	body := section(t, runbookText(rb), "api-token", "Manual rollback")
	for _, want := range []string{"The value is a password of the server `cache`", "do not roll back by hand", "`rekey rotate api-token`"} {
		if !strings.Contains(body, want) {
			t.Errorf("rollback lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "sops -d") || strings.Contains(body, "1. ") {
		t.Errorf("rollback still lists source-edit steps:\n%s", body)
	}
	var b bytes.Buffer
	inv := fixtureInventory()
	for i := range inv.Secrets {
		inv.Secrets[i].Server = api.Row.Server
	}
	printInventory(&b, inv)
	if !strings.Contains(b.String(), "server: cache — Redis ACL user default") {
		t.Errorf("inventory does not show the server:\n%s", b.String())
	}
}
