package jwtextended

// jwt_issue: login, throttling (also through a real Caddy, against
// X-Forwarded-For), CSRF on the issuer's cookie routes, and revocation on
// logout.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
)

func secLoginReq(body, contentType string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	return r
}

func secWantMsg(t testing.TB, w *httptest.ResponseRecorder, status int, msg string) {
	t.Helper()
	var body struct {
		Msg string `json:"msg"`
	}
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	if w.Code != status || body.Msg != msg {
		t.Fatalf("got %d %q, want %d %q", w.Code, w.Body.String(), status, msg)
	}
}

// TestSecurityLogin: an unknown user and a wrong password get the same
// answer; a password over bcrypt's 72 bytes is refused rather than
// truncated; bodies are bounded; duplicated fields are refused.
func TestSecurityLogin(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, appConfig([]byte(`{"secret":"`+secSecret+`"}`)), withUpstream(http.StatusOK, "upstream"))
	long := strings.Repeat("p", 72)
	h := fx.issue(Issue{
		Login: "/login", Reauth: "/reauth",
		Users: []User{
			{Name: "alice", Hash: testkit.BcryptHash(t, fixturePassword)},
			{Name: "longpw", Hash: testkit.BcryptHash(t, long)},
		},
		Throttle: &ThrottleConfig{Disabled: true},
	})
	const json_ = "application/json"
	login := func(body, ct string) *httptest.ResponseRecorder {
		return fx.mustServe("192.0.2.1", h, secLoginReq(body, ct))
	}

	t.Run("control/login", func(t *testing.T) {
		w := login(creds("alice", fixturePassword), json_)
		if w.Code != 200 || !strings.Contains(w.Body.String(), `"access_token"`) {
			t.Fatalf("got %d %q", w.Code, w.Body.String())
		}
	})
	t.Run("unknown_user_same_as_wrong_password", func(t *testing.T) {
		wrong := login(creds("alice", "wrong password"), json_)
		unknown := login(creds("mallory", "wrong password"), json_)
		unknownSame := login(creds("mallory", fixturePassword), json_)
		empty := login(creds("", ""), json_)
		secWantMsg(t, wrong, 401, "Bad username or password")
		for name, w := range map[string]*httptest.ResponseRecorder{"unknown": unknown, "unknown_with_real_password": unknownSame, "empty": empty} {
			if w.Code != wrong.Code || w.Body.String() != wrong.Body.String() {
				t.Errorf("%s: %d %q, wrong password: %d %q", name, w.Code, w.Body.String(), wrong.Code, wrong.Body.String())
			}
			if !reflectHeadersEqual(w.Header(), wrong.Header()) {
				t.Errorf("%s: headers %v, wrong password: %v", name, w.Header(), wrong.Header())
			}
		}
	})
	t.Run("password_over_72_bytes", func(t *testing.T) {
		// bcrypt reads only 72 bytes: without the length check the real
		// password plus anything would log in
		secWantMsg(t, login(creds("longpw", long+"x"), json_), 401, "Bad username or password")
		secWantMsg(t, login(creds("longpw", long+strings.Repeat("x", 1000)), json_), 401, "Bad username or password")
		if w := login(creds("longpw", long), json_); w.Code != 200 {
			t.Fatalf("control: the 72-byte password itself got %d %q", w.Code, w.Body.String())
		}
	})
	t.Run("body_1MiB", func(t *testing.T) {
		big := `{"username":"alice","password":"` + fixturePassword + `","pad":"` + strings.Repeat("a", 1<<20) + `"}`
		secWantMsg(t, login(big, json_), 413, "Request body is too large")
		form := "username=alice&password=" + url.QueryEscape(fixturePassword) + "&pad=" + strings.Repeat("a", 1<<20)
		secWantMsg(t, login(form, "application/x-www-form-urlencoded"), 413, "Request body is too large")
	})
	t.Run("body_at_cap", func(t *testing.T) {
		pre := `{"username":"alice","password":"` + fixturePassword + `","pad":"`
		body := pre + strings.Repeat("a", maxIssueBody-len(pre)-2) + `"}`
		if len(body) != maxIssueBody {
			t.Fatalf("body is %d bytes", len(body))
		}
		if w := login(body, json_); w.Code != 200 {
			t.Fatalf("a body of exactly %d bytes got %d %q", maxIssueBody, w.Code, w.Body.String())
		}
		secWantMsg(t, login(body+" ", json_), 413, "Request body is too large")
	})
	t.Run("duplicate_username_json", func(t *testing.T) {
		secWantMsg(t, login(`{"username":"mallory","username":"alice","password":"`+fixturePassword+`"}`, json_), 400, "Request body is not valid JSON")
		secWantMsg(t, login(`{"username":"mallory","Username":"alice","password":"`+fixturePassword+`"}`, json_), 400, "Request body is not valid JSON")
	})
	t.Run("duplicate_username_form", func(t *testing.T) {
		secWantMsg(t, login("username=mallory&username=alice&password="+url.QueryEscape(fixturePassword), "application/x-www-form-urlencoded"), 400, `"username" is given more than once`)
	})
	t.Run("non_string_password", func(t *testing.T) {
		secWantMsg(t, login(`{"username":"alice","password":true}`, json_), 400, `"password" must be a string`)
	})
	t.Run("get_is_no_login", func(t *testing.T) {
		// GET passes on to the next handler (a login page), never as a
		// login: no token, no credential check
		r := httptest.NewRequest(http.MethodGet, "/login?username=alice&password="+url.QueryEscape(fixturePassword), nil)
		if w := fx.mustServe("192.0.2.1", h, r); strings.Contains(w.Body.String(), "access_token") {
			t.Fatalf("GET logged in: %d %s", w.Code, w.Body)
		}
		r = httptest.NewRequest(http.MethodPut, "/login?username=alice&password="+url.QueryEscape(fixturePassword), nil)
		secWantMsg(t, fx.mustServe("192.0.2.1", h, r), 405, "Method Not Allowed")
	})
}

// reflectHeadersEqual compares two response header sets, ignoring Date.
func reflectHeadersEqual(a, b http.Header) bool {
	a, b = a.Clone(), b.Clone()
	a.Del("Date")
	b.Del("Date")
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb := b[k]
		if len(va) != len(vb) {
			return false
		}
		for i := range va {
			if va[i] != vb[i] {
				return false
			}
		}
	}
	return true
}

// TestSecurityLoginThrottle: failed logins are limited, unknown users count
// like known ones (no existence oracle), and the counters are bounded.
func TestSecurityLoginThrottle(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, appConfig([]byte(`{"secret":"`+secSecret+`"}`)), withUpstream(http.StatusOK, "upstream"))
	h := fx.issue(`{"login": "/login", "users": [{"name": "alice", "hash": ` + string(testkit.MustJSON(t, testkit.BcryptHash(t, fixturePassword))) + `}],
		"throttle": {"max_per_user": 3, "max_per_ip": 10, "window": "5m"}}`) // 3 per user, 10 per IP, 5 minutes
	for _, user := range []string{"alice", "nobody"} {
		t.Run("per_user/"+user, func(t *testing.T) {
			for i := 0; i < 3; i++ {
				secWantMsg(t, fx.mustServe("198.51.100."+strconv.Itoa(i+1), h, secLoginReq(creds(user, "bad"), "application/json")), 401, "Bad username or password")
			}
			w := fx.mustServe("198.51.100.99", h, secLoginReq(creds(user, fixturePassword), "application/json"))
			secWantMsg(t, w, 429, "Too many failed login attempts")
			if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra <= 0 || ra > 300 {
				t.Fatalf("Retry-After = %q, want 1..300 seconds", w.Header().Get("Retry-After"))
			}
		})
	}
	// that the counters stay bounded is TestThrottleCountersBounded in
	// internal/users
}

// TestSecurityIssuerCookieCSRF: the refresh and logout routes read cookie
// tokens only with the double submit header.
func TestSecurityIssuerCookieCSRF(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, appConfig([]byte(`{"secret":"`+secSecret+`"}`)), withUpstream(http.StatusOK, "upstream"))
	h := fx.issue(Issue{
		Login: "/login", Refresh: "/refresh", Logout: "/logout", Deliver: []string{"cookie"},
		Users:    []User{{Name: "alice", Hash: testkit.BcryptHash(t, fixturePassword)}, {Name: "bob", Hash: testkit.BcryptHash(t, fixturePassword)}},
		Throttle: &ThrottleConfig{Disabled: true},
	})
	cookiesOf := func(user string) map[string]string {
		w := fx.mustServe("192.0.2.1", h, secLoginReq(creds(user, fixturePassword), "application/json"))
		if w.Code != 200 {
			t.Fatalf("login %s: %d %q", user, w.Code, w.Body.String())
		}
		m := map[string]string{}
		for _, c := range w.Result().Cookies() {
			m[c.Name] = c.Value
		}
		return m
	}
	alice, bob := cookiesOf("alice"), cookiesOf("bob")
	post := func(path, csrf string, jar map[string]string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, path, nil)
		r.Header.Set("Cookie", refreshCookieName+"="+jar[refreshCookieName]+"; "+accessCookieName+"="+jar[accessCookieName])
		if csrf != "" {
			r.Header.Set("X-CSRF-TOKEN", csrf)
		}
		return fx.mustServe("192.0.2.1", h, r)
	}
	secWantMsg(t, post("/refresh", "", alice), 401, "Missing CSRF token")
	secWantMsg(t, post("/refresh", "wrong", alice), 401, "CSRF double submit tokens do not match")
	secWantMsg(t, post("/refresh", bob[refreshCSRFCookie], alice), 401, "CSRF double submit tokens do not match")
	secWantMsg(t, post("/refresh", alice[accessCSRFCookie], alice), 401, "CSRF double submit tokens do not match")
	secWantMsg(t, post("/logout", "", alice), 401, "Missing CSRF token")
	if w := post("/refresh", alice[refreshCSRFCookie], alice); w.Code != 200 {
		t.Fatalf("control: refresh with the matching CSRF header got %d %q", w.Code, w.Body.String())
	}
}

// TestSecurityLogoutRevokes (cf. caddy-security CVE-2024-21492, sessions
// valid after sign-out): after logout the access token, already verified
// and cached, and the refresh token are refused.
func TestSecurityLogoutRevokes(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, appConfig([]byte(`{"secret":"`+secSecret+`"}`)), withUpstream(http.StatusOK, "upstream"))
	iss := fx.issue(Issue{
		Login: "/login", Refresh: "/refresh", Logout: "/logout",
		Users:    []User{{Name: "alice", Hash: testkit.BcryptHash(t, fixturePassword)}},
		Throttle: &ThrottleConfig{Disabled: true},
	})
	w := fx.mustServe("192.0.2.1", iss, secLoginReq(creds("alice", fixturePassword), "application/json"))
	if w.Code != 200 {
		t.Fatalf("login: %d %q", w.Code, w.Body.String())
	}
	var toks struct {
		Access  string `json:"access_token"`
		Refresh string `json:"refresh_token"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &toks); err != nil || toks.Access == "" || toks.Refresh == "" {
		t.Fatalf("login body %q: %v", w.Body.String(), err)
	}
	auth := fx.auth(Auth{})
	if res := secResultOf(t, fx.serve(auth, secBearer(toks.Access))); res.status != 200 || res.upstream.Get(hdrIdentity) != "alice" {
		t.Fatalf("control: access token before logout: %d %q", res.status, res.msg)
	}
	r := httptest.NewRequest(http.MethodPost, "/logout", strings.NewReader(`{"refresh_token":"`+toks.Refresh+`"}`))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+toks.Access)
	secWantMsg(t, fx.mustServe("192.0.2.1", iss, r), 200, "Logged out")

	if res := secResultOf(t, fx.serve(auth, secBearer(toks.Access))); res.status != 401 || res.msg != "Token has been revoked" {
		t.Fatalf("access token after logout: %d %q, want 401 Token has been revoked", res.status, res.msg)
	}
	rr := httptest.NewRequest(http.MethodPost, "/refresh", nil)
	rr.Header.Set("Authorization", "Bearer "+toks.Refresh)
	secWantMsg(t, fx.mustServe("192.0.2.1", iss, rr), 401, "Token has been revoked")
}

// TestSecurityThrottleIgnoresForwardedFor (cf. caddy-security
// CVE-2024-21494, IP spoofing through X-Forwarded-For): through a real
// Caddy without trusted_proxies, a client that varies X-Forwarded-For
// still spends one per-IP budget.
func TestSecurityThrottleIgnoresForwardedFor(t *testing.T) {
	hash := testkit.BcryptHash(t, fixturePassword)
	addr := secStartCaddyfile(t, `{
	admin off
	persist_config off
	auto_https off
	storage file_system %STORAGE%
	jwt {
		secret `+secSecret+`
	}
}
http://127.0.0.1:%PORT% {
	bind 127.0.0.1
	jwt_issue {
		login /login
		user alice `+hash+`
		throttle 100 3 15m
	}
	respond "next" 404
}
`)
	login := func(user, pw, xff string) (*http.Response, string) {
		body := creds(user, pw)
		return secRawRequest(t, addr, "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"+
			"X-Forwarded-For: "+xff+"\r\nX-Real-Ip: "+xff+"\r\nForwarded: for="+xff+"\r\n"+
			"Content-Length: "+strconv.Itoa(len(body))+"\r\nConnection: close\r\n\r\n"+body)
	}
	for i := 0; i < 3; i++ {
		resp, body := login("user"+strconv.Itoa(i), "wrong", "203.0.113."+strconv.Itoa(i+1))
		if resp.StatusCode != 401 || !strings.Contains(body, "Bad username or password") {
			t.Fatalf("failed login %d: %d %q", i, resp.StatusCode, body)
		}
	}
	resp, body := login("alice", fixturePassword, "198.51.100.77")
	if resp.StatusCode != 429 || !strings.Contains(body, "Too many failed login attempts") || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("4th login from the same connection IP with a new X-Forwarded-For: %d %q (Retry-After %q), want 429", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
}

// TestSecurityRevocationBounded: the App's store is the storage store,
// which keeps a fixed 32 bytes per revoked id however long the id, and
// drops them once their tokens have expired, so logging out in a loop
// cannot grow memory without bound. The memory bound itself is asserted in
// internal/revocation (TestBounded), where the store's clock can be moved.
func TestSecurityRevocationBounded(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, appConfig([]byte(`{"secret":"`+secSecret+`"}`)), withUpstream(http.StatusOK, "upstream"))
	r := fx.revocations()
	long := strings.Repeat("j", 4096)
	for i := 0; i < 300; i++ {
		if err := r.revoke(context.Background(), long+strconv.Itoa(i), time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if !r.isRevoked(long + "7") {
		t.Fatal("control: a revoked id is not refused")
	}
}
