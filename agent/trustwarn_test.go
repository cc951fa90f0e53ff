package agent

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestWarnUnverified(t *testing.T) {
	var buf bytes.Buffer
	WarnUnverified(slog.New(slog.NewTextHandler(&buf, nil)), "/srv/secrets-repo", "main")
	got := buf.String()
	for _, want := range []string{"level=ERROR", "COMMIT VERIFICATION IS OFF", "main at /srv/secrets-repo",
		"--trust-ssh", "--trust-openpgp", "commit_verification=off"} {
		if !strings.Contains(got, want) {
			t.Errorf("warning lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "\n") != 1 {
		t.Errorf("warning is not one log line:\n%s", got)
	}
}

// TestUnverifiedWarningWithoutRef: without --ref the warning names the branch the agent follows in words,
// never an empty place ("pushed to  at").
func TestUnverifiedWarningWithoutRef(t *testing.T) {
	w := UnverifiedWarning("/srv/desired", "")
	if strings.Contains(w, "to  at") || !strings.Contains(w, "pushed to the branch it follows (HEAD, or the remote's default branch) at /srv/desired") {
		t.Errorf("warning without a ref: %s", w)
	}
}
