package jwtextended

import (
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
			if r1[1] == r2[1] {
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
