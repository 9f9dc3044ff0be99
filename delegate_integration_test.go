package jwtextended

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
)

// startDelegatedExample builds and runs the README's example app
// (examples/delegated) on a free port, and returns its address once it
// accepts connections.
func startDelegatedExample(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("the example app is built with the go command: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "delegated")
	if out, err := exec.Command(goBin, "build", "-o", bin, "./examples/delegated").CombinedOutput(); err != nil {
		t.Fatalf("building examples/delegated: %v\n%s", err, out)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	cmd := exec.Command(bin, "-listen", addr)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	// a bounded poll of a separate process: it listens or the test fails
	for deadline := time.Now().Add(20 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("the example app does not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDelegatedExampleFlow runs the README's example end to end: the app
// of examples/delegated behind a real Caddy configured by
// examples/delegated/Caddyfile (its site block as written, on startCaddy's
// port).
// The app knows nothing of JWTs, and gets login, fresh tokens, refresh,
// reauth and logout through Caddy alone.
func TestDelegatedExampleFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the example app")
	}
	appAddr := startDelegatedExample(t)
	example, err := os.ReadFile("examples/delegated/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	site := string(example[strings.Index(string(example), ":8080 {"):])
	site = strings.Replace(site, ":8080", "http://", 1)
	site = regexp.MustCompile(`reverse_proxy \S+`).ReplaceAllString(site, "reverse_proxy "+appAddr)
	cfg := caddyGlobals(fmt.Sprintf("\tauto_https off\n\tjwt {\n\t\tsecret \"%s\"\n\t}\n", fixtureSecret)) + site
	c := startCaddy(t, cfg).Client

	login := func(path, password string) (int, map[string]any) {
		status, _, body := issuerITDo(t, c, "POST", path, map[string]string{"Content-Type": "application/json"}, `{"username":"alice","password":"`+password+`"}`)
		if status != http.StatusOK {
			return status, nil
		}
		return status, issuerITJSON(t, body)
	}
	get := func(path, tok string) (int, string) {
		status, _, body := issuerITDo(t, c, "GET", path, map[string]string{"Authorization": "Bearer " + tok}, "")
		return status, body
	}

	// the app refuses a wrong password: its 401 reaches the client
	if status, _ := login("/auth/login", "guess"); status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", status)
	}
	status, tokens := login("/auth/login", "wonderland")
	if status != http.StatusOK {
		t.Fatalf("login: %d", status)
	}
	access, refresh := tokens["access_token"].(string), tokens["refresh_token"].(string)
	_, claims := decodeToken(t, access)
	if claims["sub"] != "alice" || claims["role"] != "admin" || claims["fresh"] != true {
		t.Fatalf("the login's access token: %v", claims)
	}
	if status, body := get("/api/email", access); status != 200 || body != "hello alice, fresh: true\n" {
		t.Fatalf("fresh token on the fresh route: %d %q", status, body)
	}

	// a refresh gives a non-fresh token with the login's claims
	status, _, body := issuerITDo(t, c, "POST", "/auth/refresh", map[string]string{"Authorization": "Bearer " + refresh}, "")
	if status != 200 {
		t.Fatalf("refresh: %d %s", status, body)
	}
	refreshed := issuerITJSON(t, body)["access_token"].(string)
	if _, claims := decodeToken(t, refreshed); claims["role"] != "admin" || claims["fresh"] != false {
		t.Fatalf("refreshed token: %v", claims)
	}
	if status, body := get("/api/profile", refreshed); status != 200 || body != "hello alice, fresh: false\n" {
		t.Fatalf("refreshed token on a plain route: %d %q", status, body)
	}
	if status, body := get("/api/email", refreshed); status != 401 || !strings.Contains(body, "Fresh token required") {
		t.Fatalf("refreshed token on the fresh route: %d %q", status, body)
	}

	// reauth: the app checks the password again, Caddy mints a fresh token
	status, tokens = login("/auth/reauth", "wonderland")
	if status != 200 || tokens["refresh_token"] != nil {
		t.Fatalf("reauth: %d %v", status, tokens)
	}
	if status, _ := get("/api/email", tokens["access_token"].(string)); status != 200 {
		t.Fatalf("reauth's token on the fresh route: %d", status)
	}

	// logout revokes the presented tokens
	status, _, body = issuerITDo(t, c, "POST", "/auth/logout", map[string]string{"Authorization": "Bearer " + access, "Content-Type": "application/json"}, `{"refresh_token":"`+refresh+`"}`)
	if status != 200 {
		t.Fatalf("logout: %d %s", status, body)
	}
	if status, body := get("/api/profile", access); status != 401 || !strings.Contains(body, "Token has been revoked") {
		t.Fatalf("after logout: %d %q", status, body)
	}
}

// TestDelegatedCookieFlow is the same app with cookie delivery, CSRF and
// logout on every device: the app still knows nothing of JWTs.
func TestDelegatedCookieFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the example app")
	}
	appAddr := startDelegatedExample(t)
	cfg := caddyGlobals(fmt.Sprintf("\tauto_https off\n\tjwt {\n\t\tsecret \"%s\"\n\t\ttoken_from header cookie\n\t}\n", fixtureSecret)) + fmt.Sprintf(`
http://localhost {
	jwt_issue {
		login /auth/login upstream
		reauth /auth/reauth upstream
		refresh /auth/refresh
		logout /auth/logout all
		deliver cookie
	}
	jwt_auth /api/email fresh_required
	jwt_auth /api/*
	reverse_proxy %s
}
`, appAddr)
	srv := startCaddy(t, cfg, ownStorage())
	base, _ := url.Parse(srv.Base)
	device := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar, Transport: srv.Client.Transport}
	}
	cookie := func(c *http.Client, name string) string {
		for _, ck := range c.Jar.Cookies(base) {
			if ck.Name == name {
				return ck.Value
			}
		}
		return ""
	}
	do := func(c *http.Client, method, path string, hdr map[string]string, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.Base+path, strings.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	json := map[string]string{"Content-Type": "application/json"}
	creds := `{"username":"alice","password":"wonderland"}`

	laptop, phone := device(), device()
	for _, c := range []*http.Client{laptop, phone} {
		if st, body := do(c, "POST", "/auth/login", json, creds); st != 200 || cookie(c, "access_token_cookie") == "" {
			t.Fatalf("login: %d %s", st, body)
		}
	}
	if st, body := do(laptop, "GET", "/api/profile", nil, ""); st != 200 || body != "hello alice, fresh: true\n" {
		t.Fatalf("GET with the cookie: %d %q", st, body)
	}
	// an unsafe method needs the double submit
	if st, body := do(laptop, "POST", "/api/email", nil, ""); st != 401 || !strings.Contains(body, "Missing CSRF token") {
		t.Fatalf("POST without X-CSRF-TOKEN: %d %q", st, body)
	}
	csrf := map[string]string{"X-CSRF-TOKEN": cookie(laptop, "csrf_access_token")}
	if st, body := do(laptop, "POST", "/api/email", csrf, ""); st != 200 {
		t.Fatalf("POST with X-CSRF-TOKEN: %d %q", st, body)
	}
	// a refresh (with its own CSRF value) is not fresh
	if st, body := do(laptop, "POST", "/auth/refresh", map[string]string{"X-CSRF-TOKEN": cookie(laptop, "csrf_refresh_token")}, ""); st != 200 {
		t.Fatalf("refresh: %d %s", st, body)
	}
	csrf = map[string]string{"X-CSRF-TOKEN": cookie(laptop, "csrf_access_token")}
	if st, body := do(laptop, "POST", "/api/email", csrf, ""); st != 401 || !strings.Contains(body, "Fresh token required") {
		t.Fatalf("refreshed cookie on the fresh route: %d %q", st, body)
	}
	// logout on the laptop, everywhere: the phone's session ends too
	if st, body := do(laptop, "POST", "/auth/logout", csrf, ""); st != 200 {
		t.Fatalf("logout all: %d %s", st, body)
	}
	if st, body := do(phone, "GET", "/api/profile", nil, ""); st != 401 || !strings.Contains(body, "Token has been revoked") {
		t.Fatalf("the phone after logout all: %d %q", st, body)
	}
}
