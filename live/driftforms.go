package live

import (
	"context"
	"maps"
	"slices"

	"github.com/rekeyhq/rekey/dockerio"
	"github.com/rekeyhq/rekey/reconcile"
)

// Drift of derived locations. A derived source and a container's copy of it hold a form of the value,
// not the value: both are judged by the value they carry (Forms.carried: a hash is checked against
// Git's value, a URL compared after parsing), so that a rewritten bcrypt salt or a reordered query is
// not drift, and fingerprints compare across sources and containers.

// derivedSource is the fingerprint of the value the derived source at l carries.
func (s *DriftScanner) derivedSource(sec reconcile.Secret, l reconcile.Location, form string) string {
	if s.Forms == nil || form == "" {
		return ""
	}
	return s.Forms.carried(l, form, s.FP, sec.DesiredFP)
}

// derivedConsumer fills lc for a consumer that reads one of sec's derived variables as it is (an
// environment variable set to ${VAR}), and reports whether it did.
func (s *DriftScanner) derivedConsumer(ctx context.Context, sec reconcile.Secret, c reconcile.Consumer, rc dockerio.RunConfig, lc *reconcile.LiveConsumer) (bool, error) {
	if s.Forms == nil {
		return false, nil
	}
	for _, l := range sec.Current {
		if l.Form == "" || l.Key == "" {
			continue
		}
		uses, err := s.usesOf(ctx, l.Key)
		if err != nil {
			return false, err
		}
		fields := uses[c.Name]
		for _, k := range slices.Sorted(maps.Keys(fields)) {
			if fields[k].Expand("\x00") != "\x00" || k[0] == '$' {
				continue // the form inside a longer string, or in the command: not judged here
			}
			fv := s.files[l.Path]
			if fv == nil {
				fv = s.sources().readFile(l.Path)
				s.files[l.Path] = fv
			}
			source, _ := fv.get(l.Key)
			lc.FP = s.Forms.carried(l, rc.Env[k], s.FP, sec.DesiredFP)
			lc.SourceFP = s.derivedSource(sec, l, source)
			lc.DesiredFP = sec.DesiredFP
			return true, nil
		}
	}
	return false, nil
}

// derivedFile fills lc for a consumer that mounts one of sec's derived files, as the container sees it
// (data), and reports whether it did: the derived file whose source holds exactly data, else, when the
// secret has no plain file, its first derived file.
func (s *DriftScanner) derivedFile(sec reconcile.Secret, data []byte, lc *reconcile.LiveConsumer) bool {
	if s.Forms == nil {
		return false
	}
	var chosen *reconcile.Location
	var source string
	plainFile := false
	for _, l := range sec.Current {
		if l.Key != "" {
			continue
		}
		if l.Form == "" {
			plainFile = true
			continue
		}
		fv := s.files[l.Path]
		if fv == nil {
			fv = s.sources().readFile(l.Path)
			s.files[l.Path] = fv
		}
		v, _ := fv.get("")
		if chosen == nil || v == string(data) {
			l := l
			chosen, source = &l, v
		}
		if v == string(data) {
			break
		}
	}
	if chosen == nil || plainFile && source != string(data) {
		return false
	}
	lc.FP = s.Forms.carried(*chosen, string(data), s.FP, sec.DesiredFP)
	lc.SourceFP = s.derivedSource(sec, *chosen, source)
	lc.DesiredFP = sec.DesiredFP
	return true
}
