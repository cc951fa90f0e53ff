package composeio

import (
	"context"
	"errors"
	"testing"
)

// TestConsumersOfVarsMatchesOneByOne: the combined probe gives exactly what one probe per variable gives,
// on a project that uses variables in every way discovery knows (and with typed fields, where it falls back).
func TestConsumersOfVarsMatchesOneByOne(t *testing.T) {
	ctx := context.Background()
	typed := writeProject(t, map[string]string{
		".env": "PORT=8080\nRO=true\nTOKEN=t0\n",
		"compose.yaml": `services:
  app:
    image: busybox
    ports: ["${PORT}:80"]
    read_only: ${RO}
    environment: {TOKEN: "${TOKEN}"}
`,
	})
	defaults := writeProject(t, map[string]string{
		".env": "A=1\n",
		"compose.yaml": `services:
  app:
    image: busybox
    environment: {A: "${A}", B: "${B:-fallback}"}
`,
	})
	// A variable that reaches a service only through another managed variable's .env value, and one that
	// is empty now behind another's default: overriding every variable at once would hide both.
	indirect := writeProject(t, map[string]string{
		".env": "DB_PASSWORD=s3cret\nDATABASE_URL=postgres://app:${DB_PASSWORD}@db/app\nB=\n",
		"compose.yaml": `services:
  app:
    image: busybox
    environment: {URL: "${DATABASE_URL}", X: "${A:-${B}}"}
  db:
    image: busybox
    environment: {POSTGRES_PASSWORD: "${DB_PASSWORD}"}
`,
	})
	for _, tc := range []struct {
		name  string
		dir   string
		names []string
	}{
		{"shop", "testdata/shop", []string{"DB_PASSWORD", "API_TOKEN", "STRIPE_KEY", "SHARED_KEY", "SMTP_PASSWORD",
			"TRAEFIK_HOST", "WEB_MODE", "LOG_LEVEL", "HEALTH_PORT", "NOT_USED_ANYWHERE", "FEATURE_FLAG"}},
		{"typed fields fall back", typed, []string{"PORT", "RO", "TOKEN"}},
		{"a default that differs from unset falls back", defaults, []string{"A", "B"}},
		{"uses through another variable or a default", indirect, []string{"DB_PASSWORD", "DATABASE_URL", "A", "B"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Load(ctx, tc.dir)
			if err != nil {
				t.Fatal(err)
			}
			all, err := p.ConsumersOfVars(ctx, tc.names)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range tc.names {
				one, err := p.ConsumersOfVar(ctx, n)
				if err != nil {
					t.Fatal(err)
				}
				equal(t, n, all[n], one)
			}
		})
	}
}

func TestConsumersOfVarsCombinedProbe(t *testing.T) {
	ctx := context.Background()
	p := loadShop(t)
	// worker.env refers to DB_PASSWORD (QUEUE_URL=…${DB_PASSWORD}…): it must be probed on its own.
	_, err := p.consumersCombined(ctx, []string{"DB_PASSWORD", "API_TOKEN"})
	var se *suspectsError
	if !errors.As(err, &se) || len(se.names) != 1 || se.names[0] != "DB_PASSWORD" {
		t.Fatalf("combined probe with DB_PASSWORD: %v, want DB_PASSWORD as the only suspect", err)
	}
	names := []string{"API_TOKEN", "STRIPE_KEY"}
	got, err := p.consumersCombined(ctx, names)
	if err != nil {
		t.Fatalf("the shop project should not need the fallback: %v", err)
	}
	equal(t, "STRIPE_KEY", got["STRIPE_KEY"], []VarUse{{Service: "web", Via: []string{"secret:stripe_key"}}})
	if _, err := p.ConsumersOfVars(ctx, []string{"OK", "BAD NAME"}); err == nil {
		t.Error("an invalid name was accepted")
	}
}
