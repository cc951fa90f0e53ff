package swarmio

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"
)

// execRecorder is the local engine of a relay under test: it records what it was asked to run.
type execRecorder struct {
	id    string
	cmd   []string
	stdin []byte
	code  int
	out   []byte
	err   error
}

func (e *execRecorder) Exec(_ context.Context, id string, cmd []string, stdin []byte) (int, []byte, error) {
	e.id, e.cmd, e.stdin = id, cmd, stdin
	return e.code, e.out, e.err
}

// TestRelaySealsTheResult runs the job's side with stdin from a file and opens what it wrote the way
// rekey does, from a log with lines around it: code and output come back; the log holds neither the
// output nor the stdin in the clear.
func TestRelaySealsTheResult(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	stdinPath := filepath.Join(t.TempDir(), "stdin")
	secretIn := "ALTER ROLE x PASSWORD 'SCRAM-SHA-256$4096:salt-in-stdin'"
	if err := os.WriteFile(stdinPath, []byte(secretIn), 0o400); err != nil {
		t.Fatal(err)
	}
	eng := &execRecorder{code: 3, out: []byte("output-verifier-SCRAM-in-output\nline two")}
	var log bytes.Buffer
	log.WriteString("some engine chatter\n")
	cmd := []string{"psql", "-X", "-q"}
	if err := RelayExec(context.Background(), eng, "c0ffee", cmd, stdinPath, id.Recipient().String(), &log); err != nil {
		t.Fatalf("RelayExec: %v", err)
	}
	log.WriteString("trailing line\n")
	if eng.id != "c0ffee" || !slices.Equal(eng.cmd, cmd) || string(eng.stdin) != secretIn {
		t.Fatalf("exec got container %q cmd %q stdin %q", eng.id, eng.cmd, eng.stdin)
	}
	for _, clear := range []string{"output-verifier", "salt-in-stdin", "line two"} {
		if strings.Contains(log.String(), clear) {
			t.Fatalf("the log holds %q in the clear:\n%s", clear, log.String())
		}
	}
	res, err := unseal(id, log.Bytes())
	if err != nil {
		t.Fatalf("unseal: %v", err)
	}
	if res.Code != 3 || string(res.Out) != string(eng.out) {
		t.Fatalf("result = %d %q, want 3 %q", res.Code, res.Out, eng.out)
	}
	other, _ := age.GenerateX25519Identity()
	if _, err := unseal(other, log.Bytes()); err == nil {
		t.Fatal("another key opened the result")
	}
}

// TestRelayWithoutStdinAndFailures: no stdin file means no stdin; a command that cannot run writes
// nothing; a log without a result is errNoResult.
func TestRelayWithoutStdinAndFailures(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	eng := &execRecorder{out: []byte("1\n")}
	var log bytes.Buffer
	if err := RelayExec(context.Background(), eng, "c", []string{"true"}, "", id.Recipient().String(), &log); err != nil {
		t.Fatal(err)
	}
	if eng.stdin != nil {
		t.Fatalf("stdin = %q, want none", eng.stdin)
	}
	eng.err = errors.New("no such container")
	log.Reset()
	if err := RelayExec(context.Background(), eng, "c", []string{"true"}, "", id.Recipient().String(), &log); err == nil || log.Len() != 0 {
		t.Fatalf("err %v, log %q: want an error and nothing written", err, log.String())
	}
	if _, err := unseal(id, []byte("relay: no such container\n")); !errors.Is(err, errNoResult) {
		t.Fatalf("unseal of a log without a result: %v", err)
	}
	if err := RelayExec(context.Background(), eng, "c", []string{"true"}, "", "not-a-recipient", &log); err == nil {
		t.Fatal("a bad recipient was accepted")
	}
	big := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(big, make([]byte, maxRelayStdin+1), 0o400); err != nil {
		t.Fatal(err)
	}
	eng.err = nil
	if err := RelayExec(context.Background(), eng, "c", []string{"true"}, big, id.Recipient().String(), &log); err == nil {
		t.Fatal("an oversized stdin was read")
	}
}
