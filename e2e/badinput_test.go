package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"filippo.io/age"
)

// TestBadInputChangesNothing feeds rekey one kind of bad input at a time, each time with a real rotation
// pending, and checks the message, the exit code, and that no file or container changed.
func TestBadInputChangesNothing(t *testing.T) {
	r := newRig(t, "0s")
	r.values["session-key"] = "a-rotation-that-must-not-happen-0123456789"
	r.commitValues("a pending rotation")
	base := r.git("rev-parse", "HEAD")

	tests := []struct {
		name  string
		setup func(t *testing.T) func() // returns an undo
		want  string
	}{{
		name:  "malformed rekey.yaml",
		setup: r.commitConfigEdit("health_timeout: 30s\n", "health_timeout: 30s\nsecrets: [\n"),
		want:  "rekey.yaml:",
	}, {
		name:  "unknown field",
		setup: r.commitConfigEdit("    keep_previous: 0s\n", "    keep_previous: 0s\n    keep_previus: 1h\n"),
		want:  "rekey.yaml:13: field keep_previus is not a known field of a secret",
	}, {
		name:  "unknown service",
		setup: r.commitConfigEdit("    file: secrets/webhook_token.txt\n", "    file: secrets/webhook_token.txt\n    consumers: [{service: mailer}]\n"),
		want:  `rekey.yaml:16: secret webhook-token: unknown service "mailer"`,
	}, {
		name:  "unknown variable",
		setup: r.commitConfigEdit("SESSION_SECRET_PREVIOUS}", "SESSION_SECRET_PREVIUS}"),
		want:  "variable SESSION_SECRET_PREVIUS is not used by any service",
	}, {
		name: "secret missing from the values file",
		setup: func(t *testing.T) func() {
			delete(r.values, "webhook-token")
			r.commitValues("drop a value")
			return func() { r.values["webhook-token"] = r.stack.ReadFile(t, "secrets/webhook_token.txt") }
		},
		want: "secret webhook-token is missing from the values file secrets.sops.yaml",
	}, {
		name: "tampered values file",
		setup: func(t *testing.T) func() {
			p := filepath.Join(r.repo, "secrets.sops.yaml")
			data, _ := os.ReadFile(p)
			data = regexp.MustCompile(`(?m)^webhook-token: .*\n`).ReplaceAll(data, nil)
			writeFile(t, p, string(data))
			r.git("commit", "-qam", "tamper")
			return nil
		},
		want: "MAC mismatch",
	}, {
		name: "wrong age key",
		setup: func(t *testing.T) func() {
			other, _ := age.GenerateX25519Identity()
			saved, _ := os.ReadFile(r.keyFile)
			writeFile(t, r.keyFile, other.String()+"\n")
			return func() { writeFile(t, r.keyFile, string(saved)) }
		},
		want: "--age-key-file",
	}, {
		name: "missing age key file",
		setup: func(t *testing.T) func() {
			saved, _ := os.ReadFile(r.keyFile)
			os.Remove(r.keyFile)
			return func() { writeFile(t, r.keyFile, string(saved)) }
		},
		want: "failed to read the age key file",
	}, {
		name: "cyclic depends_on",
		setup: func(t *testing.T) func() {
			p := filepath.Join(r.stack.Dir, "compose.yaml")
			saved, _ := os.ReadFile(p)
			cyc := strings.Replace(string(saved), "  redis:\n    image: rekey-demo/redis:dev\n",
				"  redis:\n    image: rekey-demo/redis:dev\n    depends_on: [worker]\n", 1)
			if cyc == string(saved) {
				t.Fatal("could not add a cycle to compose.yaml")
			}
			os.WriteFile(p, []byte(cyc), 0o644)
			return func() { os.WriteFile(p, saved, 0o644) }
		},
		want: "cyclic depends_on",
	}, {
		name:  "missing compose project",
		setup: r.commitConfigEdit("project_dir: "+r.stack.Dir, "project_dir: "+t.TempDir()),
		want:  "no compose file found in",
	}, {
		name: "unwritable source file",
		setup: func(t *testing.T) func() {
			p := filepath.Join(r.stack.Dir, ".env")
			if out, err := exec.Command("chattr", "+i", p).CombinedOutput(); err != nil {
				t.Fatalf("chattr +i: %v %s", err, out)
			}
			return func() { exec.Command("chattr", "-i", p).Run() }
		},
		want: ".env",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, token, ids := r.stack.ReadFile(t, ".env"), r.stack.ReadFile(t, "secrets/webhook_token.txt"), r.ids()
			undo := tc.setup(t)
			res := r.rekey("apply")
			if undo != nil {
				undo()
			}
			r.git("reset", "-q", "--hard", base)
			if res.code != 1 {
				t.Errorf("exit code %d, want 1\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
			}
			if !strings.Contains(res.stderr, tc.want) {
				t.Errorf("stderr does not contain %q:\n%s", tc.want, res.stderr)
			}
			if lines := strings.Count(strings.TrimSpace(res.stderr), "\n") + 1; lines > 3 {
				t.Errorf("want one precise message, got %d lines:\n%s", lines, res.stderr)
			}
			if r.stack.ReadFile(t, ".env") != env || r.stack.ReadFile(t, "secrets/webhook_token.txt") != token {
				t.Error("a source file changed")
			}
			for s, id := range r.ids() {
				if ids[s] != id {
					t.Errorf("container of %s changed", s)
				}
			}
		})
	}
	// With the bad input gone, the same pending rotation goes through.
	r.mustApply()
}

// commitConfigEdit returns a setup that commits rekey.yaml with old replaced by new.
func (r *rig) commitConfigEdit(old, new string) func(t *testing.T) func() {
	return func(t *testing.T) func() {
		if !strings.Contains(r.config, old) {
			t.Fatalf("rekey.yaml has no %q", old)
		}
		writeFile(t, filepath.Join(r.repo, "rekey.yaml"), strings.Replace(r.config, old, new, 1))
		r.git("commit", "-qam", "edit rekey.yaml")
		return nil
	}
}
