package engine

import (
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/rekeyhq/rekey/internal/images"
	"github.com/rekeyhq/rekey/reconcile"
)

// databaseImage reports whether image reads key only when it initialises an empty data directory:
// recreating the container on a new value changes nothing in the database (and restarts it for nothing),
// so such a service is not rolled. Its source is still kept in sync, so that a fresh data directory starts
// with the current value. Other images reading the same names (a backup sidecar, a monitoring server)
// read them at every start and are real consumers. The list is internal/images', shared with `rekey init`.
func databaseImage(key, image string) bool { return images.ReadsOnlyAtInit(key, image) }

// markBootstrap turns into bootstrap-only consumers the services that get variable v only as one of
// the bootstrap variables of their environment, and in no other way.
func (b *secretBuilder) markBootstrap(v string) {
	b.markFileBootstrap()
	p := b.in.Project.Types()
	if v == "" {
		return
	}
	for name, c := range b.consumers {
		svc, ok := p.Services[name]
		if !ok || c.Action == reconcile.NoRoll || !onlyEnvironment(c.Via) {
			continue
		}
		// The value the service gets: from .env by interpolation, or as the variable itself from an env_file.
		want, ok := p.Environment[v]
		if val := svc.Environment[v]; !ok && val != nil {
			want, ok = *val, true
		}
		if !ok {
			continue
		}
		var keys, ignored []string
		for key, val := range svc.Environment {
			switch {
			case val == nil || *val != want:
			case images.Ignores(key, svc.Image) && !usesInCommand(svc, key):
				ignored = append(ignored, key) // PG_PASS reaching postgres through a shared env_file
			default:
				keys = append(keys, key)
			}
		}
		if len(keys) == 0 && len(ignored) > 0 {
			slices.Sort(ignored)
			c.Action = reconcile.NoRoll // the database image does not read it at all
			c.Via = append(c.Via, "not-read-by-image:"+strings.Join(ignored, ","))
			continue
		}
		if len(keys) == 0 || slices.ContainsFunc(keys, func(k string) bool { return !databaseImage(k, svc.Image) }) {
			continue // also read as an ordinary variable, or not by the database image: a real consumer
		}
		slices.Sort(keys)
		c.Action = reconcile.NoRoll
		c.Via = append(c.Via, "bootstrap-only:"+strings.Join(keys, ","))
	}
}

// onlyEnvironment reports a consumer that gets the value through its environment only.
func onlyEnvironment(via []string) bool {
	return len(via) > 0 && !slices.ContainsFunc(via, func(w string) bool {
		return w != "interpolation:environment" && !strings.HasPrefix(w, "env_file:")
	})
}

// markFileBootstrap turns into bootstrap-only consumers the services that get the secret's file only
// mounted where a KEY_FILE variable of their environment points, KEY being one their image reads only at
// initialisation (POSTGRES_PASSWORD_FILE: /run/secrets/db_password on a postgres image).
func (b *secretBuilder) markFileBootstrap() {
	if b.spec.File == "" {
		return
	}
	p := b.in.Project.Types()
	for name, c := range b.consumers {
		svc, ok := p.Services[name]
		if !ok || c.Action == reconcile.NoRoll || len(c.Via) == 0 {
			continue
		}
		var keys []string
		for _, via := range c.Via {
			kind, target, _ := strings.Cut(via, ":")
			if kind != "secret" && kind != "bind-file" && kind != "config" {
				keys = nil // read some other way (a directory, an env_file): a real consumer
				break
			}
			k := fileKey(svc.Environment, target)
			if k == "" || !images.ReadsFileOnlyAtInit(k, svc.Image) {
				keys = nil
				break
			}
			keys = append(keys, k)
		}
		if len(keys) == 0 {
			continue
		}
		slices.Sort(keys)
		c.Action = reconcile.NoRoll
		c.Via = append(c.Via, "bootstrap-only:"+strings.Join(keys, ","))
	}
}

// fileKey is the *_FILE variable of env that points at target, "" if none.
func fileKey(env map[string]*string, target string) string {
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if v := env[k]; v != nil && *v == target && strings.HasSuffix(k, "_FILE") {
			return k
		}
	}
	return ""
}

// usesInCommand reports whether the service's command, entrypoint or healthcheck names the variable
// ($KEY, ${KEY}, $$KEY): the container reads it at run time even if its image does not.
func usesInCommand(svc types.ServiceConfig, key string) bool {
	words := append(append([]string{}, svc.Command...), svc.Entrypoint...)
	if svc.HealthCheck != nil {
		words = append(words, svc.HealthCheck.Test...)
	}
	ref := regexp.MustCompile(`\$\{?` + regexp.QuoteMeta(key) + `([^A-Za-z0-9_]|$)`) // $DB is not $DB_HOST
	for _, w := range words {
		if ref.MatchString(w) {
			return true
		}
	}
	return false
}
