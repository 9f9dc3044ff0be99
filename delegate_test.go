package jwtextended

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// delegateApp is the app behind Caddy in these tests: it records what it
// received and answers as answer says.
type delegateApp struct {
	calls  atomic.Int32
	header http.Header // of the last request
	body   string      // of the last request
	answer func(w http.ResponseWriter, r *http.Request) error
}

func (a *delegateApp) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	a.calls.Add(1)
	a.header = r.Header.Clone()
	b, _ := io.ReadAll(r.Body)
	a.body = string(b)
	return a.answer(w, r)
}

// vouch answers 200 with the identity (and claims, when not empty), and a
// body and header of the app's own, which must not reach the client.
func vouch(identity, claims string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("X-Jwt-Issue-Identity", identity)
		if claims != "" {
			w.Header().Set("X-Jwt-Issue-Claims", claims)
		}
		w.Header().Set("X-App-Secret", "internal")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"app":"private body"}`))
		return nil
	}
}

// answerWith answers status with a body and an X-Jwt-Issue-Debug header
// (which must not reach the client either).
func answerWith(status int, body string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("X-Jwt-Issue-Debug", "x")
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
		return nil
	}
}

// delegated makes an issuer whose login, reauth (and, with
// refreshUpstream, refresh) are delegated to the next handler; no local
// users. mod, if not nil, changes it further.
func delegated(refreshUpstream bool, mod func(*Issue)) func(*Issue) {
	return func(h *Issue) {
		h.Users = nil
		h.Upstream = []string{"login", "reauth"}
		if refreshUpstream {
			h.Upstream = append(h.Upstream, "refresh")
		}
		if mod != nil {
			mod(h)
		}
	}
}

func delegateLogin(user, password string) *http.Request {
	r := jsonPost("/login", `{"username":"`+user+`","password":"`+password+`"}`)
	r.Header.Set("X-Jwt-Identity", "mallory") // a client's own identity header
	r.Header.Set("x_jwt_issue_identity", "mallory")
	return r
}

// Each row of issue 11's contract for a delegated login.
func TestDelegatedLogin(t *testing.T) {
	t.Parallel()
	app := &delegateApp{answer: vouch("alice", `{"role":"admin","tenant":"acme"}`)}
	e := newFixture(t, withIssuer(delegated(false, nil)))

	// 2xx with the identity: tokens as for a local login, with the app's
	// claims; nothing of the app's answer reaches the client
	w, err := e.doNext(delegateLogin("alice", "pw"), app)
	if err != nil || w.Code != http.StatusOK {
		t.Fatalf("vouched login: %v %d %s", err, w.Code, w.Body)
	}
	body := bodyJSON(t, w)
	_, access := decodeToken(t, body["access_token"].(string))
	_, refresh := decodeToken(t, body["refresh_token"].(string))
	if access["sub"] != "alice" || access["fresh"] != true || access["role"] != "admin" || access["tenant"] != "acme" || refresh["role"] != "admin" {
		t.Fatalf("minted from the app's answer: access %v refresh %v", access, refresh)
	}
	if strings.Contains(w.Body.String(), "private body") || w.Header().Get("X-App-Secret") != "" || w.Header().Get("X-Jwt-Issue-Identity") != "" {
		t.Fatalf("the app's answer leaked: %v %s", w.Header(), w.Body)
	}
	// the app got the body intact and no client-sent X-Jwt-* header
	if app.body != `{"username":"alice","password":"pw"}` || app.header.Get("X-Jwt-Identity") != "" || app.header.Get("x_jwt_issue_identity") != "" {
		t.Fatalf("the app received %q and %v", app.body, app.header)
	}

	// reauth: a fresh access token only
	app.answer = vouch("alice", "")
	r := jsonPost("/reauth", `{"username":"alice","password":"pw"}`)
	if w, err = e.doNext(r, app); err != nil || w.Code != http.StatusOK {
		t.Fatalf("vouched reauth: %v %d %s", err, w.Code, w.Body)
	}
	if body := bodyJSON(t, w); body["refresh_token"] != nil || body["access_token"] == nil {
		t.Fatalf("reauth body %v", body)
	}

	// answers passed through unchanged, without X-Jwt-Issue-*, no token
	for _, tc := range []struct {
		name   string
		answer func(http.ResponseWriter, *http.Request) error
		status int
		body   string
	}{
		{"401", answerWith(401, "wrong password"), 401, "wrong password"},
		{"403", answerWith(403, "account disabled"), 403, "account disabled"},
		{"2xx without identity", answerWith(200, "welcome"), 200, "welcome"},
		{"3xx", answerWith(302, ""), 302, ""},
		{"4xx", answerWith(422, "bad"), 422, "bad"},
		{"5xx", answerWith(503, "down"), 503, "down"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app.answer = tc.answer
			w, err := e.doNext(delegateLogin("bob", "pw"), app)
			if err != nil || w.Code != tc.status || w.Body.String() != tc.body || w.Header().Get("Content-Type") != "text/plain" {
				t.Fatalf("got %v %d %q %v, want %d %q passed through", err, w.Code, w.Body, w.Header(), tc.status, tc.body)
			}
			if w.Header().Get("X-Jwt-Issue-Debug") != "" || strings.Contains(w.Body.String(), "access_token") {
				t.Fatalf("passed through with X-Jwt-Issue-* or a token: %v %s", w.Header(), w.Body)
			}
		})
	}

	// the app cannot be reached: reverse_proxy's error goes back to Caddy
	unreachable := caddyhttp.Error(http.StatusBadGateway, errors.New("dial tcp: connection refused"))
	app.answer = func(http.ResponseWriter, *http.Request) error { return unreachable }
	if w, err := e.doNext(delegateLogin("bob", "pw"), app); err != unreachable || w.Body.Len() != 0 {
		t.Fatalf("unreachable app: %v %d %s", err, w.Code, w.Body)
	}
}

// The app's identity and claims must be usable; otherwise 502 and nothing
// minted.
func TestDelegatedLoginBadIdentity(t *testing.T) {
	t.Parallel()
	app := &delegateApp{}
	e := newFixture(t, withIssuer(delegated(false, nil)))
	for _, tc := range []struct{ name, identity, claims string }{
		{"claims not an object", "alice", `["admin"]`},
		{"claims not JSON", "alice", `role=admin`},
		{"duplicate names", "alice", `{"role":"a","Role":"b"}`},
		{"reserved sub", "alice", `{"sub":"root"}`},
		{"reserved type", "alice", `{"type":"refresh"}`},
		{"reserved fresh", "alice", `{"fresh":true}`},
		{"reserved exp", "alice", `{"exp":9999999999}`},
		{"too large", "alice", `{"pad":"` + strings.Repeat("x", 5000) + `"}`},
		{"control character", "alice", `{"role":"a\nb"}`},
		{"identity with a control character", "ali\tce", ""},
		{"identity too long", strings.Repeat("a", 300), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app.answer = vouch(tc.identity, tc.claims)
			w, err := e.doNext(delegateLogin("alice", "pw"), app)
			if err != nil {
				t.Fatal(err)
			}
			wantMsg(t, w, 502, "Bad identity from upstream")
		})
	}
	// two identity headers
	app.answer = func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Add("X-Jwt-Issue-Identity", "alice")
		w.Header().Add("X-Jwt-Issue-Identity", "admin")
		w.WriteHeader(200)
		return nil
	}
	w, _ := e.doNext(delegateLogin("alice", "pw"), app)
	wantMsg(t, w, 502, "Bad identity from upstream")
}

// The app's 401s count as failed logins for the throttle, and a throttled
// user's login never reaches the app; the body checks come first.
func TestDelegatedLoginThrottle(t *testing.T) {
	t.Parallel()
	app := &delegateApp{answer: answerWith(401, "no")}
	e := newFixture(t, withIssuer(delegated(false, issuerJSON(`{"throttle": {"max_per_user": 3, "max_per_ip": 100}}`))))
	for i := 0; i < 3; i++ {
		if w, _ := e.doNext(delegateLogin("alice", "wrong"), app); w.Code != 401 {
			t.Fatalf("failure %d: %d", i, w.Code)
		}
	}
	w, _ := e.doNext(delegateLogin("alice", "right"), app)
	wantMsg(t, w, 429, "Too many failed login attempts")
	if n := app.calls.Load(); n != 3 {
		t.Fatalf("the app was called %d times, want 3: a throttled login must not reach it", n)
	}
	// answers that judge no password do not use the budget up
	app.answer = answerWith(503, "down")
	for i := 0; i < 5; i++ {
		if w, _ := e.doNext(delegateLogin("carol", "pw"), app); w.Code != 503 {
			t.Fatalf("503 %d: %d", i, w.Code)
		}
	}
	app.answer = vouch("carol", "")
	if w, _ := e.doNext(delegateLogin("carol", "pw"), app); w.Code != 200 {
		t.Fatalf("carol after the app's 503s: %d %s", w.Code, w.Body)
	}
	// a body without the fields is refused before the app is asked
	calls := app.calls.Load()
	w, _ = e.doNext(jsonPost("/login", `{"username":"alice"}`), app)
	wantMsg(t, w, 400, `Missing "password" in request body`)
	if app.calls.Load() != calls {
		t.Fatal("a bad body reached the app")
	}
	wantMetrics(t, e.reg, []metricSeries{
		{"caddy_jwt_login_failures_total", "", "", 3},
		{"caddy_jwt_login_throttled_total", "", "", 1},
		{"caddy_jwt_tokens_issued_total", "kind", "access", 1},
		{"caddy_jwt_tokens_issued_total", "kind", "refresh", 1},
	})
}

// Refresh in an issuer whose login is delegated: without upstream, the
// refresh token's claims carry on; with upstream, the app confirms the user
// (it sees the verified identity and claims) or refuses.
func TestDelegatedRefresh(t *testing.T) {
	t.Parallel()
	for _, refreshUpstream := range []bool{false, true} {
		name := "claims carry on"
		if refreshUpstream {
			name = "the app confirms"
		}
		t.Run(name, func(t *testing.T) {
			app := &delegateApp{answer: vouch("alice", `{"role":"admin"}`)}
			e := newFixture(t, withIssuer(delegated(refreshUpstream, nil)))
			w, _ := e.doNext(delegateLogin("alice", "pw"), app)
			refresh := bodyJSON(t, w)["refresh_token"].(string)
			refreshReq := func() *http.Request {
				r := withBearer(httptest.NewRequest(http.MethodPost, "/refresh", nil), refresh)
				r.Header.Set("X-Jwt-Identity", "mallory")
				return r
			}
			calls := app.calls.Load()
			app.answer = vouch("alice", `{"role":"viewer"}`)
			w, err := e.doNext(refreshReq(), app)
			if err != nil || w.Code != 200 {
				t.Fatalf("refresh: %v %d %s", err, w.Code, w.Body)
			}
			_, access := decodeToken(t, bodyJSON(t, w)["access_token"].(string))
			wantRole := "admin"
			if refreshUpstream {
				wantRole = "viewer"
				if app.calls.Load() != calls+1 || app.header.Get("X-Jwt-Identity") != "alice" || app.header.Get("X-Jwt-Type") != "refresh" || app.header.Get("X-Jwt-Claims") == "" {
					t.Fatalf("the app was not asked with the verified identity: %v", app.header)
				}
			} else if app.calls.Load() != calls {
				t.Fatal("refresh without upstream asked the app")
			}
			if access["sub"] != "alice" || access["fresh"] != false || access["role"] != wantRole {
				t.Fatalf("refreshed access token %v, want role %s", access, wantRole)
			}
			if !refreshUpstream {
				return
			}
			// the app vouches for someone else: 502
			app.answer = vouch("bob", "")
			w, _ = e.doNext(refreshReq(), app)
			wantMsg(t, w, 502, "Bad identity from upstream")
			// the user may no longer refresh: the app's answer, nothing minted
			app.answer = answerWith(403, "disabled")
			w, _ = e.doNext(refreshReq(), app)
			if w.Code != 403 || w.Body.String() != "disabled" {
				t.Fatalf("disabled user: %d %s", w.Code, w.Body)
			}
			// an invalid refresh token never reaches the app
			calls = app.calls.Load()
			r := withBearer(httptest.NewRequest(http.MethodPost, "/refresh", nil), refresh+"x")
			w, _ = e.doNext(r, app)
			if w.Code != 401 || app.calls.Load() != calls {
				t.Fatalf("an invalid refresh token: %d, app called %d times", w.Code, app.calls.Load()-calls)
			}
		})
	}
}
