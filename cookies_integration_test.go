package jwtextended

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
)

// cookieITSetCookies parses the Set-Cookie lines of a response by name.
func cookieITSetCookies(h http.Header) map[string]*http.Cookie {
	out := map[string]*http.Cookie{}
	for _, c := range (&http.Response{Header: h}).Cookies() {
		out[c.Name] = c
	}
	return out
}

// TestCookieIntegrationSettings runs a cookie block through a real Caddy:
// configured names, paths, domain, SameSite and Max-Age on login; Secure
// from X-Forwarded-Proto of a trusted proxy (trusted_proxies); jwt_auth and
// the refresh route reading the configured names; logout clearing them.
func TestCookieIntegrationSettings(t *testing.T) {
	hash := testkit.BcryptHash(t, "pw-alice")
	cfg := caddyGlobals(fmt.Sprintf(`	auto_https off
	servers {
		trusted_proxies static private_ranges
	}
	jwt {
		secret "%s"
		token_from cookie
		cookie {
			access_name  flask_access
			refresh_name flask_refresh
			refresh_path /auth
			domain       localhost
			samesite     strict
			session      off
			csrf_access_name  flask_csrf_access
			csrf_refresh_name flask_csrf_refresh
			csrf_refresh_path /auth
		}
	}
`, fixtureSecret)) + fmt.Sprintf(`
http://localhost {
	jwt_issue {
		login   /auth/login
		refresh /auth/refresh
		logout  /auth/logout
		deliver cookie
		user alice %s role=admin
	}
	handle /api/* {
		jwt_auth
		respond "hello {http.auth.user.id} {method}"
	}
}
`, hash)
	c := startCaddy(t, cfg).Client
	c.Jar = nil

	st, hdr, body := issuerITDo(t, c, "POST", "/auth/login", map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-Proto": "https"}, "username=alice&password=pw-alice")
	issuerITWant(t, "login", st, body, 200, "Login successful")
	ck := cookieITSetCookies(hdr)
	for name, want := range map[string]struct {
		path   string
		maxAge int
	}{
		"flask_access": {"/", 900}, "flask_refresh": {"/auth", 720 * 3600},
		"flask_csrf_access": {"/", 900}, "flask_csrf_refresh": {"/auth", 720 * 3600},
	} {
		c := ck[name]
		if c == nil || c.Path != want.path || c.MaxAge != want.maxAge || c.Domain != "localhost" || c.SameSite != http.SameSiteStrictMode || !c.Secure {
			t.Errorf("login cookie %s: %+v (all: %v)", name, c, hdr["Set-Cookie"])
		}
	}
	if len(ck) != 4 {
		t.Fatalf("login set %v", hdr["Set-Cookie"])
	}

	st, _, body = issuerITDo(t, c, "GET", "/api/me", map[string]string{"Cookie": "flask_access=" + ck["flask_access"].Value}, "")
	if st != 200 || body != "hello alice GET" {
		t.Fatalf("GET with the configured access cookie: %d %q", st, body)
	}
	st, _, body = issuerITDo(t, c, "GET", "/api/me", map[string]string{"Cookie": "access_token_cookie=" + ck["flask_access"].Value}, "")
	if st != 401 {
		t.Fatalf("the default cookie name must not be read: %d %q", st, body)
	}
	st, hdr, body = issuerITDo(t, c, "POST", "/auth/refresh", map[string]string{
		"Cookie": "flask_refresh=" + ck["flask_refresh"].Value, "X-CSRF-TOKEN": ck["flask_csrf_refresh"].Value}, "")
	issuerITWant(t, "refresh", st, body, 200, "Token refreshed")
	if rc := cookieITSetCookies(hdr); rc["flask_access"] == nil || rc["flask_access"].Secure {
		// a plain HTTP request without the proxy's header: not Secure
		t.Errorf("refresh cookies %v", hdr["Set-Cookie"])
	}

	st, hdr, body = issuerITDo(t, c, "POST", "/auth/logout", map[string]string{
		"Cookie": "flask_access=" + ck["flask_access"].Value + "; flask_refresh=" + ck["flask_refresh"].Value, "X-CSRF-TOKEN": ck["flask_csrf_access"].Value}, "")
	issuerITWant(t, "logout", st, body, 200, "Logged out")
	cleared := cookieITSetCookies(hdr)
	for _, n := range []string{"flask_access", "flask_refresh", "flask_csrf_access", "flask_csrf_refresh"} {
		if c := cleared[n]; c == nil || c.MaxAge >= 0 || c.Domain != "localhost" {
			t.Errorf("logout did not clear %s: %v", n, hdr["Set-Cookie"])
		}
	}
	if !strings.Contains(strings.Join(hdr["Set-Cookie"], "\n"), "flask_refresh=; Path=/auth;") {
		t.Errorf("the refresh cookie is cleared on its own path: %v", hdr["Set-Cookie"])
	}
}
