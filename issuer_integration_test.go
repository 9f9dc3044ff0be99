package jwtextended

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddyserver/caddy/v2/caddytest"
)

// Integration tests of jwt_issue through a real Caddy (startCaddy). The
// tests of this file must not run in parallel with other in-process Caddy
// tests.

// issuerITDo sends a request to startCaddy's server (on the test process's
// ports, testkit.SharedPorts) and returns status, headers and the body.
func issuerITDo(t *testing.T, c *http.Client, method, path string, hdr map[string]string, body string) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, testkit.SharedPorts(t).HTTPBase()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func issuerITJSON(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("body %q is not JSON: %v", body, err)
	}
	return m
}

func issuerITWant(t *testing.T, step string, status int, body string, wantStatus int, wantMsg string) {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("%s: status %d, want %d (body %s)", step, status, wantStatus, body)
	}
	if wantMsg != "" {
		if got := issuerITJSON(t, body)["msg"]; got != wantMsg {
			t.Fatalf("%s: msg %q, want %q", step, got, wantMsg)
		}
	}
}

// TestIssueIntegrationExampleFlow runs the seed's token-freshness flow
// against Caddyfile.example itself: log in, call the fresh route, refresh,
// be refused "Fresh token required", reauth, log out, be refused "Token
// has been revoked".
func TestIssueIntegrationExampleFlow(t *testing.T) {
	src, err := os.ReadFile("Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	example := string(src)
	secret := regexp.MustCompile(`(?m)^\s*secret "([^"]+)"`).FindStringSubmatch(example)
	if secret == nil || !strings.Contains(example, "\n{\n") || !strings.Contains(example, "http://:8080 {") {
		t.Fatal("Caddyfile.example no longer has the shape this test adapts (global block, secret, http://:8080)")
	}
	// only the port changes: startCaddy's
	c := startCaddy(t, strings.Replace(example, "http://:8080 {", "http:// {", 1)).Client

	jsonHdr := map[string]string{"Content-Type": "application/json"}
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

	// 1. log in
	st, hdr, body := issuerITDo(t, c, "POST", "/login", jsonHdr, `{"username": "test", "password": "test"}`)
	issuerITWant(t, "login", st, body, 200, "")
	if hdr.Get("Cache-Control") != "no-store" {
		t.Errorf("login Cache-Control %q", hdr.Get("Cache-Control"))
	}
	login := issuerITJSON(t, body)
	access, refresh := login["access_token"].(string), login["refresh_token"].(string)
	// checked independently of the module with the example's secret
	issuerITCheckHS256(t, secret[1], access)

	// 2. the fresh route: identity, is_fresh, raw_data, exp
	st, hdr, body = issuerITDo(t, c, "GET", "/protected", bearer(access), "")
	issuerITWant(t, "fresh route", st, body, 200, "")
	if hdr.Get("Content-Type") != "application/json" {
		t.Errorf("protected Content-Type %q", hdr.Get("Content-Type"))
	}
	prot := issuerITJSON(t, body)
	raw, _ := prot["raw_data"].(map[string]any)
	if prot["identity"] != "test" || prot["is_fresh"] != true || raw == nil || raw["sub"] != "test" || raw["type"] != "access" ||
		prot["exp"] != fmt.Sprint(int64(raw["exp"].(float64))) {
		t.Errorf("protected answered %s", body)
	}

	// 3. refresh: a non-fresh access token
	st, _, body = issuerITDo(t, c, "POST", "/refresh", bearer(refresh), "")
	issuerITWant(t, "refresh", st, body, 200, "")
	stale := issuerITJSON(t, body)["access_token"].(string)

	// 4. refused on the fresh route, accepted on the other
	st, hdr, body = issuerITDo(t, c, "GET", "/protected", bearer(stale), "")
	issuerITWant(t, "stale token on fresh route", st, body, 401, "Fresh token required")
	if !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 without a Bearer challenge: %q", hdr.Get("WWW-Authenticate"))
	}
	st, _, body = issuerITDo(t, c, "GET", "/partially-protected", bearer(stale), "")
	issuerITWant(t, "stale token on plain route", st, body, 200, "")

	// 5. reauth (a form this time): fresh again
	st, _, body = issuerITDo(t, c, "POST", "/reauth", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "username=test&password=test")
	issuerITWant(t, "reauth", st, body, 200, "")
	fresh := issuerITJSON(t, body)["access_token"].(string)
	st, _, body = issuerITDo(t, c, "GET", "/protected", bearer(fresh), "")
	issuerITWant(t, "reauthed token on fresh route", st, body, 200, "")

	// 6. log out: both tokens revoked
	st, _, body = issuerITDo(t, c, "POST", "/logout", map[string]string{"Authorization": "Bearer " + fresh, "Content-Type": "application/json"},
		`{"refresh_token": "`+refresh+`"}`)
	issuerITWant(t, "logout", st, body, 200, "Logged out")

	// 7. refused: revoked
	st, _, body = issuerITDo(t, c, "GET", "/protected", bearer(fresh), "")
	issuerITWant(t, "after logout", st, body, 401, "Token has been revoked")
	st, _, body = issuerITDo(t, c, "POST", "/refresh", bearer(refresh), "")
	issuerITWant(t, "refresh after logout", st, body, 401, "Token has been revoked")

	// the login's failure modes through the real server
	st, hdr, body = issuerITDo(t, c, "PUT", "/login", nil, "")
	if st != 405 || hdr.Get("Allow") != "POST" {
		t.Errorf("PUT /login: %d Allow %q", st, hdr.Get("Allow"))
	}
	st, _, body = issuerITDo(t, c, "POST", "/login", jsonHdr, `{"username": "test", "password": "nope"}`)
	issuerITWant(t, "wrong password", st, body, 401, "Bad username or password")
	st, _, body = issuerITDo(t, c, "POST", "/login", jsonHdr, strings.Repeat(" ", 65<<10)+"{}")
	issuerITWant(t, "huge body", st, body, 413, "Request body is too large")
	st, _, body = issuerITDo(t, c, "GET", "/elsewhere", nil, "")
	issuerITWant(t, "other path", st, body, 404, "Not Found")
}

// issuerITCheckHS256 re-signs the token's header and payload with the
// independent test signer (stdlib HMAC) and compares.
func issuerITCheckHS256(t *testing.T, secret, raw string) {
	t.Helper()
	i := strings.LastIndexByte(raw, '.')
	hdrPayload := raw[:i]
	parts := strings.SplitN(hdrPayload, ".", 2)
	h, err := jws.Encoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	p, err := jws.Encoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	if got := signRaw(t, "HS256", []byte(secret), h, p); got != raw {
		t.Fatalf("the token's HMAC does not verify with the configured secret")
	}
}

// TestIssueIntegrationCookieCSRF runs the browser flow through a real
// Caddy: cookie delivery, the double-submit CSRF check on jwt_auth and on
// the refresh route, logout clearing the cookies and revoking, and login
// throttling.
func TestIssueIntegrationCookieCSRF(t *testing.T) {
	hash := testkit.BcryptHash(t, "pw-alice")
	cfg := fmt.Sprintf(`{
	auto_https off
	jwt {
		secret "%s"
		token_from cookie
	}
}

http://localhost {
	jwt_issue {
		login   /auth/login
		refresh /auth/refresh
		logout  /auth/logout
		deliver cookie
		user alice %s role=admin
		throttle 3 50 15m
	}
	handle /api/* {
		jwt_auth
		respond "hello {http.auth.user.id} {http.auth.jwt.claims.role} {method}"
	}
}
`, fixtureSecret, hash)
	srv := startCaddy(t, cfg)
	c := srv.Client
	base, _ := url.Parse(srv.Base)
	jar := func() map[string]string {
		out := map[string]string{}
		for _, ck := range c.Jar.Cookies(base) {
			out[ck.Name] = ck.Value
		}
		return out
	}

	st, _, body := issuerITDo(t, c, "POST", "/auth/login", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "username=alice&password=pw-alice")
	issuerITWant(t, "login", st, body, 200, "Login successful")
	ck := jar()
	for _, n := range []string{"access_token_cookie", "refresh_token_cookie", "csrf_access_token", "csrf_refresh_token"} {
		if ck[n] == "" {
			t.Fatalf("login did not set %s (jar %v)", n, ck)
		}
	}
	oldAccess := ck["access_token_cookie"]

	st, _, body = issuerITDo(t, c, "GET", "/api/me", nil, "")
	if st != 200 || body != "hello alice admin GET" {
		t.Fatalf("GET with the cookie: %d %q", st, body)
	}
	st, _, body = issuerITDo(t, c, "POST", "/api/me", nil, "")
	issuerITWant(t, "POST without CSRF header", st, body, 401, "Missing CSRF token")
	st, _, body = issuerITDo(t, c, "POST", "/api/me", map[string]string{"X-CSRF-TOKEN": ck["csrf_refresh_token"]}, "")
	issuerITWant(t, "POST with the wrong CSRF token", st, body, 401, "CSRF double submit tokens do not match")
	st, _, body = issuerITDo(t, c, "DELETE", "/api/me", map[string]string{"X-CSRF-TOKEN": ck["csrf_access_token"]}, "")
	if st != 200 || body != "hello alice admin DELETE" {
		t.Fatalf("DELETE with CSRF: %d %q", st, body)
	}

	st, _, body = issuerITDo(t, c, "POST", "/auth/refresh", nil, "")
	issuerITWant(t, "refresh without CSRF", st, body, 401, "Missing CSRF token")
	st, _, body = issuerITDo(t, c, "POST", "/auth/refresh", map[string]string{"X-CSRF-TOKEN": ck["csrf_refresh_token"]}, "")
	issuerITWant(t, "refresh", st, body, 200, "Token refreshed")
	ck2 := jar()
	if ck2["access_token_cookie"] == oldAccess || ck2["csrf_access_token"] == ck["csrf_access_token"] || ck2["refresh_token_cookie"] != ck["refresh_token_cookie"] {
		t.Fatalf("refresh must replace the access cookies only")
	}

	st, _, body = issuerITDo(t, c, "POST", "/auth/logout", map[string]string{"X-CSRF-TOKEN": ck2["csrf_access_token"]}, "")
	issuerITWant(t, "logout", st, body, 200, "Logged out")
	if left := jar(); len(left) != 0 {
		t.Errorf("logout left cookies: %v", left)
	}
	// the tokens themselves are dead, not just forgotten by the browser
	for name, tok := range map[string]string{"refreshed access": ck2["access_token_cookie"]} {
		st, _, body = issuerITDo(t, c, "GET", "/api/me", map[string]string{"Cookie": "access_token_cookie=" + tok}, "")
		issuerITWant(t, name+" after logout", st, body, 401, "Token has been revoked")
	}
	st, _, body = issuerITDo(t, c, "POST", "/auth/refresh", map[string]string{
		"Cookie": "refresh_token_cookie=" + ck["refresh_token_cookie"], "X-CSRF-TOKEN": ck["csrf_refresh_token"]}, "")
	issuerITWant(t, "refresh cookie after logout", st, body, 401, "Token has been revoked")

	// throttling: 3 failures, then 429 with Retry-After, even with the
	// right password
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	for i := 0; i < 3; i++ {
		st, _, body = issuerITDo(t, c, "POST", "/auth/login", form, "username=alice&password=guess")
		issuerITWant(t, "failed login", st, body, 401, "Bad username or password")
	}
	st, hdr, body := issuerITDo(t, c, "POST", "/auth/login", form, "username=alice&password=pw-alice")
	issuerITWant(t, "throttled login", st, body, 429, "Too many failed login attempts")
	if ra := hdr.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After %q", ra)
	}
}

// TestIssueAdaptCaddyfile is a golden test of the JSON a jwt_issue
// Caddyfile produces: jwt_issue ordered before jwt_auth without an order
// line, and every subdirective in its JSON field.
func TestIssueAdaptCaddyfile(t *testing.T) {
	// the site never listens; a free port keeps fixed ports out of the tests
	port := strconv.Itoa(testkit.FreePort(t))
	caddytest.AssertAdapt(t, strings.ReplaceAll(issuerAdaptInput, "{PORT}", port), "caddyfile",
		strings.TrimSpace(strings.ReplaceAll(issuerAdaptWant, "{PORT}", port)))
}

const issuerAdaptInput = `
{
	jwt {
		secret {env.JWT_SECRET}
	}
}

:{PORT} {
	jwt_issue /auth/* {
		login /auth/login
		refresh /auth/refresh
		logout /auth/logout
		user alice $2a$04$abcdefghijklmnopqrstuu5ZK4ahfHn1hwXq9w3x6pR8dX8O2mQ9a role=admin
		deliver cookie json
		throttle 3 10 5m
		rotate_refresh
	}
	jwt_auth
	respond "ok"
}
`

const issuerAdaptWant = `
{
	"apps": {
		"http": {
			"servers": {
				"srv0": {
					"listen": [
						":{PORT}"
					],
					"routes": [
						{
							"match": [
								{
									"path": [
										"/auth/*"
									]
								}
							],
							"handle": [
								{
									"deliver": [
										"cookie",
										"json"
									],
									"handler": "jwt_issue",
									"login": "/auth/login",
									"logout": "/auth/logout",
									"refresh": "/auth/refresh",
									"rotate_refresh": true,
									"throttle": {
										"max_per_ip": 10,
										"max_per_user": 3,
										"window": 300000000000
									},
									"users": [
										{
											"claims": {
												"role": "admin"
											},
											"hash": "$2a$04$abcdefghijklmnopqrstuu5ZK4ahfHn1hwXq9w3x6pR8dX8O2mQ9a",
											"name": "alice"
										}
									]
								}
							]
						},
						{
							"handle": [
								{
									"handler": "jwt_strip"
								},
								{
									"handler": "jwt_auth"
								},
								{
									"body": "ok",
									"handler": "static_response"
								}
							]
						}
					]
				}
			}
		},
		"jwt": {
			"secret": "{env.JWT_SECRET}"
		}
	}
}
`
