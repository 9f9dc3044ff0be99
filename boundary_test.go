package jwtextended

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/fileserver"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/headers"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/rewrite"
)

// The trust boundary is the server (issue 19, point 1): in a server that
// uses jwt_auth or jwt_issue, a request meets one of the module's handlers
// before any handler that passes it on, whatever its route; a layout
// where it cannot is refused at start, naming the route and the fix.

// forgedGet is a GET with a client's forged identity headers.
func forgedGet(t *testing.T, url string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("X-Jwt-Identity", forged)
	r.Header.Set("X-Jwt-Fresh", "true")
	r.Header.Set("X-Jwt-Claims", forged)
	return r
}

func (c testCaddy) mustGet(t *testing.T, r *http.Request) int {
	t.Helper()
	res, err := c.Client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// The README's delegated example proxies every path to the app; before,
// /anything with a forged X-Jwt-Identity reached it ("hello admin").
func TestBoundaryForgedHeadersOutsideEveryHandler(t *testing.T) {
	up := newUpstream(t)
	for _, site := range []string{
		// the delegated example's layout: jwt_issue without matcher
		"jwt_issue {\n\t\tlogin /auth/login upstream\n\t}\n\tjwt_auth /api/*\n\treverse_proxy " + up.addr(),
		// jwt_auth with a matcher alone: the Caddyfile adds jwt_strip
		"jwt_auth /api/*\n\treverse_proxy " + up.addr(),
		// nested only, with the one line the refusal asks for
		"jwt_strip\n\thandle /api/* {\n\t\tjwt_auth\n\t\treverse_proxy " + up.addr() + "\n\t}\n\thandle {\n\t\treverse_proxy " + up.addr() + "\n\t}",
	} {
		srv := startCaddy(t, caddyGlobals("\tjwt {\n\t\tsecret "+fixtureSecret+"\n\t}\n")+"http://localhost {\n\t"+site+"\n}\n")
		for _, path := range []string{"/anything", "/", "/API", "/auth/other"} {
			if code := srv.mustGet(t, forgedGet(t, srv.Base+path)); code != http.StatusOK {
				t.Fatalf("%s: %d", path, code)
			}
			if h := up.last(); h.Get("X-Jwt-Identity") != "" || h.Get("X-Jwt-Fresh") != "" || h.Get("X-Jwt-Claims") != "" {
				t.Errorf("%q, %s: the upstream got %v", site, path, h)
			}
		}
	}
}

// A site whose jwt handlers are all inside handle blocks, or a route that
// reaches reverse_proxy before jwt_auth, is refused at start, naming the
// handler and the one-line fix.
func TestBoundaryUnguardedLayoutRefused(t *testing.T) {
	up := newUpstream(t)
	srv := startCaddy(t, "http://localhost {\n\trespond ok\n}\n")
	for name, site := range map[string]string{
		"nested only": "handle /api/* {\n\t\tjwt_auth\n\t\treverse_proxy " + up.addr() + "\n\t}\n\thandle {\n\t\treverse_proxy " + up.addr() + "\n\t}",
		"proxy first": "route {\n\t\treverse_proxy /public/* " + up.addr() + "\n\t\tjwt_auth\n\t\treverse_proxy " + up.addr() + "\n\t}",
		"templates":   "handle /api/* {\n\t\tjwt_auth\n\t}\n\ttemplates\n\trespond ok",
	} {
		err := srv.Load(t, caddyGlobals("\tjwt {\n\t\tsecret "+fixtureSecret+"\n\t}\n")+"http://localhost {\n\t"+site+"\n}\n")
		if err == nil || !strings.Contains(err.Error(), "jwt_strip") || !strings.Contains(err.Error(), "X-Jwt-*") {
			t.Errorf("%s: %v, want a refusal naming jwt_strip", name, err)
		}
	}
	// handlers that pass nothing on may come first: header, vars, rewrite,
	// respond, file_server
	ok := "header X-Frame-Options DENY\n\tvars site 1\n\trewrite /old /new\n\thandle /api/* {\n\t\tjwt_auth\n\t\trespond ok\n\t}\n\thandle /files/* {\n\t\tfile_server\n\t}"
	if err := srv.Load(t, "http://localhost {\n\t"+ok+"\n}\n"); err != nil {
		t.Fatalf("a layout with only inert handlers before jwt_auth: %v", err)
	}
}

// A jwt_issue after a jwt_auth (in a route block) keeps the identity the
// jwt_auth set: only the client's headers are stripped, once.
func TestBoundaryIssueKeepsAuthIdentity(t *testing.T) {
	up := newUpstream(t)
	srv := startCaddy(t, caddyGlobals("\tjwt {\n\t\tsecret "+fixtureSecret+"\n\t}\n")+
		"http://localhost {\n\troute {\n\t\tjwt_auth /api/*\n\t\tjwt_issue {\n\t\t\tlogout /auth/logout\n\t\t}\n\t\treverse_proxy "+up.addr()+"\n\t}\n}\n")
	r := forgedGet(t, srv.Base+"/api/x")
	now := time.Now().Unix()
	r.Header.Set("Authorization", "Bearer "+testkit.SignToken(t, "HS256", []byte(fixtureSecret), nil, map[string]any{
		"sub": "alice", "type": "access", "fresh": false, "jti": "j-keep", "iat": now, "nbf": now, "exp": now + 600}))
	if code := srv.mustGet(t, r); code != http.StatusOK {
		t.Fatalf("%d", code)
	}
	if got := up.last().Get("X-Jwt-Identity"); got != "alice" {
		t.Fatalf("the upstream got X-Jwt-Identity %q, want alice", got)
	}
}

// Warned at start, one line each naming the route (issue 19, point 6).
func TestStartWarnings(t *testing.T) {
	up := newUpstream(t)
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	globals := "\tlog {\n\t\toutput file " + logFile + "\n\t\tformat json\n\t}\n"
	for _, tc := range []struct {
		name, app, site, want string
		none                  bool // the layout works: no warning
	}{
		{"delegated route with nothing after it", "",
			"jwt_issue {\n\t\tlogin /auth/login upstream\n\t}\n\thandle /api/* {\n\t\treverse_proxy " + up.addr() + "\n\t}",
			"no handler after it in the same routes answers that path", false},
		{"jwt_auth after respond", "",
			"route /api/* {\n\t\trespond \"secret\"\n\t\tjwt_auth\n\t}",
			"jwt_auth comes after a handler that answers the request", false},
		{"jwt_issue behind an optional jwt_auth", "",
			"route {\n\t\tjwt_auth optional\n\t\tjwt_issue {\n\t\t\tlogout /auth/logout\n\t\t}\n\t\trespond ok\n\t}",
			"jwt_issue comes after a jwt_auth without matcher", false},
		{"a handler behind a matcher answers only some requests", "",
			"route {\n\t\tfile_server /static/*\n\t\tjwt_auth /api/*\n\t\trespond ok\n\t}",
			"jwt_auth comes after a handler that answers the request", true},
		{"a delegated route answered by a later handler", "",
			"jwt_issue {\n\t\tlogin /auth/login upstream\n\t}\n\treverse_proxy " + up.addr(),
			"no handler after it in the same routes answers that path", true},
		{"cookie secure on over plain HTTP", "\t\tcookie {\n\t\t\tsecure on\n\t\t}\n",
			"jwt_issue {\n\t\tlogin /auth/login upstream\n\t\tdeliver cookie\n\t}\n\treverse_proxy " + up.addr(),
			"cookie secure on, but this server has no TLS listener", false},
	} {
		if err := os.WriteFile(logFile, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		startCaddy(t, caddyGlobals(globals+"\tjwt {\n\t\tsecret "+fixtureSecret+"\n"+tc.app+"\t}\n")+"http://localhost {\n\t"+tc.site+"\n}\n")
		b, err := os.ReadFile(logFile)
		if err != nil {
			t.Fatal(err)
		}
		want := 1
		if tc.none {
			want = 0
		}
		if n := strings.Count(string(b), tc.want); n != want {
			t.Errorf("%s: %d warnings %q, want %d; log:\n%s", tc.name, n, tc.want, want, b)
		}
	}
	// a jwt_auth that refuses requests without a token, before a
	// jwt_issue with a login: refused
	srv := startCaddy(t, "http://localhost {\n\trespond ok\n}\n")
	err := srv.Load(t, caddyGlobals("\tjwt {\n\t\tsecret "+fixtureSecret+"\n\t}\n")+
		"http://localhost {\n\troute {\n\t\tjwt_auth\n\t\tjwt_issue {\n\t\t\tlogin /auth/login upstream\n\t\t}\n\t\treverse_proxy "+up.addr()+"\n\t}\n}\n")
	if err == nil || !strings.Contains(err.Error(), "can never serve a login or a refresh") {
		t.Fatalf("%v", err)
	}
}

// The boundary walk as SECURITY.md states it: named routes (invoke) and
// subroutes are followed; handle_errors routes are walked when an error
// can come before a guard (an error handler, a failing file_server, or
// strict_sni_host), and left alone when every error comes after one.
func TestBoundaryWalk(t *testing.T) {
	t.Parallel()
	proxy := &reverseproxy.Handler{}
	route := func(hs ...caddyhttp.MiddlewareHandler) caddyhttp.Route { return caddyhttp.Route{Handlers: hs} }
	errorsTo := func(hs ...caddyhttp.MiddlewareHandler) *caddyhttp.HTTPErrorConfig {
		return &caddyhttp.HTTPErrorConfig{Routes: caddyhttp.RouteList{route(hs...)}}
	}
	on := true
	for _, c := range []struct {
		name    string
		srv     *caddyhttp.Server
		refused bool
	}{
		{"guard first", &caddyhttp.Server{Routes: caddyhttp.RouteList{route(Strip{}, proxy)}}, false},
		{"proxy first", &caddyhttp.Server{Routes: caddyhttp.RouteList{route(proxy), route(&Auth{})}}, true},
		{"no module handler", &caddyhttp.Server{Routes: caddyhttp.RouteList{route(proxy)}}, false},
		{"a named route that proxies", &caddyhttp.Server{
			Routes:      caddyhttp.RouteList{route(&caddyhttp.Invoke{Name: "app"}), route(&Auth{})},
			NamedRoutes: map[string]*caddyhttp.Route{"app": {Handlers: []caddyhttp.MiddlewareHandler{proxy}}}}, true},
		{"a named route behind the guard", &caddyhttp.Server{
			Routes:      caddyhttp.RouteList{route(&Auth{}, &caddyhttp.Invoke{Name: "app"})},
			NamedRoutes: map[string]*caddyhttp.Route{"app": {Handlers: []caddyhttp.MiddlewareHandler{proxy}}}}, false},
		{"a subroute that proxies", &caddyhttp.Server{Routes: caddyhttp.RouteList{
			route(&caddyhttp.Subroute{Routes: caddyhttp.RouteList{route(proxy)}}), route(&Issue{})}}, true},
		{"an error before the guard, handle_errors proxies", &caddyhttp.Server{
			Routes: caddyhttp.RouteList{route(&caddyhttp.StaticError{}), route(&Auth{})}, Errors: errorsTo(proxy)}, true},
		{"file_server before the guard, handle_errors proxies", &caddyhttp.Server{
			Routes: caddyhttp.RouteList{{MatcherSetsRaw: nil, Handlers: []caddyhttp.MiddlewareHandler{&fileserver.FileServer{}}}, route(&Auth{})}, Errors: errorsTo(proxy)}, true},
		{"strict_sni_host, handle_errors proxies", &caddyhttp.Server{StrictSNIHost: &on,
			Routes: caddyhttp.RouteList{route(&Auth{}, proxy)}, Errors: errorsTo(proxy)}, true},
		{"every error after the guard", &caddyhttp.Server{
			Routes: caddyhttp.RouteList{route(&Auth{}, &caddyhttp.StaticError{})}, Errors: errorsTo(proxy)}, false},
		{"inert handlers before the guard", &caddyhttp.Server{Routes: caddyhttp.RouteList{
			route(&headers.Handler{}, &caddyhttp.VarsMiddleware{}, &rewrite.Rewrite{}, &Issue{}, proxy)}}, false},
	} {
		err := checkBoundary("srv0", c.srv)
		if (err != nil) != c.refused {
			t.Errorf("%s: %v, refused %v", c.name, err, c.refused)
		}
	}
}
