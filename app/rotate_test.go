package app

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/gitsync"
	"github.com/rekeyhq/rekey/journal"
	"github.com/rekeyhq/rekey/reconcile"
)

// scheduleSession is a session with only what the schedule looks at: the config.
func scheduleSession(t *testing.T) *Session {
	t.Helper()
	cfg, err := config.Parse(ConfigFile, []byte(`version: 1
compose: {project_dir: /srv/stack}
values: secrets.sops.yaml
secrets:
  monthly: {type: token, env: {value: MONTHLY}, rotate_every: 30d}
  weekly: {type: token, env: {value: WEEKLY}, rotate_every: 7d}
  never: {type: token, env: {value: NEVER}}
`))
	if err != nil {
		t.Fatal(err)
	}
	return &Session{Config: cfg}
}

func due(t *testing.T, s *Session, j *journal.Journal, now time.Time) []string {
	t.Helper()
	names, err := s.dueForRotation(context.Background(), j, now)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestScheduledRotationDecisions: a secret's rotate_every counts from when rekey first saw it, then from
// its last write-back or rotation attempt, whatever that attempt's outcome; a secret without rotate_every
// or left out as invalid is never due.
func TestScheduledRotationDecisions(t *testing.T) {
	ctx := context.Background()
	j, err := journal.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	s := scheduleSession(t)
	day := 24 * time.Hour
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	if got := due(t, s, j, t0); len(got) != 0 {
		t.Fatalf("first sight: due %v, want none (the age counts from now)", got)
	}
	if got := due(t, s, j, t0.Add(7*day-time.Second)); len(got) != 0 {
		t.Fatalf("just before a week: due %v", got)
	}
	if got := due(t, s, j, t0.Add(7*day)); !slices.Equal(got, []string{"weekly"}) {
		t.Fatalf("after a week: due %v, want [weekly]", got)
	}

	// A write-back restarts the count, even before its rotation is applied.
	if err := j.MarkWriteBack(ctx, "weekly", t0.Add(7*day)); err != nil {
		t.Fatal(err)
	}
	if got := due(t, s, j, t0.Add(8*day)); len(got) != 0 {
		t.Fatalf("a day after the write-back: due %v", got)
	}

	// A rotation that began (and rolled back) restarts it too: a failing value is not regenerated in a loop.
	begin := reconcile.Record{Type: reconcile.RecordBegin, Txn: "t1", Secret: "weekly", Time: t0.Add(13 * day)}
	if err := j.Record(ctx, begin); err != nil {
		t.Fatal(err)
	}
	end := reconcile.Record{Type: reconcile.RecordEnd, Txn: "t1", Secret: "weekly", Time: t0.Add(13 * day), Outcome: reconcile.OutcomeRolledBack}
	if err := j.Record(ctx, end); err != nil {
		t.Fatal(err)
	}
	if got := due(t, s, j, t0.Add(15*day)); len(got) != 0 {
		t.Fatalf("two days after a rolled-back attempt: due %v", got)
	}
	if got := due(t, s, j, t0.Add(30*day)); !slices.Equal(got, []string{"monthly", "weekly"}) {
		t.Fatalf("after 30 days: due %v, want [monthly weekly]", got)
	}

	// An invalid secret (skipped by the agent) is never due: a value generated for it could not be applied.
	s.Skipped = []Skipped{{Name: "monthly", Err: errors.New("invalid")}}
	if got := due(t, s, j, t0.Add(60*day)); !slices.Equal(got, []string{"weekly"}) {
		t.Fatalf("with monthly skipped: due %v, want [weekly]", got)
	}
}

// TestCanWriteBack: with commit verification on, a write-back needs a signing key the trust files list.
func TestCanWriteBack(t *testing.T) {
	r := newTrustRig(t)
	if err := CanWriteBack(r.options(""), r.untrusted); err != nil {
		t.Fatalf("without verification: %v", err)
	}
	var opt *OptionsError
	unsigned := r.trusted
	unsigned.Signer, unsigned.OpenPGPKey = nil, nil
	if err := CanWriteBack(r.options("head"), unsigned); !errors.As(err, &opt) {
		t.Fatalf("no signing key: %v, want an OptionsError", err)
	}
	if err := CanWriteBack(r.options("head"), r.untrusted); !errors.As(err, &opt) {
		t.Fatalf("untrusted signing key: %v, want an OptionsError", err)
	}
	if err := CanWriteBack(r.options("head"), r.trusted); err != nil {
		t.Fatalf("trusted signing key: %v", err)
	}
}

// TestRotateRefusesIssuedAndNever: rotate refuses a secret issued elsewhere (saying where it comes from)
// and one whose change destroys data, with nothing committed; a generated secret gets past the check.
func TestRotateRefusesIssuedAndNever(t *testing.T) {
	r := newTrustRig(t)
	const yaml = `version: 1
compose: {project_dir: /srv/stack}
values: secrets.sops.yaml
secrets:
  oauth: {type: token, env: {value: OAUTH_CLIENT_SECRET}, rotation: issued, rotation_reason: the OAuth client secret comes from the identity provider}
  field-key: {type: token, env: {value: FIELD_KEY}, rotation: never, rotation_reason: encrypts fields at rest}
  session: {type: token, env: {value: SESSION}}
`
	head := r.commit(yaml)
	cfg, err := config.Parse(ConfigFile, []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	repo, err := gitsync.Open(ctx, r.dir)
	if err != nil {
		t.Fatal(err)
	}
	commit, err := repo.Resolve("")
	if err != nil {
		t.Fatal(err)
	}
	s := &Session{Options: r.options(""), Repo: repo, Commit: commit, Config: cfg, values: map[string]string{}}
	for secret, want := range map[string]string{
		"oauth":     "secret oauth is issued elsewhere (the OAuth client secret comes from the identity provider)",
		"field-key": "secret field-key has rotation: never (encrypts fields at rest): a new value would destroy the data it protects",
	} {
		_, err := s.guardedWriteBack(ctx, secret, "on demand", r.trusted)
		var refused *OptionsError
		if !errors.As(err, &refused) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "nothing was committed") {
			t.Errorf("%s: error %v, want %q", secret, err, want)
		}
		if got := r.git("rev-parse", "HEAD"); got != head {
			t.Errorf("%s: HEAD moved to %s", secret, got)
		}
	}
	if err := s.mayGenerate("session"); err != nil {
		t.Errorf("generated secret refused: %v", err)
	}
}
