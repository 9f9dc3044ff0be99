package jwtextended

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"
)

// Tests of the jwt_issue handler. Minted tokens are checked independently
// of the module: the HMAC is recomputed with crypto/hmac and the payload
// decoded here.

func TestIssueLoginJSON(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withIssuer())
	for name, req := range map[string]*http.Request{
		"json": jsonPost("/login", creds("alice", fixturePassword)),
		"form": formPost("/login", url.Values{"username": {"alice"}, "password": {fixturePassword}}),
		"json charset": func() *http.Request {
			r := jsonPost("/login", creds("alice", fixturePassword))
			r.Header.Set("Content-Type", "application/json; charset=utf-8")
			return r
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			w := e.do(req)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d body %s", w.Code, w.Body.String())
			}
			for k, want := range map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"} {
				if got := w.Header().Get(k); got != want {
					t.Errorf("%s %q, want %q", k, got, want)
				}
			}
			if len(w.Result().Cookies()) != 0 {
				t.Errorf("json delivery set cookies: %v", w.Result().Cookies())
			}
			body := bodyJSON(t, w)
			if len(body) != 4 || body["token_type"] != "Bearer" || jsonNum(t, body["expires_in"]) != 900 {
				t.Fatalf("body %v, want exactly access_token, refresh_token, token_type Bearer, expires_in 900", body)
			}
			hdr, access := decodeToken(t, body["access_token"].(string))
			if hdr["alg"] != "HS256" || hdr["typ"] != "JWT" {
				t.Errorf("header %v", hdr)
			}
			now := fixtureT0.Unix()
			if access["sub"] != "alice" || access["type"] != "access" || access["fresh"] != true || access["role"] != "admin" {
				t.Errorf("access claims %v", access)
			}
			if jsonNum(t, access["iat"]) != now || jsonNum(t, access["nbf"]) != now || jsonNum(t, access["exp"]) != now+900 {
				t.Errorf("access times %v", access)
			}
			for _, c := range []string{"csrf", "iss", "aud", token.FamilyClaim} {
				if _, ok := access[c]; ok {
					t.Errorf("access token has %s, not configured", c)
				}
			}
			_, refresh := decodeToken(t, body["refresh_token"].(string))
			if refresh["sub"] != "alice" || refresh["type"] != "refresh" || refresh["fresh"] != false || refresh["role"] != "admin" {
				t.Errorf("refresh claims %v", refresh)
			}
			if jsonNum(t, refresh["exp"]) != now+720*3600 {
				t.Errorf("refresh exp %v", refresh["exp"])
			}
			aj, rj := access["jti"].(string), refresh["jti"].(string)
			if !uuidV4.MatchString(aj) || !uuidV4.MatchString(rj) || aj == rj {
				t.Errorf("jti %q %q must be distinct UUIDv4", aj, rj)
			}
			// and the verifier accepts what the issuer mints
			if ae := e.authenticate(body["access_token"].(string), token.TypeAccess); ae != nil {
				t.Errorf("jwt_auth refuses the minted access token: %v", ae)
			}
		})
	}
}

func TestIssueLoginClaimsFromSettings(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withAppJSON(`{"fresh_for": "5m", "access_ttl": "1m"}`), withApp(func(a *App) {
		a.Issuer = "https://issuer.example"
		a.Audience = []string{"api"}
		a.IdentityClaim = "username"
	}), withIssuer())
	body := e.login()
	_, access := decodeToken(t, body["access_token"].(string))
	if jsonNum(t, access["fresh"]) != fixtureT0.Unix()+300 {
		t.Errorf("fresh %v, want now+fresh_for", access["fresh"])
	}
	if access["iss"] != "https://issuer.example" || access["aud"] != "api" {
		t.Errorf("iss/aud %v %v; one audience is a string", access["iss"], access["aud"])
	}
	if access["username"] != "alice" || access["sub"] != nil {
		t.Errorf("identity under identity_claim: %v", access)
	}
	if jsonNum(t, body["expires_in"]) != 60 || jsonNum(t, access["exp"]) != fixtureT0.Unix()+60 {
		t.Errorf("access ttl not applied: %v %v", body["expires_in"], access["exp"])
	}

	e = newFixture(t, withApp(func(a *App) { a.Audience = []string{"api", "web"} }), withIssuer())
	signer, _ := e.app.ring.Signer()
	signer.KID = "key-2026"
	hdr, _ := decodeToken(t, e.login()["access_token"].(string))
	if hdr["kid"] != "key-2026" {
		t.Errorf("header %v: kid of the signing key", hdr)
	}
	_, access = decodeToken(t, e.login()["access_token"].(string))
	aud, ok := access["aud"].([]any)
	if !ok || len(aud) != 2 || aud[0] != "api" || aud[1] != "web" {
		t.Errorf("several audiences must be an array, got %v", access["aud"])
	}
}

func TestIssueBadCredentialsLookAlike(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 73)
	// a user whose password is 72 bytes + more: bcrypt would accept the
	// first 72 alone, the issuer must not
	h72 := testkit.BcryptHash(t, long[:72])
	e := newFixture(t, withIssuer(func(h *Issue) {
		h.Throttle = &ThrottleConfig{Disabled: true}
		h.Users = append(h.Users, User{Name: "bob", Hash: h72})
	}))
	var ref *httptest.ResponseRecorder
	for _, c := range []struct{ name, user, pw string }{
		{"wrong password", "alice", "nope"},
		{"unknown user", "mallory", fixturePassword},
		{"empty password", "alice", ""},
		{"password over 72 bytes", "bob", long},
		{"user name differs in case", "Alice", fixturePassword},
	} {
		w := e.do(jsonPost("/login", creds(c.user, c.pw)))
		wantMsg(t, w, 401, "Bad username or password")
		if got := w.Header().Get("WWW-Authenticate"); got != "Bearer" {
			t.Errorf("%s: WWW-Authenticate %q", c.name, got)
		}
		if ref == nil {
			ref = w
			continue
		}
		if w.Body.String() != ref.Body.String() || !sameHeaders(w.Header(), ref.Header()) {
			t.Errorf("%s: response differs from a wrong password: %v %s vs %v %s", c.name, w.Header(), w.Body, ref.Header(), ref.Body)
		}
	}
	// the 72-byte prefix alone is bob's real password and still works
	w := e.do(jsonPost("/login", creds("bob", long[:72])))
	if w.Code != 200 {
		t.Errorf("72-byte password refused: %d", w.Code)
	}
}

func sameHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, "\n") != strings.Join(b[k], "\n") {
			return false
		}
	}
	return true
}

// TestIssueMethodNotAllowed: a route's path takes POST; GET and HEAD pass
// on to the next handler (TestIssueOwnsLocalRoutePaths), anything else is
// 405 with Allow.
func TestIssueMethodNotAllowed(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withIssuer())
	for _, p := range []string{"/login", "/refresh", "/reauth", "/logout"} {
		for _, m := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch, "PROPFIND"} {
			w := e.do(httptest.NewRequest(m, p, nil))
			if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "POST" {
				t.Errorf("%s %s: status %d Allow %q", m, p, w.Code, w.Header().Get("Allow"))
			}
		}
	}
}

func TestIssueOtherPathsPassThrough(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withIssuer())
	// a route's path up to case and one trailing slash is the route's
	// (TestIssueOwnsLocalRoutePaths); other paths pass on untouched
	for _, p := range []string{"/", "/login//", "/login/x", "/refreshx", "/api/login", "/jwks"} {
		r := jsonPost(p, creds("alice", fixturePassword))
		w := e.do(r)
		if w.Code != nextStatus || w.Body.String() != "next" || len(w.Header()) != 0 {
			t.Errorf("%s: not passed on untouched: %d %q %v", p, w.Code, w.Body, w.Header())
		}
	}
}

// TestIssueJWKSRoute: the jwks route is served by serveJWKS (the
// generated ES256 key's public half; an HMAC-only app's jwks route is
// refused at load, TestIssueRefusedAtLoad), and only GET and HEAD are
// allowed.
func TestIssueJWKSRoute(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withAppJSON(`{"secret":null}`), withIssuer(func(h *Issue) { h.JWKS = "/.well-known/jwks.json" }))
	w := e.do(httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/jwk-set+json" {
		t.Fatalf("GET jwks: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &set); err != nil || len(set.Keys) != 1 || set.Keys[0]["kty"] != "EC" || set.Keys[0]["d"] != nil {
		t.Fatalf("jwks = %s (%v), want the generated key's public half", w.Body, err)
	}
	w = e.do(httptest.NewRequest(http.MethodPost, "/.well-known/jwks.json", nil))
	wantMsg(t, w, 405, "Method Not Allowed")
	if got := w.Header().Get("Allow"); got != "GET, HEAD" {
		t.Fatalf("Allow = %q", got)
	}
}

func TestIssueBadBodies(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withIssuer())
	req := func(ct, body string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(body))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		return r
	}
	huge := `{"username": "alice", "password": "` + strings.Repeat("a", 64<<10) + `"}`
	for _, c := range []struct {
		name   string
		r      *http.Request
		status int
		msg    string
	}{
		{"no content type", req("", creds("alice", "x")), 415, errUnsupportedMedia.msg},
		{"text/plain", req("text/plain", creds("alice", "x")), 415, errUnsupportedMedia.msg},
		{"multipart", req("multipart/form-data; boundary=x", "--x--"), 415, errUnsupportedMedia.msg},
		{"empty, no type", req("", ""), 415, errUnsupportedMedia.msg},
		{"empty json", req("application/json", ""), 400, "Missing request body"},
		{"malformed json", req("application/json", `{"username": "alice", `), 400, "Request body is not valid JSON"},
		{"trailing data", req("application/json", creds("alice", "x")+` {}`), 400, "Request body is not valid JSON"},
		{"duplicate member", req("application/json", `{"username": "alice", "username": "bob", "password": "x"}`), 400, "Request body is not valid JSON"},
		{"array", req("application/json", `["alice", "x"]`), 400, "Request body must be a JSON object"},
		{"string", req("application/json", `"alice"`), 400, "Request body must be a JSON object"},
		{"username a number", req("application/json", `{"username": 1, "password": "x"}`), 400, `"username" must be a string`},
		{"password an object", req("application/json", `{"username": "alice", "password": {}}`), 400, `"password" must be a string`},
		{"missing password", req("application/json", `{"username": "alice"}`), 400, `Missing "password" in request body`},
		{"null username", req("application/json", `{"username": null, "password": "x"}`), 400, `Missing "username" in request body`},
		{"form missing username", req("application/x-www-form-urlencoded", "password=x"), 400, `Missing "username" in request body`},
		{"form duplicate", req("application/x-www-form-urlencoded", "username=a&username=b&password=x"), 400, `"username" is given more than once`},
		{"form malformed", req("application/x-www-form-urlencoded", "username=%zz&password=x"), 400, "Request body is not a valid form"},
		{"over 64 KiB", req("application/json", huge), 413, "Request body is too large"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := e.do(c.r)
			wantMsg(t, w, c.status, c.msg)
		})
	}
	// exactly at the limit is read (and then judged on its content)
	pad := 64<<10 - len(`{"username": "alice", "password": "`+fixturePassword+`", "p": ""}`)
	w := e.do(req("application/json", `{"username": "alice", "password": "`+fixturePassword+`", "p": "`+strings.Repeat("a", pad)+`"}`))
	if w.Code != 200 {
		t.Errorf("64 KiB body: status %d %s", w.Code, w.Body)
	}
	// reauth reads bodies the same way; logout refuses bad bodies too
	w = e.do(jsonPost("/reauth", `{"username": 1}`))
	wantMsg(t, w, 400, `"username" must be a string`)
	w = e.do(jsonPost("/logout", `{"refresh_token": 5}`))
	wantMsg(t, w, 400, `"refresh_token" must be a string`)
	r := httptest.NewRequest(http.MethodPost, "/logout", strings.NewReader("x"))
	r.Header.Set("Content-Type", "text/plain")
	wantMsg(t, e.do(r), 415, errUnsupportedMedia.msg)
}

func TestIssueReauth(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withIssuer())
	w := e.do(formPost("/reauth", url.Values{"username": {"alice"}, "password": {fixturePassword}}))
	if w.Code != 200 {
		t.Fatalf("status %d %s", w.Code, w.Body)
	}
	body := bodyJSON(t, w)
	if _, ok := body["refresh_token"]; ok || len(body) != 3 {
		t.Errorf("reauth body %v: access_token, token_type, expires_in only", body)
	}
	_, access := decodeToken(t, body["access_token"].(string))
	if access["fresh"] != true || access["type"] != "access" {
		t.Errorf("reauth token %v must be a fresh access token", access)
	}
	w = e.do(jsonPost("/reauth", creds("alice", "wrong")))
	wantMsg(t, w, 401, "Bad username or password")
}

func TestIssueRefresh(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withIssuer())
	login := e.login()
	access, refresh := login["access_token"].(string), login["refresh_token"].(string)
	e.clock.Advance(time.Minute)

	w := e.do(withBearer(httptest.NewRequest(http.MethodPost, "/refresh", nil), refresh))
	if w.Code != 200 {
		t.Fatalf("refresh: %d %s", w.Code, w.Body)
	}
	body := bodyJSON(t, w)
	if _, ok := body["refresh_token"]; ok || len(body) != 3 || w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("refresh body %v: no refresh_token without rotate_refresh", body)
	}
	_, claims := decodeToken(t, body["access_token"].(string))
	if claims["fresh"] != false || claims["type"] != "access" || claims["sub"] != "alice" || claims["role"] != "admin" {
		t.Errorf("refreshed access token %v must be non-fresh with the user's claims", claims)
	}
	if jsonNum(t, claims["iat"]) != fixtureT0.Unix()+60 {
		t.Errorf("iat %v: the clock is the app's", claims["iat"])
	}

	w = e.do(withBearer(httptest.NewRequest(http.MethodPost, "/refresh", nil), access))
	wantMsg(t, w, 401, "Only refresh tokens are allowed")
	w = e.do(httptest.NewRequest(http.MethodPost, "/refresh", nil))
	wantMsg(t, w, 401, "Missing Authorization Header")
	w = e.do(withBearer(httptest.NewRequest(http.MethodPost, "/refresh", nil), refresh[:len(refresh)-2]+"AA"))
	wantMsg(t, w, 401, "Signature verification failed")

	// a refresh token of a user no longer configured
	ghost := e.token(map[string]any{
		"sub": "ghost", "type": "refresh", "fresh": false, "jti": "j1",
		"iat": fixtureT0.Unix(), "exp": fixtureT0.Unix() + 3600,
	})
	w = e.do(withBearer(httptest.NewRequest(http.MethodPost, "/refresh", nil), ghost))
	wantMsg(t, w, 401, "User not found")

	e.clock.Advance(720 * time.Hour)
	w = e.do(withBearer(httptest.NewRequest(http.MethodPost, "/refresh", nil), refresh))
	wantMsg(t, w, 401, "Token has expired")
}

func TestIssueLogout(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withIssuer())
	login := e.login()
	access, refresh := login["access_token"].(string), login["refresh_token"].(string)

	w := e.do(withBearer(jsonPost("/logout", `{"refresh_token": "`+refresh+`"}`), access))
	if w.Code != 200 || w.Body.String() != `{"msg":"Logged out"}` {
		t.Fatalf("logout: %d %s", w.Code, w.Body)
	}
	if ae := e.authenticate(access, token.TypeAccess); ae != errRevoked {
		t.Errorf("access token after logout: %v, want revoked", ae)
	}
	w = e.do(withBearer(httptest.NewRequest(http.MethodPost, "/refresh", nil), refresh))
	wantMsg(t, w, 401, "Token has been revoked")
	// logging out again: nothing valid is left
	w = e.do(withBearer(httptest.NewRequest(http.MethodPost, "/logout", nil), access))
	wantMsg(t, w, 401, "Token has been revoked")

	t.Run("access only", func(t *testing.T) {
		l := e.login()
		w := e.do(withBearer(httptest.NewRequest(http.MethodPost, "/logout", nil), l["access_token"].(string)))
		if w.Code != 200 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		if e.authenticate(l["access_token"].(string), token.TypeAccess) != errRevoked || e.authenticate(l["refresh_token"].(string), token.TypeRefresh) != nil {
			t.Error("only the access token must be revoked")
		}
	})
	t.Run("expired access, refresh in a form", func(t *testing.T) {
		l := e.login()
		e.clock.Advance(16 * time.Minute)
		w := e.do(withBearer(formPost("/logout", url.Values{"refresh_token": {l["refresh_token"].(string)}}), l["access_token"].(string)))
		if w.Code != 200 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		if e.authenticate(l["refresh_token"].(string), token.TypeRefresh) != errRevoked {
			t.Error("refresh token not revoked")
		}
	})
	t.Run("no token", func(t *testing.T) {
		wantMsg(t, e.do(httptest.NewRequest(http.MethodPost, "/logout", nil)), 401, "Missing Authorization Header")
	})
	t.Run("access token as refresh_token", func(t *testing.T) {
		l := e.login()
		w := e.do(withBearer(jsonPost("/logout", `{"refresh_token": "`+l["access_token"].(string)+`"}`), l["access_token"].(string)))
		wantMsg(t, w, 401, "Only refresh tokens are allowed")
	})
	t.Run("bad access token", func(t *testing.T) {
		w := e.do(withBearer(httptest.NewRequest(http.MethodPost, "/logout", nil), "a.b.c"))
		if w.Code != 401 {
			t.Errorf("%d", w.Code)
		}
	})
	t.Run("tokens of two users", func(t *testing.T) {
		l := e.login()
		other := e.token(map[string]any{
			"sub": "bob", "type": "refresh", "fresh": false, "jti": "bob-1",
			"iat": e.clock.Now().Unix(), "exp": e.clock.Now().Unix() + 3600,
		})
		w := e.do(withBearer(jsonPost("/logout", `{"refresh_token": "`+other+`"}`), l["access_token"].(string)))
		wantMsg(t, w, 401, "Access and refresh tokens belong to different users")
		if e.authenticate(l["access_token"].(string), token.TypeAccess) != nil {
			t.Error("a refused logout revoked the access token")
		}
	})
}

func TestIssueLogoutRevocationFailureIs503(t *testing.T) {
	t.Parallel()
	e := newFixture(t, faultyStorage(), withIssuer(func(h *Issue) { h.Deliver = []string{"json", "cookie"} }))
	login := e.login()
	e.failStores(errors.New("storage down"))
	w := e.do(withBearer(httptest.NewRequest(http.MethodPost, "/logout", nil), login["access_token"].(string)))
	wantMsg(t, w, 503, "Logout could not be recorded; try again")
	if len(w.Result().Cookies()) != 0 {
		t.Error("a failed logout must not clear the cookies")
	}
}

func TestIssueCookieDelivery(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withIssuer(func(h *Issue) { h.Deliver = []string{"cookie"} }))
	w := e.do(jsonPost("/login", creds("alice", fixturePassword)))
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if got := w.Body.String(); got != `{"msg":"Login successful","expires_in":900}` {
		t.Errorf("cookie-only body %s", got)
	}
	cs := cookiesOf(w)
	if len(cs) != 4 {
		t.Fatalf("cookies %v", cs)
	}
	for name, want := range map[string]struct {
		httpOnly bool
		maxAge   int
	}{
		// session cookies by default (cookie { session on }): no Max-Age
		"access_token_cookie": {true, 0}, "refresh_token_cookie": {true, 0},
		"csrf_access_token": {false, 0}, "csrf_refresh_token": {false, 0},
	} {
		c := cs[name]
		if c == nil || c.HttpOnly != want.httpOnly || c.MaxAge != want.maxAge || c.Path != "/" || c.SameSite != http.SameSiteLaxMode || c.Secure {
			t.Errorf("cookie %s: %+v", name, c)
		}
	}
	_, access := decodeToken(t, cs["access_token_cookie"].Value)
	_, refresh := decodeToken(t, cs["refresh_token_cookie"].Value)
	if access["csrf"] != cs["csrf_access_token"].Value || refresh["csrf"] != cs["csrf_refresh_token"].Value ||
		!uuidV4.MatchString(cs["csrf_access_token"].Value) || access["csrf"] == refresh["csrf"] {
		t.Errorf("csrf claims %v %v vs cookies %q %q", access["csrf"], refresh["csrf"], cs["csrf_access_token"].Value, cs["csrf_refresh_token"].Value)
	}

	withCookies := func(r *http.Request, names ...string) *http.Request {
		for _, n := range names {
			r.AddCookie(&http.Cookie{Name: n, Value: cs[n].Value})
		}
		return r
	}
	// refresh reads the refresh cookie and needs its CSRF token
	r := withCookies(httptest.NewRequest(http.MethodPost, "/refresh", nil), "refresh_token_cookie")
	wantMsg(t, e.do(r), 401, "Missing CSRF token")
	r = withCookies(httptest.NewRequest(http.MethodPost, "/refresh", nil), "refresh_token_cookie")
	r.Header.Set("X-CSRF-TOKEN", cs["csrf_access_token"].Value)
	wantMsg(t, e.do(r), 401, "CSRF double submit tokens do not match")
	r = withCookies(httptest.NewRequest(http.MethodPost, "/refresh", nil), "refresh_token_cookie")
	r.Header.Set("X-CSRF-TOKEN", cs["csrf_refresh_token"].Value)
	w = e.do(r)
	if w.Code != 200 || w.Body.String() != `{"msg":"Token refreshed","expires_in":900}` {
		t.Fatalf("cookie refresh: %d %s", w.Code, w.Body)
	}
	rc := cookiesOf(w)
	if len(rc) != 2 || rc["access_token_cookie"] == nil || rc["csrf_access_token"] == nil {
		t.Errorf("refresh sets the access cookies only: %v", rc)
	}

	// logout: the access cookie with its CSRF token, the refresh cookie
	r = withCookies(httptest.NewRequest(http.MethodPost, "/logout", nil), "access_token_cookie", "refresh_token_cookie")
	wantMsg(t, e.do(r), 401, "Missing CSRF token")
	r = withCookies(httptest.NewRequest(http.MethodPost, "/logout", nil), "access_token_cookie", "refresh_token_cookie")
	r.Header.Set("X-CSRF-TOKEN", cs["csrf_access_token"].Value)
	w = e.do(r)
	if w.Code != 200 {
		t.Fatalf("cookie logout: %d %s", w.Code, w.Body)
	}
	cleared := cookiesOf(w)
	for _, n := range []string{"access_token_cookie", "refresh_token_cookie", "csrf_access_token", "csrf_refresh_token"} {
		c := cleared[n]
		if c == nil || c.MaxAge >= 0 || c.Value != "" || c.Path != "/" {
			t.Errorf("logout does not clear %s: %+v", n, c)
		}
	}
	if e.authenticate(cs["access_token_cookie"].Value, token.TypeAccess) != errRevoked || e.authenticate(cs["refresh_token_cookie"].Value, token.TypeRefresh) != errRevoked {
		t.Error("cookie logout did not revoke both tokens")
	}
}

func TestIssueCookieLogoutRefreshOnly(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withIssuer(func(h *Issue) { h.Deliver = []string{"json", "cookie"} }))
	w := e.do(jsonPost("/login", creds("alice", fixturePassword)))
	body := bodyJSON(t, w)
	cs := cookiesOf(w)
	if body["access_token"] != cs["access_token_cookie"].Value || body["refresh_token"] != cs["refresh_token_cookie"].Value {
		t.Fatalf("json+cookie must deliver the same tokens both ways")
	}
	// the access cookie has expired in the browser: only the refresh
	// cookie comes, and its own CSRF token must accompany it
	e.clock.Advance(20 * time.Minute)
	mk := func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/logout", nil)
		r.AddCookie(&http.Cookie{Name: "refresh_token_cookie", Value: cs["refresh_token_cookie"].Value})
		return r
	}
	wantMsg(t, e.do(mk()), 401, "Missing CSRF token")
	r := mk()
	r.Header.Set("X-CSRF-TOKEN", cs["csrf_refresh_token"].Value)
	if w := e.do(r); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if e.authenticate(cs["refresh_token_cookie"].Value, token.TypeRefresh) != errRevoked {
		t.Error("refresh token not revoked")
	}

	// json+cookie client that sends its access token in the header: the
	// browser adds the refresh cookie on its own, and the header token
	// proves intent, so no CSRF header is needed
	w = e.do(jsonPost("/login", creds("alice", fixturePassword)))
	body, cs = bodyJSON(t, w), cookiesOf(w)
	r = withBearer(httptest.NewRequest(http.MethodPost, "/logout", nil), body["access_token"].(string))
	r.AddCookie(&http.Cookie{Name: "refresh_token_cookie", Value: cs["refresh_token_cookie"].Value})
	if w := e.do(r); w.Code != 200 {
		t.Fatalf("header access + refresh cookie: %d %s", w.Code, w.Body)
	}
	if e.authenticate(body["refresh_token"].(string), token.TypeRefresh) != errRevoked {
		t.Error("the refresh cookie was not revoked")
	}
}

func TestIssueCookieSecureOverTLS(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withIssuer(func(h *Issue) { h.Deliver = []string{"cookie"} }))
	r := jsonPost("/login", creds("alice", fixturePassword))
	r.TLS = &tls.ConnectionState{}
	for _, c := range e.do(r).Result().Cookies() {
		if !c.Secure {
			t.Errorf("cookie %s over HTTPS without Secure", c.Name)
		}
	}
}

func TestIssueRotateRefresh(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withIssuer(func(h *Issue) { h.RotateRefresh = true }))
	login := e.login()
	_, a0 := decodeToken(t, login["access_token"].(string))
	_, r0 := decodeToken(t, login["refresh_token"].(string))
	fam, _ := r0[token.FamilyClaim].(string)
	if !uuidV4.MatchString(fam) || a0[token.FamilyClaim] != fam || fam == r0["jti"] {
		t.Fatalf("family %v: a UUID shared by the login's tokens, distinct from any jti", r0[token.FamilyClaim])
	}
	refresh := func(tok string) *httptest.ResponseRecorder {
		return e.do(withBearer(httptest.NewRequest(http.MethodPost, "/refresh", nil), tok))
	}
	// a refresh token younger than rotate_grace (10s) is not rotated
	e.clock.Advance(11 * time.Second)
	w := refresh(login["refresh_token"].(string))
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	first := bodyJSON(t, w)
	_, r1 := decodeToken(t, first["refresh_token"].(string))
	if r1[token.FamilyClaim] != fam || r1["jti"] == r0["jti"] || r1["type"] != "refresh" {
		t.Fatalf("rotated refresh token %v", r1)
	}
	// the successor works once
	e.clock.Advance(11 * time.Second)
	w = refresh(first["refresh_token"].(string))
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	second := bodyJSON(t, w)

	// replaying the first, already rotated token: refused, and the whole
	// family goes with it
	wantMsg(t, refresh(login["refresh_token"].(string)), 401, "Token has been revoked")
	wantMsg(t, refresh(second["refresh_token"].(string)), 401, "Token has been revoked")
	if e.authenticate(second["access_token"].(string), token.TypeAccess) != errRevoked {
		t.Error("the family's access tokens must be refused after reuse")
	}
	// a new login is a new family
	if w := refresh(e.login()["refresh_token"].(string)); w.Code != 200 {
		t.Errorf("a new login after reuse: %d", w.Code)
	}
}

func TestIssueRotateLogoutEndsFamily(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withIssuer(func(h *Issue) { h.RotateRefresh = true }))
	login := e.login()
	e.clock.Advance(11 * time.Second) // past rotate_grace: the refresh rotates
	w := e.do(withBearer(httptest.NewRequest(http.MethodPost, "/refresh", nil), login["refresh_token"].(string)))
	rotated := bodyJSON(t, w)
	w = e.do(withBearer(jsonPost("/logout", `{"refresh_token": "`+rotated["refresh_token"].(string)+`"}`), rotated["access_token"].(string)))
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if e.authenticate(login["access_token"].(string), token.TypeAccess) != errRevoked {
		t.Error("logout under rotation must revoke the login's other access tokens")
	}
}

func TestIssueRotateStoreFailureIs503(t *testing.T) {
	t.Parallel()
	e := newFixture(t, faultyStorage(), withIssuer(func(h *Issue) { h.RotateRefresh = true }))
	login := e.login()
	e.failStores(errors.New("storage is down"))
	e.clock.Advance(11 * time.Second) // past rotate_grace: the refresh rotates
	w := e.do(withBearer(httptest.NewRequest(http.MethodPost, "/refresh", nil), login["refresh_token"].(string)))
	wantMsg(t, w, 503, "Refresh could not be recorded; try again")
}

// Concurrent refreshes of one token rotate it once; the others are within
// rotate_grace of that rotation and get an access token only (issue 12:
// they used to be refused, logging out a user with two tabs).
func TestIssueConcurrentRotationOneWins(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withIssuer(func(h *Issue) { h.RotateRefresh = true }))
	tok := e.login()["refresh_token"].(string)
	e.clock.Advance(11 * time.Second) // past rotate_grace: the token may rotate
	const n = 8
	codes := make(chan int, n)
	rotated := make(chan bool, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := e.do(withBearer(httptest.NewRequest(http.MethodPost, "/refresh", nil), tok))
			codes <- w.Code
			rotated <- strings.Contains(w.Body.String(), `"refresh_token"`)
		}()
	}
	wg.Wait()
	close(codes)
	close(rotated)
	ok, rot := 0, 0
	for c := range codes {
		if c == 200 {
			ok++
		}
	}
	for r := range rotated {
		if r {
			rot++
		}
	}
	if ok != n || rot != 1 {
		t.Errorf("%d of %d concurrent refreshes of one token succeeded and %d rotated, want all and 1", ok, n, rot)
	}
}

func TestIssueProvisionRefusesBadUsers(t *testing.T) {
	t.Parallel()
	good := passwordHash(t)
	for _, c := range []struct {
		name  string
		users []User
		want  []string
	}{
		{"malformed hash", []User{{Name: "carol", Hash: "$2a$10$short"}}, []string{`user "carol"`, "caddy hash-password"}},
		{"plain text", []User{{Name: "dave", Hash: "hunter2"}}, []string{`user "dave"`, "no known form (bcrypt or argon2id)"}},
		{"reserved claim", []User{{Name: "erin", Hash: good, Claims: map[string]any{"exp": "1"}}}, []string{`claim "exp"`}},
		{"csrf claim", []User{{Name: "erin", Hash: good, Claims: map[string]any{"csrf": "x"}}}, []string{`claim "csrf"`}},
		{"duplicate", []User{{Name: "f", Hash: good}, {Name: "f", Hash: good}}, []string{"defined twice"}},
		{"empty name", []User{{Name: "", Hash: good}}, []string{"empty"}},
		{"control char", []User{{Name: "a\nb", Hash: good}}, []string{"control"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := loadCredentials(c.users, "", "sub", time.Now, zap.NewNop())
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	// a user claim named like the identity claim
	if _, err := loadCredentials([]User{{Name: "g", Hash: good, Claims: map[string]any{"username": "x"}}}, "", "username", time.Now, zap.NewNop()); err == nil {
		t.Error("a claim named like identity_claim must be refused")
	}
}

func TestIssueValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		h    Issue
		want string
	}{
		{"no route", Issue{}, "no route"},
		{"relative path", Issue{Logout: "logout"}, "must start with /"},
		{"shared path", Issue{Refresh: "/t", Logout: "/t"}, "share the path"},
		{"login without users", Issue{Login: "/login"}, "need users"},
	} {
		if err := c.h.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

func TestIssueUnmarshalCaddyfile(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		input string
		want  Issue
		err   string
	}{
		{name: "full", input: `jwt_issue {
			login /login
			refresh /refresh
			reauth /reauth
			logout /logout
			jwks /.well-known/jwks.json
			user alice $2a$04$abc role=admin team=a=b
			users_file /etc/users
			deliver cookie json
			token_from cookie header
			throttle 3 10 5m
			rotate_refresh
		}`, want: Issue{
			Login: "/login", Refresh: "/refresh", Reauth: "/reauth", Logout: "/logout", JWKS: "/.well-known/jwks.json",
			Users:     []User{{Name: "alice", Hash: "$2a$04$abc", Claims: map[string]any{"role": "admin", "team": "a=b"}}},
			UsersFile: "/etc/users", Deliver: []string{"cookie", "json"}, TokenLookup: TokenLookup{TokenFrom: []string{"cookie", "header"}},
			Throttle:      &ThrottleConfig{MaxPerUser: "3", MaxPerIP: "10", Window: "5m"},
			RotateRefresh: true,
		}},
		{name: "throttle off", input: "jwt_issue {\nlogout /o\nthrottle off\n}", want: Issue{Logout: "/o", Throttle: &ThrottleConfig{Disabled: true}}},
		{name: "throttle arity", input: "jwt_issue {\nthrottle 3 10\n}", err: "throttle takes"},
		{name: "throttle zero", input: "jwt_issue {\nthrottle 0 10 1m\n}", err: "positive whole numbers"},
		{name: "throttle window", input: "jwt_issue {\nthrottle 1 10 soon\n}", err: "positive duration"},
		{name: "rotate_refresh arg", input: "jwt_issue {\nrotate_refresh yes\n}", err: "wrong argument count"},
		{name: "deliver", input: "jwt_issue {\ndeliver carrier-pigeon\n}", err: "deliver takes json and/or cookie"},
		{name: "user claim", input: "jwt_issue {\nuser a h role\n}", err: "<claim>=<value>"},
		{name: "user arity", input: "jwt_issue {\nuser a\n}", err: "user takes"},
		{name: "unknown", input: "jwt_issue {\nsignup /s\n}", err: "unrecognized jwt_issue subdirective 'signup'"},
		{name: "inline arg", input: "jwt_issue /login", err: "wrong argument count"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got Issue
			err := got.UnmarshalCaddyfile(caddyfile.NewTestDispenser(c.input))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			gj, wj := testkit.MustJSON(t, got), testkit.MustJSON(t, c.want)
			if !bytes.Equal(gj, wj) {
				t.Errorf("got %s\nwant %s", gj, wj)
			}
		})
	}
}
