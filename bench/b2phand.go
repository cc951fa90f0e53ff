package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// The two baselines of B2 through the proxy done by hand, without rekey, the way an operator changes a
// secret today: the new value goes to the server first (a hard swap: PostgreSQL and Redis then accept only
// the new password), then into the sources (.env; the aclfile is saved by Redis itself with ACL SAVE),
// then the consumers are rolled:
//   - compose: `docker compose up -d --wait`, which recreates every service whose configuration changed,
//     stop-first;
//   - rollout: the docker-rollout procedure by hand for the app (wowu/docker-rollout): scale the service to
//     twice its containers with --no-recreate, wait (polling every second) until the new container is
//     healthy, stop and remove the old one, scale back to 1 (nothing left to do then); the worker, which
//     takes no requests, with `docker compose up -d --wait --no-deps worker`.

// handRotate changes rot's secret to next by hand on s and rolls its consumers with method's procedure.
func handRotate(s *stack, rot b2pRotation, next, method string) error {
	services := []string{"app"}
	switch rot.secret {
	case "session-key":
		if err := setDotenv(s.dir, "SESSION_SECRET", next); err != nil {
			return err
		}
		services = append(services, "worker")
	case "db-password":
		user, err := dotenv(s.dir, "DB_USER")
		if err != nil {
			return err
		}
		// Benchmark only: the password is a throwaway value, sent as SQL on stdin.
		if err := s.psql(fmt.Sprintf("ALTER ROLE %s PASSWORD '%s';\n", user, next)); err != nil {
			return err
		}
		if err := setDotenv(s.dir, "DB_PASSWORD", next); err != nil {
			return err
		}
	case "redis-password":
		old, err := dotenv(s.dir, "REDIS_PASSWORD")
		if err != nil {
			return err
		}
		out, err := s.redisCLI(fmt.Sprintf("AUTH %q\nACL SETUSER default resetpass %q\nACL SAVE\n", old, ">"+next))
		if err == nil && strings.Count(out, "OK") != 3 {
			err = fmt.Errorf("changing the password by hand: %s", out)
		}
		if err != nil {
			return err
		}
		if err := setDotenv(s.dir, "REDIS_PASSWORD", next); err != nil {
			return err
		}
	default:
		return fmt.Errorf("no hand procedure for %s", rot.secret)
	}
	if method == "compose" {
		_, err := s.compose("up", "-d", "--wait")
		return err
	}
	if err := s.rollout("app"); err != nil {
		return err
	}
	if slices.Contains(services, "worker") {
		_, err := s.compose("up", "-d", "--wait", "--no-deps", "worker")
		return err
	}
	return nil
}

// rollout is docker-rollout's procedure for a service of one container.
func (s *stack) rollout(service string) error {
	old, err := s.containerIDs(service)
	if err != nil {
		return err
	}
	if len(old) != 1 {
		return fmt.Errorf("rollout %s: %d containers, want 1", service, len(old))
	}
	if _, err := s.compose("up", "-d", "--scale", service+"=2", "--no-recreate", service); err != nil {
		return err
	}
	ids, err := s.containerIDs(service)
	if err != nil {
		return err
	}
	fresh := slices.DeleteFunc(ids, func(id string) bool { return id == old[0] })
	if len(fresh) != 1 {
		return fmt.Errorf("rollout %s: %d new containers, want 1", service, len(fresh))
	}
	if err := waitHealthy(fresh[0], time.Minute); err != nil {
		return err
	}
	if _, err := run(s.dir, "docker", "stop", old[0]); err != nil {
		return err
	}
	if _, err := run(s.dir, "docker", "rm", old[0]); err != nil {
		return err
	}
	_, err = s.compose("up", "-d", "--scale", service+"=1", "--no-recreate", service)
	return err
}

func (s *stack) containerIDs(service string) ([]string, error) {
	out, err := s.compose("ps", "-q", service)
	if err != nil {
		return nil, err
	}
	return strings.Fields(out), nil
}

// waitHealthy polls the container's health every second, as docker-rollout does.
func waitHealthy(id string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		out, err := run("/", "docker", "inspect", "-f", "{{.State.Health.Status}}", id)
		if err == nil && strings.TrimSpace(out) == "healthy" {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("rollout: the new container did not become healthy within " + within.String())
		}
		time.Sleep(time.Second)
	}
}

// psql runs SQL (on stdin) as postgres in the stack's db container.
func (s *stack) psql(sql string) error {
	cmd := exec.Command("docker", "compose", "-p", s.name, "--project-directory", s.dir, "exec", "-T", "db",
		"psql", "-U", "postgres", "-XAtq", "-v", "ON_ERROR_STOP=1")
	cmd.Stdin = strings.NewReader(sql)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("psql: %v: %s", err, out)
	}
	return nil
}
