// Package discover is the discovery of `rekey init`: it reads a Compose project (never changing it),
// finds the credentials in its .env and env_files and its compose secrets with file:, guesses their kind,
// finds the hidden dependencies a human must know about (shared variables, bootstrap-only passwords,
// literals in compose files, host files that hold a value…), and proposes a rekey.yaml, checked with the
// same code plan uses (config.Parse, engine.Build). Values stay in memory: the report holds none.
package discover

import "github.com/rekeyhq/rekey/config"

// ValuesFile is the values file `rekey init` writes.
const ValuesFile = "secrets.sops.yaml"

// Kinds of hidden dependency only `rekey init` reports (the others are shared with inventory).
const (
	HiddenBootstrap = "bootstrap-only"     // the server reads it once, at initialisation
	HiddenLiteral   = "literal-in-compose" // a credential written in plain text in a compose file
	HiddenDerived   = "derived-variable"   // an assignment built from another variable
	HiddenEmbedded  = "embedded-value"     // one candidate's value is part of another's
	HiddenDiverged  = "diverged-values"    // the files assigning a variable disagree
	HiddenInactive  = "inactive-profile"   // services of profiles COMPOSE_PROFILES does not activate
	HiddenWeak      = "weak-value"         // a value that is a common word: guessable, and left unredacted
)

// Secret is one secret `rekey init` proposes.
type Secret struct {
	Name      string `json:"name"`
	Type      string `json:"type"` // token or app-key: what rekey.yaml says
	Kind      string `json:"kind"` // what init guessed: postgres, mysql, redis, smtp, mongodb, app-key, token
	Bootstrap bool   `json:"bootstrap_only,omitempty"`
	// BootstrapReaders are the services that read the value only when they initialise (a database image)
	// or install themselves: the same services plan leaves unrolled (engine's bootstrap-only consumers).
	BootstrapReaders []string `json:"bootstrap_readers,omitempty"`
	// Rotation is the proposed rotation class (generated, issued, never) and RotationReason why.
	Rotation       string   `json:"rotation"`
	RotationReason string   `json:"rotation_reason"`
	Why            string   `json:"why"` // name, URL with a password, high-entropy value, compose secret
	Var            string   `json:"var,omitempty"`
	Previous       string   `json:"previous,omitempty"`
	File           string   `json:"file,omitempty"`
	Sources        []string `json:"sources"`
	Consumers      []string `json:"consumers"`
	HostFiles      []string `json:"host_files,omitempty"` // proposed host_file consumers
	// Server is the proposed credential server this secret is the password of (servers.go), and
	// ServerNote why a recognised database or Redis password has none.
	Server     string   `json:"server,omitempty"`
	ServerNote string   `json:"server_note,omitempty"`
	Derived    []string `json:"derived,omitempty"` // proposed derived locations (derived.go)

	value    string
	generate *config.Generate
	aliases  []string          // the names services read the value as (GITEA__security__SECRET_KEY for GITEA_SECRET_KEY)
	svcEnv   map[string]string // the environment of the services that read it (SMTP_HOST set in compose)
	comments []string
	hostKeys []HostRef
	server   *ServerProposal
	derived  []config.Derived
}

// Values are the proposed secrets' values, by secret name: the content of the values file.
func (r *Report) Values() map[string]string {
	values := map[string]string{}
	for _, s := range r.Secrets {
		values[s.Name] = s.value
	}
	return values
}

// Skip is a candidate left out, and why.
type Skip struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// Hidden is a hidden dependency: something a human must know before the first rotation.
type Hidden struct {
	Kind   string `json:"kind"`
	Secret string `json:"secret,omitempty"`
	Note   string `json:"note"`
}

// Report is the proposal and what init found on the way; the command fills Out, Files, Recipients,
// AgeKeyFile and NextSteps when it writes the repository.
type Report struct {
	Project    string `json:"project"`
	ProjectDir string `json:"project_dir"`
	// ComposeFiles are the compose files chosen with --file (written to rekey.yaml as compose.files).
	ComposeFiles []string  `json:"compose_files,omitempty"`
	Out          string    `json:"out"`
	Files        []string  `json:"files"`
	Recipients   []string  `json:"recipients"`
	AgeKeyFile   string    `json:"age_key_file,omitempty"`
	Secrets      []*Secret `json:"secrets"`
	Skipped      []Skip    `json:"skipped"`
	Hidden       []Hidden  `json:"hidden"`
	HostFiles    []HostRef `json:"host_files"`
	// Servers are the proposed credential servers, with what the login with the value found said.
	Servers   []*ServerProposal `json:"servers,omitempty"`
	ScanNotes []string          `json:"scan_notes,omitempty"`
	NextSteps []string          `json:"next_steps"`
}
