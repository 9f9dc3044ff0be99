package jwtextended

// Issue 20, contract points 1 and 2: auth_time, amr and acr in the tokens
// minted from a credential check, and jwt_auth's step-up settings with
// RFC 9470's challenge. Tokens presented to jwt_auth are minted by
// testkit; the ones the issuer mints are read with decodeToken (crypto/hmac,
// not the module's verifier).

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStepUpMaxAge: max_age refuses a token whose auth_time is older, or
// absent (a flask-jwt-extended token), with the step-up challenge naming
// max_age; fresh does not matter unless fresh_required is also set.
func TestStepUpMaxAge(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.auth(&Auth{MaxAge: "5m"})
	challenge := `Bearer error="insufficient_user_authentication", error_description="Fresh token required", max_age="300"`
	now := fixtureT0.Unix()
	for _, tc := range []struct {
		name   string
		claims map[string]any
		pass   bool
	}{
		{"auth_time now, not fresh", map[string]any{"auth_time": now, "fresh": false}, true},
		{"auth_time exactly 5m ago", map[string]any{"auth_time": now - 300}, true},
		{"auth_time 5m1s ago", map[string]any{"auth_time": now - 301, "fresh": true}, false},
		{"no auth_time, fresh", map[string]any{"fresh": true}, false},
		{"auth_time a string", map[string]any{"auth_time": strconv.FormatInt(now, 10)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := serve(h, bearerGet(f.access(tc.claims)))
			if !tc.pass {
				wantRefused(t, res, 401, "Fresh token required", challenge)
				if got, _ := res.repl.GetString("http.auth.jwt.error"); got != "not_fresh" {
					t.Errorf("{http.auth.jwt.error} = %q, want not_fresh", got)
				}
				return
			}
			if !res.next.called {
				t.Fatalf("refused: %d %s", res.rec.Code, res.rec.Body)
			}
		})
	}

	// with fresh_required too, both must hold
	both := f.auth(&Auth{FreshRequired: true, MaxAge: "5m"})
	wantRefused(t, serve(both, bearerGet(f.access(map[string]any{"auth_time": now, "fresh": false}))), 401, "Fresh token required", challenge)
	if res := serve(both, bearerGet(f.access(map[string]any{"auth_time": now, "fresh": true}))); !res.next.called {
		t.Fatalf("fresh and recent refused: %d %s", res.rec.Code, res.rec.Body)
	}

	// the app's clock decides the age
	f.clock.Advance(6 * time.Minute)
	wantRefused(t, serve(h, bearerGet(f.access(map[string]any{"auth_time": now}))), 401, "Fresh token required", challenge)
}

// TestStepUpACR: acr refuses a token whose acr is not one of the values
// (or absent, or not a string), with acr_values in the challenge.
func TestStepUpACR(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.auth(&Auth{ACR: []string{"urn:example:mfa", "phr"}, MaxAge: "10m"})
	challenge := `Bearer error="insufficient_user_authentication", error_description="Fresh token required", max_age="600", acr_values="urn:example:mfa phr"`
	now := fixtureT0.Unix()
	for _, tc := range []struct {
		acr  any
		pass bool
	}{
		{"phr", true},
		{"urn:example:mfa", true},
		{"urn:example:pwd", false},
		{nil, false},
		{[]any{"phr"}, false},
	} {
		claims := map[string]any{"auth_time": now}
		if tc.acr != nil {
			claims["acr"] = tc.acr
		}
		res := serve(h, bearerGet(f.access(claims)))
		if tc.pass != res.next.called {
			t.Errorf("acr %v: called %v, want %v (%d %s)", tc.acr, res.next.called, tc.pass, res.rec.Code, res.rec.Body)
		}
		if !tc.pass {
			wantRefused(t, res, 401, "Fresh token required", challenge)
		}
	}
	// acr alone: no max_age in the challenge
	only := f.auth(&Auth{ACR: []string{"phr"}})
	wantRefused(t, serve(only, bearerGet(f.access(nil))), 401, "Fresh token required",
		`Bearer error="insufficient_user_authentication", error_description="Fresh token required", acr_values="phr"`)
}

// TestStepUpOtherRefusalsKeepTheirChallenge: only a token that verifies
// but is not fresh enough gets the step-up challenge; an expired or
// missing token on the same route keeps its own.
func TestStepUpOtherRefusalsKeepTheirChallenge(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.auth(&Auth{FreshRequired: true, MaxAge: "1m"})
	wantRefused(t, serve(h, httptest.NewRequest("GET", "/", nil)), 401, "Missing Authorization Header", challengeNoToken)
	expired := f.access(map[string]any{"exp": fixtureT0.Add(-time.Hour).Unix(), "iat": fixtureT0.Add(-2 * time.Hour).Unix(), "nbf": fixtureT0.Add(-2 * time.Hour).Unix()})
	wantRefused(t, serve(h, bearerGet(expired)), 401, "Token has expired", challengeBadToken)

	// handle_errors: the challenge is set for the error route too
	he := f.auth(&Auth{FreshRequired: true, MaxAge: "1m", HandleErrors: true})
	res := serve(he, bearerGet(f.access(map[string]any{"fresh": true})))
	if got := res.rec.Header().Get("WWW-Authenticate"); got != `Bearer error="insufficient_user_authentication", error_description="Fresh token required", max_age="60"` {
		t.Errorf("handle_errors challenge = %q", got)
	}
}

// TestAuthTimeHeaderAndPlaceholder: the upstream receives X-Jwt-Auth-Time
// and {http.auth.jwt.auth_time} is set when the token has auth_time; a
// token without one (flask-jwt-extended's) gets neither, and a client's
// own X-Jwt-Auth-Time never passes.
func TestAuthTimeHeaderAndPlaceholder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.auth(nil)
	at := fixtureT0.Add(-time.Minute).Unix()
	r := bearerGet(f.access(map[string]any{"auth_time": at}))
	r.Header.Set("X-Jwt-Auth-Time", "1")
	res := serve(h, r)
	if got := res.next.header.Values("X-Jwt-Auth-Time"); len(got) != 1 || got[0] != strconv.FormatInt(at, 10) {
		t.Errorf("X-Jwt-Auth-Time = %q, want %d", got, at)
	}
	if got, ok := res.repl.GetString("http.auth.jwt.auth_time"); !ok || got != strconv.FormatInt(at, 10) {
		t.Errorf("{http.auth.jwt.auth_time} = %q %v", got, ok)
	}

	r = bearerGet(f.access(nil))
	r.Header.Set("X-Jwt-Auth-Time", "1")
	res = serve(h, r)
	if got := res.next.header.Values("X-Jwt-Auth-Time"); len(got) != 0 {
		t.Errorf("X-Jwt-Auth-Time = %q for a token without auth_time", got)
	}
	if _, ok := res.repl.Get("http.auth.jwt.auth_time"); ok {
		t.Error("{http.auth.jwt.auth_time} is known for a token without auth_time")
	}
}

// claimText is a decoded claim as text (numbers are json.Number).
func claimText(v any) string { return fmt.Sprint(v) }

// TestIssuedAuthentication: a local login and reauth mint auth_time (the
// time of the password check) and amr ["pwd"] into every token; a refresh
// copies both unchanged, so the refreshed access token keeps the login's
// auth_time.
func TestIssuedAuthentication(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withIssuer())
	body := f.login()
	_, access := decodeToken(t, body["access_token"].(string))
	_, refresh := decodeToken(t, body["refresh_token"].(string))
	loginAt := strconv.FormatInt(fixtureT0.Unix(), 10)
	for name, c := range map[string]map[string]any{"access": access, "refresh": refresh} {
		if claimText(c["auth_time"]) != loginAt || claimText(c["amr"]) != "[pwd]" {
			t.Errorf("login's %s token: auth_time %v amr %v, want %s [pwd]", name, c["auth_time"], c["amr"], loginAt)
		}
		if _, ok := c["acr"]; ok {
			t.Errorf("login's %s token carries acr %v", name, c["acr"])
		}
	}

	f.clock.Advance(10 * time.Minute)
	w := f.refresh(body["refresh_token"].(string))
	if w.Code != http.StatusOK {
		t.Fatalf("refresh: %d %s", w.Code, w.Body)
	}
	_, refreshed := decodeToken(t, bodyJSON(t, w)["access_token"].(string))
	if claimText(refreshed["auth_time"]) != loginAt || claimText(refreshed["amr"]) != "[pwd]" || refreshed["fresh"] != false {
		t.Errorf("refreshed access token: auth_time %v amr %v fresh %v; want the login's auth_time, [pwd], false", refreshed["auth_time"], refreshed["amr"], refreshed["fresh"])
	}

	w = f.do(jsonPost("/reauth", creds("alice", fixturePassword)))
	if w.Code != http.StatusOK {
		t.Fatalf("reauth: %d %s", w.Code, w.Body)
	}
	_, reauthed := decodeToken(t, bodyJSON(t, w)["access_token"].(string))
	if want := strconv.FormatInt(fixtureT0.Add(10*time.Minute).Unix(), 10); claimText(reauthed["auth_time"]) != want || reauthed["fresh"] != true {
		t.Errorf("reauth's access token: auth_time %v fresh %v, want %s true", reauthed["auth_time"], reauthed["fresh"], want)
	}

	// the refreshed token fails a max_age the reauthed one meets
	h := f.auth(&Auth{MaxAge: "5m"})
	if res := serve(h, bearerGet(bodyJSON(t, f.refresh(body["refresh_token"].(string)))["access_token"].(string))); res.next.called {
		t.Error("a refreshed token of a login 10 minutes ago passed max_age 5m")
	}
	if res := serve(h, bearerGet(bodyJSON(t, w)["access_token"].(string))); !res.next.called {
		t.Errorf("the reauthed token was refused: %d %s", res.rec.Code, res.rec.Body)
	}
}

// vouchWith answers a delegated route with the identity and extra
// response headers.
func vouchWith(identity string, header map[string][]string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("X-Jwt-Issue-Identity", identity)
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
}

// TestDelegatedAuthentication: a delegated login states amr and acr with
// X-Jwt-Issue-Amr and X-Jwt-Issue-Acr (default amr ["pwd"]); malformed
// ones, and auth_time, amr or acr in X-Jwt-Issue-Claims, answer 502 and
// mint nothing; a delegated refresh keeps the login's values whatever the
// app answers.
func TestDelegatedAuthentication(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withIssuer(delegated(true, nil)))
	app := &delegateApp{answer: vouchWith("alice", map[string][]string{
		"X-Jwt-Issue-Amr": {"pwd otp", "mfa"}, "X-Jwt-Issue-Acr": {"urn:example:mfa"}})}
	w, err := e.doNext(delegateLogin("alice", "pw"), app)
	if err != nil || w.Code != http.StatusOK {
		t.Fatalf("login: %v %d %s", err, w.Code, w.Body)
	}
	if w.Header().Get("X-Jwt-Issue-Amr") != "" || w.Header().Get("X-Jwt-Issue-Acr") != "" {
		t.Errorf("the app's X-Jwt-Issue-Amr/Acr reached the client: %v", w.Header())
	}
	body := bodyJSON(t, w)
	_, access := decodeToken(t, body["access_token"].(string))
	if claimText(access["amr"]) != "[pwd otp mfa]" || access["acr"] != "urn:example:mfa" || claimText(access["auth_time"]) != strconv.FormatInt(fixtureT0.Unix(), 10) {
		t.Fatalf("delegated login's token: amr %v acr %v auth_time %v", access["amr"], access["acr"], access["auth_time"])
	}

	// a confirmed refresh: the app's new Amr/Acr are not read
	e.clock.Advance(time.Minute)
	app.answer = vouchWith("alice", map[string][]string{"X-Jwt-Issue-Amr": {"hwk"}, "X-Jwt-Issue-Acr": {"other"}})
	w, err = e.doNext(withBearer(httptest.NewRequest(http.MethodPost, "/refresh", nil), body["refresh_token"].(string)), app)
	if err != nil || w.Code != http.StatusOK {
		t.Fatalf("refresh: %v %d %s", err, w.Code, w.Body)
	}
	if got := app.header.Get("X-Jwt-Auth-Time"); got != strconv.FormatInt(fixtureT0.Unix(), 10) {
		t.Errorf("the app's refresh confirmation got X-Jwt-Auth-Time %q", got)
	}
	_, refreshed := decodeToken(t, bodyJSON(t, w)["access_token"].(string))
	if claimText(refreshed["amr"]) != "[pwd otp mfa]" || refreshed["acr"] != "urn:example:mfa" || claimText(refreshed["auth_time"]) != strconv.FormatInt(fixtureT0.Unix(), 10) {
		t.Errorf("refreshed token: amr %v acr %v auth_time %v", refreshed["amr"], refreshed["acr"], refreshed["auth_time"])
	}

	for _, tc := range []struct {
		name   string
		header map[string][]string
	}{
		{"empty amr", map[string][]string{"X-Jwt-Issue-Amr": {" "}}},
		{"amr with a quote", map[string][]string{"X-Jwt-Issue-Amr": {`pwd "x"`}}},
		{"amr of 17 methods", map[string][]string{"X-Jwt-Issue-Amr": {strings.Repeat("m ", 17)}}},
		{"amr method of 65 bytes", map[string][]string{"X-Jwt-Issue-Amr": {strings.Repeat("m", 65)}}},
		{"two acr", map[string][]string{"X-Jwt-Issue-Acr": {"a", "b"}}},
		{"acr with a space", map[string][]string{"X-Jwt-Issue-Acr": {"a b"}}},
		{"auth_time in claims", map[string][]string{"X-Jwt-Issue-Claims": {`{"auth_time": 1}`}}},
		{"AMR in claims", map[string][]string{"X-Jwt-Issue-Claims": {`{"AMR": ["hwk"]}`}}},
		{"acr in claims", map[string][]string{"X-Jwt-Issue-Claims": {`{"acr": "x"}`}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := &delegateApp{answer: vouchWith("alice", tc.header)}
			w, err := e.doNext(delegateLogin("alice", "pw"), app)
			if err != nil || w.Code != http.StatusBadGateway || w.Header().Get("Set-Cookie") != "" || strings.Contains(w.Body.String(), "access_token") {
				t.Fatalf("%v %d %s, want 502 and no token", err, w.Code, w.Body)
			}
		})
	}
}

// TestStepUpSettingsRefused: settings that cannot work are refused at
// load, naming the setting.
func TestStepUpSettingsRefused(t *testing.T) {
	f := newFixture(t)
	t.Setenv("JWT_TEST_MAX_AGE", "0s")
	for _, tc := range []struct {
		cfg  *Auth
		want string
	}{
		{&Auth{FreshRequired: true, TokenType: "refresh"}, "fresh_required refuses every refresh token"},
		{&Auth{MaxAge: "{env.JWT_TEST_MAX_AGE}"}, "max_age must be a duration of a second or more"},
		{&Auth{MaxAge: "500ms"}, "max_age must be a duration of a second or more"},
		{&Auth{ACR: []string{`a"b`}}, `acr "a\"b" is not a valid value`},
	} {
		_, err := f.tryAuth(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
	// max_age and acr on token_type any or refresh load
	if _, err := f.tryAuth(&Auth{TokenType: "refresh", MaxAge: "1h"}); err != nil {
		t.Errorf("max_age on refresh tokens: %v", err)
	}
}
