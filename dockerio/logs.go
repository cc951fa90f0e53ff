package dockerio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// errMatched stops the log copy once a pattern matched.
var errMatched = errors.New("pattern matched")

// LogsMatch scans the container's stdout and stderr logs written at or after
// since (or since the container's last start when since is zero) for any of
// the plain substrings in patterns, and returns the first pattern found in
// log order ("" when none). The log line itself is never returned. It reads
// the logs present now; it does not follow them.
//
// The engine records State.StartedAt only after the process runs, so its
// first lines can be stamped earlier: "since the last start" therefore means
// since the previous stop (State.FinishedAt) for a running container that has
// run before, all logs for one that never stopped, and State.StartedAt minus
// one second for a stopped container.
func (e *Engine) LogsMatch(ctx context.Context, id string, since time.Time, patterns []string) (string, error) {
	var pats [][]byte
	longest := 0
	for _, p := range patterns {
		if p == "" {
			continue
		}
		pats = append(pats, []byte(p))
		longest = max(longest, len(p))
	}
	if len(pats) == 0 {
		return "", nil
	}
	insp, err := e.cli.ContainerInspect(ctx, id)
	if err != nil {
		return "", fmt.Errorf("failed to inspect container %s: %w", shortID(id), e.safe(err))
	}
	if since.IsZero() {
		since = lastStart(insp)
	}
	opts := container.LogsOptions{ShowStdout: true, ShowStderr: true}
	if !since.IsZero() {
		opts.Since = fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond())
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rc, err := e.cli.ContainerLogs(ctx, id, opts)
	if err != nil {
		return "", fmt.Errorf("failed to read the logs of container %s: %w", shortID(id), e.safe(err))
	}
	defer rc.Close()

	out := &matcher{pats: pats, keep: longest - 1}
	errOut := &matcher{pats: pats, keep: longest - 1}
	if insp.Config != nil && insp.Config.Tty {
		_, err = io.Copy(out, rc)
	} else {
		_, err = stdcopy.StdCopy(out, errOut, rc)
	}
	for _, m := range []*matcher{out, errOut} {
		if m.found != "" {
			return m.found, nil
		}
	}
	if err != nil {
		return "", fmt.Errorf("failed to read the logs of container %s: %w", shortID(id), e.safe(err))
	}
	return "", nil
}

// matcher looks for plain substrings in a stream, keeping only the tail
// needed to match across writes.
type matcher struct {
	pats  [][]byte
	keep  int
	tail  []byte
	found string
}

func (m *matcher) Write(p []byte) (int, error) {
	if m.found != "" {
		return 0, errMatched
	}
	buf := append(m.tail, p...)
	best := -1
	for _, pat := range m.pats {
		if i := bytes.Index(buf, pat); i >= 0 && (best < 0 || i < best) {
			best = i
			m.found = string(pat)
		}
	}
	if m.found != "" {
		clear(buf)
		m.tail = nil
		return 0, errMatched
	}
	if len(buf) > m.keep {
		// Overwrite what is dropped: it may hold part of a secret.
		n := copy(buf, buf[len(buf)-m.keep:])
		clear(buf[n:])
		buf = buf[:n]
	}
	m.tail = buf
	return len(p), nil
}

// lastStart is the earliest log timestamp that belongs to the container's
// current (or last) run; zero means all logs.
func lastStart(insp container.InspectResponse) time.Time {
	st := insp.State
	if st == nil {
		return time.Time{}
	}
	started, finished := parseTime(st.StartedAt), parseTime(st.FinishedAt)
	switch {
	case started.IsZero() || finished.IsZero():
		return time.Time{} // never started, or never stopped: every line is from this run
	case finished.Before(started):
		return finished // running again after a stop or restart
	default:
		return started.Add(-time.Second) // stopped: the previous stop time is gone
	}
}
