package report

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"filippo.io/age"
	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/gitsync"
	"github.com/rekeyhq/rekey/internal/fingerprint"
	"github.com/rekeyhq/rekey/internal/redact"
	"github.com/rekeyhq/rekey/reconcile"
	"github.com/rekeyhq/rekey/sopsio"
)

// What a commit changed, as a whole.
const (
	commitInitial  = "initial"       // a root commit: every secret it declares is added
	commitSecrets  = "secrets"       // at least one secret was added, changed or removed
	commitEnvelope = "envelope-only" // the values file changed, no value did (re-encryption, new recipients)
	commitConfig   = "config-only"   // only rekey.yaml changed, no value did
	commitUnknown  = "unknown"       // a side could not be read or decrypted
	rollRotation   = "rotation"      // a roll while staging the new value
	rollFinalize   = "finalize"      // a roll while dropping the previous value
	rollRollback   = "rollback"      // a roll while putting the old value back
	secretChanged  = "changed"       // per secret: another fingerprint
	secretSame     = "unchanged"     // per secret: same fingerprint
	secretAdded    = "added"         // per secret: no value before
	secretRemoved  = "removed"       // per secret: no value after
	signedUnknown  = "signed (not verified)"
	signedNone     = "unsigned"
	signedVerified = "verified"
)

// DefaultLimit is the default of --limit.
const DefaultLimit = 50

// History is the document `rekey history --output json` writes.
type History struct {
	Repo     string   `json:"repo"`
	Head     string   `json:"head"`
	Paths    []string `json:"paths"`
	Secret   string   `json:"secret,omitempty"`
	Commits  []Commit `json:"commits"`
	Complete bool     `json:"complete"` // false when --limit cut the history short
}

// Commit is one commit that touched rekey.yaml or the values file.
type Commit struct {
	Hash         string         `json:"hash"`
	Parent       string         `json:"parent,omitempty"`
	Author       string         `json:"author"`
	AuthorDate   time.Time      `json:"author_date"`
	Committer    string         `json:"committer"`
	Date         time.Time      `json:"date"`
	Subject      string         `json:"subject"`
	Signature    SignatureInfo  `json:"signature"`
	Change       string         `json:"change"`
	Secrets      []SecretChange `json:"secrets,omitempty"`
	Error        string         `json:"error,omitempty"`
	Transactions []Txn          `json:"transactions,omitempty"`
}

// SignatureInfo says who signed a commit, as far as the trust flags allow to tell.
type SignatureInfo struct {
	Status string `json:"status"` // unsigned, signed (not verified), verified, untrusted, bad
	Kind   string `json:"kind,omitempty"`
	KeyID  string `json:"key_id,omitempty"`
	Error  string `json:"error,omitempty"`
}

func (s SignatureInfo) String() string {
	switch {
	case s.Status == signedVerified:
		return fmt.Sprintf("%s key %s (trusted)", s.Kind, s.KeyID)
	case s.Error != "":
		return s.Status + ": " + s.Error
	}
	return s.Status
}

// SecretChange is what a commit did to one secret's value, by fingerprint.
type SecretChange struct {
	Secret string `json:"secret"`
	Change string `json:"change"` // changed, unchanged, added, removed
	FromFP string `json:"from_fp,omitempty"`
	ToFP   string `json:"to_fp,omitempty"`
}

// Txn is one journaled transaction: when rekey applied a commit to one secret, and how it went.
type Txn struct {
	ID            string            `json:"id"`
	Secret        string            `json:"secret"`
	Revision      string            `json:"revision,omitempty"`
	FromFP        string            `json:"from_fp,omitempty"`
	ToFP          string            `json:"to_fp,omitempty"`
	Began         time.Time         `json:"began,omitzero"`
	Rolls         []Roll            `json:"rolls,omitempty"`
	Failures      []Failure         `json:"failures,omitempty"`
	Verified      time.Time         `json:"verified,omitzero"`
	FinalizeAfter time.Time         `json:"finalize_after,omitzero"`
	Finalizing    time.Time         `json:"finalizing,omitzero"` // the previous value started being dropped
	Ended         time.Time         `json:"ended,omitzero"`
	Outcome       reconcile.Outcome `json:"outcome,omitempty"`
	Reason        string            `json:"reason,omitempty"`
	OpenPhase     string            `json:"open_phase,omitempty"` // the phase of an unfinished transaction
	// PendingSince: the old value had to be revoked by hand at the provider; RevokedSeen: when rekey saw
	// it stop logging in.
	PendingSince time.Time `json:"pending_revocation_since,omitzero"`
	RevokedSeen  time.Time `json:"revocation_seen,omitzero"`
}

// Roll is one consumer rolled by a transaction.
type Roll struct {
	Consumer   string               `json:"consumer"`
	Action     reconcile.RollAction `json:"action"`
	Time       time.Time            `json:"time"`
	During     string               `json:"during"`               // rotation, finalize or rollback
	Containers []string             `json:"containers,omitempty"` // the containers running it afterwards
}

// Failure is one failed step of a transaction.
type Failure struct {
	Step   string    `json:"step"`
	Reason string    `json:"reason,omitempty"`
	Time   time.Time `json:"time"`
}

// HistoryInput is what BuildHistory reads: the repository from one commit back, the keys to decrypt each
// commit's values with, the key that fingerprints them, and the journal.
type HistoryInput struct {
	Repo       *gitsync.Repo
	Head       string         // the commit to list back from
	Config     *config.Config // rekey.yaml at Head: names the values file whose commits are listed
	Identities []age.Identity
	Trust      *gitsync.TrustedKeys // nil: signatures are only seen, not verified
	FP         fingerprint.Key
	Records    []reconcile.Record // the journal, oldest first
	Secret     string             // only the history of this secret ("": every secret)
	Limit      int                // at most this many commits (0: all)
}

// BuildHistory reads the commits, their changes and the journal. Values never leave it: only
// fingerprints, and errors go through the returned redactor, which knows every value it decrypted.
func BuildHistory(ctx context.Context, in HistoryInput) (History, *redact.Redactor, error) {
	paths := []string{config.FileName, in.Config.Values}
	logLimit := in.Limit + 1 // one more than shown: to tell whether older commits were left out
	if in.Secret != "" || in.Limit == 0 {
		logLimit = 0 // commits that do not touch the secret are skipped: read until enough are shown
	}
	commits, err := in.Repo.Log(in.Head, paths, logLimit)
	if err != nil {
		return History{}, nil, err
	}
	listed := make([]string, len(commits))
	for i, c := range commits {
		listed[i] = c.Hash
	}
	byCommit, err := attachTxns(groupTxns(in.Records), listed, in.Secret, historyAncestry(in.Repo, paths, commits, logLimit))
	if err != nil {
		return History{}, nil, err
	}
	h := &historian{repo: in.Repo, ids: in.Identities, fp: in.FP, states: map[string]*commitState{}}
	out := History{Repo: in.Repo.String(), Head: in.Head, Paths: paths, Secret: in.Secret, Complete: true}
	if err := h.describe(ctx, &out, commits, byCommit, in); err != nil {
		return History{}, nil, err
	}
	red := redact.New(h.values...)
	redactHistory(&out, red)
	return out, red, nil
}

// historyAncestry places journal revisions among the listed commits with one short walk each: with
// --limit, most revisions are older than every listed commit, and asking each listed commit whether it
// is their ancestor walked their whole history once per listed commit (the default --limit was slower
// than --limit 0).
func historyAncestry(repo *gitsync.Repo, paths []string, commits []gitsync.Commit, logLimit int) ancestry {
	a := ancestry{isAncestor: repo.IsAncestor, lastTouch: func(rev string) (string, time.Time, error) {
		cs, err := repo.Log(rev, paths, 1)
		if err != nil || len(cs) == 0 {
			return "", time.Time{}, err
		}
		return cs[0].Hash, cs[0].Committer.When, nil
	}}
	if logLimit > 0 && len(commits) == logLimit {
		a.cut = commits[len(commits)-1].Committer.When
	}
	return a
}

// describe adds to out the commits that concern the secret (every one without a secret), up to the limit.
func (h *historian) describe(ctx context.Context, out *History, commits []gitsync.Commit, byCommit map[string][]Txn, in HistoryInput) error {
	for _, c := range commits {
		if err := ctx.Err(); err != nil {
			return err
		}
		if in.Limit > 0 && len(out.Commits) == in.Limit {
			out.Complete = false
			return nil
		}
		hc, err := h.commit(c, in.Trust)
		if err != nil {
			return err
		}
		hc.Transactions = byCommit[c.Hash]
		if in.Secret != "" && !concerns(hc, in.Secret) {
			continue
		}
		if in.Secret != "" {
			hc.Secrets = slices.DeleteFunc(hc.Secrets, func(sc SecretChange) bool { return sc.Secret != in.Secret })
		}
		out.Commits = append(out.Commits, hc)
	}
	return nil
}

// redactHistory passes every free text of the history (commit subjects, errors, failure reasons) through
// the redactor: a commit message or an error may quote a value.
func redactHistory(out *History, red *redact.Redactor) {
	for i := range out.Commits {
		c := &out.Commits[i]
		c.Subject, c.Error, c.Signature.Error = red.String(c.Subject), red.String(c.Error), red.String(c.Signature.Error)
		for k := range c.Transactions {
			t := &c.Transactions[k]
			t.Reason = red.String(t.Reason)
			for f := range t.Failures {
				t.Failures[f].Reason = red.String(t.Failures[f].Reason)
			}
		}
	}
}

// historian reads the desired state at any commit and remembers what it read.
type historian struct {
	repo   *gitsync.Repo
	ids    []age.Identity
	fp     fingerprint.Key
	states map[string]*commitState
	values []string // every value decrypted, for the redactor
}

// commitState is the desired state at one commit, by fingerprint.
type commitState struct {
	fps    map[string]string // declared secret -> fingerprint of its value
	values []byte            // the values file as committed; nil when absent
	err    error
}

func (h *historian) state(hash string) *commitState {
	if st, ok := h.states[hash]; ok {
		return st
	}
	st := h.read(hash)
	h.states[hash] = st
	return st
}

// read decrypts the values file at a commit. A commit without rekey.yaml or without a values file
// declares no values; one that cannot be read or decrypted keeps the error.
func (h *historian) read(hash string) *commitState {
	st := &commitState{fps: map[string]string{}}
	raw, err := h.repo.ReadFile(hash, config.FileName)
	if errors.Is(err, gitsync.ErrNotFound) {
		return st
	}
	if err != nil {
		st.err = err
		return st
	}
	cfg, err := config.Parse(config.FileName, raw)
	if err != nil {
		st.err = err
		return st
	}
	data, err := h.repo.ReadFile(hash, cfg.Values)
	if errors.Is(err, gitsync.ErrNotFound) {
		return st
	}
	if err != nil {
		st.err = err
		return st
	}
	st.values = data
	values, err := sopsio.DecryptValues(data, cfg.Values, h.ids)
	if err != nil {
		st.err = err
		return st
	}
	for _, v := range values {
		h.values = append(h.values, v)
	}
	for _, name := range cfg.Names() {
		if v, ok := values[name]; ok {
			st.fps[name] = h.fp.Of(v)
		}
	}
	return st
}

// parent returns a parent of the commit ("" for a root commit): the only one, or for a merge the one
// with the newest committer time. Log lists a merge only when it differs from every parent.
func (h *historian) parent(hash string) (string, error) {
	cs, err := h.repo.Log(hash, nil, 2)
	if err != nil {
		return "", err
	}
	if len(cs) < 2 {
		return "", nil
	}
	return cs[1].Hash, nil
}

// commit describes one commit: who, signed by whom, and what it changed per secret.
func (h *historian) commit(c gitsync.Commit, trust *gitsync.TrustedKeys) (Commit, error) {
	hc := Commit{
		Hash:       c.Hash,
		Author:     person(c.Author),
		AuthorDate: c.Author.When,
		Committer:  person(c.Committer),
		Date:       c.Committer.When,
		Subject:    gitsync.Subject(c.Message),
	}
	sig, err := h.signature(c.Hash, trust)
	if err != nil {
		return hc, err
	}
	hc.Signature = sig
	parent, err := h.parent(c.Hash)
	if err != nil {
		return hc, err
	}
	hc.Parent = parent
	cur := h.state(c.Hash)
	if cur.err != nil {
		hc.Change, hc.Error = commitUnknown, cur.err.Error()
		return hc, nil
	}
	before := &commitState{fps: map[string]string{}}
	if parent != "" {
		before = h.state(parent)
		if before.err != nil {
			hc.Change, hc.Error = commitUnknown, fmt.Sprintf("cannot compare with parent %s: %v", gitsync.Short(parent), before.err)
			return hc, nil
		}
	}
	hc.Secrets, hc.Change = diffCommit(before.fps, cur.fps, parent == "", !bytes.Equal(before.values, cur.values))
	return hc, nil
}

// signature names who signed the commit: the trusted key when trust flags were given, otherwise only
// whether there is a signature.
func (h *historian) signature(hash string, trust *gitsync.TrustedKeys) (SignatureInfo, error) {
	if trust == nil {
		signed, err := h.repo.Signed(hash)
		if err != nil {
			return SignatureInfo{}, err
		}
		if signed {
			return SignatureInfo{Status: signedUnknown}, nil
		}
		return SignatureInfo{Status: signedNone}, nil
	}
	s, err := h.repo.VerifyCommit(hash, *trust)
	switch {
	case err == nil:
		return SignatureInfo{Status: signedVerified, Kind: s.Kind, KeyID: s.KeyID}, nil
	case errors.Is(err, gitsync.ErrUnsigned):
		return SignatureInfo{Status: signedNone}, nil
	case errors.Is(err, gitsync.ErrUntrusted):
		return SignatureInfo{Status: "untrusted", Error: err.Error()}, nil
	case errors.Is(err, gitsync.ErrBadSignature):
		return SignatureInfo{Status: "bad", Error: err.Error()}, nil
	}
	return SignatureInfo{}, err
}

func person(s gitsync.Signature) string {
	if s.Email == "" {
		return s.Name
	}
	return fmt.Sprintf("%s <%s>", s.Name, s.Email)
}

// concerns reports whether a commit belongs in the history of one secret: its value changed, the
// commit could not be read, or a transaction of the secret applied it.
func concerns(c Commit, secret string) bool {
	if c.Error != "" || len(c.Transactions) > 0 {
		return true
	}
	for _, sc := range c.Secrets {
		if sc.Secret == secret && sc.Change != secretSame {
			return true
		}
	}
	return false
}

// diffCommit compares the fingerprints of every declared secret before and after a commit, sorted by
// secret, and says what the commit changed as a whole: a values file that changed while no value did is
// an envelope-only change (re-encryption, new recipients), which rolls nothing.
func diffCommit(before, after map[string]string, root, valuesChanged bool) ([]SecretChange, string) {
	names := map[string]bool{}
	for n := range before {
		names[n] = true
	}
	for n := range after {
		names[n] = true
	}
	out := make([]SecretChange, 0, len(names))
	changed := false
	for n := range names {
		from, had := before[n]
		to, has := after[n]
		sc := SecretChange{Secret: n, FromFP: from, ToFP: to}
		switch {
		case !had:
			sc.Change = secretAdded
		case !has:
			sc.Change = secretRemoved
		case from != to:
			sc.Change = secretChanged
		default:
			sc.Change = secretSame
			sc.FromFP = ""
		}
		changed = changed || sc.Change != secretSame
		out = append(out, sc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Secret < out[j].Secret })
	switch {
	case root:
		return out, commitInitial
	case changed:
		return out, commitSecrets
	case valuesChanged:
		return out, commitEnvelope
	}
	return out, commitConfig
}
