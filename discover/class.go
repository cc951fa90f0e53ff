package discover

// The rotation class `rekey init` proposes for each secret, with its reason: whether rekey may make new
// values (generated), must leave that to whoever issues them (issued), or must never change the value
// because the data it protects would be lost (never). Nothing here returns a value.

import (
	"fmt"
	"slices"
	"strings"

	"github.com/rekeyhq/rekey/config"
)

// class is a proposed rotation class and why.
type class struct {
	Name, Reason string
}

// neverNames are variables of well-known applications that protect data although their names do not
// say so: the application's own documentation says not to change them after the first start.
var neverNames = map[string]string{
	"AUTHENTIK_SECRET_KEY":        "authentik derives user identifiers and signs its data with it; its documentation says never to change it after the first install",
	"GITEA__SECURITY__SECRET_KEY": "Gitea encrypts two-factor secrets and stored credentials with it",
	"TOTP_VAULT_KEY":              "encrypts the users' TOTP seeds: a new value locks every user with two-factor authentication out",
	"OTP_SECRET":                  "derives the users' one-time-password seeds: a new value breaks every enrolled authenticator",
}

// neverTokens are words of a variable name that say the value protects data at rest.
var neverTokens = map[string]string{
	"ENCRYPTION": "encrypts data at rest: a new value makes the data already encrypted unreadable",
	"ENCRYPT":    "encrypts data at rest: a new value makes the data already encrypted unreadable",
	"CIPHER":     "encrypts data at rest: a new value makes the data already encrypted unreadable",
	"SALT":       "a salt: every hash or key derived with it stops matching when it changes",
	"OTP":        "one-time-password seeds depend on it: a new value breaks every enrolled authenticator",
	"TOTP":       "one-time-password seeds depend on it: a new value breaks every enrolled authenticator",
	"HOTP":       "one-time-password seeds depend on it: a new value breaks every enrolled authenticator",
	"MFA":        "two-factor seeds depend on it: a new value breaks every enrolled authenticator",
	"2FA":        "two-factor seeds depend on it: a new value breaks every enrolled authenticator",
}

// issuedTokens are words of a variable name that say the value comes from someone else.
var issuedTokens = map[string]string{
	"CLIENT":       "an OAuth/OIDC client secret: the identity provider issues it",
	"LICENSE":      "a licence key: the vendor issues it",
	"LICENCE":      "a licence key: the vendor issues it",
	"INSTALLATION": "an installation key: the vendor's service issues it",
}

// providers are outside services whose API keys appear in compose stacks: their keys are issued there.
var providers = []string{"AWS", "S3", "STRIPE", "SENDGRID", "MAILGUN", "POSTMARK", "TWILIO", "GOOGLE", "GITHUB",
	"GITLAB", "OPENAI", "ANTHROPIC", "CLOUDFLARE", "MAXMIND", "SLACK", "DISCORD", "TELEGRAM", "PUSHOVER", "BREVO",
	"SES", "HCAPTCHA", "RECAPTCHA", "TURNSTILE", "DEEPL", "SENTRY", "BACKBLAZE", "B2", "WASABI", "AZURE", "MAPBOX",
	"GEOIPUPDATE", "ONESIGNAL", "FIREBASE", "FCM", "APNS", "MICROSOFT", "FACEBOOK", "APPLE", "OKTA", "AUTH0"}

// tokens splits a variable name into its words (GITEA__security__SECRET_KEY → GITEA SECURITY SECRET KEY).
func tokens(name string) []string {
	return strings.FieldsFunc(strings.ToUpper(name), func(r rune) bool { return r == '_' || r == '.' || r == '-' })
}

// classify proposes the rotation class of a secret. env holds the assigned variables' values (to find
// the other half of a keypair and the host of a mail password), services the stack's services.
func classify(s *Secret, env map[string]string, services []string) class {
	names := append([]string{s.Var}, s.aliases...)
	if s.Var == "" {
		names[0] = s.Name
	}
	var words []string
	for _, n := range names {
		if why, ok := neverNames[strings.ToUpper(n)]; ok {
			return class{config.RotationNever, why}
		}
		words = append(words, tokens(n)...)
	}
	if other := keypairHalf(s.Var, env); other != "" {
		return class{config.RotationNever, fmt.Sprintf("one half of a keypair with %s: a new value for one half breaks the pair (and what was signed or subscribed with it)", other)}
	}
	if strings.Contains(s.value, "PRIVATE KEY-----") {
		return class{config.RotationNever, "a private key: its public half is published or pinned elsewhere, so a new one breaks what trusts it"}
	}
	for _, w := range words {
		if why, ok := neverTokens[w]; ok {
			return class{config.RotationNever, why}
		}
	}
	if c, ok := issued(s, words, env, services); ok {
		return c
	}
	return class{config.RotationGenerated, "made for this stack: rekey may generate a new value and update every consumer"}
}

// issued reports a value made outside the stack: an OAuth client secret, a licence, an API key of a known
// provider, a mail password at an outside provider.
func issued(s *Secret, words []string, env map[string]string, services []string) (class, bool) {
	for _, w := range words {
		if why, ok := issuedTokens[w]; ok && (w != "CLIENT" || slices.Contains(words, "SECRET")) {
			return class{config.RotationIssued, why}, true
		}
	}
	for _, w := range words {
		if slices.Contains(providers, w) {
			return class{config.RotationIssued, fmt.Sprintf("a %s credential: %s issues it; rekey cannot make one", strings.ToLower(w), strings.ToLower(w))}, true
		}
	}
	if s.Kind != kindSMTP {
		return class{}, false
	}
	host := mailHost(s.Var, env)
	switch {
	case host == "":
		return class{config.RotationIssued, "a mail password: the mail provider issues it (no mail host of this stack found)"}, true
	case slices.Contains(services, host):
		return class{}, false // the stack's own mail server
	}
	return class{config.RotationIssued, fmt.Sprintf("a mail password at %s, outside this stack: the provider issues it", host)}, true
}

// mailHost finds the host variable next to a mail password (SMTP_PASSWORD → SMTP_HOST or SMTP_SERVER),
// its host name without a port.
func mailHost(v string, env map[string]string) string {
	up := strings.ToUpper(v)
	i := strings.LastIndexAny(up, "_")
	for i >= 0 {
		prefix := v[:i+1]
		for _, suffix := range []string{"HOST", "SERVER", "ADDR", "HOST_ADDR", "SMTP_HOST", "HOSTNAME", "SMTP_ADDR", "SMTP_SERVER"} {
			for _, k := range []string{prefix + suffix, prefix + strings.ToLower(suffix)} {
				if h, ok := env[k]; ok && h != "" {
					h = strings.TrimPrefix(strings.TrimPrefix(h, "smtp://"), "smtps://")
					h, _, _ = strings.Cut(h, ":")
					return strings.ToLower(h)
				}
			}
		}
		i = strings.LastIndex(up[:i], "_")
	}
	return ""
}

// keypairHalf names the other half of a keypair v belongs to ("" if none): X_PRIVATE_KEY and X_PUBLIC_KEY,
// or two VAPID_* keys.
func keypairHalf(v string, env map[string]string) string {
	up := strings.ToUpper(v)
	for _, pair := range [][2]string{{"PRIVATE_KEY", "PUBLIC_KEY"}, {"PRIVKEY", "PUBKEY"}, {"PRIVATE", "PUBLIC"}} {
		for _, o := range [][2]string{pair, {pair[1], pair[0]}} {
			if i := strings.LastIndex(up, o[0]); i >= 0 {
				other := v[:i] + o[1] + v[i+len(o[0]):]
				if _, ok := env[other]; ok {
					return other
				}
			}
		}
	}
	return ""
}

// publicHalves are the public halves of keypairs whose private half is a candidate: not secrets
// themselves, but rotating the private half alone breaks the pair, so both are proposed as never.
func publicHalves(cands []candidate, env map[string]string) []string {
	var out []string
	for _, c := range cands {
		up := strings.ToUpper(c.name)
		if !strings.Contains(up, "PRIVATE") && !strings.Contains(up, "PRIVKEY") {
			continue
		}
		if other := keypairHalf(c.name, env); other != "" && !slices.Contains(out, other) &&
			!slices.ContainsFunc(cands, func(d candidate) bool { return d.name == other }) {
			out = append(out, other)
		}
	}
	return out
}

// identifierWords are words of a compose secret's name that say it holds a name, not a credential.
var identifierWords = []string{"USER", "USERNAME", "LOGIN", "DB", "DATABASE", "NAME", "DBNAME", "HOST", "EMAIL"}

// credentialWords are words that say the opposite.
var credentialWords = []string{"PASSWORD", "PASS", "PASSWD", "PWD", "TOKEN", "KEY", "SECRET", "CREDENTIALS"}

// identifierFile reports a compose secret file holding a short identifier (postgres_user: "immich"):
// projects keep user and database names next to their passwords, but they are not credentials.
func identifierFile(name, value string) bool {
	words := tokens(name)
	if slices.ContainsFunc(words, func(w string) bool { return slices.Contains(credentialWords, w) }) ||
		!slices.ContainsFunc(words, func(w string) bool { return slices.Contains(identifierWords, w) }) {
		return false
	}
	v := strings.TrimSpace(value)
	return len(v) <= 64 && !strings.ContainsFunc(v, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-.@", r))
	})
}

// fileKind guesses the kind of a compose secret from its name (postgres_password, redis_pass…); a plain
// db_password read through POSTGRES_PASSWORD_FILE gets its kind from the image once plan's consumers are
// known (markReaders).
func fileKind(name string) string {
	if g := guessKind(strings.ToUpper(name), "", nil, false); g.Kind != kindAppKey {
		return g.Kind
	}
	return kindToken
}
