package testenv

import "testing"

func TestRedisAuthFailures(t *testing.T) {
	log := "count\n3\nreason\nauth\ncontext\ntoplevel\nobject\nAUTH\nusername\ndefault\n" +
		"count\n1\nreason\ncommand\ncontext\ntoplevel\nobject\nget\nusername\napp\n" +
		"count\n2\nreason\nauth\ncontext\ntoplevel\nobject\nAUTH\nusername\nobserver\n"
	if got := RedisAuthFailures(log, ""); got != 5 {
		t.Errorf("all = %d, want 5", got)
	}
	if got := RedisAuthFailures(log, "observer"); got != 3 {
		t.Errorf("except observer = %d, want 3", got)
	}
	if got := RedisAuthFailures("", ""); got != 0 {
		t.Errorf("empty = %d", got)
	}
}
