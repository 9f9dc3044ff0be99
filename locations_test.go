package jwtextended

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
)

// Unit tests of issue 13's token locations: header_name, header_type,
// query_param, json_key, refresh_json_key, token_from json, message_key,
// and optional routes refusing a malformed header of the configured type.

func TestLocationHeaderName(t *testing.T) {
	t.Parallel()
	tok := accessToken(t, nil)
	h := newFixture(t, withApp(func(a *App) { a.HeaderName = "x-auth" })).auth(nil)

	wantPassed(t, serve(h, apiGet("X-Auth", "Bearer "+tok)), "alice")
	wantRefused(t, serve(h, apiGet("Authorization", "Bearer "+tok)), 401, "Missing X-Auth Header", challengeNoToken)
	wantRefused(t, serve(h, apiGet("X-Auth", "Basic YWxpY2U6cHc=")), 401,
		"Missing 'Bearer' type in 'X-Auth' header. Expected 'X-Auth: Bearer <JWT>'", challengeNoToken)
	wantRefused(t, serve(h, apiGet("X-Auth", "Bearer a", "X-Auth", "Bearer b")), 401, "Only one X-Auth header is allowed", challengeNoToken)

	// with another source: flask's "Missing JWT in ..." names the header
	hq := newFixture(t, withApp(func(a *App) { a.HeaderName = "X-Auth"; a.TokenFrom = []string{"header", "query"} })).auth(nil)
	wantRefused(t, serve(hq, apiGet()), 401,
		`Missing JWT in headers or query_string (Missing X-Auth Header; Missing "jwt" query parameter)`, challengeNoToken)
}

func TestLocationHeaderType(t *testing.T) {
	t.Parallel()
	tok := accessToken(t, nil)
	h := newFixture(t, withApp(func(a *App) { a.HeaderName = "X-Auth"; a.HeaderType = strPtr("Token") })).auth(nil)
	wantPassed(t, serve(h, apiGet("X-Auth", "Token "+tok)), "alice")
	wantPassed(t, serve(h, apiGet("X-Auth", "token "+tok)), "alice") // RFC 7235: case-insensitive
	wantRefused(t, serve(h, apiGet("X-Auth", "Bearer "+tok)), 401,
		"Missing 'Token' type in 'X-Auth' header. Expected 'X-Auth: Token <JWT>'", challengeNoToken)
	wantRefused(t, serve(h, apiGet("X-Auth", "Token a b")), 401,
		"Bad X-Auth header. Expected 'X-Auth: Token <JWT>'", challengeNoToken)

	// header_type "": the whole value is the token
	hw := newFixture(t, withApp(func(a *App) { a.HeaderName = "X-Auth"; a.HeaderType = strPtr("") })).auth(nil)
	wantPassed(t, serve(hw, apiGet("X-Auth", tok)), "alice")
	wantRefused(t, serve(hw, apiGet("X-Auth", "Bearer "+tok)), 401,
		"Bad X-Auth header. Expected 'X-Auth: <JWT>'", challengeNoToken)
	wantRefused(t, serve(hw, apiGet()), 401, "Missing X-Auth Header", challengeNoToken)

	// the default type, with a header of the configured type malformed
	hd := newFixture(t).auth(nil)
	wantRefused(t, serve(hd, apiGet("Authorization", "Bearer a b")), 401,
		"Bad Authorization header. Expected 'Authorization: Bearer <JWT>'", challengeNoToken)

	// not a token: refused at load
	for _, bad := range []string{"Bearer x", "a,b"} {
		f := newFixture(t)
		app := f.app
		if _, err := handlerNames("jwt_auth", TokenLookup{HeaderType: strPtr(bad)}, app); err == nil || !strings.Contains(err.Error(), "header_type") {
			t.Errorf("header_type %q: err %v", bad, err)
		}
	}
	if _, err := tryFixture(t, withAppJSON(`{"header_name": "X Auth"}`)); err == nil || !strings.Contains(err.Error(), "header_name") {
		t.Errorf("header_name with a space: err %v", err)
	}
}

func TestLocationQueryParam(t *testing.T) {
	t.Parallel()
	tok := accessToken(t, nil)
	h := newFixture(t, withApp(func(a *App) { a.QueryParam = "token"; a.TokenFrom = []string{"query"} })).auth(nil)
	wantPassed(t, serve(h, httptest.NewRequest("GET", "/api?token="+tok, nil)), "alice")
	wantRefused(t, serve(h, httptest.NewRequest("GET", "/api?jwt="+tok, nil)), 401, `Missing "token" query parameter`, challengeNoToken)
}

func TestLocationJSON(t *testing.T) {
	t.Parallel()
	tok := accessToken(t, nil)
	refresh := accessToken(t, map[string]any{"type": "refresh"})
	h := newFixture(t, withApp(func(a *App) { a.TokenFrom = []string{"json"} })).auth(nil)

	// the token is read, and the upstream reads the body unchanged
	body := `{"access_token": "` + tok + `", "note": "kept"}`
	res := serve(h, apiPost("application/json; charset=utf-8", body))
	wantPassed(t, res, "alice")
	if got, _ := io.ReadAll(res.next.req.Body); string(got) != body {
		t.Errorf("upstream read body %q, want %q", got, body)
	}

	for _, tc := range []struct{ name, ct, body, msg string }{
		{"not JSON", "text/plain", body, "Invalid content-type. Must be application/json."},
		{"no Content-Type", "", body, "Invalid content-type. Must be application/json."},
		{"other key", "application/json", `{"token": "` + tok + `"}`, `Missing "access_token" key in json data.`},
		{"null", "application/json", `{"access_token": null}`, `Missing "access_token" key in json data.`},
		{"empty", "application/json", `{"access_token": ""}`, `Missing "access_token" key in json data.`},
		{"not an object", "application/json", `["` + tok + `"]`, `Missing "access_token" key in json data.`},
		{"invalid JSON", "application/json", `{"access_token": "` + tok, `Missing "access_token" key in json data.`},
		{"empty body", "application/json", ``, `Missing "access_token" key in json data.`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantRefused(t, serve(h, apiPost(tc.ct, tc.body)), 401, tc.msg, challengeNoToken)
		})
	}

	// beyond the 64 KiB cap: 413, and nothing is lost for a later source
	big := `{"access_token": "` + tok + `", "pad": "` + strings.Repeat("x", maxIssueBody) + `"}`
	wantRefused(t, serve(h, apiPost("application/json", big)), 413, "Request body is too large", "")
	hjq := newFixture(t, withApp(func(a *App) { a.TokenFrom = []string{"json", "query"} })).auth(nil)
	r := apiPost("application/json", big)
	r.URL.RawQuery = "jwt=" + tok
	res = serve(hjq, r)
	wantPassed(t, res, "alice")
	if got, _ := io.ReadAll(res.next.req.Body); string(got) != big {
		t.Errorf("upstream read %d bytes of a %d-byte body, or other bytes", len(got), len(big))
	}

	// json_key, and refresh_json_key where a refresh token is wanted
	hk := newFixture(t, withApp(func(a *App) { a.TokenFrom = []string{"json"}; a.JSONKey = "jwt"; a.RefreshJSONKey = "rt" })).auth(nil)
	wantPassed(t, serve(hk, apiPost("application/json", `{"jwt": "`+tok+`"}`)), "alice")
	wantRefused(t, serve(hk, apiPost("application/json", `{"access_token": "`+tok+`"}`)), 401, `Missing "jwt" key in json data.`, challengeNoToken)
	hr := newFixture(t, withApp(func(a *App) { a.TokenFrom = []string{"json"}; a.RefreshJSONKey = "rt" })).auth(&Auth{TokenType: "refresh"})
	wantPassed(t, serve(hr, apiPost("application/json", `{"access_token": "`+tok+`", "rt": "`+refresh+`"}`)), "alice")
	wantRefused(t, serve(hr, apiPost("application/json", `{"refresh_token": "`+refresh+`"}`)), 401, `Missing "rt" key in json data.`, challengeNoToken)

	// among other sources: flask's "Missing JWT in ..." with the JSON reason
	hh := newFixture(t, withApp(func(a *App) { a.TokenFrom = []string{"header", "json"} })).auth(nil)
	wantRefused(t, serve(hh, apiGet()), 401,
		"Missing JWT in headers or json (Missing Authorization Header; Invalid content-type. Must be application/json.)", challengeNoToken)
	wantRefused(t, serve(hh, apiPost("application/json", `{}`)), 401,
		`Missing JWT in headers or json (Missing Authorization Header; Missing "access_token" key in json data.)`, challengeNoToken)
	// a header token wins, and the body is not read at all
	r = apiPost("application/json", `{"access_token": "x"}`)
	r.Header.Set("Authorization", "Bearer "+tok)
	r.Body = io.NopCloser(&noReadBody{t: t})
	wantPassed(t, serve(hh, r), "alice")
}

// noReadBody fails the test when read.
type noReadBody struct{ t *testing.T }

func (b *noReadBody) Read([]byte) (int, error) {
	b.t.Error("body read although the header had the token")
	return 0, io.EOF
}

// TestLocationHandlerOverrides: jwt_auth's names replace the app's one by
// one; the others stay the app's.
func TestLocationHandlerOverrides(t *testing.T) {
	t.Parallel()
	tok := accessToken(t, nil)
	f := newFixture(t, withApp(func(a *App) {
		a.HeaderName = "X-Auth"
		a.HeaderType = strPtr("Token")
		a.TokenFrom = []string{"header", "query"}
	}))
	h := f.auth(&Auth{TokenLookup: TokenLookup{HeaderType: strPtr("JWT"), QueryParam: "t"}})
	wantPassed(t, serve(h, apiGet("X-Auth", "JWT "+tok)), "alice")
	// a header of another type is one more place without a token, as
	// flask-jwt-extended words it
	wantRefused(t, serve(h, apiGet("X-Auth", "Token "+tok)), 401,
		`Missing JWT in headers or query_string (Missing 'JWT' type in 'X-Auth' header. Expected 'X-Auth: JWT <JWT>'; Missing "t" query parameter)`, challengeNoToken)
	wantRefused(t, serve(h, apiGet()), 401,
		`Missing JWT in headers or query_string (Missing X-Auth Header; Missing "t" query parameter)`, challengeNoToken)
	wantPassed(t, serve(h, httptest.NewRequest("GET", "/api?t="+tok, nil)), "alice")
	plain := f.auth(nil)
	wantPassed(t, serve(plain, apiGet("X-Auth", "Token "+tok)), "alice")
}

// TestLocationOptionalMalformedHeader: on an optional route a header of
// the configured type that is malformed is refused, as flask refuses it;
// one of another type is still no token.
func TestLocationOptionalMalformedHeader(t *testing.T) {
	t.Parallel()
	h := newFixture(t).auth(&Auth{Optional: true})
	for _, v := range []string{"Bearer a b", "Bearer ", "Bearer", "bearer  x"} {
		wantRefused(t, serve(h, apiGet("Authorization", v)), 401,
			"Bad Authorization header. Expected 'Authorization: Bearer <JWT>'", challengeNoToken)
	}
	res := serve(h, apiGet("Authorization", "Basic YWxpY2U6cHc="))
	if !res.next.called {
		t.Errorf("optional, Basic: refused %d %s", res.rec.Code, res.rec.Body)
	}

	ht := newFixture(t, withApp(func(a *App) { a.HeaderType = strPtr("Token") })).auth(&Auth{Optional: true})
	wantRefused(t, serve(ht, apiGet("Authorization", "Token a b")), 401,
		"Bad Authorization header. Expected 'Authorization: Token <JWT>'", challengeNoToken)
	if res := serve(ht, apiGet("Authorization", "Bearer x")); !res.next.called {
		t.Errorf("optional, header_type Token, Bearer: refused %d %s", res.rec.Code, res.rec.Body)
	}
}

// TestMessageKey: message_key names the key of every JSON refusal, and the
// bodies are built once per app.
func TestMessageKey(t *testing.T) {
	f := newFixture(t, withApp(func(a *App) { a.MessageKey = "error" }))
	h, app := f.auth(nil), f.app
	res := serve(h, apiGet())
	if res.rec.Code != 401 || res.rec.Body.String() != `{"error":"Missing Authorization Header"}` {
		t.Fatalf("refusal %d %s", res.rec.Code, res.rec.Body)
	}
	res = serve(h, apiGet("Authorization", "Bearer "+accessToken(t, map[string]any{"exp": fixtureT0.Unix() - 10})))
	if res.rec.Body.String() != `{"error":"Token has expired"}` {
		t.Fatalf("refusal %s", res.rec.Body)
	}
	if a, b := app.refusals.body(errExpired), app.refusals.body(errExpired); &a[0] != &b[0] {
		t.Error("the body was built again")
	}
	if n := testing.AllocsPerRun(100, func() { app.refusals.body(errExpired) }); n != 0 {
		t.Errorf("a known body allocated %v times", n)
	}
	// the default key needs no table
	fd := newFixture(t)
	hd, appd := fd.auth(nil), fd.app
	if appd.refusals != nil || serve(hd, apiGet()).rec.Body.String() != `{"msg":"Missing Authorization Header"}` {
		t.Error("default message_key")
	}

	// login failures too
	fe := newFixture(t, withApp(func(a *App) { a.MessageKey = "error" }))
	iss, err := fe.provisionIssue(caddyfileIssue(t, "jwt_issue {\n\tlogin /login\n\tuser alice "+passwordHash(t)+"\n}"))
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/login", strings.NewReader(`{"username":"alice","password":"wrong"}`))
	r.Header.Set("Content-Type", "application/json")
	if err := iss.ServeHTTP(rec, r, nil); err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if json.Unmarshal(rec.Body.Bytes(), &m) != nil || rec.Code != 401 || m["error"] != "Bad username or password" || len(m) != 1 {
		t.Errorf("login failure %d %s", rec.Code, rec.Body)
	}
}

// TestTokenNamesRefusalsBuiltOnce: with names other than the defaults, the
// "no token anywhere" refusal is still built once, not per request.
func TestTokenNamesRefusalsBuiltOnce(t *testing.T) {
	n := newTokenNames("X-Auth", strPtr("Token"), "t", "", "")
	if newTokenNames("", nil, "", "", "") != defaultNames {
		t.Fatal("the default names are not the package's")
	}
	srcs := []tokenSource{sourceHeader, sourceCookie, sourceQuery}
	r := apiGet()
	_, _, first := lookupToken(r, srcs, n, accessCookieName, false)
	if first == nil || !strings.HasPrefix(first.msg, "Missing JWT in headers, cookies or query_string (Missing X-Auth Header;") {
		t.Fatalf("refusal %v", first)
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, _, e := lookupToken(r, srcs, n, accessCookieName, false); e != first {
			t.Fatal("built again")
		}
	}); n != 0 {
		t.Errorf("allocated %v times", n)
	}
	if !bytes.Contains(first.body, []byte(`"msg"`)) {
		t.Errorf("body %s", first.body)
	}
}

// Logout reads the refresh token from the body field refresh_json_key
// names, as refresh does.
func TestLogoutRefreshJSONKey(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withApp(func(a *App) { a.RefreshJSONKey = "rt" }), withIssuer())
	login := e.login()
	body := `{"rt":"` + login["refresh_token"].(string) + `"}`
	w := e.do(jsonPost("/logout", body))
	if w.Code != 200 {
		t.Fatalf("logout with the refresh token under rt: %d %s", w.Code, w.Body)
	}
	if ae := e.authenticate(login["refresh_token"].(string), token.TypeRefresh); ae != errRevoked {
		t.Fatalf("the refresh token after logout: %v, want revoked", ae)
	}
	w = e.do(jsonPost("/logout", `{"rt":1}`))
	wantMsg(t, w, 400, `"rt" must be a string`)
}

// A login answer names the token type the client must send back: the
// configured header_type.
func TestLoginTokenTypeFollowsHeaderType(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withApp(func(a *App) { a.HeaderType = strPtr("Token") }), withIssuer())
	if got := e.login()["token_type"]; got != "Token" {
		t.Fatalf("token_type %v, want Token", got)
	}
}
