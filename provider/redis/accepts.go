package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Accepts implements reconcile.Prober: whether value logs in as the rotated user, changing nothing. The
// executor asks it, with the new value then the old one, when a step fails because the server restarted
// mid-rotation: a Redis whose password comes from its configuration (requirepass from the container's
// environment) comes back accepting the old value only, whatever was staged live.
func (r *Redis) Accepts(ctx context.Context, value string) (bool, error) {
	_, err := r.run(ctx, Login{User: r.user, Password: value})
	if err == nil {
		return true, nil
	}
	var re *replyError
	if errors.As(err, &re) && re.auth && refused(re.text) {
		return false, nil
	}
	// Not a verdict on the value: a server loading its dataset, or not there at all.
	return false, fmt.Errorf("redis %s: cannot tell whether the value logs in: %w", r.name, err)
}

// refused says whether an AUTH error reply rejects the value itself (WRONGPASS, or the older "invalid
// password"), rather than the moment (LOADING, BUSY).
func refused(text string) bool {
	return strings.HasPrefix(text, "WRONGPASS") || strings.Contains(text, "invalid") || strings.Contains(text, "without any password")
}

// unstageAs is the login that takes the new value back: the one logging in with current, or, when a
// restart or a crash left current refused while next still works, the one with next (rotated user only:
// an admin login does not depend on either value).
func (r *Redis) unstageAs(ctx context.Context, current, next string) Login {
	if r.admin != nil || next == "" {
		return r.as(current)
	}
	if ok, err := r.Accepts(ctx, current); err == nil && !ok {
		if ok, err := r.Accepts(ctx, next); err == nil && ok {
			return r.as(next)
		}
	}
	return r.as(current)
}
