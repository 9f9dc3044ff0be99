package jwtextended

// Sign-in through an OpenID Provider inside jwt_issue: each `oidc <name>`
// block adds a login, a callback and a reauth route (GET), run by
// internal/oidcflow (authorization code flow with PKCE, state and nonce;
// the transaction in a sealed cookie; the ID token checked with go-oidc).
// This file is the Caddy glue: the settings, the routes, and minting the
// tokens of a finished flow like those of a login.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/oidcflow"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/strictjson"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/users"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// OIDCProvider is one `oidc <name> { ... }` block of jwt_issue: sign-in
// and step-up through an OpenID Provider, whose tokens are minted here
// like those of a password login and delivered as cookies.
type OIDCProvider struct {
	// The block's name: letters, digits, '-' and '_'. Tokens minted from
	// it carry the claim idp: <name>, and its transaction cookie is
	// jwt_oidc_<name>.
	Name string `json:"name"`
	// The provider's issuer URL (https; http only on a loopback host).
	// Discovery reads <issuer>/.well-known/openid-configuration, and
	// every ID token's iss must equal it exactly.
	Issuer string `json:"issuer"`
	// This site's client id at the provider.
	ClientID string `json:"client_id"`
	// The client secret; omit it for a public client, which relies on
	// PKCE alone. Use a placeholder ({env.*}, {file.*}) to keep it out of
	// the config.
	ClientSecret string `json:"client_secret,omitempty"`
	// The scopes asked for. Default: openid email profile; openid is
	// always asked for.
	Scopes []string `json:"scopes,omitempty"`
	// Path of the login route: GET ?return_to=<path> answers 302 to the
	// provider.
	Login string `json:"login,omitempty"`
	// Path of the callback route, the provider's redirect back (register
	// https://<site><callback> as the client's redirect URI). Required.
	Callback string `json:"callback"`
	// Path of the reauth route: GET ?return_to=<path> with the session's
	// access token (cookie) sends the user to the provider with
	// prompt=login and max_age=0, and mints a fresh access token in the
	// session's family when they come back as the same identity.
	Reauth string `json:"reauth,omitempty"`
	// The ID token claim that is the identity. Default: sub; email is
	// taken only with email_verified true.
	IdentityClaim string `json:"identity_claim,omitempty"`
	// ID token (or, when missing there, user info) claims copied into the
	// tokens.
	Claims []string `json:"claims,omitempty"`
	// An access token is fresh only if the ID token's auth_time is within
	// this of the callback; without auth_time it is not fresh. Default:
	// 5m.
	FreshWithin WeakDuration `json:"fresh_within,omitempty"`
	// Origins (scheme://host[:port]) that return_to may send the browser
	// to, besides this site's own paths.
	ReturnTo []string `json:"return_to,omitempty"`
}

// Storage keys of the OIDC flows, shared by every instance on a storage:
// the key that seals transaction cookies, so that any instance can finish
// a login another began, and the markers that finish a transaction at most
// once.
const (
	oidcKeyStorage  = "jwt/oidc/transaction.key"
	oidcUsedStorage = "jwt/oidc/used"
)

// oidcHTTPTimeout bounds each request to a provider (discovery, keys, the
// code exchange, user info).
const oidcHTTPTimeout = 10 * time.Second

// oidcSweepEvery is how often finished-transaction markers are swept.
const oidcSweepEvery = 10 * time.Minute

// errBadProviderIdentity answers a finished flow whose identity or claims
// cannot be minted; the reason is logged, never sent.
var errBadProviderIdentity = newAuthError(http.StatusBadGateway, "bad_provider_identity", "Bad identity from provider")

// oidcRoutes are one oidc block's flow.
type oidcRoutes struct {
	cfg  *OIDCProvider
	flow *oidcflow.Flow
}

// Callbacks each client IP may make within maxCallbacksWindow, over all
// of an issuer's oidc blocks: a callback with a transaction cookie and
// its state (both handed to whoever calls the login route) stores a
// marker and asks the provider's token endpoint, so what a client can
// make the module store and send is bounded. Tracked for at most
// users.DefaultCapacity client IPs.
const (
	maxCallbacksPerIP  = 30
	maxCallbacksWindow = 2 * time.Minute
)

// errTooManyCallbacks refuses a callback past maxCallbacksPerIP.
var errTooManyCallbacks = newAuthError(http.StatusTooManyRequests, "throttled", "Too many login attempts")

// oidcShared is what an issuer's oidc blocks share: the markers and
// their sweep, and the callbacks counted per client IP.
type oidcShared struct {
	once      *oidcflow.StorageOnce
	sweep     *sweeper
	callbacks *users.Throttle
}

// resolveOIDCPlaceholders replaces the global placeholders in every text
// setting of the oidc blocks. Errors name the setting, never the value.
func (h *Issue) resolveOIDCPlaceholders() error {
	for i := range h.OIDC {
		p := &h.OIDC[i]
		vals := []*string{&p.Name, &p.Issuer, &p.ClientID, &p.ClientSecret, &p.Login, &p.Callback, &p.Reauth, &p.IdentityClaim}
		vals = append(vals, pointers(p.Scopes)...)
		vals = append(vals, pointers(p.Claims)...)
		vals = append(vals, pointers(p.ReturnTo)...)
		if err := resolveEach("oidc", vals...); err != nil {
			return fmt.Errorf("jwt_issue: %v", err)
		}
	}
	return nil
}

// provisionOIDC builds a flow per oidc block on the storage's sealing key
// and markers. Nothing is fetched from the providers here: discovery
// happens at the first login, so an unreachable provider never stops
// Caddy from starting.
func (h *Issue) provisionOIDC(ctx caddy.Context) error {
	h.oidc = nil
	if len(h.OIDC) == 0 {
		return nil
	}
	// the settings first, with Validate's words: the flows would refuse
	// them too, but without naming the fix
	if err := h.validateOIDC(); err != nil {
		return err
	}
	storage := ctx.Storage()
	kctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	key, err := oidcflow.LoadOrCreateKey(kctx, storage, oidcKeyStorage)
	if err != nil {
		return fmt.Errorf("jwt_issue: oidc: the transaction key in storage: %v", err)
	}
	sealer, err := oidcflow.NewSealer(key)
	if err != nil {
		return fmt.Errorf("jwt_issue: oidc: %v", err)
	}
	once := oidcflow.NewStorageOnce(storage, oidcUsedStorage, h.app.clock)
	h.oidcShared = &oidcShared{once: once,
		sweep:     &sweeper{every: oidcSweepEvery, what: "finished oidc transactions", sweep: once.Sweep},
		callbacks: users.NewThrottle(users.ThrottleLimits{MaxPerUser: 1, MaxPerIP: maxCallbacksPerIP, Window: maxCallbacksWindow}, h.app.clock)}
	client := &http.Client{Timeout: oidcHTTPTimeout}
	for i := range h.OIDC {
		p := &h.OIDC[i]
		fresh, err := p.FreshWithin.resolve("jwt_issue", "oidc "+p.Name+" fresh_within")
		if err != nil {
			return err
		}
		flow, err := oidcflow.New(oidcflow.Config{
			Name: p.Name, Issuer: p.Issuer, ClientID: p.ClientID, ClientSecret: p.ClientSecret,
			Scopes: p.Scopes, IdentityClaim: p.IdentityClaim, Claims: p.Claims, FreshWithin: fresh,
			Leeway: h.app.resolved.leeway, HTTPClient: client, Now: h.app.clock,
		}, sealer, h.oidcShared.once)
		if err != nil {
			return fmt.Errorf("jwt_issue: oidc %s: %v", p.Name, err)
		}
		h.oidc = append(h.oidc, &oidcRoutes{cfg: p, flow: flow})
	}
	return nil
}

// oidcRouteList is the routes of the oidc blocks, for prepareRoutes.
func (h *Issue) oidcRouteList() []issueRoute {
	var routes []issueRoute
	for _, o := range h.oidc {
		routes = append(routes,
			issueRoute{name: "oidc " + o.cfg.Name + " login", path: o.cfg.Login, get: true,
				serve: func(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
					return h.serveOIDCBegin(w, r, o, false)
				}},
			issueRoute{name: "oidc " + o.cfg.Name + " reauth", path: o.cfg.Reauth, get: true,
				serve: func(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
					return h.serveOIDCBegin(w, r, o, true)
				}},
			issueRoute{name: "oidc " + o.cfg.Name + " callback", path: o.cfg.Callback, get: true,
				serve: func(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
					return h.serveOIDCCallback(w, r, o)
				}},
		)
	}
	return routes
}

// serveOIDCBegin starts a login, or (reauth) a step-up of the session
// whose access token the request carries: the transaction cookie, and 302
// to the provider.
func (h *Issue) serveOIDCBegin(w http.ResponseWriter, r *http.Request, o *oidcRoutes, reauth bool) error {
	var session *oidcflow.Session
	if reauth {
		tok, e := h.sessionToken(r)
		if e != nil {
			return h.refuse(w, r, e)
		}
		session = &oidcflow.Session{Identity: tok.Identity, Family: tok.Family}
	}
	returnTo := oidcflow.SafeReturnTo(r.URL.Query().Get("return_to"), o.cfg.ReturnTo)
	authURL, tx, err := o.flow.Begin(r.Context(), h.callbackURL(r, o), returnTo, session)
	if err != nil {
		return h.oidcFailed(w, r, o, reauth, err)
	}
	http.SetCookie(w, h.oidcCookie(r, o, tx, int(o.flow.Config().TxTTL/time.Second)))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, authURL, http.StatusFound)
	return nil
}

// serveOIDCCallback finishes a flow: the tokens of a login (access and
// refresh) or of a reauth (a fresh access token in the session's family)
// as cookies, and 303 to return_to.
func (h *Issue) serveOIDCCallback(w http.ResponseWriter, r *http.Request, o *oidcRoutes) error {
	if ok, err := h.admitPerIP(w, r, h.oidcShared.callbacks, errTooManyCallbacks); !ok {
		return err
	}
	var sealed string
	if c, err := r.Cookie(o.flow.CookieName()); err == nil {
		sealed = c.Value
	}
	// the transaction is spent whatever comes of it
	http.SetCookie(w, h.oidcCookie(r, o, "", -1))
	w.Header().Set("Cache-Control", "no-store")
	res, err := o.flow.Finish(r.Context(), h.callbackURL(r, o), r.URL.Query(), sealed)
	h.oidcShared.sweep.maybe(h)
	if err != nil {
		return h.oidcFailed(w, r, o, false, err)
	}
	reauth := res.Reauth != nil
	claims := make(map[string]any, len(res.Claims)+1)
	for k, v := range res.Claims {
		claims[k] = v
	}
	claims[claimIdP] = o.cfg.Name
	auth := token.Authentication{Time: res.AuthTime, Methods: res.AMR, Class: res.ACR}
	if reason := h.mintableIdentity(res.Identity, claims, &auth); reason != "" {
		h.logger.Error("the provider's identity or claims cannot be minted", zap.String("oidc", o.cfg.Name), zap.String("reason", reason),
			zap.String("remote_ip", clientIP(r)))
		return h.refuse(w, r, errBadProviderIdentity)
	}
	var family string
	if reauth {
		family = res.Reauth.Family
	}
	access, refresh, err := h.mintSession(r, res.Identity, claims, auth, res.Fresh, family, !reauth)
	if err != nil {
		return h.mintFailed(w, r, err)
	}
	h.app.cookies.setTokenCookies(w, r, token.TypeAccess, access)
	if refresh != nil {
		h.app.cookies.setTokenCookies(w, r, token.TypeRefresh, refresh)
	}
	http.Redirect(w, r, res.ReturnTo, http.StatusSeeOther)
	return nil
}

// claimIdP names the oidc block a token's session came from.
const claimIdP = "idp"

// mintableIdentity says why an identity and claims from a provider could
// not be minted and delivered ("" when they can): the rules of an app's
// X-Jwt-Issue-Identity, and the size of the tokens and their cookies.
func (h *Issue) mintableIdentity(identity string, claims map[string]any, auth *token.Authentication) string {
	switch {
	case identity == "":
		return "the identity is empty"
	case len(identity) > maxIssueIdentity:
		return "the identity is longer than 256 bytes"
	case strictjson.HasControlChar(identity) || strings.TrimSpace(identity) != identity:
		return "the identity holds control characters or surrounding space"
	}
	return h.undeliverable(identity, claims, auth)
}

// oidcFailed answers a flow that failed: the status and message the flow
// chose, and a log line with the cause (which never holds a secret, a
// code or a token).
func (h *Issue) oidcFailed(w http.ResponseWriter, r *http.Request, o *oidcRoutes, reauth bool, err error) error {
	var fe *oidcflow.Error
	if !errors.As(err, &fe) {
		fe = &oidcflow.Error{Status: http.StatusInternalServerError, Msg: oidcflow.MsgInternal, Cause: err}
	}
	h.logger.Warn("oidc login failed", zap.String("remote_ip", clientIP(r)), zap.String("oidc", o.cfg.Name),
		zap.String("path", r.URL.Path), zap.Int("status", fe.Status), zap.Error(fe.Cause))
	if fe.Status == http.StatusUnauthorized {
		h.app.events.emit(eventLoginFailed, eventData{RemoteIP: clientIP(r), Route: "oidc", Reason: "oidc"})
	}
	e := newAuthError(fe.Status, "oidc_failed", fe.Msg).asNoToken()
	return h.refuse(w, r, e)
}

// callbackURL is the absolute URL of o's callback on the site the request
// came to: the redirect_uri the provider sends the browser back to.
func (h *Issue) callbackURL(r *http.Request, o *oidcRoutes) string {
	scheme := "http"
	if requestIsHTTPS(r) {
		scheme = "https"
	}
	return (&url.URL{Scheme: scheme, Host: r.Host, Path: o.cfg.Callback}).String()
}

// oidcCookie is o's transaction cookie, for the callback's path only:
// HttpOnly, SameSite=Lax (the provider's redirect back is a top-level
// navigation from another site), Secure over HTTPS.
func (h *Issue) oidcCookie(r *http.Request, o *oidcRoutes, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: o.flow.CookieName(), Value: value, Path: o.cfg.Callback, MaxAge: maxAge,
		HttpOnly: true, Secure: requestIsHTTPS(r), SameSite: http.SameSiteLaxMode}
}

// fromOIDC reports whether claims (a token's, or those stored with a
// passkey) name one of this issuer's oidc blocks as their idp: the
// session began there, and its identity is no local user, so a refresh
// keeps the token's own claims.
func (h *Issue) fromOIDC(claims map[string]any) bool {
	idp, ok := claims[claimIdP].(string)
	if !ok {
		return false
	}
	for _, o := range h.oidc {
		if o.cfg.Name == idp {
			return true
		}
	}
	return false
}
