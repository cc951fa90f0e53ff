package swarmio

import (
	"slices"
	"strings"
	"testing"
)

// TestSetEnv: a variable takes its new value in place (docker stack deploy's order kept, so a later
// deploy finds the same Env); an unchanged value changes nothing; a variable the spec does not set is an
// error that names it but not the value.
func TestSetEnv(t *testing.T) {
	env := []string{"A=1", "TOKEN=old", "TOKEN_B=x", "Z"}
	got, changed, err := setEnv("shop_api", env, map[string]string{"TOKEN": "new"})
	if err != nil || !changed || !slices.Equal(got, []string{"A=1", "TOKEN=new", "TOKEN_B=x", "Z"}) {
		t.Fatalf("got %v, %v, %v", got, changed, err)
	}
	if env[1] != "TOKEN=old" {
		t.Error("the spec's Env was changed in place")
	}
	if _, changed, err := setEnv("shop_api", got, map[string]string{"TOKEN": "new"}); changed || err != nil {
		t.Errorf("same value: changed %v, %v", changed, err)
	}
	_, _, err = setEnv("shop_api", env, map[string]string{"MISSING": "s3cret-value"})
	if err == nil || !strings.Contains(err.Error(), "MISSING") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("missing variable: %v", err)
	}
	if v, ok := EnvValue([]string{"A=1", "A=2=3"}, "A"); !ok || v != "2=3" {
		t.Errorf("EnvValue: %q %v", v, ok)
	}
	if _, ok := EnvValue([]string{"AB=1"}, "A"); ok {
		t.Error("EnvValue matched a prefix")
	}
}
