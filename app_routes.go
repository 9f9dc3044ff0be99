package jwtextended

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
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
	c := &routeCheck{logger: a.logger, cookies: &a.cookies}
	for _, name := range names {
		srv := httpApp.Servers[name]
		if err := checkBoundary(name, srv); err != nil {
			return err
		}
		if err := c.walkRoutes(srv.Routes, nil); err != nil {
			return err
		}
		if err := c.checkOrder(srv.Routes, "server "+name); err != nil {
			return err
		}
		c.warnInsecureCookies(name, srv)
		if srv.Errors != nil {
			if err := c.walkRoutes(srv.Errors.Routes, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// routeCheck holds what the route checks report with.
type routeCheck struct {
	logger  *zap.Logger
	cookies *cookieSettings
}

// walkRoutes checks one route list and, recursively, its subroutes.
// stripped holds the prefixes that handle_path (an unconditional
// strip_path_prefix rewrite) removed before this list.
func (c *routeCheck) walkRoutes(routes caddyhttp.RouteList, stripped []string) error {
	// seen: the jwt_issue every later request of this list has passed,
	// with the path it had there
	var seen []*Issue
	for _, rt := range routes {
		unconditional := len(rt.MatcherSets) == 0 && rt.Group == ""
		local := seen
		for _, h := range rt.Handlers {
			switch h := h.(type) {
			case *Issue:
				c.warnStripped(h, stripped)
				for _, first := range local {
					if err := sharedPath(first, h); err != nil {
						return err
					}
				}
				local = append(local[:len(local):len(local)], h)
			case *caddyhttp.Subroute:
				if err := c.walkRoutes(h.Routes, stripped); err != nil {
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
func (c *routeCheck) warnStripped(h *Issue, stripped []string) {
	for _, prefix := range stripped {
		base := strings.TrimSuffix(prefix, "/")
		for _, r := range issueRoutes(h) {
			if r[1] == base || strings.HasPrefix(r[1], base+"/") {
				c.logger.Warn("jwt_issue route inside handle_path can never match: the prefix is stripped before jwt_issue sees the path; use handle, or write the path as it is after the prefix is stripped",
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

// Handler order within one route list (checkOrder), at start: what
// Caddy's route tree makes of a layout that cannot work as written. Each
// finding is one warning line naming the route, except a jwt_issue behind
// a jwt_auth that refuses every request without a token, which can never
// serve a login or a refresh and is refused.

// answering are the handlers that answer a request themselves, so that
// nothing after them in a route list sees it.
var answering = map[caddy.ModuleID]bool{
	"http.handlers.static_response": true,
	"http.handlers.file_server":     true,
	"http.handlers.reverse_proxy":   true,
	"http.handlers.error":           true,
	"http.handlers.acme_server":     true,
}

// checkOrder walks one route list and its subroutes.
func (c *routeCheck) checkOrder(list caddyhttp.RouteList, where string) error {
	var answered string // an answering handler of an earlier route
	var auth *Auth      // a jwt_auth of an earlier route without matcher
	for i, rt := range list {
		at := fmt.Sprintf("%s, route %d%s", where, i, describeMatch(rt))
		always := len(rt.MatcherSets) == 0 && rt.Group == ""
		for j, h := range rt.Handlers {
			switch h := h.(type) {
			case *Auth:
				if answered != "" {
					c.logger.Warn("jwt_auth comes after a handler that answers the request in the same routes, so it never checks a token; put jwt_auth first",
						zap.String("route", at), zap.String("answered_by", answered))
				}
				if always && auth == nil {
					auth = h
				}
			case *Issue:
				if auth != nil {
					if err := c.issueBehindAuth(auth, h, at); err != nil {
						return err
					}
				}
				if len(h.Upstream) > 0 && !answerAfter(list, i, j, h) {
					c.logger.Warn("jwt_issue delegates a route to the next handler, but no handler after it in the same routes answers that path, so the delegated route answers 200 with an empty body and mints nothing; "+
						"put reverse_proxy to the app after jwt_issue in the same routes (outside handle blocks that match other paths)",
						zap.String("route", at), zap.Strings("upstream", h.Upstream))
				}
			case *caddyhttp.Subroute:
				if err := c.checkOrder(h.Routes, at+" (subroute)"); err != nil {
					return err
				}
			}
			// only an answer every request of the list gets: a handler
			// behind a matcher answers only some
			if id := handlerID(h); always && answering[id] && answered == "" {
				answered = strings.TrimPrefix(string(id), "http.handlers.")
			}
		}
	}
	return nil
}

// issueBehindAuth judges a jwt_issue that every request reaches only
// through auth, a jwt_auth without matcher: refused unless auth is
// optional, since a login carries no token and a refresh a refresh
// token, which jwt_auth refuses; a warning otherwise.
func (c *routeCheck) issueBehindAuth(auth *Auth, h *Issue, at string) error {
	if auth.Optional {
		c.logger.Warn("jwt_issue comes after a jwt_auth without matcher in the same routes: a login or refresh that carries an invalid token is refused before it; give jwt_auth a matcher, or put jwt_issue first",
			zap.String("route", at))
		return nil
	}
	if h.Login == "" && h.Refresh == "" && h.Reauth == "" {
		return nil
	}
	return fmt.Errorf("jwt: %s can never serve a login or a refresh: it comes after a jwt_auth without matcher in the same routes (%s), "+
		"which refuses every request without an access token; give jwt_auth a matcher (e.g. jwt_auth /api/*), or put jwt_issue before it", describeIssue(h), at)
}

// answerAfter reports whether a handler after h (handler j of route i of
// list) may answer the paths h delegates: a later handler of the same
// route, or a handler of a later route whose path matchers may match.
func answerAfter(list caddyhttp.RouteList, i, j int, h *Issue) bool {
	if j < len(list[i].Handlers)-1 {
		return true
	}
	for _, route := range h.Upstream {
		path := map[string]string{"login": h.Login, "reauth": h.Reauth, "refresh": h.Refresh}[route]
		found := false
		for _, rt := range list[i+1:] {
			if len(rt.Handlers) > 0 && mayMatchPath(rt, path) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// mayMatchPath reports whether a POST for path may match rt: false only
// when every matcher set of rt has a path matcher that refuses it.
func mayMatchPath(rt caddyhttp.Route, path string) bool {
	if len(rt.MatcherSets) == 0 {
		return true
	}
	r := httptest.NewRequest(http.MethodPost, "http://localhost"+path, nil)
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	for _, set := range rt.MatcherSets {
		refused := false
		for _, m := range set {
			var pm caddyhttp.MatchPath
			switch m := m.(type) {
			case caddyhttp.MatchPath:
				pm = m
			case *caddyhttp.MatchPath:
				pm = *m
			default:
				continue
			}
			if match, err := pm.MatchWithError(r); err == nil && !match {
				refused = true
			}
		}
		if !refused {
			return true
		}
	}
	return false
}

// warnInsecureCookies warns when cookies are always Secure (`cookie {
// secure on }`) on a server that serves a jwt_issue with deliver cookie
// over plain HTTP only: no TLS listener and no trusted proxy that could
// say the client used HTTPS. Browsers drop Secure cookies set over
// http://, so every login would look successful and then fail.
func (c *routeCheck) warnInsecureCookies(name string, srv *caddyhttp.Server) {
	if c.cookies.secure != secureOn || len(srv.TLSConnPolicies) > 0 || len(srv.TrustedProxiesRaw) > 0 || !deliversCookies(srv.Routes) {
		return
	}
	c.logger.Warn("cookie secure on, but this server has no TLS listener and no trusted_proxies: browsers drop Secure cookies set over http://, so logins would not stick; use secure auto, or serve the site over HTTPS",
		zap.String("server", name), zap.Strings("listen", srv.Listen))
}

// deliversCookies reports whether a jwt_issue of the routes delivers
// cookies.
func deliversCookies(list caddyhttp.RouteList) bool {
	for _, rt := range list {
		for _, h := range rt.Handlers {
			switch h := h.(type) {
			case *Issue:
				if h.deliverCookie {
					return true
				}
			case *caddyhttp.Subroute:
				if deliversCookies(h.Routes) {
					return true
				}
			}
		}
	}
	return false
}
