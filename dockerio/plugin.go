package dockerio

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
)

// systemPluginDirs are where the Docker CLI looks for CLI plugins after the user's own directory, in
// its order (docker/cli, cli-plugins/manager, defaultSystemPluginDirs on Unix).
var systemPluginDirs = []string{
	"/usr/local/lib/docker/cli-plugins", "/usr/local/libexec/docker/cli-plugins",
	"/usr/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins",
}

// maxDockerConfig bounds the read of the Docker CLI's config.json (only cliPluginsExtraDirs is used).
const maxDockerConfig = 1 << 20

// defaultCommand is the Compose CLI when no command is configured: the Compose plugin binary that
// `docker compose` would run, run directly, else `docker compose`.
//
// `docker compose` starts the docker CLI, which starts the plugin twice (once for its metadata, once for
// the command): 30–40 ms a call, against about 10 ms for the plugin alone, and a start-first roll makes
// two calls. Compose v2 and later run standalone (`docker-compose -p P … up`, the documented standalone
// install) as under the docker CLI, with the same environment: DOCKER_HOST, DOCKER_CONFIG and the
// current context are read by the plugin itself. (Not `docker-compose compose …`, the docker CLI's own
// argv: Compose v5 started standalone reads that as `docker compose compose`.)
func defaultCommand(env []string) []string {
	if p := composePlugin(env); p != "" {
		return []string{p}
	}
	return []string{"docker", "compose"}
}

// composePlugin finds the plugin the docker CLI would run for `docker compose` with env as its
// environment: the first docker-compose in the configured extra directories (cliPluginsExtraDirs of
// config.json), the user's cli-plugins directory ($DOCKER_CONFIG, else $HOME/.docker) and the system
// directories. "" when the docker CLI is better asked: no plugin, a first candidate that is not an
// executable file (the docker CLI reports it), an unreadable config.json, or neither DOCKER_CONFIG nor
// HOME in env (the docker CLI would then use the account's home directory, which env does not say).
func composePlugin(env []string) string {
	configDir, ok := lookupEnv(env, "DOCKER_CONFIG")
	if !ok || configDir == "" {
		home, ok := lookupEnv(env, "HOME")
		if !ok || home == "" {
			return ""
		}
		configDir = filepath.Join(home, ".docker")
	}
	extra, err := pluginExtraDirs(filepath.Join(configDir, "config.json"))
	if err != nil {
		return ""
	}
	for _, d := range extra {
		if !filepath.IsAbs(d) { // the docker CLI resolves it against its working directory; ours differs
			return ""
		}
	}
	dirs := append(append(extra, filepath.Join(configDir, "cli-plugins")), systemPluginDirs...)
	for _, d := range dirs {
		p := filepath.Join(d, "docker-compose")
		if _, err := os.Stat(p); err != nil {
			continue // the docker CLI too goes on to the next directory
		}
		if !isExecutable(p) {
			return ""
		}
		return p
	}
	return ""
}

// pluginExtraDirs reads cliPluginsExtraDirs from the docker CLI's config.json; none when it has no
// config.json.
func pluginExtraDirs(path string) ([]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxDockerConfig+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxDockerConfig {
		return nil, errors.New("config.json too large")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	var cfg struct {
		Dirs []string `json:"cliPluginsExtraDirs"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, err
	}
	return cfg.Dirs, nil
}
