package discover

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInitScanPaths(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const value = "s3cr3t-Value-abcdef"
	write("backup.env", "# backup\nDB_PASSWORD="+value+"\n")
	write("stale.env", "DB_PASSWORD=older-value\n")
	write("job.cron", "0 3 * * * root pg_dump --password="+value+"\n")
	write("mention.sh", "#!/bin/sh\necho $DB_PASSWORD_FILE $DB_PASSWORD\n")
	write("other.sh", "#!/bin/sh\necho $XDB_PASSWORD\n")
	write("binary", "DB_PASSWORD=\x00"+value)
	refs, _, err := scanPaths([]string{dir}, []scanTarget{{secret: "db", vars: []string{"DB_PASSWORD"}, value: value}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]HostRef{}
	for _, r := range refs {
		got[filepath.Base(r.Path)] = r
	}
	want := map[string]HostRef{
		"backup.env": {Secret: "db", Var: "DB_PASSWORD", Value: true, Assigns: true, SameValue: true},
		"stale.env":  {Secret: "db", Var: "DB_PASSWORD", Assigns: true},
		"job.cron":   {Secret: "db", Value: true},
		"mention.sh": {Secret: "db", Var: "DB_PASSWORD"},
	}
	if len(got) != len(want) {
		t.Errorf("scan found %v, want %v", got, want)
	}
	for name, w := range want {
		g := got[name]
		g.Path = ""
		if g != w {
			t.Errorf("%s: got %+v, want %+v", name, g, w)
		}
	}
	for _, r := range refs {
		if strings.Contains(r.Path+r.Var, value) {
			t.Errorf("a ref holds the value: %+v", r)
		}
	}
	if _, _, err := scanPaths([]string{filepath.Join(dir, "nope")}, nil); err == nil {
		t.Error("a missing --scan path is not an error")
	}
}
