package agent

import (
	"fmt"
	"log/slog"
)

// UnverifiedWarning is what the agent says at start when it runs without commit verification (neither
// --trust-ssh nor --trust-openpgp): it then applies whatever is pushed to ref, and whoever can push
// there decides which values the stack gets, and can read them back through the stack.
func UnverifiedWarning(repo, ref string) string {
	if ref == "" {
		ref = "the branch it follows (HEAD, or the remote's default branch)"
	}
	return fmt.Sprintf("COMMIT VERIFICATION IS OFF: this agent applies every commit pushed to %s at %s, signed or not. "+
		"Anyone who can push there can set the stack's secrets, and point rekey at files it will write as root. "+
		"Turn it on: list the SSH keys allowed to sign in a file (e.g. /etc/rekey/trusted-signers) and start the "+
		"agent with --trust-ssh FILE (or --trust-openpgp FILE for OpenPGP keys); see docs/rotation.md#threat-model",
		ref, repo)
}

// WarnUnverified logs UnverifiedWarning at error level, so that it stands out of a quiet log and reaches
// alerting on error lines. Call it at start when neither --trust-ssh nor --trust-openpgp is given.
func WarnUnverified(log *slog.Logger, repo, ref string) {
	log.Error(UnverifiedWarning(repo, ref), "commit_verification", "off")
}
