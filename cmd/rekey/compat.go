package main

// Compatibility shims for the files that still live in package main and are being moved out by another
// change (history.go, inventory.go, runbook.go, init.go, initscan.go): they keep their old names for what
// now lives in package app. Delete each shim when its last user is gone.

import (
	"context"

	"filippo.io/age"

	"github.com/rekeyhq/rekey/app"
	"github.com/rekeyhq/rekey/composeio"
	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/gitsync"
	"github.com/rekeyhq/rekey/internal/fingerprint"
	"github.com/rekeyhq/rekey/internal/redact"
	"github.com/rekeyhq/rekey/reconcile"
	"github.com/rekeyhq/rekey/sopsio"
)

const configFile = app.ConfigFile

// session is app.Session under the field names the reports use.
type session struct {
	o       *options
	e       env
	repo    *gitsync.Repo
	commit  gitsync.Commit
	cfg     *config.Config
	project *composeio.Project
	fp      fingerprint.Key
	desired reconcile.Desired
	redact  *redact.Redactor
}

func load(ctx context.Context, o *options, e env) (*session, error) {
	s, err := app.Load(ctx, o.app(e))
	if err != nil {
		return nil, err
	}
	return &session{o: o, e: e, repo: s.Repo, commit: s.Commit, cfg: s.Config, project: s.Project, fp: s.FP,
		desired: s.Desired, redact: s.Redact}, nil
}

func identities(o *options, e env) ([]age.Identity, error) { return o.app(e).Identities() }

func (o *options) keyFile(e env) (string, error) { return o.app(e).KeyFile() }

func (o *options) trustedKeys() (gitsync.TrustedKeys, error) { return o.app(env{}).TrustedKeys() }

func marshalValues(values map[string]string, format sopsio.Format) ([]byte, error) {
	return sopsio.EncodeValues(values, format)
}

func short(hash string) string { return app.Short(hash) }

func firstLine(s string) string { return app.FirstLine(s) }
