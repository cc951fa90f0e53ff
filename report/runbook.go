package report

import (
	"context"
	"slices"

	"filippo.io/age"
	"github.com/rekeyhq/rekey/composeio"
	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/gitsync"
	"github.com/rekeyhq/rekey/internal/fingerprint"
	"github.com/rekeyhq/rekey/internal/redact"
	"github.com/rekeyhq/rekey/reconcile"
)

// oldValueSearch is how many commits touching rekey.yaml or the values file the runbook reads back from a
// rotation's revision to find the value that rotation replaced.
const oldValueSearch = 100

// Runbook is everything the Markdown runbook says: the desired state, per secret its inventory row, and
// what the journal remembers. It is plain data, so the same inputs always print the same bytes.
type Runbook struct {
	Repo       string   // as shown to humans
	RepoDir    string   // where `git -C` finds it (the clone in the state dir for a URL)
	Commit     string   // the commit the desired state was read at
	Subject    string   // its first line
	Project    string   // the compose project
	ProjectDir string   // its directory
	Compose    []string // the compose command with -p, --project-directory and -f, for a human to type
	StateDir   string
	KeyFile    string
	RekeyFlags []string // the flags that point rekey at this repo, state dir and key
	Secrets    []RunbookSecret
}

// RunbookSecret is one secret of the runbook.
type RunbookSecret struct {
	Row       Row
	DesiredFP string
	Heal      bool
	Txns      []Txn    // its transactions, in the order they began
	Old       OldValue // where Git holds the value the last good rotation replaced
}

// OldValue is the commit holding a value, found by fingerprint.
type OldValue struct {
	Commit   string // "" when not found
	Values   string // the values file at that commit
	Searched int    // commits read
	Err      string // why the search stopped early
}

// RunbookInput is a loaded desired state, its inventory, the journal and what rekey was pointed at.
type RunbookInput struct {
	Inventory  Inventory
	Desired    reconcile.Desired
	Config     *config.Config
	Project    *composeio.Project
	Repo       *gitsync.Repo
	Commit     gitsync.Commit // the commit the desired state was read at
	Records    []reconcile.Record
	Identities []age.Identity
	FP         fingerprint.Key
	Ref        string // --ref as given ("" for the default)
	StateDir   string
	KeyFile    string // absolute: the runbook is read from anywhere, at 3 am
	Only       string // only this secret ("": every one)
}

// BuildRunbook gathers the runbook of a loaded desired state: the inventory, the journal, and for each
// secret the commit that holds the value its last good rotation replaced. The redactor knows every value
// decrypted from older commits on the way.
func BuildRunbook(ctx context.Context, in RunbookInput) (Runbook, *redact.Redactor, error) {
	h := &historian{repo: in.Repo, ids: in.Identities, fp: in.FP, states: map[string]*commitState{}}
	rb := runbookHeader(in)
	txns := groupTxns(in.Records)
	for i, row := range in.Inventory.Secrets {
		if in.Only != "" && row.Secret != in.Only {
			continue
		}
		rs := RunbookSecret{Row: row, DesiredFP: in.Desired.Secrets[i].DesiredFP, Heal: in.Config.Heals(row.Secret)}
		for _, t := range txns {
			if t.Secret == row.Secret {
				rs.Txns = append(rs.Txns, t)
			}
		}
		if good := lastGood(rs.Txns); good != nil && good.FromFP != "" {
			rs.Old = findValue(ctx, in, h, row.Secret, good.FromFP, good.Revision)
		}
		rb.Secrets = append(rb.Secrets, rs)
	}
	return rb, redact.New(h.values...), nil
}

func runbookHeader(in RunbookInput) Runbook {
	command := in.Config.Compose.Command
	if len(command) == 0 {
		command = []string{"docker", "compose"}
	}
	compose := append(slices.Clone(command), "-p", in.Project.Name(), "--project-directory", in.Project.Dir())
	for _, f := range in.Project.Files() {
		compose = append(compose, "-f", f)
	}
	flags := []string{"--repo", in.Repo.String()}
	if in.Ref != "" {
		flags = append(flags, "--ref", in.Ref)
	}
	flags = append(flags, "--state-dir", in.StateDir, "--age-key-file", in.KeyFile)
	return Runbook{Repo: in.Repo.String(), RepoDir: in.Repo.Dir(), Commit: in.Commit.Hash, Subject: gitsync.Subject(in.Commit.Message),
		Project: in.Project.Name(), ProjectDir: in.Project.Dir(), Compose: compose, StateDir: in.StateDir,
		KeyFile: in.KeyFile, RekeyFlags: flags}
}

// findValue finds the newest commit, from revision back, whose value of secret has fingerprint fp: that
// is where a human gets the value back from, since rekey keeps no plaintext once a transaction ended.
// Nothing here is fatal: a runbook without that commit still says where to look.
func findValue(ctx context.Context, in RunbookInput, h *historian, secret, fp, revision string) OldValue {
	var out OldValue
	commits, err := in.Repo.Log(revision, []string{config.FileName, in.Config.Values}, oldValueSearch)
	if err != nil {
		out.Err = err.Error()
		return out
	}
	for _, c := range commits {
		if err := ctx.Err(); err != nil {
			out.Err = err.Error()
			return out
		}
		out.Searched++
		if st := h.state(c.Hash); st.err != nil || st.fps[secret] != fp {
			continue
		}
		raw, err := in.Repo.ReadFile(c.Hash, config.FileName)
		if err != nil {
			out.Err = err.Error()
			return out
		}
		cfg, err := config.Parse(config.FileName, raw)
		if err != nil {
			out.Err = err.Error()
			return out
		}
		out.Commit, out.Values = c.Hash, cfg.Values
		return out
	}
	return out
}

// lastGood is the last transaction that ended with the new value verified everywhere and the old one gone.
func lastGood(txns []Txn) *Txn {
	for i := len(txns) - 1; i >= 0; i-- {
		if o := txns[i].Outcome; o == reconcile.OutcomeRotated || o == reconcile.OutcomeFinalized {
			return &txns[i]
		}
	}
	return nil
}
