package jwtextended

import (
	"crypto/subtle"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func init() {
	caddy.RegisterModule(Auth{})
}

// Auth is the `jwt_auth` handler: it verifies the request's token with the
// `jwt` app's keys and hands the upstream a trustworthy identity in X-Jwt-*
// headers and {http.auth.*} placeholders.
//
// Before anything else it deletes every client-sent request header whose
// name starts with X-Jwt- (case-insensitively, `_` read as `-`).
type Auth struct {
	// Refuse tokens that are not fresh with 401 "Fresh token required".
	FreshRequired bool `json:"fresh_required,omitempty"`

	// Let requests without a token pass on anonymously. A token that is
	// present but invalid is still refused.
	Optional bool `json:"optional,omitempty"`

	// The token type accepted: access (default), refresh or any.
	TokenType string `json:"token_type,omitempty"`

	// Claims the token must carry: each claim must equal one of its
	// values (or, for an array claim, contain one). Otherwise 403.
	Require []ClaimRequirement `json:"require,omitempty"`

	// Where the token is looked up, in order. Default: the app's token_from.
	TokenFrom []string `json:"token_from,omitempty"`

	// The names tokens are looked up under; each defaults to the app's
	// setting of the same name (see App).
	HeaderName     string  `json:"header_name,omitempty"`
	HeaderType     *string `json:"header_type,omitempty"`
	QueryParam     string  `json:"query_param,omitempty"`
	JSONKey        string  `json:"json_key,omitempty"`
	RefreshJSONKey string  `json:"refresh_json_key,omitempty"`

	// Verify CORS preflight requests (OPTIONS with
	// Access-Control-Request-Method) too. Default: they pass untouched,
	// because browsers never send credentials on a preflight.
	VerifyPreflight bool `json:"verify_preflight,omitempty"`

	// Hand refusals to Caddy's handle_errors routes instead of writing the
	// JSON body. {http.error.status_code} is the status and
	// {http.auth.jwt.error} the reason code.
	HandleErrors bool `json:"handle_errors,omitempty"`

	app        *App
	sources    []tokenSource
	names      *tokenNames
	cookieName string
	wantType   string
	logger     *zap.Logger
}

// ClaimRequirement is one `require <claim> <value>...` line.
type ClaimRequirement struct {
	Claim  string   `json:"claim"`
	Values []string `json:"values"`
}

// CaddyModule returns the Caddy module information.
func (Auth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.jwt_auth",
		New: func() caddy.Module { return new(Auth) },
	}
}

// Provision binds the handler to the `jwt` app and prepares its lookup.
func (h *Auth) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	var err error
	if h.app, err = jwtApp(ctx); err != nil {
		return err
	}
	if err := h.resolvePlaceholders(); err != nil {
		return err
	}
	h.wantType = strings.ToLower(h.TokenType)
	if h.wantType == "" {
		h.wantType = token.TypeAccess
	}
	if len(h.TokenFrom) > 0 {
		if h.sources, err = parseTokenSources("jwt_auth token_from", h.TokenFrom); err != nil {
			return err
		}
	} else if err := h.app.followSources(&h.sources, true); err != nil {
		return err
	}
	if h.names, err = h.app.handlerNames("jwt_auth", h.HeaderName, h.HeaderType, h.QueryParam, h.JSONKey, h.RefreshJSONKey); err != nil {
		return err
	}
	h.cookieName = h.app.cookieName(h.wantType)
	return nil
}

// resolvePlaceholders replaces the global placeholders ({env.*}, ...) in
// every setting, once, at load.
func (h *Auth) resolvePlaceholders() error {
	vals := append([]*string{&h.TokenType, &h.HeaderName, &h.QueryParam, &h.JSONKey, &h.RefreshJSONKey}, pointers(h.TokenFrom)...)
	if h.HeaderType != nil {
		vals = append(vals, h.HeaderType)
	}
	for i := range h.Require {
		vals = append(vals, &h.Require[i].Claim)
		vals = append(vals, pointers(h.Require[i].Values)...)
	}
	if err := resolveEach("jwt_auth", vals...); err != nil {
		return fmt.Errorf("jwt_auth: %v", err)
	}
	return nil
}

// Validate refuses settings that cannot work.
func (h *Auth) Validate() error {
	switch h.wantType {
	case token.TypeAccess, token.TypeRefresh, "any":
	default:
		return fmt.Errorf("jwt_auth: token_type %q is not valid; use access, refresh or any", h.TokenType)
	}
	for _, r := range h.Require {
		if r.Claim == "" || len(r.Values) == 0 {
			return fmt.Errorf("jwt_auth: require needs a claim name and at least one value, e.g. `require role admin`")
		}
	}
	return nil
}

func (h *Auth) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	stripJWTHeaders(r.Header)
	if r.Trailer != nil {
		stripJWTTrailers(r)
	}

	if !h.VerifyPreflight && isPreflight(r) {
		return next.ServeHTTP(w, r)
	}

	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	tok, e := h.app.authenticateNamed(r, h.sources, h.names, h.cookieName, h.wantType)
	if e == nil && h.FreshRequired && !tok.IsFresh(h.app.now()) {
		e = errNotFresh
	}
	if e == nil && !h.requirementsMet(tok) {
		e = errForbidden
	}
	if e != nil {
		// Optional routes pass on anonymously when no token was presented,
		// including an Authorization header of another type (as
		// flask-jwt-extended's optional=True does); a presented token that
		// fails is refused, and so is a malformed header of the configured
		// type (`Bearer a b`, `Bearer`), which flask refuses too.
		if h.Optional && (e.missing || e == h.names.orDefault().badHeaderType) {
			h.app.metrics.countRequest(outcomeAnonymous)
			return next.ServeHTTP(w, r)
		}
		return h.refuse(w, r, repl, e)
	}

	h.app.metrics.countRequest(outcomeOK)
	h.app.publish(r, repl, tok)
	return next.ServeHTTP(w, r)
}

// refuse answers a refused request, or hands it to handle_errors.
func (h *Auth) refuse(w http.ResponseWriter, r *http.Request, repl *caddy.Replacer, e *authError) error {
	h.app.metrics.countRefused(e)
	if repl != nil {
		repl.Set("http.auth.jwt.error", e.code)
	}
	if c := h.logger.Check(zapcore.DebugLevel, "request refused"); c != nil {
		c.Write(zap.String("reason", e.code), zap.Int("status", e.status),
			zap.String("remote_ip", clientIP(r)), zap.String("path", r.URL.Path))
	}
	if h.HandleErrors {
		setChallenge(w.Header(), e)
		return caddyhttp.Error(e.status, e)
	}
	h.app.writeAuthError(w, e)
	return nil
}

// handlerNames returns the names a handler looks tokens up under: the
// app's, with the handler's settings in place of those it sets.
func (a *App) handlerNames(who, header string, headerType *string, query, key, refreshKey string) (*tokenNames, error) {
	if header == "" && headerType == nil && query == "" && key == "" && refreshKey == "" {
		return a.names, nil
	}
	if err := checkTokenNames(who, header, headerType); err != nil {
		return nil, err
	}
	if header == "" {
		header = a.HeaderName
	}
	if headerType == nil {
		headerType = a.HeaderType
	}
	if query == "" {
		query = a.QueryParam
	}
	if key == "" {
		key = a.JSONKey
	}
	if refreshKey == "" {
		refreshKey = a.RefreshJSONKey
	}
	return newTokenNames(header, headerType, query, key, refreshKey), nil
}

// authenticate finds the request's token and checks everything the
// contract asks of any protected route: signature and claims, expiry, the
// token type, CSRF for cookie tokens on unsafe methods, and revocation.
// wantType is access, refresh or any. jwt_issue's refresh and logout routes
// use it too.
func (a *App) authenticate(r *http.Request, sources []tokenSource, cookieName, wantType string) (*token.Verified, *authError) {
	return a.authenticateNamed(r, sources, a.names, cookieName, wantType)
}

// authenticateNamed is authenticate with the names the handler looks
// tokens up under; a refresh token's JSON field is read where wantType is
// refresh.
func (a *App) authenticateNamed(r *http.Request, sources []tokenSource, names *tokenNames, cookieName, wantType string) (*token.Verified, *authError) {
	raw, from, e := extractTokenNamed(r, sources, names, cookieName, wantType == token.TypeRefresh)
	if e != nil {
		return nil, e
	}
	tok, e := a.verify(raw)
	if e != nil {
		return nil, e
	}
	if from == sourceCookie && a.csrfProtected(r.Method) {
		if e := a.checkCSRF(r, tok); e != nil {
			return nil, e
		}
	}
	switch {
	case wantType == token.TypeAccess && tok.Type != token.TypeAccess:
		return nil, errRefreshNotAllowed
	case wantType == token.TypeRefresh && tok.Type != token.TypeRefresh:
		return nil, errAccessNotAllowed
	}
	if a.tokenRevoked(tok) {
		return nil, errRevoked
	}
	return tok, nil
}

// tokenRevoked reports whether tok was revoked: its jti, its refresh
// token family, or every token of its identity issued until some time, tok
// included (issued, by iat else nbf, at or before that second, or with
// neither). The ids are hashed once per verified token (presented), not
// per request.
func (a *App) tokenRevoked(tok *token.Verified) bool {
	ids := &presentationOf(tok).ids
	if (tok.JTI != "" && a.revoked.isRevokedID(&ids.jti)) || (tok.Family != "" && a.revoked.isRevokedID(&ids.family)) {
		return true
	}
	before, ok := a.revoked.identityRevokedBeforeID(&ids.identity)
	if !ok {
		return false
	}
	issued, ok := tok.IssuedAt()
	return !ok || issued <= before
}

// verify checks a raw token with the app's verifier (signature, claims,
// the clock; the cache of verified tokens).
func (a *App) verify(raw string) (*token.Verified, *authError) {
	tok, e := a.verifier.Verify(raw)
	if e != nil {
		return nil, coreRefusal(e)
	}
	return tok, nil
}

// csrfProtected reports whether a cookie-borne token needs the double
// submit value for this method. Unless `csrf { methods ... }` lists the
// methods (matched without regard to case), every method but the safe
// ones, spelled exactly (flask-jwt-extended lists POST PUT PATCH DELETE
// instead, which lets "post" or an extension method through while an app
// may route it). Never with `csrf { protect off }`.
func (a *App) csrfProtected(method string) bool {
	if !a.csrf.protect {
		return false
	}
	if a.csrf.methods != nil {
		for _, m := range a.csrf.methods {
			if strings.EqualFold(m, method) {
				return true
			}
		}
		return false
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

// checkCSRF compares the request's double submit value with the token's
// csrf claim: the csrf header (refresh_header for a refresh token), or
// when it is absent and `check_form` is on, the form field of a form body,
// in the order flask-jwt-extended reads them. Nothing is checked with protect off.
func (a *App) checkCSRF(r *http.Request, tok *token.Verified) *authError {
	if !a.csrf.protect {
		return nil
	}
	header, field := a.csrf.header, a.csrf.formField
	if tok.Type == token.TypeRefresh {
		header, field = a.csrf.refreshHeader, a.csrf.refreshFormField
	}
	got := r.Header.Get(header)
	if got == "" && a.csrf.checkForm {
		got = formCSRF(r, field)
	}
	if got == "" {
		return errMissingCSRF
	}
	if tok.CSRF == "" {
		return errMissingCSRFClaim
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(tok.CSRF)) != 1 {
		return errCSRFMismatch
	}
	return nil
}

// requirementsMet checks the `require` lines: each claim must be a string
// equal to one of its values, or an array holding such a string. Nothing
// else meets a requirement: not a nested array ([["admin"]]), an object, a
// number or a boolean, whose text could be made to look like the value.
func (h *Auth) requirementsMet(tok *token.Verified) bool {
	for _, req := range h.Require {
		if !claimMatches(tok.Claims[req.Claim], req.Values) {
			return false
		}
	}
	return true
}

func claimMatches(v any, want []string) bool {
	switch x := v.(type) {
	case string:
		return slices.Contains(want, x)
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok && slices.Contains(want, s) {
				return true
			}
		}
	}
	return false
}

// Header names set for the upstream, in canonical form so that setting
// them allocates no new key.
const (
	hdrIdentity = "X-Jwt-Identity"
	hdrType     = "X-Jwt-Type"
	hdrFresh    = "X-Jwt-Fresh"
	hdrJTI      = "X-Jwt-Jti"
	hdrExp      = "X-Jwt-Exp"
	hdrClaims   = "X-Jwt-Claims"
)

// publish hands the verified identity to the upstream and to placeholders.
// Everything but freshness was rendered when the token was verified, so a
// cached token costs one small allocation here.
func (a *App) publish(r *http.Request, repl *caddy.Replacer, tok *token.Verified) {
	isFresh := tok.IsFresh(a.now())
	fresh := "false"
	if isFresh {
		fresh = "true"
	}
	// One backing array; each header gets its own capacity-1 slice of it,
	// so a later handler that edits or appends to one touches nothing else.
	vals := make([]string, 6)
	vals[0], vals[1], vals[2], vals[3], vals[4], vals[5] = tok.Identity, tok.Type, fresh, tok.JTI, tok.ExpText, tok.PayloadB64
	h := r.Header
	h[hdrIdentity] = vals[0:1:1]
	h[hdrType] = vals[1:2:2]
	h[hdrFresh] = vals[2:3:3]
	h[hdrJTI] = vals[3:4:4]
	h[hdrExp] = vals[4:5:5]
	h[hdrClaims] = vals[5:6:6]
	if repl == nil {
		return
	}
	// Every placeholder comes from one provider prepared with the token,
	// one for each freshness: far less than growing the replacer's map
	// (its first entry alone costs a map allocation per request).
	p := presentationOf(tok)
	if isFresh {
		repl.Map(p.fresh)
	} else {
		repl.Map(p.stale)
	}
}

// stripJWTHeaders deletes every header whose name, case-insensitively and
// with `_` (and `.`) read as `-`, starts with X-Jwt-, and removes such names from
// Connection (which would make a proxy drop the headers this module sets).
// It allocates nothing when there is nothing to strip.
func stripJWTHeaders(h http.Header) {
	for name := range h {
		if hasJWTPrefix(name) {
			delete(h, name)
		}
	}
	conn, ok := h["Connection"]
	if !ok || !connectionNamesJWT(conn) {
		return
	}
	var kept []string
	for _, line := range conn {
		for _, tok := range strings.Split(line, ",") {
			tok = strings.TrimSpace(tok)
			if tok != "" && !hasJWTPrefix(tok) {
				kept = append(kept, tok)
			}
		}
	}
	if len(kept) == 0 {
		delete(h, "Connection")
		return
	}
	h["Connection"] = []string{strings.Join(kept, ", ")}
}

// connectionNamesJWT reports whether a Connection header lists an X-Jwt-*
// name, without allocating (most requests carry "keep-alive" or
// "Keep-Alive").
func connectionNamesJWT(lines []string) bool {
	for _, line := range lines {
		for line != "" {
			var tok string
			tok, line, _ = strings.Cut(line, ",")
			if hasJWTPrefix(strings.TrimSpace(tok)) {
				return true
			}
		}
	}
	return false
}

// stripJWTTrailers keeps X-Jwt-* names out of the request's trailers too:
// Caddy's reverse_proxy forwards request trailers, and some upstreams merge
// trailers into headers. net/http fills the trailer values in only when the
// body reaches EOF, so they are stripped now and again at EOF.
func stripJWTTrailers(r *http.Request) {
	stripJWTHeaders(r.Trailer)
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &jwtTrailerStripper{ReadCloser: r.Body, trailer: r.Trailer}
	}
}

// jwtTrailerStripper strips X-Jwt-* trailers when the body hits EOF.
type jwtTrailerStripper struct {
	io.ReadCloser
	trailer http.Header
}

func (b *jwtTrailerStripper) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		stripJWTHeaders(b.trailer)
	}
	return n, err
}

func hasJWTPrefix(name string) bool {
	const p = "x-jwt-"
	if len(name) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c == '_' || c == '.' {
			// CGI and PHP backends fold '_' and '.' onto '-'
			c = '-'
		}
		if c != p[i] {
			return false
		}
	}
	return true
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Auth)(nil)
	_ caddy.Validator             = (*Auth)(nil)
	_ caddyhttp.MiddlewareHandler = (*Auth)(nil)
)
