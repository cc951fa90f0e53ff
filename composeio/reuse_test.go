package composeio

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// consumersOfFileUnmemoized is ConsumersOfFile as it was before the project's paths were resolved once per
// Project: every comparison resolves the symlinks of both sides again. It is the reference the memoized one
// must match.
func consumersOfFileUnmemoized(p *Project, file string) ([]FileUse, error) {
	samePath := func(a, b string) bool { return a == b || canonical(a) == canonical(b) }
	if !filepath.IsAbs(file) {
		file = filepath.Join(p.dir, file)
	}
	file = filepath.Clean(file)
	isDir := false
	if fi, err := os.Stat(file); err == nil {
		isDir = fi.IsDir()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var out []FileUse
	for _, name := range p.Services() {
		svc := p.p.Services[name]
		for _, ref := range svc.Secrets {
			s, ok := p.p.Secrets[ref.Source]
			if ok && !bool(s.External) && s.File != "" && samePath(p.abs(s.File), file) {
				out = append(out, FileUse{Service: name, Target: secretTarget(ref), Kind: KindSecret})
			}
		}
		for _, ref := range svc.Configs {
			c, ok := p.p.Configs[ref.Source]
			if ok && !bool(c.External) && c.File != "" && samePath(p.abs(c.File), file) {
				out = append(out, FileUse{Service: name, Target: configTarget(ref), Kind: KindConfig})
			}
		}
		for _, v := range svc.Volumes {
			if v.Type != types.VolumeTypeBind || v.Source == "" {
				continue
			}
			src := p.abs(v.Source)
			if samePath(src, file) {
				kind := KindBindFile
				if isDir {
					kind = KindBindDir
				}
				out = append(out, FileUse{Service: name, Target: v.Target, Kind: kind})
				continue
			}
			if rel, ok := within(src, file, canonical(src), canonical(file)); ok {
				out = append(out, FileUse{Service: name, Target: path.Join(v.Target, filepath.ToSlash(rel)), Kind: KindBindDir})
			}
		}
		for _, f := range serviceEnvFiles(svc) {
			if samePath(f, file) {
				out = append(out, FileUse{Service: name, Kind: KindEnvFile})
			}
		}
	}
	slices.SortFunc(out, func(a, b FileUse) int {
		return strings.Compare(a.Service+"\x00"+a.Kind+"\x00"+a.Target, b.Service+"\x00"+b.Kind+"\x00"+b.Target)
	})
	return slices.Compact(out), nil
}

// symlinkProject is a project whose file uses go through symlinks in every way ConsumersOfFile compares:
// a linked directory, a linked file, a dangling link, a source that does not exist.
func symlinkProject(t *testing.T) string {
	t.Helper()
	dir := writeProject(t, map[string]string{
		"real/key.pem":      "key",
		"real/conf/app.ini": "ini",
		"secrets/tok.txt":   "tok",
		"envs/app.env":      "Z=1\n",
		"compose.yaml": `services:
  app:
    image: busybox
    env_file: [./envlink/app.env]
    volumes:
      - ./link/key.pem:/key.pem
      - ./link/conf:/etc/conf
      - ./real:/srv/real
    secrets: [tok, tok2, missing]
    configs: [cfg]
  web:
    image: busybox
    env_file: [./envs/app.env]
    secrets: [tok2]
    volumes:
      - ./dangling/x:/x
secrets:
  tok: {file: ./secrets/tok.txt}
  tok2: {file: ./tok-link.txt}
  missing: {file: ./nothere/s.txt}
configs:
  cfg: {file: ./link/conf/app.ini}
`,
	})
	for link, target := range map[string]string{
		"link":         filepath.Join(dir, "real"),
		"envlink":      "envs", // relative
		"tok-link.txt": filepath.Join(dir, "secrets", "tok.txt"),
		"dangling":     filepath.Join(dir, "missing"),
		"q-link":       filepath.Join(dir, "secrets", "tok.txt"),
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Skip(err)
		}
	}
	return dir
}

// The project's paths are resolved once per Project; the answers are those of resolving them every time.
func TestConsumersOfFileMemoMatchesUnmemoized(t *testing.T) {
	ctx := context.Background()
	dir := symlinkProject(t)
	queries := []string{
		"real/key.pem", "link/key.pem", filepath.Join(dir, "link", "key.pem"), filepath.Join(dir, "real", "key.pem"),
		"real/conf/app.ini", "link/conf/app.ini", "link/conf/new.ini", "real/conf", "link/conf", "real", "link",
		"secrets/tok.txt", "tok-link.txt", "./secrets/../tok-link.txt", "q-link", "nothere/s.txt",
		"envs/app.env", "envlink/app.env", "dangling/x", "missing/x", "compose.yaml", "nowhere/at/all",
	}
	check := func(p *Project, qs []string) {
		t.Helper()
		for _, q := range qs {
			got, err := p.ConsumersOfFile(q)
			if err != nil {
				t.Fatal(err)
			}
			want, err := consumersOfFileUnmemoized(p, q)
			if err != nil {
				t.Fatal(err)
			}
			equal(t, q, got, want)
		}
	}
	p, err := Load(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	check(p, queries)
	check(p, queries) // with the memo filled
	fresh, err := Load(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	reversed := slices.Clone(queries)
	slices.Reverse(reversed)
	check(fresh, reversed) // filled in another order

	// A few answers spelled out, so that the reference itself is checked.
	tok := []FileUse{
		{Service: "app", Target: "/run/secrets/tok", Kind: KindSecret},
		{Service: "app", Target: "/run/secrets/tok2", Kind: KindSecret},
		{Service: "web", Target: "/run/secrets/tok2", Kind: KindSecret},
	}
	for _, q := range []string{"secrets/tok.txt", "tok-link.txt", "q-link"} {
		got, _ := p.ConsumersOfFile(q)
		equal(t, q, got, tok)
	}
	got, _ := p.ConsumersOfFile("real/conf/app.ini")
	equal(t, "real/conf/app.ini", got, []FileUse{
		{Service: "app", Target: "/etc/conf/app.ini", Kind: KindBindDir},
		{Service: "app", Target: "/srv/real/conf/app.ini", Kind: KindBindDir},
		{Service: "app", Target: "/cfg", Kind: KindConfig},
	})
	got, _ = p.ConsumersOfFile("envs/app.env")
	equal(t, "envs/app.env", got, []FileUse{{Service: "app", Kind: KindEnvFile}, {Service: "web", Kind: KindEnvFile}})

	// The file asked about is resolved on every call: a link moved between two calls is followed.
	link := filepath.Join(dir, "q-link")
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "real", "key.pem"), link); err != nil {
		t.Fatal(err)
	}
	check(p, []string{"q-link"})
	got, _ = p.ConsumersOfFile("q-link")
	equal(t, "q-link moved", got, []FileUse{
		{Service: "app", Target: "/srv/real/key.pem", Kind: KindBindDir},
		{Service: "app", Target: "/key.pem", Kind: KindBindFile},
	})
}

// rewrite replaces a file's content with content of the same size and puts its modification time back, so
// that only the content digest can tell.
func rewrite(t *testing.T, path, content string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(content)) != fi.Size() {
		t.Fatalf("rewrite %s: %d bytes for %d", path, len(content), fi.Size())
	}
	if err := os.WriteFile(path, []byte(content), fi.Mode()); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// Probes reuse the project Load returned while nothing it read has changed: one compose-go load fewer.
func TestProbeReusesLoadWhileUnchanged(t *testing.T) {
	ctx := context.Background()
	p := loadShop(t)
	if p.inputs == nil {
		t.Fatal("the shop project is not reusable")
	}
	fresh := loadShop(t)
	fresh.inputs = nil // never reused: the reference
	names := []string{"API_TOKEN", "STRIPE_KEY", "LOG_LEVEL"}
	before := p.loads.Load()
	got, err := p.consumersCombined(ctx, names)
	if err != nil {
		t.Fatal(err)
	}
	if n := p.loads.Load() - before; n != 1 {
		t.Errorf("combined probe: %d loads, want 1 (the probe only)", n)
	}
	want, err := fresh.consumersCombined(ctx, names)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "combined probe", got, want)
	if n := fresh.loads.Load(); n != 3 {
		t.Errorf("reference: %d loads, want 3 (Load, a base, the probe)", n)
	}
	before = p.loads.Load()
	one, err := p.ConsumersOfVar(ctx, "DB_PASSWORD")
	if err != nil {
		t.Fatal(err)
	}
	if n := p.loads.Load() - before; n != 1 {
		t.Errorf("one variable: %d loads, want 1 (the canary)", n)
	}
	wantOne, err := fresh.ConsumersOfVar(ctx, "DB_PASSWORD")
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "DB_PASSWORD", one, wantOne)
}

// A file edited after Load — the compose file, .env, an env_file, a label_file, an optional env_file that
// appears — is never compared against the project as it was: the probe loads a fresh base, and answers what a
// probe that never reuses anything answers.
func TestEditedAfterLoadIsNotServedFromLoad(t *testing.T) {
	ctx := context.Background()
	const compose = `services:
  app:
    image: busybox
    env_file: [app.env, {path: extra.env, required: false}]
    label_file: app.labels
    environment: {X: "${A}", Y: "${B}"}
`
	for _, tc := range []struct {
		name  string
		names []string
		edit  func(t *testing.T, dir string)
	}{
		{"compose file", []string{"A", "B"}, func(t *testing.T, dir string) {
			rewrite(t, filepath.Join(dir, "compose.yaml"), strings.Replace(compose, `{X: "${A}", Y: "${B}"}`, `{X: "${B}", Y: "${A}"}`, 1))
		}},
		{".env", []string{"A"}, func(t *testing.T, dir string) {
			rewrite(t, filepath.Join(dir, ".env"), "A=1\nB=3\n")
		}},
		{"env_file", []string{"A"}, func(t *testing.T, dir string) {
			rewrite(t, filepath.Join(dir, "app.env"), "Z=2\n")
		}},
		{"label_file", []string{"A"}, func(t *testing.T, dir string) {
			rewrite(t, filepath.Join(dir, "app.labels"), "l=2\n")
		}},
		{"optional env_file appears", []string{"A"}, func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "extra.env"), []byte("W=1\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"same content, new modification time", []string{"A", "B"}, func(t *testing.T, dir string) {
			f := filepath.Join(dir, ".env")
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			later := fi.ModTime().Add(1e9)
			if err := os.Chtimes(f, later, later); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeProject(t, map[string]string{
				".env": "A=1\nB=2\n", "compose.yaml": compose, "app.env": "Z=1\n", "app.labels": "l=1\n",
			})
			p, err := Load(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			if p.inputs == nil || !p.unchangedSinceLoad() {
				t.Fatal("the project is not reusable before the edit")
			}
			stale := p.p
			tc.edit(t, dir)
			if p.unchangedSinceLoad() {
				t.Fatal("the edit went unnoticed")
			}
			ref, err := Load(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			ref.inputs = nil
			// The reference: loaded after the edit, but with p's assignments (read at Load).
			ref.envFileVars, ref.dotenvVars, ref.referenced, ref.nested = p.envFileVars, p.dotenvVars, p.referenced, p.nested

			before := p.loads.Load()
			got, gotErr := p.consumersCombined(ctx, tc.names)
			if n := p.loads.Load() - before; n != 2 {
				t.Errorf("%d loads, want 2 (a fresh base and the probe)", n)
			}
			want, wantErr := ref.consumersCombined(ctx, tc.names)
			equal(t, "error", fmt.Sprint(gotErr), fmt.Sprint(wantErr))
			equal(t, "combined probe", got, want)
			for _, n := range tc.names {
				one, err := p.ConsumersOfVar(ctx, n)
				if err != nil {
					t.Fatal(err)
				}
				wantOne, err := ref.ConsumersOfVar(ctx, n)
				if err != nil {
					t.Fatal(err)
				}
				equal(t, n, one, wantOne)
			}
			all, err := p.ConsumersOfVars(ctx, tc.names)
			if err != nil {
				t.Fatal(err)
			}
			wantAll, err := ref.ConsumersOfVars(ctx, tc.names)
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "ConsumersOfVars", all, wantAll)

			// Where the loaded project itself changed, the stale one would have answered differently: the
			// edit is one the reuse has to catch.
			if !reflectEqualProjects(stale, ref.p) {
				staleGot, staleErr := p.consumersAgainst(ctx, stale, tc.names)
				if staleErr == nil && fmt.Sprint(staleGot) == fmt.Sprint(want) {
					t.Errorf("the stale base gives the same answer: the case tests nothing")
				}
			}
		})
	}
}

func reflectEqualProjects(a, b *types.Project) bool {
	ja, errA := a.MarshalJSON()
	jb, errB := b.MarshalJSON()
	return errA == nil && errB == nil && string(ja) == string(jb)
}

// What the loaded project does not show — an include, an extends from another file — turns the reuse off;
// an extends within the same file does not.
func TestIncludeAndExtendsFileAreNeverReused(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		files    map[string]string
		reusable bool
		edit     string // a file rewritten after Load (same size)
		content  string
		names    []string
	}{
		{"include", map[string]string{
			".env":         "A=1\nB=2\n",
			"compose.yaml": "include: [inc.yaml]\nservices:\n  app:\n    image: busybox\n",
			"inc.yaml":     "services:\n  inc:\n    image: busybox\n    environment: {X: \"${A}\"}\n",
		}, false, "inc.yaml", "services:\n  inc:\n    image: busybox\n    environment: {X: \"${B}\"}\n", []string{"A", "B"}},
		{"extends from another file", map[string]string{
			".env":         "A=1\nB=2\n",
			"compose.yaml": "services:\n  app:\n    image: busybox\n    extends: {file: base.yaml, service: base}\n",
			"base.yaml":    "services:\n  base:\n    image: busybox\n    environment: {X: \"${A}\"}\n",
		}, false, "base.yaml", "services:\n  base:\n    image: busybox\n    environment: {X: \"${B}\"}\n", []string{"A", "B"}},
		{"extends in the same file", map[string]string{
			".env":         "A=1\nB=2\n",
			"compose.yaml": "services:\n  base:\n    image: busybox\n    environment: {X: \"${A}\"}\n  app:\n    extends: base\n",
		}, true, "", "", []string{"A", "B"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeProject(t, tc.files)
			p, err := Load(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.inputs != nil; got != tc.reusable {
				t.Fatalf("reusable: %v, want %v", got, tc.reusable)
			}
			if tc.edit == "" {
				return
			}
			rewrite(t, filepath.Join(dir, tc.edit), tc.content)
			got, err := p.ConsumersOfVars(ctx, tc.names)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := Load(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			want, err := ref.ConsumersOfVars(ctx, tc.names)
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "consumers after the edit", got, want)
			if len(got["B"]) == 0 {
				t.Errorf("B has no consumer after the edit: %v", got)
			}
		})
	}
}
