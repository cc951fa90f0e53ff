package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
)

// `rekey completion bash|zsh|fish` prints a completion script. The commands, their flags and which flags
// take a value are read from the real flag sets: each command is run with -h (it parses its flags before
// doing anything) and its flag.PrintDefaults output is parsed, so a new flag or command shows up without
// touching this file. What the flag sets cannot tell (the values of --output, which flags name files) is
// in the small tables below.

const completionUsage = `usage: rekey completion bash|zsh|fish

Prints a completion script for the commands of rekey and their flags.
  bash: source <(rekey completion bash)     (or save it as /etc/bash_completion.d/rekey)
  zsh:  rekey completion zsh > "${fpath[1]}/_rekey"   (then compinit)
  fish: rekey completion fish > ~/.config/fish/completions/rekey.fish
`

// commandTable returns the commands map. It is set in init: cmdCompletion reads the map that refers to
// it, which a package-level initializer could not do (an initialization cycle).
var commandTable func() map[string]func(context.Context, []string, env) error

func init() {
	commandTable = func() map[string]func(context.Context, []string, env) error { return commands }
}

func cmdCompletion(_ context.Context, args []string, e env) error {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprint(e.stderr, completionUsage)
		return nil
	}
	if len(args) != 1 {
		return usageError("%s", strings.TrimSuffix(completionUsage, "\n"))
	}
	gen, ok := completionShells[args[0]]
	if !ok {
		return usageError("completion: unknown shell %q: bash, zsh or fish", args[0])
	}
	cmds, err := completionCommands()
	if err != nil {
		return err
	}
	_, err = io.WriteString(e.stdout, gen(cmds))
	return err
}

var completionShells = map[string]func([]compCommand) string{
	"bash": bashCompletion,
	"zsh":  zshCompletion,
	"fish": fishCompletion,
}

// compCommand is one command as the completion scripts see it.
type compCommand struct {
	name, desc string
	words      []string // words completed where the command takes its first argument ("values set", shells)
	flags      []compFlag
}

// compFlag is one flag of a command.
type compFlag struct {
	name, desc string
	value      bool   // takes a value (not a bool flag)
	kind       string // what to complete as its value: "file", "dir", "enum" or "" (nothing)
	enum       []string
}

// Subcommand words that must precede -h to reach a command's flag set, and that are completed as its
// first argument.
var compSubcommands = map[string][]string{"values": {"set"}}

// First arguments that are not subcommands.
var compWords = map[string][]string{"completion": {"bash", "zsh", "fish"}}

// Flag values that can be listed.
var compEnums = map[string][]string{
	"output":         {"text", "json"},
	"verify-commits": {"head", "strict"},
}

// Flags whose value is a file (besides names ending in -file) or a directory (besides names ending in -dir).
var (
	compFileFlags = map[string]bool{"trust-ssh": true, "trust-openpgp": true, "git-ssh-key": true, "git-known-hosts": true, "signing-key": true}
	compDirFlags  = map[string]bool{"repo": true}
)

// completionCommands lists every command with its flags, from the real flag sets, sorted by name, plus
// "help".
func completionCommands() ([]compCommand, error) {
	table := commandTable()
	descs := commandDescriptions()
	names := make([]string, 0, len(table))
	for name := range table {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []compCommand
	for _, name := range names {
		flags, err := commandFlags(name, table[name])
		if err != nil {
			return nil, err
		}
		words := append(append([]string(nil), compSubcommands[name]...), compWords[name]...)
		out = append(out, compCommand{name: name, desc: descs[name], words: words, flags: flags})
	}
	out = append(out, compCommand{name: "help", desc: "show the usage of rekey"})
	return out, nil
}

// commandFlags runs a command with -h and parses the flag list it prints. Nothing else runs: every
// command parses its flags first, and -h ends it there.
func commandFlags(name string, cmd func(context.Context, []string, env) error) ([]compFlag, error) {
	if name == "completion" {
		return nil, nil // no flags, and no need to run itself
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // should a command ever get past its flags, it finds its context done
	var stderr bytes.Buffer
	args := append(append([]string(nil), compSubcommands[name]...), "-h")
	_ = cmd(ctx, args, env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &stderr, getenv: func(string) string { return "" }})
	return parseFlagDefaults(stderr.String()), nil
}

// defaultSuffix is what flag.PrintDefaults appends for a non-zero default: (default "x"), (default 1m0s).
var defaultSuffix = regexp.MustCompile(`\s*\(default ("[^"]*"|[^\s()]+)\)$`)

// parseFlagDefaults reads the output of flag.PrintDefaults: for each flag a line "  -name type" (a bool
// flag has no type word), then its usage on the next line after "    \t", ending in ` (default "x")`. Flags whose usage starts with "testing only" are left out.
func parseFlagDefaults(s string) []compFlag {
	var flags []compFlag
	lines := strings.Split(s, "\n")
	for i, line := range lines {
		if !strings.HasPrefix(line, "  -") {
			continue
		}
		head, usage, _ := strings.Cut(strings.TrimPrefix(line, "  -"), "\t") // one-letter flags: usage on the same line
		fields := strings.Fields(head)
		if len(fields) == 0 {
			continue
		}
		if usage == "" && i+1 < len(lines) && strings.HasPrefix(lines[i+1], "    \t") {
			usage = strings.TrimPrefix(lines[i+1], "    \t")
		}
		usage = defaultSuffix.ReplaceAllString(strings.TrimSpace(usage), "")
		if strings.HasPrefix(usage, "testing only") {
			continue
		}
		f := compFlag{name: fields[0], desc: usage, value: len(fields) > 1}
		switch {
		case !f.value:
		case compEnums[f.name] != nil:
			f.kind, f.enum = "enum", compEnums[f.name]
		case strings.HasSuffix(f.name, "-file") || compFileFlags[f.name]:
			f.kind = "file"
		case strings.HasSuffix(f.name, "-dir") || compDirFlags[f.name]:
			f.kind = "dir"
		}
		flags = append(flags, f)
	}
	sort.Slice(flags, func(i, j int) bool { return flags[i].name < flags[j].name })
	return flags
}

var usageSplit = regexp.MustCompile(`\s{2,}`)

// commandDescriptions reads the one-line descriptions from the usage text:
// "  rekey plan    [flags]          show what apply would do".
func commandDescriptions() map[string]string {
	descs := map[string]string{}
	for _, line := range strings.Split(usage, "\n") {
		if !strings.HasPrefix(line, "  rekey ") {
			continue
		}
		parts := usageSplit.Split(strings.TrimSpace(line), -1)
		name := strings.Fields(parts[0])[1]
		if _, seen := descs[name]; seen {
			continue
		}
		desc := ""
		if len(parts) > 1 {
			desc = parts[len(parts)-1]
		}
		descs[name] = desc
	}
	if descs["version"] == "" {
		descs["version"] = "print the version, commit and build date"
	}
	return descs
}

// valueFlags is every flag that takes a value, in any command, by kind. A flag name has the same kind in
// every command (TestCompletionFlagKindsAgree).
func valueFlags(cmds []compCommand) map[string]compFlag {
	m := map[string]compFlag{}
	for _, c := range cmds {
		for _, f := range c.flags {
			if f.value {
				m[f.name] = f
			}
		}
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func flagWords(c compCommand) string {
	var w []string
	for _, f := range c.flags {
		w = append(w, "--"+f.name)
	}
	return strings.Join(w, " ")
}

func bashCompletion(cmds []compCommand) string {
	var b strings.Builder
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.name
	}
	b.WriteString(`# bash completion for rekey; generated by ` + "`rekey completion bash`" + `.
# Load it with: source <(rekey completion bash)   or save it as /etc/bash_completion.d/rekey

_rekey() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=''
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD-1]}
    COMPREPLY=()
    # --flag=value: bash splits it at the '=' (COMP_WORDBREAKS).
    if [[ $cur == = ]]; then
        cur=
    elif [[ $prev == = ]] && ((COMP_CWORD > 1)); then
        prev=${COMP_WORDS[COMP_CWORD-2]}
    fi

    if ((COMP_CWORD == 1)); then
        mapfile -t COMPREPLY < <(compgen -W "` + strings.Join(names, " ") + `" -- "$cur")
        return 0
    fi
    local cmd=${COMP_WORDS[1]}

    # The value of a flag (-flag and --flag are the same to rekey).
    if [[ $prev == -* ]]; then
        local flag=${prev#-}
        case ${flag#-} in
`)
	vf := valueFlags(cmds)
	byKind := map[string][]string{}
	for _, name := range sortedKeys(vf) {
		f := vf[name]
		if f.kind == "enum" {
			fmt.Fprintf(&b, "        %s)\n            mapfile -t COMPREPLY < <(compgen -W %q -- \"$cur\")\n            return 0 ;;\n", name, strings.Join(f.enum, " "))
			continue
		}
		byKind[f.kind] = append(byKind[f.kind], name)
	}
	for _, k := range []struct{ kind, compgen string }{{"file", "-f"}, {"dir", "-d"}} {
		if n := byKind[k.kind]; len(n) > 0 {
			fmt.Fprintf(&b, "        %s)\n            compopt -o filenames 2>/dev/null\n            mapfile -t COMPREPLY < <(compgen %s -- \"$cur\")\n            return 0 ;;\n", strings.Join(n, " | "), k.compgen)
		}
	}
	if n := byKind[""]; len(n) > 0 {
		fmt.Fprintf(&b, "        %s)\n            return 0 ;; # a value with nothing to list\n", strings.Join(n, " | "))
	}
	b.WriteString(`        esac
    fi

    local flags='' words=''
    case $cmd in
`)
	for _, c := range cmds {
		if len(c.flags) == 0 && len(c.words) == 0 {
			continue
		}
		fmt.Fprintf(&b, "    %s)\n", c.name)
		if len(c.flags) > 0 {
			fmt.Fprintf(&b, "        flags=%q\n", flagWords(c))
		}
		if len(c.words) > 0 {
			fmt.Fprintf(&b, "        words=%q\n", strings.Join(c.words, " "))
		}
		b.WriteString("        ;;\n")
	}
	b.WriteString(`    esac
    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$flags" -- "$cur")
    elif [[ -n $words ]] && ((COMP_CWORD == 2)); then
        mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
    fi
    return 0
}

complete -F _rekey rekey
`)
	return b.String()
}

// zshQuote escapes s for a single-quoted _arguments spec or _describe item: quotes, and the characters
// those specs give a meaning to.
func zshQuote(s string) string {
	r := strings.NewReplacer(`'`, `'\''`, `\`, `\\`, `[`, `\[`, `]`, `\]`, `:`, `\:`)
	return r.Replace(s)
}

func zshCompletion(cmds []compCommand) string {
	var b strings.Builder
	b.WriteString(`#compdef rekey
# zsh completion for rekey; generated by ` + "`rekey completion zsh`" + `.
# Install it as _rekey in a directory of $fpath (then run compinit), or: source <(rekey completion zsh)

_rekey() {
    local curcontext=$curcontext state line ret=1
    typeset -A opt_args
    _arguments -C '1: :->command' '*:: :->args' && ret=0
    case $state in
    command)
        local -a commands
        commands=(
`)
	for _, c := range cmds {
		fmt.Fprintf(&b, "            '%s:%s'\n", c.name, zshQuote(c.desc))
	}
	b.WriteString(`        )
        _describe -t commands 'rekey command' commands && ret=0
        ;;
    args)
        curcontext=${curcontext%:*:*}:rekey-$words[1]:
        case $words[1] in
`)
	for _, c := range cmds {
		if len(c.flags) == 0 && len(c.words) == 0 {
			continue
		}
		fmt.Fprintf(&b, "        %s)\n            _arguments -s", c.name)
		for _, f := range c.flags {
			spec := "--" + f.name
			if f.value {
				spec += "="
			}
			spec += "[" + zshQuote(f.desc) + "]"
			if f.value {
				action := " "
				switch f.kind {
				case "enum":
					action = "(" + strings.Join(f.enum, " ") + ")"
				case "file":
					action = "_files"
				case "dir":
					action = "_files -/"
				}
				spec += ":" + f.name + ":" + action
			}
			fmt.Fprintf(&b, " \\\n                '%s'", spec)
		}
		if len(c.words) > 0 {
			fmt.Fprintf(&b, " \\\n                '1:%s:(%s)'", c.name, strings.Join(c.words, " "))
		}
		b.WriteString(" && ret=0\n            ;;\n")
	}
	b.WriteString(`        esac
        ;;
    esac
    return ret
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _rekey "$@"
else
    compdef _rekey rekey
fi
`)
	return b.String()
}

// fishQuote quotes s as one single-quoted fish word.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func fishCompletion(cmds []compCommand) string {
	var b strings.Builder
	b.WriteString(`# fish completion for rekey; generated by ` + "`rekey completion fish`" + `.
# Install it as ~/.config/fish/completions/rekey.fish, or: rekey completion fish | source

complete -c rekey -f
`)
	for _, c := range cmds {
		fmt.Fprintf(&b, "complete -c rekey -n __fish_use_subcommand -a %s -d %s\n", c.name, fishQuote(c.desc))
	}
	for _, c := range cmds {
		if len(c.flags) == 0 && len(c.words) == 0 {
			continue
		}
		cond := fishQuote("__fish_seen_subcommand_from " + c.name)
		b.WriteString("\n")
		for _, f := range c.flags {
			fmt.Fprintf(&b, "complete -c rekey -n %s -l %s", cond, f.name)
			if f.value {
				switch f.kind {
				case "enum":
					fmt.Fprintf(&b, " -x -a %s", fishQuote(strings.Join(f.enum, " ")))
				case "file":
					b.WriteString(" -r -F")
				case "dir":
					b.WriteString(" -x -a '(__fish_complete_directories)'")
				default:
					b.WriteString(" -x")
				}
			}
			fmt.Fprintf(&b, " -d %s\n", fishQuote(f.desc))
		}
		if len(c.words) > 0 {
			// Only as the first argument of the command.
			fmt.Fprintf(&b, "complete -c rekey -n %s -a %s\n",
				fishQuote("__fish_seen_subcommand_from "+c.name+"; and test (count (commandline -opc)) -eq 2"),
				fishQuote(strings.Join(c.words, " ")))
		}
	}
	return b.String()
}
