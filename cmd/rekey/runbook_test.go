package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/rekeyhq/rekey/app"
	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/gitsync"
	"github.com/rekeyhq/rekey/internal/fingerprint"
	"github.com/rekeyhq/rekey/journal"
	"github.com/rekeyhq/rekey/reconcile"
	"github.com/rekeyhq/rekey/sopsio"
)

// TestRunbookScripts runs the scripts in testdata/script/journal: they need a journal with a history,
// which only a real apply on Docker writes, so they seed one with journal-record (records as JSON lines).
// TestScripts does not see them: testscript reads one directory, not its subdirectories.
func TestRunbookScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script/journal",
		// [ci]: a tool a script needs must be there in CI, where a skip would hide a missing test.
		Condition: func(cond string) (bool, error) {
			if cond == "ci" {
				return os.Getenv("CI") != "", nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(*testscript.TestScript, bool, []string){
			"journal-record": journalRecord,
			"runbook-sh":     runbookShell,
		},
	})
}

// journalRecord appends records to a state dir's journal: journal-record STATE_DIR REPO KEY_FILE FILE.
// In FILE, @rev(REF) becomes the commit REF names in REPO, and @fp(SECRET@REF) the fingerprint, under
// STATE_DIR's key, of that secret's value at REF: records that match the repository, as apply writes them.
func journalRecord(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: journal-record STATE_DIR REPO KEY_FILE FILE")
	}
	state, repoDir, keyFile := ts.MkAbs(args[0]), ts.MkAbs(args[1]), ts.MkAbs(args[2])
	repo, err := gitsync.Open(context.Background(), repoDir)
	ts.Check(err)
	text := regexp.MustCompile(`@rev\(([^)]+)\)`).ReplaceAllStringFunc(ts.ReadFile(args[3]), func(m string) string {
		return revParse(ts, repoDir, m[5:len(m)-1])
	})
	fp, err := fingerprint.LoadOrCreateKey(state)
	ts.Check(err)
	text = regexp.MustCompile(`@fp\(([^@)]+)@([^)]+)\)`).ReplaceAllStringFunc(text, func(m string) string {
		secret, ref, _ := strings.Cut(m[4:len(m)-1], "@")
		return fp.Of(valueAt(ts, repo, keyFile, secret, revParse(ts, repoDir, ref)))
	})
	j, err := journal.Open(state)
	ts.Check(err)
	defer j.Close()
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var r reconcile.Record
		ts.Check(json.Unmarshal(sc.Bytes(), &r))
		ts.Check(j.Record(context.Background(), r))
	}
}

// revParse names a commit the way git does (HEAD~2), which gitsync deliberately does not.
func revParse(ts *testscript.TestScript, repoDir, ref string) string {
	out, err := exec.Command("git", "-C", repoDir, "rev-parse", "--verify", ref+"^{commit}").Output()
	ts.Check(err)
	return strings.TrimSpace(string(out))
}

func valueAt(ts *testscript.TestScript, repo *gitsync.Repo, keyFile, secret, hash string) string {
	raw, err := repo.ReadFile(hash, app.ConfigFile)
	ts.Check(err)
	cfg, err := config.Parse(app.ConfigFile, raw)
	ts.Check(err)
	data, err := repo.ReadFile(hash, cfg.Values)
	ts.Check(err)
	keys, err := os.ReadFile(keyFile)
	ts.Check(err)
	ids, err := sopsio.LoadIdentities(bytes.NewReader(keys))
	ts.Check(err)
	values, err := sopsio.DecryptValues(data, cfg.Values, ids)
	ts.Check(err)
	return values[secret]
}

// runbookShell runs the first ```sh block of a runbook that contains PATTERN with sh, the way an
// operator would paste it: runbook-sh FILE PATTERN. Its output is the command's stdout and stderr.
func runbookShell(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: runbook-sh FILE PATTERN")
	}
	var cur []string
	in := false
	for _, line := range strings.Split(ts.ReadFile(args[0]), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case !in && trimmed == "```sh":
			in, cur = true, nil
		case in && trimmed == "```":
			in = false
			if block := strings.Join(cur, "\n"); strings.Contains(block, args[1]) {
				ts.Logf("running:\n%s", block)
				if err := ts.Exec("sh", "-c", block); (err != nil) != neg {
					ts.Fatalf("runbook-sh: %v", err)
				}
				return
			}
		case in:
			cur = append(cur, trimmed)
		}
	}
	ts.Fatalf("no sh block of %s contains %q", args[0], args[1])
}
