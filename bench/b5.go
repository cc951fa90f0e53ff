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

// b5Fixture is B5's values file, encrypted, and what it must decrypt to.
type b5Fixture struct {
	dir, big, one, keyFile string
	data, want             []byte
	ids                    []age.Identity
}

// newB5Fixture writes the values file as `rekey values set` writes it: YAML, one string per secret. A
// one-entry file gives the sops CLI's floor (process start, age unwrap of the data key, one value).
func newB5Fixture(dir string) (*b5Fixture, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
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
	f := &b5Fixture{dir: dir, big: filepath.Join(dir, "values.sops.yaml"), one: filepath.Join(dir, "one.sops.yaml"),
		keyFile: filepath.Join(dir, "keys.txt"), ids: []age.Identity{id}}
	if f.data, err = encrypt(f.big, plain.String()); err != nil {
		return nil, err
	}
	if _, err := encrypt(f.one, "secret-0000: \"x\"\n"); err != nil {
		return nil, err
	}
	if err := writeFile(f.keyFile, id.String()+"\n", 0o600); err != nil {
		return nil, err
	}
	if f.want, err = sopsio.Decrypt(f.data, sopsio.FormatYAML, f.ids); err != nil {
		return nil, err
	}
	return f, nil
}

// b5Results are the samples of every run.
type b5Results struct {
	perOp, cliBig, cliOne   []time.Duration
	allocs, bytesPerOp, rss []int64
}

// runB5 is B5, decrypt (see the package comment).
func runB5(root string, runs int, profileDir string) error {
	dir, err := os.MkdirTemp("", "rekey-bench-b5-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	f, err := newB5Fixture(dir)
	if err != nil {
		return err
	}
	sops, version, err := buildSops(root, dir)
	if err != nil {
		fmt.Printf("B5: no sops CLI to compare with: %v\n", err)
	}
	// The key reaches sops through its environment only; HOME is empty of sops configuration.
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "SOPS_AGE_KEY_FILE=" + f.keyFile, "SOPS_DISABLE_VERSION_CHECK=1"}
	if sops != "" {
		s, err := measure(dir, env, sops, "decrypt", f.big) // also warms the page cache
		if err != nil {
			return err
		}
		if !bytes.Equal(s.stdout, f.want) {
			return fmt.Errorf("sops decrypt and sopsio.Decrypt disagree on the cleartext")
		}
	}
	var r b5Results
	inProcess := func() error { return r.inProcess(f) }
	cli := func() error {
		if sops == "" {
			return nil
		}
		return r.cli(dir, env, sops, f)
	}
	for i := 0; i < runs; i++ {
		for _, m := range alternate(i, []func() error{inProcess, cli}) {
			if err := m(); err != nil {
				return err
			}
		}
	}
	r.report(sops, version)
	if profileDir == "" {
		return nil
	}
	return profileB5(profileDir, f)
}

// inProcess measures sopsio.Decrypt once with testing.Benchmark.
func (r *b5Results) inProcess(f *b5Fixture) error {
	res := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := sopsio.Decrypt(f.data, sopsio.FormatYAML, f.ids); err != nil {
				b.Fatal(err)
			}
		}
	})
	if res.N == 0 {
		return fmt.Errorf("sopsio.Decrypt failed")
	}
	r.perOp = append(r.perOp, time.Duration(res.NsPerOp()))
	r.allocs = append(r.allocs, res.AllocsPerOp())
	r.bytesPerOp = append(r.bytesPerOp, res.AllocedBytesPerOp())
	fmt.Printf("run %d  %-16s %10s/op  %d allocs/op  %.1f MiB/op  (%d ops)\n", len(r.perOp), "sopsio.Decrypt",
		round(time.Duration(res.NsPerOp())), res.AllocsPerOp(), float64(res.AllocedBytesPerOp())/(1<<20), res.N)
	return nil
}

// cli measures the sops CLI once on the big file and once on the one-entry file.
func (r *b5Results) cli(dir string, env []string, sops string, f *b5Fixture) error {
	b, err := measure(dir, env, sops, "decrypt", f.big)
	if err != nil {
		return err
	}
	o, err := measure(dir, env, sops, "decrypt", f.one)
	if err != nil {
		return err
	}
	r.cliBig, r.cliOne, r.rss = append(r.cliBig, b.wall), append(r.cliOne, o.wall), append(r.rss, b.maxRSS)
	fmt.Printf("run %d  %-16s %10s  (1 entry: %s)  %.1f MiB peak RSS\n", len(r.cliBig), "sops decrypt", round(b.wall),
		round(o.wall), float64(b.maxRSS)/1024)
	return nil
}

func (r *b5Results) report(sops, version string) {
	fmt.Println()
	fmt.Printf("B5 decrypt a %d-entry SOPS/age YAML values file\n", b5Entries)
	report("rekey: sopsio.Decrypt in process, per op", r.perOp)
	med, lo, hi := summary(r.allocs)
	fmt.Printf("  %-62s median %8d  min %8d  max %8d\n", "rekey: allocations per op", med, lo, hi)
	med, lo, hi = summary(r.bytesPerOp)
	fmt.Printf("  %-62s median %8.1f  min %8.1f  max %8.1f\n", "rekey: MiB allocated per op", mib(med), mib(lo), mib(hi))
	if sops == "" {
		return
	}
	report("baseline: sops "+version+" decrypt (CLI), wall", r.cliBig)
	report("floor: sops decrypt of a 1-entry file, wall", r.cliOne)
	reportMiB("baseline: sops decrypt: peak RSS", r.rss)
	ratio("sopsio.Decrypt / sops decrypt", median(r.perOp), median(r.cliBig))
	ratio("sopsio.Decrypt / (sops decrypt − its 1-entry floor)", median(r.perOp),
		median(r.cliBig)-median(r.cliOne))
}

// profileB5 writes a CPU profile of 5 s of decryption.
func profileB5(profileDir string, f *b5Fixture) error {
	fmt.Printf("\nB5 profile (CPU profile in %s)\n", filepath.Join(profileDir, "b5.pprof"))
	stop, err := startProfile(filepath.Join(profileDir, "b5.pprof"))
	if err != nil {
		return err
	}
	defer stop()
	n, start := 0, time.Now()
	for ; time.Since(start) < 5*time.Second; n++ {
		if _, err := sopsio.Decrypt(f.data, sopsio.FormatYAML, f.ids); err != nil {
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
