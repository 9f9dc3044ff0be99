package jwtextended

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/rewrite"
	"go.uber.org/zap"
)

// checkRoutes looks for jwt_issue routes that can never be reached, once
// every app of the config is provisioned (Start): only then is the http
// app's route tree there to read, and a handler never sees its own place
// in it. Two jwt_issue on one path in one route list refuse to load; a
// route path that an enclosing handle_path strips is a warning, since a
// request for the path with the prefix twice would still reach it.
//
// Only what is certain is refused: the first jwt_issue must be reached by
// every request that reaches the second (the same route, or a route with
// no matcher and no group before it), and no handler in between may
// change the path. A handler this walk does not know may rewrite the
// path, so it ends the comparison.
func (a *App) checkRoutes() error {
	if a.appIfConfigured == nil {
		return nil
	}
	v, err := a.appIfConfigured("http")
	if err != nil {
		return nil // no http app: nothing to check
	}
	httpApp, ok := v.(*caddyhttp.App)
	if !ok {
		return nil
	}
	names := make([]string, 0, len(httpApp.Servers))
	for name := range httpApp.Servers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		srv := httpApp.Servers[name]
		if err := checkBoundary(name, srv); err != nil {
			return err
		}
		if err := a.walkRoutes(srv.Routes, nil); err != nil {
			return err
		}
		if srv.Errors != nil {
			if err := a.walkRoutes(srv.Errors.Routes, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// walkRoutes checks one route list and, recursively, its subroutes.
// stripped holds the prefixes that handle_path (an unconditional
// strip_path_prefix rewrite) removed before this list.
func (a *App) walkRoutes(routes caddyhttp.RouteList, stripped []string) error {
	// seen: the jwt_issue every later request of this list has passed,
	// with the path it had there
	var seen []*Issue
	for _, rt := range routes {
		unconditional := len(rt.MatcherSets) == 0 && rt.Group == ""
		local := seen
		for _, h := range rt.Handlers {
			switch h := h.(type) {
			case *Issue:
				a.warnStripped(h, stripped)
				for _, first := range local {
					if err := sharedPath(first, h); err != nil {
						return err
					}
				}
				local = append(local[:len(local):len(local)], h)
			case *caddyhttp.Subroute:
				if err := a.walkRoutes(h.Routes, stripped); err != nil {
					return err
				}
				if !keepsPath(h) {
					local = nil
				}
			case *rewrite.Rewrite:
				if unconditional && h.StripPathPrefix != "" {
					stripped = append(stripped[:len(stripped):len(stripped)], h.StripPathPrefix)
				}
				local = nil
			default:
				if !keepsPath(h) {
					local = nil
				}
			}
		}
		switch {
		case unconditional:
			seen = local
		case !routeKeepsPath(rt):
			seen = nil
		}
	}
	return nil
}

// issueRoutes lists a jwt_issue's routes as its Caddyfile writes them.
func issueRoutes(h *Issue) [][2]string {
	var out [][2]string
	for _, r := range [][2]string{{"login", h.Login}, {"refresh", h.Refresh}, {"reauth", h.Reauth}, {"logout", h.Logout}, {"jwks", h.JWKS}} {
		if r[1] != "" {
			out = append(out, r)
		}
	}
	return out
}

func describeIssue(h *Issue) string {
	var parts []string
	for _, r := range issueRoutes(h) {
		parts = append(parts, r[0]+" "+r[1])
	}
	return "jwt_issue {" + strings.Join(parts, "; ") + "}"
}

// sharedPath refuses a later jwt_issue that has a route path of an earlier
// one: the earlier answers every request for it.
func sharedPath(first, second *Issue) error {
	for _, r2 := range issueRoutes(second) {
		for _, r1 := range issueRoutes(first) {
			if samePath(r1[1], r2[1]) {
				return fmt.Errorf("%s can never answer %s: %s comes first in the same routes and answers %s %s; give each route its own path, or put both jwt_issue's users in one",
					describeIssue(second), r2[1], describeIssue(first), r1[0], r1[1])
			}
		}
	}
	return nil
}

// warnStripped warns when a route path of h lies under a prefix that an
// enclosing handle_path removes (the prefix itself, or a path below it):
// h sees the path without it. /identity is not under /id.
func (a *App) warnStripped(h *Issue, stripped []string) {
	for _, prefix := range stripped {
		base := strings.TrimSuffix(prefix, "/")
		for _, r := range issueRoutes(h) {
			if r[1] == base || strings.HasPrefix(r[1], base+"/") {
				a.logger.Warn("jwt_issue route inside handle_path can never match: the prefix is stripped before jwt_issue sees the path; use handle, or write the path as it is after the prefix is stripped",
					zap.String("route", r[0]), zap.String("path", r[1]), zap.String("stripped_prefix", prefix),
					zap.String("sees", "/"+strings.TrimLeft(strings.TrimPrefix(r[1], prefix), "/")))
			}
		}
	}
}

// pathKeepers are the handlers known not to change the request's path
// for the handlers after them: they pass it on as it came, or answer it.
var pathKeepers = map[caddy.ModuleID]bool{
	"http.handlers.jwt_auth":        true,
	"http.handlers.jwt_issue":       true,
	"http.handlers.headers":         true,
	"http.handlers.encode":          true,
	"http.handlers.vars":            true,
	"http.handlers.request_body":    true,
	"http.handlers.authentication":  true,
	"http.handlers.log_append":      true,
	"http.handlers.static_response": true,
	"http.handlers.error":           true,
	"http.handlers.reverse_proxy":   true,
	"http.handlers.file_server":     true,
	"http.handlers.templates":       true,
	"http.handlers.metrics":         true,
}

func keepsPath(h caddyhttp.MiddlewareHandler) bool {
	if s, ok := h.(*caddyhttp.Subroute); ok {
		for _, rt := range s.Routes {
			if !routeKeepsPath(rt) {
				return false
			}
		}
		return true
	}
	m, ok := h.(caddy.Module)
	return ok && pathKeepers[m.CaddyModule().ID]
}

func routeKeepsPath(rt caddyhttp.Route) bool {
	for _, h := range rt.Handlers {
		if !keepsPath(h) {
			return false
		}
	}
	return true
}

// The boundary check (boundary.go): in a server that uses jwt_auth,
// jwt_issue or jwt_strip, every request must meet one of them before any
// handler that passes it on, or the config is refused. What may come
// first are the handlers that pass nothing on to another program or
// route list (boundaryInert): those Caddy's Caddyfile orders before
// jwt_issue and jwt_auth (vars, map, header, rewrite, uri, request_body,
// redir, root, ...) and a few more that only answer (respond,
// file_server). Everything else, a handler this module does not know
// included, counts as passing the request on.

// boundaryInert are the handlers that never hand a request to another
// program, route list or template. mayFail: their error goes to the
// server's handle_errors routes, which then see the request as it was.
var boundaryInert = map[caddy.ModuleID]struct{ mayFail bool }{
	"http.handlers.vars":                  {},
	"http.handlers.map":                   {},
	"http.handlers.headers":               {},
	"http.handlers.rewrite":               {},
	"http.handlers.request_body":          {},
	"http.handlers.encode":                {},
	"http.handlers.push":                  {},
	"http.handlers.timeouts":              {},
	"http.handlers.tracing":               {},
	"http.handlers.log_append":            {},
	"http.handlers.metrics":               {},
	"http.handlers.copy_response_headers": {},
	"http.handlers.static_response":       {mayFail: true},
	"http.handlers.file_server":           {mayFail: true},
	"http.handlers.acme_server":           {mayFail: true},
}

// boundaryWalk follows one server's routes as a request goes through
// them.
type boundaryWalk struct {
	server string
	srv    *caddyhttp.Server
	// errorsReachable: a request that has not met a jwt handler can end
	// in an error, and so reach the server's handle_errors routes.
	errorsReachable bool
	named           map[string]bool
}

// checkBoundary refuses a server that uses the module's handlers and in
// which a request can reach a handler that passes it on before meeting
// one of them.
func checkBoundary(name string, srv *caddyhttp.Server) error {
	if !usesJWT(srv) {
		return nil
	}
	w := &boundaryWalk{server: name, srv: srv, named: map[string]bool{},
		// with strict_sni_host, a mismatch is an error before any route
		errorsReachable: srv.StrictSNIHost != nil && *srv.StrictSNIHost}
	if _, err := w.routes(srv.Routes, false, "server "+name); err != nil {
		return err
	}
	if srv.Errors != nil && w.errorsReachable {
		if _, err := w.routes(srv.Errors.Routes, false, "server "+name+", handle_errors"); err != nil {
			return err
		}
	}
	return nil
}

// routes walks a route list that requests enter guarded (or not), and
// returns whether every request that leaves it has met a jwt handler.
func (w *boundaryWalk) routes(list caddyhttp.RouteList, guarded bool, where string) (bool, error) {
	for i, rt := range list {
		at := fmt.Sprintf("%s, route %d%s", where, i, describeMatch(rt))
		always := len(rt.MatcherSets) == 0 && rt.Group == ""
		g := guarded
		for j, h := range rt.Handlers {
			if g {
				break
			}
			var err error
			if g, err = w.handler(h, fmt.Sprintf("%s, handler %d", at, j)); err != nil {
				return false, err
			}
		}
		if always {
			guarded = g
			if rt.Terminal {
				break
			}
		}
	}
	return guarded, nil
}

// handler looks at one handler that a request which has not met a jwt
// handler reaches, and returns whether the request has met one after it.
func (w *boundaryWalk) handler(h caddyhttp.MiddlewareHandler, at string) (bool, error) {
	switch h := h.(type) {
	case *Auth, *Issue, Strip, *Strip:
		return true, nil
	case *caddyhttp.Subroute:
		g, err := w.routes(h.Routes, false, at+" (subroute)")
		if err == nil && h.Errors != nil {
			_, err = w.routes(h.Errors.Routes, false, at+" (subroute errors)")
		}
		return g, err
	case *caddyhttp.Invoke:
		route, ok := w.srv.NamedRoutes[h.Name]
		if !ok || w.named[h.Name] {
			return false, nil
		}
		w.named[h.Name] = true
		defer delete(w.named, h.Name)
		return w.routes(caddyhttp.RouteList{*route}, false, at+" (named route "+h.Name+")")
	}
	id := handlerID(h)
	if inert, ok := boundaryInert[id]; ok {
		w.errorsReachable = w.errorsReachable || inert.mayFail
		return false, nil
	}
	if id == "http.handlers.error" {
		w.errorsReachable = true
		return false, nil
	}
	return false, fmt.Errorf("jwt: %s uses jwt_auth or jwt_issue, but a request can reach %s (%s) before any of the module's handlers, "+
		"with the X-Jwt-* headers its client sent; put jwt_strip first: in a Caddyfile, add the line `jwt_strip` to that site; "+
		`in JSON, make {"handler":"jwt_strip"} the first handler of the server's first route`,
		"server "+w.server, strings.TrimPrefix(string(id), "http.handlers."), at)
}

// handlerID is a handler's Caddy module ID.
func handlerID(h caddyhttp.MiddlewareHandler) caddy.ModuleID {
	if m, ok := h.(caddy.Module); ok {
		return m.CaddyModule().ID
	}
	return caddy.ModuleID(fmt.Sprintf("%T", h))
}

// describeMatch names a route's matchers briefly, for errors.
func describeMatch(rt caddyhttp.Route) string {
	if len(rt.MatcherSetsRaw) == 0 {
		return ""
	}
	b, err := json.Marshal(rt.MatcherSetsRaw)
	if err != nil {
		return ""
	}
	if s := string(b); len(s) <= 120 {
		return " (match " + s + ")"
	}
	return " (match " + string(b[:117]) + "...)"
}

// usesJWT reports whether a server has one of the module's handlers in
// its routes, subroutes, handle_errors or named routes.
func usesJWT(srv *caddyhttp.Server) bool {
	var in func(caddyhttp.RouteList) bool
	in = func(list caddyhttp.RouteList) bool {
		for _, rt := range list {
			for _, h := range rt.Handlers {
				switch h := h.(type) {
				case *Auth, *Issue, Strip, *Strip:
					return true
				case *caddyhttp.Subroute:
					if in(h.Routes) || (h.Errors != nil && in(h.Errors.Routes)) {
						return true
					}
				}
			}
		}
		return false
	}
	if in(srv.Routes) || (srv.Errors != nil && in(srv.Errors.Routes)) {
		return true
	}
	for _, rt := range srv.NamedRoutes {
		if in(caddyhttp.RouteList{*rt}) {
			return true
		}
	}
	return false
}
