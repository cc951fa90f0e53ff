package live

import (
	"context"
	"fmt"

	"github.com/rekeyhq/rekey/reconcile"
)

// WriteForm implements reconcile.FormWriter on a swarm: the form (a database URL carrying the login the
// server staged the value on, say) is rendered as on Compose and becomes the content of the secret
// file, its versioned object and the stack file's pointer, as a plain value does (put).
func (s SwarmSources) WriteForm(ctx context.Context, l reconcile.Location, value, login string) error {
	sec, ok := s.Stack.secretAt(l.Path)
	if !ok || l.Key != "" {
		return fmt.Errorf("%s is not the file: of a secret the services of stack %s mount: on Swarm rekey rotates such secrets only", l, s.Stack.Stack)
	}
	out, err := s.Files.renderForm(ctx, l, value, login)
	if err != nil {
		return err
	}
	return s.put(ctx, sec, out)
}

var _ reconcile.FormWriter = SwarmSources{}
