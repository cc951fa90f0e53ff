package statuspage

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/reconcile"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

func serve(t *testing.T, h http.Handler, method, path string, mod ...func(*http.Request)) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for _, f := range mod {
		f(req)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestRouting(t *testing.T) {
	h := Handler(&fixedSource{m: fixture()})
	for _, tc := range []struct {
		method, path string
		code         int
		ctype        string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8"},
		{"HEAD", "/", 200, "text/html; charset=utf-8"},
		{"GET", "/?refresh=1", 200, "text/html; charset=utf-8"},
		{"GET", "/status.json", 200, "application/json"},
		{"HEAD", "/status.json", 200, "application/json"},
		{"GET", "/style.css", 200, "text/css; charset=utf-8"},
		{"HEAD", "/style.css", 200, "text/css; charset=utf-8"},
		{"GET", "/index.html", 404, "text/plain; charset=utf-8"},
		{"GET", "/status.json/", 404, "text/plain; charset=utf-8"},
		{"GET", "/STATUS.json", 404, "text/plain; charset=utf-8"},
		{"GET", "/favicon.ico", 404, "text/plain; charset=utf-8"},
		{"GET", "/metrics", 404, "text/plain; charset=utf-8"},
		{"GET", "/assets/style.css", 404, "text/plain; charset=utf-8"},
		{"POST", "/nope", 404, "text/plain; charset=utf-8"}, // unknown path first: 404 whatever the method
		{"POST", "/", 405, "text/plain; charset=utf-8"},
		{"PUT", "/status.json", 405, "text/plain; charset=utf-8"},
		{"DELETE", "/", 405, "text/plain; charset=utf-8"},
		{"OPTIONS", "/", 405, "text/plain; charset=utf-8"},
		{"PATCH", "/style.css", 405, "text/plain; charset=utf-8"},
	} {
		rec := serve(t, h, tc.method, tc.path)
		if rec.Code != tc.code {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.path, rec.Code, tc.code)
		}
		if got := rec.Header().Get("Content-Type"); got != tc.ctype {
			t.Errorf("%s %s: Content-Type = %q, want %q", tc.method, tc.path, got, tc.ctype)
		}
		if tc.code == 405 && rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s: Allow = %q, want \"GET, HEAD\"", tc.method, tc.path, rec.Header().Get("Allow"))
		}
	}
}

// TestHeadOverHTTP checks HEAD through a real server: headers and length, no body.
func TestHeadOverHTTP(t *testing.T) {
	srv := httptest.NewServer(Handler(&fixedSource{m: fixture()}))
	defer srv.Close()
	get, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, get)
	head, err := http.Head(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	hb := readAll(t, head)
	if head.StatusCode != 200 || len(hb) != 0 {
		t.Errorf("HEAD / = %d with %d bytes of body, want 200 and none", head.StatusCode, len(hb))
	}
	if head.ContentLength != int64(len(body)) {
		t.Errorf("HEAD / Content-Length = %d, want the GET body's %d", head.ContentLength, len(body))
	}
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSecurityHeaders(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    http.Handler
		req  func(*http.Request)
		path string
	}{
		{"page", Handler(&fixedSource{m: fixture()}), nil, "/"},
		{"json", Handler(&fixedSource{m: fixture()}), nil, "/status.json"},
		{"css", Handler(&fixedSource{m: fixture()}), nil, "/style.css"},
		{"404", Handler(&fixedSource{m: fixture()}), nil, "/nope"},
		{"503", Handler(&fixedSource{err: errUnavailable}), nil, "/"},
		{"401", Handler(&fixedSource{m: fixture()}, WithBasicAuth("ops", "correct horse battery")), nil, "/"},
	} {
		var mods []func(*http.Request)
		if tc.req != nil {
			mods = append(mods, tc.req)
		}
		h := serve(t, tc.h, "GET", tc.path, mods...).Header()
		for k, want := range map[string]string{
			"Cache-Control":           "no-store",
			"X-Content-Type-Options":  "nosniff",
			"Content-Security-Policy": "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
			"X-Frame-Options":         "DENY",
			"Referrer-Policy":         "no-referrer",
		} {
			if got := h.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", tc.name, k, got, want)
			}
		}
	}
}

func TestBasicAuth(t *testing.T) {
	src := &fixedSource{m: fixture()}
	h := Handler(src, WithBasicAuth("ops", "correct horse battery"))
	for _, tc := range []struct {
		name       string
		path       string
		user, pass string
		set        bool
		code       int
	}{
		{"right", "/", "ops", "correct horse battery", true, 200},
		{"right json", "/status.json", "ops", "correct horse battery", true, 200},
		{"right css", "/style.css", "ops", "correct horse battery", true, 200},
		{"right, unknown path", "/nope", "ops", "correct horse battery", true, 404},
		{"wrong password", "/", "ops", "correct horse batterY", true, 401},
		{"password prefix", "/", "ops", "correct horse", true, 401},
		{"wrong user", "/", "root", "correct horse battery", true, 401},
		{"empty", "/", "", "", true, 401},
		{"missing", "/", "", "", false, 401},
		{"missing json", "/status.json", "", "", false, 401},
		{"missing css", "/style.css", "", "", false, 401},
		{"missing, unknown path", "/nope", "", "", false, 401},
	} {
		before := src.calls.Load()
		rec := serve(t, h, "GET", tc.path, func(r *http.Request) {
			if tc.set {
				r.SetBasicAuth(tc.user, tc.pass)
			}
		})
		if rec.Code != tc.code {
			t.Errorf("%s: GET %s = %d, want %d", tc.name, tc.path, rec.Code, tc.code)
		}
		challenge := rec.Header().Get("WWW-Authenticate")
		if tc.code == 401 {
			if challenge != `Basic realm="rekey status", charset="UTF-8"` {
				t.Errorf("%s: WWW-Authenticate = %q", tc.name, challenge)
			}
			if src.calls.Load() != before {
				t.Errorf("%s: the source was asked for the status before authentication", tc.name)
			}
			if strings.Contains(rec.Body.String(), "session-key") {
				t.Errorf("%s: the 401 body shows the status: %q", tc.name, rec.Body.String())
			}
		} else if challenge != "" {
			t.Errorf("%s: WWW-Authenticate = %q on a %d", tc.name, challenge, rec.Code)
		}
	}
	// An empty password locks everyone out.
	locked := Handler(src, WithBasicAuth("ops", ""))
	for _, set := range []bool{false, true} {
		rec := serve(t, locked, "GET", "/", func(r *http.Request) {
			if set {
				r.SetBasicAuth("ops", "")
			}
		})
		if rec.Code != 401 {
			t.Errorf("empty password configured, credentials sent %v: GET / = %d, want 401", set, rec.Code)
		}
	}
	// A header that is not basic auth at all.
	rec := serve(t, h, "GET", "/", func(r *http.Request) { r.Header.Set("Authorization", "Bearer correct horse battery") })
	if rec.Code != 401 {
		t.Errorf("bearer token: GET / = %d, want 401", rec.Code)
	}
}

func TestCheckExposure(t *testing.T) {
	for _, tc := range []struct {
		addr    string
		auth    bool
		exposed bool // refused as reachable from other hosts
		invalid bool // refused as not an address
	}{
		{"127.0.0.1:9465", false, false, false},
		{"127.0.0.2:9465", false, false, false},
		{"[::1]:9465", false, false, false},
		{"localhost:9465", false, false, false},
		{"LOCALHOST:9465", false, false, false},
		{"[::ffff:127.0.0.1]:9465", false, false, false},
		{"127.0.0.1:0", false, false, false},
		{":8080", false, true, false},
		{"0.0.0.0:8080", false, true, false},
		{"[::]:8080", false, true, false},
		{"192.168.1.10:8080", false, true, false},
		{"10.0.0.1:8080", false, true, false},
		{"[fe80::1%eth0]:8080", false, true, false},
		{"[2001:db8::1]:8080", false, true, false},
		{"status.example.com:8080", false, true, false},
		{"localhost.example.com:8080", false, true, false},
		{"ip6-localhost:8080", false, true, false},
		{":8080", true, false, false},
		{"0.0.0.0:8080", true, false, false},
		{"status.example.com:443", true, false, false},
		{"127.0.0.1:9465", true, false, false},
		{"127.0.0.1", false, false, true},
		{"", false, false, true},
		{"", true, false, true},
		{"[::1", false, false, true},
	} {
		err := CheckExposure(tc.addr, tc.auth)
		switch {
		case tc.exposed:
			want := "the status page on " + tc.addr + " is reachable from other hosts: bind it to 127.0.0.1 or set --status-basic-auth-file"
			if err == nil || err.Error() != want {
				t.Errorf("CheckExposure(%q, %v) = %v, want %q", tc.addr, tc.auth, err, want)
			}
		case tc.invalid:
			if err == nil || !strings.Contains(err.Error(), "invalid status page address") {
				t.Errorf("CheckExposure(%q, %v) = %v, want an invalid address error", tc.addr, tc.auth, err)
			}
		case err != nil:
			t.Errorf("CheckExposure(%q, %v) = %v, want nil", tc.addr, tc.auth, err)
		}
	}
}

func TestReadBasicAuthFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content    string
		user, pass, fail string
	}{
		{name: "plain", content: "ops:correct horse battery", user: "ops", pass: "correct horse battery"},
		{name: "newline", content: "ops:correct horse battery\n", user: "ops", pass: "correct horse battery"},
		{name: "crlf", content: "ops:correct horse battery\r\n", user: "ops", pass: "correct horse battery"},
		{name: "colon in password", content: "ops:a:b:c:d:e:f:g:h\n", user: "ops", pass: "a:b:c:d:e:f:g:h"},
		{name: "no colon", content: "correct horse battery\n", fail: "no ':' found"},
		{name: "empty user", content: ":correct horse battery\n", fail: "user name before ':' is empty"},
		{name: "short password", content: "ops:hunter2\n", fail: "shorter than 12 characters"},
		{name: "empty password", content: "ops:\n", fail: "shorter than 12 characters"},
		{name: "two lines", content: "ops:correct horse battery\nmore:lines here too\n", fail: "one line"},
		{name: "empty file", content: "", fail: "no ':' found"},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
		if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		user, pass, err := ReadBasicAuthFile(p)
		switch {
		case tc.fail != "":
			if err == nil || !strings.Contains(err.Error(), tc.fail) {
				t.Errorf("%s: err = %v, want it to say %q", tc.name, err, tc.fail)
			}
			if err != nil && strings.Contains(tc.content, "hunter2") && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("%s: the error shows the password: %v", tc.name, err)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case user != tc.user || pass != tc.pass:
			t.Errorf("%s: got %q:%q, want %q:%q", tc.name, user, pass, tc.user, tc.pass)
		}
	}
	if _, _, err := ReadBasicAuthFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file: no error")
	}
}

func TestSourceError(t *testing.T) {
	h := Handler(&fixedSource{err: errUnavailable})
	rec := serve(t, h, "GET", "/")
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), errUnavailable.Error()) {
		t.Errorf("GET / = %d %q, want 503 with the error", rec.Code, rec.Body.String())
	}
	rec = serve(t, h, "GET", "/status.json")
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 503 || body["error"] != errUnavailable.Error() {
		t.Errorf("GET /status.json = %d %q (%v), want 503 with {\"error\": …}", rec.Code, rec.Body.String(), err)
	}
	if rec := serve(t, h, "GET", "/style.css"); rec.Code != 200 {
		t.Errorf("GET /style.css = %d while the source fails, want 200", rec.Code)
	}
}

// TestJSONShape pins the names of the JSON document's fields: scripts and dashboards read them.
func TestJSONShape(t *testing.T) {
	rec := serve(t, Handler(&fixedSource{m: fixture()}), "GET", "/status.json")
	golden(t, "status.golden.json", rec.Body.Bytes())

	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	keys := func(v any) []string {
		var out []string
		for k := range v.(map[string]any) {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	check := func(what string, v any, want ...string) {
		t.Helper()
		slices.Sort(want)
		if got := keys(v); !reflect.DeepEqual(got, want) {
			t.Errorf("%s keys = %v, want %v", what, got, want)
		}
	}
	check("model", doc, "generated", "version", "repo", "ref", "project", "commit", "last_reconcile", "secrets", "alerts")
	check("commit", doc["commit"], "hash", "subject", "time")
	check("last_reconcile", doc["last_reconcile"], "time", "result")
	secrets := doc["secrets"].([]any)
	if len(secrets) != 5 {
		t.Fatalf("%d secrets, want 5", len(secrets))
	}
	session := secrets[2].(map[string]any)
	check("secret", session, "name", "kind", "fingerprint", "last_rotation", "sources", "consumers",
		"pending_revocation", "pending_until")
	check("last_rotation", session["last_rotation"], "time", "outcome")
	check("source", session["sources"].([]any)[0], "location", "state")
	worker := session["consumers"].([]any)[1]
	check("consumer", worker, "name", "action", "containers")
	check("container", worker.(map[string]any)["containers"].([]any)[0], "id", "state", "since", "reason")
	check("open_txn", secrets[3].(map[string]any)["open_txn"], "id", "phase", "started")
	if got := secrets[3].(map[string]any)["open_txn"].(map[string]any)["phase"]; got != "rolling" {
		t.Errorf("open_txn.phase = %v, want \"rolling\"", got)
	}
	check("alert", doc["alerts"].([]any)[0], "key", "state", "reason", "since")

	// The document decodes back into the same model.
	var m Model
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if want := sanitize(fixture()); !reflect.DeepEqual(m, want) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v", m, want)
	}

	// Empty lists are [], not null.
	rec = serve(t, Handler(&fixedSource{m: Model{Secrets: []Secret{{Name: "x"}}}}), "GET", "/status.json")
	for _, want := range []string{`"secrets": [`, `"alerts": []`, `"sources": []`, `"consumers": []`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("empty model JSON lacks %s:\n%s", want, rec.Body.String())
		}
	}
}

func TestGoldenPage(t *testing.T) {
	rec := serve(t, Handler(&fixedSource{m: fixture()}), "GET", "/")
	golden(t, "page.golden.html", rec.Body.Bytes())
	rec = serve(t, Handler(&fixedSource{m: inSync()}), "GET", "/")
	golden(t, "insync.golden.html", rec.Body.Bytes())
}

// golden compares got with testdata/name byte for byte, or rewrites the file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./statuspage/ -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs from the rendered output at line %d:\n got: %s\nwant: %s\n(if the change is intended, run go test ./statuspage/ -run %s -update)",
					path, i+1, g, w, t.Name())
			}
		}
	}
}

func TestPageContent(t *testing.T) {
	page := serve(t, Handler(&fixedSource{m: fixture()}), "GET", "/").Body.String()
	for _, want := range []string{
		`<title>rekey · shop · 3 places drifted · 1 rotation failed</title>`,
		`<h1>3 places drifted · 1 rotation failed</h1>
<p class="banner-also">Also: 1 place not checked · 4 open alerts · rotating smtp-password · 3 places pending</p>`,
		`<p class="banner-label">PROBLEM</p>`,
		`<header class="banner banner-bad" role="status">`,
		`<li>session-key: consumer worker (77aa01bc23de) is stale-consumer</li>`,
		`<li>webhook-token: source /srv/shop/secrets/webhook_token.txt is source-edited</li>`,
		`<li>api-signing-key: last rotation rolled-back: check http http://127.0.0.1:8080/healthz after rolling app: status 500, want 200</li>`,
		`<meta http-equiv="refresh" content="30">`,
		`<link rel="stylesheet" href="style.css">`,
		// times: UTC RFC 3339 and the age from Generated
		`<time datetime="2026-11-26T01:10:50Z">2026-11-26T01:10:50Z</time> <span class="age">(2h3m ago)</span>`,
		`<time datetime="2026-11-26T21:02:11Z">2026-11-26T21:02:11Z</time> <span class="age">(in 17h48m)</span>`,
		`<time datetime="2026-11-26T03:13:12Z">2026-11-26T03:13:12Z</time> <span class="age">(48s ago)</span>`,
		`<time datetime="2026-11-26T03:14:00Z">2026-11-26T03:14:00Z</time> <span class="age">(just now)</span>`,
		// fingerprints: 12 hex digits; the commit: 12 characters
		`<code>65083c668c81</code>`,
		`<code title="4b1c2d3e4f5061728394a5b6c7d8e9f001122334">4b1c2d3e4f50</code>`,
		// states are words
		`<span class="badge bad">stale-consumer</span>`,
		`<span class="badge bad">source-edited</span>`,
		`<span class="badge warn">unknown</span>`,
		`<span class="badge info">pending</span>`,
		`<span class="badge ok">in-sync</span>`,
		`<span class="badge bad">rolled-back</span>`,
		`<span class="badge info">rolling</span> <code>t-20261126-031240-smtp</code>`,
		`<span class="badge info">still accepted</span>`,
		`<h3>session-key</h3>
<span class="badge bad">drifted</span>`,
		`<h3>smtp-password</h3>
<span class="badge info">rotating</span>`,
		`<h3>backup-token</h3>
<span class="badge warn">unchecked</span>`,
		`<h3>api-signing-key</h3>
<span class="badge bad">rolled-back</span>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	assertNoActiveContent(t, page)

	page = serve(t, Handler(&fixedSource{m: inSync()}, WithRefresh(0)), "GET", "/").Body.String()
	for _, want := range []string{
		`<title>rekey · shop · All in sync</title>`,
		`<header class="banner banner-ok" role="status">`,
		`<p class="banner-label">OK</p>`,
		`<h1>All in sync</h1>`,
		`<h3>session-key</h3>
<span class="badge ok">in-sync</span>`,
		`<p class="muted">No open alerts.</p>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the in-sync page lacks %s", want)
		}
	}
	if strings.Contains(page, "http-equiv") {
		t.Error("WithRefresh(0): the page still reloads itself")
	}
	page = serve(t, Handler(&fixedSource{m: inSync()}, WithRefresh(90*time.Second)), "GET", "/").Body.String()
	if !strings.Contains(page, `<meta http-equiv="refresh" content="90">`) {
		t.Error("WithRefresh(90s): no 90 s refresh")
	}
}

// allowedTags are the only elements the page may have.
var allowedTags = []string{"!doctype", "html", "head", "meta", "title", "link", "body", "header", "main", "footer",
	"div", "section", "article", "p", "h1", "h2", "h3", "h4", "ul", "li", "dl", "dt", "dd", "table", "thead", "tbody",
	"tr", "th", "td", "span", "strong", "code", "pre", "time", "br", "a"}

// assertNoActiveContent fails if the page could run or load anything but its own stylesheet and JSON. Text
// is escaped, so every '<' in the page opens a real tag: the tags are checked against an allowlist, their
// attributes for event handlers and inline style, and every link for its target.
func assertNoActiveContent(t *testing.T, page string) {
	t.Helper()
	tags := regexp.MustCompile(`<(/?)([^\s/>]+)([^>]*)>`).FindAllStringSubmatch(page, -1)
	if len(tags) < 50 {
		t.Fatalf("only %d tags found: the check is broken", len(tags))
	}
	attrName := regexp.MustCompile(`(?:^|\s)([^\s=]+)=`)
	for _, m := range tags {
		name, attrs := strings.ToLower(m[2]), m[3]
		if !slices.Contains(allowedTags, name) {
			t.Errorf("the page has a <%s> element: %s", name, m[0])
		}
		for _, a := range attrName.FindAllStringSubmatch(attrs, -1) {
			if an := strings.ToLower(a[1]); strings.HasPrefix(an, "on") || an == "style" || an == "src" || an == "srcdoc" {
				t.Errorf("the page has an attribute %s: %s", an, m[0])
			}
		}
	}
	if strings.Contains(strings.ToLower(page), "javascript:") {
		t.Error("the page contains javascript:")
	}
	for _, m := range regexp.MustCompile(`(?i)\bhref="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		if !slices.Contains([]string{"style.css", "status.json"}, m[1]) {
			t.Errorf("the page links %q: only style.css and status.json are allowed", m[1])
		}
	}
}

func TestSummary(t *testing.T) {
	sync := inSync()
	noReconcile := inSync()
	noReconcile.LastReconcile = Reconcile{}
	failed := inSync()
	failed.LastReconcile = Reconcile{Time: at("2026-11-26T03:10:00Z"), Result: ResultRefused, Error: "commit 4b1c2d3e4f50 is not signed by a trusted key"}
	errOnly := inSync()
	errOnly.LastReconcile = Reconcile{Time: at("2026-11-26T03:10:00Z"), Error: "the Docker engine is unreachable"}
	drifted := inSync()
	drifted.Secrets[0].Consumers[1].Containers[0].Drift = Drift{State: reconcile.DriftStaleConsumer, Since: at("2026-11-26T01:00:00Z")}
	unchecked := inSync()
	unchecked.Secrets[1].Consumers[0].Containers[0].Drift = drift(reconcile.DriftUnknown, "no running container")
	alerted := inSync()
	alerted.Alerts = []Alert{{Key: "transient/reconcile", State: "failing", Reason: "3 reconciles in a row failed"}}
	rotating := inSync()
	rotating.Secrets[1].OpenTxn = &Txn{ID: "t1", Phase: reconcile.PhaseWriting}
	many := inSync()
	for i := range 12 {
		many.Secrets = append(many.Secrets, Secret{Name: "s" + string(rune('a'+i)),
			Sources: []SourceState{{Location: "/x", Drift: drift(reconcile.DriftSourceEdited, "")}}})
	}
	for _, tc := range []struct {
		name     string
		m        Model
		level    string
		label    string
		headline string
		lines    int
	}{
		{"in sync", sync, "ok", "OK", "All in sync", 1},
		{"no reconcile", noReconcile, "warn", "WARNING", "No reconcile yet", 0},
		{"refused", failed, "bad", "PROBLEM", "Last reconcile failed", 1},
		{"error text only", errOnly, "bad", "PROBLEM", "Last reconcile failed", 1},
		{"drifted", drifted, "bad", "PROBLEM", "1 place drifted", 1},
		{"unchecked", unchecked, "warn", "WARNING", "1 place not checked", 0},
		{"alerted", alerted, "warn", "WARNING", "1 open alert", 0},
		{"rotating", rotating, "info", "BUSY", "Rotating webhook-token", 0},
		{"many", many, "bad", "PROBLEM", "12 places drifted", maxBannerLines},
	} {
		s := newView(sanitize(tc.m), 0).Summary
		if s.Level != tc.level || s.Label != tc.label || s.Headline != tc.headline || len(s.Lines) != tc.lines {
			t.Errorf("%s: summary = %s %s %q with %d lines %q, want %s %s %q with %d lines",
				tc.name, s.Level, s.Label, s.Headline, len(s.Lines), s.Lines, tc.level, tc.label, tc.headline, tc.lines)
		}
	}
	for _, tc := range []struct {
		r    Reconcile
		want badge
	}{
		{Reconcile{}, badge{"not run yet", "warn"}},
		{Reconcile{Time: at("2026-11-26T03:10:00Z"), Result: ResultOK}, badge{"ok", "ok"}},
		{Reconcile{Time: at("2026-11-26T03:10:00Z"), Result: ResultRefused}, badge{"refused", "bad"}},
		{Reconcile{Time: at("2026-11-26T03:10:00Z"), Result: ResultOK, Error: "boom"}, badge{"error", "bad"}},
		{Reconcile{Error: "boom"}, badge{"error", "bad"}},
	} {
		if got := newView(inSync(), 0).ResultOf(tc.r); got != tc.want {
			t.Errorf("ResultOf(%+v) = %v, want %v", tc.r, got, tc.want)
		}
	}
	s := newView(failed, 0).Summary
	if want := "Last reconcile (refused) at 2026-11-26T03:10:00Z (4m ago): commit 4b1c2d3e4f50 is not signed by a trusted key"; s.Lines[0] != want {
		t.Errorf("refused line = %q, want %q", s.Lines[0], want)
	}
	if s := newView(many, 0).Summary; s.Lines[maxBannerLines-1] != "… and 5 more below" {
		t.Errorf("last of many lines = %q", s.Lines[maxBannerLines-1])
	}
}

func TestRelative(t *testing.T) {
	now := at("2026-11-26T03:14:00Z")
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "just now"},
		{999 * time.Millisecond, "just now"},
		{time.Second, "1s ago"},
		{59 * time.Second, "59s ago"},
		{time.Minute, "1m ago"},
		{3*time.Minute + 59*time.Second, "3m ago"},
		{time.Hour, "1h ago"},
		{2*time.Hour + 3*time.Minute + 10*time.Second, "2h3m ago"},
		{24 * time.Hour, "1d ago"},
		{3*24*time.Hour + 4*time.Hour, "3d4h ago"},
		{10*24*time.Hour + 4*time.Hour, "10d ago"},
		{-90 * time.Second, "in 1m"},
		{-(17*time.Hour + 48*time.Minute), "in 17h48m"},
	} {
		if got := relative(now.Add(-tc.d), now); got != tc.want {
			t.Errorf("relative(now - %v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestEscaping(t *testing.T) {
	h := Handler(&fixedSource{m: hostile()})
	page := serve(t, h, "GET", "/").Body.String()
	assertNoActiveContent(t, page)
	for _, want := range []string{
		`<h3>&lt;script&gt;alert(1)&lt;/script&gt;</h3>`,
		`<strong>&lt;script&gt;alert(1)&lt;/script&gt;</strong>`,
		`<code>&#34;&gt;&lt;img src=x onerror=alert(2)&gt;</code>`,
		`<pre class="error">&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;</pre>`,
		`/srv/&lt;b&gt;bold&lt;/b&gt;.env:`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the hostile page lacks %s", want)
		}
	}
	if strings.Contains(page, "<b>") {
		t.Error("the hostile page has a <b> element")
	}
	// The safety net: a fingerprint that is not one and a token in the repository URL are not shown.
	js := serve(t, h, "GET", "/status.json").Body.String()
	for name, body := range map[string]string{"page": page, "json": js} {
		for _, leak := range []string{"hunter2", "ghp_SECRETTOKEN", "x-access-token", "token=abc"} {
			if strings.Contains(body, leak) {
				t.Errorf("the %s shows %q", name, leak)
			}
		}
	}
	if !strings.Contains(page, `<code class="wrapany">https://github.com/acme/secrets.git</code>`) {
		t.Error("the hostile page does not show the cleaned repository URL")
	}
	if !strings.Contains(js, `"fingerprint": "invalid"`) {
		t.Error("the hostile JSON does not mark the fingerprint invalid")
	}
	// JSON escapes markup too, in case something renders it as HTML.
	if strings.Contains(js, "<script>") {
		t.Error("the JSON holds a raw <script>")
	}
}

func TestSanitize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/srv/secrets-repo", "/srv/secrets-repo"},
		{"git@github.com:acme/secrets.git", "git@github.com:acme/secrets.git"},
		{"https://github.com/acme/secrets.git", "https://github.com/acme/secrets.git"},
		{"https://user:pass@git.example.com/acme/secrets.git", "https://git.example.com/acme/secrets.git"},
		{"https://TOKEN@git.example.com/acme/secrets.git?x=y#z", "https://git.example.com/acme/secrets.git"},
		{"ssh://git@git.example.com:2222/acme/secrets.git", "ssh://git.example.com:2222/acme/secrets.git"},
	} {
		if got := cleanRepo(tc.in); got != tc.want {
			t.Errorf("cleanRepo(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for fp, ok := range map[string]bool{
		"hmac:65083c668c8178e3": true, "hmac:0": true, "hmac:": false, "hmac:65083C668C8178E3": false,
		"65083c668c8178e3": false, "hmac:hunter2": false, "sha256:65083c668c8178e3": false,
	} {
		if got := validFingerprint(fp); got != ok {
			t.Errorf("validFingerprint(%q) = %v, want %v", fp, got, ok)
		}
	}
	// sanitize does not change the caller's model.
	m := fixture()
	m.Secrets[0].Fingerprint = "oops"
	_ = sanitize(m)
	if m.Secrets[0].Fingerprint != "oops" {
		t.Error("sanitize changed its argument")
	}
}

func TestStyleSheet(t *testing.T) {
	rec := serve(t, Handler(&fixedSource{m: fixture()}), "GET", "/style.css")
	css := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(css, ".banner-bad") || !strings.Contains(css, "@media (max-width: 52rem)") {
		t.Errorf("GET /style.css = %d, %d bytes", rec.Code, len(css))
	}
	for _, bad := range []string{"@import", "url(", "http:", "https:", "expression("} {
		if strings.Contains(css, bad) {
			t.Errorf("the stylesheet contains %q: it must load nothing", bad)
		}
	}
}
