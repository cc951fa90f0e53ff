package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"rekey": func() {
			os.Exit(run(context.Background(), os.Args[1:], env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}))
		},
	})
}

// TestScripts runs the CLI scripts in testdata/script: behaviour that needs no Docker engine (usage,
// values, plan, bad input). End-to-end rotations on a real stack live in e2e/.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{Dir: "testdata/script"})
}

// No arguments is a usage error whatever the process's own os.Args: help on stderr, exit 2.
func TestNoArguments(t *testing.T) {
	for _, args := range [][]string{nil, {}} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), args, env{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }})
		if code != exitUsage || stdout.Len() != 0 || !strings.Contains(stderr.String(), "Usage:") {
			t.Errorf("rekey %#v: exit %d, stdout %q, stderr %q", args, code, stdout.String(), stderr.String())
		}
	}
}
