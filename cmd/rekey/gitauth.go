package main

import (
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
)

// gitAuth builds the credentials for a remote from the files named on the command line; none is read
// from the environment or an agent. nil means anonymous.
func (o *options) gitAuth() (transport.AuthMethod, error) {
	switch {
	case o.gitTokenFile != "":
		token, err := os.ReadFile(o.gitTokenFile)
		if err != nil {
			return nil, fmt.Errorf("failed to read --git-token-file: %w", err)
		}
		return &githttp.BasicAuth{Username: o.gitUsername, Password: strings.TrimSpace(string(token))}, nil
	case o.gitSSHKey != "":
		keys, err := gitssh.NewPublicKeysFromFile(sshUser(o.repo), o.gitSSHKey, "")
		if err != nil {
			return nil, fmt.Errorf("failed to read --git-ssh-key %s: %w", o.gitSSHKey, err)
		}
		hosts, err := gitssh.NewKnownHostsCallback(o.gitKnownHosts)
		if err != nil {
			return nil, fmt.Errorf("failed to read --git-known-hosts %s: %w", o.gitKnownHosts, err)
		}
		keys.HostKeyCallback = hosts
		return keys, nil
	}
	return nil, nil
}

// sshUser is the user an ssh remote names (ssh://alice@host/…, alice@host:…), "git" when it names none.
func sshUser(repo string) string {
	if u, err := url.Parse(repo); err == nil && u.Scheme == "ssh" && u.User != nil && u.User.Username() != "" {
		return u.User.Username()
	}
	if at, colon := strings.Index(repo, "@"), strings.Index(repo, ":"); !strings.Contains(repo, "://") && at > 0 && colon > at {
		return repo[:at]
	}
	return "git"
}
