package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fsnotify/fsnotify"
)

// WatchRepo triggers the agent when a local repository's refs move: a commit, a reset, a checkout. It
// watches the git directory, refs/heads and refs/tags (fsnotify is not recursive, so branches with a '/'
// in their name are only seen through HEAD or the interval) and returns when ctx ends.
func WatchRepo(ctx context.Context, repoDir string, a *Agent) error {
	gitDir := filepath.Join(repoDir, ".git")
	if fi, err := os.Stat(gitDir); err != nil || !fi.IsDir() {
		gitDir = repoDir // a bare repository
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("failed to watch %s: %w", repoDir, err)
	}
	defer w.Close()
	for _, d := range []string{gitDir, filepath.Join(gitDir, "refs", "heads"), filepath.Join(gitDir, "refs", "tags")} {
		if _, err := os.Stat(d); err != nil {
			continue
		}
		if err := w.Add(d); err != nil {
			return fmt.Errorf("failed to watch %s: %w", d, err)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if isRefChange(ev) {
				a.Trigger("repository changed")
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			a.log.Warn("watching the repository", "error", err)
		}
	}
}

// isRefChange keeps ref and HEAD updates and drops git's lock and temporary files.
func isRefChange(ev fsnotify.Event) bool {
	if !ev.Has(fsnotify.Create) && !ev.Has(fsnotify.Write) && !ev.Has(fsnotify.Rename) {
		return false
	}
	name := filepath.Base(ev.Name)
	if filepath.Ext(name) == ".lock" {
		return false
	}
	dir := filepath.Base(filepath.Dir(ev.Name))
	return name == "HEAD" || name == "packed-refs" || dir == "heads" || dir == "tags"
}
