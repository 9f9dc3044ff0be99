package jwtextended

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Issue{})
}

// Issue is the `jwt_issue` handler: it mints tokens with the `jwt` app's
// keys on its login, refresh, reauth and logout routes and publishes the
// public keys on its jwks route. Requests to any other path pass on
// untouched.
type Issue struct {
	// Path of the login route: POST credentials, get a fresh access token
	// and a refresh token.
	Login string `json:"login,omitempty"`
	// Path of the refresh route: POST with a refresh token, get a
	// non-fresh access token.
	Refresh string `json:"refresh,omitempty"`
	// Path of the reauth route: POST credentials, get a fresh access token
	// only.
	Reauth string `json:"reauth,omitempty"`
	// Path of the logout route: POST, revoke the presented tokens and
	// clear cookies.
	Logout string `json:"logout,omitempty"`
	// Path of the JWK Set route (GET): the public keys.
	JWKS string `json:"jwks,omitempty"`

	// Users and their bcrypt hashes.
	Users []User `json:"users,omitempty"`
	// A file of `<name>:<bcrypt-hash>` lines, re-read when it changes.
	UsersFile string `json:"users_file,omitempty"`

	// How tokens are delivered: json (default), cookie, or both.
	Deliver []string `json:"deliver,omitempty"`

	// Where refresh and logout look for tokens. Default: the app's.
	TokenFrom []string `json:"token_from,omitempty"`

	app    *App
	logger *zap.Logger
}

// User is one `user <name> <bcrypt-hash> [<claim>=<value>...]` line.
type User struct {
	Name   string         `json:"name"`
	Hash   string         `json:"hash"`
	Claims map[string]any `json:"claims,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Issue) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.jwt_issue",
		New: func() caddy.Module { return new(Issue) },
	}
}

// Provision binds the handler to the `jwt` app.
func (h *Issue) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	var err error
	h.app, err = jwtApp(ctx)
	return err
}

func (h *Issue) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return next.ServeHTTP(w, r)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Issue)(nil)
	_ caddyhttp.MiddlewareHandler = (*Issue)(nil)
)
