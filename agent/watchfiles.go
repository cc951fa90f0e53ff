package agent

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/fsnotify/fsnotify"
)

// FileWatcher asks for a drift scan when a watched file changes: a hand-edited `.env`, a secret file
// rewritten in place or replaced by a rename. It watches the files' directories (editors replace files,
// which would end a watch on the file itself) and filters by name.
type FileWatcher struct {
	a *Agent
	w *fsnotify.Watcher

	mu    sync.Mutex
	files map[string]bool
	dirs  map[string]bool
}

// NewFileWatcher returns a watcher that triggers scans on a; call Set with the files, then Run.
func NewFileWatcher(a *Agent) (*FileWatcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("failed to start watching files: %w", err)
	}
	return &FileWatcher{a: a, w: w, files: map[string]bool{}, dirs: map[string]bool{}}, nil
}

// Set replaces the watched files. Directories no longer needed stay watched: events there are filtered.
func (fw *FileWatcher) Set(paths []string) error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	fw.files = map[string]bool{}
	for _, p := range paths {
		p = filepath.Clean(p)
		fw.files[p] = true
		dir := filepath.Dir(p)
		if fw.dirs[dir] {
			continue
		}
		if err := fw.w.Add(dir); err != nil {
			return fmt.Errorf("failed to watch %s: %w", dir, err)
		}
		fw.dirs[dir] = true
	}
	return nil
}

// Run forwards events until ctx ends, then closes the watcher.
func (fw *FileWatcher) Run(ctx context.Context) {
	defer fw.w.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-fw.w.Events:
			if !ok {
				return
			}
			fw.mu.Lock()
			watched := fw.files[filepath.Clean(ev.Name)]
			fw.mu.Unlock()
			if watched && !ev.Has(fsnotify.Chmod) {
				fw.a.TriggerScan("changed: " + ev.Name)
			}
		case err, ok := <-fw.w.Errors:
			if !ok {
				return
			}
			fw.a.log.Warn("watching files", "error", err)
		}
	}
}
