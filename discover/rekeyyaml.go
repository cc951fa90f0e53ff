package discover

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"

	"github.com/rekeyhq/rekey/composeio"
	"github.com/rekeyhq/rekey/config"
)

// RekeyYAML writes the proposed rekey.yaml, with a comment for every guess.
func RekeyYAML(p *composeio.Project, rep *Report) ([]byte, error) {
	return rekeyYAML(p, rep.Secrets, rep.ComposeFiles)
}

// rekeyYAML writes rekey.yaml through config.Marshal, the writer that round-trips with the parser.
func rekeyYAML(p *composeio.Project, secrets []*Secret, files []string) ([]byte, error) {
	prop := config.Proposal{
		Config: config.Config{Version: 1, Values: ValuesFile, Secrets: map[string]*config.Secret{},
			Compose: config.Compose{ProjectDir: p.Dir(), ProjectName: p.Name(), Files: files}, // files chosen with --file: plan and apply must read the same ones
			Verify:  []config.Check{{Logs: &config.LogsCheck{Deny: authFailures}}}},
		Header:   []string{fmt.Sprintf("Written by `rekey init` from %s. Review every secret before the first `rekey apply`.", p.Dir())},
		Comments: map[string][]string{},
		VerifyComment: []string{"Checks run after every consumer rolls; a failure rolls the rotation back. Add the requests that",
			"prove your app works with the new value (a login, a queued job, an email)."},
		Suggested: suggestedChecks(p),
	}
	for _, s := range secrets {
		prop.Order = append(prop.Order, s.Name)
		prop.Config.Secrets[s.Name] = s.declaration()
		prop.Comments[s.Name] = append([]string{fmt.Sprintf("found by %s; consumers: %s", s.Why,
			orName(strings.Join(consumerNames(s.Consumers), ", "), "(none in compose)"))}, s.comments...)
	}
	addServers(&prop, secrets)
	return config.Marshal(prop)
}

// declaration is the secret as rekey.yaml declares it.
func (s *Secret) declaration() *config.Secret {
	// A compose secret outside the project is named by its absolute path: declare it, or it is refused.
	d := &config.Secret{Type: s.Type, File: s.File, FileOutsideProject: filepath.IsAbs(s.File),
		Rotation: s.Rotation, RotationReason: s.RotationReason}
	if s.Rotation == config.RotationGenerated {
		d.Generate = s.generate
	}
	switch {
	case s.Type == kindAppKey:
		d.Env = &config.Env{Current: s.Var, Previous: s.Previous}
	case s.Var != "":
		d.Env = &config.Env{Value: s.Var}
	}
	s.declareServer(d)
	d.Derived = s.derived
	for _, h := range s.hostKeys {
		d.Consumers = append(d.Consumers, config.Consumer{HostFile: h.Path, Key: h.Var})
	}
	return d
}

// authFailures are what the usual servers and clients log when a credential is refused: a rolled
// consumer logging one of them fails the rotation, which then rolls back.
// Generic words such as "Unauthorized" are left out: access logs print them for every stray request.
var authFailures = []string{"password authentication failed", "Access denied for user", "WRONGPASS", "NOAUTH"}

// suggestedChecks proposes, as comments, an HTTP check for each port the stack publishes: rekey cannot
// know which path proves the app works.
func suggestedChecks(p *composeio.Project) []config.Suggestion {
	var out []config.Suggestion
	for _, name := range p.Services() {
		for _, port := range p.Types().Services[name].Ports {
			if port.Published == "" || port.Protocol == "udp" {
				continue
			}
			host := port.HostIP
			if host == "" || host == "0.0.0.0" || host == "::" {
				host = "127.0.0.1"
			}
			out = append(out, config.Suggestion{
				Check: config.Check{HTTP: &config.HTTPCheck{URL: "http://" + net.JoinHostPort(host, port.Published) + "/", Status: 200}},
				Note:  fmt.Sprintf("%s publishes %d", name, port.Target)})
		}
	}
	return out
}

func consumerNames(cs []string) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i], _, _ = strings.Cut(c, " ")
	}
	return out
}
