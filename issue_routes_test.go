package jwtextended

import (
	"net/http"
	"strings"
	"testing"
)

// jwt_issue owns its paths (issue 19, point 2): a request whose path is a
// route's up to case and one trailing slash is that route's; POST is the
// route, GET and HEAD pass on but never as a credential check, a CORS
// preflight passes on, anything else is 405. Before, only an exact path
// with POST was the route, and every variant went to the app untouched.

// routeVariant is one request for a route's path.
type routeVariant struct {
	name, method, path, body string
	hdr                      map[string]string
}

func routeVariants(path string) []routeVariant {
	body := creds("alice", fixturePassword)
	pre := map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
	return []routeVariant{
		{"exact", http.MethodPost, path, body, nil},
		{"upper case", http.MethodPost, strings.ToUpper(path), body, nil},
		{"trailing slash", http.MethodPost, path + "/", body, nil},
		{"GET", http.MethodGet, path, "", nil},
		{"HEAD", http.MethodHead, strings.ToUpper(path) + "/", "", nil},
		{"PUT", http.MethodPut, path, body, nil},
		{"preflight", http.MethodOptions, path, "", pre},
		{"OPTIONS with a body", http.MethodOptions, path, body, pre},
		{"OPTIONS without Origin", http.MethodOptions, path, "", map[string]string{"Access-Control-Request-Method": "POST"}},
		{"OPTIONS with credentials", http.MethodOptions, path, "", map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "POST", "Authorization": "Bearer x"}},
	}
}

func (v routeVariant) request() *http.Request {
	r := jsonPost(v.path, v.body)
	r.Method = v.method
	if v.body == "" {
		r.Body, r.ContentLength = http.NoBody, 0
		r.Header.Del("Content-Type")
	}
	for k, val := range v.hdr {
		r.Header.Set(k, val)
	}
	r.Header.Set("X-Jwt-Issue-Route", "login") // a client's own
	r.Header.Set("X-Jwt-Identity", "mallory")
	return r
}

// On a local login route: POST variants are the login, GET/HEAD and a
// real preflight pass on without X-Jwt-*, anything else is 405.
func TestIssueOwnsLocalRoutePaths(t *testing.T) {
	t.Parallel()
	for _, v := range routeVariants("/login") {
		f := newFixture(t, withIssuer())
		app := &delegateApp{answer: func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("X-Jwt-Issue-Identity", "alice") // an app's answer header
			w.WriteHeader(http.StatusOK)
			return nil
		}}
		w, _ := f.doNext(v.request(), app)
		switch v.name {
		case "exact", "upper case", "trailing slash":
			if w.Code != http.StatusOK || bodyJSON(t, w)["access_token"] == nil || app.calls.Load() != 0 {
				t.Errorf("%s: %d %s (app asked %d times); want the login", v.name, w.Code, w.Body, app.calls.Load())
			}
		case "GET", "HEAD", "preflight":
			if app.calls.Load() != 1 {
				t.Fatalf("%s: %d, not passed on", v.name, w.Code)
			}
			for name := range app.header {
				if hasJWTPrefix(name) {
					t.Errorf("%s: the next handler got %s", v.name, name)
				}
			}
			if w.Header().Get("X-Jwt-Issue-Identity") != "" {
				t.Errorf("%s: the app's X-Jwt-Issue-Identity reached the client", v.name)
			}
		default:
			if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != http.MethodPost || app.calls.Load() != 0 {
				t.Errorf("%s: %d Allow %q (app asked %d times); want 405 Allow POST", v.name, w.Code, w.Header().Get("Allow"), app.calls.Load())
			}
		}
	}
}

// On a delegated login route: only a POST the module vetted reaches the
// app's credential check, with X-Jwt-Issue-Route: login; the others
// reach it (GET, HEAD, a real preflight) without it, with the app's
// X-Jwt-Issue-* answer headers removed, or not at all (405).
func TestIssueOwnsDelegatedRoutePaths(t *testing.T) {
	t.Parallel()
	for _, v := range routeVariants("/login") {
		f := newFixture(t, withIssuer(delegated(false, nil)))
		app := &delegateApp{answer: vouch("alice", "")}
		w, _ := f.doNext(v.request(), app)
		route := app.header.Values("X-Jwt-Issue-Route")
		switch v.name {
		case "exact", "upper case", "trailing slash":
			if w.Code != http.StatusOK || bodyJSON(t, w)["access_token"] == nil {
				t.Errorf("%s: %d %s; want the delegated login", v.name, w.Code, w.Body)
			}
			if len(route) != 1 || route[0] != "login" {
				t.Errorf("%s: the app got X-Jwt-Issue-Route %q", v.name, route)
			}
		case "GET", "HEAD", "preflight":
			if app.calls.Load() != 1 || len(route) != 0 || app.header.Get("X-Jwt-Identity") != "" {
				t.Errorf("%s: app asked %d times with X-Jwt-Issue-Route %q, X-Jwt-Identity %q", v.name, app.calls.Load(), route, app.header.Get("X-Jwt-Identity"))
			}
			for name := range w.Header() {
				if hasIssuePrefix(name) {
					t.Errorf("%s: %s reached the client", v.name, name)
				}
			}
			if strings.Contains(w.Body.String(), "access_token") {
				t.Errorf("%s: a token was delivered", v.name)
			}
		default:
			if w.Code != http.StatusMethodNotAllowed || app.calls.Load() != 0 {
				t.Errorf("%s: %d, app asked %d times; want 405 and no call", v.name, w.Code, app.calls.Load())
			}
		}
	}
}

// Once a user is throttled, the right password is refused through every
// variant of the login path, local or delegated, and a delegated app's
// password check is never asked.
func TestIssueThrottleHoldsThroughVariants(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"local", "delegated"} {
		mod := issuerJSON(`{"throttle":{"max_per_user":1,"max_per_ip":100}}`)
		if mode == "delegated" {
			mod = delegated(false, mod)
		}
		f := newFixture(t, withIssuer(mod))
		app := &delegateApp{answer: answerWith(http.StatusUnauthorized, `{"msg":"Bad username or password"}`)}
		w, _ := f.doNext(jsonPost("/login", creds("alice", "wrong")), app)
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("%s: the failed login got %d", mode, w.Code)
		}
		asked := app.calls.Load()
		for _, v := range routeVariants("/login") {
			w, _ := f.doNext(v.request(), app)
			if strings.Contains(w.Body.String(), "access_token") {
				t.Errorf("%s, %s: the right password logged in while throttled", mode, v.name)
			}
			if v.method == http.MethodPost && w.Code != http.StatusTooManyRequests {
				t.Errorf("%s, %s: %d, want 429", mode, v.name, w.Code)
			}
		}
		if mode == "delegated" {
			// GET, HEAD and the preflight pass on, but never as a credential check
			if got := app.calls.Load() - asked; got != 3 || len(app.header.Values("X-Jwt-Issue-Route")) != 0 {
				t.Errorf("the app was asked %d more times (want 3, none a credential check)", got)
			}
		}
	}
}
