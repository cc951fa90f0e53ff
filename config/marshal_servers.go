package config

import (
	"bytes"
	"fmt"
	"strings"
)

// marshalServers writes the servers: block of a proposal: the credential servers `rekey init` proposes
// (redis, postgres, mariadb), each with the comments that say what was guessed and where its admin
// access comes from. A field Marshal does not write is an error, as for secrets.
func marshalServers(b *bytes.Buffer, p Proposal) error {
	c := &p.Config
	if len(c.Servers) == 0 {
		return nil
	}
	b.WriteString("\n")
	comments(b, "", p.ServersComment)
	b.WriteString("servers:\n")
	for i, name := range c.ServerNames() {
		if i > 0 {
			b.WriteString("\n")
		}
		comments(b, "  ", p.ServerComments[name])
		if err := marshalServer(b, name, c.Servers[name]); err != nil {
			return err
		}
	}
	return nil
}

func marshalServer(b *bytes.Buffer, name string, s *Server) error {
	switch {
	case s == nil || s.Type != ServerRedis && s.Type != ServerPostgres && s.Type != ServerMariaDB:
		return fmt.Errorf("marshal: server %s: only redis, postgres and mariadb servers are written", name)
	case len(s.Logins) > 0 || s.Host != "" || s.Port != 0 || s.DrainTimeout.Duration != 0 || s.Terminate ||
		s.Addr != "" || s.TLS != "" || s.CAFile != "" || s.ServerName != "" || s.URL != "" || s.Method != "" ||
		s.Header != "" || len(s.Expect) > 0 || len(s.Rejected) > 0 || s.Commands != nil:
		return fmt.Errorf("marshal: server %s: only type, service, user, database, single, chain and admin are written", name)
	}
	fmt.Fprintf(b, "  %s:\n    type: %s\n    service: %s\n", scalar(name), scalar(s.Type), scalar(s.Service))
	if s.User != "" {
		fmt.Fprintf(b, "    user: %s\n", scalar(s.User))
	}
	if s.Database != "" {
		fmt.Fprintf(b, "    database: %s\n", scalar(s.Database))
	}
	if s.Single {
		b.WriteString("    single: true\n")
	}
	if s.Chain {
		b.WriteString("    chain: true\n")
	}
	if a := s.Admin; a != nil {
		fields := []string{"user: " + scalar(a.User)}
		if a.Password != "" {
			fields = append(fields, "password: "+scalar(a.Password))
		}
		fmt.Fprintf(b, "    admin: {%s}\n", strings.Join(fields, ", "))
	}
	return nil
}

// marshalSecretServer writes the server fields of a secret; the server must be one the proposal declares.
func marshalSecretServer(b *bytes.Buffer, c *Config, name string, s *Secret) error {
	if s.Server == "" {
		if s.LoginEnv != "" || s.Strategy != "" {
			return fmt.Errorf("marshal: secret %s: login_env and strategy need a server", name)
		}
		return nil
	}
	if _, ok := c.Servers[s.Server]; !ok {
		return fmt.Errorf("marshal: secret %s: server %s is not among the servers written (%v)", name, s.Server, c.ServerNames())
	}
	fmt.Fprintf(b, "    server: %s\n", scalar(s.Server))
	if s.LoginEnv != "" {
		fmt.Fprintf(b, "    login_env: %s\n", scalar(s.LoginEnv))
	}
	if s.Strategy != "" {
		fmt.Fprintf(b, "    strategy: %s\n", scalar(s.Strategy))
	}
	return nil
}
