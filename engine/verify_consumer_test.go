package engine

import (
	"testing"
	"time"

	"github.com/rekeyhq/rekey/reconcile"
)

// TestServiceConsumerVerifyRuns: a verify under a service consumer becomes a check of that consumer, and
// the plan verifies it right after that consumer's roll (docs/config.md once said it never ran).
func TestServiceConsumerVerifyRuns(t *testing.T) {
	dir := writeProject(t)
	secrets := `  backup-key:
    type: token
    env: {value: BACKUP_KEY}
    consumers:
      - service: db
        verify: {exec: {service: db, cmd: ["check-backup-key"]}}
`
	d, err := build(t, dir, secrets, map[string]string{"backup-key": "b2"})
	if err != nil {
		t.Fatal(err)
	}
	var db *reconcile.Consumer
	for i, c := range d.Secrets[0].Consumers {
		if c.Name == "db" {
			db = &d.Secrets[0].Consumers[i]
		}
	}
	if db == nil || len(db.Checks) != 1 || db.Checks[0].Kind != reconcile.CheckExec || db.Checks[0].Cmd[0] != "check-backup-key" {
		t.Fatalf("consumer db = %+v, want its exec check", db)
	}
	obs := reconcile.Observed{Now: time.Now(), Secrets: map[string]reconcile.SecretState{}}
	sp := reconcile.MakePlan(d, obs).Secrets[0]
	rolled := false
	for _, st := range sp.Steps {
		switch {
		case st.Kind == reconcile.StepRoll && st.Consumer == "db":
			rolled = true
		case st.Kind == reconcile.StepVerify && st.Consumer == "db" && st.Check.Kind == reconcile.CheckExec && st.Check.Cmd[0] == "check-backup-key":
			if !rolled {
				t.Fatalf("the consumer's check runs before its roll: %v", sp.Steps)
			}
			return
		}
	}
	t.Fatalf("no step verifies db's check after its roll: %v", sp.Steps)
}
