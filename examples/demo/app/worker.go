package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// jobState is the outcome of the worker's last job.
type jobState int

const (
	stateNone jobState = iota
	stateAccepted
	stateRejected
	stateFailed // transport error or unexpected status
)

// worker posts signed jobs and remembers how the last one went.
type worker struct {
	secret string
	appURL string
	client *http.Client
	logger *log.Logger
	now    func() time.Time

	mu           sync.Mutex
	state        jobState
	seq          int
	lastRejected time.Time // last time "job rejected" was logged
	lastFailed   time.Time // last time "job failed" was logged
}

func newWorker(secret, appURL string, logger *log.Logger) *worker {
	return &worker{
		secret: secret,
		appURL: strings.TrimRight(appURL, "/"),
		client: &http.Client{Timeout: 2 * time.Second},
		logger: logger,
		now:    time.Now,
	}
}

// postJob sends one signed job and records the outcome.
func (w *worker) postJob(ctx context.Context) jobState {
	w.mu.Lock()
	w.seq++
	body := []byte(fmt.Sprintf(`{"job":%d,"at":%q}`, w.seq, w.now().UTC().Format(time.RFC3339Nano)))
	w.mu.Unlock()

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.appURL+"/jobs", bytes.NewReader(body))
	if err != nil {
		return w.record(stateFailed, err.Error())
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Signature", sign(w.secret, body))
	resp, err := w.client.Do(req)
	if err != nil {
		return w.record(stateFailed, err.Error())
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return w.record(stateAccepted, "")
	case http.StatusUnauthorized:
		return w.record(stateRejected, "")
	default:
		return w.record(stateFailed, resp.Status)
	}
}

// record stores s as the last state and logs it: acceptance only on a change
// of state, rejections and failures at most once per second.
func (w *worker) record(s jobState, detail string) jobState {
	w.mu.Lock()
	defer w.mu.Unlock()
	prev := w.state
	w.state = s
	now := w.now()
	switch s {
	case stateAccepted:
		if prev != stateAccepted {
			w.logger.Printf("job accepted")
		}
	case stateRejected:
		if now.Sub(w.lastRejected) >= time.Second {
			w.lastRejected = now
			w.logger.Printf("job rejected: invalid signature")
		}
	case stateFailed:
		if now.Sub(w.lastFailed) >= time.Second {
			w.lastFailed = now
			w.logger.Printf("job failed: %s", detail)
		}
	}
	return s
}

func (w *worker) lastState() jobState {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state
}

// handler serves /healthz (503 while the last job was rejected) and
// /fingerprint.
func (w *worker) handler() http.Handler {
	fps := map[string]string{"session_key": fingerprint(w.secret)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, r *http.Request) {
		if w.lastState() == stateRejected {
			http.Error(rw, "last job rejected", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(rw, "ok")
	})
	mux.HandleFunc("GET /fingerprint", func(rw http.ResponseWriter, r *http.Request) {
		writeJSON(rw, fps)
	})
	return mux
}

// loop posts a job every interval until ctx is done.
func (w *worker) loop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		w.postJob(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func runWorker(getenv func(string) string) int {
	secret := getenv("SESSION_SECRET")
	if err := checkSecret("SESSION_SECRET", secret); err != nil {
		log.Printf("fatal: %v", err)
		return 1
	}
	appURL := getenv("APP_URL")
	if appURL == "" {
		appURL = "http://app:8080"
	}
	w := newWorker(secret, appURL, log.Default())
	log.Printf("worker: posting jobs to %s, listening on :8081 session_key=%s", w.appURL, fingerprint(secret))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go w.loop(ctx, 500*time.Millisecond)

	srv := &http.Server{Addr: ":8081", Handler: w.handler(), ReadHeaderTimeout: 5 * time.Second}
	if err := serve(srv, 0); err != nil {
		log.Printf("fatal: %v", err)
		return 1
	}
	return 0
}
