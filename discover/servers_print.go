package discover

import (
	"fmt"
	"io"
)

// printServer writes the proposed server of a secret, or why a recognised password has none.
func printServer(w io.Writer, s *Secret, servers []*ServerProposal) {
	for _, sp := range servers {
		if sp.Secret != s.Name {
			continue
		}
		fmt.Fprintf(w, "    server: %s (%s, service %s, user %s): %s\n", sp.Name, sp.Type, sp.Service, sp.User, sp.Mode)
		fmt.Fprintf(w, "      admin: %s\n", sp.Admin)
		if sp.Adopt {
			fmt.Fprintf(w, "      before the first rotation: rekey adopt %s (moves the consumers to %s_a without downtime, same password)\n", s.Name, sp.User)
		}
		fmt.Fprintf(w, "      login with the value found: %s\n", orName(sp.LoginCheck, loginNotChecked))
		return
	}
	if s.ServerNote != "" {
		fmt.Fprintf(w, "    server: none proposed (%s)\n", s.ServerNote)
	}
}

// AdoptSteps are the `rekey adopt` commands to run before the first rotation, one per server that needs it.
func (r *Report) AdoptSteps() []string {
	var out []string
	for _, sp := range r.Servers {
		if sp.Adopt {
			out = append(out, fmt.Sprintf("rekey adopt %s   (moves the consumers of server %s from the owner role %s to %s_a, without downtime; before the first rotation)", sp.Secret, sp.Name, sp.User, sp.User))
		}
	}
	return out
}
