//go:build linux

// Package harden keeps rekey's memory out of core dumps. rekey holds decrypted secret values, the age
// identities of the desired state and the stash keys in memory; a core file (written by the kernel on a
// crash, or by a debugger or a core-collection service attaching to a dumpable process) would put them
// on disk, outside every file rekey controls.
package harden

import (
	"fmt"
	"syscall"
)

// prctl options (linux/prctl.h).
const (
	prSetDumpable = 4
	prGetDumpable = 3
)

// NoCoreDumps makes the process non-dumpable (prctl PR_SET_DUMPABLE 0: no core file on a crash, no
// ptrace attach by a non-root user, /proc/PID/mem and friends owned by root) and sets RLIMIT_CORE to 0,
// soft and hard, which every child it starts inherits (raising it back takes CAP_SYS_RESOURCE). Call
// it first thing in main, before any secret is read.
func NoCoreDumps() error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetDumpable, 0, 0); errno != 0 {
		return fmt.Errorf("failed to make the process non-dumpable: %w", errno)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{Cur: 0, Max: 0}); err != nil {
		return fmt.Errorf("failed to set the core file size limit to 0: %w", err)
	}
	return nil
}

// Dumpable reports whether the process may be dumped (prctl PR_GET_DUMPABLE).
func Dumpable() (bool, error) {
	r, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prGetDumpable, 0, 0)
	if errno != 0 {
		return false, fmt.Errorf("failed to read the dumpable flag: %w", errno)
	}
	return r != 0, nil
}
