package statuspage

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/rekeyhq/rekey/reconcile"
)

// fixedSource is a Source that returns one model (or error) and counts calls.
type fixedSource struct {
	m     Model
	err   error
	calls atomic.Int32
}

func (s *fixedSource) Status(context.Context) (Model, error) {
	s.calls.Add(1)
	return s.m, s.err
}

var errUnavailable = errors.New("the agent has not loaded a desired state yet")

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func drift(state reconcile.DriftState, reason string) Drift {
	return Drift{State: state, Reason: reason}
}

// fixture is a stack at 3 am with a bit of everything: a stale consumer, a hand-edited source, a rotation in
// progress, a rotation that rolled back, a declared consumer rekey cannot see, and open alerts.
func fixture() Model {
	return Model{
		Generated: at("2026-11-26T03:14:00Z"),
		Version:   "v0.9.0",
		Repo:      "/srv/secrets-repo",
		Ref:       "main",
		Project:   "shop",
		Commit: Commit{Hash: "4b1c2d3e4f5061728394a5b6c7d8e9f001122334", Subject: "Rotate the session key",
			Time: at("2026-11-25T20:58:03Z")},
		LastReconcile: Reconcile{Time: at("2026-11-26T03:13:12Z"), Result: ResultOK},
		Secrets: []Secret{
			{
				Name: "api-signing-key", Kind: reconcile.KindAppKey, Fingerprint: "hmac:0d9e8f7a6b5c4d3e",
				LastRotation: Rotation{Time: at("2026-11-26T02:41:55Z"), Outcome: reconcile.OutcomeRolledBack,
					Reason: "check http http://127.0.0.1:8080/healthz after rolling app: status 500, want 200"},
				Sources: []SourceState{
					{Location: "/srv/shop/.env:API_SIGNING_KEY", Drift: drift(reconcile.DriftInSync, "")},
					{Location: "/srv/shop/.env:API_SIGNING_KEY_PREVIOUS", Drift: drift(reconcile.DriftInSync, "")},
				},
				Consumers: []Consumer{
					{Name: "app", Action: reconcile.Recreate, Containers: []Container{{ID: "3f2a1b0c9d8e", Drift: drift(reconcile.DriftInSync, "")}}},
				},
			},
			{
				Name: "backup-token", Kind: reconcile.KindToken, Fingerprint: "hmac:5a4b3c2d1e0f9a8b",
				LastRotation: Rotation{Time: at("2026-11-19T04:00:00Z"), Outcome: reconcile.OutcomeRotated},
				Sources: []SourceState{
					{Location: "/etc/backup/token", Drift: drift(reconcile.DriftInSync, "")},
				},
				Consumers: []Consumer{
					{Name: "/etc/cron.daily/backup", Action: reconcile.NoRoll, Containers: []Container{
						{Drift: drift(reconcile.DriftUnknown, "a declared consumer: rekey cannot see how it reads the value")}}},
				},
			},
			{
				Name: "session-key", Kind: reconcile.KindAppKey, Fingerprint: "hmac:65083c668c8178e3",
				LastRotation:      Rotation{Time: at("2026-11-25T21:02:11Z"), Outcome: reconcile.OutcomeVerified},
				PendingRevocation: true, PendingUntil: at("2026-11-26T21:02:11Z"),
				Sources: []SourceState{
					{Location: "/srv/shop/.env:SESSION_SECRET", Drift: drift(reconcile.DriftInSync, "")},
				},
				Consumers: []Consumer{
					{Name: "app", Action: reconcile.Recreate, Containers: []Container{{ID: "3f2a1b0c9d8e", Drift: drift(reconcile.DriftInSync, "")}}},
					{Name: "worker", Action: reconcile.Recreate, Containers: []Container{{ID: "77aa01bc23de", Drift: Drift{
						State: reconcile.DriftStaleConsumer, Since: at("2026-11-26T01:10:50Z"),
						Reason: "runs another value than its source holds: it started before the source changed"}}}},
				},
			},
			{
				Name: "smtp-password", Kind: reconcile.KindToken, Fingerprint: "hmac:c0ffee00c0ffee00",
				LastRotation: Rotation{Time: at("2026-10-02T11:30:00Z"), Outcome: reconcile.OutcomeRotated},
				OpenTxn:      &Txn{ID: "t-20261126-031240-smtp", Phase: reconcile.PhaseRolling, Started: at("2026-11-26T03:12:40Z")},
				Sources: []SourceState{
					{Location: "/srv/shop/mail.env:SMTP_PASSWORD", Drift: drift(reconcile.DriftPending, "rotation t-20261126-031240-smtp in progress")},
				},
				Consumers: []Consumer{
					{Name: "mailer", Action: reconcile.Recreate, Containers: []Container{
						{ID: "a1b2c3d4e5f6", Drift: drift(reconcile.DriftPending, "rotation t-20261126-031240-smtp in progress")},
						{ID: "0a9b8c7d6e5f", Drift: drift(reconcile.DriftPending, "rotation t-20261126-031240-smtp in progress")},
					}},
				},
			},
			{
				Name: "webhook-token", Kind: reconcile.KindToken, Fingerprint: "hmac:9c1e4f2ab37d0e15",
				LastRotation: Rotation{Time: at("2026-11-12T09:15:30Z"), Outcome: reconcile.OutcomeRotated},
				Sources: []SourceState{
					{Location: "/srv/shop/secrets/webhook_token.txt", Drift: drift(reconcile.DriftSourceEdited, "holds another value than Git")},
				},
				Consumers: []Consumer{
					{Name: "app", Action: reconcile.Restart, Containers: []Container{{ID: "3f2a1b0c9d8e",
						Drift: drift(reconcile.DriftSourceEdited, "runs the value of its hand-edited source")}}},
				},
			},
		},
		Alerts: []Alert{
			{Key: "rotation/api-signing-key", State: "rolled-back", Since: at("2026-11-26T02:41:55Z"),
				Reason: "check http http://127.0.0.1:8080/healthz after rolling app: status 500, want 200"},
			{Key: "drift/session-key/consumer/worker/77aa01bc23de", State: "stale-consumer", Since: at("2026-11-26T01:13:02Z"),
				Reason: "runs another value than its source holds: it started before the source changed"},
			{Key: "drift/webhook-token/source//srv/shop/secrets/webhook_token.txt", State: "source-edited", Since: at("2026-11-26T02:05:47Z"),
				Reason: "/srv/shop/secrets/webhook_token.txt: holds another value than Git"},
			{Key: "drift/webhook-token/consumer/app/3f2a1b0c9d8e", State: "source-edited", Since: at("2026-11-26T02:05:47Z"),
				Reason: "runs the value of its hand-edited source"},
		},
	}
}

// inSync is a small stack where everything holds Git's value.
func inSync() Model {
	return Model{
		Generated:     at("2026-11-26T03:14:00Z"),
		Version:       "v0.9.0",
		Repo:          "/srv/secrets-repo",
		Ref:           "HEAD",
		Project:       "shop",
		Commit:        Commit{Hash: "4b1c2d3e4f50", Subject: "Rotate the webhook token", Time: at("2026-11-25T20:58:03Z")},
		LastReconcile: Reconcile{Time: at("2026-11-26T03:13:12Z"), Result: ResultOK},
		Secrets: []Secret{
			{
				Name: "session-key", Kind: reconcile.KindAppKey, Fingerprint: "hmac:65083c668c8178e3",
				LastRotation: Rotation{Time: at("2026-11-20T21:02:11Z"), Outcome: reconcile.OutcomeFinalized},
				Sources:      []SourceState{{Location: "/srv/shop/.env:SESSION_SECRET", Drift: drift(reconcile.DriftInSync, "")}},
				Consumers: []Consumer{
					{Name: "app", Action: reconcile.Recreate, Containers: []Container{{ID: "3f2a1b0c9d8e", Drift: drift(reconcile.DriftInSync, "")}}},
					{Name: "worker", Action: reconcile.Recreate, Containers: []Container{{ID: "77aa01bc23de", Drift: drift(reconcile.DriftInSync, "")}}},
				},
			},
			{
				Name: "webhook-token", Kind: reconcile.KindToken, Fingerprint: "hmac:9c1e4f2ab37d0e15",
				LastRotation: Rotation{Time: at("2026-11-25T21:05:00Z"), Outcome: reconcile.OutcomeRotated},
				Sources:      []SourceState{{Location: "/srv/shop/secrets/webhook_token.txt", Drift: drift(reconcile.DriftInSync, "")}},
				Consumers: []Consumer{
					{Name: "app", Action: reconcile.Restart, Containers: []Container{{ID: "3f2a1b0c9d8e", Drift: drift(reconcile.DriftInSync, "")}}},
				},
			},
		},
	}
}

// hostile is a model whose every free-text field tries to break out of the page.
func hostile() Model {
	const script = "<script>alert(1)</script>"
	const img = `"><img src=x onerror=alert(2)>`
	return Model{
		Generated:     at("2026-11-26T03:14:00Z"),
		Version:       script,
		Repo:          "https://x-access-token:ghp_SECRETTOKEN@github.com/acme/secrets.git?token=abc#frag",
		Ref:           img,
		Project:       script,
		Commit:        Commit{Hash: `4b1c"'><script>`, Subject: "</title>" + script},
		LastReconcile: Reconcile{Time: at("2026-11-26T03:13:12Z"), Result: ResultError, Error: "</pre>" + script},
		Secrets: []Secret{{
			Name: script, Kind: reconcile.Kind(img), Fingerprint: "not-a-fingerprint: hunter2",
			LastRotation: Rotation{Time: at("2026-11-26T03:00:00Z"), Outcome: reconcile.Outcome(script), Reason: img},
			OpenTxn:      &Txn{ID: script, Phase: reconcile.PhaseWriting},
			Sources:      []SourceState{{Location: "/srv/<b>bold</b>.env:" + script, Drift: drift(reconcile.DriftState(img), script)}},
			Consumers: []Consumer{{Name: script, Action: reconcile.RollAction(img),
				Containers: []Container{{ID: img, Drift: drift(reconcile.DriftSourceEdited, script)}}}},
		}},
		Alerts: []Alert{{Key: script, State: img, Reason: script}},
	}
}
