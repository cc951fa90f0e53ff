package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/rekeyhq/rekey/app"
	"github.com/rekeyhq/rekey/config"
)

// completionShells are the shells rekey completion writes a script for: cobra generates each from the
// command tree, and the script asks the binary (rekey __complete …) what to offer, so a new command or
// flag is completed without touching this file.
var completionShells = map[string]func(root *cobra.Command, w io.Writer) error{
	"bash": func(root *cobra.Command, w io.Writer) error { return root.GenBashCompletionV2(w, true) },
	"zsh":  func(root *cobra.Command, w io.Writer) error { return root.GenZshCompletion(w) },
	"fish": func(root *cobra.Command, w io.Writer) error { return root.GenFishCompletion(w, true) },
}

func completionCmd(e env) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print a shell completion script",
		Long: `Completion prints a script that completes rekey's commands, flags, flag values (files, output formats)
and secret names (read from rekey.yaml in --repo) in bash, zsh or fish. Load it in the running shell, or
install it where the shell looks for completions.`,
		Example: `  source <(rekey completion bash)
  rekey completion bash > /etc/bash_completion.d/rekey
  rekey completion zsh > "${fpath[1]}/_rekey"
  rekey completion fish > ~/.config/fish/completions/rekey.fish`,
		ValidArgs: []string{"bash", "zsh", "fish"},
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("usage: rekey completion bash|zsh|fish")
			}
			if completionShells[args[0]] == nil {
				return usageError("unknown shell %q: rekey completes bash, zsh and fish", args[0])
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			// Generated into a buffer: a script cut short by a write error must not be half-loaded.
			var b bytes.Buffer
			if err := completionShells[args[0]](c.Root(), &b); err != nil {
				return err
			}
			_, err := e.stdout.Write(b.Bytes())
			return err
		},
	}
}

// completeFiles offers file names as the values of these flags.
func completeFiles(c *cobra.Command, names ...string) {
	for _, n := range names {
		must(c.MarkFlagFilename(n))
	}
}

// completeDirs offers directory names as the values of these flags.
func completeDirs(c *cobra.Command, names ...string) {
	for _, n := range names {
		must(c.MarkFlagDirname(n))
	}
}

// completeWords offers these words, and no file names, as the values of the flag.
func completeWords(c *cobra.Command, name string, words ...string) {
	must(c.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(words, cobra.ShellCompDirectiveNoFileComp)))
}

// must panics on a completion declared for a flag that does not exist: a programming error every test hits.
func must(err error) {
	if err != nil {
		panic(err)
	}
}

// completeSecret offers the secret names declared in rekey.yaml of a local --repo working tree (only the
// first positional argument is a secret name).
func completeSecret(o *options) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return secretNames(o.repo), cobra.ShellCompDirectiveNoFileComp
	}
}

// maxCompletedConfig bounds the rekey.yaml read for completion; a larger one completes nothing useful.
const maxCompletedConfig = 1 << 20

// secretNames reads rekey.yaml from a local working tree, bounded like every read of repository content;
// anything unreadable completes nothing.
func secretNames(repo string) []string {
	f, err := os.Open(filepath.Join(repo, app.ConfigFile))
	if err != nil {
		return nil
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxCompletedConfig))
	if err != nil {
		return nil
	}
	cfg, err := config.Parse(app.ConfigFile, raw)
	if err != nil {
		return nil
	}
	names := cfg.Names()
	slices.Sort(names)
	return names
}
