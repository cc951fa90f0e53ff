package composeio

import (
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/compose-spec/compose-go/v2/types"
)

// Reusing the project Load returned as the base of a probe (see ConsumersOfVars) saves one compose-go load,
// but only while that project is still what a load would give: inputs records every file the load at Load
// read, and the base is reused only when all of them are unchanged — same existence, size, modification time
// and SHA-256 of the content.

// fileState is what is recorded of one input file. It holds a digest of the content, never the content.
type fileState struct {
	exists bool
	size   int64
	mtime  int64 // nanoseconds since the epoch
	sum    [sha256.Size]byte
}

// inputs maps the absolute path of each file a load read to its state.
type inputs map[string]fileState

// statFile returns the state of a file; ok is false when it cannot be told (an error other than "does not
// exist", something other than a regular file, or a file that changed while it was read): the caller then
// does not reuse anything.
func statFile(path string) (st fileState, ok bool) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fileState{}, true // compose-go skips an absent optional env_file: absence is a state too
	case err != nil || !fi.Mode().IsRegular() || fi.Size() > MaxInputSize:
		return fileState{}, false // also keeps a FIFO, a device or a huge file from being read here
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fileState{}, false
	}
	after, err := os.Stat(path)
	if err != nil || after.Size() != fi.Size() || !after.ModTime().Equal(fi.ModTime()) || int64(len(data)) != fi.Size() {
		return fileState{}, false // written to while it was read
	}
	return fileState{exists: true, size: fi.Size(), mtime: fi.ModTime().UnixNano(), sum: sha256.Sum256(data)}, true
}

// snapshot records the state of each path, or returns nil when any cannot be told.
func snapshot(paths []string) inputs {
	out := make(inputs, len(paths))
	for _, f := range paths {
		st, ok := statFile(f)
		if !ok {
			return nil
		}
		out[f] = st
	}
	return out
}

// inputFiles returns the files a load of the project reads besides those it includes or extends: the compose
// files, `.env`, and — when tp is the loaded project — the env_file and label_file of every service and job
// (enabled or not, and their pre_start hooks; compose-go reads those of the enabled services). ok is false
// when one of them is not an absolute path.
func (p *Project) inputFiles(tp *types.Project) (paths []string, ok bool) {
	seen := map[string]bool{}
	add := func(f string) {
		if !seen[f] {
			seen[f] = true
			paths = append(paths, f)
		}
	}
	for _, f := range p.files {
		add(f)
	}
	if p.dotenv != "" {
		add(p.dotenv)
	}
	if tp == nil {
		return paths, true
	}
	ok = true
	spec := func(c types.ContainerSpec) {
		for _, f := range c.EnvFiles {
			ok = ok && filepath.IsAbs(f.Path)
			add(f.Path)
		}
		for _, f := range c.LabelFiles {
			ok = ok && filepath.IsAbs(f)
			add(f)
		}
	}
	for _, services := range []types.Services{tp.Services, tp.DisabledServices} {
		for _, s := range services {
			spec(s.ContainerSpec)
			for _, h := range s.PreStart {
				spec(h.ContainerSpec)
			}
		}
	}
	for _, jobs := range []types.Jobs{tp.Jobs, tp.DisabledJobs} {
		for _, j := range jobs {
			spec(j.ContainerSpec)
		}
	}
	return paths, ok
}

// loadEvents watches the load at Load for what inputFiles cannot see: an `include` (other compose files and
// their own `.env`) or an `extends` with a `file`. Any event it does not know also counts.
type loadEvents struct {
	mu    sync.Mutex
	other bool
}

func (e *loadEvents) listen(event string, metadata map[string]any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if event == "extends" {
		if _, hasFile := metadata["file"]; !hasFile {
			return // a service of the same file
		}
	}
	e.other = true
}

// unchangedSinceLoad reports whether every file the load at Load read is as it was then.
func (p *Project) unchangedSinceLoad() bool {
	if p.inputs == nil {
		return false
	}
	for f, was := range p.inputs {
		if now, ok := statFile(f); !ok || now != was {
			return false
		}
	}
	return true
}

// withBase runs probe against a base project: the one Load returned when every file that load read is
// unchanged since — checked before and after the probe, so that an edit while the probe loads the project is
// caught too —, else a fresh load of the project.
func withBase[T any](ctx context.Context, p *Project, probe func(base *types.Project) (T, error)) (T, error) {
	if p.unchangedSinceLoad() {
		out, err := probe(p.p)
		if p.unchangedSinceLoad() {
			return out, err
		}
		// A file changed while probing: start again from a fresh load.
	}
	base, err := p.load(ctx, nil)
	if err != nil {
		var zero T
		return zero, err
	}
	return probe(base)
}

// includes reports whether every file of old is in s with the same state.
func (s inputs) includes(old inputs) bool {
	for f, st := range old {
		if now, ok := s[f]; !ok || now != st {
			return false
		}
	}
	return true
}
