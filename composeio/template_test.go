package composeio

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestUsesOf(t *testing.T) {
	p := loadShop(t)
	ctx := context.Background()

	db, err := p.UsesOf(ctx, "DB_PASSWORD")
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(db)); !slices.Equal(got, []string{"api", "db", "worker"}) {
		t.Fatalf("services using DB_PASSWORD = %v, want [api db worker]", got)
	}
	// worker.env interpolates it: env_file values are resolved against the project environment.
	if got := db["worker"]["QUEUE_URL"].Expand("p"); got != "amqp://worker:p@mq" {
		t.Errorf("worker QUEUE_URL = %q", got)
	}
	if got := db["api"]["DATABASE_URL"].Expand("s3cr3t"); got != "postgres://app:s3cr3t@db/app" {
		t.Errorf("api DATABASE_URL = %q", got)
	}
	if got := db["db"]["POSTGRES_PASSWORD"].Expand("x"); got != "x" {
		t.Errorf("db POSTGRES_PASSWORD = %q", got)
	}
	if len(db["api"]) != 1 {
		t.Errorf("api uses of DB_PASSWORD = %v, want only DATABASE_URL", slices.Sorted(maps.Keys(db["api"])))
	}

	tok, err := p.UsesOf(ctx, "API_TOKEN")
	if err != nil {
		t.Fatal(err)
	}
	if got := tok["api"][FieldCommand].Expand("T"); got != "serve\x00--token\x00T" {
		t.Errorf("api command = %q", got)
	}

	mode, err := p.UsesOf(ctx, "WEB_MODE")
	if err != nil {
		t.Fatal(err)
	}
	if got := mode["web"][FieldEntrypoint].Expand("dev"); got != "/docker-entrypoint.sh\x00--mode=dev" {
		t.Errorf("web entrypoint = %q", got)
	}

	none, err := p.UsesOf(ctx, "NOT_USED_ANYWHERE")
	if err != nil || len(none) != 0 {
		t.Errorf("UsesOf(unused) = %v, %v; want empty", none, err)
	}
	if _, err := p.UsesOf(ctx, "BAD NAME"); err == nil {
		t.Error("UsesOf accepted an invalid name")
	}
}

// TestUsesOfAllMatchesUsesOf: one combined probe gives the templates of one probe per variable, including
// for a value that holds two variables and for a variable with a default (probed on its own).
func TestUsesOfAllMatchesUsesOf(t *testing.T) {
	ctx := context.Background()
	dir := writeProject(t, map[string]string{
		".env": "DB_USER=app\nDB_PASS=pw1\nTOKEN=t0\n",
		"compose.yaml": `services:
  api:
    image: busybox
    command: ["serve", "--token", "${TOKEN}"]
    environment:
      DATABASE_URL: "postgres://${DB_USER}:${DB_PASS}@db/app"
      PASS: "${DB_PASS}"
      MODE: "${MODE:-prod}"
  worker:
    image: busybox
    environment: {TOKEN: "${TOKEN}"}
`,
	})
	p, err := Load(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"DB_USER", "DB_PASS", "TOKEN", "MODE", "UNUSED"}
	all, err := p.UsesOfAll(ctx, names)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		one, err := p.UsesOf(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if len(all[n]) != len(one) {
			t.Errorf("%s: services %v, want %v", n, slices.Sorted(maps.Keys(all[n])), slices.Sorted(maps.Keys(one)))
		}
		for svc, fields := range one {
			for f, tpl := range fields {
				if got, want := all[n][svc][f].Expand("V"), tpl.Expand("V"); got != want {
					t.Errorf("%s %s %s: %q, want %q", n, svc, f, got, want)
				}
			}
		}
	}
	if got := all["DB_PASS"]["api"]["DATABASE_URL"].Expand("new"); got != "postgres://app:new@db/app" {
		t.Errorf("DATABASE_URL for a new password = %q", got)
	}
}

// TestUsesOfRefusesSplitValues: a string command is split into words after interpolation, so a value with
// a space cannot be templated; UsesOf says so instead of reporting a template that never matches.
func TestUsesOfRefusesSplitValues(t *testing.T) {
	ctx := context.Background()
	dir := writeProject(t, map[string]string{
		".env": "PW='a b'\n",
		"compose.yaml": `services:
  app:
    image: busybox
    command: server --password ${PW}
`,
	})
	p, err := Load(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UsesOf(ctx, "PW"); err == nil || !strings.Contains(err.Error(), "cannot compute") {
		t.Errorf("UsesOf(PW) = %v, want a cannot-compute error", err)
	}
	all, err := p.UsesOfAll(ctx, []string{"PW"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := all["PW"]; ok {
		t.Errorf("UsesOfAll kept a template for PW: %v", all["PW"])
	}
}
