package e2e

// Issue 20's OIDC login and reauth against a real OpenID Provider (the
// zitadel OP of op_test.go) and a real Caddy, without a browser: an HTTP
// client with a cookie jar plays the browser, and the OP's login form is
// filled by testOP.Login. Every negative case of the issue is here, each
// with the real OP issuing the code and, where the case needs it, the ID
// token replaced in the OP's token response by one the test signs.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit/caddykit"
)

// oidcSecret is the confidential client's secret at the OP.
const oidcSecret = "caddy's client secret at the provider"

// oidcUpstream records the X-Jwt-* headers of what it receives.
type oidcUpstream struct {
	mu   sync.Mutex
	last http.Header
	n    int
}

func (u *oidcUpstream) start(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.last, u.n = r.Header.Clone(), u.n+1
		u.mu.Unlock()
		fmt.Fprint(w, "upstream ok")
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func (u *oidcUpstream) header() http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

// oidcSite is a real Caddy whose jwt_issue signs in through a real OP.
type oidcSite struct {
	t    *testing.T
	op   *testOP
	srv  *caddykit.Server
	up   *oidcUpstream
	jar  http.CookieJar
	noGo *http.Client // Caddy's client, not following redirects
}

// startOIDCSite starts the OP, then Caddy with two oidc blocks on it:
// "op" (identity sub, a confidential client) and "byemail" (identity
// email, a public client), a fresh_required route with max_age 1m, a
// plain route, and refresh and logout.
func startOIDCSite(t *testing.T) *oidcSite {
	t.Helper()
	op := startOP(t)
	up := &oidcUpstream{}
	upAddr := up.start(t)
	t.Setenv("JWT_TEST_OIDC_SECRET", oidcSecret)
	srv := caddykit.Start(t, `{
	jwt {
		leeway 5s
	}
}

http://localhost {
	jwt_issue {
		deliver cookie
		refresh /auth/refresh
		logout /auth/logout
		rotate_refresh
		oidc op {
			issuer `+op.Issuer+`
			client_id web
			client_secret {env.JWT_TEST_OIDC_SECRET}
			login /auth/op/login
			callback /auth/op/callback
			reauth /auth/op/reauth
			claims email name
			return_to https://app.example
		}
		oidc byemail {
			issuer `+op.Issuer+`
			client_id spa
			identity_claim email
			login /auth/email/login
			callback /auth/email/callback
		}
	}
	handle /account/* {
		jwt_auth {
			fresh_required
			max_age 1m
		}
		reverse_proxy `+upAddr+`
	}
	handle /api/* {
		jwt_auth
		reverse_proxy `+upAddr+`
	}
	respond "site"
}
`, caddykit.OwnStorage())
	op.AddClient("web", oidcSecret, srv.Base+"/auth/op/callback")
	op.AddClient("spa", "", srv.Base+"/auth/email/callback")
	noGo := *srv.Client
	noGo.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &oidcSite{t: t, op: op, srv: srv, up: up, jar: srv.Client.Jar, noGo: &noGo}
}

// get requests path (or an absolute URL) without following redirects.
func (s *oidcSite) get(target string) (*http.Response, string) {
	s.t.Helper()
	if strings.HasPrefix(target, "/") {
		target = s.srv.Base + target
	}
	res, err := s.noGo.Get(target)
	if err != nil {
		s.t.Fatalf("GET %s: %v", target, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// begin GETs a login or reauth route and returns the provider URL it
// redirects to.
func (s *oidcSite) begin(path string) string {
	s.t.Helper()
	res, body := s.get(path)
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusFound || !strings.HasPrefix(loc, s.op.Issuer+"/") {
		s.t.Fatalf("GET %s: %d %q %s, want 302 to the provider", path, res.StatusCode, loc, body)
	}
	return loc
}

// providerLogin fills the OP's form as user and returns the callback URL
// the OP redirects to (not yet requested).
func (s *oidcSite) providerLogin(authURL, user, password string) string {
	s.t.Helper()
	cb, err := s.op.Login(s.srv.Client, authURL, user, password)
	if err != nil {
		s.t.Fatalf("login at the provider: %v", err)
	}
	return cb.String()
}

// login runs a whole login through path as user and returns the
// callback's answer.
func (s *oidcSite) login(path, user, password string) (*http.Response, string) {
	s.t.Helper()
	return s.get(s.providerLogin(s.begin(path), user, password))
}

// cookie is the value of a cookie the jar holds for the site.
func (s *oidcSite) cookie(name string) string {
	u, _ := url.Parse(s.srv.Base + "/")
	for _, c := range s.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// claims decodes a token's payload (the signature is the module's
// business here; the tokens' content is what is checked).
func claimsOf(t *testing.T, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", raw)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func wantRefusal(t *testing.T, what string, res *http.Response, body string, status int, msg string) {
	t.Helper()
	if res.StatusCode != status || body != `{"msg":"`+msg+`"}` {
		t.Errorf("%s: %d %s, want %d {\"msg\":%q}", what, res.StatusCode, body, status, msg)
	}
	for _, c := range res.Cookies() {
		if c.Name == "access_token_cookie" || c.Name == "refresh_token_cookie" {
			t.Errorf("%s: a token cookie was set", what)
		}
	}
}

// TestOIDCLoginRefreshReauthLogout: the whole life of an OIDC session
// against the real OP: login (303 to return_to, tokens as cookies with
// auth_time, amr and idp), a fresh_required route, refresh (same
// auth_time, not fresh), reauth through the provider's form (prompt=login),
// and logout.
func TestOIDCLoginRefreshReauthLogout(t *testing.T) {
	s := startOIDCSite(t)
	before := time.Now().Unix()
	res, body := s.login("/auth/op/login?return_to=/account/settings", opAlice, opAlicePassword)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/account/settings" {
		t.Fatalf("callback: %d %q %s, want 303 to /account/settings", res.StatusCode, res.Header.Get("Location"), body)
	}
	access := claimsOf(t, s.cookie("access_token_cookie"))
	authTime, _ := strconv.ParseInt(fmt.Sprint(access["auth_time"]), 10, 64)
	if access["sub"] != opAliceSub || access["idp"] != "op" || access["fresh"] != true || access["email"] != "alice@example.com" ||
		fmt.Sprint(access["amr"]) != "[pwd]" || authTime < before || authTime > time.Now().Unix() {
		t.Fatalf("access token claims %v", access)
	}
	if s.cookie("jwt_oidc_op") != "" {
		t.Error("the transaction cookie outlived its callback")
	}

	res, body = s.get("/account/settings")
	if res.StatusCode != 200 || s.up.header().Get("X-Jwt-Identity") != opAliceSub || s.up.header().Get("X-Jwt-Auth-Time") != strconv.FormatInt(authTime, 10) {
		t.Fatalf("fresh route: %d %s, upstream %v", res.StatusCode, body, s.up.header())
	}

	// refresh: not fresh, the login's auth_time and the provider's claims kept
	req, _ := http.NewRequest("POST", s.srv.Base+"/auth/refresh", nil)
	req.Header.Set("X-CSRF-TOKEN", s.cookie("csrf_refresh_token"))
	rres, err := s.noGo.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rres.Body.Close()
	if rres.StatusCode != 200 {
		t.Fatalf("refresh: %d", rres.StatusCode)
	}
	refreshed := claimsOf(t, s.cookie("access_token_cookie"))
	if refreshed["fresh"] != false || fmt.Sprint(refreshed["auth_time"]) != fmt.Sprint(access["auth_time"]) || refreshed["idp"] != "op" ||
		refreshed["email"] != "alice@example.com" || refreshed["fam"] != access["fam"] {
		t.Fatalf("refreshed claims %v", refreshed)
	}
	res, _ = s.get("/account/settings")
	if res.StatusCode != 401 || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), `Bearer error="insufficient_user_authentication"`) {
		t.Fatalf("refreshed token on the fresh route: %d %q", res.StatusCode, res.Header.Get("WWW-Authenticate"))
	}

	// reauth: the provider is asked for a new login, whatever its session
	s.op.ResetCounts()
	authURL := s.begin("/auth/op/reauth?return_to=/account/settings")
	q, _ := url.Parse(authURL)
	if q.Query().Get("prompt") != "login" || q.Query().Get("max_age") != "0" {
		t.Errorf("reauth asks the provider with %s, want prompt=login and max_age=0", q.RawQuery)
	}
	res, body = s.get(s.providerLogin(authURL, opAlice, opAlicePassword))
	if res.StatusCode != http.StatusSeeOther || s.op.Count(opFormShown) != 1 {
		t.Fatalf("reauth callback: %d %s; the form was shown %d times", res.StatusCode, body, s.op.Count(opFormShown))
	}
	reauthed := claimsOf(t, s.cookie("access_token_cookie"))
	if reauthed["fresh"] != true || reauthed["fam"] != access["fam"] || reauthed["sub"] != opAliceSub {
		t.Fatalf("reauthed claims %v (login's family %v)", reauthed, access["fam"])
	}
	if res, body := s.get("/account/settings"); res.StatusCode != 200 {
		t.Fatalf("after reauth: %d %s", res.StatusCode, body)
	}

	// logout revokes the session like a password session's
	req, _ = http.NewRequest("POST", s.srv.Base+"/auth/logout", nil)
	req.Header.Set("X-CSRF-TOKEN", s.cookie("csrf_access_token"))
	lres, err := s.noGo.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	lres.Body.Close()
	if lres.StatusCode != 200 || s.cookie("access_token_cookie") != "" {
		t.Fatalf("logout: %d, access cookie %q", lres.StatusCode, s.cookie("access_token_cookie"))
	}

	// revocation by identity (the admin API) ends an OIDC session too
	if res, body := s.login("/auth/op/login", opAlice, opAlicePassword); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("second login: %d %s", res.StatusCode, body)
	}
	if res, _ := s.get("/api/x"); res.StatusCode != 200 {
		t.Fatalf("second session: %d", res.StatusCode)
	}
	req, _ = http.NewRequest("POST", s.srv.Admin+"/jwt/revoke", strings.NewReader(`{"identity": "`+opAliceSub+`"}`))
	req.Header.Set("Content-Type", "application/json")
	ares, err := s.noGo.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ares.Body.Close()
	if ares.StatusCode != 200 {
		t.Fatalf("admin revoke: %d", ares.StatusCode)
	}
	if res, body := s.get("/api/x"); res.StatusCode != 401 || body != `{"msg":"Token has been revoked"}` {
		t.Fatalf("after revoking the identity: %d %s", res.StatusCode, body)
	}
}

// TestOIDCSilentSSOIsNotFresh: a login that reuses the provider's session
// of an hour ago (no password typed now) mints a token that is not fresh,
// which a fresh_required route refuses with the step-up challenge.
func TestOIDCSilentSSOIsNotFresh(t *testing.T) {
	s := startOIDCSite(t)
	s.op.SetNextAuthTime(opAlice, time.Now().Add(-time.Hour))
	s.login("/auth/op/login", opAlice, opAlicePassword) // the provider's session starts, an hour old
	s.jar.SetCookies(mustURL(t, s.srv.Base+"/"), []*http.Cookie{{Name: "access_token_cookie", MaxAge: -1}, {Name: "refresh_token_cookie", MaxAge: -1}})

	s.op.ResetCounts()
	res, body := s.get(s.providerLogin(s.begin("/auth/op/login"), "", ""))
	if res.StatusCode != http.StatusSeeOther || s.op.Count(opSessionReused) != 1 || s.op.Count(opFormShown) != 0 {
		t.Fatalf("silent login: %d %s, counts %v", res.StatusCode, body, s.op.Counts())
	}
	c := claimsOf(t, s.cookie("access_token_cookie"))
	if c["fresh"] != false {
		t.Fatalf("a login on an hour-old provider session minted fresh %v", c["fresh"])
	}
	res, _ = s.get("/account/x")
	if res.StatusCode != 401 || res.Header.Get("WWW-Authenticate") != `Bearer error="insufficient_user_authentication", error_description="Fresh token required", max_age="60"` {
		t.Fatalf("fresh route: %d %q", res.StatusCode, res.Header.Get("WWW-Authenticate"))
	}
	if res, _ := s.get("/api/x"); res.StatusCode != 200 {
		t.Fatalf("plain route: %d", res.StatusCode)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestOIDCRefusals: each negative case of issue 20 against the real OP.
// Nothing is minted in any of them.
func TestOIDCRefusals(t *testing.T) {
	s := startOIDCSite(t)
	const stateMsg, idMsg = "Missing or invalid login state", "Invalid ID token"

	t.Run("wrong or missing state", func(t *testing.T) {
		cb := mustURL(t, s.providerLogin(s.begin("/auth/op/login"), opAlice, opAlicePassword))
		q := cb.Query()
		q.Set("state", "forged")
		cb.RawQuery = q.Encode()
		res, body := s.get(cb.String())
		wantRefusal(t, "wrong state", res, body, 401, stateMsg)

		cb = mustURL(t, s.providerLogin(s.begin("/auth/op/login"), opAlice, opAlicePassword))
		q = cb.Query()
		q.Del("state")
		cb.RawQuery = q.Encode()
		res, body = s.get(cb.String())
		wantRefusal(t, "missing state", res, body, 401, stateMsg)

		// a callback without the transaction cookie (another browser)
		cb = mustURL(t, s.providerLogin(s.begin("/auth/op/login"), opAlice, opAlicePassword))
		s.jar.SetCookies(mustURL(t, s.srv.Base+"/auth/op/callback"), []*http.Cookie{{Name: "jwt_oidc_op", Path: "/auth/op/callback", MaxAge: -1}})
		res, body = s.get(cb.String())
		wantRefusal(t, "no transaction cookie", res, body, 401, stateMsg)
	})

	t.Run("replayed callback", func(t *testing.T) {
		cb := s.providerLogin(s.begin("/auth/op/login"), opAlice, opAlicePassword)
		tx := s.cookie("jwt_oidc_op")
		if res, body := s.get(cb); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("first callback: %d %s", res.StatusCode, body)
		}
		// the same callback with the same transaction cookie, replayed
		s.jar.SetCookies(mustURL(t, s.srv.Base+"/auth/op/callback"), []*http.Cookie{{Name: "jwt_oidc_op", Value: tx, Path: "/auth/op/callback"}})
		s.jar.SetCookies(mustURL(t, s.srv.Base+"/"), []*http.Cookie{{Name: "access_token_cookie", Path: "/", MaxAge: -1}, {Name: "refresh_token_cookie", Path: "/", MaxAge: -1}})
		res, body := s.get(cb)
		wantRefusal(t, "replay", res, body, 401, stateMsg)
	})

	// ID tokens the test signs in place of the OP's, in the OP's token
	// response; claims start from the real one (its nonce, aud, times).
	forged := []struct {
		name string
		edit func(c map[string]any) string
	}{
		{"wrong nonce", func(c map[string]any) string { c["nonce"] = "another nonce"; return s.op.Sign(c) }},
		{"wrong aud", func(c map[string]any) string { c["aud"] = []any{"spa"}; return s.op.Sign(c) }},
		{"azp of another client", func(c map[string]any) string { c["azp"] = "spa"; return s.op.Sign(c) }},
		{"wrong iss", func(c map[string]any) string { c["iss"] = s.op.Issuer + "/other"; return s.op.Sign(c) }},
		{"expired", func(c map[string]any) string {
			c["exp"] = time.Now().Add(-time.Minute).Unix()
			c["iat"] = time.Now().Add(-time.Hour).Unix()
			return s.op.Sign(c)
		}},
		{"alg none", func(c map[string]any) string { return s.op.Unsigned(c) }},
		{"HMAC-signed with the client secret", func(c map[string]any) string { return s.op.SignHS256(c, oidcSecret) }},
		{"unknown kid", func(c map[string]any) string { return s.op.SignUnknownKid(c) }},
	}
	for _, tc := range forged {
		t.Run(tc.name, func(t *testing.T) {
			s.op.RewriteIDToken(func(idToken string) string {
				c, err := opDecodeClaims(idToken)
				if err != nil {
					t.Error(err)
					return idToken
				}
				return tc.edit(c)
			})
			defer s.op.RewriteIDToken(nil)
			res, body := s.login("/auth/op/login", opAlice, opAlicePassword)
			wantRefusal(t, tc.name, res, body, 401, idMsg)
		})
	}
	// the same substitution with the OP's own claims and key passes: the
	// cases above fail for what they change, not for the substitution
	t.Run("control: re-signed unchanged", func(t *testing.T) {
		s.op.RewriteIDToken(func(idToken string) string {
			c, _ := opDecodeClaims(idToken)
			return s.op.Sign(c)
		})
		defer s.op.RewriteIDToken(nil)
		if res, body := s.login("/auth/op/login", opAlice, opAlicePassword); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("%d %s", res.StatusCode, body)
		}
	})

	t.Run("provider error", func(t *testing.T) {
		s.op.ForgetSessions() // else the provider's session answers without the form
		cb, err := s.op.Deny(s.srv.Client, s.begin("/auth/op/login"))
		if err != nil {
			t.Fatal(err)
		}
		res, body := s.get(cb.String())
		wantRefusal(t, "access_denied", res, body, 401, "Login was refused by the provider")
	})

	t.Run("failed code exchange", func(t *testing.T) {
		s.op.Fail(opToken, http.StatusInternalServerError)
		defer s.op.Fail(opToken, 0)
		res, body := s.login("/auth/op/login", opAlice, opAlicePassword)
		wantRefusal(t, "token endpoint 500", res, body, 502, "Provider unavailable")
	})

	t.Run("return_to", func(t *testing.T) {
		for _, tc := range []struct{ returnTo, want string }{
			{"https://evil.example/steal", "/"},
			{"//evil.example/x", "/"},
			{"https://app.example/after", "https://app.example/after"},
			{"/account/x?tab=1", "/account/x?tab=1"},
		} {
			res, body := s.login("/auth/op/login?return_to="+url.QueryEscape(tc.returnTo), opAlice, opAlicePassword)
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != tc.want {
				t.Errorf("return_to %s: %d %q %s, want 303 to %s", tc.returnTo, res.StatusCode, res.Header.Get("Location"), body, tc.want)
			}
		}
	})

	t.Run("email identity needs email_verified", func(t *testing.T) {
		s.op.ForgetSessions()
		res, body := s.login("/auth/email/login", opMallory, opMalloryPassword)
		wantRefusal(t, "email_verified false", res, body, 401, "Login identity not accepted")
		s.op.ForgetSessions()
		res, body = s.login("/auth/email/login", opAlice, opAlicePassword)
		if res.StatusCode != http.StatusSeeOther || claimsOf(t, s.cookie("access_token_cookie"))["sub"] != "alice@example.com" {
			t.Fatalf("verified email: %d %s", res.StatusCode, body)
		}
	})

	t.Run("reauth", func(t *testing.T) {
		s.op.ForgetSessions()
		if res, body := s.login("/auth/op/login", opAlice, opAlicePassword); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("login: %d %s", res.StatusCode, body)
		}
		session := s.cookie("access_token_cookie")

		// another identity at the provider
		res, body := s.get(s.providerLogin(s.begin("/auth/op/reauth"), opMallory, opMalloryPassword))
		wantRefusal(t, "another identity", res, body, 401, "Reauthentication failed")
		if s.cookie("access_token_cookie") != session {
			t.Error("a failed reauth changed the session's cookie")
		}

		// an auth_time from before the reauth began (a provider that did not
		// honour prompt=login)
		s.op.SetNextAuthTime(opAlice, time.Now().Add(-10*time.Minute))
		res, body = s.get(s.providerLogin(s.begin("/auth/op/reauth"), opAlice, opAlicePassword))
		wantRefusal(t, "old auth_time", res, body, 401, "Reauthentication failed")

		// without a session
		s.jar.SetCookies(mustURL(t, s.srv.Base+"/"), []*http.Cookie{{Name: "access_token_cookie", Path: "/", MaxAge: -1}})
		res, body = s.get("/auth/op/reauth")
		if res.StatusCode != 401 || res.Header.Get("Location") != "" {
			t.Fatalf("reauth without a session: %d %s", res.StatusCode, body)
		}
	})

	t.Run("unreachable provider", func(t *testing.T) {
		// a site whose provider has never been reached: no last good copy
		o := startOP(t)
		if err := o.SetUnreachable(true); err != nil {
			t.Fatal(err)
		}
		srv := caddykit.Start(t, `http://localhost {
	jwt_issue {
		deliver cookie
		oidc down {
			issuer `+o.Issuer+`
			client_id web
			login /login
			callback /callback
		}
	}
}
`, caddykit.OwnStorage())
		noGo := *srv.Client
		noGo.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		res, err := noGo.Get(srv.Base + "/login")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		wantRefusal(t, "unreachable", res, string(body), 502, "Provider unavailable")
	})
}

// TestOIDCRoutesOnlyGET: the oidc routes answer GET (and HEAD); any other
// method is 405, and no variant of their paths reaches what is behind.
func TestOIDCRoutesOnlyGET(t *testing.T) {
	s := startOIDCSite(t)
	for _, path := range []string{"/auth/op/login", "/AUTH/OP/CALLBACK", "/auth/op/reauth/"} {
		req, _ := http.NewRequest("POST", s.srv.Base+path, strings.NewReader("x=1"))
		res, err := s.noGo.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("POST %s: %d Allow %q", path, res.StatusCode, res.Header.Get("Allow"))
		}
	}
	if res, body := s.get("/AUTH/OP/LOGIN/"); res.StatusCode != http.StatusFound || strings.Contains(body, "site") {
		t.Errorf("GET of a variant of the login path: %d %s", res.StatusCode, body)
	}
}
