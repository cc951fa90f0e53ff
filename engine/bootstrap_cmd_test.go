package engine

import (
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// TestUsesInCommand: a variable named in the command, entrypoint or healthcheck is read at run time.
func TestUsesInCommand(t *testing.T) {
	var svc types.ServiceConfig
	svc.Command = types.ShellCommand{"sh", "-c", "exec redis-server --requirepass $$CACHE_PW"}
	svc.HealthCheck = &types.HealthCheckConfig{Test: []string{"CMD-SHELL", "check ${HEALTH_PW}"}}
	for key, want := range map[string]bool{"CACHE_PW": true, "HEALTH_PW": true, "OTHER": false, "CACHE": false, "HEALTH": false} {
		if got := usesInCommand(svc, key); got != want {
			t.Errorf("usesInCommand(%s) = %v, want %v", key, got, want)
		}
	}
}
