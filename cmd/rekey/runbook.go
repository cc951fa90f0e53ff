package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/internal/redact"
	"github.com/rekeyhq/rekey/journal"
	"github.com/rekeyhq/rekey/reconcile"
	"github.com/rekeyhq/rekey/sopsio"
)

// oldValueSearch is how many commits touching rekey.yaml or the values file the runbook reads back from a
// rotation's revision to find the value that rotation replaced.
const oldValueSearch = 100

// runbook is everything the Markdown runbook says: the desired state, per secret its inventory row, and
// what the journal remembers. It is plain data, so the same inputs always print the same bytes.
type runbook struct {
	Repo       string   // as shown to humans
	RepoDir    string   // where `git -C` finds it (the clone in the state dir for a URL)
	Commit     string   // the commit the desired state was read at
	Subject    string   // its first line
	Project    string   // the compose project
	ProjectDir string   // its directory
	Compose    []string // the compose command with -p, --project-directory and -f, as rekey runs it
	StateDir   string
	KeyFile    string
	RekeyFlags []string // the flags that point rekey at this repo, state dir and key
	Secrets    []runbookSecret
}

// runbookSecret is one secret of the runbook.
type runbookSecret struct {
	Row       inventoryRow
	DesiredFP string
	Heal      bool
	Txns      []historyTxn // its transactions, in the order they began
	Old       oldValue     // where Git holds the value the last good rotation replaced
}

// oldValue is the commit holding a value, found by fingerprint.
type oldValue struct {
	Commit   string // "" when not found
	Values   string // the values file at that commit
	Searched int    // commits read
	Err      string // why the search stopped early
}

func cmdRunbook(ctx context.Context, args []string, e env) error {
	var o options
	fs := newFlagSet("runbook", e.stderr, &o)
	only := fs.String("secret", "", "only this secret (default: every secret)")
	if err := o.parse(fs, args); err != nil {
		return err
	}
	if o.json() {
		return usageError("runbook writes Markdown only: drop --output json (rekey inventory --output json has the map)")
	}
	s, err := load(ctx, &o, e)
	if err != nil {
		return err
	}
	if *only != "" && s.cfg.Secrets[*only] == nil {
		return fmt.Errorf("secret %s is not declared in %s (declared: %s)", *only, configFile, strings.Join(s.cfg.Names(), ", "))
	}
	rb, red, err := s.runbook(ctx, *only)
	if err != nil {
		return s.redact.Error(err)
	}
	var b bytes.Buffer
	printRunbook(&b, rb)
	_, err = io.WriteString(e.stdout, s.redact.String(red.String(b.String())))
	return err
}

// runbook gathers the runbook of the loaded desired state: the inventory, the journal, and for each
// secret the commit that holds the value its last good rotation replaced. The redactor knows every value
// decrypted from older commits on the way.
func (s *session) runbook(ctx context.Context, only string) (runbook, *redact.Redactor, error) {
	inv, err := s.inventory(ctx)
	if err != nil {
		return runbook{}, nil, err
	}
	j, err := journal.Open(s.o.stateDir)
	if err != nil {
		return runbook{}, nil, err
	}
	recs, err := j.All()
	j.Close()
	if err != nil {
		return runbook{}, nil, err
	}
	keyFile, err := s.o.keyFile(s.e)
	if err != nil {
		return runbook{}, nil, err
	}
	if abs, err := filepath.Abs(keyFile); err == nil {
		keyFile = abs // the runbook is read from anywhere, at 3 am
	}
	ids, err := identities(s.o, s.e)
	if err != nil {
		return runbook{}, nil, err
	}
	h := &historian{repo: s.repo, ids: ids, fp: s.fp, states: map[string]*commitState{}}
	rb := s.runbookHeader(keyFile)
	txns := groupTxns(recs)
	for i, row := range inv.Secrets {
		if only != "" && row.Secret != only {
			continue
		}
		rs := runbookSecret{Row: row, DesiredFP: s.desired.Secrets[i].DesiredFP, Heal: s.cfg.Heals(row.Secret)}
		for _, t := range txns {
			if t.Secret == row.Secret {
				rs.Txns = append(rs.Txns, t)
			}
		}
		if good := lastGood(rs.Txns); good != nil && good.FromFP != "" {
			rs.Old = s.findValue(ctx, h, row.Secret, good.FromFP, good.Revision)
		}
		rb.Secrets = append(rb.Secrets, rs)
	}
	return rb, redact.New(h.values...), nil
}

func (s *session) runbookHeader(keyFile string) runbook {
	command := s.cfg.Compose.Command
	if len(command) == 0 {
		command = []string{"docker", "compose"}
	}
	compose := append(slices.Clone(command), "-p", s.project.Name(), "--project-directory", s.project.Dir())
	for _, f := range s.project.Files() {
		compose = append(compose, "-f", f)
	}
	flags := []string{"--repo", s.repo.String()}
	if s.o.ref != "" {
		flags = append(flags, "--ref", s.o.ref)
	}
	flags = append(flags, "--state-dir", s.o.stateDir, "--age-key-file", keyFile)
	return runbook{Repo: s.repo.String(), RepoDir: s.repo.Dir(), Commit: s.commit.Hash, Subject: firstLine(s.commit.Message),
		Project: s.project.Name(), ProjectDir: s.project.Dir(), Compose: compose, StateDir: s.o.stateDir,
		KeyFile: keyFile, RekeyFlags: flags}
}

// findValue finds the newest commit, from revision back, whose value of secret has fingerprint fp: that
// is where a human gets the value back from, since rekey keeps no plaintext once a transaction ended.
// Nothing here is fatal: a runbook without that commit still says where to look.
func (s *session) findValue(ctx context.Context, h *historian, secret, fp, revision string) oldValue {
	var out oldValue
	commits, err := s.repo.Log(revision, []string{configFile, s.cfg.Values}, oldValueSearch)
	if err != nil {
		out.Err = err.Error()
		return out
	}
	for _, c := range commits {
		if err := ctx.Err(); err != nil {
			out.Err = err.Error()
			return out
		}
		out.Searched++
		if st := h.state(c.Hash); st.err != nil || st.fps[secret] != fp {
			continue
		}
		raw, err := s.repo.ReadFile(c.Hash, configFile)
		if err != nil {
			out.Err = err.Error()
			return out
		}
		cfg, err := config.Parse(configFile, raw)
		if err != nil {
			out.Err = err.Error()
			return out
		}
		out.Commit, out.Values = c.Hash, cfg.Values
		return out
	}
	return out
}

// lastGood is the last transaction that ended with the new value verified everywhere and the old one gone.
func lastGood(txns []historyTxn) *historyTxn {
	for i := len(txns) - 1; i >= 0; i-- {
		if o := txns[i].Outcome; o == reconcile.OutcomeRotated || o == reconcile.OutcomeFinalized {
			return &txns[i]
		}
	}
	return nil
}

// printRunbook writes the whole runbook.
func printRunbook(w io.Writer, rb runbook) {
	fmt.Fprintf(w, "# rekey runbook: compose project %s\n\n", code(rb.Project))
	fmt.Fprintf(w, "Generated by `rekey runbook` from `rekey.yaml` at commit %s (%s) of %s, and the journal in %s.\n",
		code(rb.Commit), rb.Subject, code(rb.Repo), code(rb.StateDir))
	fmt.Fprintln(w, "No value appears here: secrets are named by their HMAC fingerprint (`hmac:…`) under this host's key.")
	fmt.Fprintf(w, "\nProject directory: %s. Compose, as rekey runs it: %s.\n", code(rb.ProjectDir), code(shellJoin(rb.Compose)))
	fmt.Fprintln(w, "\n| secret | kind | restart order | last rotation |\n|---|---|---|---|")
	for _, sec := range rb.Secrets {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", cell(code(sec.Row.Secret)), sec.Row.Kind, cell(orderText(sec.Row.RestartOrder)), cell(lastSummary(sec.Txns)))
	}
	for _, sec := range rb.Secrets {
		printRunbookSecret(w, rb, sec)
	}
}

func lastSummary(txns []historyTxn) string {
	if len(txns) == 0 {
		return "never (no journal record)"
	}
	t := txns[len(txns)-1]
	if t.Outcome == "" {
		return "still open: " + t.OpenPhase
	}
	return fmt.Sprintf("%s at %s", t.Outcome, stamp(t.Ended))
}

func printRunbookSecret(w io.Writer, rb runbook, sec runbookSecret) {
	row := sec.Row
	fmt.Fprintf(w, "\n## %s (%s)\n\n", row.Secret, row.Kind)
	heal := "off: a hand edit is reported as drift and left alone"
	if sec.Heal {
		heal = "on: rekey puts Git's value back over a hand edit"
	}
	fmt.Fprintf(w, "Desired value: %s (Git at %s). Drift healing: %s.\n", code(sec.DesiredFP), code(short(rb.Commit)), heal)
	fmt.Fprintln(w, "\n### Where it lives\n\n| location | holds | read by |\n|---|---|---|")
	for _, src := range row.Sources {
		fmt.Fprintf(w, "| %s | %s | %s |\n", cell(code(src.Location)), src.Holds, cell(readerText(src.ReadBy)))
	}
	fmt.Fprintln(w, "\n### Who consumes it\n\n| # | consumer | type | picks up a new value by | via |\n|---|---|---|---|---|")
	for i, c := range row.Consumers {
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s |\n", i+1, cell(code(c.Name)), c.Type, c.Action, cell(strings.Join(c.Via, ", ")))
	}
	printRestartOrder(w, sec)
	fmt.Fprintln(w, "\n### Verification")
	printCheckList(w, row)
	fmt.Fprintln(w, "\n### Hidden dependencies")
	fmt.Fprintln(w)
	if len(row.Hidden) == 0 {
		fmt.Fprintln(w, "None found.")
	}
	for _, h := range row.Hidden {
		fmt.Fprintf(w, "- **%s**: %s\n", h.Kind, h.Note)
	}
	printLastRotation(w, sec)
	printRollback(w, rb, sec)
}

func readerText(rs []invReader) string {
	if len(rs) == 0 {
		return "(no consumer reads it here)"
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%s (%s)", r.Consumer, strings.Join(r.Via, ", "))
	}
	return strings.Join(parts, "; ")
}

// printRestartOrder shows the configured order and the order the journal saw work last time.
func printRestartOrder(w io.Writer, sec runbookSecret) {
	fmt.Fprintln(w, "\n### Restart order")
	fmt.Fprintf(w, "\nConfigured (`depends_on` order, host files last, never restarted): %s.\n", orderText(sec.Row.RestartOrder))
	good := lastGood(sec.Txns)
	if good == nil {
		fmt.Fprintln(w, "\nNo rotation of this secret has completed from this state dir: no order is proven yet.")
		return
	}
	fmt.Fprintf(w, "\nLast time it worked: transaction %s, outcome `%s` at %s:\n\n", code(good.ID), good.Outcome, stamp(good.Ended))
	var done []string
	n := 0
	for _, r := range good.Rolls {
		if r.During == rollRollback {
			continue
		}
		n++
		line := fmt.Sprintf("%d. %s %s %s (%s)", n, stamp(r.Time), r.Action, code(r.Consumer), r.During)
		if len(r.Containers) > 0 {
			line += " → container " + code(strings.Join(r.Containers, ", "))
		}
		fmt.Fprintln(w, line)
		if r.During == rollRotation {
			done = append(done, r.Consumer)
		}
	}
	if n == 0 {
		fmt.Fprintln(w, "(no consumer was rolled: host files only)")
	}
	if !slices.Equal(done, sec.Row.RestartOrder) {
		fmt.Fprintf(w, "\nThat differs from the configured order (%s): the configuration changed since, and the next rotation follows the configured one.\n", orderText(sec.Row.RestartOrder))
	}
}

// printCheckList lists the checks in the order rekey runs them after each consumer rolls.
func printCheckList(w io.Writer, row inventoryRow) {
	fmt.Fprintln(w, "\nAfter each consumer rolls and passes the health gate, rekey runs, in this order:")
	fmt.Fprintln(w)
	n := 0
	for _, c := range row.Consumers {
		for _, ch := range c.Checks {
			n++
			fmt.Fprintf(w, "- after %s only: %s\n", code(c.Name), code(ch.Text))
		}
	}
	for _, ch := range row.Checks {
		n++
		fmt.Fprintf(w, "- %s: %s\n", ch.Scope, code(ch.Text))
	}
	if n == 0 {
		fmt.Fprintln(w, "- nothing but the health gate: no check is configured for this secret")
	}
}

func printLastRotation(w io.Writer, sec runbookSecret) {
	fmt.Fprintln(w, "\n### Last rotation")
	fmt.Fprintln(w)
	if len(sec.Txns) == 0 {
		fmt.Fprintln(w, "rekey has not rotated this secret from this state dir.")
		return
	}
	t := sec.Txns[len(sec.Txns)-1]
	printTxnFacts(w, t)
	if good := lastGood(sec.Txns); good != nil && good.ID != t.ID {
		fmt.Fprintln(w, "\nLast successful rotation:")
		fmt.Fprintln(w)
		printTxnFacts(w, *good)
	}
}

func printTxnFacts(w io.Writer, t historyTxn) {
	fmt.Fprintf(w, "- transaction: %s\n", code(t.ID))
	fmt.Fprintf(w, "- revision: %s\n", code(t.Revision))
	fmt.Fprintf(w, "- value: %s → %s\n", code(orNone(t.FromFP)), code(orNone(t.ToFP)))
	fmt.Fprintf(w, "- began: %s\n", stamp(t.Began))
	if !t.Verified.IsZero() {
		fmt.Fprintf(w, "- verified by every consumer: %s\n", stamp(t.Verified))
	}
	for _, f := range t.Failures {
		fmt.Fprintf(w, "- failed at %s: %s\n", stamp(f.Time), code(orNone(f.Reason)))
	}
	if t.Outcome == "" {
		fmt.Fprintf(w, "- still open: phase `%s`\n", t.OpenPhase)
		return
	}
	line := fmt.Sprintf("- outcome: `%s` at %s", t.Outcome, stamp(t.Ended))
	if t.Reason != "" {
		line += ": " + code(t.Reason)
	}
	fmt.Fprintln(w, line)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "(unknown)"
	}
	return t.UTC().Format(time.RFC3339)
}

// printRollback writes the manual rollback of the last good rotation, for a human with no rekey to lean
// on: where the old value is, where it goes, in which order to restart, what to check.
func printRollback(w io.Writer, rb runbook, sec runbookSecret) {
	fmt.Fprintln(w, "\n### Manual rollback")
	fmt.Fprintln(w)
	if n := len(sec.Txns); n > 0 && sec.Txns[n-1].Outcome == "" {
		t := sec.Txns[n-1]
		fmt.Fprintf(w, "**A transaction is still open** (%s, phase `%s`): rekey still owns this secret. Run `rekey status %s`; `rekey apply` finishes an interrupted transaction (rolled back before `verified`, completed after). Roll back by hand only once it has ended.\n\n",
			code(t.ID), t.OpenPhase, shellJoin(rb.RekeyFlags))
	}
	if srv := sec.Row.Server; srv != nil {
		fmt.Fprintf(w, "The value is a password of the server %s (%s). A finished rotation revoked the old password there, so putting the old value back in the sources would lock every consumer out: do not roll back by hand. Commit a new value instead (`rekey rotate %s`, or `rekey values set --generate 32 %s` and a commit): rekey stages it on the server, moves the consumers and revokes the current one. While a rotation is still open, `rekey apply` rolls it back on the server and in the sources together.\n",
			code(srv.Name), srv.Mechanism, sec.Row.Secret, sec.Row.Secret)
		return
	}
	good := lastGood(sec.Txns)
	if good == nil {
		fmt.Fprintln(w, "rekey has no completed rotation of this secret in this state dir, so there is nothing of rekey's to roll back: the live value was there before rekey (or came from another state dir).")
		return
	}
	fmt.Fprintf(w, "For when rotation %s (%s → %s, revision %s) passed rekey's checks but broke something they do not cover. rekey keeps no plaintext backup once a transaction has ended: the old value comes from Git history. Each step names the files and commands; nothing here prints a value except step 2.\n\n",
		code(good.ID), code(good.FromFP), code(good.ToFP), code(short(good.Revision)))
	step := rollbackSteps(rb, sec, *good)
	for i, s := range step {
		fmt.Fprintf(w, "%d. %s\n", i+1, indent(s, "   "))
		if i < len(step)-1 {
			fmt.Fprintln(w)
		}
	}
}

// rollbackSteps are the numbered steps, each a Markdown paragraph (continuation lines are indented by
// the caller).
func rollbackSteps(rb runbook, sec runbookSecret, good historyTxn) []string {
	agent := fmt.Sprintf("Stop `rekey agent` if one runs on %s. Drift healing is off for this secret, so it would report your edit and leave it; stopping it keeps a new commit or a scheduled rotation from landing halfway through.", code(rb.StateDir))
	if sec.Heal {
		agent = fmt.Sprintf("**Stop `rekey agent`** if one runs on %s: drift healing is on for this secret, so at its next run it would put Git's value (%s) back over your edit.", code(rb.StateDir), code(sec.DesiredFP))
	}
	steps := []string{agent, oldValueStep(rb, sec, good), restoreStep(rb, sec, good), restartStep(rb, sec), checksStep(rb, sec.Row)}
	if sec.Row.Kind == reconcile.KindAppKey {
		steps = append(steps, fmt.Sprintf("Once every consumer runs the old value, clear the previous variable (%s: leave it empty) and restart the consumers again in the same order, with the checks after each: until then they still accept %s.",
			locationList(sec.Row, locationPrevious), code(good.ToFP)))
	}
	steps = append(steps,
		confirmStep(rb, sec, good),
		fmt.Sprintf("Afterwards: %s is revoked in rekey's journal, so rekey refuses to apply it again (outcome `refused`, exit 5): do not `git revert` the rotation. Fix what broke, then commit a new value (`rekey rotate %s`, or `rekey values set --generate 32 %s` and a commit) and start the agent again: rekey rolls it out with its checks.",
			code(good.FromFP), sec.Row.Secret, sec.Row.Secret))
	return steps
}

// confirmStep says how rekey sees the result: a hand edit (drift) while Git still holds the value rekey
// applied, or a pending rotation when Git has moved on since (a later value that rolled back, say).
func confirmStep(rb runbook, sec runbookSecret, good historyTxn) string {
	status := fmt.Sprintf("Confirm: `rekey status %s` shows `live %s` for %s.", shellJoin(rb.RekeyFlags), good.FromFP, code(sec.Row.Secret))
	if sec.DesiredFP == good.ToFP {
		return status + fmt.Sprintf(" `rekey drift` now reports its sources as `source-edited` (exit 6): expected, Git still holds %s, the value rekey applied.", code(good.ToFP))
	}
	return status + fmt.Sprintf(" Git now holds %s, which rekey has not applied: `rekey plan` shows a rotation to it, and the next `rekey apply` would roll it out. Keep the agent stopped until Git holds a value you want.", code(sec.DesiredFP))
}

// oldValueStep says where Git holds the value the rotation replaced.
func oldValueStep(rb runbook, sec runbookSecret, good historyTxn) string {
	if good.FromFP == "" {
		return "There is no old value to get: the locations were empty before that rotation, so rolling back means emptying them again."
	}
	if sec.Old.Commit == "" {
		why := ""
		if sec.Old.Err != "" {
			why = " (the search stopped: " + code(sec.Old.Err) + ")"
		}
		return fmt.Sprintf("Find the old value (%s). It is in none of the %d commits up to %s that touch `rekey.yaml` or the values file%s: it was live before rekey managed this secret, or came from elsewhere. Restore it from your own records; the steps below assume you have it.",
			code(good.FromFP), sec.Old.Searched, code(short(good.Revision)), why)
	}
	return fmt.Sprintf("Get the old value (%s) from commit %s, the newest commit up to %s that holds it (found by fingerprint). This prints the value: use a private terminal.\n\n```sh\nexport SOPS_AGE_KEY_FILE=%s\n%s\n```",
		code(good.FromFP), code(short(sec.Old.Commit)), code(short(good.Revision)), shellQuote(rb.KeyFile), decryptCommand(rb, sec))
}

// decryptCommand prints one secret's value from the values file of an older commit.
func decryptCommand(rb runbook, sec runbookSecret) string {
	show := shellJoin([]string{"git", "-C", rb.RepoDir, "show", sec.Old.Commit + ":" + sec.Old.Values})
	format := sopsio.FormatForPath(sec.Old.Values).String()
	if format == sopsio.FormatDotenv.String() {
		return fmt.Sprintf("%s | sops -d --input-type dotenv --output-type dotenv /dev/stdin | sed -n %s", show,
			shellQuote("s/^"+regexp.QuoteMeta(sec.Row.Secret)+"=//p"))
	}
	return fmt.Sprintf("%s | sops -d --input-type %s --output-type %s --extract %s /dev/stdin", show, format, format,
		shellQuote(fmt.Sprintf("[%q]", sec.Row.Secret)))
}

// restoreStep says what to write where. An app key goes back the way rekey rotates: the old value as
// current and the value live now as previous, so a consumer not restarted yet is still accepted.
func restoreStep(rb runbook, sec runbookSecret, good historyTxn) string {
	var b strings.Builder
	b.WriteString("Put it back at every location, editing the files in place:\n")
	// Previous first: it takes the value current holds now, which the next lines overwrite.
	sources := slices.Clone(sec.Row.Sources)
	slices.SortStableFunc(sources, func(a, b invSource) int { return boolCmp(a.Holds != locationPrevious, b.Holds != locationPrevious) })
	for _, src := range sources {
		what := "the old value"
		if src.Holds == locationPrevious {
			what = fmt.Sprintf("the value the current variable holds now (%s), copied over before you change it", code(good.ToFP))
		}
		switch {
		case src.Key != "":
			fmt.Fprintf(&b, "\n- %s: set %s to %s", code(src.Path), code(src.Key+"="), what)
		case sec.Old.Commit != "":
			fmt.Fprintf(&b, "\n- %s: the whole file is the value; `>` rewrites it in place (same inode, owner and mode):\n\n  ```sh\n  %s > %s\n  ```",
				code(src.Path), decryptCommand(rb, sec), shellQuote(src.Path))
		default:
			fmt.Fprintf(&b, "\n- %s: the whole file is the value; write it in place (`cat > FILE`, no editor that replaces the file), with no trailing newline", code(src.Path))
		}
	}
	if slices.ContainsFunc(sec.Row.Sources, func(s invSource) bool { return s.Key != "" }) {
		b.WriteString("\n\nIn an env file, write the value in single quotes (`VAR='…'`) unless it holds one: Compose reads single-quoted values literally.")
	}
	return b.String()
}

// restartStep lists the consumers to restart. A token goes back in reverse roll order, as rekey's own
// rollback does. An app key goes in roll order: the consumers that accept the previous value come first,
// so each one restarted meets peers that accept what it now uses.
func restartStep(rb runbook, sec runbookSecret) string {
	var b strings.Builder
	order := slices.Clone(sec.Row.Consumers)
	if sec.Row.Kind == reconcile.KindAppKey {
		b.WriteString("Restart the consumers one at a time, in roll order (the ones that accept the previous value go first), waiting until each is running and healthy (`ps` below) and running the checks of the next step before the next one:\n")
	} else {
		slices.Reverse(order)
		b.WriteString("Restart the consumers one at a time, in reverse roll order (as rekey's own rollback does), waiting until each is running and healthy (`ps` below) and running the checks of the next step before the next one:\n")
	}
	n := 0
	for _, c := range order {
		n++
		switch c.Action {
		case reconcile.Recreate:
			fmt.Fprintf(&b, "\n%d. %s (recreate: it reads the value when its container is created):\n\n   ```sh\n   %s\n   %s\n   ```", n, code(c.Name),
				shellJoin(append(slices.Clone(rb.Compose), "up", "-d", "--no-deps", "--no-build", "--pull", "never", c.Name)),
				shellJoin(append(slices.Clone(rb.Compose), "ps", c.Name)))
		case reconcile.Restart:
			fmt.Fprintf(&b, "\n%d. %s (restart: it reads a file when it starts):\n\n   ```sh\n   %s\n   %s\n   ```", n, code(c.Name),
				shellJoin(append(slices.Clone(rb.Compose), "restart", c.Name)),
				shellJoin(append(slices.Clone(rb.Compose), "ps", c.Name)))
		default:
			fmt.Fprintf(&b, "\n%d. %s: a host file, nothing to restart; make sure whatever reads it (cron, scripts) picks the old value up, by running it by hand if you can.", n, code(c.Name))
		}
	}
	if n == 0 {
		b.WriteString("\n(no consumer)")
	}
	if vars := envKeys(sec.Row); len(vars) > 0 {
		fmt.Fprintf(&b, "\n\nRun these from a shell that does not export %s: an exported variable overrides `.env` for your `docker compose` (rekey's own runs do not see it).", strings.Join(vars, " or "))
	}
	return b.String()
}

// envKeys are the variables of the secret that Compose interpolates from the project .env.
func envKeys(row inventoryRow) []string {
	var out []string
	for _, src := range row.Sources {
		for _, r := range src.ReadBy {
			if src.Key != "" && slices.ContainsFunc(r.Via, func(v string) bool { return strings.HasPrefix(v, interpPrefix) }) && !slices.Contains(out, code(src.Key)) {
				out = append(out, code(src.Key))
			}
		}
	}
	return out
}

// checksStep turns each check into the command a human runs for it.
func checksStep(rb runbook, row inventoryRow) string {
	var lines []string
	for _, c := range row.Consumers {
		for _, ch := range c.Checks {
			lines = append(lines, fmt.Sprintf("- after %s only: %s", code(c.Name), checkCommand(rb, row, ch.Check)))
		}
	}
	for _, ch := range row.Checks {
		lines = append(lines, "- "+checkCommand(rb, row, ch.Check))
	}
	if len(lines) == 0 {
		return "Check by hand: no check is configured for this secret, so look at the logs and try the service (`" +
			shellJoin(append(slices.Clone(rb.Compose), "logs", "--since", "10m")) + "`)."
	}
	return "Run the checks rekey ran, after each consumer:\n\n" + strings.Join(lines, "\n")
}

func checkCommand(rb runbook, row inventoryRow, ch reconcile.Check) string {
	switch ch.Kind {
	case reconcile.CheckHTTP:
		return fmt.Sprintf("%s prints `%d`", code("curl -sS -o /dev/null -w '%{http_code}\\n' "+shellQuote(ch.URL)), ch.Status)
	case reconcile.CheckExec:
		return fmt.Sprintf("%s exits 0", code(shellJoin(append(append(slices.Clone(rb.Compose), "exec", "-T", ch.Service), ch.Cmd...))))
	case reconcile.CheckLogs:
		services := []string{ch.Service}
		if ch.Service == "" {
			services = slices.Clone(row.RestartOrder) // what rekey calls the rolled consumers

		}
		grep := []string{"grep", "-F"}
		for _, d := range ch.Deny {
			grep = append(grep, "-e", d)
		}
		logs := append(append(slices.Clone(rb.Compose), "logs", "--no-log-prefix", "--since", "10m"), services...)
		return fmt.Sprintf("%s prints nothing", code(shellJoin(logs)+" | "+shellJoin(grep)))
	case reconcile.CheckCmd:
		return fmt.Sprintf("%s exits 0", code(shellJoin(ch.Cmd)))
	}
	return code(ch.String())
}

// locationList names the locations that hold one role.
func locationList(row inventoryRow, holds string) string {
	var out []string
	for _, src := range row.Sources {
		if src.Holds == holds {
			out = append(out, code(src.Location))
		}
	}
	return strings.Join(out, ", ")
}

// code is s as a Markdown code span: the fence is one backtick longer than the longest run inside.
func code(s string) string {
	run, longest := 0, 0
	for _, r := range s {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", longest+1)
	if longest > 0 {
		return fence + " " + s + " " + fence
	}
	return fence + s + fence
}

// cell makes text safe in a table cell: a pipe would end the cell even inside a code span.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9@%_+=:,./-]+$`)

// shellQuote quotes one word for a POSIX shell.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func shellJoin(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = shellQuote(w)
	}
	return strings.Join(out, " ")
}

// indent indents every line after the first, leaving blank lines blank.
func indent(s, pad string) string {
	lines := strings.Split(s, "\n")
	for i := 1; i < len(lines); i++ {
		if lines[i] != "" {
			lines[i] = pad + lines[i]
		}
	}
	return strings.Join(lines, "\n")
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
