// Command composeload loads a Compose project once with compose-go, the way rekey does (the project's
// compose.yaml and .env as the only environment), and prints the number of services. It is B3's baseline:
// what `docker compose config` does, without Docker.
//
//	composeload DIR
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: composeload DIR")
		os.Exit(2)
	}
	dir := os.Args[1]
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "compose.yaml")},
		cli.WithWorkingDirectory(dir), cli.WithEnvFiles(filepath.Join(dir, ".env")), cli.WithDotEnv)
	if err != nil {
		fail(err)
	}
	p, err := cli.ProjectFromOptions(context.Background(), opts)
	if err != nil {
		fail(err)
	}
	fmt.Println(len(p.Services), "services")
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "composeload:", err)
	os.Exit(1)
}
