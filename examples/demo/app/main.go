// Command demoapp is the demo workload of the rekey demo stack. It is a
// deliberately small program that consumes secrets the way real services do,
// so that rotations can be observed from the outside:
//
//	demoapp web     HTTP server on :8080 that verifies HMAC-signed jobs with
//	                SESSION_SECRET (and SESSION_SECRET_PREVIOUS during a
//	                rotation) and reads a webhook token from a secret file.
//	                Optional: DEMOAPP_BOOT_DELAY (a Go duration, default 0)
//	                waits that long after the startup work before
//	                listening, to model an app that takes seconds to boot.
//	demoapp worker  posts a signed job to APP_URL/jobs every 500 ms and
//	                serves its own health on :8081.
//	demoapp probe URL
//	                HTTP GET with a 2 s timeout; prints the body and exits 0
//	                on 200, 1 otherwise (the scratch image has no curl).
//
// Secrets are never logged or served: only fingerprints are, and the
// fingerprint here is the first 16 hex characters of sha256(value). That is
// fine for a demo; rekey itself uses keyed HMAC fingerprints.
//
// It uses the standard library only.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// minSecretLen is the shortest SESSION_SECRET the demo accepts.
const minSecretLen = 16

func main() {
	log.SetFlags(log.LstdFlags | log.LUTC)
	log.SetOutput(os.Stderr)
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: demoapp web | demoapp worker | demoapp probe URL")
}

// run dispatches on the mode and returns the process exit code.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "web":
		return runWeb(getenv)
	case "worker":
		return runWorker(getenv)
	case "probe":
		if len(args) != 2 {
			usage(stderr)
			return 2
		}
		return probe(args[1], stdout, stderr)
	default:
		usage(stderr)
		return 2
	}
}

// fingerprint identifies a value without revealing it (demo only).
func fingerprint(value string) string {
	sum := sha256.Sum256([]byte(value))
	return hex.EncodeToString(sum[:])[:16]
}

// fingerprintOrEmpty is fingerprint, but "" for an absent (empty) value.
func fingerprintOrEmpty(value string) string {
	if value == "" {
		return ""
	}
	return fingerprint(value)
}

// checkSecret applies the demo's rules to a required secret.
func checkSecret(name, value string) error {
	if value == "" {
		return fmt.Errorf("%s is required", name)
	}
	if len(value) < minSecretLen {
		return fmt.Errorf("%s is too short", name)
	}
	return nil
}

// serve runs srv until SIGTERM/SIGINT, then shuts it down; it listens only after bootDelay
// (DEMOAPP_BOOT_DELAY, boot.go). The program is PID 1 in its container, so without a handler the signals
// would be ignored and every stop would wait for the kill timeout.
func serve(srv *http.Server, bootDelay time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return serveContext(ctx, srv, bootDelay, net.Listen)
}

// probe performs a GET and reports the outcome through the exit code.
func probe(url string, stdout, stderr io.Writer) int {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintf(stderr, "probe: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		fmt.Fprintf(stderr, "probe: failed to read body: %v\n", err)
		return 1
	}
	stdout.Write(body)
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "probe: %s\n", resp.Status)
		return 1
	}
	return 0
}
