package jwtextended

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
)

// TestFlaskMigrationPage runs docs/migrating-flask.md's "After" section as
// written: its helper (caddy_jwt.py) and its Flask app, with the Flask of
// flaskPython, behind a real Caddy loaded from its Caddyfile. The flow
// through Caddy: a wrong password, a login, the fresh and non-fresh views,
// a refresh refused by the fresh route, a reauth, forged X-Jwt-* headers
// that never reach the app, a logout. Then the app alone: its credential
// check refuses a call without X-Jwt-Issue-Route, and answers the identity
// to one with it (JSON or form body).
func TestFlaskMigrationPage(t *testing.T) {
	python := flaskPython(t)
	const page = "docs/migrating-flask.md"
	const section = "## After: Caddy mints and checks, the app knows its users"
	py := testkit.DocBlocks(t, page, section, "python")
	cf := testkit.DocBlocks(t, page, section, "caddyfile")
	if len(py) != 2 || len(cf) != 1 {
		t.Fatalf("%s %q has %d python blocks (want the helper and the app) and %d Caddyfiles (want 1)", page, section, len(py), len(cf))
	}
	dir := t.TempDir()
	for name, src := range map[string]string{"caddy_jwt.py": py[0], "app.py": py[1]} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	appAddr := startPageFlask(t, python, dir)

	// the page's Caddyfile, its site on the test's port and its upstream
	// the app just started
	t.Setenv("JWT_SECRET", fixtureSecret)
	block := cf[0]
	if !strings.Contains(block, "app.example.com {") {
		t.Fatalf("%s's Caddyfile no longer has the site app.example.com:\n%s", page, block)
	}
	block = strings.Replace(block, "app.example.com {", "http://localhost {", 1)
	block = testkit.ReplaceReverseProxy(t, block, "reverse_proxy "+appAddr)
	caddy := startCaddy(t, block).Base
	jsonBody := map[string]string{"Content-Type": "application/json"}
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	want := func(step string, status, wantStatus int, body, wantBody string) {
		t.Helper()
		if status != wantStatus {
			t.Fatalf("%s: %d %s, want %d", step, status, body, wantStatus)
		}
		if wantBody == "" {
			return
		}
		var got, exp any
		if json.Unmarshal([]byte(body), &got) != nil || json.Unmarshal([]byte(wantBody), &exp) != nil || !reflect.DeepEqual(got, exp) {
			t.Fatalf("%s: body %s, want %s", step, body, wantBody)
		}
	}
	tokens := func(body string) (access, refresh string) {
		t.Helper()
		var m struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
		}
		if err := json.Unmarshal([]byte(body), &m); err != nil || m.AccessToken == "" {
			t.Fatalf("no access_token in %s", body)
		}
		return m.AccessToken, m.RefreshToken
	}
	login := `{"username": "alice", "password": "wonderland"}`

	st, _, body := flaskDo(t, caddy, "POST", "/auth/login", jsonBody, `{"username": "alice", "password": "wrong"}`)
	want("a wrong password", st, 401, body, `{"msg": "Bad username or password"}`)
	st, hdr, body := flaskDo(t, caddy, "POST", "/auth/login", jsonBody, login)
	want("login", st, 200, body, "")
	for name := range hdr {
		if strings.HasPrefix(strings.ToLower(name), "x-jwt-") {
			t.Errorf("the login answer carries %s", name)
		}
	}
	access, refresh := tokens(body)
	if refresh == "" {
		t.Fatalf("no refresh_token in %s", body)
	}
	st, _, body = flaskDo(t, caddy, "GET", "/api/me", bearer(access), "")
	want("/api/me after login", st, 200, body, `{"user": "alice", "role": "admin", "fresh": true}`)
	st, _, body = flaskDo(t, caddy, "POST", "/api/email", bearer(access), "")
	want("/api/email after login", st, 200, body, `{"msg": "email of alice changed"}`)

	st, _, body = flaskDo(t, caddy, "POST", "/auth/refresh", bearer(refresh), "")
	want("refresh", st, 200, body, "")
	stale, _ := tokens(body)
	st, _, body = flaskDo(t, caddy, "POST", "/api/email", bearer(stale), "")
	want("/api/email after refresh", st, 401, body, `{"msg": "Fresh token required"}`)
	st, _, body = flaskDo(t, caddy, "GET", "/api/me", bearer(stale), "")
	want("/api/me after refresh", st, 200, body, `{"user": "alice", "role": "admin", "fresh": false}`)

	st, _, body = flaskDo(t, caddy, "POST", "/auth/reauth", jsonBody, login)
	want("reauth", st, 200, body, "")
	fresh, _ := tokens(body)
	st, _, body = flaskDo(t, caddy, "POST", "/api/email", bearer(fresh), "")
	want("/api/email after reauth", st, 200, body, `{"msg": "email of alice changed"}`)
	st, _, body = flaskDo(t, caddy, "GET", "/", bearer(fresh), "")
	want("/ with a token", st, 200, body, `{"hello": "alice"}`)

	forged := map[string]string{"X-Jwt-Identity": "admin", "X-Jwt-Fresh": "true",
		"X-Jwt-Claims": "eyJyb2xlIjoiYWRtaW4ifQ", "X-Jwt-Issue-Route": "login"}
	st, _, body = flaskDo(t, caddy, "GET", "/", forged, "")
	want("/ with forged X-Jwt-* headers", st, 200, body, `{"hello": "guest"}`)
	st, _, body = flaskDo(t, caddy, "GET", "/api/me", forged, "")
	want("/api/me with forged X-Jwt-* headers", st, 401, body, "")
	st, hdr, _ = flaskDo(t, caddy, "GET", "/auth/login", forged, "")
	if st != 405 || hdr.Get("X-Jwt-Issue-Identity") != "" {
		t.Errorf("GET /auth/login reached the credential check: %d %v", st, hdr)
	}

	st, _, body = flaskDo(t, caddy, "POST", "/auth/logout", map[string]string{"Content-Type": "application/json",
		"Authorization": "Bearer " + fresh}, fmt.Sprintf(`{"refresh_token": %q}`, refresh))
	want("logout", st, 200, body, `{"msg": "Logged out"}`)
	st, _, body = flaskDo(t, caddy, "GET", "/api/me", bearer(fresh), "")
	want("/api/me after logout", st, 401, body, `{"msg": "Token has been revoked"}`)

	// The app alone, as a client that got past Caddy would call it.
	app := "http://" + appAddr
	st, hdr, body = flaskDo(t, app, "POST", "/auth/login", jsonBody, login)
	if st != 404 || hdr.Get("X-Jwt-Issue-Identity") != "" {
		t.Errorf("the credential check without X-Jwt-Issue-Route: %d %v %s, want 404 without an identity", st, hdr, body)
	}
	for _, c := range []struct{ contentType, body string }{
		{"application/json", login},
		{"application/x-www-form-urlencoded", "username=alice&password=wonderland"},
	} {
		st, hdr, body = flaskDo(t, app, "POST", "/auth/login", map[string]string{"Content-Type": c.contentType, "X-Jwt-Issue-Route": "login"}, c.body)
		var claims map[string]any
		_ = json.Unmarshal([]byte(hdr.Get("X-Jwt-Issue-Claims")), &claims)
		if st != 204 || hdr.Get("X-Jwt-Issue-Identity") != "alice" || claims["role"] != "admin" {
			t.Errorf("the credential check with X-Jwt-Issue-Route (%s): %d %v %s", c.contentType, st, hdr, body)
		}
	}
}

// startPageFlask runs the app.py of dir (with its caddy_jwt.py) on a free
// port and returns its host:port once it accepts connections.
func startPageFlask(t *testing.T, python, dir string) string {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(python, "-c", fmt.Sprintf("import sys; sys.path.insert(0, %q); from app import app; app.run(host=%q, port=%s)", dir, host, port))
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	runFlask(t, cmd, addr, "the page's flask app")
	return addr
}
