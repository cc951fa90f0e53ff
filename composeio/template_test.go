package composeio

import (
	"context"
	"maps"
	"slices"
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
