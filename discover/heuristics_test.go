package discover

import "testing"

func TestInitSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"POSTGRES_PASSWORD": true, "SMTP_PASS": true, "GITHUB_TOKEN": true, "JWT_SECRET": true,
		"STRIPE_API_KEY": true, "APP_KEY": true, "SECRET_KEY_BASE": true, "SENTRY_DSN": true, "PASSWORD": true,
		"DB_PORT": false, "DB_HOST": false, "LOG_LEVEL": false, "COMPOSE_PROJECT_NAME": false, "POSTGRES_USER": false,
		"POSTGRES_PASSWORD_FILE": false, "VAPID_PUBLIC_KEY": false, "DATABASE_URL": false, "TZ": false,
		"AWS_ACCESS_KEY_ID": false,
	} {
		if got := secretName(name); got != want {
			t.Errorf("secretName(%s) = %v, want %v", name, got, want)
		}
	}
}

func TestInitSecretValue(t *testing.T) {
	for v, want := range map[string]bool{
		"9f8e7d6c5b4a39281706f5e4d3c2b1a0":      true,  // 32 hex
		"Zx8vQ2mLp0RtY7wKcB3nHs5J":              true,  // base64-ish
		"old-session-secret-value-0123456789":   true,  // long and mixed
		"changeme":                              false, // short
		"aaaaaaaaaaaaaaaaaaaaaaaa":              false, // one class, no entropy
		"https://example.com/some/long/path/x1": false, // a URL
		"/var/lib/postgresql/data/pgdata":       false, // a path
		"this is a sentence with spaces 123":    false,
		"12345678901234567890":                  false, // digits only
		"1.2.3-alpha.4":                         false,
		"productionproductionproduction":        false,
		"shop@example.org":                      false, // an email address
		"news.example.org":                      false, // a host name
		"[smtp.example.net]:587":                false, // a relay, bracketed, with a port
		"db-replica-2.internal.example:5432":    false,
		"SG.Zx8vQ2mLp0RtY7wK.cB3nHs5J9f8e7d6c":  true,  // dots, but a token (digits in the last part)
		"--data-checksums":                      false, // a command-line flag (entropy 3.33)
		"--auth-host=scram-sha-256":             false,
	} {
		if got := secretValue(v); got != want {
			t.Errorf("secretValue(%q) = %v (entropy %.2f), want %v", v, got, entropy(v), want)
		}
	}
}

func TestInitCandidateVar(t *testing.T) {
	for _, c := range []struct {
		name, value string
		want        bool
		why         string
	}{
		{"DATABASE_URL", "postgres://app:s3cret@db:5432/app", true, "URL with a password"},
		{"DATABASE_URL", "postgres://app@db:5432/app", false, ""},
		{"REDIS_URL", "redis://cache:6379/0", false, ""},
		{"BROKER_URL", "amqp://guest:guest@rabbit//", true, "URL with a password"},
		{"SENTRY_DSN", "https://abc@o1.ingest.sentry.io/1", true, "name"},
		{"POSTGRES_PASSWORD", "x", true, "name"},
		{"POSTGRES_PASSWORD", "", false, ""},
		{"WEIRD_THING", "9f8e7d6c5b4a39281706f5e4d3c2b1a0", true, "high-entropy value"},
		{"APP_PORT", "9f8e7d6c5b4a39281706f5e4d3c2b1a0", false, ""},
		{"COMPOSE_PROJECT_NAME", "Zx8vQ2mLp0RtY7wKcB3nHs5J", false, ""},
		{"GREETING", "hello", false, ""},
	} {
		got, why := candidateVar(c.name, c.value)
		if got != c.want || why != c.why {
			t.Errorf("candidateVar(%s, …) = %v %q, want %v %q", c.name, got, why, c.want, c.why)
		}
	}
}

func TestInitURLPassword(t *testing.T) {
	for v, want := range map[string]string{
		"postgres://u:p@h/db":     "postgres",
		"mysql://root:pw@db:3306": "mysql",
		"rediss://:pw@cache:6380": "rediss",
		"smtp://u:@mail":          "",
		"http://example.com":      "",
		"not a url":               "",
	} {
		scheme, ok := urlPassword(v)
		if ok != (want != "") || ok && scheme != want {
			t.Errorf("urlPassword(%q) = %q %v, want %q", v, scheme, ok, want)
		}
	}
}

func TestInitGuessKind(t *testing.T) {
	for _, c := range []struct {
		name, value string
		images      []string
		viaCommand  bool
		want        guess
	}{
		{"POSTGRES_PASSWORD", "x", []string{"postgres:16"}, false, guess{kindPostgres, true}},
		{"MARIADB_ROOT_PASSWORD", "x", nil, false, guess{kindMySQL, true}},
		{"MYSQL_ROOT_PASSWORD", "x", nil, false, guess{kindMySQL, true}},
		{"DATABASE_URL", "postgresql://a:b@db/x", nil, false, guess{kindPostgres, false}},
		{"CACHE_URL", "redis://:pw@cache", nil, false, guess{kindRedis, false}},
		{"REDIS_PASSWORD", "x", nil, false, guess{kindRedis, false}},
		{"CACHE_SECRET", "x", []string{"docker.io/library/redis:7-alpine"}, true, guess{kindRedis, false}},
		{"CACHE_SECRET", "x", []string{"redis:7"}, false, guess{kindToken, false}},
		{"SMTP_PASSWORD", "x", nil, false, guess{kindSMTP, false}},
		{"DB_PASSWORD", "x", []string{"bitnami/postgresql:16@sha256:abc"}, false, guess{kindPostgres, false}},
		{"SESSION_SECRET", "x", nil, false, guess{kindAppKey, false}},
		{"SECRET_KEY_BASE", "x", nil, false, guess{kindAppKey, false}},
		{"APP_KEY", "x", nil, false, guess{kindAppKey, false}},
		{"GITHUB_TOKEN", "x", []string{"demo"}, false, guess{kindToken, false}},
		{"PAPERLESS_SECRET_KEY", "x", nil, false, guess{kindAppKey, false}},
		{"GITEA_JWT_SECRET", "x", nil, false, guess{kindAppKey, false}},
		// a mail password is one even when a postgres container reads the shared .env
		{"AUTHENTIK_EMAIL__PASSWORD", "x", []string{"postgres:16"}, false, guess{kindSMTP, false}},
		{"GITEA__mailer__PASSWD", "x", nil, false, guess{kindSMTP, false}},
	} {
		if got := guessKind(c.name, c.value, c.images, c.viaCommand); got != c.want {
			t.Errorf("guessKind(%s) = %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestInitPreviousSibling(t *testing.T) {
	known := map[string]bool{"SESSION_SECRET_PREVIOUS": true, "APP_KEY_OLD": true}
	is := func(v string) bool { return known[v] }
	for name, want := range map[string]string{"SESSION_SECRET": "SESSION_SECRET_PREVIOUS", "APP_KEY": "APP_KEY_OLD", "JWT_SECRET": ""} {
		if got := previousSibling(name, is); got != want {
			t.Errorf("previousSibling(%s) = %q, want %q", name, got, want)
		}
	}
}

func TestInitSecretNameFor(t *testing.T) {
	used := map[string]bool{}
	for _, c := range [][2]string{{"POSTGRES_PASSWORD", "postgres-password"}, {"webhook_token", "webhook-token"},
		{"WEBHOOK_TOKEN", "webhook-token-2"}, {"__", "secret"}} {
		if got := secretNameFor(c[0], used); got != c[1] {
			t.Errorf("secretNameFor(%s) = %q, want %q", c[0], got, c[1])
		}
	}
}

func TestInitDerivedLine(t *testing.T) {
	data := []byte("PASSWORD=abc\nURL=postgres://u:${PASSWORD}@db/x\nQUOTED='lit$eral'\nPLAIN=x$\n")
	for v, want := range map[string]bool{"URL": true, "PASSWORD": false, "QUOTED": false, "PLAIN": false, "MISSING": false} {
		if got := derivedLine(data, v); got != want {
			t.Errorf("derivedLine(%s) = %v, want %v", v, got, want)
		}
	}
}
