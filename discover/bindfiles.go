package discover

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rekeyhq/rekey/live"
	"github.com/rekeyhq/rekey/reconcile"
)

// bindSecrets proposes password files bind-mounted through volumes: rather than declared as compose
// secrets: a single file inside the project, mounted where a *_FILE variable of the service points or
// named like a credential (db_password.txt). Files already proposed (compose secrets) are skipped.
func (f *finder) bindSecrets(ctx context.Context, taken []*Secret) ([]*Secret, error) {
	seen := map[string]bool{}
	for _, s := range taken {
		for _, src := range s.Sources {
			seen[src] = true
		}
	}
	var out []*Secret
	tp := f.p.Types()
	for _, name := range f.p.Services() {
		svc := tp.Services[name]
		for _, v := range svc.Volumes {
			src := v.Source
			if v.Type != "bind" || src == "" || seen[src] || !filepath.IsAbs(src) {
				continue
			}
			if _, inside := within(f.p.Dir(), src); !inside {
				continue
			}
			fi, err := os.Lstat(src)
			if err != nil || !fi.Mode().IsRegular() || fi.Size() > scanMaxSize || fi.Size() == 0 {
				continue
			}
			base := strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))
			if !pointedByFileVar(svc.Environment, v.Target) && !slices.ContainsFunc(tokens(base), func(w string) bool { return slices.Contains(credentialWords, w) }) {
				continue
			}
			value, err := live.Files{}.ReadValue(ctx, reconcile.Location{Path: src})
			if err != nil {
				return nil, err
			}
			seen[src] = true
			if value == "" || identifierFile(base, value) || strings.Contains(strings.TrimRight(value, "\r\n"), "\n") && !strings.Contains(value, "PRIVATE KEY") {
				continue // a config file mounted for its settings, or a name
			}
			f.values = append(f.values, value)
			s, err := f.composeSecret(base, src, value)
			if err != nil {
				return nil, err
			}
			s.Why = "bind-mounted file"
			out = append(out, s)
		}
	}
	return out, nil
}

// pointedByFileVar reports a *_FILE variable of env naming target.
func pointedByFileVar(env map[string]*string, target string) bool {
	for k, v := range env {
		if v != nil && *v == target && strings.HasSuffix(k, "_FILE") {
			return true
		}
	}
	return false
}
