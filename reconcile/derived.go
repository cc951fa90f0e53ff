package reconcile

import (
	"context"
	"fmt"
)

// Derived locations hold a form of a secret's value rendered from a template (a database URL with the
// password embedded, an htpasswd line): Location.Form names the form. They are snapshotted, restored and
// rolled like any location; what differs is how a value gets in and out of them:
//   - a write renders the form from the value and the login the server staged it on (FormWriter);
//   - ReadValue returns the form as written, so that a snapshot and its restore keep it byte for byte;
//   - where the transaction needs the value a location carries (the current value a server checks and
//     stages from, the value to unstage, the value a revoke retires), a derived location is read back
//     through FormDecoder, which only forms that carry the value recoverably (a URL's password) allow;
//   - the Observer reports for a derived location the fingerprint of the value it carries (DesiredFP
//     when it is Git's value's form, which a one-way form is checked for rather than compared with),
//     and SecretState.Forms the fingerprint of the form itself, for plan.

// FormWriter is implemented by the Executor's Writer when the desired state has derived locations: it
// renders the form at l from value and login and writes it in place. login is "" when the server did
// not stage on a login of its own; the writer then uses the server's fixed login, if any.
type FormWriter interface {
	WriteForm(ctx context.Context, l Location, value, login string) error
}

// FormDecoder is implemented by the Executor's Reader when the desired state has derived locations:
// the value a form carries, or an error when the form cannot give it back (a hash).
type FormDecoder interface {
	DecodeForm(l Location, form string) (string, error)
}

// writeAt writes value at l: rendered, for a derived location.
func (r *run) writeAt(ctx context.Context, l Location, value string) error {
	if l.Form == "" {
		return r.e.Writer.WriteValue(ctx, l, value)
	}
	fw, ok := r.e.Writer.(FormWriter)
	if !ok {
		return fmt.Errorf("cannot write the derived location %s: the writer does not render forms", l)
	}
	return fw.WriteForm(ctx, l, value, r.login)
}

// readPlain returns the value a location carries: read back from its form for a derived location.
func (r *run) readPlain(ctx context.Context, l Location) (string, error) {
	v, err := r.e.Reader.ReadValue(ctx, l)
	if err != nil {
		return "", err
	}
	return r.plain(l, v)
}

// plain is the value carried by content as read at l.
func (r *run) plain(l Location, content string) (string, error) {
	if l.Form == "" || content == "" {
		return content, nil
	}
	fd, ok := r.e.Reader.(FormDecoder)
	if !ok {
		return "", fmt.Errorf("cannot read the value back from the derived location %s: the reader does not decode forms", l)
	}
	v, err := fd.DecodeForm(l, content)
	if err != nil {
		return "", err
	}
	r.hide(v)
	return v, nil
}

// FormState is a derived location as it is live: the fingerprint of the form written there (never the
// form), and whether it is the form of Git's value.
type FormState struct {
	Location Location `json:"-"`
	Where    string   `json:"location"` // Location as text: PATH or PATH:KEY, and " (derived)"
	FormFP   string   `json:"form_fp,omitempty"`
	InSync   bool     `json:"in_sync"`
}

func formStates(s Secret, st SecretState) []FormState {
	var out []FormState
	for _, l := range s.Current {
		if l.Form != "" {
			out = append(out, FormState{Location: l, Where: l.String(), FormFP: st.Forms[l], InSync: st.Current[l] == s.DesiredFP})
		}
	}
	return out
}

// snapshotValue is the value l carried before the transaction, from the snapshot, decoded from its form
// when l is a derived location (the old password, not the whole URL), hidden from every text. found is
// false when the snapshot has no entry for l.
func (r *run) snapshotValue(ctx context.Context, l Location) (value string, found bool, err error) {
	saved, err := r.loadStash(ctx)
	if err != nil {
		return "", false, err
	}
	for _, s := range saved {
		if s.Path == l.Path && s.Key == l.Key {
			r.hide(s.Value)
			value, err = r.plain(l, s.Value)
			return value, true, err
		}
	}
	return "", false, nil
}
