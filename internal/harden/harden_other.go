//go:build !linux

package harden

import (
	"fmt"
	"syscall"
)

// NoCoreDumps sets RLIMIT_CORE to 0, soft and hard. There is no dumpable flag to clear outside Linux.
func NoCoreDumps() error {
	if err := syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{Cur: 0, Max: 0}); err != nil {
		return fmt.Errorf("failed to set the core file size limit to 0: %w", err)
	}
	return nil
}

// Dumpable reports false outside Linux, where only the core limit applies.
func Dumpable() (bool, error) { return false, nil }
