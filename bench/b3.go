package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/rekeyhq/rekey/app"
	"github.com/rekeyhq/rekey/sopsio"
)

// The shape of B3's generated project.
const (
	b3Services    = 200
	b3Secrets     = 1000
	b3AppKeys     = 100 // env.current + env.previous: two variables each
	b3FileSecrets = 100 // top-level compose secrets with file:
	// The rest are tokens in one variable each: 800 tokens + 100 app keys = 1,000 variables.
)

// project is a generated compose project with its desired-state repository.
type project struct {
	base, stack, repo, keyFile, state string
}

// runB3 is B3, plan at scale (see the package comment). With before set (-before-rev), the plan of that
// binary is measured too, alternating with the others, so that before and after come from the same run.
func runB3(root, bin, before string, runs int, profileDir string) error {
	loader, err := goBuild(root, "./bench/composeload", "composeload")
	if err != nil {
		return err
	}
	defer os.RemoveAll(filepath.Dir(loader))
	p, err := generateProject()
	if err != nil {
		return err
	}
	defer os.RemoveAll(p.base)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + p.base}

	planOf := func(bin string) func() (sample, error) {
		return func() (sample, error) {
			return measure(p.base, env, bin, "plan", "--repo", p.repo, "--state-dir", p.state, "--age-key-file", p.keyFile, "--output", "json")
		}
	}
	plan := &b3Side{name: "plan", run: planOf(bin)}
	prior := &b3Side{name: "before", run: planOf(before)}
	load := &b3Side{name: "load", run: func() (sample, error) { return measure(p.base, env, loader, p.stack) }}
	version := &b3Side{name: "version", run: func() (sample, error) { return measure(p.base, env, bin, "version") }}
	// `docker compose config` needs the Docker CLI and its Compose plugin, not the engine; without them B3
	// goes on with the compose-go baseline alone.
	config := &b3Side{name: "config", run: func() (sample, error) {
		return measure(p.base, env, "docker", "compose", "--project-directory", p.stack, "-p", "rkb3", "config", "--quiet")
	}}
	sides := []*b3Side{plan, load, version}
	hasConfig := true
	if _, err := config.run(); err != nil {
		fmt.Printf("B3: no `docker compose config` baseline: %v\n", firstLine(err.Error()))
		hasConfig = false
	} else {
		sides = append(sides, config)
	}
	if before != "" {
		sides = append(sides, prior)
	}

	// Warm the page cache with both binaries, and check the baseline loads the whole project.
	if _, err := version.run(); err != nil {
		return err
	}
	if s, err := load.run(); err != nil {
		return err
	} else if got := strings.TrimSpace(string(s.stdout)); got != fmt.Sprintf("%d services", b3Services) {
		return fmt.Errorf("composeload: %q", got)
	}
	var firstPlan, firstPrior []byte // the first JSON plan of each side, compared below
	for i := 0; i < runs; i++ {
		for _, sd := range alternate(i, sides) {
			s, err := sd.run()
			if err != nil {
				return err
			}
			if (sd == plan || sd == prior) && len(sd.walls) == 0 {
				if err := checkPlan(s.stdout); err != nil {
					return err
				}
				if sd == plan {
					firstPlan = s.stdout
				} else {
					firstPrior = s.stdout
				}
			}
			sd.walls, sd.rss, sd.cpus = append(sd.walls, s.wall), append(sd.rss, s.maxRSS), append(sd.cpus, s.cpu)
			fmt.Printf("run %d  %-8s %10s  %7.1f MiB  cpu %10s\n", i+1, sd.name, round(s.wall), float64(s.maxRSS)/1024, round(s.cpu))
		}
	}
	r := b3Report{plan: plan, prior: prior, load: load, version: version, config: config,
		hasConfig: hasConfig, hasPrior: before != "", firstPlan: firstPlan, firstPrior: firstPrior}
	r.print()
	if profileDir != "" {
		return profilePlan(p, filepath.Join(profileDir, "b3.pprof"))
	}
	return nil
}

// b3Side is one command B3 measures, with its samples.
type b3Side struct {
	name  string
	run   func() (sample, error)
	walls []time.Duration
	cpus  []time.Duration
	rss   []int64
}

// b3Report is what B3 prints once every run is done.
type b3Report struct {
	plan, prior, load, version, config *b3Side
	hasConfig, hasPrior                bool
	firstPlan, firstPrior              []byte
}

func (r b3Report) print() {
	fmt.Println()
	fmt.Printf("B3 rekey plan at scale (%d services, %d secrets; targets < 200 ms, < 100 MiB)\n", b3Services, b3Secrets)
	report("rekey plan: wall", r.plan.walls)
	if r.hasPrior {
		report("before: rekey plan (-before-rev): wall", r.prior.walls)
	}
	report("baseline: one compose-go load of the project: wall", r.load.walls)
	report("floor: rekey version (process start): wall", r.version.walls)
	if r.hasConfig {
		report("baseline: docker compose config --quiet: wall", r.config.walls)
	}
	reportMiB("rekey plan: peak RSS", r.plan.rss)
	if r.hasPrior {
		reportMiB("before: rekey plan (-before-rev): peak RSS", r.prior.rss)
	}
	reportMiB("baseline: one compose-go load: peak RSS", r.load.rss)
	reportMiB("floor: rekey version: peak RSS", r.version.rss)
	if r.hasConfig {
		reportMiB("baseline: docker compose config --quiet: peak RSS", r.config.rss)
	}
	ratio("plan / compose-go load", median(r.plan.walls), median(r.load.walls))
	ratio("plan / rekey version", median(r.plan.walls), median(r.version.walls))
	if r.hasConfig {
		ratio("plan / docker compose config", median(r.plan.walls), median(r.config.walls))
	}
	if r.hasPrior {
		ratio("before: plan / compose-go load", median(r.prior.walls), median(r.load.walls))
		if r.hasConfig {
			ratio("before: plan / docker compose config", median(r.prior.walls), median(r.config.walls))
		}
		ratio("plan / before", median(r.plan.walls), median(r.prior.walls))
	}
	report("rekey plan: CPU (user + system)", r.plan.cpus)
	if r.hasPrior {
		report("before: rekey plan (-before-rev): CPU", r.prior.cpus)
	}
	report("baseline: one compose-go load: CPU", r.load.cpus)
	if r.hasConfig {
		report("baseline: docker compose config --quiet: CPU", r.config.cpus)
		ratio("CPU, plan / docker compose config", median(r.plan.cpus), median(r.config.cpus))
		if r.hasPrior {
			ratio("CPU, before: plan / docker compose config", median(r.prior.cpus), median(r.config.cpus))
		}
	}
	fmt.Printf("  ratio of median peak RSS, plan / compose-go load: %.2f×\n", float64(median(r.plan.rss))/float64(median(r.load.rss)))
	if r.hasPrior {
		// Both sides plan the same project and state: a faster plan must not be a different one.
		same := "identical"
		if !bytes.Equal(r.firstPlan, r.firstPrior) {
			same = "DIFFERENT"
		}
		fmt.Printf("  plans (JSON) of rekey and of -before-rev: %s (%d and %d bytes)\n", same, len(r.firstPlan), len(r.firstPrior))
	}
}

// checkPlan makes sure the plan covered every secret and found consumers for each.
func checkPlan(out []byte) error {
	var plan struct {
		Secrets []struct {
			Secret    string            `json:"secret"`
			Action    string            `json:"action"`
			Consumers []json.RawMessage `json:"consumers"`
		} `json:"secrets"`
	}
	if err := json.Unmarshal(out, &plan); err != nil {
		return fmt.Errorf("rekey plan --output json: %w", err)
	}
	actions := map[string]int{}
	for _, s := range plan.Secrets {
		if len(s.Consumers) == 0 {
			return fmt.Errorf("rekey plan found no consumer of %s", s.Secret)
		}
		actions[s.Action]++
	}
	if len(plan.Secrets) != b3Secrets {
		return fmt.Errorf("rekey plan covered %d secrets, want %d", len(plan.Secrets), b3Secrets)
	}
	fmt.Printf("plan: %d secrets, actions %v\n", len(plan.Secrets), actions)
	return nil
}

// generateProject writes the compose project, a git repository with rekey.yaml and the encrypted values,
// and the age key, in a new temporary directory.
func generateProject() (*project, error) {
	base, err := os.MkdirTemp("", "rekey-bench-b3-")
	if err != nil {
		return nil, err
	}
	p := &project{base: base, stack: filepath.Join(base, "stack"), repo: filepath.Join(base, "repo"),
		keyFile: filepath.Join(base, "keys.txt"), state: filepath.Join(base, "state")}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return p, err
	}
	svcEnv := make([][]string, b3Services)     // each service's environment: lines
	svcSecrets := make([][]string, b3Services) // each service's secrets: entries
	var dotenv, topSecrets, rekeyYAML, values strings.Builder
	files := map[string]string{} // path under the stack → content
	fmt.Fprintf(&rekeyYAML, "version: 1\ncompose: {project_dir: %s, project_name: rkb3}\nvalues: secrets.sops.yaml\n", p.stack)
	rekeyYAML.WriteString("verify:\n  - http: {url: \"http://127.0.0.1:8080/healthz\"}\nsecrets:\n")
	for i := 0; i < b3Secrets; i++ {
		value := randHex(16)
		live := value
		if i%10 == 0 { // one secret in ten differs from what runs: the plan rotates it
			live = randHex(16)
		}
		// Two consumers per secret, spread over the services.
		a, b := i%b3Services, (i*7+3)%b3Services
		if a == b {
			b = (b + 1) % b3Services
		}
		var name string
		switch {
		case i < b3Secrets-b3AppKeys-b3FileSecrets:
			name = fmt.Sprintf("tok-%04d", i)
			v := fmt.Sprintf("T%04d", i)
			fmt.Fprintf(&rekeyYAML, "  %s: {type: token, env: {value: %s}}\n", name, v)
			fmt.Fprintf(&dotenv, "%s=%s\n", v, live)
			for _, s := range []int{a, b} {
				svcEnv[s] = append(svcEnv[s], fmt.Sprintf("%s: ${%s}", v, v))
			}
		case i < b3Secrets-b3FileSecrets:
			name = fmt.Sprintf("key-%04d", i)
			cur, prev := fmt.Sprintf("K%04d_CUR", i), fmt.Sprintf("K%04d_PREV", i)
			fmt.Fprintf(&rekeyYAML, "  %s: {type: app-key, env: {current: %s, previous: %s}}\n", name, cur, prev)
			fmt.Fprintf(&dotenv, "%s=%s\n%s=\n", cur, live, prev)
			for _, s := range []int{a, b} {
				svcEnv[s] = append(svcEnv[s], fmt.Sprintf("%s: ${%s}", cur, cur), fmt.Sprintf("%s: ${%s:-}", prev, prev))
			}
		default:
			name = fmt.Sprintf("file-%04d", i)
			sec := fmt.Sprintf("f%04d", i)
			fmt.Fprintf(&rekeyYAML, "  %s: {type: token, file: secrets/%s.txt}\n", name, sec)
			fmt.Fprintf(&topSecrets, "  %s:\n    file: ./secrets/%s.txt\n", sec, sec)
			files["secrets/"+sec+".txt"] = live
			for _, s := range []int{a, b} {
				svcSecrets[s] = append(svcSecrets[s], sec)
			}
		}
		fmt.Fprintf(&values, "%s: %q\n", name, value)
	}

	files["compose.yaml"] = b3Compose(svcEnv, svcSecrets, topSecrets.String())
	files[".env"] = dotenv.String()
	for name, content := range files {
		if err := writeFile(filepath.Join(p.stack, name), content, 0o600); err != nil {
			return p, err
		}
	}

	return p, p.writeRepo(id, rekeyYAML.String(), values.String())
}

// b3Compose is the compose file: b3Services services in groups of ten, each reading its secrets.
func b3Compose(svcEnv, svcSecrets [][]string, topSecrets string) string {
	var compose strings.Builder
	compose.WriteString("services:\n")
	for s := 0; s < b3Services; s++ {
		fmt.Fprintf(&compose, "  svc-%03d:\n    image: example.invalid/app:1\n    command: [serve, --port, \"8080\"]\n", s)
		if s%10 != 0 { // groups of ten services, each depending on the first of its group
			fmt.Fprintf(&compose, "    depends_on: [svc-%03d]\n", s-s%10)
		}
		compose.WriteString("    environment:\n      LOG_LEVEL: info\n")
		for _, line := range svcEnv[s] {
			compose.WriteString("      " + line + "\n")
		}
		if len(svcSecrets[s]) > 0 {
			compose.WriteString("    secrets: [" + strings.Join(svcSecrets[s], ", ") + "]\n")
		}
	}
	compose.WriteString("secrets:\n" + topSecrets)
	return compose.String()
}

// writeRepo writes the git repository (rekey.yaml and the encrypted values) and the age key.
func (p *project) writeRepo(id *age.X25519Identity, rekeyYAML, values string) error {
	enc, err := sopsio.Encrypt([]byte(values), sopsio.FormatYAML, []string{id.Recipient().String()})
	if err != nil {
		return err
	}
	for name, content := range map[string]string{"rekey.yaml": rekeyYAML, "secrets.sops.yaml": string(enc)} {
		if err := writeFile(filepath.Join(p.repo, name), content, 0o644); err != nil {
			return err
		}
	}
	if err := writeFile(p.keyFile, "# bench only\n"+id.String()+"\n", 0o600); err != nil {
		return err
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-qm", "desired"}} {
		args = append([]string{"-c", "user.name=bench", "-c", "user.email=bench@example.invalid"}, args...)
		if _, err := run(p.repo, "git", args...); err != nil {
			return err
		}
	}
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func writeFile(path, content string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), mode)
}

// profilePlan does in this process what `rekey plan` does, under the CPU profiler, through the same code:
// first app.Load alone (read the commit, decrypt, load the project, build the desired state, read the
// live values), then app.Plan (the trust guard, the same load, observe, plan). Only the printing of the
// plan is left out.
func profilePlan(p *project, out string) error {
	ctx := context.Background()
	stop, err := startProfile(out)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Printf("\nB3 profile (CPU profile in %s)\n", out)
	lap := time.Now()
	phase := func(name string) {
		fmt.Printf("  in process: %-60s %s\n", name, round(time.Since(lap)))
		lap = time.Now()
	}
	o := app.Options{Repo: p.repo, AgeKeyFile: p.keyFile, StateDir: p.state}
	s, err := app.Load(ctx, o)
	if err != nil {
		return err
	}
	phase(fmt.Sprintf("app.Load (git, decrypt, compose, build %d secrets, live values)", len(s.Desired.Secrets)))
	_, plan, err := app.Plan(ctx, o)
	if err != nil {
		return err
	}
	phase(fmt.Sprintf("app.Plan (guard, load, observe, plan %d secrets)", len(plan.Secrets)))
	return nil
}
