package live

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/rekeyhq/rekey/internal/derive"
	"github.com/rekeyhq/rekey/reconcile"
	"github.com/rekeyhq/rekey/swarmio"
)

// TestSwarmDriftDerivedFile: a service mounting a derived file (a database URL) whose object holds the
// form of Git's value is in sync, whether the object is one rekey labelled or the one the stack file
// names; an object of another value is not. (Judged by the form's fingerprint against the value's, it
// was reported running a hand-edited source after every rotation.)
func TestSwarmDriftDerivedFile(t *testing.T) {
	dir := t.TempDir()
	value := "n3w p@ss"
	url := "postgres://shop_b:n3w%20p%40ss@db/app"
	file := filepath.Join(dir, "secrets", "db_url")
	noErr(t, os.MkdirAll(filepath.Dir(file), 0o700))
	noErr(t, os.WriteFile(file, []byte(url), 0o600))
	stackFile := filepath.Join(dir, "stack.yaml")
	noErr(t, os.WriteFile(stackFile, []byte("secrets:\n  db_url:\n    file: ./secrets/db_url\n    name: shop_db_url_v1\n"), 0o600))
	forms := &Forms{Set: derive.Set{"pw#0": formSpec(t, "postgres://{{ .login }}:{{ urlquery .value }}@db/app", true, "shop_a", "shop_b")},
		Values: func(string) (string, bool) { return value, true }}
	ms := SwarmSecret{Key: "db_url", File: file, Mounts: map[string]string{"client": "db_url"}}
	st := &SwarmStack{Stack: "shop", StackFiles: []string{stackFile}, Secrets: []SwarmSecret{ms}, Files: Files{Root: dir, Forms: forms}}
	d := SwarmDrift{Stack: st, FP: testFP}
	sec := reconcile.Secret{Name: "pw", DesiredFP: testFP(value), Current: []reconcile.Location{{Path: file, Form: "pw#0"}}}
	r, err := d.reader(context.Background(), sec, reconcile.Consumer{Name: "client"}, value)
	noErr(t, err)
	labelled := swarmio.Secret{Name: "shop_db_url_0123456789ab", Labels: map[string]string{
		swarmio.LabelSecret: "shop/db_url", swarmio.LabelFingerprint: testFP(url)}}
	for _, obj := range []swarmio.Secret{labelled, {Name: "shop_db_url_v1"}} {
		if got := r.objectFP(obj); got != r.desired || r.source != r.desired {
			t.Errorf("object %s: live %s, desired %s, source %s: want all the same", obj.Name, got, r.desired, r.source)
		}
	}
	old := swarmio.Secret{Name: "shop_db_url_old", Labels: map[string]string{
		swarmio.LabelSecret: "shop/db_url", swarmio.LabelFingerprint: testFP("postgres://shop_a:old@db/app")}}
	if got := r.objectFP(old); got == r.desired || got == r.source {
		t.Errorf("an object of the old URL is taken for the new one: %s", got)
	}
}
