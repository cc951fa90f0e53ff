package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"os"
	"strings"
	"time"
)

const defaultWebhookTokenFile = "/run/secrets/webhook_token"

// webConfig is what the web mode reads at startup.
type webConfig struct {
	Current      string        // SESSION_SECRET
	Previous     string        // SESSION_SECRET_PREVIOUS, "" = none
	WebhookToken string        // content of WEBHOOK_TOKEN_FILE, "" = none
	RedisAddr    string        // REDIS_ADDR: accepted jobs are counted there, "" = not
	RedisUser    string        // REDIS_USER, "" = the default user
	RedisPass    string        // REDIS_PASSWORD, "" = no AUTH
	DBAddr       string        // DB_ADDR (host:port): hits are counted in PostgreSQL there too, "" = not
	DBUser       string        // DB_USER: the login role, which rotations alternate
	DBPass       string        // DB_PASSWORD
	DBName       string        // DB_NAME
	BootDelay    time.Duration // DEMOAPP_BOOT_DELAY: the wait before listening (boot.go), 0 = none
}

// loadWebConfig reads and validates the web mode's configuration.
func loadWebConfig(getenv func(string) string) (webConfig, error) {
	cfg := webConfig{
		Current:   getenv("SESSION_SECRET"),
		Previous:  getenv("SESSION_SECRET_PREVIOUS"),
		RedisAddr: getenv("REDIS_ADDR"),
		RedisUser: getenv("REDIS_USER"),
		RedisPass: getenv("REDIS_PASSWORD"),
		DBAddr:    getenv("DB_ADDR"),
		DBUser:    getenv("DB_USER"),
		DBPass:    getenv("DB_PASSWORD"),
		DBName:    getenv("DB_NAME"),
	}
	if err := checkSecret("SESSION_SECRET", cfg.Current); err != nil {
		return cfg, err
	}
	delay, err := parseBootDelay(getenv(bootDelayEnv))
	if err != nil {
		return cfg, err
	}
	cfg.BootDelay = delay
	if cfg.Previous != "" && len(cfg.Previous) < minSecretLen {
		return cfg, errors.New("SESSION_SECRET_PREVIOUS is too short")
	}
	path := getenv("WEBHOOK_TOKEN_FILE")
	if path == "" {
		path = defaultWebhookTokenFile
	}
	token, err := readTokenFile(path)
	if err != nil {
		return cfg, err
	}
	cfg.WebhookToken = token
	return cfg, nil
}

// readTokenFile returns the token in path without trailing newlines; a missing
// file is no token.
func readTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("failed to read webhook token file %s: %w", path, errors.Unwrap(err))
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// sign returns hex(HMAC-SHA256(key, body)).
func sign(key string, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// validSignature reports whether sigHex is the HMAC of body under key.
func validSignature(key string, body []byte, sigHex string) bool {
	if key == "" {
		return false
	}
	sig, err := hex.DecodeString(strings.TrimSpace(sigHex))
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return hmac.Equal(sig, m.Sum(nil))
}

// newWebHandler serves /healthz, /fingerprint, /count and /jobs for cfg; db may be nil.
func newWebHandler(cfg webConfig, db *hits, logger *log.Logger) http.Handler {
	fps := map[string]string{
		"session_key":          fingerprint(cfg.Current),
		"session_key_previous": fingerprintOrEmpty(cfg.Previous),
		"webhook_token":        fingerprintOrEmpty(cfg.WebhookToken),
		"redis_password":       fingerprintOrEmpty(cfg.RedisPass),
		"db_password":          fingerprintOrEmpty(cfg.DBPass),
		"db_user":              cfg.DBUser, // a name, not a secret
	}
	var jobs *store
	if cfg.RedisAddr != "" {
		jobs = newStore(cfg.RedisAddr, cfg.RedisUser, cfg.RedisPass, 4)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if db != nil {
			if err := db.Ping(r.Context()); err != nil {
				logger.Printf("healthz: postgres: %v", err)
				http.Error(w, "postgres unavailable", http.StatusServiceUnavailable)
				return
			}
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /fingerprint", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, fps)
	})
	// /count is the load generator's target (bench B2): one Redis INCR per request, no signature. A failed
	// login answers 503 "redis auth failed", anything else 503 "redis unavailable", so that a client can
	// tell an authentication failure from an outage.
	mux.HandleFunc("GET /count", func(w http.ResponseWriter, r *http.Request) {
		if jobs == nil {
			http.Error(w, "no redis configured", http.StatusNotFound)
			return
		}
		n, err := jobs.Incr(r.Context(), "demo:hits")
		switch {
		case errors.Is(err, errAuth):
			http.Error(w, "redis auth failed", http.StatusServiceUnavailable)
			return
		case err != nil:
			http.Error(w, "redis unavailable", http.StatusServiceUnavailable)
			return
		}
		if db != nil {
			if n, err = db.Hit(r.Context()); errors.Is(err, errDBAuth) {
				logger.Printf("count: %v", err)
				http.Error(w, "postgres auth failed", http.StatusServiceUnavailable)
				return
			} else if err != nil {
				http.Error(w, "postgres unavailable", http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintf(w, "%d", n)
	})
	mux.HandleFunc("POST /jobs", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		sig := r.Header.Get("X-Signature")
		note := ""
		switch {
		case validSignature(cfg.Current, body, sig):
		case validSignature(cfg.Previous, body, sig):
			note = " (previous key)"
		default:
			logger.Printf("job from %s rejected: invalid signature", r.RemoteAddr)
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
		if jobs != nil {
			if _, err := jobs.Incr(r.Context(), "demo:jobs"); err != nil {
				// The error is the server's reply (WRONGPASS …) or a network error: never the password.
				logger.Printf("job from %s not counted: redis: %v", r.RemoteAddr, err)
				http.Error(w, "redis unavailable", http.StatusServiceUnavailable)
				return
			}
		}
		io.WriteString(w, "accepted"+note)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func runWeb(getenv func(string) string) int {
	cfg, err := loadWebConfig(getenv)
	if err != nil {
		log.Printf("fatal: %v", err)
		return 1
	}
	log.Printf("web: listening on :8080 session_key=%s session_key_previous=%s webhook_token=%s",
		fingerprint(cfg.Current), fingerprintOrEmpty(cfg.Previous), fingerprintOrEmpty(cfg.WebhookToken))
	var db *hits
	if cfg.DBAddr != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		db, err = newHits(ctx, cfg.DBAddr, cfg.DBUser, cfg.DBPass, cfg.DBName)
		cancel()
		if err != nil {
			// The error names the server's reason (password authentication failed …), never the password.
			log.Printf("fatal: postgres: %v", err)
			return 1
		}
		log.Printf("web: counting hits in postgres as %s db_password=%s", cfg.DBUser, fingerprintOrEmpty(cfg.DBPass))
	}
	srv := &http.Server{
		Addr:              ":8080",
		Handler:           newWebHandler(cfg, db, log.Default()),
		ReadHeaderTimeout: 5 * time.Second,
	}
	if err := serve(srv, cfg.BootDelay); err != nil {
		log.Printf("fatal: %v", err)
		return 1
	}
	return 0
}
