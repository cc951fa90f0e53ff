package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/gitsync"
	"github.com/rekeyhq/rekey/internal/fingerprint"
	"github.com/rekeyhq/rekey/internal/redact"
	"github.com/rekeyhq/rekey/journal"
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

// defaultLimit is the default of --limit.
const defaultLimit = 50

// historyOut is the document `rekey history --output json` writes.
type historyOut struct {
	Repo     string          `json:"repo"`
	Head     string          `json:"head"`
	Paths    []string        `json:"paths"`
	Secret   string          `json:"secret,omitempty"`
	Commits  []historyCommit `json:"commits"`
	Complete bool            `json:"complete"` // false when --limit cut the history short
}

// historyCommit is one commit that touched rekey.yaml or the values file.
type historyCommit struct {
	Hash         string         `json:"hash"`
	Parent       string         `json:"parent,omitempty"`
	Author       string         `json:"author"`
	AuthorDate   time.Time      `json:"author_date"`
	Committer    string         `json:"committer"`
	Date         time.Time      `json:"date"`
	Subject      string         `json:"subject"`
	Signature    signatureInfo  `json:"signature"`
	Change       string         `json:"change"`
	Secrets      []secretChange `json:"secrets,omitempty"`
	Error        string         `json:"error,omitempty"`
	Transactions []historyTxn   `json:"transactions,omitempty"`
}

// signatureInfo says who signed a commit, as far as the trust flags allow to tell.
type signatureInfo struct {
	Status string `json:"status"` // unsigned, signed (not verified), verified, untrusted, bad
	Kind   string `json:"kind,omitempty"`
	KeyID  string `json:"key_id,omitempty"`
	Error  string `json:"error,omitempty"`
}

func (s signatureInfo) String() string {
	switch {
	case s.Status == signedVerified:
		return fmt.Sprintf("%s key %s (trusted)", s.Kind, s.KeyID)
	case s.Error != "":
		return s.Status + ": " + s.Error
	}
	return s.Status
}

// secretChange is what a commit did to one secret's value, by fingerprint.
type secretChange struct {
	Secret string `json:"secret"`
	Change string `json:"change"` // changed, unchanged, added, removed
	FromFP string `json:"from_fp,omitempty"`
	ToFP   string `json:"to_fp,omitempty"`
}

// historyTxn is one journaled transaction: when rekey applied a commit to one secret, and how it went.
type historyTxn struct {
	ID            string            `json:"id"`
	Secret        string            `json:"secret"`
	Revision      string            `json:"revision,omitempty"`
	FromFP        string            `json:"from_fp,omitempty"`
	ToFP          string            `json:"to_fp,omitempty"`
	Began         time.Time         `json:"began,omitzero"`
	Rolls         []historyRoll     `json:"rolls,omitempty"`
	Failures      []historyFailure  `json:"failures,omitempty"`
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

// historyRoll is one consumer rolled by a transaction.
type historyRoll struct {
	Consumer   string               `json:"consumer"`
	Action     reconcile.RollAction `json:"action"`
	Time       time.Time            `json:"time"`
	During     string               `json:"during"`               // rotation, finalize or rollback
	Containers []string             `json:"containers,omitempty"` // the containers running it afterwards
}

// historyFailure is one failed step of a transaction.
type historyFailure struct {
	Step   string    `json:"step"`
	Reason string    `json:"reason,omitempty"`
	Time   time.Time `json:"time"`
}

func cmdHistory(ctx context.Context, args []string, e env) error {
	var o options
	fs := newFlagSet("history", e.stderr, &o)
	limit := fs.Int("limit", defaultLimit, "show at most N commits (0: all)")
	pos, err := o.parseArgs(fs, args, 1)
	if err != nil {
		return err
	}
	var secret string
	if len(pos) == 1 {
		secret = pos[0]
	}
	if *limit < 0 {
		return usageError("--limit must be 0 (all) or more, got %d", *limit)
	}
	out, red, err := buildHistory(ctx, &o, e, secret, *limit)
	if err != nil {
		return err
	}
	if o.json() {
		return writeJSON(e.stdout, out)
	}
	var b bytes.Buffer
	printHistory(&b, out)
	_, err = io.WriteString(e.stdout, red.String(b.String()))
	return err
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
	raw, err := h.repo.ReadFile(hash, configFile)
	if errors.Is(err, gitsync.ErrNotFound) {
		return st
	}
	if err != nil {
		st.err = err
		return st
	}
	cfg, err := config.Parse(configFile, raw)
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

// buildHistory reads the commits, their changes and the journal. Values never leave it: only
// fingerprints, and errors go through the returned redactor, which knows every value it decrypted.
func buildHistory(ctx context.Context, o *options, e env, secret string, limit int) (historyOut, *redact.Redactor, error) {
	repo, err := gitsync.Open(ctx, o.repo, gitsync.WithCacheDir(filepath.Join(o.stateDir, "repos")))
	if err != nil {
		return historyOut{}, nil, err
	}
	head, err := repo.Resolve(o.ref)
	if err != nil {
		return historyOut{}, nil, err
	}
	raw, err := repo.ReadFile(head.Hash, configFile)
	if err != nil {
		return historyOut{}, nil, fmt.Errorf("failed to read %s from %s: %w", configFile, repo, err)
	}
	cfg, err := config.Parse(configFile, raw)
	if err != nil {
		return historyOut{}, nil, err
	}
	ids, err := identities(o, e)
	if err != nil {
		return historyOut{}, nil, err
	}
	var trust *gitsync.TrustedKeys
	if o.trustOpenPGP != "" || o.trustSSH != "" {
		t, err := o.trustedKeys()
		if err != nil {
			return historyOut{}, nil, err
		}
		trust = &t
	}
	fp, err := fingerprint.LoadOrCreateKey(o.stateDir)
	if err != nil {
		return historyOut{}, nil, err
	}
	j, err := journal.Open(o.stateDir)
	if err != nil {
		return historyOut{}, nil, err
	}
	recs, err := j.All()
	j.Close()
	if err != nil {
		return historyOut{}, nil, err
	}
	txns := groupTxns(recs)

	paths := []string{configFile, cfg.Values}
	logLimit := limit + 1 // one more than shown: to tell whether older commits were left out
	if secret != "" || limit == 0 {
		logLimit = 0 // commits that do not touch the secret are skipped: read until enough are shown
	}
	commits, err := repo.Log(head.Hash, paths, logLimit)
	if err != nil {
		return historyOut{}, nil, err
	}
	h := &historian{repo: repo, ids: ids, fp: fp, states: map[string]*commitState{}}
	out := historyOut{Repo: repo.String(), Head: head.Hash, Paths: paths, Secret: secret, Complete: true}
	listed := make([]string, len(commits))
	for i, c := range commits {
		listed[i] = c.Hash
	}
	byCommit, err := attachTxns(txns, listed, secret, repo.IsAncestor)
	if err != nil {
		return historyOut{}, nil, err
	}
	for _, c := range commits {
		if err := ctx.Err(); err != nil {
			return historyOut{}, nil, err
		}
		if limit > 0 && len(out.Commits) == limit {
			out.Complete = false
			break
		}
		hc, err := h.commit(c, trust)
		if err != nil {
			return historyOut{}, nil, err
		}
		hc.Transactions = byCommit[c.Hash]
		if secret != "" && !concerns(hc, secret) {
			continue
		}
		if secret != "" {
			hc.Secrets = slices.DeleteFunc(hc.Secrets, func(sc secretChange) bool { return sc.Secret != secret })
		}
		out.Commits = append(out.Commits, hc)
	}
	red := redact.New(h.values...)
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
	return out, red, nil
}

// commit describes one commit: who, signed by whom, and what it changed per secret.
func (h *historian) commit(c gitsync.Commit, trust *gitsync.TrustedKeys) (historyCommit, error) {
	hc := historyCommit{
		Hash:       c.Hash,
		Author:     person(c.Author),
		AuthorDate: c.Author.When,
		Committer:  person(c.Committer),
		Date:       c.Committer.When,
		Subject:    firstLine(c.Message),
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
			hc.Change, hc.Error = commitUnknown, fmt.Sprintf("cannot compare with parent %s: %v", short(parent), before.err)
			return hc, nil
		}
	}
	hc.Secrets, hc.Change = diffCommit(before.fps, cur.fps, parent == "", !bytes.Equal(before.values, cur.values))
	return hc, nil
}

// signature names who signed the commit: the trusted key when trust flags were given, otherwise only
// whether there is a signature.
func (h *historian) signature(hash string, trust *gitsync.TrustedKeys) (signatureInfo, error) {
	if trust == nil {
		signed, err := h.repo.Signed(hash)
		if err != nil {
			return signatureInfo{}, err
		}
		if signed {
			return signatureInfo{Status: signedUnknown}, nil
		}
		return signatureInfo{Status: signedNone}, nil
	}
	s, err := h.repo.VerifyCommit(hash, *trust)
	switch {
	case err == nil:
		return signatureInfo{Status: signedVerified, Kind: s.Kind, KeyID: s.KeyID}, nil
	case errors.Is(err, gitsync.ErrUnsigned):
		return signatureInfo{Status: signedNone}, nil
	case errors.Is(err, gitsync.ErrUntrusted):
		return signatureInfo{Status: "untrusted", Error: err.Error()}, nil
	case errors.Is(err, gitsync.ErrBadSignature):
		return signatureInfo{Status: "bad", Error: err.Error()}, nil
	}
	return signatureInfo{}, err
}

func person(s gitsync.Signature) string {
	if s.Email == "" {
		return s.Name
	}
	return fmt.Sprintf("%s <%s>", s.Name, s.Email)
}

// concerns reports whether a commit belongs in the history of one secret: its value changed, the
// commit could not be read, or a transaction of the secret applied it.
func concerns(c historyCommit, secret string) bool {
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
func diffCommit(before, after map[string]string, root, valuesChanged bool) ([]secretChange, string) {
	names := map[string]bool{}
	for n := range before {
		names[n] = true
	}
	for n := range after {
		names[n] = true
	}
	out := make([]secretChange, 0, len(names))
	changed := false
	for n := range names {
		from, had := before[n]
		to, has := after[n]
		sc := secretChange{Secret: n, FromFP: from, ToFP: to}
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

// groupTxns folds journal records (oldest first) into transactions, in the order they began.
func groupTxns(recs []reconcile.Record) []historyTxn {
	var out []historyTxn
	index := map[string]int{}
	during := map[string]string{}
	pendingOf := map[string]int{} // old value fingerprint → the transaction that left it pending
	for _, r := range recs {
		if r.Type == reconcile.RecordRevokedSeen { // written by a later probe, outside any transaction
			if i, ok := pendingOf[r.Secret+"/"+r.FromFP]; ok {
				out[i].RevokedSeen = r.Time
			}
			continue
		}
		i, ok := index[r.Txn]
		if !ok {
			i = len(out)
			index[r.Txn] = i
			out = append(out, historyTxn{ID: r.Txn, Secret: r.Secret, Revision: r.Revision})
			during[r.Txn] = rollRotation
		}
		t := &out[i]
		switch r.Type {
		case reconcile.RecordBegin:
			// Later records may carry the revision of a later run (a finalize): the begin one is the
			// commit the transaction applied.
			t.Revision, t.FromFP, t.ToFP, t.Began = r.Revision, r.FromFP, r.ToFP, r.Time
			t.OpenPhase = reconcile.PhaseStarted.String()
		case reconcile.RecordPhase:
			t.OpenPhase = r.Phase.String()
			switch r.Phase {
			case reconcile.PhaseVerified:
				if t.Verified.IsZero() {
					t.Verified = r.Time
				}
				if !r.FinalizeAfter.IsZero() {
					t.FinalizeAfter = r.FinalizeAfter
				}
			case reconcile.PhaseFinalizing:
				t.Finalizing = r.Time // the last attempt is the one that counts
				during[r.Txn] = rollFinalize
			}
		case reconcile.RecordIntent:
			if r.Step == string(reconcile.StepRestore) {
				during[r.Txn] = rollRollback // a recovery after a crash, or a rollback
			}
			if r.Consumer != "" {
				t.Rolls = append(t.Rolls, historyRoll{Consumer: r.Consumer, Action: r.Roll, Time: r.Time, During: during[r.Txn]})
			}
		case reconcile.RecordDone:
			if n := len(t.Rolls); n > 0 && len(r.Containers) > 0 && strings.HasSuffix(r.Step, " "+t.Rolls[n-1].Consumer) {
				t.Rolls[n-1].Containers = r.Containers
			}
		case reconcile.RecordFailed:
			t.Failures = append(t.Failures, historyFailure{Step: r.Step, Reason: r.Reason, Time: r.Time})
			during[r.Txn] = rollRollback
		case reconcile.RecordEnd:
			t.Ended, t.Outcome, t.Reason, t.OpenPhase = r.Time, r.Outcome, r.Reason, ""
		case reconcile.RecordPending:
			t.PendingSince = r.Time
			pendingOf[r.Secret+"/"+r.FromFP] = i
		}
	}
	return out
}

// attachTxns assigns each transaction (of secret, when given) to the listed commit it applied: the commit
// of its revision, or else the newest listed commit that is an ancestor of it (the revision then only
// touched other files). Transactions of commits outside the list are left out.
func attachTxns(txns []historyTxn, listed []string, secret string, isAncestor func(a, d string) (bool, error)) (map[string][]historyTxn, error) {
	out := map[string][]historyTxn{}
	inList := map[string]bool{}
	for _, h := range listed {
		inList[h] = true
	}
	found := map[string]string{} // revision -> listed commit ("" when none)
	for _, t := range txns {
		if secret != "" && t.Secret != secret || t.Revision == "" {
			continue
		}
		commit, ok := found[t.Revision]
		if !ok {
			if inList[t.Revision] {
				commit = t.Revision
			} else {
				for _, h := range listed { // newest first
					yes, err := isAncestor(h, t.Revision)
					if errors.Is(err, gitsync.ErrNotFound) {
						break // a revision this repository does not have (rewritten history)
					}
					if err != nil {
						return nil, err
					}
					if yes {
						commit = h
						break
					}
				}
			}
			found[t.Revision] = commit
		}
		if commit != "" {
			out[commit] = append(out[commit], t)
		}
	}
	return out, nil
}

// printHistory writes one block per commit, newest first.
func printHistory(w io.Writer, h historyOut) {
	what := "secrets"
	if h.Secret != "" {
		what = "secret " + h.Secret
	}
	fmt.Fprintf(w, "history of %s in %s at %s (commits touching %s)\n", what, h.Repo, short(h.Head), strings.Join(h.Paths, ", "))
	if len(h.Commits) == 0 {
		fmt.Fprintln(w, "\nno commits")
	}
	for _, c := range h.Commits {
		fmt.Fprintf(w, "\ncommit %s  %s\n", short(c.Hash), changeLabel(c.Change))
		fmt.Fprintf(w, "  author:    %s  %s\n", c.Author, c.AuthorDate.Format(time.RFC3339))
		if c.Committer != c.Author || !c.Date.Equal(c.AuthorDate) {
			fmt.Fprintf(w, "  committer: %s  %s\n", c.Committer, c.Date.Format(time.RFC3339))
		}
		fmt.Fprintf(w, "  signature: %s\n", c.Signature)
		fmt.Fprintf(w, "  message:   %s\n", c.Subject)
		if c.Error != "" {
			fmt.Fprintf(w, "  error:     %s\n", c.Error)
		}
		for _, sc := range c.Secrets {
			line := fmt.Sprintf("  %-16s %-9s", sc.Secret, sc.Change)
			switch sc.Change {
			case secretChanged:
				line += fmt.Sprintf(" %s → %s", sc.FromFP, sc.ToFP)
			case secretRemoved:
				line += " " + sc.FromFP
			default:
				line += " " + sc.ToFP
			}
			fmt.Fprintln(w, line)
		}
		if len(c.Transactions) == 0 && c.Change != commitEnvelope && c.Change != commitConfig {
			fmt.Fprintln(w, "  not applied by rekey (no journal record of this commit in this state dir)")
		}
		for _, t := range c.Transactions {
			printTxn(w, c.Hash, t)
		}
	}
	if !h.Complete {
		fmt.Fprintf(w, "\n(stopped after %d commits: older ones may exist, raise --limit)\n", len(h.Commits))
	}
}

func changeLabel(change string) string {
	switch change {
	case commitInitial:
		return "initial: secrets added"
	case commitSecrets:
		return "secrets changed"
	case commitEnvelope:
		return "envelope-only: values file re-encrypted, no value changed (no restarts)"
	case commitConfig:
		return "config-only: no value changed"
	}
	return "could not be read"
}

func printTxn(w io.Writer, commit string, t historyTxn) {
	const ts = time.RFC3339
	line := fmt.Sprintf("  applied %s to %s", t.ID, t.Secret)
	if t.FromFP != "" || t.ToFP != "" {
		line += fmt.Sprintf(" (%s → %s)", orNone(t.FromFP), orNone(t.ToFP))
	}
	if !t.Began.IsZero() {
		line += " at " + t.Began.Format(ts)
	}
	if t.Revision != commit {
		line += " from revision " + short(t.Revision)
	}
	fmt.Fprintln(w, line)
	// The steps in the order they happened: a rollback's rolls come after the failure that caused it.
	type event struct {
		at   time.Time
		text string
	}
	var events []event
	for _, r := range t.Rolls {
		text := fmt.Sprintf("%s %s (%s)", r.Action, r.Consumer, r.During)
		if len(r.Containers) > 0 {
			text += " → container " + strings.Join(r.Containers, ", ")
		}
		events = append(events, event{r.Time, text})
	}
	for _, f := range t.Failures {
		events = append(events, event{f.Time, "failed: " + orNone(f.Reason)})
	}
	if !t.Verified.IsZero() {
		text := "verified by every consumer"
		if !t.FinalizeAfter.IsZero() {
			text += ", previous value kept until " + t.FinalizeAfter.Format(ts)
		}
		events = append(events, event{t.Verified, text})
	}
	if !t.Finalizing.IsZero() {
		events = append(events, event{t.Finalizing, "finalize: dropping the old value"})
	}
	if !t.PendingSince.IsZero() {
		events = append(events, event{t.PendingSince, "pending revocation: the old value must be revoked at the provider"})
	}
	if !t.RevokedSeen.IsZero() {
		events = append(events, event{t.RevokedSeen, "revocation seen: the old value no longer logs in"})
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].at.Before(events[j].at) })
	for _, ev := range events {
		fmt.Fprintf(w, "    %s  %s\n", ev.at.Format(ts), ev.text)
	}
	switch {
	case t.Outcome != "":
		line := fmt.Sprintf("    %s  outcome: %s", t.Ended.Format(ts), t.Outcome)
		if t.Reason != "" {
			line += ": " + t.Reason
		}
		fmt.Fprintln(w, line)
	case t.OpenPhase != "":
		fmt.Fprintf(w, "    still open: %s\n", t.OpenPhase)
	}
}
