package provider

import (
	"context"
	"fmt"

	"github.com/rekeyhq/rekey/dockerio"
)

// Service runs commands in the running container of a compose service: how drivers reach a server over
// its local socket, as its own admin, with no network exposure.
type Service struct {
	Engine  *dockerio.Engine
	Project string
	Name    string
}

// Exec implements Exec in the service's first running container.
func (s Service) Exec(ctx context.Context, cmd []string, stdin []byte) (int, []byte, error) {
	cs, err := s.Engine.Containers(ctx, s.Project, s.Name)
	if err != nil {
		return -1, nil, err
	}
	for _, c := range cs {
		if c.Running {
			return s.Engine.Exec(ctx, c.ID, cmd, stdin)
		}
	}
	return -1, nil, fmt.Errorf("service %s has no running container: is the stack up?", s.Name)
}
