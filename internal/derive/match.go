package derive

import (
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Match reports whether live is the form of d's value. A form holding bcrypt hashes is checked, not
// compared: live must be the rendering with a hash in place of each call, and each hash must verify its
// value. A form that renders a URL is compared after parsing (escaping, host case and query order do
// not count). Anything else is compared byte for byte. logins are the logins .login may stand for
// (both login roles of a server whose logins take turns); nil means d.Login.
func (f *Form) Match(live string, d Data, logins []string) bool {
	if logins == nil || !f.login {
		logins = []string{d.Login}
	}
	for _, l := range logins {
		d.Login = l
		if f.match(live, d) {
			return true
		}
	}
	return false
}

func (f *Form) match(live string, d Data) bool {
	want, hashes, err := f.exec(d, modeMatch)
	if err != nil {
		return false
	}
	if len(hashes) == 0 {
		return live == want || urlEqual(live, want)
	}
	return matchHashes(live, want, hashes)
}

// matchHashes matches live against want, whose markers stand for bcrypt hashes of hashes' values.
func matchHashes(live, want string, hashes []hashed) bool {
	var re strings.Builder
	re.WriteString(`\A`)
	rest := want
	for i := range hashes {
		m := marker(i)
		before, after, ok := strings.Cut(rest, m)
		if !ok {
			return false
		}
		re.WriteString(regexp.QuoteMeta(before))
		re.WriteString(`(\$2[abxy]\$[0-9]{2}\$[./A-Za-z0-9]{53})`)
		rest = after
	}
	re.WriteString(regexp.QuoteMeta(rest))
	re.WriteString(`\z`)
	g := regexp.MustCompile(re.String()).FindStringSubmatch(live)
	if g == nil {
		return false
	}
	for i, h := range hashes {
		if bcrypt.CompareHashAndPassword([]byte(g[i+1]), []byte(h.value)) != nil {
			return false
		}
	}
	return true
}

// asURL parses s as an absolute URL with a host, or returns nil.
func asURL(s string) *url.URL {
	if strings.ContainsAny(s, "\n\r\x00") {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil
	}
	return u
}

// urlEqual compares two URLs after parsing: scheme and host without case, user and password, path and
// fragment unescaped, and the query as a set of parameters.
func urlEqual(a, b string) bool {
	ua, ub := asURL(a), asURL(b)
	if ua == nil || ub == nil {
		return false
	}
	pa, _ := ua.User.Password()
	pb, _ := ub.User.Password()
	qa, errA := url.ParseQuery(ua.RawQuery)
	qb, errB := url.ParseQuery(ub.RawQuery)
	return strings.EqualFold(ua.Scheme, ub.Scheme) && strings.EqualFold(ua.Host, ub.Host) &&
		ua.User.Username() == ub.User.Username() && pa == pb &&
		(ua.User == nil) == (ub.User == nil) && ua.Path == ub.Path && ua.Fragment == ub.Fragment &&
		ua.Opaque == ub.Opaque && errA == nil && errB == nil && maps.EqualFunc(qa, qb, slices.Equal[[]string])
}

// Decode reads back the value and login a live URL form carries: its password and user name, confirmed
// by rendering them again (so it works for forms whose password is urlquery .value, not for one-way or
// otherwise encoded ones). d gives the other secrets; its Value and Login are ignored.
func (f *Form) Decode(live string, d Data) (value, login string, ok bool) {
	u := asURL(live)
	if u == nil || u.User == nil {
		return "", "", false
	}
	pw, set := u.User.Password()
	if !set || pw == "" || f.oneWay {
		return "", "", false
	}
	d.Value, d.Login = pw, u.User.Username()
	if !f.match(live, d) {
		return "", "", false
	}
	return d.Value, d.Login, true
}

// Decodable reports whether the form can give back the value it carries (Decode), judged on a rendering
// of sample data: the secret's current value must be readable from the form itself when no plain
// location holds it.
func (f *Form) Decodable(d Data) bool {
	d.Value, d.Login = "s@mple:/?#%+ pä", "user"
	out, err := f.Probe(d)
	if err != nil {
		return false
	}
	v, _, ok := f.Decode(out, d)
	return ok && v == d.Value
}
