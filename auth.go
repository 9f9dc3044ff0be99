package jwtextended

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

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
// Before anything else, on the first of the module's handlers a request
// meets, every client-sent request header whose name starts with X-Jwt-
// (case-insensitively, `_` and `.` read as `-`) is deleted (boundary.go).
type Auth struct {
	// Refuse tokens that are not fresh with 401 "Fresh token required" and
	// the step-up challenge of RFC 9470 (error="insufficient_user_authentication").
	FreshRequired bool `json:"fresh_required,omitempty"`

	// Also refuse, as not fresh, a token whose auth_time is older than
	// this, or that has no auth_time; the challenge then carries
	// max_age="<seconds>". Independent of fresh_required: each setting
	// given must hold. Default: no limit.
	MaxAge WeakDuration `json:"max_age,omitempty"`

	// Also refuse, as not fresh, a token whose acr is not one of these
	// values; the challenge then carries acr_values="<values>".
	ACR []string `json:"acr,omitempty"`

	// Let requests without a token pass on anonymously. A token that is
	// present but invalid is still refused.
	Optional bool `json:"optional,omitempty"`

	// The token type accepted: access (default), refresh or any.
	TokenType string `json:"token_type,omitempty"`

	// Claims the token must carry: each claim must equal one of its
	// values (or, for an array claim, contain one). Otherwise 403.
	Require []ClaimRequirement `json:"require,omitempty"`

	// Where and under which names this handler looks tokens up; each
	// setting left unset takes the jwt app's.
	TokenLookup

	// Verify CORS preflight requests (OPTIONS with
	// Access-Control-Request-Method) too. Default: they pass untouched,
	// because browsers never send credentials on a preflight.
	VerifyPreflight bool `json:"verify_preflight,omitempty"`

	// Hand refusals to Caddy's handle_errors routes instead of writing the
	// JSON body. {http.error.status_code} is the status and
	// {http.auth.jwt.error} the reason code.
	HandleErrors bool `json:"handle_errors,omitempty"`

	app      *App
	auth     *authenticator
	wantType string
	maxAge   time.Duration
	// stepUp is this handler's refusal of a token that is not fresh
	// enough, its challenge naming max_age and acr_values as configured.
	stepUp *authError
	logger *zap.Logger
}

// ClaimRequirement is one `require <claim> <value>...` line.
type ClaimRequirement struct {
	// The claim's name, at the top level of the payload.
	Claim string `json:"claim"`
	// The values accepted: the claim must be one of them as a string, or
	// an array holding one of them.
	Values []string `json:"values"`
}

// CaddyModule returns the Caddy module information.
func (Auth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.jwt_auth",
		New: func() caddy.Module { return new(Auth) },
	}
}

// Provision binds the handler to the `jwt` app and builds its
// authenticator.
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
	if h.maxAge, err = h.MaxAge.resolve("jwt_auth", "max_age"); err != nil {
		return err
	}
	h.stepUp = stepUpRefusal(h.maxAge, h.ACR)
	var own []tokenSource
	if len(h.TokenFrom) > 0 {
		if own, err = parseTokenSources("jwt_auth token_from", h.TokenFrom); err != nil {
			return err
		}
	} else if err := h.app.followLookup(true); err != nil {
		return err
	}
	names, err := handlerNames("jwt_auth", h.TokenLookup, h.app)
	if err != nil {
		return err
	}
	h.auth = h.app.newAuthenticator(own, names)
	return nil
}

// resolvePlaceholders replaces the global placeholders ({env.*}, ...) in
// every setting, once, at load.
func (h *Auth) resolvePlaceholders() error {
	vals := append([]*string{&h.TokenType}, pointers(h.ACR)...)
	for i := range h.Require {
		vals = append(vals, &h.Require[i].Claim)
		vals = append(vals, pointers(h.Require[i].Values)...)
	}
	if err := resolveEach("jwt_auth", vals...); err != nil {
		return fmt.Errorf("jwt_auth: %v", err)
	}
	if err := h.TokenLookup.resolvePlaceholders(); err != nil {
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
	if h.MaxAge != "" && h.maxAge < time.Second {
		return fmt.Errorf("jwt_auth: max_age must be a duration of a second or more, such as 5m; to require a fresh token without an age limit, use fresh_required alone")
	}
	for _, v := range h.ACR {
		if !isChallengeValue(v) {
			return fmt.Errorf("jwt_auth: acr %q is not a valid value: use printable ASCII without spaces, quotes or backslashes, as acr_values in the challenge needs", v)
		}
	}
	if h.wantType == token.TypeRefresh && h.FreshRequired {
		return fmt.Errorf("jwt_auth: fresh_required refuses every refresh token (they are never fresh); remove it or token_type refresh")
	}
	return nil
}

func (h *Auth) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	strip(r)

	if !h.VerifyPreflight && isPreflight(r) {
		if h.app.cors != nil {
			return h.app.cors.preflight(w, r)
		}
		return next.ServeHTTP(w, r)
	}
	w = h.app.cors.wrap(w, r)

	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	tok, e := h.auth.authenticate(r, h.wantType)
	var fresh bool
	if e == nil {
		now := h.app.now()
		fresh = tok.IsFresh(now)
		if !h.freshEnough(tok, fresh, now) {
			e = h.stepUp
		}
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
		if h.Optional && (e.missing || e == h.auth.names.badHeaderType) {
			h.app.metrics.countRequest(outcomeAnonymous)
			return next.ServeHTTP(w, r)
		}
		return h.refuse(w, r, repl, e)
	}

	h.app.metrics.countRequest(outcomeOK)
	publish(r, repl, tok, fresh)
	return next.ServeHTTP(w, r)
}

// freshEnough checks the step-up settings: fresh_required, max_age and
// acr, each only when set.
func (h *Auth) freshEnough(tok *token.Verified, fresh bool, now time.Time) bool {
	if h.FreshRequired && !fresh {
		return false
	}
	if h.maxAge > 0 && (!tok.HasAuthTime || now.Unix()-tok.AuthTime > int64(h.maxAge/time.Second)) {
		return false
	}
	if len(h.ACR) > 0 {
		acr, _ := tok.Claims[token.ClaimACR].(string)
		if !slices.Contains(h.ACR, acr) {
			return false
		}
	}
	return true
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
	h.app.refusals.write(w, e)
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
	hdrAuthTime = "X-Jwt-Auth-Time"
)

// publish hands the verified identity to the upstream and to placeholders.
// Everything but freshness was rendered when the token was verified, so a
// cached token costs one small allocation here.
func publish(r *http.Request, repl *caddy.Replacer, tok *token.Verified, isFresh bool) {
	fresh := "false"
	if isFresh {
		fresh = "true"
	}
	// One backing array; each header gets its own capacity-1 slice of it,
	// so a later handler that edits or appends to one touches nothing else.
	vals := make([]string, 7)
	vals[0], vals[1], vals[2], vals[3], vals[4], vals[5], vals[6] = tok.Identity, tok.Type, fresh, tok.JTI, tok.ExpText, tok.PayloadB64, tok.AuthTimeText
	h := r.Header
	h[hdrIdentity] = vals[0:1:1]
	h[hdrType] = vals[1:2:2]
	h[hdrFresh] = vals[2:3:3]
	h[hdrJTI] = vals[3:4:4]
	h[hdrExp] = vals[4:5:5]
	h[hdrClaims] = vals[5:6:6]
	if tok.HasAuthTime {
		h[hdrAuthTime] = vals[6:7:7]
	}
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

// Interface guards
var (
	_ caddy.Provisioner           = (*Auth)(nil)
	_ caddy.Validator             = (*Auth)(nil)
	_ caddyhttp.MiddlewareHandler = (*Auth)(nil)
)
