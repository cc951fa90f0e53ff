package swarmio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// The relay is how rekey runs a driver's command in a credential server's container on another node of
// the swarm: the Docker API's exec reaches only containers of the engine it talks to. rekey (on a
// manager) starts a one-off job on the server's node, from its own image, with that node's Docker socket
// mounted; the job's process (`rekey swarm-exec`, RelayExec) execs the command in the server's container
// exactly as rekey does on Compose. The command's stdin reaches the job as a one-off secret object
// mounted in it, and its exit code and output come back sealed (age, to a key rekey made for this one
// run and holds only in memory) in the job's log: the log, kept by the node's engine, holds ciphertext.

// RelayCommand is the hidden rekey subcommand a relay job runs.
const RelayCommand = "swarm-exec"

// RelayStdinTarget is where a relay job finds its stdin: /run/secrets/<target>.
const RelayStdinTarget = "rekey-stdin"

// maxRelayStdin bounds the stdin a relay reads (Swarm refuses secret objects over 500 KiB anyway).
const maxRelayStdin = 512 << 10

// maxRelayOutput bounds the sealed result rekey reads back from a job's log.
const maxRelayOutput = 32 << 20

// relayResult is what a relay seals: the command's exit code and its output (stdout then stderr).
type relayResult struct {
	Code int    `json:"code"`
	Out  []byte `json:"out"`
}

// Execer runs a command in a container of the local engine (dockerio.Engine).
type Execer interface {
	Exec(ctx context.Context, id string, cmd []string, stdin []byte) (int, []byte, error)
}

// RelayExec is the job's side: it runs cmd in container through the node's engine, with stdin read from
// stdinPath ("" for none), and writes the sealed result to w. An error means the command could not run
// at all; a non-zero exit code of the command is in the result, not an error.
func RelayExec(ctx context.Context, eng Execer, container string, cmd []string, stdinPath, recipient string, w io.Writer) error {
	r, err := age.ParseX25519Recipient(recipient)
	if err != nil {
		return fmt.Errorf("invalid recipient: %w", err)
	}
	var stdin []byte
	if stdinPath != "" {
		if stdin, err = readLimited(stdinPath, maxRelayStdin); err != nil {
			return err
		}
	}
	code, out, err := eng.Exec(ctx, container, cmd, stdin)
	if err != nil {
		return err
	}
	sealed, err := seal(r, relayResult{Code: code, Out: out})
	if err != nil {
		return err
	}
	_, err = w.Write(sealed)
	return err
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read the relay's stdin: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read the relay's stdin: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("the relay's stdin is larger than %d bytes", limit)
	}
	return data, nil
}

// seal encrypts a result to r, ASCII-armored: short lines, which a log driver never splits.
func seal(r age.Recipient, res relayResult) ([]byte, error) {
	plain, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	ew, err := age.Encrypt(aw, r)
	if err != nil {
		return nil, fmt.Errorf("failed to seal the result: %w", err)
	}
	if _, err := ew.Write(plain); err != nil {
		return nil, fmt.Errorf("failed to seal the result: %w", err)
	}
	if err := ew.Close(); err != nil {
		return nil, fmt.Errorf("failed to seal the result: %w", err)
	}
	if err := aw.Close(); err != nil {
		return nil, fmt.Errorf("failed to seal the result: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// errNoResult: the job's log holds no sealed result (the relay failed before writing one).
var errNoResult = errors.New("the relay job wrote no result")

// unseal finds the armored result in a job's log and decrypts it with id.
func unseal(id age.Identity, log []byte) (relayResult, error) {
	text := string(log)
	start := strings.Index(text, armor.Header)
	if start < 0 {
		return relayResult{}, errNoResult
	}
	end := strings.Index(text[start:], armor.Footer)
	if end < 0 {
		return relayResult{}, fmt.Errorf("%w (it is cut short)", errNoResult)
	}
	block := text[start : start+end+len(armor.Footer)]
	rd, err := age.Decrypt(armor.NewReader(strings.NewReader(block)), id)
	if err != nil {
		return relayResult{}, fmt.Errorf("failed to open the relay's result: %w", err)
	}
	plain, err := io.ReadAll(io.LimitReader(rd, maxRelayOutput))
	if err != nil {
		return relayResult{}, fmt.Errorf("failed to open the relay's result: %w", err)
	}
	var res relayResult
	if err := json.Unmarshal(plain, &res); err != nil {
		return relayResult{}, fmt.Errorf("failed to read the relay's result: %w", err)
	}
	return res, nil
}
