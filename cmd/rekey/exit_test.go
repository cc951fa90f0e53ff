package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/rekeyhq/rekey/app"
	"github.com/rekeyhq/rekey/internal/redact"
)

// TestExitCodes: the use cases' typed errors map to the documented exit codes, also when wrapped (the
// redactor and %w wrap them on their way up).
func TestExitCodes(t *testing.T) {
	red := redact.New("s3cret-value")
	for _, c := range []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{errors.New("failed to read rekey.yaml"), exitError},
		{&app.RefusedError{Reason: "commit is not signed"}, exitRefused},
		{red.Error(&app.RefusedError{Reason: "x"}), exitRefused},
		{fmt.Errorf("ctx: %w", &app.OutcomeError{Verdict: app.VerdictRolledBack}), exitRolledBack},
		{&app.OutcomeError{Verdict: app.VerdictAttention}, exitAttention},
		{&app.OutcomeError{Verdict: app.VerdictDrift}, exitDrift},
		{&app.OutcomeError{Verdict: app.VerdictUnknown}, exitUnknown},
		{&app.OptionsError{Msg: "--signing-key"}, exitUsage},
		{usageError("bad flag"), exitUsage},
		{app.Transient(errors.New("dial")), exitError},
	} {
		if got := exitCode(c.err); got != c.want {
			t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}
