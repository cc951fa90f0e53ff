// Package config reads rekey.yaml, the plaintext half of the desired state: which stack, which secrets,
// where they live, who else consumes them, and how to verify a rotation.
package config

import (
	"fmt"
	"regexp"
	"sort"
	"time"
)

// Config is a parsed and validated rekey.yaml.
type Config struct {
	Version       int                `yaml:"version"`
	Compose       Compose            `yaml:"compose"`
	Values        string             `yaml:"values"`
	HealthTimeout Duration           `yaml:"health_timeout"`
	Secrets       map[string]*Secret `yaml:"secrets"`
	Verify        []Check            `yaml:"verify"`
	Drift         Drift              `yaml:"drift"`
	Alerts        Alerts             `yaml:"alerts"`
	Servers       map[string]*Server `yaml:"servers"`
	// AllowDestroy names secrets with rotation: never whose value this commit changes on purpose: without
	// it, plan and apply refuse such a change (it destroys the data the value protects).
	AllowDestroy []string `yaml:"allow_destroy"`
	// Services says how rekey rolls compose services (rollout.go).
	Services map[string]*Service `yaml:"services"`
	// Swarm, when it names a stack, selects the Swarm runtime (config/swarm.go).
	Swarm Swarm `yaml:"swarm"`

	// File is the name the config was read from, for messages.
	File string `yaml:"-"`
	// lines maps a dotted path (secrets.x.type) to its line in File.
	lines map[string]int
}

// Compose says which Compose project the secrets belong to.
type Compose struct {
	ProjectDir  string   `yaml:"project_dir"`
	ProjectName string   `yaml:"project_name"`
	Files       []string `yaml:"files"`
	Command     []string `yaml:"command"`
}

// Secret is one secret's declaration.
type Secret struct {
	Type string `yaml:"type"`
	Env  *Env   `yaml:"env"`
	File string `yaml:"file"`
	// FileOutsideProject declares that File, an absolute path, lies outside compose.project_dir on
	// purpose: without it such a file is refused (`file: ../x` written by mistake, or by someone
	// pointing rekey at a host file).
	FileOutsideProject bool       `yaml:"file_outside_project"`
	KeepPrevious       Duration   `yaml:"keep_previous"`
	Consumers          []Consumer `yaml:"consumers"`
	Verify             []Check    `yaml:"verify"`
	// RotateEvery makes the agent generate a new value when the current one is this old (0 = never).
	RotateEvery Duration  `yaml:"rotate_every"`
	Generate    *Generate `yaml:"generate"`
	// Heal overrides drift.heal for this secret.
	Heal *bool `yaml:"heal"`
	// Server names the credential server (under servers) whose login this secret is the password of.
	Server string `yaml:"server"`
	// LoginEnv is the variable holding the user name, for servers whose logins take turns.
	LoginEnv string `yaml:"login_env"`
	// Strategy is overlap (default) or swap: a maintenance window for a server credential without overlap.
	Strategy string `yaml:"strategy"`
	// Rotation says who makes this secret's values: generated (rekey may; the default), issued (made
	// elsewhere: set with `values set`, never rotated) or never (changing it destroys data it protects).
	Rotation string `yaml:"rotation"`
	// RotationReason says why, for the messages that refuse a rotation ("the OAuth client secret comes
	// from the identity provider").
	RotationReason string `yaml:"rotation_reason"`
	// Derived are places holding a form of the value rendered from a template (config/derived.go).
	Derived []Derived `yaml:"derived"`
}

// Rotation classes.
const (
	RotationGenerated = "generated"
	RotationIssued    = "issued"
	RotationNever     = "never"
)

// RotationClass is the secret's rotation class, generated when unset.
func (s *Secret) RotationClass() string {
	if s == nil || s.Rotation == "" {
		return RotationGenerated
	}
	return s.Rotation
}

// RefuseRotation explains why rekey must not make a new value for the secret, or returns "" when it may.
func (s *Secret) RefuseRotation(name string) string {
	why := ""
	if s.RotationReason != "" {
		why = " (" + s.RotationReason + ")"
	}
	switch s.RotationClass() {
	case RotationIssued:
		return fmt.Sprintf("secret %s is issued elsewhere%s: rekey does not make its values; get a new one where it is issued and store it with `rekey values set`", name, why)
	case RotationNever:
		return fmt.Sprintf("secret %s has rotation: never%s: a new value would destroy the data it protects", name, why)
	}
	return ""
}

// Drift is the policy for live values that differ from Git while Git did not change.
type Drift struct {
	// Heal re-applies Git's value through a normal rotation. Off by default: drift is reported and
	// left alone, since it may be an operator's emergency fix.
	Heal bool `yaml:"heal"`
}

// Alerts says where the agent sends alerts.
type Alerts struct {
	// URLs names entries of the values file that hold shoutrrr service URLs (they carry tokens, so they
	// live encrypted next to the other secrets).
	URLs []string `yaml:"urls"`
}

// Heals reports whether drift of secret name is healed.
func (c *Config) Heals(name string) bool {
	if s := c.Secrets[name]; s != nil && s.Heal != nil {
		return *s.Heal
	}
	return c.Drift.Heal
}

// Generate says how rekey makes a new value for a secret it rotates itself.
type Generate struct {
	Length  int    `yaml:"length"`  // random characters (default 32)
	Charset string `yaml:"charset"` // alnum (default), hex, base64url
	// Format wraps the random part: "sk_live_{value}" gives sk_live_ followed by it (default "{value}").
	Format string `yaml:"format"`
}

// Env names the variables that carry a secret. A token has one (Value); an app key has Current and
// Previous, the fallback the application still accepts during the rotation window.
type Env struct {
	Value    string `yaml:"value"`
	Current  string `yaml:"current"`
	Previous string `yaml:"previous"`
}

// Consumer is a consumer compose cannot show: a service that reads the secret some other way, or a file on
// the host (cron and backup scripts).
type Consumer struct {
	Service  string `yaml:"service"`
	HostFile string `yaml:"host_file"`
	Key      string `yaml:"key"`
	Verify   *Check `yaml:"verify"`
}

// Check is one verification; exactly one field is set.
type Check struct {
	HTTP *HTTPCheck `yaml:"http"`
	Exec *ExecCheck `yaml:"exec"`
	Logs *LogsCheck `yaml:"logs"`
	Cmd  []string   `yaml:"cmd"`
}

// HTTPCheck requests URL from rekey's side and expects Status.
type HTTPCheck struct {
	URL     string   `yaml:"url"`
	Status  int      `yaml:"status"`
	Timeout Duration `yaml:"timeout"`
}

// ExecCheck runs Cmd inside a container of Service; exit 0 passes.
type ExecCheck struct {
	Service string   `yaml:"service"`
	Cmd     []string `yaml:"cmd"`
}

// LogsCheck fails when a Deny pattern appears in the logs of Service (default: every consumer rolled in
// the transaction) since the transaction started.
type LogsCheck struct {
	Service string   `yaml:"service"`
	Deny    []string `yaml:"deny"`
}

// Duration is a time.Duration that also accepts days ("90d").
type Duration struct{ time.Duration }

// Types of secret.
const (
	TypeAppKey = "app-key"
	TypeToken  = "token"
)

var (
	secretName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)
	varName    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Line returns the line of a dotted path in the file, or 0.
func (c *Config) Line(path string) int { return c.lines[path] }

// Names returns the secret names, sorted.
func (c *Config) Names() []string {
	names := make([]string, 0, len(c.Secrets))
	for n := range c.Secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Vars returns the variables that carry a secret, current first.
func (s *Secret) Vars() (current, previous string) {
	if s.Env == nil {
		return "", ""
	}
	if s.Env.Value != "" {
		return s.Env.Value, ""
	}
	return s.Env.Current, s.Env.Previous
}
