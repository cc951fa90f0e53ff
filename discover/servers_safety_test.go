package discover

import "testing"

// TestServerNeverAdoptsTheSuperuser: the consumers log in as the image's superuser, whose password no
// longer comes from POSTGRES_PASSWORD (changed after initdb, here another variable). Adopting it would run
// ALTER ROLE ... NOLOGIN on the only superuser, rekey's admin: init proposes it as a single role instead.
func TestServerNeverAdoptsTheSuperuser(t *testing.T) {
	p, rep := discoverDir(t, "testdata/superuser-login")
	yml, _ := RekeyYAML(p, rep)
	sp := onlyServer(t, rep, yml)
	if sp.Adopt || !sp.spec.Single || sp.User != "appsuper" {
		t.Errorf("server %s: user %s, adopt %v, single %v; want the superuser appsuper as a single role, never adopted\n%s",
			sp.Name, sp.User, sp.Adopt, sp.spec.Single, yml)
	}
}

// TestServerLoginEnvIsReadByTheConsumers: the app's user is written in compose (DB_USER: app) and a backup
// job reads BACKUP_USER=app. Naming BACKUP_USER login_env would move the backup job's login and leave the
// app on a role adopt makes NOLOGIN: the user is changed in place instead (single, no login_env).
func TestServerLoginEnvIsReadByTheConsumers(t *testing.T) {
	p, rep := discoverDir(t, "testdata/loginenv-elsewhere")
	yml, _ := RekeyYAML(p, rep)
	sp := onlyServer(t, rep, yml)
	if sp.LoginEnv != "" || sp.Adopt || !sp.spec.Single {
		t.Errorf("server %s: login_env %q, adopt %v, single %v; want a single role without login_env\n%s",
			sp.Name, sp.LoginEnv, sp.Adopt, sp.spec.Single, yml)
	}
}

func onlyServer(t *testing.T, rep *Report, yml []byte) *ServerProposal {
	t.Helper()
	if len(rep.Servers) != 1 {
		t.Fatalf("%d servers proposed, want 1\n%s", len(rep.Servers), yml)
	}
	return rep.Servers[0]
}
