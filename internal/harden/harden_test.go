//go:build linux

package harden

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

const envChild = "REKEY_HARDEN_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(envChild) == "1" {
		os.Exit(child())
	}
	os.Exit(m.Run())
}

// child runs in a process of its own (the flags are process-wide and cannot be undone): it makes core
// dumps possible, checks they are, calls NoCoreDumps, and prints what the kernel says afterwards, for
// itself and for a shell it starts.
func child() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_CORE, &lim); err != nil {
		fmt.Println("getrlimit:", err)
		return 1
	}
	if lim.Max > 0 { // raise the soft limit, so that the test sees NoCoreDumps lower it
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_CORE, &lim); err != nil {
			fmt.Println("setrlimit:", err)
			return 1
		}
	}
	before, err := Dumpable()
	if err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Printf("before dumpable=%v core=%d/%d\n", before, lim.Cur, lim.Max)
	if err := NoCoreDumps(); err != nil {
		fmt.Println(err)
		return 1
	}
	after, err := Dumpable()
	if err != nil {
		fmt.Println(err)
		return 1
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_CORE, &lim); err != nil {
		fmt.Println("getrlimit:", err)
		return 1
	}
	fmt.Printf("after dumpable=%v core=%d/%d\n", after, lim.Cur, lim.Max)
	// A child inherits the limit (raising the hard limit again takes CAP_SYS_RESOURCE, which neither the
	// unit nor the container grants).
	out, _ := exec.Command("sh", "-c", "ulimit -c").CombinedOutput()
	fmt.Printf("shell %s\n", strings.Join(strings.Fields(string(out)), " "))
	return 0
}

func TestNoCoreDumps(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	got := string(out)
	t.Logf("child:\n%s", got)
	if !strings.Contains(got, "before dumpable=true") {
		t.Errorf("the child was not dumpable before NoCoreDumps: the test proves nothing\n%s", got)
	}
	if !strings.Contains(got, "after dumpable=false core=0/0\n") {
		t.Errorf("after NoCoreDumps the process is still dumpable or may write a core file\n%s", got)
	}
	if !strings.Contains(got, "shell 0\n") {
		t.Errorf("a child process does not inherit the core limit 0\n%s", got)
	}
}
