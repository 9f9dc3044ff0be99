package jwtextended

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/strictjson"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/google/uuid"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/revocation"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/users"
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

	// Where refresh and logout look for tokens. Default: the app's, with
	// cookie added when tokens are delivered as cookies.
	TokenFrom []string `json:"token_from,omitempty"`

	// The names refresh and logout look tokens up under; each defaults to
	// the app's setting of the same name (see App).
	HeaderName     string  `json:"header_name,omitempty"`
	HeaderType     *string `json:"header_type,omitempty"`
	QueryParam     string  `json:"query_param,omitempty"`
	JSONKey        string  `json:"json_key,omitempty"`
	RefreshJSONKey string  `json:"refresh_json_key,omitempty"`

	// Limits on failed logins (login and reauth routes). Default: 5 per
	// username and 20 per client IP within 15 minutes.
	Throttle *ThrottleConfig `json:"throttle,omitempty"`

	// How long reading a request body on the login, refresh, reauth and
	// logout routes may take, from the end of the request's headers; a
	// client that is slower gets 408. Default: 10s.
	BodyTimeout caddy.Duration `json:"body_timeout,omitempty"`

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
	RotateGrace caddy.Duration `json:"rotate_grace,omitempty"`

	app           *App
	logger        *zap.Logger
	creds         *users.Credentials
	throttle      *users.Throttle
	sources       []tokenSource
	names         *tokenNames
	deliverJSON   bool
	deliverCookie bool
	// placeholders holds number and duration settings given as
	// placeholder text, until Provision.
	placeholders placeholderSettings
}

// defaultRotateGrace is rotate_grace's default; minRotateGrace its floor.
const (
	defaultRotateGrace = 10 * time.Second
	minRotateGrace     = time.Second
)

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

// Provision binds the handler to the `jwt` app, checks and loads the users
// and prepares token delivery and throttling.
func (h *Issue) Provision(ctx caddy.Context) error {
	var err error
	if h.app, err = jwtApp(ctx); err != nil {
		return err
	}
	h.logger = ctx.Logger()
	if err := h.resolvePlaceholders(); err != nil {
		return err
	}
	if err := resolveSettings("jwt_issue", h, h.placeholders); err != nil {
		return err
	}
	if h.BodyTimeout == 0 {
		h.BodyTimeout = caddy.Duration(defaultBodyTimeout)
	}
	h.placeholders = nil
	if h.RotateGrace == 0 {
		h.RotateGrace = caddy.Duration(defaultRotateGrace)
	} else if time.Duration(h.RotateGrace) < minRotateGrace {
		return fmt.Errorf("jwt_issue: rotate_grace must be at least %s (got %s): it is also how often a family may rotate and write to storage", minRotateGrace, time.Duration(h.RotateGrace))
	}
	for _, d := range h.Deliver {
		switch d {
		case "json":
			h.deliverJSON = true
		case "cookie":
			h.deliverCookie = true
		default:
			return fmt.Errorf("jwt_issue: deliver %q is not valid; use json and/or cookie", d)
		}
	}
	if len(h.Deliver) == 0 {
		h.deliverJSON = true
	}
	if h.names, err = h.app.handlerNames("jwt_issue", h.HeaderName, h.HeaderType, h.QueryParam, h.JSONKey, h.RefreshJSONKey); err != nil {
		return err
	}
	h.sources = h.app.sources
	if len(h.TokenFrom) > 0 {
		if h.sources, err = parseTokenSources("jwt_issue token_from", h.TokenFrom); err != nil {
			return err
		}
	} else if h.deliverCookie && !hasSource(h.sources, sourceCookie) {
		// refresh and logout must find the cookies this handler sets
		h.sources = append(append([]tokenSource(nil), h.sources...), sourceCookie)
	}
	if h.Throttle == nil || !h.Throttle.Disabled {
		var cfg ThrottleConfig
		if h.Throttle != nil {
			if cfg, err = h.Throttle.resolved(); err != nil {
				return err
			}
		}
		if cfg.MaxPerUser < 0 || cfg.MaxPerIP < 0 || cfg.Window < 0 || cfg.Capacity < 0 {
			return errors.New("jwt_issue: throttle values must not be negative")
		}
		h.throttle = newThrottle(cfg, h.app.now)
	}
	if h.Login != "" || h.Refresh != "" || h.Reauth != "" {
		// a verify-only app (e.g. jwks_url alone) cannot mint: say so at load
		if _, err := h.app.ring.Signer(); err != nil {
			return fmt.Errorf("jwt_issue: %v", err)
		}
	}
	h.creds, err = loadCredentials(h.Users, h.UsersFile, h.app.IdentityClaim, h.app.now, h.logger)
	return err
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
		{"token_from", pointers(h.TokenFrom)},
		{"token names", []*string{&h.HeaderName, &h.QueryParam, &h.JSONKey, &h.RefreshJSONKey}},
	}
	if h.HeaderType != nil {
		settings = append(settings, struct {
			name string
			vals []*string
		}{"header_type", []*string{h.HeaderType}})
	}
	for _, s := range settings {
		if err := resolveEach(s.name, s.vals...); err != nil {
			return fmt.Errorf("jwt_issue: %v", err)
		}
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

// Validate refuses configurations that cannot work.
func (h *Issue) Validate() error {
	routes := map[string]string{}
	for _, r := range []struct{ name, path string }{
		{"login", h.Login}, {"refresh", h.Refresh}, {"reauth", h.Reauth}, {"logout", h.Logout}, {"jwks", h.JWKS},
	} {
		if r.path == "" {
			continue
		}
		if !strings.HasPrefix(r.path, "/") {
			return fmt.Errorf("jwt_issue: %s path %q must start with /", r.name, r.path)
		}
		if other, dup := routes[r.path]; dup {
			return fmt.Errorf("jwt_issue: %s and %s share the path %q; give each route its own path", other, r.name, r.path)
		}
		routes[r.path] = r.name
	}
	if len(routes) == 0 {
		return errors.New("jwt_issue: no route configured; set at least one of login, refresh, reauth, logout, jwks")
	}
	paths := map[string]string{"login": h.Login, "refresh": h.Refresh, "reauth": h.Reauth}
	seen := map[string]bool{}
	for _, route := range h.Upstream {
		path, ok := paths[route]
		switch {
		case !ok:
			return fmt.Errorf("jwt_issue: upstream %q is not a route that can be delegated; use login, reauth or refresh", route)
		case path == "":
			return fmt.Errorf("jwt_issue: upstream %s, but there is no %s route; add `%s <path> upstream`", route, route, route)
		case seen[route]:
			return fmt.Errorf("jwt_issue: upstream %s is given twice", route)
		}
		seen[route] = true
	}
	local := (h.Login != "" && !seen["login"]) || (h.Reauth != "" && !seen["reauth"])
	if local && len(h.Users) == 0 && h.UsersFile == "" {
		return errors.New("jwt_issue: login and reauth need users; add `user <name> <bcrypt-hash>` lines (make a hash with `caddy hash-password`) or users_file, or delegate them to the app behind Caddy with `login <path> upstream`")
	}
	if h.LogoutAll && h.Logout == "" {
		return errors.New("jwt_issue: logout_all needs a logout route; write `logout <path> all`")
	}
	return nil
}

// delegates reports whether route (login, reauth, refresh) is delegated to
// the next handler.
func (h *Issue) delegates(route string) bool { return slices.Contains(h.Upstream, route) }

func (h *Issue) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	p := r.URL.Path
	var serve func(http.ResponseWriter, *http.Request, caddyhttp.Handler) error
	switch {
	case p == "":
	case p == h.Login:
		serve = h.serveLogin
	case p == h.Refresh:
		serve = h.serveRefresh
	case p == h.Reauth:
		serve = h.serveReauth
	case p == h.Logout:
		serve = func(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error { return h.serveLogout(w, r) }
	case p == h.JWKS:
		return h.serveJWKS(w, r)
	}
	if serve == nil {
		return next.ServeHTTP(w, r)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.app.writeAuthError(w, errMethodNotAllowed)
		return nil
	}
	defer h.boundBodyRead(w)()
	return serve(w, r, next)
}

// boundBodyRead sets the connection's read deadline to body_timeout from
// now, so that a client sending its body slowly cannot hold the route (and
// a connection) for longer; the returned func lifts it again. A writer
// without deadlines (a test recorder) is left as it is.
func (h *Issue) boundBodyRead(w http.ResponseWriter) func() {
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(time.Duration(h.BodyTimeout))) != nil {
		return func() {}
	}
	return func() { _ = rc.SetReadDeadline(time.Time{}) }
}

// Refusals of the issuer's routes.
var (
	errBadCredentials    = newAuthError(401, "bad_credentials", "Bad username or password").asNoToken()
	errTooManyFailures   = newAuthError(429, "throttled", "Too many failed login attempts")
	errMethodNotAllowed  = newAuthError(405, "method_not_allowed", "Method Not Allowed")
	errUnsupportedMedia  = newAuthError(415, "unsupported_media_type", "Content-Type must be application/json or application/x-www-form-urlencoded")
	errBodyTooLarge      = newAuthError(413, "body_too_large", "Request body is too large")
	errBodyTimeout       = newAuthError(408, "body_timeout", "Request body took too long")
	errBadJSONBody       = newAuthError(400, "bad_request", "Request body is not valid JSON")
	errJSONNotObject     = newAuthError(400, "bad_request", "Request body must be a JSON object")
	errBadFormBody       = newAuthError(400, "bad_request", "Request body is not a valid form")
	errEmptyBody         = newAuthError(400, "bad_request", "Missing request body")
	errUnknownUser       = newAuthError(401, "unknown_user", "User not found")
	errIdentityMismatch  = newAuthError(401, "identity_mismatch", "Access and refresh tokens belong to different users")
	errForeignToken      = newAuthError(401, "foreign_token", "Only refresh tokens issued here can be used here")
	errNotRevocable      = newAuthError(400, "not_revocable", "Token has no jti and cannot be revoked")
	errRevocationFailed  = newAuthError(503, "revocation_unavailable", "Logout could not be recorded; try again")
	errRotationFailed    = newAuthError(503, "revocation_unavailable", "Refresh could not be recorded; try again")
	errMintFailed        = newAuthError(500, "mint_failed", "Token could not be issued")
	errFieldDuplicated   = fieldRefusals{format: "%q is given more than once"}
	errFieldMissing      = fieldRefusals{format: "Missing %q in request body"}
	errFieldNotString    = fieldRefusals{format: "%q must be a string"}
	credentialFieldNames = []string{"username", "password"}
)

// fieldRefusals are the 400s about one body field, built once per field
// name (the names come from configuration: refresh_json_key, say).
type fieldRefusals struct {
	format string
	m      sync.Map // field name -> *authError
}

func (f *fieldRefusals) of(name string) *authError {
	if e, ok := f.m.Load(name); ok {
		return e.(*authError)
	}
	e, _ := f.m.LoadOrStore(name, newAuthError(400, "bad_request", fmt.Sprintf(f.format, name)))
	return e.(*authError)
}

// tokenResponse is the body of a successful login, reauth or refresh.
type tokenResponse struct {
	Msg          string `json:"msg,omitempty"`
	AccessToken  string `json:"access_token,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	TokenType    string `json:"token_type,omitempty"`
	ExpiresIn    int64  `json:"expires_in"`
}

func (h *Issue) serveLogin(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if h.delegates("login") {
		return h.serveDelegatedCredentials(w, r, next, true)
	}
	return h.serveCredentials(w, r, true)
}

func (h *Issue) serveReauth(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if h.delegates("reauth") {
		return h.serveDelegatedCredentials(w, r, next, false)
	}
	return h.serveCredentials(w, r, false)
}

// serveCredentials is login (withRefresh) and reauth: check the
// credentials, then mint a fresh access token (and for login a refresh
// token).
func (h *Issue) serveCredentials(w http.ResponseWriter, r *http.Request, withRefresh bool) error {
	fields, e := readBodyFields(w, r, credentialFieldNames, true)
	if e != nil {
		return h.refuse(w, r, e)
	}
	name, password := fields["username"], fields["password"]
	acct, err := h.creds.Login(h.throttle, name, password, clientIP(r))
	if err != nil {
		var throttled *users.ThrottledError
		if errors.As(err, &throttled) {
			return h.throttled(w, r, throttled.Wait)
		}
		h.app.countLoginFailure()
		return h.refuse(w, r, errBadCredentials)
	}
	return h.issueLogin(w, r, acct.Name, acct.Claims, withRefresh)
}

// throttled refuses a login with 429 and Retry-After.
func (h *Issue) throttled(w http.ResponseWriter, r *http.Request, wait time.Duration) error {
	secs := int64((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	h.app.countThrottled()
	return h.refuse(w, r, errTooManyFailures)
}

// issueLogin answers a successful login (withRefresh) or reauth of
// identity, local or delegated: a fresh access token (and for a login a
// refresh token) with the user's claims, delivered as configured.
func (h *Issue) issueLogin(w http.ResponseWriter, r *http.Request, identity string, claims map[string]any, withRefresh bool) error {
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		// access logs show who logged in
		repl.Set("http.auth.user.id", identity)
	}
	var family string
	if h.RotateRefresh {
		if !withRefresh {
			family = h.sessionFamily(r, identity)
		}
		if family == "" {
			family = uuid.NewString()
		}
	}
	access, err := h.app.mint(token.Request{Type: token.TypeAccess, Identity: identity, Fresh: true, Claims: claims, CSRF: h.deliverCookie && h.app.csrfProtect(), Family: family})
	if err != nil {
		return h.mintFailed(w, r, err)
	}
	var refresh *token.Minted
	if withRefresh {
		if refresh, err = h.app.mint(token.Request{Type: token.TypeRefresh, Identity: identity, Claims: claims, CSRF: h.deliverCookie && h.app.csrfProtect(), Family: family}); err != nil {
			return h.mintFailed(w, r, err)
		}
	}
	msg := "Login successful"
	if !withRefresh {
		msg = "Reauthentication successful"
	}
	h.deliver(w, r, msg, access, refresh)
	return nil
}

// sessionFamily is the family a reauth stays in under rotate_refresh: that
// of a valid, unrevoked token of the same identity the request presents,
// read as the handler reads tokens (the access token, else the refresh
// token as the refresh route reads it); "" when there is none, and the
// reauth starts a family of its own. A logout then revokes the session's
// family, with the login's tokens in it.
func (h *Issue) sessionFamily(r *http.Request, identity string) string {
	for _, src := range []struct{ cookie, typ string }{
		{h.app.cookieName(token.TypeAccess), token.TypeAccess},
		{h.app.cookieName(token.TypeRefresh), token.TypeRefresh},
	} {
		tok, e := h.app.authenticateNamed(r, h.sources, h.names, src.cookie, src.typ)
		if e == nil && tok.Identity == identity && tok.Family != "" && h.app.issuedHere(tok) {
			// only a family minted here: another issuer's token names none
			// of this app's sessions
			return tok.Family
		}
	}
	return ""
}

func (h *Issue) serveRefresh(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	tok, e := h.app.authenticateNamed(r, h.sources, h.names, h.app.cookieName(token.TypeRefresh), token.TypeRefresh)
	if e != nil {
		if e == errRevoked && h.RotateRefresh {
			h.revokePresentedFamily(r)
		}
		return h.refuse(w, r, e)
	}
	if !h.app.issuedHere(tok) {
		// another trusted issuer's refresh token would be turned into a
		// local one, with the local user's claims
		return h.refuse(w, r, errForeignToken)
	}
	var claims map[string]any
	switch {
	case h.delegates("refresh"):
		var done bool
		var err error
		if claims, done, err = h.confirmRefresh(w, r, next, tok); done {
			return err
		}
	case h.delegates("login"):
		// the app's users are not known here: the login put the app's
		// claims into the refresh token, and they carry on
		claims = h.app.tokenClaims(tok)
	default:
		acct := h.creds.Lookup(tok.Identity)
		if acct == nil {
			return h.refuse(w, r, errUnknownUser)
		}
		claims = acct.Claims
	}
	var family string
	var refresh *token.Minted
	if h.RotateRefresh {
		var e *authError
		if refresh, family, e = h.rotate(r, tok, claims); e != nil {
			return h.refuse(w, r, e)
		}
	}
	access, err := h.app.mint(token.Request{Type: token.TypeAccess, Identity: tok.Identity, Claims: claims, CSRF: h.deliverCookie && h.app.csrfProtect(), Family: family})
	if err != nil {
		return h.mintFailed(w, r, err)
	}
	h.deliver(w, r, "Token refreshed", access, refresh)
	return nil
}

// rotate decides a refresh under rotate_refresh against the family's
// record (revocation.Store.Refresh) and returns the new refresh token, or
// nil when the presented one stays (within the grace), and the family of
// the access token to mint. Refreshes of one family are serialized on
// this instance (and its reloads), so two concurrent refreshes of one
// token cannot both rotate; across instances sharing storage, they can
// within the sync interval (docs/issuer.md).
func (h *Issue) rotate(r *http.Request, tok *token.Verified, claims map[string]any) (*token.Minted, string, *authError) {
	if tok.JTI == "" {
		return nil, "", errNotRevocable
	}
	family := tok.Family
	if family == "" {
		// minted before rotation was turned on: its family is derived from
		// its jti, so that presenting it again is seen as reuse
		family = legacyFamily(tok.JTI)
		if h.app.revoked.isRevoked(family) {
			return nil, "", errRevoked
		}
	}
	unlock := h.app.revoked.lockFamily(family)
	defer unlock()
	switch h.app.revoked.refreshVerdict(family, tok.JTI, issuedAt(tok), time.Duration(h.RotateGrace)) {
	case revocation.Keep:
		return nil, family, nil
	case revocation.Reuse:
		h.revokeFamily(r, family)
		return nil, "", errRevoked
	}
	refresh, err := h.app.mint(token.Request{Type: token.TypeRefresh, Identity: tok.Identity, Claims: claims, CSRF: h.deliverCookie && h.app.csrfProtect(), Family: family})
	if err != nil {
		h.logger.Error("minting a token failed", zap.Error(err))
		return nil, "", errMintFailed
	}
	iat, err := mintedAt(refresh.Raw)
	if err != nil {
		h.logger.Error("reading a minted token failed", zap.Error(err))
		return nil, "", errMintFailed
	}
	ctx, cancel := revocationContext(r)
	defer cancel()
	if err := h.app.revoked.rotated(ctx, family, tok.JTI, refresh.JTI, iat, refresh.Exp); err != nil {
		h.logger.Error("recording a refresh token rotation failed", zap.Error(err))
		return nil, "", errRotationFailed
	}
	return refresh, family, nil
}

// legacyFamilySpace names the families derived for refresh tokens minted
// without one.
var legacyFamilySpace = uuid.MustParse("5f8c7b3e-2d41-4c1e-9a57-6b0e3d2f9c10")

// legacyFamily is the family of a refresh token minted before rotation
// was turned on: a UUID derived from its jti.
func legacyFamily(jti string) string {
	return uuid.NewSHA1(legacyFamilySpace, []byte(jti)).String()
}

// issuedAt is a verified token's iat in unix seconds, 0 without one.
func issuedAt(tok *token.Verified) int64 {
	n, ok := tok.Claims["iat"].(json.Number)
	if !ok {
		return 0
	}
	f, err := n.Float64()
	if err != nil || f < 0 {
		return 0
	}
	return int64(f)
}

// mintedAt reads the iat of a token this app just minted.
func mintedAt(raw string) (time.Time, error) {
	_, rest, _ := strings.Cut(raw, ".")
	payload, _, _ := strings.Cut(rest, ".")
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return time.Time{}, err
	}
	var claims struct {
		IAT int64 `json:"iat"`
	}
	if err := json.Unmarshal(b, &claims); err != nil {
		return time.Time{}, err
	}
	return time.Unix(claims.IAT, 0), nil
}

// revokePresentedFamily handles a revoked refresh token presented for
// refresh under rotation: it may be a stolen, already rotated token, so
// every token of its family is revoked (RFC 9700 4.14.2).
func (h *Issue) revokePresentedFamily(r *http.Request) {
	raw, _, e := extractTokenNamed(r, h.sources, h.names, h.app.cookieName(token.TypeRefresh), true)
	if e != nil {
		return
	}
	tok, e := h.app.verify(raw)
	if e != nil || tok.Type != token.TypeRefresh || tok.Family == "" || !h.app.issuedHere(tok) {
		return
	}
	h.revokeFamily(r, tok.Family)
}

func (h *Issue) revokeFamily(r *http.Request, family string) {
	if family == "" || h.app.revoked.isRevoked(family) {
		return
	}
	ctx, cancel := revocationContext(r)
	defer cancel()
	if err := h.app.revoked.revoke(ctx, family, h.familyEnd()); err != nil {
		h.logger.Error("revoking a refresh token family failed", zap.Error(err))
		return
	}
	h.logger.Warn("refresh token reuse: token family revoked", zap.String("family", family), zap.String("remote_ip", clientIP(r)))
}

// familyEnd is when every token of a family minted up to now has expired:
// now + refresh_ttl (+ leeway). A family's revocation is kept until then.
func (h *Issue) familyEnd() time.Time {
	return h.app.now().Add(h.app.refreshTTL() + time.Duration(h.app.Leeway))
}

// serveLogout revokes the presented access token (token sources) and
// refresh token (body field refresh_token, or the refresh_token_cookie
// cookie), then clears the cookies. At least one valid token is needed; an
// expired or already revoked one is skipped, anything else refused.
func (h *Issue) serveLogout(w http.ResponseWriter, r *http.Request) error {
	key := h.names.orDefault().refreshJSONKey // refresh_json_key: where the body holds the refresh token
	fields, e := readBodyFields(w, r, []string{key}, false)
	if e != nil {
		return h.refuse(w, r, e)
	}
	access, accessErr := h.app.authenticateNamed(r, h.sources, h.names, h.app.cookieName(token.TypeAccess), token.TypeAccess)
	if accessErr != nil && !skippableAtLogout(accessErr) {
		return h.refuse(w, r, accessErr)
	}
	refresh, e := h.logoutRefreshToken(r, fields[key], access)
	if e != nil {
		return h.refuse(w, r, e)
	}
	if access == nil && refresh == nil {
		if accessErr == nil {
			accessErr = h.names.orDefault().missingHeader
		}
		return h.refuse(w, r, accessErr)
	}
	if e := h.revokeAtLogout(r, access, refresh); e != nil {
		return h.refuse(w, r, e)
	}
	if h.deliverCookie {
		h.app.clearTokenCookies(w, r)
	}
	writeJSON(w, http.StatusOK, map[string]string{"msg": "Logged out"})
	return nil
}

// logoutRefreshToken finds the refresh token a logout presents: the body's
// refresh_token, or the refresh cookie. It returns nil when there is none,
// or when it is expired or already revoked (nothing left to revoke).
func (h *Issue) logoutRefreshToken(r *http.Request, raw string, access *token.Verified) (*token.Verified, *authError) {
	fromCookie := false
	if raw == "" && hasSource(h.sources, sourceCookie) {
		if v, e := tokenFromCookie(r, h.app.cookieName(token.TypeRefresh)); e == nil {
			raw, fromCookie = v, true
		} else if e == errTooLarge {
			return nil, e
		}
	}
	if raw == "" {
		return nil, nil
	}
	tok, e := h.app.verify(raw)
	switch {
	case e == errExpired:
		return nil, nil
	case e != nil:
		return nil, e
	case tok.Type != token.TypeRefresh:
		return nil, errAccessNotAllowed
	case !h.app.issuedHere(tok):
		return nil, errForeignToken
	}
	// A refresh cookie is ambient. A valid access token proves the request
	// is intended (from a header, which a forged request cannot set, or
	// from a cookie whose CSRF header authenticate checked); without one,
	// the header must match the refresh token's csrf claim.
	if fromCookie && access == nil {
		if e := h.app.checkCSRF(r, tok); e != nil {
			return nil, e
		}
	}
	if access != nil && tok.Identity != access.Identity {
		return nil, errIdentityMismatch
	}
	if h.app.revoked.isRevoked(tok.JTI) || (tok.Family != "" && h.app.revoked.isRevoked(tok.Family)) {
		return nil, nil
	}
	return tok, nil
}

// revokeAtLogout revokes the tokens a logout presents and, with
// rotate_refresh, their family: the whole login ends. With logout_all it
// first revokes every token of their identity (every device), but only
// when a token minted here vouches for that identity: a token of another
// trusted issuer may name a local user, and must not log them out
// everywhere; such a logout ends the presented tokens only.
func (h *Issue) revokeAtLogout(r *http.Request, toks ...*token.Verified) *authError {
	for _, t := range toks {
		if t != nil && t.JTI == "" {
			return errNotRevocable
		}
	}
	ctx, cancel := revocationContext(r)
	defer cancel()
	if h.LogoutAll {
		if identity, ok := h.vouchedIdentity(toks...); ok {
			// first: when it cannot be stored, the logout answers 503 (the
			// identity is refused on this instance at once either way)
			if err := h.app.revokeIdentity(ctx, identity); err != nil {
				h.logger.Error("logout all: revoking the identity failed", zap.Error(err))
				return errRevocationFailed
			}
		} else {
			h.logger.Warn("logout all: no presented token was minted here, so only the presented tokens are revoked, not every token of the identity",
				zap.String("remote_ip", clientIP(r)))
		}
	}
	var families []string
	for _, t := range toks {
		if t == nil {
			continue
		}
		if err := h.app.revoked.revoke(ctx, t.JTI, time.Unix(t.Exp, 0)); err != nil {
			h.logger.Error("logout: revoking a token failed", zap.String("type", t.Type), zap.Error(err))
			return errRevocationFailed
		}
		// every family presented (a reauth may have started its own), but
		// only a family minted here is this app's to end
		if t.Family != "" && h.app.issuedHere(t) && !slices.Contains(families, t.Family) {
			families = append(families, t.Family)
		}
	}
	if !h.RotateRefresh {
		return nil
	}
	for _, family := range families {
		if err := h.app.revoked.revoke(ctx, family, h.familyEnd()); err != nil {
			h.logger.Error("logout: revoking a token family failed", zap.Error(err))
			return errRevocationFailed
		}
	}
	return nil
}

// vouchedIdentity is the identity of the first presented token minted
// here (signed with this app's own key), if any. The presented tokens
// share one identity (logoutRefreshToken checks it).
func (h *Issue) vouchedIdentity(toks ...*token.Verified) (string, bool) {
	for _, t := range toks {
		if t != nil && h.app.issuedHere(t) {
			return t.Identity, true
		}
	}
	return "", false
}

// skippableAtLogout: no access token, or one that is dead anyway, does
// not stop a logout that presents a refresh token.
func skippableAtLogout(e *authError) bool {
	return e.missing || e == errExpired || e == errRevoked
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
		resp.TokenType = "Bearer"
	} else {
		resp.Msg = msg
	}
	if h.deliverCookie {
		h.app.setTokenCookies(w, r, token.TypeAccess, access)
		if refresh != nil {
			h.app.setTokenCookies(w, r, token.TypeRefresh, refresh)
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (h *Issue) refuse(w http.ResponseWriter, r *http.Request, e *authError) error {
	if c := h.logger.Check(zapcore.DebugLevel, "request refused"); c != nil {
		c.Write(zap.String("reason", e.code), zap.Int("status", e.status),
			zap.String("remote_ip", clientIP(r)), zap.String("path", r.URL.Path))
	}
	h.app.writeAuthError(w, e)
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

// readBodyFields reads a JSON or form body of at most maxIssueBody bytes
// and returns the wanted string fields. With required, every field must
// be present and the body must not be empty; otherwise an empty body is
// fine.
func readBodyFields(w http.ResponseWriter, r *http.Request, names []string, required bool) (map[string]string, *authError) {
	body, e := readIssueBody(w, r)
	if e != nil {
		return nil, e
	}
	if len(body) == 0 {
		switch {
		case !required:
			return map[string]string{}, nil
		case !knownMediaType(r):
			return nil, errUnsupportedMedia
		}
		return nil, errEmptyBody
	}
	var out map[string]string
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/json":
		out, e = jsonBodyFields(body, names)
	case "application/x-www-form-urlencoded":
		out, e = formBodyFields(body, names)
	default:
		e = errUnsupportedMedia
	}
	if e != nil {
		return nil, e
	}
	if required {
		for _, n := range names {
			if _, ok := out[n]; !ok {
				return nil, errFieldMissing.of(n)
			}
		}
	}
	return out, nil
}

// readIssueBody reads a request body of at most maxIssueBody bytes, and
// puts it back as the request's body, so that a delegated route passes it
// on to the app intact.
func readIssueBody(w http.ResponseWriter, r *http.Request) ([]byte, *authError) {
	var buf bytes.Buffer
	if r.Body == nil {
		r.Body = http.NoBody
	}
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxIssueBody)); err != nil {
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			return nil, errBodyTooLarge
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil, errBodyTimeout
		}
		return nil, errBadFormBody
	}
	body := buf.Bytes()
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return body, nil
}

// jsonBodyFields reads the wanted string fields of a JSON object body,
// through the same strict reader as tokens: one object, no duplicate names
// (however their case), valid Unicode; null counts as absent.
func jsonBodyFields(body []byte, names []string) (map[string]string, *authError) {
	m, fault := strictjson.Decode(body)
	if m == nil {
		if fault == strictjson.Syntax && json.Valid(body) {
			return nil, errJSONNotObject
		}
		return nil, errBadJSONBody
	}
	out := make(map[string]string, len(names))
	for _, n := range names {
		v, present := m[n]
		if !present || v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return nil, errFieldNotString.of(n)
		}
		out[n] = s
	}
	return out, nil
}

// formBodyFields reads the wanted fields of a form body; a field given
// twice is refused.
func formBodyFields(body []byte, names []string) (map[string]string, *authError) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errBadFormBody
	}
	out := make(map[string]string, len(names))
	for _, n := range names {
		switch len(vals[n]) {
		case 0:
		case 1:
			out[n] = vals[n][0]
		default:
			return nil, errFieldDuplicated.of(n)
		}
	}
	return out, nil
}

func knownMediaType(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/json" || mt == "application/x-www-form-urlencoded"
}

// clientIP is Caddy's client IP (which honours trusted_proxies), or the
// connection's address.
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func hasSource(sources []tokenSource, s tokenSource) bool {
	for _, have := range sources {
		if have == s {
			return true
		}
	}
	return false
}

// revocationContext outlives a client that hangs up mid-logout: a
// revocation that was started is finished.
func revocationContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.Context()), revocationTimeout)
}

// jwksCacheControl is sent with the app's JWK Set.
const jwksCacheControl = "public, max-age=300"

// serveJWKS answers the jwt_issue jwks route with the app's public keys.
func (h *Issue) serveJWKS(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		h.app.writeAuthError(w, errMethodNotAllowed)
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
