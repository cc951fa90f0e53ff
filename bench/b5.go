package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/rekeyhq/rekey/sopsio"
)

const b5Entries = 1000

// runB5 is B5, decrypt (see the package comment).
func runB5(root string, runs int, profileDir string) error {
	dir, err := os.MkdirTemp("", "rekey-bench-b5-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return err
	}
	// The values file as `rekey values set` writes it: YAML, one string per secret. A one-entry file gives
	// the sops CLI's floor (process start, age unwrap of the data key, one value).
	var plain strings.Builder
	for i := 0; i < b5Entries; i++ {
		fmt.Fprintf(&plain, "secret-%04d: %q\n", i, randHex(16))
	}
	encrypt := func(path, text string) ([]byte, error) {
		enc, err := sopsio.Encrypt([]byte(text), sopsio.FormatYAML, []string{id.Recipient().String()})
		if err != nil {
			return nil, err
		}
		return enc, writeFile(path, string(enc), 0o644)
	}
	big, one := filepath.Join(dir, "values.sops.yaml"), filepath.Join(dir, "one.sops.yaml")
	data, err := encrypt(big, plain.String())
	if err != nil {
		return err
	}
	if _, err := encrypt(one, "secret-0000: \"x\"\n"); err != nil {
		return err
	}
	keyFile := filepath.Join(dir, "keys.txt")
	if err := writeFile(keyFile, id.String()+"\n", 0o600); err != nil {
		return err
	}
	ids := []age.Identity{id}
	want, err := sopsio.Decrypt(data, sopsio.FormatYAML, ids)
	if err != nil {
		return err
	}

	sops, version, err := buildSops(root, dir)
	if err != nil {
		fmt.Printf("B5: no sops CLI to compare with: %v\n", err)
	}
	// The key reaches sops through its environment only; HOME is empty of sops configuration.
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "SOPS_AGE_KEY_FILE=" + keyFile, "SOPS_DISABLE_VERSION_CHECK=1"}
	if sops != "" {
		s, err := measure(dir, env, sops, "decrypt", big) // also warms the page cache
		if err != nil {
			return err
		}
		if !bytes.Equal(s.stdout, want) {
			return fmt.Errorf("sops decrypt and sopsio.Decrypt disagree on the cleartext")
		}
	}

	var perOp, cliBig, cliOne []time.Duration
	var allocs, bytesPerOp, cliRSS []int64
	inProcess := func() error {
		r := testing.Benchmark(func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := sopsio.Decrypt(data, sopsio.FormatYAML, ids); err != nil {
					b.Fatal(err)
				}
			}
		})
		if r.N == 0 {
			return fmt.Errorf("sopsio.Decrypt failed")
		}
		perOp = append(perOp, time.Duration(r.NsPerOp()))
		allocs = append(allocs, r.AllocsPerOp())
		bytesPerOp = append(bytesPerOp, r.AllocedBytesPerOp())
		fmt.Printf("run %d  %-16s %10s/op  %d allocs/op  %.1f MiB/op  (%d ops)\n", len(perOp), "sopsio.Decrypt",
			round(time.Duration(r.NsPerOp())), r.AllocsPerOp(), float64(r.AllocedBytesPerOp())/(1<<20), r.N)
		return nil
	}
	cli := func() error {
		if sops == "" {
			return nil
		}
		b, err := measure(dir, env, sops, "decrypt", big)
		if err != nil {
			return err
		}
		o, err := measure(dir, env, sops, "decrypt", one)
		if err != nil {
			return err
		}
		cliBig, cliOne, cliRSS = append(cliBig, b.wall), append(cliOne, o.wall), append(cliRSS, b.maxRSS)
		fmt.Printf("run %d  %-16s %10s  (1 entry: %s)  %.1f MiB peak RSS\n", len(cliBig), "sops decrypt", round(b.wall),
			round(o.wall), float64(b.maxRSS)/1024)
		return nil
	}
	for i := 0; i < runs; i++ {
		for _, m := range alternate(i, []func() error{inProcess, cli}) {
			if err := m(); err != nil {
				return err
			}
		}
	}
	fmt.Println()
	fmt.Printf("B5 decrypt a %d-entry SOPS/age YAML values file\n", b5Entries)
	report("rekey: sopsio.Decrypt in process, per op", perOp)
	med, lo, hi := summary(allocs)
	fmt.Printf("  %-62s median %8d  min %8d  max %8d\n", "rekey: allocations per op", med, lo, hi)
	med, lo, hi = summary(bytesPerOp)
	fmt.Printf("  %-62s median %8.1f  min %8.1f  max %8.1f\n", "rekey: MiB allocated per op", mib(med), mib(lo), mib(hi))
	if sops != "" {
		report("baseline: sops "+version+" decrypt (CLI), wall", cliBig)
		report("floor: sops decrypt of a 1-entry file, wall", cliOne)
		reportMiB("baseline: sops decrypt: peak RSS", cliRSS)
		ratio("sopsio.Decrypt / sops decrypt", median(perOp), median(cliBig))
		ratio("sopsio.Decrypt / (sops decrypt − its 1-entry floor)", median(perOp),
			median(cliBig)-median(cliOne))
	}
	if profileDir == "" {
		return nil
	}
	fmt.Printf("\nB5 profile (CPU profile in %s)\n", filepath.Join(profileDir, "b5.pprof"))
	stop, err := startProfile(filepath.Join(profileDir, "b5.pprof"))
	if err != nil {
		return err
	}
	defer stop()
	n, start := 0, time.Now()
	for ; time.Since(start) < 5*time.Second; n++ {
		if _, err := sopsio.Decrypt(data, sopsio.FormatYAML, ids); err != nil {
			return err
		}
	}
	fmt.Printf("  %d ops in %s\n", n, round(time.Since(start)))
	return nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// buildSops builds the sops CLI of the version go.mod requires, from the module cache, with that
// module's own go.mod and go.sum (rekey's go.sum lacks the CLI's dependencies) and no network.
func buildSops(root, dir string) (bin, version string, err error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}} {{.Version}}", "github.com/getsops/sops/v3")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "", "", fmt.Errorf("go list -m github.com/getsops/sops/v3: %v", err)
	}
	src, version, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	if src == "" {
		return "", "", fmt.Errorf("github.com/getsops/sops/v3 %s is not in the module cache", version)
	}
	bin = filepath.Join(dir, "sops")
	cmd = exec.Command("go", "build", "-o", bin, "./cmd/sops")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOPROXY=off", "GOFLAGS=-mod=readonly -buildvcs=false", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("go build ./cmd/sops in %s: %v\n%s", src, err, out)
	}
	return bin, version, nil
}
