package jwtextended

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/users"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func init() {
	caddy.RegisterModule(Issue{})
}

// maxIssueBody bounds request bodies on the issuer's routes.
const maxIssueBody = 64 << 10

// defaultBodyTimeout bounds the time to read a request body on the
// issuer's routes (body_timeout).
const defaultBodyTimeout = 10 * time.Second

// revocationTimeout bounds one revocation write on logout and rotation.
const revocationTimeout = 10 * time.Second

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
	// Routes delegated to the next handler (the app behind Caddy): login,
	// reauth and refresh. The app checks the credentials (or confirms the
	// user, on refresh) and answers with X-Jwt-Issue-Identity; Caddy mints.
	// In the Caddyfile, `login <path> upstream` is a shorthand.
	Upstream []string `json:"upstream,omitempty"`
	// Logout also revokes every token of the presented token's identity,
	// on every device. In the Caddyfile, `logout <path> all` is a
	// shorthand.
	LogoutAll bool `json:"logout_all,omitempty"`
	// Path of the JWK Set route (GET): the public keys.
	JWKS string `json:"jwks,omitempty"`

	// Users and their bcrypt hashes.
	Users []User `json:"users,omitempty"`
	// A file of `<name>:<bcrypt-hash>` lines, re-read when it changes.
	UsersFile string `json:"users_file,omitempty"`

	// How tokens are delivered: json (default), cookie, or both.
	Deliver []string `json:"deliver,omitempty"`

	// Where and under which names refresh and logout look tokens up;
	// each setting left unset takes the jwt app's, with cookie added to
	// token_from when tokens are delivered as cookies.
	TokenLookup

	// Limits on failed logins (login and reauth routes). Default: 5 per
	// username and 20 per client IP within 15 minutes.
	Throttle *ThrottleConfig `json:"throttle,omitempty"`

	// How long reading a request body on the login, refresh, reauth and
	// logout routes may take, from the end of the request's headers; a
	// client that is slower gets 408. Default: 10s.
	BodyTimeout WeakDuration `json:"body_timeout,omitempty"`

	// Rotate refresh tokens: a refresh also returns a new refresh token,
	// which replaces the one presented as its family's current
	// generation; presenting an older generation revokes the whole family
	// (RFC 9700 4.14.2). Default: off.
	RotateRefresh bool `json:"rotate_refresh,omitempty"`
	// With rotate_refresh: for this long after a rotation, the generation
	// it replaced still gets an access token (no new refresh token, and
	// nothing is written), so that two tabs refreshing at once keep the
	// session; and a refresh token younger than this is not rotated, so a
	// family rotates, and writes to storage, at most once per grace.
	// Default: 10s; at least 1s.
	RotateGrace WeakDuration `json:"rotate_grace,omitempty"`

	// The statuses of the app's answer to a delegated login or reauth
	// that count as a failed login for the throttle. Default: 401 403.
	FailedStatus []int `json:"failed_status,omitempty"`

	// Sign-in and step-up through OpenID Providers, one block each
	// (issue_oidc.go). Needs deliver cookie.
	OIDC []OIDCProvider `json:"oidc,omitempty"`

	// Passkeys (WebAuthn): register, sign in and step up
	// (issue_passkey.go).
	Passkey *PasskeyConfig `json:"passkey,omitempty"`

	app    *App
	logger *zap.Logger
	// ctx is the config's context, cancelled when the config is unloaded:
	// the background sweeps stop with it
	ctx   context.Context
	creds *users.Credentials
	// throttle limits failed logins; nil with `throttle off`.
	throttle *users.Throttle
	// throttleCfg is the throttle block resolved (Provision), checked by
	// Validate.
	throttleCfg users.ThrottleLimits
	// auth finds and checks the tokens of the refresh and logout routes.
	auth *authenticator
	// routes are the configured routes, for routeOf
	routes []issueRoute
	// oidc are the flows of the oidc blocks, and oidcShared what they
	// share; nil without oidc blocks
	oidc       []*oidcRoutes
	oidcShared *oidcShared
	// passkey runs the passkey block; nil without one
	passkey *passkeyRoutes
	// failedStatus is FailedStatus or its default
	failedStatus []int
	// noIdentityWarned: the 2xx-without-identity warning of the delegated
	// login and reauth, once each
	noIdentityWarned *[2]sync.Once
	// the settings resolved and parsed by Provision, checked by Validate
	bodyTimeout, rotateGrace   time.Duration
	deliverJSON, deliverCookie bool
	badDeliver                 string
}

// defaultRotateGrace is rotate_grace's default; minRotateGrace its floor.
const (
	defaultRotateGrace = 10 * time.Second
	minRotateGrace     = time.Second
)

// User is one `user <name> <bcrypt-hash> [<claim>=<value>...]` line.
type User struct {
	// The username a login sends, and the identity its tokens name.
	Name string `json:"name"`
	// The password hash: bcrypt, as `caddy hash-password` makes, or
	// argon2id.
	Hash string `json:"hash"`
	// Claims minted into this user's tokens.
	Claims map[string]any `json:"claims,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Issue) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.jwt_issue",
		New: func() caddy.Module { return new(Issue) },
	}
}

// Provision binds the handler to the `jwt` app, resolves its settings,
// loads the users and prepares token lookup, delivery and throttling;
// Validate checks what Provision resolved.
func (h *Issue) Provision(ctx caddy.Context) error {
	var err error
	if h.app, err = jwtApp(ctx); err != nil {
		return err
	}
	h.logger = ctx.Logger()
	h.ctx = ctx
	if err := h.resolvePlaceholders(); err != nil {
		return err
	}
	if h.bodyTimeout, err = h.BodyTimeout.resolve("jwt_issue", "body_timeout"); err != nil {
		return err
	}
	if h.bodyTimeout == 0 {
		h.bodyTimeout = defaultBodyTimeout
	}
	if h.rotateGrace, err = h.RotateGrace.resolve("jwt_issue", "rotate_grace"); err != nil {
		return err
	}
	if h.rotateGrace == 0 {
		h.rotateGrace = defaultRotateGrace
	}
	h.noIdentityWarned = new([2]sync.Once)
	h.failedStatus = h.FailedStatus
	if len(h.failedStatus) == 0 {
		h.failedStatus = []int{http.StatusUnauthorized, http.StatusForbidden}
	}
	for _, d := range h.Deliver {
		switch d {
		case "json":
			h.deliverJSON = true
		case "cookie":
			h.deliverCookie = true
		default:
			h.badDeliver = d
		}
	}
	if len(h.Deliver) == 0 {
		h.deliverJSON = true
	}
	if err := h.provisionOIDC(ctx); err != nil {
		return err
	}
	if err := h.provisionPasskey(ctx); err != nil {
		return err
	}
	h.prepareRoutes()
	names, err := handlerNames("jwt_issue", h.TokenLookup, h.app)
	if err != nil {
		return err
	}
	own, err := h.provisionSources()
	if err != nil {
		return err
	}
	h.auth = h.app.newAuthenticator(own, names)
	if h.Throttle == nil || !h.Throttle.Disabled {
		if h.throttleCfg, err = h.Throttle.resolve(); err != nil {
			return err
		}
		h.throttle = users.NewThrottle(h.throttleCfg, h.app.clock)
	}
	h.creds, err = loadCredentials(h.Users, h.UsersFile, h.app.IdentityClaim, h.app.clock, h.logger)
	return err
}

// provisionSources records cookie delivery on the app (the app's default
// lookup becomes header cookie) and returns where refresh and logout look
// for tokens: the handler's token_from; otherwise nil, the app's, or,
// when it delivers cookies and the app's token_from is set without cookie
// (allowed while only jwt_auth handlers with a token_from of their own
// read tokens), the app's with cookie added.
func (h *Issue) provisionSources() ([]tokenSource, error) {
	if h.deliverCookie {
		if err := h.app.cookiesDelivered(); err != nil {
			return nil, err
		}
	}
	if len(h.TokenFrom) > 0 {
		return parseTokenSources("jwt_issue token_from", h.TokenFrom)
	}
	if !h.deliverCookie || hasSource(h.app.sources, sourceCookie) {
		return nil, h.app.followLookup(false)
	}
	// refresh and logout must find the cookies this handler sets
	return append(append([]tokenSource(nil), h.app.sources...), sourceCookie), nil
}

// resolvePlaceholders replaces the global placeholders ({env.*},
// {file.*}, ...) in every text setting, once, at load: route paths,
// users_file, deliver, token_from, and each user's name, hash and string
// claims. Errors name the setting, never the value.
func (h *Issue) resolvePlaceholders() error {
	settings := []struct {
		name string
		vals []*string
	}{
		{"routes", []*string{&h.Login, &h.Refresh, &h.Reauth, &h.Logout, &h.JWKS}},
		{"users_file", []*string{&h.UsersFile}},
		{"deliver", pointers(h.Deliver)},
	}
	for _, s := range settings {
		if err := resolveEach(s.name, s.vals...); err != nil {
			return fmt.Errorf("jwt_issue: %v", err)
		}
	}
	if err := h.TokenLookup.resolvePlaceholders(); err != nil {
		return fmt.Errorf("jwt_issue: %v", err)
	}
	if err := h.resolveOIDCPlaceholders(); err != nil {
		return err
	}
	if err := h.resolvePasskeyPlaceholders(); err != nil {
		return err
	}
	for i := range h.Users {
		u := &h.Users[i]
		if err := resolveEach("user", &u.Name, &u.Hash); err != nil {
			return fmt.Errorf("jwt_issue: %v", err)
		}
		for k, v := range u.Claims {
			if s, ok := v.(string); ok {
				if err := resolveEach("user claim "+k, &s); err != nil {
					return fmt.Errorf("jwt_issue: %v", err)
				}
				u.Claims[k] = s
			}
		}
	}
	return nil
}

// sessionToken is the session a request acts on for the routes that need
// one (OIDC reauth, the passkey routes): its access token, which must be
// one this app issued (another issuer's token names none of its
// sessions).
func (h *Issue) sessionToken(r *http.Request) (*token.Verified, *authError) {
	tok, e := h.auth.authenticate(r, token.TypeAccess)
	if e == nil && !h.app.issuedHere(tok) {
		e = errForeignAccessToken
	}
	return tok, e
}

// sweeper runs a sweep of storage in the background at most once per
// every, bound to the config's context, so that it stops when the config
// is unloaded.
type sweeper struct {
	every time.Duration
	what  string
	sweep func(context.Context) error
	last  atomic.Int64
}

// maybe starts the sweep when every has passed since the last one.
func (s *sweeper) maybe(h *Issue) {
	now := h.app.now().Unix()
	last := s.last.Load()
	if now-last < int64(s.every/time.Second) || !s.last.CompareAndSwap(last, now) {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(h.ctx, time.Minute)
		defer cancel()
		if err := s.sweep(ctx); err != nil && ctx.Err() == nil {
			h.logger.Warn("sweeping "+s.what+" failed", zap.Error(err))
		}
	}()
}

// checksPasswords reports whether this issuer checks passwords itself (a
// login or reauth route not delegated).
func (h *Issue) checksPasswords() bool {
	return (h.Login != "" && !h.delegates("login")) || (h.Reauth != "" && !h.delegates("reauth"))
}

// delegates reports whether route (login, reauth, refresh) is delegated to
// the next handler.
func (h *Issue) delegates(route string) bool { return slices.Contains(h.Upstream, route) }

// ServeHTTP answers the issuer's routes (issue_routes.go) and passes
// every other request on, its client-sent X-Jwt-* headers gone.
func (h *Issue) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	guard(r)
	rt := h.routeOf(r.URL.Path)
	if rt == nil {
		return next.ServeHTTP(w, r)
	}
	return h.serveRoute(w, r, next, rt)
}

// tokenResponse is the body of a successful login, reauth or refresh.
type tokenResponse struct {
	Msg          string `json:"msg,omitempty"`
	AccessToken  string `json:"access_token,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	TokenType    string `json:"token_type,omitempty"`
	ExpiresIn    int64  `json:"expires_in"`
}

// deliver answers a successful login, reauth or refresh: JSON tokens,
// cookies, or both.
func (h *Issue) deliver(w http.ResponseWriter, r *http.Request, msg string, access, refresh *token.Minted) {
	resp := tokenResponse{ExpiresIn: int64(access.TTL / time.Second)}
	if h.deliverJSON {
		resp.AccessToken = access.Raw
		if refresh != nil {
			resp.RefreshToken = refresh.Raw
		}
		resp.TokenType = h.tokenType()
	} else {
		resp.Msg = msg
	}
	if h.deliverCookie {
		h.app.cookies.setTokenCookies(w, r, token.TypeAccess, access)
		if refresh != nil {
			h.app.cookies.setTokenCookies(w, r, token.TypeRefresh, refresh)
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// tokenType is the token type a login answer names: the configured
// header_type, which the client sends the token back with (Bearer by
// default, and with header_type "").
func (h *Issue) tokenType() string {
	if t := h.auth.names.headerType; t != "" {
		return t
	}
	return "Bearer"
}

func (h *Issue) refuse(w http.ResponseWriter, r *http.Request, e *authError) error {
	if c := h.logger.Check(zapcore.DebugLevel, "request refused"); c != nil {
		c.Write(zap.String("reason", e.code), zap.Int("status", e.status),
			zap.String("remote_ip", clientIP(r)), zap.String("path", r.URL.Path))
	}
	h.app.refusals.write(w, e)
	return nil
}

func (h *Issue) mintFailed(w http.ResponseWriter, r *http.Request, err error) error {
	h.logger.Error("minting a token failed", zap.Error(err))
	return h.refuse(w, r, errMintFailed)
}

// writeJSON sends a JSON body that must not be cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, _ := json.Marshal(v)
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// jwksCacheControl is sent with the app's JWK Set.
const jwksCacheControl = "public, max-age=300"

// serveJWKS answers the jwt_issue jwks route with the app's public keys.
func (h *Issue) serveJWKS(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		h.app.refusals.write(w, errMethodNotAllowed)
		return nil
	}
	body := h.app.ring.PublicJWKS()
	hdr := w.Header()
	hdr.Set("Content-Type", "application/jwk-set+json")
	hdr.Set("Cache-Control", jwksCacheControl)
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	_, err := w.Write(body)
	return err
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Issue)(nil)
	_ caddy.Validator             = (*Issue)(nil)
	_ caddyhttp.MiddlewareHandler = (*Issue)(nil)
)
