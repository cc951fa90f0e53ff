package reconcile

import "testing"

// TestRollNote: a roll step names its strategy and why, and journal readers can take the note off again.
func TestRollNote(t *testing.T) {
	st := Step{Kind: StepRoll, Consumer: "app", Roll: Recreate, Strategy: StartFirst, Why: "no published port (or volume)"}
	if got := st.String(); got != "recreate app (start-first: no published port (or volume))" {
		t.Errorf("step = %q", got)
	}
	for in, want := range map[string]string{
		st.String():                 "recreate app",
		"recreate app (stop-first)": "recreate app",
		"recreate app":              "recreate app",
		"restart /srv/x (copy)/env": "restart /srv/x (copy)/env",
		(Step{Kind: StepRoll, Consumer: "w", Roll: Recreate}).String(): "recreate w",
	} {
		if got := StepWithoutNote(in); got != want {
			t.Errorf("StepWithoutNote(%q) = %q, want %q", in, got, want)
		}
	}
}
