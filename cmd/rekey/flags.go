package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rekeyhq/rekey/app"
)

// options are the flags shared by the commands that read the desired state.
type options struct {
	repo, ref, ageKeyFile, stateDir, output, dockerHost string
	quiet                                               bool
	killAfter                                           int  // testing only: SIGKILL after N journal records (crash tests)
	retry                                               bool // try again a value whose last rotation rolled back (an operator's apply, not the agent)
	isolate                                             bool // skip invalid secrets instead of refusing everything (the agent)
	heal                                                bool // restore Git's value over drift (apply --heal)

	// Credentials for a remote repository, read from files.
	gitTokenFile, gitUsername, gitSSHKey, gitKnownHosts string

	// Trust in the desired state: which commits are accepted.
	trustOpenPGP, trustSSH, verifyCommits string
	allowRewrite                          bool
}

// bind declares the shared flags on c and the completion of their values.
func (o *options) bind(c *cobra.Command) {
	fs := c.Flags()
	fs.StringVar(&o.repo, "repo", ".", "desired-state repository: a local path or a git URL")
	fs.StringVar(&o.ref, "ref", "", "branch, tag or commit to read (default: HEAD, or the remote's default branch)")
	fs.StringVar(&o.ageKeyFile, "age-key-file", "", "age identities file (default $SOPS_AGE_KEY_FILE, then ~/.config/sops/age/keys.txt)")
	fs.StringVar(&o.stateDir, "state-dir", "/var/lib/rekey", "directory for the journal, keys and snapshots")
	fs.StringVar(&o.output, "output", "text", "output format: text or json")
	fs.StringVar(&o.dockerHost, "docker-host", "", "Docker engine address (default $DOCKER_HOST, then the local socket)")
	fs.BoolVar(&o.quiet, "quiet", false, "print only the result, no progress")
	fs.IntVar(&o.killAfter, "debug-kill-after-records", 0, "testing only: SIGKILL rekey right after N journal records")
	fs.StringVar(&o.gitTokenFile, "git-token-file", "", "https remotes: file holding a token or password (basic auth)")
	fs.StringVar(&o.gitUsername, "git-username", "git", "https remotes: user name sent with --git-token-file")
	fs.StringVar(&o.gitSSHKey, "git-ssh-key", "", "ssh remotes: private key file (unencrypted)")
	fs.StringVar(&o.gitKnownHosts, "git-known-hosts", "", "ssh remotes: known_hosts file (required with --git-ssh-key)")
	fs.StringVar(&o.trustOpenPGP, "trust-openpgp", "", "file of armored OpenPGP public keys whose commit signatures are trusted")
	fs.StringVar(&o.trustSSH, "trust-ssh", "", "authorized_keys-style file of SSH keys whose commit signatures are trusted")
	fs.StringVar(&o.verifyCommits, "verify-commits", "", "head (the commit applied) or strict (every commit since the last applied one); default head when a trust file is given")
	fs.BoolVar(&o.allowRewrite, "allow-rewrite", false, "accept a commit that does not descend from the last applied one (after a deliberate force-push)")
	mustHide(fs, "debug-kill-after-records")
	completeFiles(c, "age-key-file", "git-token-file", "git-ssh-key", "git-known-hosts", "trust-openpgp", "trust-ssh")
	completeDirs(c, "repo", "state-dir")
	completeWords(c, "output", "text", "json")
	completeWords(c, "verify-commits", "head", "strict")
	completeWords(c, "git-username")
	completeWords(c, "ref")
	completeWords(c, "docker-host")
}

// check validates option combinations after parsing.
func (o *options) check() error {
	if o.output != "text" && o.output != "json" {
		return usageError("--output must be text or json, got %q", o.output)
	}
	if o.gitSSHKey != "" && o.gitKnownHosts == "" {
		return usageError("--git-ssh-key needs --git-known-hosts: rekey never trusts a host key on first use")
	}
	trusted := o.trusted()
	switch {
	case o.verifyCommits == "" && trusted:
		o.verifyCommits = "head"
	case o.verifyCommits != "" && o.verifyCommits != "head" && o.verifyCommits != "strict":
		return usageError("--verify-commits must be head or strict, got %q", o.verifyCommits)
	case o.verifyCommits != "" && !trusted:
		return usageError("--verify-commits needs --trust-openpgp or --trust-ssh")
	}
	if abs, err := filepath.Abs(o.stateDir); err == nil {
		o.stateDir = abs
	}
	return nil
}

func (o *options) json() bool { return o.output == "json" }

// trusted says whether a trust file was given: commits are then verified before anything is read.
func (o *options) trusted() bool { return o.trustOpenPGP != "" || o.trustSSH != "" }

// app is what the use cases need of the options and the environment. The agent and quiet runs report no
// progress; a terminal gets a live line.
func (o *options) app(e env) app.Options {
	a := app.Options{Repo: o.repo, Ref: o.ref, AgeKeyFile: o.ageKeyFile, StateDir: o.stateDir, DockerHost: o.dockerHost,
		KillAfter: o.killAfter, Retry: o.retry, Isolate: o.isolate, Heal: o.heal,
		GitTokenFile: o.gitTokenFile, GitUsername: o.gitUsername, GitSSHKey: o.gitSSHKey, GitKnownHosts: o.gitKnownHosts,
		TrustOpenPGP: o.trustOpenPGP, TrustSSH: o.trustSSH, VerifyCommits: o.verifyCommits, AllowRewrite: o.allowRewrite,
		Getenv: e.getenv, Warn: app.WarnTo(e.stderr)}
	if e.getenv("REKEY_TRACE") != "" {
		a.Trace = func(line string) { fmt.Fprintf(e.stderr, "rekey: %s\n", line) }
	}
	switch {
	case o.quiet:
	case o.isolate: // the agent: its log lines must not be redrawn over
		a.Progress = progress(e.stderr)
	default:
		a.Progress = newProgress(e.stderr, e.getenv)
	}
	return a
}

func mustHide(fs *pflag.FlagSet, name string) {
	if err := fs.MarkHidden(name); err != nil {
		panic(err) // a flag renamed without its declaration: caught by every test
	}
}
