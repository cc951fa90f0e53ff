package journal

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockPoll is how often Open retries a state dir another process holds.
const lockPoll = 20 * time.Millisecond

// lockDir takes an exclusive flock on the state dir itself and returns the descriptor that holds it.
// bbolt's own lock is on journal.db's inode, which compaction replaces: a process waiting on the old
// inode would get it once the old file is closed and then write to a file nobody reads any more. The
// lock on the directory does not move, so every Open waits on the same thing.
func lockDir(dir string, timeout time.Duration) (*os.File, error) {
	f, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return nil, fmt.Errorf("failed to open state dir %s: %w", dir, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			_ = f.Close()
			return nil, fmt.Errorf("failed to lock state dir %s: %w", dir, err)
		}
		if time.Now().After(deadline) {
			_ = f.Close()
			return nil, fmt.Errorf("state dir %s is %w (lock not released within %v): wait for it to finish or stop it",
				dir, ErrInUse, timeout)
		}
		time.Sleep(lockPoll)
	}
}
