package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/app"
	"github.com/rekeyhq/rekey/discover"
	"github.com/rekeyhq/rekey/internal/redact"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// TestInitGolden runs `rekey init` on the realistic Compose projects under testdata/init and compares the
// proposal with golden files. Each case directory holds:
//
//	project/  the Compose project, copied to $WORK/<case> (so the directory name is the case name)
//	host/     host files (cron, backup scripts, units), copied to $WORK/host
//	scan      the --scan paths, one per line, relative to $WORK
//	values    every credential value of the case, one per line: none may appear in any output
//	golden/   rekey.yaml, report.json (--output json) and report.txt (the text report)
//
// Then the proposal must pass `rekey plan` with every secret in-sync. Paths under the temp directory are
// written $WORK in the golden files, the generated age recipient $RECIPIENT. `go test ./cmd/rekey -run
// InitGolden -update` rewrites the golden files; review the diff.
func TestInitGolden(t *testing.T) {
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Fatal("git is needed (scripts/setup.sh installs it)")
	}
	ents, err := os.ReadDir(filepath.Join("testdata", "init"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ent := range ents {
		if !ent.IsDir() {
			continue
		}
		n++
		t.Run(ent.Name(), func(t *testing.T) { initGoldenCase(t, gitBin, ent.Name()) })
	}
	if n < 3 {
		t.Errorf("found %d projects under testdata/init, want at least 3", n)
	}
}

func initGoldenCase(t *testing.T, gitBin, name string) {
	src := filepath.Join("testdata", "init", name)
	work := t.TempDir()
	project := filepath.Join(work, name)
	copyTree(t, filepath.Join(src, "project"), project)
	if _, err := os.Stat(filepath.Join(src, "host")); err == nil {
		copyTree(t, filepath.Join(src, "host"), filepath.Join(work, "host"))
	}
	if err := os.Mkdir(filepath.Join(work, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	values := lines(t, filepath.Join(src, "values"))
	if len(values) == 0 {
		t.Fatalf("%s/values lists no value", src)
	}
	for _, v := range values {
		if !treeContains(t, src, v, "values", "golden") {
			t.Errorf("%s/values: %q is in no file of the case (stale list?)", src, v)
		}
	}
	base := []string{"init", "--project-dir", project, "--no-login"} // deterministic: no Docker
	for _, s := range lines(t, filepath.Join(src, "scan")) {
		base = append(base, "--scan", filepath.Join(work, filepath.FromSlash(s)))
	}

	// The JSON report, with a generated key: the repository plan reads afterwards.
	out, key := filepath.Join(work, "out"), filepath.Join(work, "keys", "age.txt")
	code, stdout, stderr := runRekey(t, append(base, "--out", out, "--generate-age-key", key, "--output", "json")...)
	if code != exitOK || stderr != "" {
		t.Fatalf("rekey init --output json: exit %d\nstderr: %s\nstdout: %s", code, stderr, stdout)
	}
	var rep discover.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("the JSON report does not parse: %v\n%s", err, stdout)
	}
	if len(rep.Recipients) != 1 || !strings.HasPrefix(rep.Recipients[0], "age1") {
		t.Fatalf("recipients = %v, want the one generated key", rep.Recipients)
	}
	paths := []string{work}
	if real, err := filepath.EvalSymlinks(work); err == nil && real != work {
		paths = append(paths, real)
	}
	norm := func(s string) string {
		for _, p := range paths {
			s = strings.ReplaceAll(s, p, "$WORK")
		}
		return strings.ReplaceAll(s, rep.Recipients[0], "$RECIPIENT")
	}
	rekeyYAML := readFile(t, filepath.Join(out, app.ConfigFile))
	sopsYAML := readFile(t, filepath.Join(out, ".sops.yaml"))
	enc := readFile(t, filepath.Join(out, discover.ValuesFile))
	golden(t, filepath.Join(src, "golden", "report.json"), norm(stdout))
	golden(t, filepath.Join(src, "golden", app.ConfigFile), norm(rekeyYAML))

	// The text report, to a second repository (one recipient given, so no key is generated).
	out2 := filepath.Join(work, "out-text")
	code, text, stderr := runRekey(t, append(base, "--out", out2, "--age-recipient", rep.Recipients[0])...)
	if code != exitOK || stderr != "" {
		t.Fatalf("rekey init: exit %d\nstderr: %s\nstdout: %s", code, stderr, text)
	}
	golden(t, filepath.Join(src, "golden", "report.txt"), norm(text))
	if got := readFile(t, filepath.Join(out2, app.ConfigFile)); got != rekeyYAML {
		t.Errorf("the text run wrote another rekey.yaml than the JSON run:\n%s", got)
	}

	// No value anywhere: not in the reports, not in the new repository (the values file is encrypted), and
	// nothing the redactor had to hide (a value the report tried to print).
	for what, s := range map[string]string{"JSON report": stdout, "text report": text, app.ConfigFile: rekeyYAML,
		".sops.yaml": sopsYAML, discover.ValuesFile: enc} {
		for _, v := range values {
			if strings.Contains(s, v) {
				t.Errorf("%s holds the value %q", what, v)
			}
		}
		if strings.Contains(s, redact.Marker) {
			t.Errorf("%s holds %s: init tried to print a value", what, redact.Marker)
		}
	}
	if !strings.Contains(enc, "ENC[AES256_GCM") {
		t.Errorf("%s is not encrypted:\n%s", discover.ValuesFile, enc)
	}

	// The stack is unchanged.
	diffTrees(t, filepath.Join(src, "project"), project)

	// The proposal passes plan: every secret the report lists is in-sync, and nothing else is planned.
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command(gitBin, append([]string{"-c", "user.name=t", "-c", "user.email=t@example.invalid",
			"-c", "commit.gpgsign=false", "-C", out}, args...)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, b)
		}
	}
	git("init", "-q", "-b", "main")
	git("add", "-A")
	git("commit", "-qm", "rekey: initial desired state")
	code, planOut, stderr := runRekey(t, "plan", "--repo", out, "--age-key-file", key,
		"--state-dir", filepath.Join(work, "state"), "--output", "json")
	if code != exitOK || stderr != "" {
		t.Fatalf("rekey plan: exit %d\nstderr: %s\nstdout: %s", code, stderr, planOut)
	}
	for _, v := range values {
		if strings.Contains(planOut, v) {
			t.Errorf("plan output holds the value %q", v)
		}
	}
	var plan struct {
		Project string `json:"project"`
		Secrets []struct {
			Secret string `json:"secret"`
			Action string `json:"action"`
			Note   string `json:"note"`
		} `json:"secrets"`
	}
	if err := json.Unmarshal([]byte(planOut), &plan); err != nil {
		t.Fatalf("plan JSON: %v\n%s", err, planOut)
	}
	if plan.Project != rep.Project {
		t.Errorf("plan project = %q, init said %q", plan.Project, rep.Project)
	}
	var planned, proposed []string
	for _, s := range plan.Secrets {
		planned = append(planned, s.Secret)
		if s.Action != "in-sync" {
			t.Errorf("plan: secret %s is %s (%s), want in-sync", s.Secret, s.Action, s.Note)
		}
	}
	for _, s := range rep.Secrets {
		proposed = append(proposed, s.Name)
	}
	slices.Sort(planned)
	slices.Sort(proposed)
	if !slices.Equal(planned, proposed) {
		t.Errorf("plan lists %v, init proposed %v", planned, proposed)
	}
}

// runRekey runs the CLI in-process with an empty environment (no $SOPS_AGE_KEY_FILE, no $DOCKER_HOST).
func runRekey(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr,
		getenv: func(string) string { return "" }})
	return code, stdout.String(), stderr.String()
}

// golden compares got with the file, or rewrites the file with -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got == string(want) {
		return
	}
	g, w := strings.Split(got, "\n"), strings.Split(string(want), "\n")
	i := 0
	for i < len(g) && i < len(w) && g[i] == w[i] {
		i++
	}
	line := func(l []string) string {
		if i < len(l) {
			return l[i]
		}
		return "(end of file)"
	}
	t.Errorf("%s differs from the golden file at line %d (run with -update to rewrite it, then review the diff)\n got: %s\nwant: %s\n\nfull output:\n%s",
		path, i+1, line(g), line(w), got)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// lines reads a list file: one entry a line, blank lines and # comments ignored; a missing file is empty.
func lines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for l := range strings.SplitSeq(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// copyTree copies a directory of regular files, keeping their modes.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// diffTrees fails when the files under b differ from those under a.
func diffTrees(t *testing.T, a, b string) {
	t.Helper()
	list := func(root string) map[string]string {
		m := map[string]string{}
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			m[rel] = readFile(t, path)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	ma, mb := list(a), list(b)
	for name, content := range ma {
		if got, ok := mb[name]; !ok || got != content {
			t.Errorf("init changed the project: %s", name)
		}
	}
	for name := range mb {
		if _, ok := ma[name]; !ok {
			t.Errorf("init added %s to the project", name)
		}
	}
}

// treeContains reports whether a file under root (outside the skipped top-level entries) holds s.
func treeContains(t *testing.T, root, s string, skip ...string) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if slices.Contains(skip, rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() && strings.Contains(readFile(t, path), s) {
			found = true
			return filepath.SkipAll
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}
