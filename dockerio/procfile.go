package dockerio

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrNoProcView means the container's own view of its files is not reachable from here (rekey is not on
// the Docker host, or not in its PID and cgroup namespaces); the caller reads through the engine.
var ErrNoProcView = errors.New("no /proc view of the container")

// ReadProcFile reads target as the container's process pid sees it, through /proc/PID/root. The process
// must belong to the container (its cgroup names the container id: a PID from another PID namespace is
// some other process), symlinks are resolved inside the container's root, and only a regular file of at
// most 16 MiB (as [Engine.MountedFile]) is read, without blocking on a FIFO. It needs no engine: rekey
// reads the container's own view of a file this way when it runs on the Docker host.
func ReadProcFile(pid int, containerID, target string) ([]byte, error) {
	proc := "/proc/" + strconv.Itoa(pid)
	cg, err := os.ReadFile(proc + "/cgroup")
	if err != nil || containerID == "" || !strings.Contains(string(cg), containerID) {
		return nil, ErrNoProcView
	}
	root, err := os.Open(proc + "/root")
	if err != nil {
		return nil, ErrNoProcView
	}
	defer root.Close()
	rel := strings.TrimPrefix(path.Clean("/"+target), "/")
	fd, err := unix.Openat2(int(root.Fd()), rel, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NONBLOCK | unix.O_NOCTTY,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if errors.Is(err, unix.ENOSYS) {
		return nil, ErrNoProcView // kernel older than 5.6: no safe way to resolve inside the root
	}
	if err != nil {
		return nil, fmt.Errorf("failed to open %s in the container: %w", target, err)
	}
	f := os.NewFile(uintptr(fd), target)
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil:
		return nil, fmt.Errorf("failed to stat %s in the container: %w", target, err)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%s in the container is not a regular file", target)
	case fi.Size() > maxFileSize:
		return nil, fmt.Errorf("%s in the container is larger than %d bytes", target, maxFileSize)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read %s in the container: %w", target, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s in the container is larger than %d bytes", target, maxFileSize)
	}
	return data, nil
}
