package live

import (
	"context"
	"fmt"

	"github.com/rekeyhq/rekey/internal/derive"
	"github.com/rekeyhq/rekey/reconcile"
)

// Forms renders and reads back the derived locations of the desired state (reconcile/derived.go), with
// the desired values. A rendered form is written, never logged or returned in an error.
type Forms struct {
	Set    derive.Set
	Values func(secret string) (string, bool)
}

func (f *Forms) spec(l reconcile.Location) (*derive.Spec, error) {
	if f == nil || f.Set[l.Form] == nil {
		return nil, fmt.Errorf("no form for the derived location %s", l)
	}
	return f.Set[l.Form], nil
}

func (f *Forms) data(value, login, existing string) derive.Data {
	return derive.Data{Value: value, Login: login, Existing: existing, Secret: f.Values}
}

// WriteForm implements reconcile.FormWriter: it renders the form at l from value and login (keeping a
// bcrypt cost, and a hash that verifies value, from what l holds) and writes it in place.
func (fs Files) WriteForm(ctx context.Context, l reconcile.Location, value, login string) error {
	out, err := fs.renderForm(ctx, l, value, login)
	if err != nil {
		return err
	}
	return fs.WriteValue(ctx, reconcile.Location{Path: l.Path, Key: l.Key}, out)
}

// renderForm renders the form at l from value and login, as WriteForm writes it.
func (fs Files) renderForm(ctx context.Context, l reconcile.Location, value, login string) (string, error) {
	spec, err := fs.Forms.spec(l)
	if err != nil {
		return "", err
	}
	existing, err := fs.ReadValue(ctx, l)
	if err != nil {
		return "", err
	}
	if login == "" {
		login = spec.DefaultLogin()
	}
	if login == "" && spec.Form.UsesLogin() {
		if _, live, ok := spec.Form.Decode(existing, fs.Forms.data("", "", "")); ok {
			login = live
		} else {
			return "", fmt.Errorf("derived %s: the server did not say which login the value is for, and %s does not show it", spec.Where, l)
		}
	}
	out, err := spec.Form.Render(fs.Forms.data(value, login, existing))
	if err == nil {
		err = spec.Check(out)
	}
	if err != nil {
		return "", fmt.Errorf("secret %s: %w", spec.Secret, err)
	}
	return out, nil
}

// DecodeForm implements reconcile.FormDecoder: the value a URL form carries as its password.
func (fs Files) DecodeForm(l reconcile.Location, form string) (string, error) {
	spec, err := fs.Forms.spec(l)
	if err != nil {
		return "", err
	}
	v, _, ok := spec.Form.Decode(form, fs.Forms.data("", "", ""))
	if !ok {
		return "", fmt.Errorf("derived %s: %s holds no form rekey can read the value back from", spec.Where, l)
	}
	return v, nil
}

// carried is the fingerprint of the value the form at l carries: desiredFP when it is the form of Git's
// value (a hash verifies it, a URL parses to it), the fingerprint of the value read back from a URL
// form, else the form's own fingerprint marked "form:" (a hand edit, or an older value's hash).
func (f *Forms) carried(l reconcile.Location, form string, fp func(string) string, desiredFP string) string {
	spec, err := f.spec(l)
	if err != nil || form == "" {
		return ""
	}
	if v, ok := f.Values(spec.Secret); ok && spec.Form.Match(form, f.data(v, "", form), spec.Logins) {
		return desiredFP
	}
	if v, _, ok := spec.Form.Decode(form, f.data("", "", "")); ok {
		return fp(v)
	}
	return "form:" + fp(form)
}
