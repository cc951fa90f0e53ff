package main

import (
	"fmt"
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
		keys, err := gitssh.NewPublicKeysFromFile("git", o.gitSSHKey, "")
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
