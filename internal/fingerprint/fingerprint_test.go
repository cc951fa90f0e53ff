package fingerprint

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreateKey(t *testing.T) {
	stateDir := filepath.Join(t.TempDir(), "state", "nested")
	k1, err := LoadOrCreateKey(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode = %v, want 0700", fi.Mode().Perm())
	}
	path := filepath.Join(stateDir, KeyFile)
	fi, err = os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != KeySize {
		t.Errorf("key file mode %v size %d, want 0600 and %d", fi.Mode().Perm(), fi.Size(), KeySize)
	}

	k2, err := LoadOrCreateKey(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if k1.Of("v") != k2.Of("v") {
		t.Errorf("reloaded key differs")
	}

	other, err := LoadOrCreateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if other.Of("v") == k1.Of("v") {
		t.Errorf("two installs share a key")
	}
}

func TestLoadOrCreateKeyConcurrent(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	fps := make([]string, 8)
	errs := make([]error, 8)
	for i := range fps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := LoadOrCreateKey(dir)
			errs[i] = err
			if err == nil {
				fps[i] = k.Of("v")
			}
		}()
	}
	wg.Wait()
	for i := range fps {
		if errs[i] != nil {
			t.Fatalf("LoadOrCreateKey: %v", errs[i])
		}
		if fps[i] != fps[0] {
			t.Errorf("concurrent callers got different keys")
		}
	}
}

func TestLoadOrCreateKeyRefusesOpenFile(t *testing.T) {
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o620, 0o660} {
		dir := t.TempDir()
		if _, err := LoadOrCreateKey(dir); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, KeyFile)
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadOrCreateKey(dir)
		if err == nil {
			t.Errorf("mode %v accepted", mode)
			continue
		}
		if !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Errorf("error does not give the fix: %v", err)
		}
	}
}

func TestLoadOrCreateKeyRefusesBadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, KeyFile)
	if err := os.WriteFile(path, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(dir); err == nil || !strings.Contains(err.Error(), "5 bytes") {
		t.Errorf("short key: %v", err)
	}
	if err := os.WriteFile(path, make([]byte, KeySize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(dir); err == nil || !strings.Contains(err.Error(), "longer") {
		t.Errorf("long key: %v", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(target, make([]byte, KeySize), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(dir); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("symlinked key: %v", err)
	}
}

func TestOfAndEqual(t *testing.T) {
	k, err := LoadOrCreateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^hmac:[0-9a-f]{16}$`)
	seen := map[string]string{}
	for _, v := range []string{"", "a", "b", "secret", "secret ", "Secret", strings.Repeat("x", 10000)} {
		fp := k.Of(v)
		if !re.MatchString(fp) {
			t.Errorf("Of(%q) = %q: bad format", v, fp)
		}
		if len(v) >= 4 && strings.Contains(fp, v) {
			t.Errorf("fingerprint contains the value")
		}
		if prev, ok := seen[fp]; ok {
			t.Errorf("Of(%q) == Of(%q)", v, prev)
		}
		seen[fp] = v
		if k.Of(v) != fp {
			t.Errorf("Of is not deterministic")
		}
		if !k.Equal(v, fp) {
			t.Errorf("Equal(%q, Of(%q)) = false", v, v)
		}
		if k.Equal(v+"x", fp) || k.Equal(v, fp[:len(fp)-1]) || k.Equal(v, strings.ToUpper(fp)) || k.Equal(v, "") {
			t.Errorf("Equal accepts a wrong fingerprint for %q", v)
		}
	}
}

func TestKeyNotPrinted(t *testing.T) {
	dir := t.TempDir()
	k, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, KeyFile))
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		out := fmt.Sprintf(format, k)
		if strings.Contains(out, fmt.Sprintf("%x", raw)) || strings.Contains(out, fmt.Sprint(raw)) || strings.Contains(out, string(raw)) {
			t.Errorf("%s prints the key: %s", format, out)
		}
	}
}

func TestZeroKeyPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("zero Key did not panic")
		}
	}()
	var k Key
	k.Of("v")
}
