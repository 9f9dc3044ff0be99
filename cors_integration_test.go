package jwtextended

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// readmeCrossOriginBlocks returns the four Caddyfiles of the README's
// "Cross-origin single-page apps": header mode and cookie mode with the jwt
// option's cors block, then the same without it (the hand-written recipe).
func readmeCrossOriginBlocks(t *testing.T) (corsHeader, corsCookie, header, cookie string) {
	t.Helper()
	blocks := testkit.DocBlocks(t, "README.md", "## Cross-origin single-page apps", "caddyfile")
	if len(blocks) != 4 {
		t.Fatalf("the section has %d Caddyfiles, want 4 (header mode, cookie mode; with the cors block, then without)", len(blocks))
	}
	for i, b := range blocks {
		if withCORS := strings.Contains(b, "\t\tcors {"); withCORS != (i < 2) {
			t.Fatalf("the section's Caddyfile %d has the cors block: %v, want %v:\n%s", i+1, withCORS, i < 2, b)
		}
	}
	return blocks[0], blocks[1], blocks[2], blocks[3]
}

// crossOriginConfig makes a README Caddyfile runnable here: a local site
// (startCaddy adds the ports), the test's secret, user alice, and a respond in place of the upstream.
func crossOriginConfig(t *testing.T, block string) string {
	t.Helper()
	for old, repl := range map[string]string{
		"{\n":                         "{\n\tauto_https off\n",
		"{env.JWT_SECRET}":            fmt.Sprintf("%q", fixtureSecret),
		"api.app.example {":           "http://localhost {",
		"users_file /etc/caddy/users": "user alice " + testkit.BcryptHash(t, "pw-alice"),
	} {
		if !strings.Contains(block, old) {
			t.Fatalf("the README's Caddyfile no longer has %q:\n%s", old, block)
		}
		block = strings.Replace(block, old, repl, 1)
	}
	return testkit.ReplaceReverseProxy(t, block, `respond "items of {http.auth.user.id}"`)
}

const spaOrigin = "https://app.example"

// TestReadmeCrossOrigin runs the README's cross-origin Caddyfiles, with the
// cors block and with the hand-written recipe, through a real Caddy, as the
// browser of a page on https://app.example would use them: the preflights
// (login, API) get 204 and the CORS headers; the login from that origin
// gets its CORS headers and the tokens (header mode) or cookies (cookie
// mode, with Access-Control-Allow-Credentials); the API call with them
// succeeds, and its refusal without a token carries the CORS headers too.
// OPTIONS without Access-Control-Request-Method still gets 405 from
// jwt_issue.
func TestReadmeCrossOrigin(t *testing.T) {
	corsHeader, corsCookie, header, cookie := readmeCrossOriginBlocks(t)
	for _, mode := range []struct {
		name, block string
		cookies     bool
	}{{"cors/header", corsHeader, false}, {"cors/cookie", corsCookie, true}, {"recipe/header", header, false}, {"recipe/cookie", cookie, true}} {
		t.Run(mode.name, func(t *testing.T) {
			c := startCaddy(t, crossOriginConfig(t, mode.block)).Client
			c.Jar = nil
			wantCORS := func(step string, h map[string][]string) {
				t.Helper()
				get := func(k string) string { return strings.Join(h[k], ", ") }
				if get("Access-Control-Allow-Origin") != spaOrigin {
					t.Errorf("%s: Access-Control-Allow-Origin %q", step, get("Access-Control-Allow-Origin"))
				}
				if cred := get("Access-Control-Allow-Credentials"); (cred == "true") != mode.cookies {
					t.Errorf("%s: Access-Control-Allow-Credentials %q", step, cred)
				}
			}

			wantHeaders := "Authorization"
			if mode.cookies {
				wantHeaders = "X-CSRF-TOKEN"
			}
			for _, p := range []string{"/auth/login", "/auth/refresh", "/auth/logout", "/api/items"} {
				st, hdr, body := issuerITDo(t, c, "OPTIONS", p, map[string]string{
					"Origin": spaOrigin, "Access-Control-Request-Method": "POST",
					"Access-Control-Request-Headers": "content-type",
				}, "")
				if st != 204 || body != "" {
					t.Fatalf("preflight %s: %d %q, want 204", p, st, body)
				}
				wantCORS("preflight "+p, hdr)
				if m := hdr.Get("Access-Control-Allow-Methods"); !strings.Contains(m, "POST") {
					t.Errorf("preflight %s: Access-Control-Allow-Methods %q", p, m)
				}
				// header names are case-insensitive: the cors block's default
				// writes the CSRF header as Go canonicalizes it (X-Csrf-Token)
				if h := strings.ToLower(hdr.Get("Access-Control-Allow-Headers")); !strings.Contains(h, "content-type") || !strings.Contains(h, strings.ToLower(wantHeaders)) {
					t.Errorf("preflight %s: Access-Control-Allow-Headers %q", p, h)
				}
			}
			st, hdr, body := issuerITDo(t, c, "OPTIONS", "/auth/login", map[string]string{"Origin": spaOrigin}, "")
			if st != 405 || hdr.Get("Allow") != "POST" {
				t.Errorf("OPTIONS without Access-Control-Request-Method: %d Allow %q (%s), want 405", st, hdr.Get("Allow"), body)
			}

			st, hdr, body = issuerITDo(t, c, "POST", "/auth/login", map[string]string{
				"Origin": spaOrigin, "Content-Type": "application/json"}, `{"username": "alice", "password": "pw-alice"}`)
			issuerITWant(t, "login", st, body, 200, "")
			wantCORS("login", hdr)
			api := map[string]string{"Origin": spaOrigin}
			if mode.cookies {
				ck := cookieITSetCookies(hdr)
				for _, n := range []string{"access_token_cookie", "refresh_token_cookie", "csrf_access_token", "csrf_refresh_token"} {
					if ck[n] == nil || ck[n].Domain != "app.example" {
						t.Fatalf("login cookie %s: %+v (all: %v)", n, ck[n], hdr["Set-Cookie"])
					}
				}
				if !ck["access_token_cookie"].HttpOnly || ck["csrf_access_token"].HttpOnly {
					t.Errorf("HttpOnly: the token cookies, not the CSRF cookies: %v", hdr["Set-Cookie"])
				}
				if _, has := issuerITJSON(t, body)["access_token"]; has {
					t.Errorf("cookie mode answered the token in the body: %s", body)
				}
				api["Cookie"] = "access_token_cookie=" + ck["access_token_cookie"].Value
				api["X-CSRF-TOKEN"] = ck["csrf_access_token"].Value
			} else {
				tok, _ := issuerITJSON(t, body)["access_token"].(string)
				if tok == "" {
					t.Fatalf("header mode: no access_token in %s", body)
				}
				api["Authorization"] = "Bearer " + tok
			}

			st, hdr, body = issuerITDo(t, c, "POST", "/api/items", api, "")
			if st != 200 || body != "items of alice" {
				t.Fatalf("API call with the login's token: %d %q", st, body)
			}
			wantCORS("API call", hdr)
			st, hdr, _ = issuerITDo(t, c, "POST", "/api/items", map[string]string{"Origin": spaOrigin}, "")
			if st != 401 {
				t.Errorf("API call without a token: %d", st)
			}
			wantCORS("API refusal", hdr)
		})
	}
}

// TestCookieDeliveryIntegration: a site with deliver cookie and no
// token_from anywhere logs in with cookies and calls a jwt_auth route with
// them (the default lookup is header cookie), CSRF header included on
// POST; the same site with the jwt option's `token_from header` refuses to
// load, as `caddy validate` would report it.
func TestCookieDeliveryIntegration(t *testing.T) {
	site := func(tokenFrom string) string {
		return caddyGlobals(fmt.Sprintf("\tauto_https off\n\tjwt {\n\t\tsecret %q\n%s\t}\n", fixtureSecret, tokenFrom)) + fmt.Sprintf(`
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
		respond "hello {http.auth.user.id} {method}"
	}
}
`, testkit.BcryptHash(t, "pw-alice"))
	}

	cfgJSON, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(site("\t\ttoken_from header\n")), nil)
	if err != nil {
		t.Fatal(err)
	}
	var cfg caddy.Config
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		t.Fatal(err)
	}
	if err := caddy.Validate(&cfg); err == nil || !strings.Contains(err.Error(), "does not read cookies") {
		t.Fatalf("deliver cookie with token_from header: %v, want a refusal to load", err)
	}

	c := startCaddy(t, site("")).Client
	c.Jar = nil
	st, hdr, body := issuerITDo(t, c, "POST", "/auth/login", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "username=alice&password=pw-alice")
	issuerITWant(t, "login", st, body, 200, "Login successful")
	ck := cookieITSetCookies(hdr)
	if ck["access_token_cookie"] == nil || ck["csrf_access_token"] == nil {
		t.Fatalf("login set %v", hdr["Set-Cookie"])
	}
	cookie := map[string]string{"Cookie": "access_token_cookie=" + ck["access_token_cookie"].Value}
	if st, _, body = issuerITDo(t, c, "GET", "/api/me", cookie, ""); st != 200 || body != "hello alice GET" {
		t.Fatalf("GET with the login's cookie: %d %q", st, body)
	}
	if st, _, body = issuerITDo(t, c, "POST", "/api/me", cookie, ""); st != 401 || !strings.Contains(body, "CSRF") {
		t.Fatalf("POST with the cookie and no CSRF header: %d %q, want 401", st, body)
	}
	cookie["X-CSRF-TOKEN"] = ck["csrf_access_token"].Value
	if st, _, body = issuerITDo(t, c, "POST", "/api/me", cookie, ""); st != 200 || body != "hello alice POST" {
		t.Fatalf("POST with the cookie and the CSRF header: %d %q", st, body)
	}
}
