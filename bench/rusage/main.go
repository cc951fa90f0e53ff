// Command rusage runs a command and writes its wall time and peak RSS to a file:
//
//	rusage OUT COMMAND [ARG…]   →   OUT holds "WALL_NS MAXRSS_KIB CPU_NS"
//
// CPU_NS is the user and system CPU time of the command and of the children it waited for: on a shared
// machine it varies less than the wall time, which waits for the other work too.
//
// The bench driver measures its children through it because Linux carries the peak RSS of the process
// that starts a child into the child's: Go starts children with vfork, so the child's exec records the
// driver's own high-water mark, and every child would seem to need at least as much memory as the driver.
// This program is small, so the floor it leaves is a few MiB. Its output and exit status are the command's.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: rusage OUT COMMAND [ARG…]")
		os.Exit(2)
	}
	cmd := exec.Command(os.Args[2], os.Args[3:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		fmt.Fprintln(os.Stderr, "rusage:", err)
		os.Exit(1)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if err := os.WriteFile(os.Args[1], fmt.Appendf(nil, "%d %d %d\n", wall.Nanoseconds(), ru.Maxrss, ru.Utime.Nano()+ru.Stime.Nano()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "rusage:", err)
		os.Exit(1)
	}
	os.Exit(cmd.ProcessState.ExitCode())
}
