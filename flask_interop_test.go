package jwtextended

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
)

// Issue 13's "Done when", shown against the real flask-jwt-extended: the
// Flask app of testdata/flask/app.py and a Caddy configured by the
// Caddyfile below say the same configuration (header name and type, cookie
// names, paths, domain, SameSite, CSRF header, methods and form field, two
// HS secrets with kids; then CSRF off). Tokens and cookies minted by either
// are sent to both, and both must answer alike: what Caddy mints passes
// Flask's @jwt_required, what Flask mints passes jwt_auth, and each one's
// refusals are the other's.

// flaskPython returns a python that imports flask_jwt_extended
// (/usr/bin/python3 first: Debian's python3-python-flask-jwt-extended).
// Without one the test skips, unless JWT_REQUIRE_FLASK=1 (CI), where it
// fails: there, a missing Flask must not pass unnoticed as a skip.
func flaskPython(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/python3", "python3"} {
		p, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		if exec.Command(p, "-c", "import flask_jwt_extended").Run() == nil {
			return p
		}
	}
	msg := "no python3 imports flask_jwt_extended (tried /usr/bin/python3, python3); " +
		"install it with: apt-get install -y python3-python-flask-jwt-extended"
	if os.Getenv("JWT_REQUIRE_FLASK") == "1" {
		t.Fatal(msg + " (JWT_REQUIRE_FLASK=1: the Flask interop test must run)")
	}
	t.Skip(msg)
	return ""
}

// flaskLog collects the Flask app's output, shown when the test fails.
type flaskLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *flaskLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *flaskLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startFlask runs testdata/flask/app.py with the variant on a free port
// and returns its base URL once it accepts connections.
func startFlask(t *testing.T, python, variant string) string {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(python, "testdata/flask/app.py", port, variant)
	cmd.Env = append(os.Environ(), "FLASK_SECRET_NEW="+secretsTestNew, "FLASK_SECRET_OLD="+secretsTestOld, "PYTHONDONTWRITEBYTECODE=1")
	runFlask(t, cmd, addr, "the flask app ("+variant+")")
	return "http://" + addr
}

// runFlask starts cmd, a Flask app that will listen on addr, stops it at
// the test's cleanup (showing its output if the test failed), and returns
// once it accepts connections.
func runFlask(t *testing.T, cmd *exec.Cmd, addr, name string) {
	t.Helper()
	out := &flaskLog{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out)
		}
	})
	// a bounded poll of a separate process: it listens, exits, or the test fails
	for deadline := time.Now().Add(30 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("%s exited: %v\n%s", name, err, out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s: %v\n%s", name, addr, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func flaskDo(t *testing.T, base, method, path string, hdr map[string]string, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, base, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// flaskClaims decodes a token's header and payload without verifying it
// (both servers verify it in the test).
func flaskClaims(t *testing.T, raw string) (map[string]any, map[string]any) {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q has %d segments", raw, len(parts))
	}
	dec := func(s string) map[string]any {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("segment %q: %v", s, err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("segment %s: %v", b, err)
		}
		return m
	}
	return dec(parts[0]), dec(parts[1])
}

// flaskCookieView is what a browser keeps of a Set-Cookie line.
type flaskCookieView struct {
	Path, Domain     string
	SameSite         string
	HttpOnly, Secure bool
	MaxAge           int
}

func flaskCookieViews(h http.Header) (map[string]flaskCookieView, map[string]string) {
	views, values := map[string]flaskCookieView{}, map[string]string{}
	for _, c := range (&http.Response{Header: h}).Cookies() {
		views[c.Name] = flaskCookieView{c.Path, c.Domain, flaskSameSite(c.SameSite), c.HttpOnly, c.Secure, c.MaxAge}
		values[c.Name] = c.Value
	}
	return views, values
}

func flaskSameSite(s http.SameSite) string {
	return map[http.SameSite]string{http.SameSiteDefaultMode: "(no value)", http.SameSiteLaxMode: "Lax",
		http.SameSiteStrictMode: "Strict", http.SameSiteNoneMode: "None"}[s]
}

// flaskIssued is what one login handed out: the JSON tokens and the
// cookies' values by name.
type flaskIssued struct {
	by              string
	access, refresh string
	cookies         map[string]string
}

func TestFlaskInterop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Caddy and a Flask app")
	}
	python := flaskPython(t)
	flask := map[string]string{}
	for _, v := range []string{"csrf", "nocsrf"} {
		flask[v] = startFlask(t, python, v)
	}
	hash := testkit.BcryptHash(t, "pw-alice")
	// caddyBase is the URL of the Caddy each subtest starts
	var caddyBase string
	// the Caddyfile of testdata/flask/app.py's app.config
	caddyfile := func(csrf string) string {
		return caddyGlobals(fmt.Sprintf(`	auto_https off
	jwt {
		secret "%s" k2
		secret "%s" k1
		token_from header cookie
		header_name X-Auth
		header_type Token
		cookie {
			access_name  acc
			refresh_name ref
			access_path  /api
			refresh_path /auth
			csrf_access_name  xsrf_acc
			csrf_refresh_name xsrf_ref
			domain   app.example.test
			samesite strict
			secure   off
		}
		csrf {
%s
			header X-XSRF
			methods POST DELETE
			check_form on
			form_field _csrf
		}
	}
`, secretsTestNew, secretsTestOld, csrf)) + fmt.Sprintf(`
http://localhost {
	jwt_issue {
		login   /auth/login
		refresh /auth/refresh
		deliver json cookie
		user alice %s
	}
	handle /api/fresh {
		jwt_auth fresh_required
		respond "hello {http.auth.user.id} {method}"
	}
	handle /api/* {
		jwt_auth
		respond "hello {http.auth.user.id} {method}"
	}
}
`, hash)
	}
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}

	// login at both; the Flask login also with ?kid=k1, the second
	// (rotated-out) secret
	login := func(t *testing.T, variant string) (caddy, fl, flOld flaskIssued, caddyCk, flaskCk map[string]flaskCookieView) {
		t.Helper()
		get := func(by, base, path string) (flaskIssued, map[string]flaskCookieView) {
			st, hdr, body := flaskDo(t, base, "POST", path, form, "username=alice&password=pw-alice")
			if st != 200 {
				t.Fatalf("%s login (%s): %d %s", by, variant, st, body)
			}
			m := issuerITJSON(t, body)
			views, values := flaskCookieViews(hdr)
			iss := flaskIssued{by: by, cookies: values}
			iss.access, _ = m["access_token"].(string)
			iss.refresh, _ = m["refresh_token"].(string)
			if iss.access == "" || iss.refresh == "" {
				t.Fatalf("%s login (%s) returned %s", by, variant, body)
			}
			return iss, views
		}
		caddy, caddyCk = get("caddy", caddyBase, "/auth/login")
		fl, flaskCk = get("flask", flask[variant], "/auth/login")
		flOld, _ = get("flask (kid k1)", flask[variant], "/auth/login?kid=k1")
		return
	}

	// the same request to both servers: both must give the wanted answer
	// (200 with "hello alice <METHOD>", or the status with that msg)
	both := func(t *testing.T, step string, iss flaskIssued, variant, method, path string, hdr map[string]string, body string, wantStatus int, want string) {
		t.Helper()
		for _, srv := range []struct{ name, base string }{{"caddy", caddyBase}, {"flask", flask[variant]}} {
			st, _, got := flaskDo(t, srv.base, method, path, hdr, body)
			ok := st == wantStatus
			if ok && wantStatus == 200 && want != "" {
				ok = got == want
			} else if ok && want != "" {
				var m map[string]any
				ok = json.Unmarshal([]byte(got), &m) == nil && m["msg"] == want
			}
			if !ok {
				t.Errorf("%s (%s's token, %s) at %s: %d %q; want %d %q", step, iss.by, variant, srv.name, st, got, wantStatus, want)
			}
		}
	}

	t.Run("csrf", func(t *testing.T) {
		caddyBase = startCaddy(t, caddyfile("")).Base
		caddy, fl, flOld, caddyCk, flaskCk := login(t, "csrf")

		// the cookies: what flask's set_access_cookies and
		// set_refresh_cookies set with this config, and Caddy the same
		want := map[string]flaskCookieView{
			"acc":      {Path: "/api", Domain: "app.example.test", SameSite: "Strict", HttpOnly: true},
			"ref":      {Path: "/auth", Domain: "app.example.test", SameSite: "Strict", HttpOnly: true},
			"xsrf_acc": {Path: "/", Domain: "app.example.test", SameSite: "Strict"},
			"xsrf_ref": {Path: "/", Domain: "app.example.test", SameSite: "Strict"},
		}
		flaskCompareCookies(t, want, flaskCk, caddyCk)

		for _, iss := range []flaskIssued{caddy, fl, flOld} {
			hdr, _ := flaskClaims(t, iss.access)
			wantKid := "k2"
			if iss.by == flOld.by {
				wantKid = "k1"
			}
			if hdr["kid"] != wantKid {
				t.Errorf("%s's access token has the header %v, want kid %s", iss.by, hdr, wantKid)
			}
			for _, tok := range []string{iss.access, iss.refresh} {
				if _, claims := flaskClaims(t, tok); claims["csrf"] == nil {
					t.Errorf("%s minted no csrf claim: %v", iss.by, claims)
				}
			}
			acc := "acc=" + iss.cookies["acc"]
			xsrf := iss.cookies["xsrf_acc"]
			if iss.cookies["acc"] != iss.access || xsrf == "" {
				t.Fatalf("%s's cookies %v do not hold its access token and its CSRF value", iss.by, iss.cookies)
			}
			hello := func(m string) string { return "hello alice " + m }
			both(t, "header token", iss, "csrf", "GET", "/api/me", map[string]string{"X-Auth": "Token " + iss.access}, "", 200, hello("GET"))
			both(t, "header token, fresh route", iss, "csrf", "POST", "/api/fresh", map[string]string{"X-Auth": "Token " + iss.access}, "", 200, hello("POST"))
			both(t, "no token", iss, "csrf", "GET", "/api/me", map[string]string{"Authorization": "Token " + iss.access}, "", 401,
				"Missing JWT in headers or cookies (Missing X-Auth Header; Missing cookie \"acc\")")
			// the message differs here: flask lists both locations, with
			// "Missing 'Token' type in 'X-Auth' header. ..." for the
			// header; Caddy gives that header message alone
			both(t, "header of the default type", iss, "csrf", "GET", "/api/me", map[string]string{"X-Auth": "Bearer " + iss.access}, "", 401,
				`Missing JWT in headers or cookies (Missing 'Token' type in 'X-Auth' header. Expected 'X-Auth: Token <JWT>'; Missing cookie "acc")`)
			both(t, "header of the default type, and the cookie", iss, "csrf", "GET", "/api/me", map[string]string{"X-Auth": "Bearer " + iss.access, "Cookie": acc}, "", 200, hello("GET"))
			both(t, "cookie, GET", iss, "csrf", "GET", "/api/me", map[string]string{"Cookie": acc}, "", 200, hello("GET"))
			both(t, "cookie, POST, CSRF header", iss, "csrf", "POST", "/api/me", map[string]string{"Cookie": acc, "X-XSRF": xsrf}, "", 200, hello("POST"))
			both(t, "cookie, DELETE, CSRF header", iss, "csrf", "DELETE", "/api/me", map[string]string{"Cookie": acc, "X-XSRF": xsrf}, "", 200, hello("DELETE"))
			both(t, "cookie, POST, CSRF form field", iss, "csrf", "POST", "/api/me",
				map[string]string{"Cookie": acc, "Content-Type": "application/x-www-form-urlencoded"}, url.Values{"_csrf": {xsrf}, "n": {"1"}}.Encode(), 200, hello("POST"))
			both(t, "cookie, POST, another CSRF value", iss, "csrf", "POST", "/api/me", map[string]string{"Cookie": acc, "X-XSRF": "not-" + xsrf}, "", 401, "CSRF double submit tokens do not match")
			both(t, "cookie, POST, no CSRF", iss, "csrf", "POST", "/api/me", map[string]string{"Cookie": acc}, "", 401, "Missing CSRF token")
			both(t, "cookie, DELETE, no CSRF", iss, "csrf", "DELETE", "/api/me", map[string]string{"Cookie": acc}, "", 401, "Missing CSRF token")
			both(t, "cookie, POST, the default CSRF header", iss, "csrf", "POST", "/api/me", map[string]string{"Cookie": acc, "X-CSRF-TOKEN": xsrf}, "", 401, "Missing CSRF token")
			both(t, "cookie, PUT (not in methods), no CSRF", iss, "csrf", "PUT", "/api/me", map[string]string{"Cookie": acc}, "", 200, hello("PUT"))
			both(t, "cookie under the default name", iss, "csrf", "GET", "/api/me", map[string]string{"Cookie": "access_token_cookie=" + iss.access}, "", 401, "")

			// the refresh cookie at both refresh routes (X-CSRF-TOKEN: the
			// default JWT_REFRESH_CSRF_HEADER_NAME); the new access token is
			// not fresh, at both
			ref := map[string]string{"Cookie": "ref=" + iss.cookies["ref"]}
			both(t, "refresh cookie, no CSRF", iss, "csrf", "POST", "/auth/refresh", ref, "", 401, "Missing CSRF token")
			ref["X-CSRF-TOKEN"] = iss.cookies["xsrf_ref"]
			for _, srv := range []struct{ name, base string }{{"caddy", caddyBase}, {"flask", flask["csrf"]}} {
				st, _, body := flaskDo(t, srv.base, "POST", "/auth/refresh", ref, "")
				if st != 200 {
					t.Errorf("%s's refresh cookie at %s's refresh route: %d %s", iss.by, srv.name, st, body)
					continue
				}
				again, _ := issuerITJSON(t, body)["access_token"].(string)
				both(t, "refreshed token ("+srv.name+"), fresh route", iss, "csrf", "GET", "/api/fresh", map[string]string{"X-Auth": "Token " + again}, "", 401, "Fresh token required")
				both(t, "refreshed token ("+srv.name+")", iss, "csrf", "GET", "/api/me", map[string]string{"X-Auth": "Token " + again}, "", 200, hello("GET"))
			}
		}
	})

	t.Run("csrf off", func(t *testing.T) {
		caddyBase = startCaddy(t, caddyfile("\t\t\tprotect off")).Base
		caddy, fl, flOld, caddyCk, flaskCk := login(t, "nocsrf")
		want := map[string]flaskCookieView{
			"acc": {Path: "/api", Domain: "app.example.test", SameSite: "Strict", HttpOnly: true},
			"ref": {Path: "/auth", Domain: "app.example.test", SameSite: "Strict", HttpOnly: true},
		}
		flaskCompareCookies(t, want, flaskCk, caddyCk)
		for _, iss := range []flaskIssued{caddy, fl, flOld} {
			for _, tok := range []string{iss.access, iss.refresh} {
				if _, claims := flaskClaims(t, tok); claims["csrf"] != nil {
					t.Errorf("%s minted a csrf claim with CSRF off: %v", iss.by, claims)
				}
			}
			acc := map[string]string{"Cookie": "acc=" + iss.cookies["acc"]}
			both(t, "cookie, POST, no CSRF", iss, "nocsrf", "POST", "/api/me", acc, "", 200, "hello alice POST")
			both(t, "cookie, DELETE, no CSRF", iss, "nocsrf", "DELETE", "/api/me", acc, "", 200, "hello alice DELETE")
			both(t, "cookie, fresh route, POST, no CSRF", iss, "nocsrf", "POST", "/api/fresh", acc, "", 200, "hello alice POST")
			both(t, "header token", iss, "nocsrf", "GET", "/api/me", map[string]string{"X-Auth": "Token " + iss.access}, "", 200, "hello alice GET")
			ref := map[string]string{"Cookie": "ref=" + iss.cookies["ref"]}
			for _, srv := range []struct{ name, base string }{{"caddy", caddyBase}, {"flask", flask["nocsrf"]}} {
				if st, _, body := flaskDo(t, srv.base, "POST", "/auth/refresh", ref, ""); st != 200 {
					t.Errorf("%s's refresh cookie without CSRF at %s's refresh route: %d %s", iss.by, srv.name, st, body)
				}
			}
		}
	})
}

// flaskCompareCookies checks that Flask and Caddy set the same cookies,
// each as want says.
func flaskCompareCookies(t *testing.T, want, flask, caddy map[string]flaskCookieView) {
	t.Helper()
	names := func(m map[string]flaskCookieView) string {
		var n []string
		for k := range m {
			n = append(n, k)
		}
		sort.Strings(n)
		return strings.Join(n, " ")
	}
	if names(flask) != names(want) || names(caddy) != names(want) {
		t.Errorf("cookies set: flask %q, caddy %q; want %q", names(flask), names(caddy), names(want))
	}
	for name, w := range want {
		if flask[name] != w {
			t.Errorf("flask's cookie %s: %+v; want %+v", name, flask[name], w)
		}
		if caddy[name] != w {
			t.Errorf("caddy's cookie %s: %+v; want %+v (flask's: %+v)", name, caddy[name], w, flask[name])
		}
	}
}
