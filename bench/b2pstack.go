package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// b2pOverlay is the variant of the demo stack B2 through the proxy runs: Redis keeps its users in an aclfile
// (examples/demo/redis-aclfile), so a Redis password rotation changes Redis live and never recreates it.
const b2pOverlay = "examples/demo/redis-aclfile"

// newOverlayStack is newStack with the files of overlay copied over the demo stack before it starts, and
// with a boot delay of the app when boot > 0 (b2pboot.go).
func newOverlayStack(root, overlay string, boot time.Duration) (*stack, error) {
	dir, err := os.MkdirTemp("", "rekey-bench-stack-")
	if err != nil {
		return nil, err
	}
	s := &stack{dir: filepath.Join(dir, "stack"), name: "rkb" + randHex(5), port: freePort()}
	if _, err := run(root, "cp", "-a", "examples/demo/stack", s.dir); err != nil {
		return s, err
	}
	if _, err := run(root, "cp", "-a", overlay+"/.", s.dir); err != nil {
		return s, err
	}
	if err := setDotenv(s.dir, "APP_PORT", fmt.Sprint(s.port)); err != nil {
		return s, err
	}
	if boot > 0 {
		if err := b2pBootStack(s.dir, boot); err != nil {
			return s, err
		}
	}
	return s, s.up()
}

// setDotenv replaces the assignment of key in the stack's .env, as an operator editing it by hand would.
func setDotenv(dir, key, value string) error {
	env := filepath.Join(dir, ".env")
	data, err := os.ReadFile(env)
	if err != nil {
		return err
	}
	re := regexp.MustCompile(`(?m)^` + key + `=.*$`)
	if !re.Match(data) {
		return fmt.Errorf("%s not in %s", key, env)
	}
	return os.WriteFile(env, re.ReplaceAll(data, []byte(key+"="+value)), 0o600)
}

// pause freezes the stack's containers between its turns, so that the idle stacks of the other methods
// take no CPU (their healthchecks included) from the one being measured.
func (s *stack) pause() error {
	_, err := s.compose("pause")
	return err
}

// resume unpauses the stack and waits until it is steady again: every container healthy again (Docker
// cannot run a healthcheck in a paused container and counts it failed, so a long pause leaves them
// unhealthy until their next check), then 20 requests in a row served through the proxy.
func (s *stack) resume() error {
	if _, err := s.compose("unpause"); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := s.compose("ps", "--format", "{{.Health}}") // every service of the demo has a healthcheck
		states := strings.Fields(out)
		if err == nil && len(states) > 0 && !slices.ContainsFunc(states, func(h string) bool { return h != "healthy" }) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not every container healthy within a minute after unpause: %s", s.name, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/count", s.port)
	client := &http.Client{Timeout: 2 * time.Second}
	for inRow := 0; inRow < 20; {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: the proxy did not serve /count steadily within a minute after unpause", s.name)
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
		}
		if err == nil && resp.StatusCode == http.StatusOK {
			inRow++
		} else {
			inRow = 0
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}
