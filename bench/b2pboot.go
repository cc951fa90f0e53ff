package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The app's boot in B2 through the proxy (-b2p-boot). The demo app listens about 10 ms after its container
// starts; a Rails, Django, Node or JVM app takes seconds (database connections, code loading, caches). With
// -b2p-boot D every method's stack runs the app with DEMOAPP_BOOT_DELAY=D (examples/demo/app/boot.go): it
// does its startup work, then waits D before it listens, and its healthcheck fails until then.
//
// The stack gets the setting from one more compose file, compose.b2p-boot.yaml, listed in COMPOSE_FILE in
// the stack's .env, which both docker compose and rekey (composeio) read: the app's image is one the bench
// builds from this working tree (the shared rekey-demo/app:dev may predate DEMOAPP_BOOT_DELAY and would
// silently ignore it), and the variable is set in its environment. Every method's stack gets the same file.

var b2pBoot = flag.Duration("b2p-boot", 0, "b2p: the demo app's boot delay in every method's stack (DEMOAPP_BOOT_DELAY: it listens that long after its startup work; 0: at once)")

// b2pBootImage is the app image built for -b2p-boot from the working tree.
const b2pBootImage = "rekey-bench/app:b2p-boot"

// b2pBootFile is the compose file that sets the boot delay.
const b2pBootFile = "compose.b2p-boot.yaml"

// b2pBootTolerated is the longest boot the demo's healthcheck of the app takes without a start_period:
// interval 1s and retries 3 mark the app unhealthy at the third failed probe, about 3 s after its start
// (the probes run 1 s apart after each one ends, so a little later on a loaded machine); 1 s of that is
// kept as a margin. A longer boot gets start_period: boot + 3s. Not for a shorter one: on Docker 25 and
// later a start_period also makes the probes run every start_interval (default 5 s) until the first one
// passes, which would delay "healthy" for every method; this engine (20.10) has no start_interval.
const b2pBootTolerated = 2 * time.Second

// b2pBootCompose is the content of compose.b2p-boot.yaml for a boot of boot.
func b2pBootCompose(boot time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by bench B2 through the proxy for -b2p-boot %s (bench/b2pboot.go).\n", boot)
	fmt.Fprintf(&b, "services:\n  app:\n    image: %s\n    environment:\n      DEMOAPP_BOOT_DELAY: %q\n", b2pBootImage, boot.String())
	if boot > b2pBootTolerated {
		fmt.Fprintf(&b, "    healthcheck:\n      start_period: %s\n", boot+3*time.Second)
	}
	return b.String()
}

// b2pBootStack adds the boot delay to the stack in dir before it starts: compose.b2p-boot.yaml, and
// COMPOSE_FILE in .env naming the files compose reads by default, then that one (absolute paths).
func b2pBootStack(dir string, boot time.Duration) error {
	if err := os.WriteFile(filepath.Join(dir, b2pBootFile), []byte(b2pBootCompose(boot)), 0o644); err != nil {
		return err
	}
	if _, err := dotenv(dir, "COMPOSE_FILE"); err == nil {
		return fmt.Errorf("%s: .env sets COMPOSE_FILE already", dir)
	}
	f, err := os.OpenFile(filepath.Join(dir, ".env"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	// Absolute paths: docker compose resolves relative ones in COMPOSE_FILE against its working directory,
	// not --project-directory, and the bench's psql runs it from the repository.
	var files []string
	for _, f := range []string{"compose.yaml", "compose.override.yaml", b2pBootFile} {
		files = append(files, filepath.Join(dir, f))
	}
	_, err = fmt.Fprintf(f, "\n# bench -b2p-boot: the app boots in %s\nCOMPOSE_FILE=%s\n", boot, strings.Join(files, ":"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// buildB2pBootImage builds the demo app of the working tree into b2pBootImage, as scripts/build-images.sh
// builds rekey-demo/app:dev (static binary on scratch, the legacy builder).
func buildB2pBootImage(root string) error {
	bin, err := goBuild(root, "./examples/demo/app", "demoapp")
	if err != nil {
		return err
	}
	ctx := filepath.Dir(bin)
	defer os.RemoveAll(ctx)
	if _, err := run(root, "cp", "examples/demo/app/Dockerfile", ctx); err != nil {
		return err
	}
	cmd := []string{"build", "--quiet", "-t", b2pBootImage, ctx}
	_, err = run(root, "env", append([]string{"DOCKER_BUILDKIT=0", "docker"}, cmd...)...)
	return err
}

// checkBooting fails unless the stack's app container logged that it waited for boot before listening:
// proof that the image and the compose file took effect (an app without DEMOAPP_BOOT_DELAY ignores it).
func checkBooting(s *stack, boot time.Duration) error {
	logs, err := s.compose("logs", "--no-color", "--no-log-prefix", "app")
	if err != nil {
		return err
	}
	want := fmt.Sprintf("booting: listening on :8080 in %s (DEMOAPP_BOOT_DELAY)", boot)
	if !strings.Contains(logs, want) {
		return fmt.Errorf("%s: the app did not log %q: DEMOAPP_BOOT_DELAY not in effect:\n%s", s.name, want, logs)
	}
	return nil
}
