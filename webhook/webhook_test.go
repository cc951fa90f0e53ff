package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var testSecret = []byte("s3cr3t-webhook-key-do-not-log")

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hexMAC(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// recorder collects pushes and log output.
type recorder struct {
	mu     sync.Mutex
	pushes []Push
	logs   bytes.Buffer
}

func (r *recorder) onPush(p Push) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pushes = append(r.pushes, p)
}

func newTestHandler(secret []byte, opts ...Option) (*Handler, *recorder) {
	rec := &recorder{}
	l := slog.New(slog.NewTextHandler(&rec.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return New(secret, rec.onPush, append([]Option{WithLogger(l)}, opts...)...), rec
}

type request struct {
	method  string // default POST
	path    string
	headers map[string]string
	body    []byte
}

func do(h http.Handler, rq request) *httptest.ResponseRecorder {
	if rq.method == "" {
		rq.method = http.MethodPost
	}
	r := httptest.NewRequest(rq.method, rq.path, bytes.NewReader(rq.body))
	r.RemoteAddr = "192.0.2.7:41234"
	r.Header.Set("Content-Type", "application/json")
	for k, v := range rq.headers {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// retag replaces the ref of a fixture before it is signed.
func retag(t *testing.T, body []byte, from, to string) []byte {
	t.Helper()
	if !bytes.Contains(body, []byte(from)) {
		t.Fatalf("fixture does not contain %q", from)
	}
	return bytes.Replace(body, []byte(from), []byte(to), 1)
}

// dropField removes a top-level JSON field, re-encoding the payload.
func dropField(t *testing.T, body []byte, field string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, field)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tamper(body []byte) []byte {
	b := bytes.Clone(body)
	i := bytes.Index(b, []byte("secrets.sops.yaml"))
	b[i] = 'S' // one byte changed after signing
	return b
}

type tcase struct {
	name    string
	opts    []Option
	secret  []byte // default testSecret
	rq      request
	status  int
	want    *Push // expected callback, nil for none
	wantLog string
}

func run(t *testing.T, cases []tcase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			secret := tc.secret
			if secret == nil {
				secret = testSecret
			}
			h, rec := newTestHandler(secret, tc.opts...)
			w := do(h, tc.rq)
			if w.Code != tc.status {
				t.Fatalf("status = %d, want %d (body %q, logs %s)", w.Code, tc.status, w.Body, rec.logs.String())
			}
			switch {
			case tc.want == nil && len(rec.pushes) != 0:
				t.Fatalf("unexpected callback: %+v", rec.pushes)
			case tc.want != nil && len(rec.pushes) != 1:
				t.Fatalf("callbacks = %+v, want exactly one %+v", rec.pushes, *tc.want)
			case tc.want != nil && rec.pushes[0] != *tc.want:
				t.Fatalf("push = %+v, want %+v", rec.pushes[0], *tc.want)
			}
			if tc.wantLog != "" && !strings.Contains(rec.logs.String(), tc.wantLog) {
				t.Fatalf("logs lack %q:\n%s", tc.wantLog, rec.logs.String())
			}
			assertNoLeak(t, rec.logs.String(), tc.rq)
		})
	}
}

// assertNoLeak checks that no secret, header value or payload content reached the logs.
func assertNoLeak(t *testing.T, logs string, rq request) {
	t.Helper()
	forbidden := []string{
		string(testSecret),
		"do-not-log", // every sensitive fixture string carries this marker
		"alice.pusher",
		"alice.author",
		"Alice Author",
		"rotate session-key",
		"acme-ops",
		"secrets.sops.yaml",
	}
	for k, v := range rq.headers {
		if len(v) >= 8 && !strings.EqualFold(k, "Content-Type") {
			forbidden = append(forbidden, v, strings.TrimPrefix(v, "sha256="))
		}
	}
	for _, f := range forbidden {
		if f != "" && strings.Contains(logs, f) {
			t.Errorf("logs contain %q:\n%s", f, logs)
		}
	}
}

func TestGitHub(t *testing.T) {
	body := fixture(t, "github-push.json")
	sig := "sha256=" + hexMAC(testSecret, body)
	hdr := func(sig, event string) map[string]string {
		m := map[string]string{"X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"}
		if sig != "" {
			m["X-Hub-Signature-256"] = sig
		}
		if event != "" {
			m["X-GitHub-Event"] = event
		}
		return m
	}
	const path = "/hooks/github"
	const sha = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
	tag := retag(t, body, `"ref": "refs/heads/main"`, `"ref": "refs/tags/v1"`)
	noAfter := dropField(t, body, "after")
	noRef := dropField(t, body, "ref")
	malformed := []byte(`{"ref": "refs/heads/main", "after": `)
	ping := fixture(t, "github-ping.json")
	big := append(bytes.Clone(body), bytes.Repeat([]byte(" "), 2048)...)
	emptyKeySig := "sha256=" + hexMAC(nil, body)

	run(t, []tcase{
		{name: "good signature", rq: request{path: path, headers: hdr(sig, "push"), body: body},
			status: 202, want: &Push{Provider: "github", Ref: "refs/heads/main", Branch: "main", After: sha},
			wantLog: "webhook push accepted"},
		{name: "mounted under a prefix", rq: request{path: "/rekey/v1/hooks/github", headers: hdr(sig, "push"), body: body},
			status: 202, want: &Push{Provider: "github", Ref: "refs/heads/main", Branch: "main", After: sha}},
		{name: "uppercase hex accepted", rq: request{path: path, headers: hdr("sha256="+strings.ToUpper(hexMAC(testSecret, body)), "push"), body: body},
			status: 202, want: &Push{Provider: "github", Ref: "refs/heads/main", Branch: "main", After: sha}},
		{name: "tag push has no branch", rq: request{path: path, headers: hdr("sha256="+hexMAC(testSecret, tag), "push"), body: tag},
			status: 202, want: &Push{Provider: "github", Ref: "refs/tags/v1", Branch: "", After: sha}},
		{name: "missing after", rq: request{path: path, headers: hdr("sha256="+hexMAC(testSecret, noAfter), "push"), body: noAfter},
			status: 202, want: &Push{Provider: "github", Ref: "refs/heads/main", Branch: "main", After: ""}},
		{name: "wrong secret", rq: request{path: path, headers: hdr("sha256="+hexMAC([]byte("other"), body), "push"), body: body},
			status: 401, wantLog: `level=WARN msg="webhook rejected" provider=github remote=192.0.2.7:41234 reason="signature does not match the body"`},
		{name: "tampered body", rq: request{path: path, headers: hdr(sig, "push"), body: tamper(body)},
			status: 401, wantLog: "signature does not match the body"},
		{name: "missing signature header", rq: request{path: path, headers: hdr("", "push"), body: body},
			status: 401, wantLog: "missing X-Hub-Signature-256 header"},
		{name: "legacy sha1 prefix", rq: request{path: path, headers: hdr("sha1="+hexMAC(testSecret, body)[:40], "push"), body: body},
			status: 401, wantLog: "lacks the sha256= prefix"},
		{name: "no prefix", rq: request{path: path, headers: hdr(hexMAC(testSecret, body), "push"), body: body},
			status: 401, wantLog: "lacks the sha256= prefix"},
		{name: "short hex", rq: request{path: path, headers: hdr(sig[:len(sig)-2], "push"), body: body},
			status: 401, wantLog: "not a 64-digit hex"},
		{name: "long hex", rq: request{path: path, headers: hdr(sig+"00", "push"), body: body},
			status: 401, wantLog: "not a 64-digit hex"},
		{name: "non-hex", rq: request{path: path, headers: hdr(sig[:len(sig)-1]+"g", "push"), body: body},
			status: 401, wantLog: "not valid hex"},
		{name: "wrong method", rq: request{method: http.MethodGet, path: path, headers: hdr(sig, "push"), body: body},
			status: 405},
		{name: "non-push event ignored", rq: request{path: path, headers: hdr(sig, "issues"), body: body},
			status: 202},
		{name: "non-push event with bad signature", rq: request{path: path, headers: hdr("sha256="+hexMAC([]byte("x"), body), "issues"), body: body},
			status: 401},
		{name: "missing event header", rq: request{path: path, headers: hdr(sig, ""), body: body},
			status: 400, wantLog: "missing event header"},
		{name: "ping", rq: request{path: path, headers: hdr("sha256="+hexMAC(testSecret, ping), "ping"), body: ping},
			status: 200, wantLog: "webhook ping"},
		{name: "ping with bad signature", rq: request{path: path, headers: hdr(sig, "ping"), body: ping},
			status: 401},
		{name: "oversized body", opts: []Option{WithMaxBody(int64(len(body)))},
			rq:     request{path: path, headers: hdr("sha256="+hexMAC(testSecret, big), "push"), body: big},
			status: 413, wantLog: "body too large"},
		{name: "body at the limit", opts: []Option{WithMaxBody(int64(len(body)))},
			rq:     request{path: path, headers: hdr(sig, "push"), body: body},
			status: 202, want: &Push{Provider: "github", Ref: "refs/heads/main", Branch: "main", After: sha}},
		{name: "malformed JSON", rq: request{path: path, headers: hdr("sha256="+hexMAC(testSecret, malformed), "push"), body: malformed},
			status: 400, wantLog: "malformed JSON payload"},
		{name: "form-encoded payload", rq: request{path: path, headers: map[string]string{
			"X-Hub-Signature-256": "sha256=" + hexMAC(testSecret, []byte("payload=%7B%7D")), "X-GitHub-Event": "push",
			"Content-Type": "application/x-www-form-urlencoded"}, body: []byte("payload=%7B%7D")},
			status: 400, wantLog: "set the webhook content type to application/json"},
		{name: "missing ref", rq: request{path: path, headers: hdr("sha256="+hexMAC(testSecret, noRef), "push"), body: noRef},
			status: 400, wantLog: "push payload has no ref"},
		{name: "empty secret", secret: []byte{}, rq: request{path: path, headers: hdr(emptyKeySig, "push"), body: body},
			status: 500, wantLog: "level=ERROR"},
	})
}

func TestGiteaForgejo(t *testing.T) {
	body := fixture(t, "gitea-push.json")
	mac := hexMAC(testSecret, body)
	const sha = "bffeb74224043ba2feb48d137756c8a9331c449a"
	hdr := func(sig, event string) map[string]string {
		m := map[string]string{"X-Gitea-Delivery": "f6266f16-1bf3-46a5-9ea4-602e06ead473"}
		if sig != "" {
			m["X-Gitea-Signature"] = sig
		}
		if event != "" {
			m["X-Gitea-Event"] = event
		}
		return m
	}
	forgejoHdr := map[string]string{"X-Forgejo-Signature": mac, "X-Forgejo-Event": "push"}
	tag := retag(t, body, `"ref": "refs/heads/main"`, `"ref": "refs/tags/v1"`)
	noRef := dropField(t, body, "ref")
	malformed := []byte(`not json`)
	big := append(bytes.Clone(body), bytes.Repeat([]byte("\n"), 100)...)
	main := func(provider string) *Push {
		return &Push{Provider: provider, Ref: "refs/heads/main", Branch: "main", After: sha}
	}

	run(t, []tcase{
		{name: "good signature", rq: request{path: "/hooks/gitea", headers: hdr(mac, "push"), body: body},
			status: 202, want: main("gitea")},
		{name: "forgejo path and headers", rq: request{path: "/hooks/forgejo", headers: forgejoHdr, body: body},
			status: 202, want: main("forgejo")},
		{name: "forgejo headers on gitea path", rq: request{path: "/hooks/gitea", headers: forgejoHdr, body: body},
			status: 202, want: main("gitea")},
		{name: "gitea headers on forgejo path", rq: request{path: "/hooks/forgejo", headers: hdr(mac, "push"), body: body},
			status: 202, want: main("forgejo")},
		{name: "uppercase hex accepted", rq: request{path: "/hooks/gitea", headers: hdr(strings.ToUpper(mac), "push"), body: body},
			status: 202, want: main("gitea")},
		{name: "tag push has no branch", rq: request{path: "/hooks/gitea", headers: hdr(hexMAC(testSecret, tag), "push"), body: tag},
			status: 202, want: &Push{Provider: "gitea", Ref: "refs/tags/v1", After: sha}},
		{name: "wrong secret", rq: request{path: "/hooks/gitea", headers: hdr(hexMAC([]byte("other"), body), "push"), body: body},
			status: 401, wantLog: `provider=gitea remote=192.0.2.7:41234 reason="signature does not match the body"`},
		{name: "wrong secret forgejo", rq: request{path: "/hooks/forgejo", headers: map[string]string{
			"X-Forgejo-Signature": hexMAC([]byte("other"), body), "X-Forgejo-Event": "push"}, body: body},
			status: 401, wantLog: "provider=forgejo"},
		{name: "tampered body", rq: request{path: "/hooks/gitea", headers: hdr(mac, "push"), body: tamper(body)},
			status: 401, wantLog: "signature does not match the body"},
		{name: "missing signature header", rq: request{path: "/hooks/gitea", headers: hdr("", "push"), body: body},
			status: 401, wantLog: "missing X-Gitea-Signature/X-Forgejo-Signature header"},
		{name: "github-style prefix rejected", rq: request{path: "/hooks/gitea", headers: hdr("sha256="+mac, "push"), body: body},
			status: 401, wantLog: "not a 64-digit hex"},
		{name: "short hex", rq: request{path: "/hooks/gitea", headers: hdr(mac[:62], "push"), body: body},
			status: 401, wantLog: "not a 64-digit hex"},
		{name: "non-hex", rq: request{path: "/hooks/gitea", headers: hdr("zz"+mac[2:], "push"), body: body},
			status: 401, wantLog: "not valid hex"},
		{name: "wrong method", rq: request{method: http.MethodPut, path: "/hooks/gitea", headers: hdr(mac, "push"), body: body},
			status: 405},
		{name: "non-push event ignored", rq: request{path: "/hooks/gitea", headers: hdr(mac, "pull_request"), body: body},
			status: 202},
		{name: "missing event header", rq: request{path: "/hooks/forgejo", headers: map[string]string{"X-Forgejo-Signature": mac}, body: body},
			status: 400},
		{name: "no ping for gitea", rq: request{path: "/hooks/gitea", headers: hdr(mac, "ping"), body: body},
			status: 202},
		{name: "oversized body", opts: []Option{WithMaxBody(int64(len(body)))},
			rq:     request{path: "/hooks/gitea", headers: hdr(hexMAC(testSecret, big), "push"), body: big},
			status: 413},
		{name: "malformed JSON", rq: request{path: "/hooks/gitea", headers: hdr(hexMAC(testSecret, malformed), "push"), body: malformed},
			status: 400},
		{name: "missing ref", rq: request{path: "/hooks/gitea", headers: hdr(hexMAC(testSecret, noRef), "push"), body: noRef},
			status: 400},
		{name: "empty secret", secret: []byte{}, rq: request{path: "/hooks/gitea", headers: hdr(hexMAC(nil, body), "push"), body: body},
			status: 500, wantLog: "no webhook secret is configured"},
	})
}

func TestGitLab(t *testing.T) {
	body := fixture(t, "gitlab-push.json")
	tagBody := fixture(t, "gitlab-tag-push.json")
	const sha = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
	hdr := func(token, event string) map[string]string {
		m := map[string]string{"X-Gitlab-Instance": "https://gitlab.example.com"}
		if token != "" {
			m["X-Gitlab-Token"] = token
		}
		if event != "" {
			m["X-Gitlab-Event"] = event
		}
		return m
	}
	tok := string(testSecret)
	const path = "/hooks/gitlab"
	noAfter := dropField(t, body, "after")
	noRef := dropField(t, body, "ref")
	big := append(bytes.Clone(body), bytes.Repeat([]byte(" "), 10)...)

	run(t, []tcase{
		{name: "good token", rq: request{path: path, headers: hdr(tok, "Push Hook"), body: body},
			status: 202, want: &Push{Provider: "gitlab", Ref: "refs/heads/main", Branch: "main", After: sha}},
		{name: "tag push hook has no branch", rq: request{path: path, headers: hdr(tok, "Tag Push Hook"), body: tagBody},
			status: 202, want: &Push{Provider: "gitlab", Ref: "refs/tags/v1", After: "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7"}},
		{name: "after missing falls back to checkout_sha", rq: request{path: path, headers: hdr(tok, "Push Hook"), body: noAfter},
			status: 202, want: &Push{Provider: "gitlab", Ref: "refs/heads/main", Branch: "main", After: sha}},
		{name: "wrong token", rq: request{path: path, headers: hdr("wrong-token-value", "Push Hook"), body: body},
			status: 401, wantLog: `provider=gitlab remote=192.0.2.7:41234 reason="X-Gitlab-Token does not match the secret"`},
		{name: "token prefix", rq: request{path: path, headers: hdr(tok[:len(tok)-1], "Push Hook"), body: body},
			status: 401},
		{name: "token with suffix", rq: request{path: path, headers: hdr(tok+"x", "Push Hook"), body: body},
			status: 401},
		{name: "token is case sensitive", rq: request{path: path, headers: hdr(strings.ToUpper(tok), "Push Hook"), body: body},
			status: 401},
		{name: "missing token", rq: request{path: path, headers: hdr("", "Push Hook"), body: body},
			status: 401, wantLog: "missing X-Gitlab-Token header"},
		{name: "github signature is not a gitlab token", rq: request{path: path, headers: map[string]string{
			"X-Hub-Signature-256": "sha256=" + hexMAC(testSecret, body), "X-Gitlab-Event": "Push Hook"}, body: body},
			status: 401},
		{name: "wrong method", rq: request{method: http.MethodDelete, path: path, headers: hdr(tok, "Push Hook"), body: body},
			status: 405},
		{name: "non-push event ignored", rq: request{path: path, headers: hdr(tok, "Merge Request Hook"), body: body},
			status: 202},
		{name: "non-push event with wrong token", rq: request{path: path, headers: hdr("nope-nope-nope", "Merge Request Hook"), body: body},
			status: 401},
		{name: "missing event header", rq: request{path: path, headers: hdr(tok, ""), body: body},
			status: 400},
		{name: "oversized body", opts: []Option{WithMaxBody(int64(len(body)))},
			rq: request{path: path, headers: hdr(tok, "Push Hook"), body: big}, status: 413},
		{name: "malformed JSON", rq: request{path: path, headers: hdr(tok, "Push Hook"), body: []byte(`{"ref": 7}`)},
			status: 400},
		{name: "missing ref", rq: request{path: path, headers: hdr(tok, "Push Hook"), body: noRef},
			status: 400},
		{name: "empty secret", secret: []byte{}, rq: request{path: path, headers: hdr("anything-at-all", "Push Hook"), body: body},
			status: 500},
	})
}

func TestRouting(t *testing.T) {
	body := fixture(t, "github-push.json")
	sig := "sha256=" + hexMAC(testSecret, body)
	var cases []tcase
	for _, p := range []string{"/", "/hooks", "/hooks/", "/hooks/bitbucket", "/hooks/github/", "/hooks/githubx",
		"/xhooks/github", "/hooks/gitlab/extra", "/HOOKS/GITHUB"} {
		cases = append(cases, tcase{name: "unknown path " + p, status: 404,
			rq: request{path: p, headers: map[string]string{"X-Hub-Signature-256": sig, "X-GitHub-Event": "push"}, body: body}})
	}
	cases = append(cases,
		tcase{name: "unknown path with GET is 404", status: 404, rq: request{method: http.MethodGet, path: "/nope"}},
		tcase{name: "empty secret still 404s unknown paths", secret: []byte{}, status: 404, rq: request{path: "/nope"}},
	)
	run(t, cases)

	h, _ := newTestHandler(testSecret)
	w := do(h, request{method: http.MethodGet, path: "/hooks/github"})
	if got := w.Header().Get("Allow"); got != http.MethodPost {
		t.Errorf("Allow = %q, want POST", got)
	}
}

// TestLogsNeverLeak sends every kind of request with payloads full of sensitive-looking content and checks
// that the log output (at debug level, JSON and text) contains neither the secret nor any payload content
// other than the ref and sha of an accepted push.
func TestLogsNeverLeak(t *testing.T) {
	gh := fixture(t, "github-push.json")
	gt := fixture(t, "gitea-push.json")
	gl := fixture(t, "gitlab-push.json")
	wrong := []byte("wrong-secret-also-do-not-log")
	rqs := []request{
		{path: "/hooks/github", headers: map[string]string{"X-Hub-Signature-256": "sha256=" + hexMAC(testSecret, gh), "X-GitHub-Event": "push"}, body: gh},
		{path: "/hooks/github", headers: map[string]string{"X-Hub-Signature-256": "sha256=" + hexMAC(wrong, gh), "X-GitHub-Event": "push"}, body: gh},
		{path: "/hooks/github", headers: map[string]string{"X-Hub-Signature-256": "sha256=" + hexMAC(testSecret, gh), "X-GitHub-Event": "push"}, body: tamper(gh)},
		{path: "/hooks/github", headers: map[string]string{"X-Hub-Signature-256": "sha256=" + hexMAC(testSecret, gh), "X-GitHub-Event": "issues-do-not-log"}, body: gh},
		{path: "/hooks/github", headers: map[string]string{"X-Hub-Signature-256": "sha256=" + hexMAC(testSecret, gh[:100]), "X-GitHub-Event": "push"}, body: gh[:100]},
		{path: "/hooks/github", headers: map[string]string{"X-Hub-Signature-256": "md5=do-not-log-header-value"}, body: gh},
		{path: "/hooks/gitea", headers: map[string]string{"X-Gitea-Signature": hexMAC(testSecret, gt), "X-Gitea-Event": "push"}, body: gt},
		{path: "/hooks/gitea", headers: map[string]string{"X-Gitea-Signature": hexMAC(wrong, gt), "X-Gitea-Event": "push"}, body: gt},
		{path: "/hooks/forgejo", headers: map[string]string{"X-Forgejo-Signature": "do-not-log-header-value", "X-Forgejo-Event": "push"}, body: gt},
		{path: "/hooks/gitlab", headers: map[string]string{"X-Gitlab-Token": string(testSecret), "X-Gitlab-Event": "Push Hook"}, body: gl},
		{path: "/hooks/gitlab", headers: map[string]string{"X-Gitlab-Token": string(wrong), "X-Gitlab-Event": "Push Hook"}, body: gl},
		{path: "/hooks/gitlab", headers: map[string]string{"X-Gitlab-Token": string(testSecret), "X-Gitlab-Event": "Note Hook do-not-log"}, body: gl},
		{path: "/hooks/gitlab", headers: map[string]string{"X-Gitlab-Token": string(testSecret), "X-Gitlab-Event": "Push Hook"}, body: []byte(`{"ref":"refs/heads/main","x":"do-not-log"`)},
	}
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			opts := &slog.HandlerOptions{Level: slog.LevelDebug}
			var lh slog.Handler = slog.NewTextHandler(&buf, opts)
			if format == "json" {
				lh = slog.NewJSONHandler(&buf, opts)
			}
			for _, secret := range [][]byte{testSecret, {}} {
				h := New(secret, func(Push) {}, WithLogger(slog.New(lh)))
				for _, rq := range rqs {
					do(h, rq)
				}
			}
			logs := buf.String()
			if strings.Count(logs, "\n") < len(rqs) {
				t.Fatalf("expected a log line per request, got:\n%s", logs)
			}
			for _, rq := range rqs {
				assertNoLeak(t, logs, rq)
			}
			for _, f := range []string{string(wrong), hex.EncodeToString(testSecret), "md5=", "Note Hook", "issues",
				"commit-message", "pusher", "author", "@example.com", "f6266f16", "gitlab.example.com"} {
				if strings.Contains(logs, f) {
					t.Errorf("logs contain %q:\n%s", f, logs)
				}
			}
			if !strings.Contains(logs, "192.0.2.7:41234") || !strings.Contains(logs, "reason") {
				t.Errorf("rejections should name the remote address and the reason:\n%s", logs)
			}
		})
	}
}

// TestServer exercises the handler over a real loopback connection, including a chunked body with no
// Content-Length that exceeds the limit.
func TestServer(t *testing.T) {
	pushes := make(chan Push, 1)
	h := New(testSecret, func(p Push) {
		select {
		case pushes <- p: // the agent's onPush only signals a channel
		default:
		}
	}, WithLogger(slog.New(slog.DiscardHandler)), WithMaxBody(4096))
	srv := httptest.NewServer(h)
	defer srv.Close()

	body := fixture(t, "github-push.json")
	post := func(body io.Reader, sig string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/hooks/github", body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-Hub-Signature-256", sig)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}

	if code := post(bytes.NewReader(body), "sha256="+hexMAC(testSecret, body)); code != http.StatusAccepted {
		t.Fatalf("status = %d, want 202", code)
	}
	select {
	case p := <-pushes:
		if p.Branch != "main" || p.After != "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c" {
			t.Fatalf("push = %+v", p)
		}
	default:
		t.Fatal("onPush was not called before the response")
	}

	// A reader of unknown length is sent chunked: only MaxBytesReader can stop it.
	big := bytes.Repeat([]byte("x"), 64<<10)
	if code := post(io.MultiReader(bytes.NewReader(big)), "sha256="+hexMAC(testSecret, big)); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked oversized body: status = %d, want 413", code)
	}
	if len(pushes) != 0 {
		t.Fatal("unexpected callback")
	}
}

func TestNewCopiesSecret(t *testing.T) {
	secret := bytes.Clone(testSecret)
	h, rec := newTestHandler(secret)
	for i := range secret {
		secret[i] = 0
	}
	body := fixture(t, "github-push.json")
	w := do(h, request{path: "/hooks/github", body: body, headers: map[string]string{
		"X-Hub-Signature-256": "sha256=" + hexMAC(testSecret, body), "X-GitHub-Event": "push"}})
	if w.Code != http.StatusAccepted || len(rec.pushes) != 1 {
		t.Fatalf("status = %d, pushes = %d", w.Code, len(rec.pushes))
	}
}

func TestNilOnPush(t *testing.T) {
	h := New(testSecret, nil, WithLogger(slog.New(slog.DiscardHandler)))
	body := fixture(t, "gitlab-push.json")
	w := do(h, request{path: "/hooks/gitlab", body: body, headers: map[string]string{
		"X-Gitlab-Token": string(testSecret), "X-Gitlab-Event": "Push Hook"}})
	if w.Code != http.StatusAccepted {
		t.Fatalf("status = %d", w.Code)
	}
}
