package dockerio

import (
	"context"
	"fmt"
	"strings"
)

// ConfigHash is the config hash `docker compose up` gives the containers of service now
// (`compose config --hash`): a container labelled with another one runs an older configuration.
func (c Compose) ConfigHash(ctx context.Context, service string) (string, error) {
	out, err := c.Run(ctx, "config", "--hash", service)
	if err != nil {
		return "", fmt.Errorf("failed to compute the config hash of %s: %w", service, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if name, hash, ok := strings.Cut(strings.TrimSpace(line), " "); ok && name == service && hash != "" {
			return hash, nil
		}
	}
	return "", fmt.Errorf("failed to compute the config hash of %s: %w", service, ErrNoHash)
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
