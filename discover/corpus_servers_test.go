package discover

import (
	"fmt"
	"slices"
	"testing"

	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/reconcile"
)

// truthServer is the credential server a corpus secret's truth expects init to propose.
type truthServer struct {
	Type     string `yaml:"type"`
	Service  string `yaml:"service"`
	User     string `yaml:"user"`
	Database string `yaml:"database"`
	Admin    string `yaml:"admin"` // the admin user; empty for none
	LoginEnv string `yaml:"login_env"`
	Single   bool   `yaml:"single"`
	Chain    bool   `yaml:"chain"`
	Adopt    bool   `yaml:"adopt"`
}

// compareServer scores the server proposed for one secret against the truth: the same server, or none
// where the truth has none.
func (sc *score) compareServer(key string, s *Secret, want *truthServer) {
	sp := s.server
	switch {
	case want == nil && sp == nil:
		return
	case want == nil:
		sc.serverFP++
		sc.misses = append(sc.misses, fmt.Sprintf("%s: server %s proposed, want none", key, sp.Name))
		return
	}
	sc.servers++
	if sp == nil {
		sc.misses = append(sc.misses, fmt.Sprintf("%s: no server (%s), want %+v", key, s.ServerNote, *want))
		return
	}
	got := truthServer{Type: sp.spec.Type, Service: sp.spec.Service, User: sp.spec.User, Database: sp.spec.Database,
		LoginEnv: sp.LoginEnv, Single: sp.spec.Single, Chain: sp.spec.Chain, Adopt: sp.Adopt}
	if a := sp.spec.Admin; a != nil {
		got.Admin = a.User
	}
	if got != *want {
		sc.misses = append(sc.misses, fmt.Sprintf("%s: server %+v, want %+v", key, got, *want))
		return
	}
	if (sp.spec.Single) != (sp.strategy == config.StrategySwap) {
		sc.misses = append(sc.misses, fmt.Sprintf("%s: a single role needs strategy swap, got %q", key, sp.strategy))
		return
	}
	sc.serverOK++
}

// checkServerScore fails below 100% on the servers of recognised database and Redis passwords, and on
// any server proposed where the truth has none.
func checkServerScore(t *testing.T, total score) {
	t.Helper()
	t.Logf("SERVERS: %d/%d proposed right (%.0f%%), %d proposed where none should be", total.serverOK, total.servers, pct(total.serverOK, total.servers), total.serverFP)
	if total.servers < 5 {
		t.Errorf("the corpus expects %d servers: want at least 5 (postgres, mariadb and redis)", total.servers)
	}
	if total.serverOK != total.servers || total.serverFP > 0 {
		t.Errorf("servers: %d of %d right, %d wrongly proposed: want all right and none wrong", total.serverOK, total.servers, total.serverFP)
	}
}

// planReaders are the services plan leaves unrolled because they read the value only at initialisation:
// the bootstrap-only consumers, and the server's own service when that is how it reads it (the engine
// moves it from the consumers to the server, unrolled).
func planReaders(d reconcile.Secret) []string {
	readers, _ := bootstrapConsumers(d)
	if srv := d.Server; srv != nil && srv.Service != "" && srv.Roll == reconcile.NoRoll {
		readers = append(readers, srv.Service)
		slices.Sort(readers)
	}
	return readers
}
