package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/envfile"
	"github.com/rekeyhq/rekey/internal/testenv"
)

// The values a person types by hand in these tests: they must never show in rekey's output either.
const (
	handSession = "hand-edited-session-secret-0123456789"
	handToken   = "hand-edited-webhook-token-abcdef012345"
)

type driftPlace struct {
	Secret, Place, Name, Container, State, Since, Reason string
}

// drift runs `rekey drift --output json` and returns its exit code and places as "secret place name state".
func (r *rig) drift(extra ...string) (int, map[string]driftPlace) {
	r.t.Helper()
	res := r.rekey(append([]string{"drift", "--output", "json"}, extra...)...)
	noHandValues(r.t, res)
	var out struct {
		Places []driftPlace `json:"places"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
		r.t.Fatalf("drift exited %d, output: %v\n%s\n%s", res.code, err, res.stdout, res.stderr)
	}
	places := map[string]driftPlace{}
	for _, p := range out.Places {
		places[p.Secret+" "+p.Place+" "+filepath.Base(p.Name)] = p
	}
	return res.code, places
}

func noHandValues(t *testing.T, res result) {
	t.Helper()
	for _, v := range []string{handSession, handToken, handServerPassword} {
		if strings.Contains(res.stdout, v) || strings.Contains(res.stderr, v) {
			t.Errorf("rekey output contains a hand-edited value")
		}
	}
}

func (r *rig) setEnv(key, value string) {
	r.t.Helper()
	path := filepath.Join(r.stack.Dir, ".env")
	data, err := os.ReadFile(path)
	if err != nil {
		r.t.Fatal(err)
	}
	f, err := envfile.Parse(data)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := f.Set(key, value); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(path, f.Bytes(), 0o600); err != nil {
		r.t.Fatal(err)
	}
}

func wantStates(t *testing.T, places map[string]driftPlace, want map[string]string) {
	t.Helper()
	for k, state := range want {
		if got := places[k].State; got != state {
			t.Errorf("%s: state %q, want %q (all: %+v)", k, got, state, places)
		}
	}
}

// TestDriftHandEditedEnv: a hand edit of .env is source-edited and left alone by apply; a consumer
// recreated by hand with it follows the edited source; once the source is put back, that consumer is
// stale; apply --heal rolls only it.
func TestDriftHandEditedEnv(t *testing.T) {
	r := newRig(t, "0s")
	r.mustApply()
	code, places := r.drift()
	if code != 0 {
		t.Fatalf("drift on a fresh stack exited %d: %+v", code, places)
	}
	wantStates(t, places, map[string]string{
		"session-key source .env:SESSION_SECRET": "in-sync",
		"session-key consumer app":               "in-sync",
		"session-key consumer worker":            "in-sync",
		"webhook-token source webhook_token.txt": "in-sync",
		"webhook-token consumer app":             "in-sync",
	})

	gitValue := r.values["session-key"]
	r.setEnv("SESSION_SECRET", handSession)
	code, places = r.drift()
	if code != 6 {
		t.Errorf("drift after a hand edit exited %d, want 6", code)
	}
	wantStates(t, places, map[string]string{
		"session-key source .env:SESSION_SECRET": "source-edited",
		"session-key consumer app":               "in-sync", // not recreated since
		"webhook-token source webhook_token.txt": "in-sync",
	})

	before := r.ids()
	res := r.rekey("apply")
	noHandValues(t, res)
	if res.code != 6 || !strings.Contains(res.stdout, "drift") {
		t.Fatalf("apply over drift exited %d, want 6 and a drift note:\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if after := r.ids(); after["app"] != before["app"] || after["worker"] != before["worker"] {
		t.Fatal("apply recreated consumers over drift without heal")
	}
	if got := r.stack.DotEnv(t)["SESSION_SECRET"]; got != handSession {
		t.Fatal("apply overwrote the hand-edited .env without heal")
	}

	// The operator recreates the worker with the hand-edited value, then puts the source back.
	r.stack.Compose(t, "up", "-d", "--no-deps", "worker")
	code, places = r.drift()
	wantStates(t, places, map[string]string{
		"session-key consumer worker": "source-edited",
		"session-key consumer app":    "in-sync",
	})
	r.setEnv("SESSION_SECRET", gitValue)
	code, places = r.drift()
	if code != 6 {
		t.Errorf("drift with a stale worker exited %d, want 6", code)
	}
	wantStates(t, places, map[string]string{
		"session-key source .env:SESSION_SECRET": "in-sync",
		"session-key consumer worker":            "stale-consumer",
		"session-key consumer app":               "in-sync",
	})
	if p := places["session-key consumer worker"]; p.Since == "" || p.Container == "" {
		t.Errorf("stale consumer without since/container: %+v", p)
	}

	before = r.ids()
	res = r.rekey("apply", "--heal")
	noHandValues(t, res)
	if res.code != 0 {
		t.Fatalf("apply --heal exited %d:\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	after := r.ids()
	if after["worker"] == before["worker"] || after["app"] != before["app"] {
		t.Errorf("heal should recreate only the stale worker: before %v after %v", before, after)
	}
	if _, worker := r.fingerprints(); worker["session_key"] != testenv.Fingerprint(gitValue) {
		t.Errorf("worker runs %v after heal, want Git's key", worker)
	}
	if code, places = r.drift(); code != 0 {
		t.Errorf("drift after heal exited %d: %+v", code, places)
	}
}

// TestDriftSecretFileHealed: a secret file edited in place is visible at once to the container
// (source-edited at both places); with heal: true in rekey.yaml, apply restores Git's value through a
// normal rotation.
func TestDriftSecretFileHealed(t *testing.T) {
	r := newRig(t, "0s")
	r.mustApply()
	path := filepath.Join(r.stack.Dir, "secrets", "webhook_token.txt")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(handToken); err != nil {
		t.Fatal(err)
	}
	f.Close()
	code, places := r.drift()
	if code != 6 {
		t.Errorf("drift exited %d, want 6", code)
	}
	wantStates(t, places, map[string]string{
		"webhook-token source webhook_token.txt": "source-edited",
		"webhook-token consumer app":             "source-edited",
		"session-key consumer app":               "in-sync",
	})

	r.config = strings.Replace(r.config, "    file: secrets/webhook_token.txt\n", "    file: secrets/webhook_token.txt\n    heal: true\n", 1)
	writeFile(t, filepath.Join(r.repo, "rekey.yaml"), r.config)
	r.git("commit", "-q", "-am", "heal the webhook token")
	res := r.rekey("apply")
	noHandValues(t, res)
	if res.code != 0 || !strings.Contains(res.stdout, "rotated") {
		t.Fatalf("apply with heal: true exited %d:\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if got := r.stack.ReadFile(t, "secrets/webhook_token.txt"); got != r.values["webhook-token"] {
		t.Error("heal did not restore Git's token")
	}
	if code, places = r.drift(); code != 0 {
		t.Errorf("drift after heal exited %d: %+v", code, places)
	}
	// The hand-edited value was retired by the heal: committing it now would be a replay.
	r.values["webhook-token"] = handToken
	r.commitValues("bring back the hand-edited token")
	if res := r.rekey("apply"); res.code != 5 {
		t.Errorf("apply of the retired hand-edited value exited %d, want 5 (refused)", res.code)
	}
}
