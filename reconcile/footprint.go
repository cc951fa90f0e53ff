package reconcile

import (
	"path/filepath"
	"slices"
	"strings"
)

// Footprint is what a transaction touches, recorded in its begin record before the first side effect: the
// locations it may write (current, previous, logins), its consumers in roll order, its credential server
// and whether it swaps. It holds names and paths only: no value, no fingerprint. With it, a transaction
// whose secret left rekey.yaml (renamed or removed) is still finished or rolled back from the journal
// alone (orphan.go), and the secrets it may collide with are known. A begin record written before footprints
// were recorded has none: such a transaction touched something unknown.
type Footprint struct {
	Kind      Kind                `json:"kind"`
	Current   []FootprintLocation `json:"current"`
	Previous  []FootprintLocation `json:"previous,omitempty"`
	Logins    []FootprintLocation `json:"logins,omitempty"`
	Consumers []Consumer          `json:"consumers,omitempty"` // name, roll action and strategy only
	Server    *Server             `json:"server,omitempty"`
	Swap      bool                `json:"swap,omitempty"`
}

// FootprintLocation is a Location as a begin record keeps it.
type FootprintLocation struct {
	Path string `json:"path"`
	Key  string `json:"key,omitempty"`
	Form string `json:"form,omitempty"`
}

// footprintOf is the footprint of a transaction of s.
func footprintOf(s Secret) *Footprint {
	sc := &Footprint{Kind: s.Kind, Current: footprintLocations(s.Current), Previous: footprintLocations(s.Previous),
		Logins: footprintLocations(s.Logins), Swap: s.Swap}
	for _, c := range s.Consumers {
		sc.Consumers = append(sc.Consumers, Consumer{Name: c.Name, Action: c.Action, Strategy: c.Strategy})
	}
	if s.Server != nil {
		srv := *s.Server
		sc.Server = &srv
	}
	return sc
}

func footprintLocations(ls []Location) []FootprintLocation {
	if len(ls) == 0 {
		return nil
	}
	out := make([]FootprintLocation, len(ls))
	for i, l := range ls {
		out[i] = FootprintLocation(l)
	}
	return out
}

func locationsOf(ls []FootprintLocation) []Location {
	if len(ls) == 0 {
		return nil
	}
	out := make([]Location, len(ls))
	for i, l := range ls {
		out[i] = Location(l)
	}
	return out
}

// secret rebuilds, from the footprint, the secret the transaction was a rotation of, as far as finishing or
// rolling it back needs: no desired value, no checks (they were the config's, which no longer names it).
func (sc *Footprint) secret(name string) Secret {
	return Secret{Name: name, Kind: sc.Kind, Current: locationsOf(sc.Current), Previous: locationsOf(sc.Previous),
		Logins: locationsOf(sc.Logins), Consumers: slices.Clone(sc.Consumers), Server: sc.Server, Swap: sc.Swap}
}

// sharedWith names what s shares with the transaction of this footprint, "" when nothing: a file (any key
// in it: a rollback may put a whole file back), a consumer (the server's own service counts as one) or
// the credential server. A nil footprint (a begin record of an older rekey) shares everything. Paths are
// compared cleaned: an absolute file or host_file is taken as written, so a renamed secret may spell the
// same file another way (/srv/app/./key, /srv/app//key).
func (sc *Footprint) sharedWith(s Secret) string {
	if sc == nil {
		return "what it touched is not recorded (begun by an older rekey)"
	}
	var shared []string
	files := map[string]bool{}
	for _, l := range locations(sc.secret("")) {
		files[filepath.Clean(l.Path)] = true
	}
	for _, l := range locations(s) {
		if p := filepath.Clean(l.Path); files[p] {
			shared = append(shared, "file "+l.Path)
			delete(files, p)
		}
	}
	mine := consumersOf(sc.Consumers, sc.Server)
	for _, c := range consumersOf(s.Consumers, s.Server) {
		if slices.Contains(mine, c) {
			shared = append(shared, "consumer "+c)
		}
	}
	if sc.Server != nil && s.Server != nil && sc.Server.Name == s.Server.Name {
		shared = append(shared, "server "+s.Server.Name)
	}
	return strings.Join(shared, ", ")
}

// consumersOf lists the consumers' names and the server's own service.
func consumersOf(cs []Consumer, srv *Server) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	if srv != nil && srv.Service != "" && !slices.Contains(out, srv.Service) {
		out = append(out, srv.Service)
	}
	return out
}
