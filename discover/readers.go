package discover

import (
	"fmt"
	"slices"
	"strings"

	"github.com/rekeyhq/rekey/composeio"
	"github.com/rekeyhq/rekey/config"
	"github.com/rekeyhq/rekey/internal/images"
	"github.com/rekeyhq/rekey/reconcile"
)

// markReaders takes the bootstrap-only and install-only readers from the desired state plan builds
// (engine's bootstrap-only consumers), so that init and plan agree on them by construction: the secret is
// marked, its kind taken from the database image that reads it, and a value that only such readers use is
// proposed as issued (a new value would change nothing: it is changed in the service first).
func markReaders(p *composeio.Project, secrets []*Secret, desired reconcile.Desired, rep *Report) {
	for _, s := range secrets {
		i := slices.IndexFunc(desired.Secrets, func(d reconcile.Secret) bool { return d.Name == s.Name })
		if i < 0 {
			continue
		}
		readers, others := bootstrapConsumers(desired.Secrets[i])
		if len(readers) == 0 {
			continue
		}
		s.BootstrapReaders = readers
		family := ""
		for _, r := range readers {
			if svc, ok := p.Types().Services[r]; ok && family == "" {
				family = images.Family(svc.Image)
			}
		}
		if family != "" && s.Kind == kindToken {
			s.Kind = family
			s.comments = append(s.comments, kindComment(orName(s.Var, s.Name), guess{Kind: family})...)
		}
		what := orName(s.Var, s.File)
		if !s.Bootstrap {
			s.Bootstrap = true
			s.comments = append(s.comments, fmt.Sprintf("BOOTSTRAP-ONLY: %s reads %s only when it initialises an empty data", strings.Join(readers, ", "), what),
				"directory or installs itself. Rotating it here does NOT change the password the running service holds.")
			rep.Hidden = append(rep.Hidden, Hidden{Kind: HiddenBootstrap, Secret: s.Name, Note: fmt.Sprintf(
				"%s is read by %s only when it initialises an empty data directory or installs itself: a rotation changes the source, not the password the service holds; change it there first, in the same change",
				what, strings.Join(readers, ", "))})
		}
		if !others && s.Rotation == config.RotationGenerated {
			s.Rotation = config.RotationIssued
			s.RotationReason = fmt.Sprintf("read only at initialisation or install (by %s): change it there, then store it with `rekey values set`", strings.Join(readers, ", "))
		}
	}
}

// bootstrapConsumers are the services plan leaves unrolled as bootstrap-only, and whether anything else
// (a service, a host file) consumes the value.
func bootstrapConsumers(d reconcile.Secret) (readers []string, others bool) {
	for _, c := range d.Consumers {
		if slices.ContainsFunc(c.Via, func(v string) bool { return strings.HasPrefix(v, "bootstrap-only:") }) {
			readers = append(readers, c.Name)
			continue
		}
		if slices.ContainsFunc(c.Via, func(v string) bool { return strings.HasPrefix(v, "not-read-by-image:") }) {
			continue // a database container that gets it through a shared env_file and ignores it
		}
		others = true
	}
	slices.Sort(readers)
	return readers, others
}
