package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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

// complete asks the binary what a shell would offer for the command line args (the last word is the one
// completed), through cobra's hidden __complete command, as every generated script does. It returns the
// words offered and the directive line (":4" = no file names, ":0" = the shell may offer files).
func complete(t *testing.T, args ...string) ([]string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"__complete"}, args...), env{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }})
	if code != exitOK {
		t.Fatalf("rekey __complete %q: exit %d, stderr %q", args, code, stderr.String())
	}
	var words []string
	directive := ""
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		if strings.HasPrefix(line, ":") {
			directive = line
			continue
		}
		word, _, _ := strings.Cut(line, "\t")
		words = append(words, word)
	}
	return words, directive
}

// Every command of the tree, and every flag it declares, is offered; the testing-only flag is not: a new
// command or flag cannot be forgotten, since the scripts ask the tree itself.
func TestCompletionCoversEveryCommand(t *testing.T) {
	root := newRoot(env{getenv: func(string) string { return "" }})
	offered, _ := complete(t, "")
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if !sub.IsAvailableCommand() {
				continue
			}
			path := strings.Fields(sub.CommandPath())[1:]
			if len(path) == 1 && !slices.Contains(offered, sub.Name()) {
				t.Errorf("command %s is not offered (offered: %v)", sub.Name(), offered)
			}
			flags, _ := complete(t, append(path, "--")...)
			sub.Flags().VisitAll(func(f *pflag.Flag) {
				if f.Hidden == slices.Contains(flags, "--"+f.Name) {
					t.Errorf("rekey %s --%s: hidden %v, offered %v", strings.Join(path, " "), f.Name, f.Hidden, flags)
				}
			})
			if slices.Contains(flags, "--debug-kill-after-records") {
				t.Errorf("rekey %s: the testing-only flag is offered", strings.Join(path, " "))
			}
			walk(sub)
		}
	}
	walk(root)
	if slices.Contains(offered, "docs") || slices.Contains(offered, "__complete") {
		t.Errorf("hidden commands offered: %v", offered)
	}
	// Spot checks, so that a walk that finds nothing fails.
	for path, want := range map[string][]string{
		"agent":      {"--repo", "--state-dir", "--interval", "--webhook-addr", "--webhook-secret-file", "--bootstrap", "--signing-key", "--metrics-basic-auth-file"},
		"apply":      {"--repo", "--heal", "--age-key-file", "--output", "--trust-ssh", "--verify-commits"},
		"values set": {"--repo", "--generate", "--age-key-file"},
	} {
		flags, _ := complete(t, append(strings.Fields(path), "--")...)
		for _, f := range want {
			if !slices.Contains(flags, f) {
				t.Errorf("rekey %s: %s not offered (offered: %v)", path, f, flags)
			}
		}
	}
	if len(offered) < 15 {
		t.Errorf("only %d commands offered: %v", len(offered), offered)
	}
}

// Flag values: fixed words where there are some, file names for the file flags, nothing for the others.
func TestCompletionFlagValues(t *testing.T) {
	dir := t.TempDir()
	cfg := "version: 1\ncompose: {project_dir: /srv/stack}\nvalues: secrets.sops.yaml\nsecrets:\n  db_password: {type: app-key, env: {current: DB_PASSWORD, previous: DB_PASSWORD_OLD}}\n  app_key: {type: app-key, env: {current: APP_KEY, previous: APP_KEY_OLD}}\n"
	if err := os.WriteFile(filepath.Join(dir, "rekey.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args      []string
		words     string
		directive string
	}{
		{[]string{"apply", "--output", ""}, "text json", ":4"},
		{[]string{"apply", "--output=j"}, "text json", ":4"}, // the shell filters by prefix
		{[]string{"plan", "--verify-commits", ""}, "head strict", ":4"},
		{[]string{"inventory", "--format", ""}, "table json mermaid dot", ":4"},
		{[]string{"agent", "--age-key-file", "k"}, "", ":0"}, // the shell completes file names
		{[]string{"agent", "--interval", ""}, "", ":4"},      // a duration: nothing to offer
		{[]string{"init", "--out", ""}, "", ":16"},           // directories
		{[]string{"values", ""}, "set", ":4"},
		{[]string{"completion", ""}, "bash zsh fish", ":4"},
		{[]string{"rotate", "--repo", dir, ""}, "app_key db_password", ":4"},
		{[]string{"history", "--repo", dir, "d"}, "app_key db_password", ":4"}, // the shell filters by prefix
		{[]string{"rotate", "--repo", dir, "app_key", ""}, "", ":4"},
		{[]string{"runbook", "--repo", dir, "--secret", ""}, "app_key db_password", ":4"},
		{[]string{"rotate", "--repo", filepath.Join(dir, "missing"), ""}, "", ":4"},
	} {
		words, directive := complete(t, c.args...)
		if strings.Join(words, " ") != c.words || directive != c.directive {
			t.Errorf("rekey %q: got %q %s, want %q %s", c.args, words, directive, c.words, c.directive)
		}
	}
}

func TestCompletionUsage(t *testing.T) {
	for _, tc := range []struct {
		args         []string
		code         int
		stdout, want string
	}{
		{[]string{"completion"}, exitUsage, "", "usage: rekey completion bash|zsh|fish"},
		{[]string{"completion", "tcsh"}, exitUsage, "", `unknown shell "tcsh"`},
		{[]string{"completion", "bash", "zsh"}, exitUsage, "", "usage: rekey completion"},
		{[]string{"completion", "-h"}, exitOK, "rekey completion bash|zsh|fish", ""},
		{[]string{"help"}, exitOK, "Print a shell completion script", ""},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tc.args, env{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }})
		if code != tc.code || !strings.Contains(stderr.String(), tc.want) || !strings.Contains(stdout.String(), tc.stdout) ||
			(tc.stdout == "" && stdout.Len() != 0) {
			t.Errorf("rekey %v: exit %d, stdout %q, stderr %q; want exit %d, %q on stdout and %q on stderr",
				tc.args, code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.want)
		}
	}
}

// bashCompletionShim stands in for the bash-completion package (which the generated script expects, as
// every cobra script does) where it is not installed: the words of the command line, as it splits them.
const bashCompletionShim = `declare -F _get_comp_words_by_ref >/dev/null || _get_comp_words_by_ref() {
	cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}; words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD
}
`

// The bash script, loaded in a real bash, completing simulated command lines: the script runs the real
// binary (rekey on PATH: the test binary, see TestMain).
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
	// compopt only works inside a completion bash runs itself: here, a no-op.
	harness := `[ -f /usr/share/bash-completion/bash_completion ] && source /usr/share/bash-completion/bash_completion
source "$1" || exit 1
` + bashCompletionShim + `complete -p rekey
compopt() { :; }
comp() {
	COMP_TYPE=9
	COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	__start_rekey rekey "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
	printf '%s\n' "$* => $(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ')"
}
comp rekey ap
comp rekey re
comp rekey apply --ou
comp rekey apply --output ''
comp rekey agent --webhook-a
comp rekey values ''
comp rekey values set --g
comp rekey completion z
comp rekey plan --debug
`
	cmd := exec.Command(bash, "--norc", "--noprofile", "-c", harness, "harness", script)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	got := string(out)
	for _, want := range []string{
		"complete -o default -F __start_rekey rekey\n",
		"rekey ap => apply \n",
		"rekey re => reconcile \n",
		"rekey apply --ou => --output \n",
		"rekey apply --output  => json text \n",
		"rekey agent --webhook-a => --webhook-addr \n",
		"rekey values  => set \n",
		"rekey values set --g => --generate \n",
		"rekey completion z => zsh \n",
		"rekey plan --debug =>  \n", // the testing-only flag is hidden
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
