package jwtextended

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/rewrite"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
)

// unknownHandler stands for a handler the route check does not know (a
// plugin): it may change the path, so it ends the comparison.
type unknownHandler struct{}

func (unknownHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return next.ServeHTTP(w, r)
}

func routeOf(match bool, hs ...caddyhttp.MiddlewareHandler) caddyhttp.Route {
	rt := caddyhttp.Route{Handlers: hs}
	if match {
		rt.MatcherSets = caddyhttp.MatcherSets{{caddyhttp.MatchPath{"/api/*"}}}
	}
	return rt
}

func subrouteOf(routes ...caddyhttp.Route) *caddyhttp.Subroute {
	return &caddyhttp.Subroute{Routes: routes}
}

func TestCheckRoutesSharedPath(t *testing.T) {
	t.Parallel()
	first := func() *Issue { return &Issue{Login: "/auth/login", Refresh: "/auth/refresh"} }
	second := func() *Issue { return &Issue{Login: "/auth/login"} }
	other := func() *Issue { return &Issue{Login: "/other/login"} }
	tests := []struct {
		name   string
		routes caddyhttp.RouteList
		dead   bool
	}{
		{"one route, two handlers", caddyhttp.RouteList{routeOf(false, first(), second())}, true},
		{"one route with a matcher, two handlers", caddyhttp.RouteList{routeOf(true, first(), second())}, true},
		{"two routes, no matcher", caddyhttp.RouteList{routeOf(false, first()), routeOf(false, second())}, true},
		{"a path-keeping route between", caddyhttp.RouteList{routeOf(false, first()), routeOf(true, &caddyhttp.StaticResponse{}), routeOf(false, second())}, true},
		{"inside one site's subroute", caddyhttp.RouteList{routeOf(true, subrouteOf(routeOf(false, first()), routeOf(false, second())))}, true},
		{"a refresh path as the second's login", caddyhttp.RouteList{routeOf(false, first(), &Issue{Login: "/auth/refresh"})}, true},
		{"the first behind a matcher", caddyhttp.RouteList{routeOf(true, first()), routeOf(false, second())}, false},
		{"the first in a group", caddyhttp.RouteList{{Group: "g", Handlers: []caddyhttp.MiddlewareHandler{first()}}, routeOf(false, second())}, false},
		{"a rewrite between", caddyhttp.RouteList{routeOf(false, first()), routeOf(true, &rewrite.Rewrite{URI: "/auth/login"}), routeOf(false, second())}, false},
		{"an unknown handler between", caddyhttp.RouteList{routeOf(false, first(), unknownHandler{}, second())}, false},
		{"a subroute that rewrites between", caddyhttp.RouteList{routeOf(false, first()), routeOf(false, subrouteOf(routeOf(false, &rewrite.Rewrite{StripPathPrefix: "/x"})), second())}, false},
		{"different paths", caddyhttp.RouteList{routeOf(false, first(), other())}, false},
		{"different sites", caddyhttp.RouteList{routeOf(true, subrouteOf(routeOf(false, first()))), routeOf(true, subrouteOf(routeOf(false, second())))}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &routeCheck{logger: zap.NewNop()}
			err := a.walkRoutes(tt.routes, nil)
			if !tt.dead {
				if err != nil {
					t.Fatalf("refused a config whose second jwt_issue can be reached: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("a jwt_issue that can never answer its path loaded")
			}
			for _, want := range []string{"jwt_issue {login /auth/login; refresh /auth/refresh}", "can never answer", "give each route its own path"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

func TestCheckRoutesWarnsStrippedPrefix(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.WarnLevel)
	a := &routeCheck{logger: zap.New(core)}
	// handle_path /id/* { jwt_issue { login /id/login; refresh /refresh;
	// reauth /identity/reauth } }: /identity is not under /id
	routes := caddyhttp.RouteList{routeOf(true, subrouteOf(
		routeOf(false, &rewrite.Rewrite{StripPathPrefix: "/id"}),
		routeOf(false, &Issue{Login: "/id/login", Refresh: "/refresh", Reauth: "/identity/reauth"}),
	))}
	if err := a.walkRoutes(routes, nil); err != nil {
		t.Fatal(err)
	}
	entries := logs.All()
	if len(entries) != 1 {
		t.Fatalf("%d warnings, want one (for login only): %v", len(entries), entries)
	}
	f := entries[0].ContextMap()
	if f["route"] != "login" || f["path"] != "/id/login" || f["stripped_prefix"] != "/id" || f["sees"] != "/login" {
		t.Errorf("warning fields %v", f)
	}
	if !strings.Contains(entries[0].Message, "handle_path") {
		t.Errorf("warning %q does not name handle_path", entries[0].Message)
	}

	// a strip under a matcher is not handle_path's: no warning
	logs.TakeAll()
	routes = caddyhttp.RouteList{routeOf(true, &rewrite.Rewrite{StripPathPrefix: "/id"}), routeOf(false, &Issue{Login: "/id/login"})}
	if err := a.walkRoutes(routes, nil); err != nil {
		t.Fatal(err)
	}
	if n := logs.Len(); n != 0 {
		t.Errorf("%d warnings for a conditional strip", n)
	}
}

// TestTwoIssuersOnOnePathRefuseToLoad loads a real Caddyfile with two
// jwt_issue on one login path in one site: Caddy must refuse it, naming
// both.
func TestTwoIssuersOnOnePathRefuseToLoad(t *testing.T) {
	ports := testkit.SharedPorts(t)
	cfgText := ports.Globals(fmt.Sprintf("\tauto_https off\n\tjwt {\n\t\tsecret %q\n\t}\n", fixtureSecret)) + fmt.Sprintf(`
%s {
	jwt_issue {
		login /login
		user alice %s
	}
	jwt_issue {
		login /login
		refresh /refresh
		user bob %s
	}
}
`, ports.HTTPBase(), testkit.BcryptHash(t, "pw-alice"), testkit.BcryptHash(t, "pw-bob"))
	cfgJSON, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cfgText), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = caddy.Load(cfgJSON, true)
	if err == nil {
		_ = caddy.Stop()
		t.Fatal("two jwt_issue on /login loaded")
	}
	for _, want := range []string{"jwt_issue {login /login; refresh /refresh} can never answer /login", "jwt_issue {login /login} comes first"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
