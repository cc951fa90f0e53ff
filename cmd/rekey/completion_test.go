package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

func completionScript(t *testing.T, shell string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"completion", shell}, env{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }})
	if code != exitOK {
		t.Fatalf("rekey completion %s: exit %d, stderr %q", shell, code, stderr.String())
	}
	return stdout.String()
}

// Every command of the commands map, and every flag of its real flag set, is in every script: a new
// command or flag cannot be forgotten.
func TestCompletionCoversEveryCommand(t *testing.T) {
	cmds, err := completionCommands()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]compCommand{}
	for _, c := range cmds {
		byName[c.name] = c
	}
	for name := range commands {
		if _, ok := byName[name]; !ok {
			t.Errorf("command %s is missing from the completion", name)
		}
	}
	// Spot checks against the flag sets, so that a parser that finds nothing fails.
	want := map[string][]string{
		"agent":  {"repo", "state-dir", "interval", "webhook-addr", "webhook-secret-file", "bootstrap", "signing-key"},
		"apply":  {"repo", "heal", "age-key-file", "output", "trust-ssh", "verify-commits"},
		"values": {"repo", "generate", "age-key-file"},
	}
	for name, flags := range want {
		have := map[string]compFlag{}
		for _, f := range byName[name].flags {
			have[f.name] = f
		}
		for _, f := range flags {
			if _, ok := have[f]; !ok {
				t.Errorf("%s: flag --%s missing (have %v)", name, f, sortedKeys(have))
			}
		}
		if _, ok := have["debug-kill-after-records"]; ok {
			t.Errorf("%s: the testing-only flag is offered", name)
		}
	}
	if f := flagByName(byName["apply"], "output"); !f.value || f.kind != "enum" || strings.Join(f.enum, " ") != "text json" {
		t.Errorf("apply --output: %+v", f)
	}
	if f := flagByName(byName["apply"], "quiet"); f.value {
		t.Errorf("apply --quiet is a bool flag: %+v", f)
	}
	if f := flagByName(byName["agent"], "age-key-file"); f.kind != "file" || !strings.Contains(f.desc, "age identities") {
		t.Errorf("agent --age-key-file: %+v", f)
	}
	if d := byName["plan"].desc; !strings.Contains(d, "show what apply would do") {
		t.Errorf("plan description %q", d)
	}

	for shell := range completionShells {
		script := completionScript(t, shell)
		for _, c := range cmds {
			if !strings.Contains(script, c.name) {
				t.Errorf("%s: command %s missing", shell, c.name)
			}
			for _, f := range c.flags {
				// bash lists --name; zsh specs start with --name; fish says -l name.
				if !strings.Contains(script, "--"+f.name) && !strings.Contains(script, "-l "+f.name+" ") {
					t.Errorf("%s: %s --%s missing", shell, c.name, f.name)
				}
			}
		}
		if strings.Contains(script, "debug-kill-after-records") {
			t.Errorf("%s: the testing-only flag is offered", shell)
		}
	}
}

func flagByName(c compCommand, name string) compFlag {
	for _, f := range c.flags {
		if f.name == name {
			return f
		}
	}
	return compFlag{}
}

// The bash script completes values by flag name across commands: a flag must mean the same everywhere.
func TestCompletionFlagKindsAgree(t *testing.T) {
	cmds, err := completionCommands()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]compFlag{}
	for _, c := range cmds {
		for _, f := range c.flags {
			if g, ok := seen[f.name]; ok && (g.value != f.value || g.kind != f.kind) {
				t.Errorf("--%s: %+v in one command, %+v in %s", f.name, g, f, c.name)
			}
			seen[f.name] = f
		}
	}
}

func TestCompletionUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"completion"}, exitUsage, "usage: rekey completion bash|zsh|fish"},
		{[]string{"completion", "tcsh"}, exitUsage, `unknown shell "tcsh"`},
		{[]string{"completion", "bash", "zsh"}, exitUsage, "usage: rekey completion"},
		{[]string{"completion", "-h"}, exitOK, "usage: rekey completion"},
		{[]string{"help"}, exitOK, "rekey completion bash|zsh|fish"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tc.args, env{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }})
		if code != tc.code || !strings.Contains(stderr.String(), tc.want) || stdout.Len() != 0 {
			t.Errorf("rekey %v: exit %d, stdout %q, stderr %q; want exit %d and %q", tc.args, code, stdout.String(), stderr.String(), tc.code, tc.want)
		}
	}
}

func TestCompletionParseFlagDefaults(t *testing.T) {
	in := "Usage of rekey x:\n" +
		"  -age-key-file string\n    \tage identities (default $SOPS_AGE_KEY_FILE, then ~/.config/sops/age/keys.txt)\n" +
		"  -debug-kill-after-records int\n    \ttesting only: SIGKILL\n" +
		"  -interval duration\n    \treconcile at least this often (default 1m0s)\n" +
		"  -quiet\n    \tprint only the result\n" +
		"  -repo string\n    \tdesired-state repository\n    \tsecond line (default \".\")\n" +
		"  -x\tone letter\n"
	got := parseFlagDefaults(in)
	want := []compFlag{
		{name: "age-key-file", desc: "age identities (default $SOPS_AGE_KEY_FILE, then ~/.config/sops/age/keys.txt)", value: true, kind: "file"},
		{name: "interval", desc: "reconcile at least this often", value: true},
		{name: "quiet", desc: "print only the result"},
		{name: "repo", desc: "desired-state repository", value: true, kind: "dir"},
		{name: "x", desc: "one letter"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i].name != want[i].name || got[i].desc != want[i].desc || got[i].value != want[i].value || got[i].kind != want[i].kind {
			t.Errorf("flag %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

// The bash script, loaded in a real bash, completing simulated command lines (COMP_WORDS as bash splits
// them: --flag=value is three words).
func TestCompletionBash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "rekey.bash")
	if err := os.WriteFile(script, []byte(completionScript(t, "bash")), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"keys.txt", "keyring.asc"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "state"), 0o700); err != nil {
		t.Fatal(err)
	}
	harness := `set -u
source "$1" || exit 1
complete -p rekey
comp() {
	COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_rekey rekey "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
	printf '%s\n' "$* => $(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ')"
}
comp rekey ap
comp rekey ''
comp rekey re
comp rekey apply --ou
comp rekey apply --output ''
comp rekey apply --output = j
comp rekey plan -verify-commits s
comp rekey agent --webhook-a
comp rekey agent --interval ''
comp rekey agent --age-key-file k
comp rekey agent --state-dir s
comp rekey values ''
comp rekey values set --g
comp rekey completion ''
comp rekey completion z
comp rekey version --
comp rekey history output ''
`
	cmd := exec.Command(bash, "--norc", "--noprofile", "-c", harness, "harness", script)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	got := string(out)
	names := sortedKeys(commands)
	names = append(names, "help")
	sort.Strings(names)
	for _, want := range []string{
		"complete -F _rekey rekey\n",
		"rekey ap => apply \n",
		"rekey  => " + strings.Join(names, " ") + " \n",
		"rekey re => reconcile \n",
		"rekey apply --ou => --output \n",
		"rekey apply --output  => json text \n",
		"rekey apply --output = j => json \n",
		"rekey plan -verify-commits s => strict \n",
		"rekey agent --webhook-a => --webhook-addr \n",
		"rekey agent --interval  =>  \n", // a duration: nothing to list, and no flags either
		"rekey agent --age-key-file k => keyring.asc keys.txt \n",
		"rekey agent --state-dir s => state \n",
		"rekey values  => set \n",
		"rekey values set --g => --generate \n",
		"rekey completion  => bash fish zsh \n",
		"rekey completion z => zsh \n",
		"rekey version -- =>  \n",
		"rekey history output  =>  \n", // a positional word, not the flag --output
	} {
		if !strings.Contains(got, want) {
			t.Errorf("want %q in:\n%s", want, got)
		}
	}
}

// The fish script in a real fish (skipped where fish is not installed).
func TestCompletionFish(t *testing.T) {
	fish, err := exec.LookPath("fish")
	if err != nil {
		skipOutsideCI(t, "no fish (scripts/setup.sh installs it)")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "rekey.fish")
	if err := os.WriteFile(script, []byte(completionScript(t, "fish")), 0o644); err != nil {
		t.Fatal(err)
	}
	harness := `source $argv[1]; or exit 1
for line in 'rekey ap' 'rekey apply --out' 'rekey apply --output ' 'rekey values ' 'rekey completion ' 'rekey agent --webhook-a'
	echo "$line => "(complete -C $line | string split -f1 \t | sort | string join ' ')
end`
	cmd := exec.Command(fish, "--no-config", "-c", harness, script)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "LC_ALL=C"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("fish: %v\n%s", err, out)
	}
	for _, want := range []string{
		"rekey ap => apply\n",
		"rekey apply --out => --output\n",
		"rekey apply --output  => json text\n",
		"rekey values  => set\n",
		"rekey completion  => bash fish zsh\n",
		"rekey agent --webhook-a => --webhook-addr\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
}

// zshCapture drives an interactive zsh through zpty, presses Tab and prints what compadd was given
// (after github.com/Valodim/zsh-capture-completion).
const zshCapture = `zmodload zsh/zpty || exit 3
zpty z ZT_FPATH=$1 zsh -f -i
zpty -w z "source ${0:h}/init.zsh"
zpty -w z "$2"$'\t'
integer tog=0
while zpty -r z; do :; done | while IFS= read -r line; do
	if [[ $line == *$'\0\r' ]]; then (( tog++ )) && return 0 || continue; fi
	(( tog )) && print -r -- "${line%$'\r'}"
done
return 2
`

const zshInit = `PROMPT=
fpath=($ZT_FPATH $fpath)
autoload -U compinit && compinit -u -D
bindkey '^M' undefined
bindkey '^J' undefined
bindkey '^I' complete-word
null-line() { echo -E - $'\0' }
compprefuncs=( null-line )
comppostfuncs=( null-line exit )
zstyle ':completion:*' list-grouped false
zstyle ':completion:*' insert-tab false
compadd () {
	if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
		builtin compadd "$@"
		return $?
	fi
	typeset -a __hits
	builtin compadd -A __hits "$@"
	setopt localoptions norcexpandparam extendedglob
	typeset -A apre hpre hsuf asuf
	zparseopts -E P:=apre p:=hpre S:=asuf s:=hsuf
	(( $#__hits )) || return
	for i in {1..$#__hits}; do
		echo -E - "HIT $IPREFIX$apre$hpre$__hits[$i]$hsuf$asuf"
	done
}
`

// The zsh script as an autoloaded function in a real zsh (skipped where zsh is not installed).
func TestCompletionZsh(t *testing.T) {
	zsh, err := exec.LookPath("zsh")
	if err != nil {
		skipOutsideCI(t, "no zsh (scripts/setup.sh installs it)")
	}
	dir := t.TempDir()
	for name, content := range map[string]string{"_rekey": completionScript(t, "zsh"), "capture.zsh": zshCapture, "init.zsh": zshInit} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for line, want := range map[string]string{
		"rekey ap":                "apply",
		"rekey apply --out":       "--output",
		"rekey apply --output ":   "json text",
		"rekey apply --output=":   "--output=json --output=text",
		"rekey values ":           "set",
		"rekey completion ":       "bash fish zsh",
		"rekey agent --webhook-a": "--webhook-addr",
	} {
		t.Run(strings.ReplaceAll(line, " ", "_"), func(t *testing.T) {
			t.Parallel() // each starts an interactive zsh and runs compinit: about a second
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, zsh, "-f", filepath.Join(dir, "capture.zsh"), dir, line)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "LC_ALL=C", "TERM=dumb"}
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("zsh completing %q: %v\n%s", line, err, out)
			}
			var hits []string
			for _, l := range strings.Split(string(out), "\n") {
				if h, ok := strings.CutPrefix(strings.TrimSpace(l), "HIT "); ok {
					hits = append(hits, h)
				}
			}
			sort.Strings(hits)
			if got := strings.Join(hits, " "); got != want {
				t.Errorf("zsh completing %q: got %q, want %q\n%s", line, got, want, out)
			}
		})
	}
}

// skipOutsideCI skips a test whose tool is missing, except in CI, where a skip would hide a test that
// never ran: there it fails.
func skipOutsideCI(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
}
