package discover

// Heuristics of `rekey init`: which variables look like credentials, which kind of credential server
// they belong to, and whether an assignment is derived from another variable. Nothing here prints or
// returns a value.

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/rekeyhq/rekey/internal/images"
)

// Kinds of credential `rekey init` recognises. Only token and app-key are rekey types; the others are
// written as `type: token` with a comment saying which server holds the credential.
const (
	kindPostgres = images.Postgres
	kindMySQL    = images.MySQL
	kindRedis    = images.Redis
	kindSMTP     = "smtp"
	kindMongo    = images.Mongo
	kindAppKey   = "app-key"
	kindToken    = "token"
)

// secretSuffixes are name endings that say "credential".
var secretSuffixes = []string{"_PASSWORD", "_PASSWD", "_PASS", "_PWD", "_TOKEN", "_SECRET", "_KEY", "_API_KEY",
	"_DSN", "_CREDENTIALS", "_SECRET_KEY_BASE", "_SALT", "_SEED"}

// secretNames are whole names that say "credential".
var secretNames = []string{"PASSWORD", "SECRET", "TOKEN", "API_KEY", "APP_KEY", "SECRET_KEY_BASE", "DSN", "PGPASSWORD"}

// nonSecretSuffixes are name endings that never hold a credential, whatever the value looks like.
var nonSecretSuffixes = []string{"_PORT", "_HOST", "_HOSTNAME", "_USER", "_USERNAME", "_DB", "_DATABASE", "_NAME",
	"_VERSION", "_ENV", "_MODE", "_PATH", "_DIR", "_FILE", "_LEVEL", "_ENABLED", "_TIMEOUT", "_IMAGE", "_TAG",
	"_PUBLIC_KEY", "_ID", "_REGION", "_EMAIL", "_DOMAIN", "_TZ", "_LOCALE", "_LANG", "_TIME_ZONE", "_TIMEZONE"}

// nonSecretNames are whole names that never hold a credential.
var nonSecretNames = []string{"TZ", "LANG", "PATH", "HOME", "DEBUG", "LOG_LEVEL", "PUID", "PGID", "UID", "GID",
	"PORT", "HOST", "HOSTNAME", "NODE_ENV", "RAILS_ENV", "APP_ENV", "ENVIRONMENT", "DOMAIN"}

// appKeyNames are signing keys an application can usually accept in two versions (current and previous).
var appKeyNames = []string{"SECRET_KEY_BASE", "APP_KEY", "SESSION_SECRET", "SECRET_KEY", "COOKIE_SECRET",
	"JWT_SECRET", "SIGNING_KEY", "SESSION_KEY"}

// previousPatterns name the sibling variable holding the previous value of an app key.
var previousPatterns = []string{"%s_PREVIOUS", "%s_OLD", "PREVIOUS_%s", "OLD_%s", "%s_PREV"}

// nonSecretName reports a name that never holds a credential (ports, hosts, LOG_LEVEL, COMPOSE_*…).
func nonSecretName(name string) bool {
	n := strings.ToUpper(name)
	if strings.HasPrefix(n, "COMPOSE_") || strings.HasPrefix(n, "DOCKER_") || slices.Contains(nonSecretNames, n) {
		return true
	}
	return slices.ContainsFunc(nonSecretSuffixes, func(s string) bool { return strings.HasSuffix(n, s) })
}

// secretName reports a name that says "credential" by itself. URL variables are not: they count only
// when their value carries a password (see urlPassword).
func secretName(name string) bool {
	n := strings.ToUpper(name)
	if nonSecretName(n) {
		return false
	}
	return slices.Contains(secretNames, n) || slices.ContainsFunc(secretSuffixes, func(s string) bool { return strings.HasSuffix(n, s) })
}

// urlName reports a variable whose value is a URL that may embed a password.
func urlName(name string) bool {
	n := strings.ToUpper(name)
	return n == "DATABASE_URL" || strings.HasSuffix(n, "_URL") || strings.HasSuffix(n, "_URI") || strings.HasSuffix(n, "_DSN") || n == "DSN"
}

// urlPassword reports whether value is a URL with a password (`scheme://user:pass@host`), and its scheme.
func urlPassword(value string) (scheme string, ok bool) {
	u, err := url.Parse(strings.TrimSpace(value))
	if err != nil || u.Scheme == "" || u.User == nil {
		return "", false
	}
	pw, set := u.User.Password()
	return strings.ToLower(u.Scheme), set && pw != ""
}

// hostOrEmail reports a host name (two or more dot-separated labels of letters, digits and hyphens, the
// last alphabetic), optionally bracketed and with a port, or an email address at one: long and varied
// enough to pass for a token, but never one.
func hostOrEmail(v string) bool {
	if _, domain, ok := strings.Cut(v, "@"); ok {
		v = domain
	}
	v = strings.TrimPrefix(v, "[")
	if host, port, ok := strings.Cut(v, "]:"); ok {
		v = host
		if _, err := strconv.Atoi(port); err != nil {
			return false
		}
	} else if host, port, ok := strings.Cut(v, ":"); ok {
		if _, err := strconv.Atoi(port); err != nil {
			return false
		}
		v = host
	}
	v = strings.TrimSuffix(v, "]")
	labels := strings.Split(v, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") ||
			strings.ContainsFunc(l, func(r rune) bool {
				return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-')
			}) {
			return false
		}
	}
	last := labels[len(labels)-1]
	return !strings.ContainsFunc(last, func(r rune) bool { return r >= '0' && r <= '9' || r == '-' })
}

// entropy is the Shannon entropy of s in bits per character.
func entropy(s string) float64 {
	if s == "" {
		return 0
	}
	counts := map[rune]int{}
	n := 0
	for _, r := range s {
		counts[r]++
		n++
	}
	var h float64
	for _, c := range counts {
		p := float64(c) / float64(n)
		h -= p * math.Log2(p)
	}
	return h
}

// commandFlag is a command-line option: --data-checksums, --auth-host=md5.
var commandFlag = regexp.MustCompile(`^--?[a-z][a-z0-9-]*(=\S*)?$`)

// secretValue reports a value that looks like a generated credential: long, no spaces, not a path, a
// URL, a host name or an email address, mixed characters and high entropy.
func secretValue(v string) bool {
	if commandFlag.MatchString(v) {
		return false // --data-checksums: a command-line flag, not a key
	}
	if len(v) < 16 || len(v) > 4096 || strings.ContainsFunc(v, unicode.IsSpace) ||
		strings.HasPrefix(v, "/") || strings.HasPrefix(v, "./") || strings.Contains(v, "://") || hostOrEmail(v) {
		return false
	}
	var lower, upper, digit, other bool
	for _, r := range v {
		switch {
		case r >= 'a' && r <= 'z':
			lower = true
		case r >= 'A' && r <= 'Z':
			upper = true
		case r >= '0' && r <= '9':
			digit = true
		default:
			other = true
		}
	}
	classes := 0
	for _, b := range []bool{lower, upper, digit, other} {
		if b {
			classes++
		}
	}
	if classes < 2 {
		return false
	}
	// A random hex string of 16+ characters has ≈3.5 bits/char; base64 more; prose and version strings less.
	return entropy(v) >= 3.3
}

// candidateVar decides whether variable name with value is worth managing, and why.
func candidateVar(name, value string) (bool, string) {
	if value == "" || nonSecretName(name) {
		return false, ""
	}
	if urlName(name) {
		if _, ok := urlPassword(value); ok {
			return true, "URL with a password"
		}
		if strings.HasSuffix(strings.ToUpper(name), "DSN") {
			return true, "name"
		}
		return false, ""
	}
	if secretName(name) {
		return true, "name"
	}
	if secretValue(value) {
		return true, "high-entropy value"
	}
	return false, ""
}

// guess is what `rekey init` infers about a credential.
type guess struct {
	Kind      string // postgres, mysql, redis, smtp, mongodb, app-key or token
	Bootstrap bool   // read only when the server initialises its data directory
}

// guessKind infers the kind of credential from the variable's name, its value's URL scheme and the
// images of the services that read it.
func guessKind(name, value string, consumerImages []string, viaCommand bool) guess {
	n := strings.ToUpper(name)
	if family, ok := images.BootstrapOnly(n); ok { // the families are named as the kinds
		return guess{Kind: family, Bootstrap: true}
	}
	if slices.Contains(appKeyNames, n) || slices.ContainsFunc(appKeyNames, func(k string) bool { return strings.HasSuffix(n, "_"+k) }) {
		return guess{Kind: kindAppKey} // PAPERLESS_SECRET_KEY, AUTHENTIK_SECRET_KEY: an application's key
	}
	if scheme, ok := urlPassword(value); ok {
		switch {
		case strings.HasPrefix(scheme, "postgres"):
			return guess{Kind: kindPostgres}
		case strings.HasPrefix(scheme, "mysql"), strings.HasPrefix(scheme, "mariadb"):
			return guess{Kind: kindMySQL}
		case strings.HasPrefix(scheme, "redis"):
			return guess{Kind: kindRedis}
		case strings.HasPrefix(scheme, "smtp"):
			return guess{Kind: kindSMTP}
		case strings.HasPrefix(scheme, "mongodb"):
			return guess{Kind: kindMongo}
		}
	}
	switch {
	case strings.HasPrefix(n, "POSTGRES_") || strings.HasPrefix(n, "PG"):
		return guess{Kind: kindPostgres}
	case strings.HasPrefix(n, "MYSQL_") || strings.HasPrefix(n, "MARIADB_"):
		return guess{Kind: kindMySQL}
	case strings.HasPrefix(n, "REDIS_") || strings.HasPrefix(n, "VALKEY_"):
		return guess{Kind: kindRedis}
	case strings.HasPrefix(n, "SMTP_") || strings.HasPrefix(n, "MAIL_") || strings.HasPrefix(n, "EMAIL_"):
		return guess{Kind: kindSMTP}
	case strings.HasPrefix(n, "MONGO"):
		return guess{Kind: kindMongo}
	}
	// A mail password is one whatever else reads it: a postgres container that also reads the shared .env
	// does not make AUTHENTIK_EMAIL__PASSWORD a database password.
	if slices.ContainsFunc(tokens(n), func(w string) bool { return w == "SMTP" || w == "MAIL" || w == "EMAIL" || w == "MAILER" }) {
		return guess{Kind: kindSMTP}
	}
	for _, img := range consumerImages {
		switch family := images.Family(img); {
		case viaCommand && family == images.Redis:
			return guess{Kind: kindRedis} // `--requirepass ${X}` in the command
		case strings.HasSuffix(n, "PASSWORD") && (family == images.Postgres || family == images.MySQL):
			return guess{Kind: family}
		}
	}
	return guess{Kind: kindToken}
}

// previousSibling returns the variable among known that holds the previous value of an app key.
func previousSibling(name string, known func(string) bool) string {
	for _, p := range previousPatterns {
		if s := fmt.Sprintf(p, name); known(s) {
			return s
		}
	}
	return ""
}

// kindComment is the YAML comment for a credential proposed as a plain token that a server checks: as a
// token, a rotation changes the variable but not the server's password. init cannot tell which service is
// the server and how rekey reaches it as admin, so it says how to declare one instead of guessing.
func kindComment(name string, g guess) []string {
	var out []string
	switch g.Kind {
	case kindPostgres, kindMySQL, kindRedis, kindSMTP:
		out = append(out, fmt.Sprintf("%s credential: written as a plain token, so a rotation changes the variable but not the", g.Kind),
			fmt.Sprintf("server's own password. Declare the server (servers: {NAME: {type: %s, …}}) and set server: NAME", serverType(g.Kind)),
			"here so the server accepts old and new during the rotation: docs/providers.md.")
	case kindMongo:
		out = append(out, "mongodb credential: written as a plain token; rekey has no mongodb server type, so a rotation",
			"changes the variable but not the server's own password: change both together (or use type: exec).")
	}
	if g.Bootstrap {
		out = append(out, bootstrapComment(name, g.Kind)...)
	}
	return out
}

// bootstrapComment says that the database image of kind reads name only at initialisation.
func bootstrapComment(name, kind string) []string {
	return []string{fmt.Sprintf("BOOTSTRAP-ONLY: the %s image reads %s only when it initialises an empty data", kind, name),
		"directory. Rotating it here does NOT change the password in the running database."}
}

// serverType is the servers type for a credential kind.
func serverType(kind string) string {
	if kind == kindMySQL {
		return "mariadb"
	}
	return kind
}

// derivedLine reports whether the raw assignment of v in a dotenv file refers to another variable
// (`URL=postgres://u:${PASSWORD}@db/x`): rekey would replace the reference with a literal.
func derivedLine(data []byte, v string) bool {
	re := regexp.MustCompile(`(?m)^[ \t]*(export[ \t]+)?` + regexp.QuoteMeta(v) + `[ \t]*=(.*)$`)
	m := re.FindAllSubmatch(data, -1)
	if len(m) == 0 {
		return false
	}
	last := string(m[len(m)-1][2])
	return !strings.HasPrefix(strings.TrimSpace(last), "'") && regexp.MustCompile(`\$\{?[A-Za-z_]`).MatchString(last)
}
