package app

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"filippo.io/age"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"

	"github.com/rekeyhq/rekey/gitsync"
	"github.com/rekeyhq/rekey/reconcile"
	"github.com/rekeyhq/rekey/sopsio"
)

// Options say where the desired state is and how to act on it. They are plain values: the caller (the
// CLI's flags, a test, the bench) fills them; nothing here reads flags or the process environment.
type Options struct {
	Repo       string // desired-state repository: a local path or a git URL
	Ref        string // branch, tag or commit; empty: HEAD, or the remote's default branch
	AgeKeyFile string // age identities; empty: $SOPS_AGE_KEY_FILE, then ~/.config/sops/age/keys.txt
	StateDir   string // journal, keys and snapshots (absolute)
	DockerHost string // empty: $DOCKER_HOST, then the local socket

	KillAfter int  // testing only: SIGKILL after N journal records (crash tests)
	Retry     bool // try again a value whose last rotation rolled back (an operator's apply, not the agent)
	Isolate   bool // skip invalid secrets instead of refusing everything (the agent)
	Heal      bool // restore Git's value over drift (apply --heal)
	// JournalRetention is how many finished transactions per secret the journal keeps in full: 0 keeps
	// the retention the journal was last pruned with (journal.DefaultRetention for a new one), a negative
	// value keeps everything (the agent's --journal-retention, journalOptions).
	JournalRetention int

	// Credentials for a remote repository, read from files.
	GitTokenFile, GitUsername, GitSSHKey, GitKnownHosts string

	// Trust in the desired state: which commits are accepted. VerifyCommits is "", "head" or "strict";
	// it defaults to "head" when a trust file is given.
	TrustOpenPGP, TrustSSH, VerifyCommits string
	AllowRewrite                          bool

	// Getenv is the environment (HOME, SOPS_AGE_KEY_FILE, DOCKER_HOST, PATH …); nil reads none.
	Getenv func(string) string
	// Progress receives the executor's steps; nil reports none.
	Progress func(reconcile.Event)
	// Warn tells the operator something worth knowing that does not stop the use case; nil drops it.
	Warn func(msg string)
	// Trace receives one line per phase of each roll (names and timings, never a value); nil traces
	// nothing. The CLI sets it when REKEY_TRACE is set.
	Trace func(line string)
}

// normalized fills the defaults the zero values stand for.
func (o Options) normalized() Options {
	if o.Getenv == nil {
		o.Getenv = func(string) string { return "" }
	}
	if o.Warn == nil {
		o.Warn = func(string) {}
	}
	if o.VerifyCommits == "" && (o.TrustOpenPGP != "" || o.TrustSSH != "") {
		o.VerifyCommits = "head"
	}
	if o.GitUsername == "" {
		o.GitUsername = "git"
	}
	return o
}

// TrustedKeys reads the trust files the options name.
func (o Options) TrustedKeys() (gitsync.TrustedKeys, error) {
	var t gitsync.TrustedKeys
	if o.TrustOpenPGP != "" {
		data, err := os.ReadFile(o.TrustOpenPGP)
		if err != nil {
			return t, fmt.Errorf("failed to read --trust-openpgp: %w", err)
		}
		t.OpenPGP = []string{string(data)}
	}
	if o.TrustSSH != "" {
		data, err := os.ReadFile(o.TrustSSH)
		if err != nil {
			return t, fmt.Errorf("failed to read --trust-ssh: %w", err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				t.SSH = append(t.SSH, line)
			}
		}
	}
	return t, nil
}

// KeyFile resolves the age key file the way SOPS does, from the environment the caller passes in.
func (o Options) KeyFile() (string, error) {
	if o.AgeKeyFile != "" {
		return o.AgeKeyFile, nil
	}
	getenv := o.normalized().Getenv
	home := getenv("HOME")
	if home == "" && getenv("SOPS_AGE_KEY_FILE") == "" && getenv("XDG_CONFIG_HOME") == "" {
		return "", fmt.Errorf("no age key: pass --age-key-file or set SOPS_AGE_KEY_FILE")
	}
	return sopsio.DefaultKeyFile(getenv, home), nil
}

// Identities reads the age identities from the key file the options name.
func (o Options) Identities() ([]age.Identity, error) {
	keyFile, err := o.KeyFile()
	if err != nil {
		return nil, err
	}
	keys, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("failed to read the age key file: %w; pass --age-key-file", err)
	}
	ids, err := sopsio.LoadIdentities(bytes.NewReader(keys))
	if err != nil {
		return nil, fmt.Errorf("failed to read age identities from %s: %w", keyFile, err)
	}
	return ids, nil
}

// GitAuth builds the credentials for a remote from the files the options name; none is read from the
// environment or an agent. nil means anonymous.
func (o Options) GitAuth() (transport.AuthMethod, error) {
	switch {
	case o.GitTokenFile != "":
		token, err := os.ReadFile(o.GitTokenFile)
		if err != nil {
			return nil, fmt.Errorf("failed to read --git-token-file: %w", err)
		}
		return &githttp.BasicAuth{Username: o.normalized().GitUsername, Password: strings.TrimSpace(string(token))}, nil
	case o.GitSSHKey != "":
		keys, err := gitssh.NewPublicKeysFromFile(SSHUser(o.Repo), o.GitSSHKey, "")
		if err != nil {
			return nil, fmt.Errorf("failed to read --git-ssh-key %s: %w", o.GitSSHKey, err)
		}
		hosts, err := gitssh.NewKnownHostsCallback(o.GitKnownHosts)
		if err != nil {
			return nil, fmt.Errorf("failed to read --git-known-hosts %s: %w", o.GitKnownHosts, err)
		}
		keys.HostKeyCallback = hosts
		return keys, nil
	}
	return nil, nil
}

// SSHUser is the user an ssh remote names (ssh://alice@host/…, alice@host:…), "git" when it names none.
func SSHUser(repo string) string {
	if u, err := url.Parse(repo); err == nil && u.Scheme == "ssh" && u.User != nil && u.User.Username() != "" {
		return u.User.Username()
	}
	if at, colon := strings.Index(repo, "@"), strings.Index(repo, ":"); !strings.Contains(repo, "://") && at > 0 && colon > at {
		return repo[:at]
	}
	return "git"
}

// WarnTo prints warnings the way the CLI does (`rekey: warning: …`), for Options.Warn.
func WarnTo(w io.Writer) func(string) {
	return func(msg string) { fmt.Fprintf(w, "rekey: warning: %s\n", msg) }
}
