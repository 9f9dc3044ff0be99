package jwtextended

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
)

// TestCSRFIntegrationSettings runs a csrf block through a real Caddy: the
// configured header and methods on jwt_auth, the form field of a form body
// (which the upstream still reads whole), the refresh route's own header;
// then `protect off`: no csrf claim, no CSRF cookies, no CSRF value asked.
func TestCSRFIntegrationSettings(t *testing.T) {
	hash := testkit.BcryptHash(t, "pw-alice")
	config := func(csrf string) string {
		return caddyGlobals(fmt.Sprintf(`	auto_https off
	jwt {
		secret "%s"
		token_from cookie
		csrf {
%s
		}
	}
`, fixtureSecret, csrf)) + fmt.Sprintf(`
http://localhost {
	jwt_issue {
		login   /auth/login
		refresh /auth/refresh
		logout  /auth/logout
		deliver cookie
		user alice %s
	}
	handle /api/* {
		jwt_auth
		respond "{method} {http.request.body}"
	}
}
`, hash)
	}
	c := startCaddy(t, config("\t\t\theader X-XSRF-TOKEN\n\t\t\trefresh_header X-XSRF-REFRESH\n\t\t\tmethods POST DELETE\n\t\t\tcheck_form on\n\t\t\tform_field _csrf")).Client
	c.Jar = nil
	st, hdr, body := issuerITDo(t, c, "POST", "/auth/login", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "username=alice&password=pw-alice")
	issuerITWant(t, "login", st, body, 200, "Login successful")
	ck := cookieITSetCookies(hdr)
	acc := "access_token_cookie=" + ck["access_token_cookie"].Value
	ca := ck["csrf_access_token"].Value

	st, _, body = issuerITDo(t, c, "POST", "/api/x", map[string]string{"Cookie": acc, "X-CSRF-TOKEN": ca}, "")
	issuerITWant(t, "POST with the default header", st, body, 401, "Missing CSRF token")
	st, _, body = issuerITDo(t, c, "POST", "/api/x", map[string]string{"Cookie": acc, "X-XSRF-TOKEN": ca}, "")
	if st != 200 || body != "POST " {
		t.Fatalf("POST with the configured header: %d %q", st, body)
	}
	st, _, body = issuerITDo(t, c, "PUT", "/api/x", map[string]string{"Cookie": acc}, "")
	if st != 200 {
		t.Fatalf("PUT is not in methods: %d %q", st, body)
	}
	form := url.Values{"_csrf": {ca}, "item": {"pen"}}.Encode()
	st, _, body = issuerITDo(t, c, "DELETE", "/api/x", map[string]string{"Cookie": acc, "Content-Type": "application/x-www-form-urlencoded"}, form)
	if st != 200 || body != "DELETE "+form {
		t.Fatalf("DELETE with the form field: %d %q, want the body %q passed on", st, body, form)
	}
	ref := "refresh_token_cookie=" + ck["refresh_token_cookie"].Value
	st, _, body = issuerITDo(t, c, "POST", "/auth/refresh", map[string]string{"Cookie": ref, "X-XSRF-TOKEN": ck["csrf_refresh_token"].Value}, "")
	issuerITWant(t, "refresh with the access header", st, body, 401, "Missing CSRF token")
	st, _, body = issuerITDo(t, c, "POST", "/auth/refresh", map[string]string{"Cookie": ref, "X-XSRF-REFRESH": ck["csrf_refresh_token"].Value}, "")
	issuerITWant(t, "refresh with refresh_header", st, body, 200, "Token refreshed")

	c = startCaddy(t, config("\t\t\tprotect off")).Client
	c.Jar = nil
	st, hdr, body = issuerITDo(t, c, "POST", "/auth/login", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "username=alice&password=pw-alice")
	issuerITWant(t, "login, protect off", st, body, 200, "Login successful")
	ck = cookieITSetCookies(hdr)
	if len(ck) != 2 || ck["access_token_cookie"] == nil || strings.Contains(strings.Join(hdr["Set-Cookie"], " "), "csrf") {
		t.Fatalf("protect off sets %v", hdr["Set-Cookie"])
	}
	if _, claims := decodeToken(t, ck["access_token_cookie"].Value); claims["csrf"] != nil {
		t.Errorf("protect off mints csrf %v", claims["csrf"])
	}
	st, _, body = issuerITDo(t, c, "POST", "/api/x", map[string]string{"Cookie": "access_token_cookie=" + ck["access_token_cookie"].Value}, "")
	if st != 200 {
		t.Fatalf("protect off: POST without CSRF: %d %q", st, body)
	}
	st, _, body = issuerITDo(t, c, "POST", "/auth/refresh", map[string]string{"Cookie": "refresh_token_cookie=" + ck["refresh_token_cookie"].Value}, "")
	issuerITWant(t, "protect off: refresh without CSRF", st, body, 200, "Token refreshed")
}
