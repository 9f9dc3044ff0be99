package jwtextended

// jwt_issue owns its paths: a request for a route's path, up to case and
// one trailing slash (/auth/login, /AUTH/LOGIN, /auth/login/), is that
// route's, whatever its method, so that no variant of the path reaches
// the app unguarded (an app whose router ignores case or a trailing
// slash would otherwise take it as the route):
//
//   - POST is the route (login, refresh, reauth, logout, the passkey
//     block's begin and finish routes), throttle included; GET and HEAD
//     of the jwks route are the JWK Set, of an oidc block's login,
//     callback and reauth routes the OIDC flow, and GET, HEAD and DELETE
//     of the passkey credentials route the session's passkeys;
//   - GET and HEAD of the other routes pass on to the next handler (a
//     login page often lives at the same path), but never as a credential
//     check: without X-Jwt-Issue-Route, and without the X-Jwt-Issue-*
//     headers of the app's answer;
//   - a CORS preflight (isPreflight) passes on the same way, or is
//     answered here with the jwt app's cors block;
//   - any other method is answered 405.

import (
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// issueRoute is one route of a jwt_issue: its name (login, refresh,
// reauth, logout, jwks, oidc <name> login|callback|reauth, passkey ...),
// its path and what serves it: a POST, or for a get route a GET or HEAD,
// and with del a DELETE too (the passkey credentials route).
type issueRoute struct {
	name, path string
	get, del   bool
	serve      func(http.ResponseWriter, *http.Request, caddyhttp.Handler) error
}

// routeOf returns the route whose path p is, up to case and one trailing
// slash; nil for any other path. It allocates nothing.
func (h *Issue) routeOf(p string) *issueRoute {
	for i := range h.routes {
		if samePath(p, h.routes[i].path) {
			return &h.routes[i]
		}
	}
	return nil
}

// samePath reports whether a request path is a route's path, up to ASCII
// and Unicode case and one trailing slash on either.
func samePath(p, route string) bool {
	return strings.EqualFold(trimOneSlash(p), trimOneSlash(route))
}

func trimOneSlash(p string) string {
	if len(p) > 1 && p[len(p)-1] == '/' {
		return p[:len(p)-1]
	}
	return p
}

// prepareRoutes lists the configured routes for routeOf (Provision).
func (h *Issue) prepareRoutes() {
	h.routes = h.routes[:0]
	for _, r := range []issueRoute{
		{name: "login", path: h.Login, serve: h.serveLogin},
		{name: "refresh", path: h.Refresh, serve: h.serveRefresh},
		{name: "reauth", path: h.Reauth, serve: h.serveReauth},
		{name: "logout", path: h.Logout, serve: func(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error { return h.serveLogout(w, r) }},
		{name: "jwks", path: h.JWKS, get: true, serve: func(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error { return h.serveJWKS(w, r) }},
	} {
		if r.path != "" {
			h.routes = append(h.routes, r)
		}
	}
	for _, r := range append(h.oidcRouteList(), h.passkeyRouteList()...) {
		if r.path != "" {
			h.routes = append(h.routes, r)
		}
	}
}

// serveRoute answers a request for one of the issuer's paths.
func (h *Issue) serveRoute(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, rt *issueRoute) error {
	if h.app.cors != nil {
		if isPreflight(r) {
			return h.app.cors.preflight(w, r)
		}
		w = h.app.cors.wrap(w, r)
	}
	getOrHead := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case r.Method == http.MethodPost && !rt.get:
		defer h.boundBodyRead(w)()
		return rt.serve(w, r, next)
	case getOrHead && rt.get:
		return rt.serve(w, r, next)
	case r.Method == http.MethodDelete && rt.del:
		defer h.boundBodyRead(w)()
		return rt.serve(w, r, next)
	case getOrHead || isPreflight(r):
		// the next handler's, never a credential check: the request
		// carries no X-Jwt-Issue-Route, and the answer loses its
		// X-Jwt-Issue-* headers
		hw, ok := w.(*headerWriter) // the cors block's, or a new one
		if !ok {
			hw = &headerWriter{ResponseWriter: w}
		}
		hw.dropIssue = true
		err := next.ServeHTTP(hw, r)
		dropIssueHeaders(w.Header()) // trailers set after the body
		return err
	}
	allow := http.MethodPost
	switch {
	case rt.del:
		allow = "GET, HEAD, DELETE"
	case rt.get:
		allow = "GET, HEAD"
	}
	w.Header().Set("Allow", allow)
	h.app.refusals.write(w, errMethodNotAllowed)
	return nil
}

// dropIssueHeaders deletes the X-Jwt-Issue-* names of h, trailers
// announced under http.TrailerPrefix included.
func dropIssueHeaders(h http.Header) {
	for name := range h {
		if hasIssuePrefix(strings.TrimPrefix(name, http.TrailerPrefix)) {
			delete(h, name)
		}
	}
}
