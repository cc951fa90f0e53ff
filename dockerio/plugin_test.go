package dockerio

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeSystemDirs replaces the system plugin directories with two temporary ones for one test.
func fakeSystemDirs(t *testing.T) (first, second string) {
	t.Helper()
	first, second = t.TempDir(), t.TempDir()
	saved := systemPluginDirs
	systemPluginDirs = []string{first, second}
	t.Cleanup(func() { systemPluginDirs = saved })
	return first, second
}

// installPlugin writes an executable docker-compose in dir that records its arguments in dir/args.
func installPlugin(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "docker-compose")
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"${0%/*}/args\"\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestComposePluginIsFoundWhereTheDockerCLILooks(t *testing.T) {
	t.Setenv("HOME", t.TempDir()) // the parent's environment is never the one that counts
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	sys1, sys2 := fakeSystemDirs(t)
	home, cfg := t.TempDir(), t.TempDir()
	env := []string{"HOME=" + home}

	if got := composePlugin(env); got != "" {
		t.Errorf("no plugin anywhere: %q, want \"\" (docker compose)", got)
	}
	if got := defaultCommand(env); !slices.Equal(got, []string{"docker", "compose"}) {
		t.Errorf("default command without a plugin: %v", got)
	}
	second := installPlugin(t, sys2)
	if got := composePlugin(env); got != second {
		t.Errorf("plugin in the last system directory: %q, want %q", got, second)
	}
	first := installPlugin(t, sys1)
	if got := composePlugin(env); got != first {
		t.Errorf("plugins in two system directories: %q, want the first, %q", got, first)
	}
	user := installPlugin(t, filepath.Join(home, ".docker", "cli-plugins"))
	if got := composePlugin(env); got != user {
		t.Errorf("a plugin under HOME: %q, want it before the system's, %q", got, user)
	}
	if got := defaultCommand(env); !slices.Equal(got, []string{user}) {
		t.Errorf("default command: %v", got)
	}
	// DOCKER_CONFIG replaces HOME/.docker: its cli-plugins has none, so the system's is next.
	withConfig := append(slices.Clone(env), "DOCKER_CONFIG="+cfg)
	if got := composePlugin(withConfig); got != first {
		t.Errorf("DOCKER_CONFIG without plugins: %q, want the system's %q", got, first)
	}
	inConfig := installPlugin(t, filepath.Join(cfg, "cli-plugins"))
	if got := composePlugin(withConfig); got != inConfig {
		t.Errorf("DOCKER_CONFIG with a plugin: %q, want %q", got, inConfig)
	}
	// Neither HOME nor DOCKER_CONFIG: the docker CLI would look in the account's home, unknown here.
	if got := composePlugin([]string{"PATH=/usr/bin"}); got != "" {
		t.Errorf("without HOME and DOCKER_CONFIG: %q, want \"\"", got)
	}
}

func TestComposePluginExtraDirsAndInvalidCandidates(t *testing.T) {
	sys, _ := fakeSystemDirs(t)
	installPlugin(t, sys)
	cfg, extra := t.TempDir(), t.TempDir()
	env := []string{"DOCKER_CONFIG=" + cfg}
	writeConfig := func(s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(cfg, "config.json"), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig(`{"auths": {}, "cliPluginsExtraDirs": ["` + extra + `"]}`)
	inExtra := installPlugin(t, extra)
	if got := composePlugin(env); got != inExtra {
		t.Errorf("cliPluginsExtraDirs: %q, want %q first", got, inExtra)
	}
	writeConfig(`{"cliPluginsExtraDirs": ["relative/plugins"]}`)
	if got := composePlugin(env); got != "" {
		t.Errorf("a relative extra directory: %q, want \"\" (docker compose, which resolves it in its own directory)", got)
	}
	writeConfig("")
	if got := composePlugin(env); got != filepath.Join(sys, "docker-compose") {
		t.Errorf("an empty config.json: %q, want the system's", got)
	}
	writeConfig("{not json")
	if got := composePlugin(env); got != "" {
		t.Errorf("an invalid config.json: %q, want \"\" (the docker CLI decides)", got)
	}
	writeConfig(`{"cliPluginsExtraDirs": ["` + extra + `"]}`)
	if err := os.Chmod(inExtra, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := composePlugin(env); got != "" {
		t.Errorf("a first candidate that is not executable: %q, want \"\" (the docker CLI reports it)", got)
	}
	if err := os.Remove(inExtra); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(inExtra, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := composePlugin(env); got != "" {
		t.Errorf("a directory named docker-compose: %q, want \"\"", got)
	}
}

// Run uses the plugin when no command is configured, started standalone (no "compose" first: Compose
// v5 would read `docker compose compose`); a configured command always wins.
func TestComposeRunsThePluginUnlessACommandIsConfigured(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh to run the fake plugin")
	}
	fakeSystemDirs(t)
	home := t.TempDir()
	plugins := filepath.Join(home, ".docker", "cli-plugins")
	installPlugin(t, plugins)
	dir := t.TempDir()
	c := Compose{Dir: dir, Project: "p", Files: []string{"compose.yaml"}, Env: []string{"HOME=" + home, "PATH=/nonexistent"}}
	if _, err := c.Run(context.Background(), "config", "--hash", "app"); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(plugins, "args"))
	if err != nil {
		t.Fatal(err)
	}
	want := "--project-name=p\n--project-directory=" + dir + "\n--file=compose.yaml\nconfig\n--hash\napp\n"
	if string(got) != want {
		t.Errorf("plugin arguments:\n%s\nwant:\n%s", got, want)
	}

	out := filepath.Join(t.TempDir(), "configured")
	c.Command = []string{"/bin/sh", "-c", `printf '%s\n' "$@" > "$0"`, out}
	if _, err := c.Run(context.Background(), "config"); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(out); err != nil || !strings.HasSuffix(string(data), "config\n") {
		t.Errorf("the configured command did not run: %v %q", err, data)
	}
	if err := os.Remove(filepath.Join(plugins, "args")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run(context.Background(), "config"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(plugins, "args")); err == nil {
		t.Error("the plugin ran although a command is configured")
	}
}

// TestAProjectNamedComposeSurvivesThePluginsArgvRewrite: Compose v2 started standalone drops the first
// argument not starting with "-" when it is "compose" (cmd/compatibility.Convert). With "-p compose" that
// argument was the project's name, and every call of a project in a directory named compose failed.
func TestAProjectNamedComposeSurvivesThePluginsArgvRewrite(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh to run the fake plugin")
	}
	fakeSystemDirs(t)
	home := t.TempDir()
	plugins := filepath.Join(home, ".docker", "cli-plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	// v2's rewrite, then the subcommand is the first argument left that does not start with "-".
	script := `#!/bin/sh
dropped=false
for a in "$@"; do
  shift
  case "$a" in
    -*) set -- "$@" "$a" ;;
    compose) if $dropped; then set -- "$@" "$a"; else dropped=true; fi ;;
    *) dropped=true; set -- "$@" "$a" ;;
  esac
done
for a in "$@"; do case "$a" in -*) ;; *) printf '%s\n' "$a" > "${0%/*}/subcommand"; break ;; esac; done
`
	if err := os.WriteFile(filepath.Join(plugins, "docker-compose"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	c := Compose{Dir: filepath.Join(t.TempDir(), "compose"), Project: "compose", Env: []string{"HOME=" + home, "PATH=/nonexistent"}}
	if err := os.Mkdir(c.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run(context.Background(), "config", "--hash", "app"); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(plugins, "subcommand"))
	if err != nil || string(got) != "config\n" {
		t.Errorf("the plugin saw the subcommand %q (%v), want config", got, err)
	}
}
