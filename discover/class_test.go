package discover

import (
	"math"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/config"
)

// TestClassify: data-protecting keys are never, third-party values issued, the rest generated; every
// class comes with a reason.
func TestClassify(t *testing.T) {
	env := map[string]string{"VAPID_PRIVATE_KEY": "x", "VAPID_PUBLIC_KEY": "y", "SMTP_HOST": "smtp.example.net",
		"MAIL_HOST": "mailer", "JWT_PRIVATE_KEY": "a", "JWT_PUBLIC_KEY": "b"}
	for _, c := range []struct {
		v, kind, value string
		aliases        []string
		want           string
	}{
		{"FIELD_ENCRYPTION_KEY", kindToken, "", nil, config.RotationNever},
		{"HASH_SALT", kindToken, "", nil, config.RotationNever},
		{"TOTP_VAULT_KEY", kindToken, "", nil, config.RotationNever},
		{"OTP_SECRET", kindToken, "", nil, config.RotationNever},
		{"VAPID_PRIVATE_KEY", kindToken, "", nil, config.RotationNever},
		{"VAPID_PUBLIC_KEY", kindToken, "", nil, config.RotationNever},
		{"JWT_PRIVATE_KEY", kindToken, "", nil, config.RotationNever},
		{"SIGNING_PEM", kindToken, "-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----\n", nil, config.RotationNever},
		{"GITEA_SECRET_KEY", kindAppKey, "", []string{"GITEA__security__SECRET_KEY"}, config.RotationNever},
		{"GOOGLE_CLIENT_SECRET", kindToken, "", nil, config.RotationIssued},
		{"OIDC_CLIENT_SECRET", kindToken, "", nil, config.RotationIssued},
		{"MAXMIND_LICENSE_KEY", kindToken, "", nil, config.RotationIssued},
		{"STRIPE_API_KEY", kindToken, "", nil, config.RotationIssued},
		{"SMTP_PASSWORD", kindSMTP, "", nil, config.RotationIssued},
		{"MAIL_PASSWORD", kindSMTP, "", nil, config.RotationGenerated}, // the stack's own mail server
		{"CLIENT_ID_PREFIX", kindToken, "", nil, config.RotationGenerated},
		{"SESSION_SECRET", kindAppKey, "", nil, config.RotationGenerated},
		{"DB_PASSWORD", kindPostgres, "", nil, config.RotationGenerated},
	} {
		s := &Secret{Var: c.v, Kind: c.kind, value: c.value, aliases: c.aliases}
		got := classify(s, env, []string{"app", "mailer", "db"})
		if got.Name != c.want || got.Reason == "" {
			t.Errorf("%s: %s (%s), want %s with a reason", c.v, got.Name, got.Reason, c.want)
		}
	}
}

// TestDeriveGenerate: the proposed generate: keeps the current value's charset and fixed text and is
// never weaker than it (nor than rekey's default of 32 characters).
func TestDeriveGenerate(t *testing.T) {
	for value, want := range map[string]config.Generate{
		strings.Repeat("0123456789abcdef", 8):           {Length: 128, Charset: "hex"},
		"Zx9kQ2mP4vL8nR3tY7wB5cD1":                      {Length: 32},
		strings.Repeat("aB3dE5gH7jK9mN1pQ3sT5vW7yZ", 3): {Length: 78},
		"sk_live_" + strings.Repeat("a1B2c3D4", 4):      {Length: 32, Format: "sk_live_{value}"},
		"postgres://app:Pw9xT2kL7mQ4vZ8r@db:5432/app":   {Length: 32, Format: "postgres://app:{value}@db:5432/app"},
		"kT4+pw/9x=" + strings.Repeat("Ab1+", 20):       {Length: 99, Charset: "base64url"},
		"abc-def_" + strings.Repeat("Gh1", 10):          {Length: 38, Charset: "base64url"},
		"short":                                         {Length: 32},
	} {
		got := deriveGenerate(value)
		if *got != want {
			t.Errorf("%.20s…: %+v, want %+v", value, *got, want)
		}
		// never weaker: at least as many bits as the current value's length in its own alphabet
		_, bits := charsetOf(value)
		per := map[string]float64{"hex": 4, "": math.Log2(62), "base64url": 6}[got.Charset]
		if got.Format == "" && float64(got.Length)*per < float64(len(value))*bits-0.01 {
			t.Errorf("%.20s…: %d characters of %s are weaker than the current value", value, got.Length, got.Charset)
		}
	}
}
