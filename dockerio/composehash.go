package dockerio

import (
	"context"
	"fmt"
	"strings"
)

// ConfigHash is the config hash `docker compose up` gives the containers of service now
// (`compose config --hash`): a container labelled with another one runs an older configuration.
func (c Compose) ConfigHash(ctx context.Context, service string) (string, error) {
	hashes, err := c.ConfigHashes(ctx, service)
	if err != nil {
		return "", err
	}
	return hashes[service], nil
}

// ConfigHashes is [Compose.ConfigHash] of several services in one Compose run (`config --hash a,b`):
// Compose loads the project once. Every service named has a hash in the map, or the call fails.
func (c Compose) ConfigHashes(ctx context.Context, services ...string) (map[string]string, error) {
	names := strings.Join(services, ", ")
	for _, s := range services {
		if s == "" || strings.Contains(s, ",") { // compose would read it as two names
			return nil, fmt.Errorf("failed to compute the config hash of %q: not a service name", s)
		}
	}
	if len(services) == 0 {
		return nil, fmt.Errorf("failed to compute config hashes: no services given")
	}
	out, err := c.Run(ctx, "config", "--hash", strings.Join(services, ","))
	if err != nil {
		return nil, fmt.Errorf("failed to compute the config hash of %s: %w", names, err)
	}
	hashes := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if name, hash, ok := strings.Cut(strings.TrimSpace(line), " "); ok && hash != "" {
			hashes[name] = hash
		}
	}
	for _, s := range services {
		if hashes[s] == "" {
			return nil, fmt.Errorf("failed to compute the config hash of %s: %w", s, ErrNoHash)
		}
	}
	return hashes, nil
}

// ScaleUp starts containers of service with its current configuration until it has replicas of them,
// leaving every existing container alone (`up -d --no-deps --no-recreate --scale service=replicas`):
// Compose creates them itself, so they carry its labels, config hash and next container number, and a
// later `docker compose up -d` sees them as its own.
func (c Compose) ScaleUp(ctx context.Context, service string, replicas int) error {
	_, err := c.Run(ctx, "up", "-d", "--no-deps", "--no-recreate", "--no-build", "--pull", "never",
		"--scale", fmt.Sprintf("%s=%d", service, replicas), service)
	if err != nil {
		return fmt.Errorf("failed to start a new container of %s: %w", service, err)
	}
	return nil
}
