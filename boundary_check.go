package jwtextended

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

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
