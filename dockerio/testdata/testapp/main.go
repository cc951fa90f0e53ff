// Command testapp is the program inside the dockerio test image (FROM scratch).
//
//	/app               print "started", the names (never the values) of its
//	                   environment variables, $LOG_LINE; exit with $EXIT_CODE
//	                   after $EXIT_AFTER if set; otherwise run until SIGTERM.
//	/app health        healthcheck: fails when $HEALTH=fail or /tmp/unhealthy exists.
//	/app cat CODE      copy stdin to stdout, note on stderr, exit CODE.
//	/app log LINE      write LINE to the main process's stdout (the container log).
//	/app touch PATH    create an empty file (and its directories); /app rm PATH removes it.
package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "health":
			fmt.Println("probe output SECRET-PROBE-OUTPUT")
			if os.Getenv("HEALTH") == "fail" {
				os.Exit(1)
			}
			if _, err := os.Stat("/tmp/unhealthy"); err == nil {
				os.Exit(1)
			}
			os.Exit(0)
		case "cat":
			in, _ := io.ReadAll(os.Stdin)
			fmt.Printf("stdin-bytes=%d\n", len(in))
			os.Stdout.Write(in)
			fmt.Fprintln(os.Stderr, "to-stderr")
			code := 0
			if len(os.Args) > 2 {
				code, _ = strconv.Atoi(os.Args[2])
			}
			os.Exit(code)
		case "touch", "rm":
			var err error
			if os.Args[1] == "touch" {
				if err = os.MkdirAll(filepath.Dir(os.Args[2]), 0o755); err == nil {
					err = os.WriteFile(os.Args[2], nil, 0o644)
				}
			} else {
				err = os.Remove(os.Args[2])
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			os.Exit(0)
		case "log":
			f, err := os.OpenFile("/proc/1/fd/1", os.O_WRONLY, 0)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			fmt.Fprintln(f, strings.Join(os.Args[2:], " "))
			f.Close()
			os.Exit(0)
		}
	}
	fmt.Println("started")
	var names []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		names = append(names, k)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Println("env-name:", n)
	}
	if l := os.Getenv("LOG_LINE"); l != "" {
		fmt.Println(l)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	var exit <-chan time.Time
	if d, err := time.ParseDuration(os.Getenv("EXIT_AFTER")); err == nil {
		exit = time.After(d)
	}
	select {
	case <-sig:
		os.Exit(0)
	case <-exit:
		code, _ := strconv.Atoi(os.Getenv("EXIT_CODE"))
		fmt.Println("exiting with", code)
		os.Exit(code)
	}
}
