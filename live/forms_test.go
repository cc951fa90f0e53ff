package live

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/internal/derive"
	"github.com/rekeyhq/rekey/reconcile"
)

func formSpec(t *testing.T, src string, single bool, logins ...string) *derive.Spec {
	f, err := derive.Parse(src, func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	return &derive.Spec{Form: f, Secret: "pw", Where: "X", SingleLine: single, Logins: logins}
}

func inode(t *testing.T, path string) uint64 {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// TestFormsWriteObserveDecode writes a URL and an htpasswd file through Files, in place, and reads them
// back as the observer does: by the value they carry.
func TestFormsWriteObserveDecode(t *testing.T) {
	dir := t.TempDir()
	env, htp := filepath.Join(dir, ".env"), filepath.Join(dir, "htpasswd")
	os.WriteFile(env, []byte("# app\nDATABASE_URL=postgres://shop_a:old@db/app\nOTHER=1\n"), 0o600)
	os.WriteFile(htp, []byte("admin:$2y$04$"+strings.Repeat("a", 53)+"\n"), 0o600)
	value := "n3w p@ss:/?#%+ä"
	url := reconcile.Location{Path: env, Key: "DATABASE_URL", Form: "pw#0"}
	file := reconcile.Location{Path: htp, Form: "pw#1"}
	forms := &Forms{Set: derive.Set{
		"pw#0": formSpec(t, "postgres://{{ .login }}:{{ urlquery .value }}@db/app", true, "shop_a", "shop_b"),
		"pw#1": formSpec(t, `{{ htpasswd "admin" .value }}`+"\n", false),
	}, Values: func(string) (string, bool) { return value, true }}
	fs := Files{Root: dir, Forms: forms}
	ctx := context.Background()
	before := inode(t, htp)
	if err := fs.WriteForm(ctx, url, value, "shop_b"); err != nil {
		t.Fatal(err)
	}
	if err := fs.WriteForm(ctx, file, value, ""); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(env)
	if !strings.Contains(string(data), "DATABASE_URL=postgres://shop_b:n3w%20p%40ss%3A%2F%3F%23%25+%C3%A4@db/app") || !strings.HasPrefix(string(data), "# app\n") {
		t.Errorf(".env = %s", data)
	}
	h, _ := os.ReadFile(htp)
	if !strings.HasPrefix(string(h), "admin:$2y$04$") || inode(t, htp) != before {
		t.Errorf("htpasswd = %q (cost 4 kept?), inode kept %v", h, inode(t, htp) == before)
	}
	if v, err := fs.DecodeForm(url, must(fs.ReadValue(ctx, url))); err != nil || v != value {
		t.Errorf("DecodeForm = %v", err)
	}
	if _, err := fs.DecodeForm(file, string(h)); err == nil {
		t.Error("an htpasswd line decoded")
	}
	fp := func(v string) string { return "fp:" + v }
	obs := &Observer{Files: fs, FP: fp, Journal: Records{}, Now: time.Now}
	d := reconcile.Desired{Secrets: []reconcile.Secret{{Name: "pw", Current: []reconcile.Location{url, file}, DesiredFP: fp(value)}}}
	o, err := obs.Observe(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	st := o.Secrets["pw"]
	if st.Current[url] != fp(value) || st.Current[file] != fp(value) || st.Forms[file] != fp(string(h)) {
		t.Errorf("observed %v forms %v", st.Current, st.Forms)
	}
	os.WriteFile(htp, []byte("admin:$2y$04$"+strings.Repeat("b", 53)+"\n"), 0o600) // a hand edit
	value = "other"                                                                // Git moved on
	o, _ = obs.Observe(ctx, d)
	if got := o.Secrets["pw"].Current; !strings.HasPrefix(got[file], "form:") || got[url] != fp("n3w p@ss:/?#%+ä") {
		t.Errorf("after the edit: %v", got)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
