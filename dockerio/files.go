package dockerio

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
)

// Env returns the container's configured environment (Config.Env) as a map.
// Values may be secrets: the caller fingerprints them and drops them.
func (e *Engine) Env(ctx context.Context, id string) (map[string]string, error) {
	insp, err := e.cli.ContainerInspect(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("failed to inspect container %s: %w", shortID(id), e.safe(err))
	}
	return runConfig(insp).Env, nil
}

// RunConfig is what a container was created with and runs as. Env values may be secrets: the caller
// fingerprints them and drops them.
type RunConfig struct {
	ID         string
	Env        map[string]string
	Cmd        []string
	Entrypoint []string
	Running    bool
	Pid        int // host pid of the container's init process while it runs, else 0
	StartedAt  time.Time
}

// RunningConfigs returns the RunConfig of every running container of a compose service, with one inspect
// per container (a drift scan of a large stack is mostly these calls).
func (e *Engine) RunningConfigs(ctx context.Context, project, service string) ([]RunConfig, error) {
	list, err := e.list(ctx, project, service)
	if err != nil {
		return nil, err
	}
	var out []RunConfig
	for _, s := range list {
		if s.State != "running" {
			continue
		}
		insp, err := e.cli.ContainerInspect(ctx, s.ID)
		if cerrdefs.IsNotFound(err) {
			continue // removed between list and inspect
		}
		if err != nil {
			return nil, fmt.Errorf("failed to inspect container %s of service %s: %w", shortID(s.ID), service, e.safe(err))
		}
		if rc := runConfig(insp); rc.Running {
			out = append(out, rc)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func runConfig(insp container.InspectResponse) RunConfig {
	rc := RunConfig{ID: insp.ID, Env: map[string]string{}}
	if insp.Config != nil {
		for _, kv := range insp.Config.Env {
			k, v, _ := strings.Cut(kv, "=")
			rc.Env[k] = v
		}
		rc.Cmd, rc.Entrypoint = insp.Config.Cmd, insp.Config.Entrypoint
	}
	if st := insp.State; st != nil {
		rc.Running, rc.Pid, rc.StartedAt = st.Running, st.Pid, parseTime(st.StartedAt)
	}
	return rc
}

// maxFileSize bounds what MountedFile reads into memory.
const maxFileSize = 16 << 20

// MountedFile returns the content of a regular file inside the container
// (running or not), read through the engine's archive endpoint, which sees
// bind mounts, volumes and secrets as the container does. Symbolic links are
// followed (at most 8 hops). Files over 16 MiB and non-regular files are
// errors.
func (e *Engine) MountedFile(ctx context.Context, id, target string) ([]byte, error) {
	if !path.IsAbs(target) {
		return nil, fmt.Errorf("failed to read %s from container %s: path is not absolute", target, shortID(id))
	}
	p := path.Clean(target)
	for range 8 {
		data, link, err := e.copyOne(ctx, id, p)
		if err != nil {
			return nil, fmt.Errorf("failed to read %s from container %s: %w", target, shortID(id), e.safe(err))
		}
		if link == "" {
			return data, nil
		}
		if !path.IsAbs(link) {
			link = path.Join(path.Dir(p), link)
		}
		p = path.Clean(link)
	}
	return nil, fmt.Errorf("failed to read %s from container %s: too many symbolic links", target, shortID(id))
}

// copyOne reads a single path: its content if it is a regular file, or its
// link target if it is a symbolic link.
func (e *Engine) copyOne(ctx context.Context, id, p string) ([]byte, string, error) {
	rc, _, err := e.cli.CopyFromContainer(ctx, id, p)
	if err != nil {
		return nil, "", err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	hdr, err := tr.Next()
	if errors.Is(err, io.EOF) {
		return nil, "", errors.New("empty archive")
	}
	if err != nil {
		return nil, "", fmt.Errorf("failed to read the archive: %w", err)
	}
	switch hdr.Typeflag {
	case tar.TypeSymlink:
		return nil, hdr.Linkname, nil
	case tar.TypeReg:
	case tar.TypeDir:
		return nil, "", errors.New("is a directory")
	default:
		return nil, "", fmt.Errorf("not a regular file (tar type %q)", hdr.Typeflag)
	}
	if hdr.Size > maxFileSize {
		return nil, "", fmt.Errorf("file is larger than %d bytes", maxFileSize)
	}
	data := make([]byte, hdr.Size)
	if _, err := io.ReadFull(tr, data); err != nil {
		return nil, "", fmt.Errorf("failed to read the archive: %w", err)
	}
	return data, "", nil
}
