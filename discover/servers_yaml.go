package discover

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/rekeyhq/rekey/composeio"
	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/engine"
)

// declareServer names the secret's proposed server in its declaration.
func (s *Secret) declareServer(d *config.Secret) {
	if s.server == nil {
		return
	}
	d.Server, d.LoginEnv, d.Strategy = s.server.Name, s.server.LoginEnv, s.server.strategy
}

// addServers declares the proposed servers, each with comments saying what was guessed.
func addServers(prop *config.Proposal, secrets []*Secret) {
	for _, s := range secrets {
		sp := s.server
		if sp == nil {
			continue
		}
		if prop.Config.Servers == nil {
			prop.Config.Servers = map[string]*config.Server{}
			prop.ServerComments = map[string][]string{}
			prop.ServersComment = []string{"Credential servers: rekey runs their client inside the service's container, over the local socket.",
				"Proposed by `rekey init` for the database and Redis passwords it recognised: check user and admin."}
		}
		spec := *sp.spec
		prop.Config.Servers[sp.Name] = &spec
		lines := []string{fmt.Sprintf("the server of %s: %s", s.Name, sp.Mode), "admin: " + sp.Admin}
		if sp.Adopt {
			lines = append(lines, fmt.Sprintf("BEFORE THE FIRST ROTATION: rekey adopt %s (moves the consumers to %s_a without downtime, same password).", s.Name, sp.User))
		}
		if sp.LoginCheck != "" {
			lines = append(lines, "login with the value found: "+sp.LoginCheck)
		}
		prop.ServerComments[sp.Name] = lines
	}
}

// checkServers holds the proposal with its servers to what plan accepts (config.Parse, engine.Build).
// A server that makes it fail is dropped, with the reason on its secret: the rest of the proposal stands.
func checkServers(ctx context.Context, p *composeio.Project, secrets []*Secret, rep *Report) error {
	if len(rep.Servers) == 0 {
		return nil
	}
	if buildProposal(ctx, p, secrets, rep) == nil {
		return nil
	}
	for _, sp := range slices.Clone(rep.Servers) {
		s := secretNamed(secrets, sp.Secret)
		alone := []*Secret{s}
		if err := buildProposal(ctx, p, alone, rep); err != nil {
			s.server, s.Server = nil, ""
			s.ServerNote = "the server init guessed is refused by plan: " + lineRef.ReplaceAllString(err.Error(), "")
			s.comments = append(s.comments, "no server proposed: "+s.ServerNote)
			rep.Servers = slices.DeleteFunc(rep.Servers, func(x *ServerProposal) bool { return x == sp })
		}
	}
	if err := buildProposal(ctx, p, secrets, rep); err != nil {
		return fmt.Errorf("rekey init proposed servers the engine refuses (a bug): %w", err)
	}
	return nil
}

// buildProposal writes, parses and builds the proposal for these secrets, as plan would.
func buildProposal(ctx context.Context, p *composeio.Project, secrets []*Secret, rep *Report) error {
	data, err := rekeyYAML(p, secrets, rep.ComposeFiles)
	if err != nil {
		return err
	}
	cfg, err := config.Parse(config.FileName, data)
	if err != nil {
		return err
	}
	values := map[string]string{}
	for _, s := range secrets {
		values[s.Name] = s.value
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	fp := func(v string) string { // as validate's: keyed, so the proposal's checks see no value
		m := hmac.New(sha256.New, key)
		m.Write([]byte(v))
		return "hmac:" + hex.EncodeToString(m.Sum(nil))[:16]
	}
	_, err = engine.Build(ctx, engine.Input{Config: cfg, Project: p, Values: values, Revision: "init", FP: fp})
	return err
}

func secretNamed(secrets []*Secret, name string) *Secret {
	for _, s := range secrets {
		if s.Name == name {
			return s
		}
	}
	return nil
}
