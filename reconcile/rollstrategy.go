package reconcile

import "strings"

// RollStrategy is how a recreated consumer's containers are replaced.
type RollStrategy string

const (
	// StartFirst starts a container with the new configuration beside the old one, waits until it is
	// healthy, then drains and stops the old one: the service never has fewer healthy containers. A
	// failure before the old container stopped removes the new one; the old one never noticed.
	StartFirst RollStrategy = "start-first"
	// StopFirst stops the old container, then starts the new one (docker compose up's recreate): for
	// services two containers of which cannot run side by side.
	StopFirst RollStrategy = "stop-first"
)

// rollNote is how a roll step names its strategy in a plan: "" when the consumer has none (restarts,
// host consumers, plans built without one).
func rollNote(s Step) string {
	if s.Strategy == "" {
		return ""
	}
	if s.Why == "" {
		return " (" + string(s.Strategy) + ")"
	}
	return " (" + string(s.Strategy) + ": " + s.Why + ")"
}

// StepWithoutNote is a roll step's text without its strategy note ("recreate app (start-first: …)" →
// "recreate app"): journal readers match a step to its consumer by the text's end.
func StepWithoutNote(step string) string {
	for _, s := range []RollStrategy{StartFirst, StopFirst} {
		if i := strings.Index(step, " ("+string(s)); i >= 0 && strings.HasSuffix(step, ")") {
			return step[:i]
		}
	}
	return step
}
