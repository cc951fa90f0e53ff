package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/provider/redis"
)

// TestUnstageAfterTheNewValueBecameTheOnlyOne: a crash (or a restart onto sources rekey had written)
// left the new value as the server's only password. Unstage logs in with it, makes the old value the
// only one again, and persists that — logging in with the old value, the one that works by then.
func TestUnstageAfterTheNewValueBecameTheOnlyOne(t *testing.T) {
	const current, next = "unstage-old-pw-1", "unstage-new-pw-2"
	st, exec := start(t, "requirepass")
	st.SetEnv(t, "REDIS_PASSWORD", next)
	st.Compose(t, "up", "-d", "redis")
	ctx := context.Background()
	r := redis.New("cache", exec)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, err := r.Accepts(ctx, next)
		if err == nil && ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis never accepted its bootstrap password: %v", err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if err := r.Unstage(ctx, current, next); err != nil {
		t.Fatalf("Unstage: %v", err)
	}
	okCur, err := r.Accepts(ctx, current)
	if err != nil || !okCur {
		t.Errorf("the old value does not log in after Unstage (%v)", err)
	}
	if okNext, _ := r.Accepts(ctx, next); okNext {
		t.Error("the new value still logs in after Unstage")
	}
}
