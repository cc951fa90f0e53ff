package app

import "testing"

func TestSSHUser(t *testing.T) {
	for repo, want := range map[string]string{
		"ssh://alice@git.example.test:2222/repo.git": "alice",
		"ssh://git.example.test/repo.git":            "git",
		"bob@git.example.test:org/repo.git":          "bob",
		"https://tok@git.example.test/repo.git":      "git",
		"/srv/repo":                                  "git",
	} {
		if got := SSHUser(repo); got != want {
			t.Errorf("SSHUser(%q) = %q, want %q", repo, got, want)
		}
	}
}
