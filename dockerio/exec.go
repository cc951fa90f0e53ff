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

// Exec runs cmd inside a running container and returns its exit code and its
// stdout followed by stderr (demultiplexed). stdin, when non-nil, is written
// to the process's standard input, which is then closed: secret values travel
// this way only, never in cmd. A non-zero exit code is not an error; err
// reports failures to run the command at all. Output beyond 16 MiB per
// stream is dropped.
func (e *Engine) Exec(ctx context.Context, id string, cmd []string, stdin []byte) (int, []byte, error) {
	if len(cmd) == 0 {
		return -1, nil, errors.New("failed to exec: empty command")
	}
	created, err := e.cli.ContainerExecCreate(ctx, id, container.ExecOptions{
		AttachStdin:  stdin != nil,
		AttachStdout: true,
		AttachStderr: true,
		Cmd:          cmd,
	})
	if err != nil {
		return -1, nil, fmt.Errorf("failed to create exec %q in container %s: %w", cmd[0], shortID(id), e.safe(err))
	}
	att, err := e.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return -1, nil, fmt.Errorf("failed to start exec %q in container %s: %w", cmd[0], shortID(id), e.safe(err))
	}
	defer att.Close()

	// Close the connection when ctx ends so the reads below return.
	stop := context.AfterFunc(ctx, func() { att.Close() })
	defer stop()

	werr := make(chan error, 1)
	if stdin != nil {
		go func() {
			_, err := att.Conn.Write(stdin)
			if cerr := att.CloseWrite(); err == nil {
				err = cerr
			}
			werr <- err
		}()
	} else {
		werr <- nil
	}

	var stdout, stderr bytes.Buffer
	_, rerr := stdcopy.StdCopy(&limitWriter{w: &stdout, n: e.maxBytes}, &limitWriter{w: &stderr, n: e.maxBytes}, att.Reader)
	if ctx.Err() != nil {
		return -1, nil, fmt.Errorf("failed to exec %q in container %s: %w", cmd[0], shortID(id), ctx.Err())
	}
	if rerr != nil {
		return -1, nil, fmt.Errorf("failed to read the output of exec %q in container %s: %w", cmd[0], shortID(id), e.safe(rerr))
	}
	// A process may exit without reading all of its stdin; the write error
	// (a broken pipe) says nothing the exit code does not.
	<-werr

	code, err := e.execExitCode(ctx, created.ID)
	if err != nil {
		return -1, nil, fmt.Errorf("failed to inspect exec %q in container %s: %w", cmd[0], shortID(id), e.safe(err))
	}
	out := append(stdout.Bytes(), stderr.Bytes()...)
	return code, out, nil
}

func (e *Engine) execExitCode(ctx context.Context, execID string) (int, error) {
	for {
		insp, err := e.cli.ContainerExecInspect(ctx, execID)
		if err != nil {
			return -1, err
		}
		if !insp.Running {
			return insp.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// limitWriter keeps the first n bytes and silently drops the rest.
type limitWriter struct {
	w io.Writer
	n int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	total := len(p)
	if l.n <= 0 {
		return total, nil
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.w.Write(p)
	l.n -= int64(n)
	if err != nil {
		return n, err
	}
	return total, nil
}
