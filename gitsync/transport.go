package gitsync

import (
	"errors"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
)

// go-git's default file:// transport runs the git-upload-pack binary. rekey
// must not depend on the git binary, so file:// is served in-process by
// go-git's own upload-pack server instead. The transport registry is global
// to go-git; this package is the only user of go-git in rekey.
func init() {
	client.InstallProtocol("file", server.NewClient(localLoader{}))
	// SSH sessions of gitsync operations are bounded by their context and a
	// handshake timeout (see sshdial.go); others pass through unchanged.
	client.InstallProtocol("ssh", &sshTransport{inner: gitssh.DefaultClient})
	// go-git would read Hostname and Port from ~/.ssh/config and /etc/ssh/ssh_config: a user's ssh
	// config must not redirect where rekey fetches its desired state from.
	gitssh.DefaultSSHConfig = nil
}

// localLoader opens the repository at a file:// endpoint's path, which may be
// a bare repository or a working tree (unlike server.DefaultLoader, which
// only handles bare repositories correctly).
type localLoader struct{}

func (localLoader) Load(ep *transport.Endpoint) (storer.Storer, error) {
	repo, err := git.PlainOpenWithOptions(ep.Path, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
	if err != nil {
		if errors.Is(err, git.ErrRepositoryNotExists) {
			return nil, transport.ErrRepositoryNotFound
		}
		return nil, err
	}
	return repo.Storer, nil
}
