package jwtextended

// Passkeys inside jwt_issue: the `passkey { ... }` block adds routes to
// register a passkey (with a fresh access token), sign in with one
// (discoverable credentials, no username), step up with one of the
// session's own, and list or remove them. internal/passkey runs the
// WebAuthn ceremonies (go-webauthn) and keeps the credentials in Caddy's
// storage; this file is the Caddy glue: the settings, the routes, the
// throttle, and minting like a login.

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/passkey"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/users"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// PasskeyConfig is jwt_issue's `passkey { ... }` block: WebAuthn passkeys
// to register, sign in and step up with. Register, reauth and credentials
// act on the session whose access token the request carries (a cookie,
// with its CSRF header on POST and DELETE, or the Authorization header).
type PasskeyConfig struct {
	// The relying party id: a domain that is each origin's host or a
	// parent of it (not a public suffix). Passkeys are bound to it.
	// Default: the request's host, without its port.
	RPID string `json:"rp_id,omitempty"`
	// The site's name, as authenticators show it. Default: the RP ID.
	RPName string `json:"rp_name,omitempty"`
	// The origins (scheme://host[:port]) pages may run a ceremony from;
	// https, or http on localhost. Default: https://<rp_id>.
	Origins []string `json:"origins,omitempty"`
	// Path of the registration routes, POST <path>/begin and POST
	// <path>/finish: add a passkey to the session's identity. Needs a
	// fresh access token; answers 201 with the passkey's id and name.
	Register string `json:"register,omitempty"`
	// Path of the sign-in routes, POST <path>/begin and POST
	// <path>/finish: sign in with a discoverable passkey, no username;
	// answers a fresh access token and a refresh token, as the login
	// route does.
	Login string `json:"login,omitempty"`
	// Path of the step-up routes, POST <path>/begin and POST
	// <path>/finish: with one of the session's own passkeys, a fresh
	// access token in the session's family, as the reauth route does.
	Reauth string `json:"reauth,omitempty"`
	// Path of the credentials route: GET lists the session's passkeys;
	// DELETE ?id=<id> removes one (needs a fresh access token).
	Credentials string `json:"credentials,omitempty"`
	// Whether the authenticator must verify the user (fingerprint, face,
	// PIN): required or preferred. Default: required. Tokens carry amr
	// mfa when it did.
	UserVerification string `json:"user_verification,omitempty"`
}

// passkeyStorage is where the passkey ceremonies and credentials live in
// Caddy's storage.
const passkeyStorage = "jwt/passkey"

// passkeySweepEvery is how often expired ceremonies are swept.
const passkeySweepEvery = 10 * time.Minute

// The amr values of a passkey assertion (RFC 8176): proof of possession
// of a key and a user presence test; mfa when the user was verified too.
const (
	amrPoP  = "pop"
	amrUser = "user"
	amrMFA  = "mfa"
)

// Ceremonies each client IP may begin (register, login, reauth) within
// maxBeginsWindow: every begin writes one to storage, and login/begin
// needs no token, so the storage a client can fill is bounded. Tracked
// for at most users.DefaultCapacity client IPs.
const (
	maxBeginsPerIP  = 30
	maxBeginsWindow = 2 * time.Minute
)

// errTooManyCeremonies refuses a begin past maxBeginsPerIP.
var errTooManyCeremonies = newAuthError(http.StatusTooManyRequests, "throttled", "Too many passkey ceremonies begun")

// passkeyRoutes is the passkey block's service.
type passkeyRoutes struct {
	cfg       *PasskeyConfig
	svc       *passkey.Service
	lastSweep atomic.Int64
	// begins counts the ceremonies begun per client IP
	begins *users.Throttle
}

// resolvePasskeyPlaceholders replaces the global placeholders in the
// passkey block's settings.
func (h *Issue) resolvePasskeyPlaceholders() error {
	p := h.Passkey
	if p == nil {
		return nil
	}
	vals := []*string{&p.RPID, &p.RPName, &p.Register, &p.Login, &p.Reauth, &p.Credentials, &p.UserVerification}
	vals = append(vals, pointers(p.Origins)...)
	if err := resolveEach("passkey", vals...); err != nil {
		return fmt.Errorf("jwt_issue: %v", err)
	}
	return nil
}

// provisionPasskey builds the passkey service on Caddy's storage.
func (h *Issue) provisionPasskey(ctx caddy.Context) error {
	h.passkey = nil
	p := h.Passkey
	if p == nil {
		return nil
	}
	if err := h.validatePasskey(); err != nil {
		return err
	}
	svc, err := passkey.New(passkey.Config{
		RPID: strings.ToLower(p.RPID), RPName: p.RPName, Origins: p.Origins,
		UserVerification: p.UserVerification, Now: h.app.clock,
	}, ctx.Storage(), passkeyStorage)
	if err != nil {
		return fmt.Errorf("jwt_issue: passkey: %v", err)
	}
	h.passkey = &passkeyRoutes{cfg: p, svc: svc,
		begins: users.NewThrottle(users.ThrottleLimits{MaxPerUser: 1, MaxPerIP: maxBeginsPerIP, Window: maxBeginsWindow}, h.app.clock)}
	return nil
}

// beginAllowed counts a ceremony begun from the request's client IP, and
// refuses it with 429 and Retry-After past maxBeginsPerIP.
func (h *Issue) beginAllowed(w http.ResponseWriter, r *http.Request) (bool, error) {
	return h.admitPerIP(w, r, h.passkey.begins, errTooManyCeremonies)
}

// passkeyPaths are the passkey block's routes and their paths.
func (p *PasskeyConfig) paths() []struct{ name, path string } {
	var out []struct{ name, path string }
	for _, r := range []struct{ name, path string }{{"register", p.Register}, {"login", p.Login}, {"reauth", p.Reauth}} {
		if r.path != "" {
			base := strings.TrimSuffix(r.path, "/")
			out = append(out, struct{ name, path string }{"passkey " + r.name + " begin", base + "/begin"},
				struct{ name, path string }{"passkey " + r.name + " finish", base + "/finish"})
		}
	}
	if p.Credentials != "" {
		out = append(out, struct{ name, path string }{"passkey credentials", p.Credentials})
	}
	return out
}

// passkeyRouteList is the routes of the passkey block, for prepareRoutes.
func (h *Issue) passkeyRouteList() []issueRoute {
	pk := h.passkey
	if pk == nil {
		return nil
	}
	post := func(name, path string, serve func(http.ResponseWriter, *http.Request, caddyhttp.Handler) error) []issueRoute {
		if path == "" {
			return nil
		}
		return []issueRoute{{name: name, path: path, serve: serve}}
	}
	var routes []issueRoute
	for _, r := range []struct {
		kind, path    string
		begin, finish func(http.ResponseWriter, *http.Request, caddyhttp.Handler) error
	}{
		{"register", pk.cfg.Register, h.servePasskeyRegisterBegin, h.servePasskeyRegisterFinish},
		{"login", pk.cfg.Login, h.servePasskeyLoginBegin, h.servePasskeyLoginFinish},
		{"reauth", pk.cfg.Reauth, h.servePasskeyReauthBegin, h.servePasskeyReauthFinish},
	} {
		if r.path == "" {
			continue
		}
		base := strings.TrimSuffix(r.path, "/")
		routes = append(routes, post("passkey "+r.kind+" begin", base+"/begin", r.begin)...)
		routes = append(routes, post("passkey "+r.kind+" finish", base+"/finish", r.finish)...)
	}
	if pk.cfg.Credentials != "" {
		routes = append(routes, issueRoute{name: "passkey credentials", path: pk.cfg.Credentials, get: true, del: true,
			serve: func(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
				return h.servePasskeyCredentials(w, r)
			}})
	}
	return routes
}

// passkeySession is the session a register, reauth or credentials
// request acts on: its access token, issued here; fresh when asked.
func (h *Issue) passkeySession(r *http.Request, fresh bool) (*token.Verified, *authError) {
	tok, e := h.auth.authenticate(r, token.TypeAccess)
	if e == nil && !h.app.issuedHere(tok) {
		e = errForeignAccessToken
	}
	if e != nil {
		return nil, e
	}
	if fresh && !tok.IsFresh(h.app.now()) {
		return nil, stepUpRefusal(0, nil)
	}
	return tok, nil
}

// errPasskeyMedia refuses a finish body that is not JSON.
var errPasskeyMedia = newAuthError(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json")

// passkeyBody reads a finish call's JSON body.
func passkeyBody(w http.ResponseWriter, r *http.Request) ([]byte, *authError) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return nil, errPasskeyMedia
	}
	body, e := readIssueBody(w, r)
	if e != nil {
		return nil, e
	}
	if len(body) == 0 {
		return nil, errEmptyBody
	}
	return body, nil
}

func (h *Issue) servePasskeyRegisterBegin(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	tok, e := h.passkeySession(r, true)
	if e != nil {
		return h.refuse(w, r, e)
	}
	if ok, err := h.beginAllowed(w, r); !ok {
		return err
	}
	begin, err := h.passkey.svc.BeginRegistration(r.Context(), r.Host, tok.Identity)
	if err != nil {
		return h.passkeyFailed(w, r, "register", err)
	}
	writeJSON(w, http.StatusOK, begin)
	return nil
}

// passkeyRegistered is the answer to a registration: the new passkey.
type passkeyRegistered struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func (h *Issue) servePasskeyRegisterFinish(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	tok, e := h.passkeySession(r, true)
	if e != nil {
		return h.refuse(w, r, e)
	}
	body, e := passkeyBody(w, r)
	if e != nil {
		return h.refuse(w, r, e)
	}
	cred, err := h.passkey.svc.FinishRegistration(r.Context(), tok.Identity, ownClaims(tok, h.app.IdentityClaim), body)
	h.sweepPasskeys()
	if err != nil {
		return h.passkeyFailed(w, r, "register", err)
	}
	h.logger.Info("passkey registered", zap.String("identity", tok.Identity), zap.String("remote_ip", clientIP(r)),
		zap.String("credential", cred.EncodedID()))
	writeJSON(w, http.StatusCreated, passkeyRegistered{ID: cred.EncodedID(), Name: cred.Name})
	return nil
}

func (h *Issue) servePasskeyLoginBegin(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if ok, err := h.beginAllowed(w, r); !ok {
		return err
	}
	begin, err := h.passkey.svc.BeginLogin(r.Context(), r.Host)
	if err != nil {
		return h.passkeyFailed(w, r, "login", err)
	}
	writeJSON(w, http.StatusOK, begin)
	return nil
}

func (h *Issue) servePasskeyReauthBegin(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	tok, e := h.passkeySession(r, false)
	if e != nil {
		return h.refuse(w, r, e)
	}
	if ok, err := h.beginAllowed(w, r); !ok {
		return err
	}
	begin, err := h.passkey.svc.BeginReauth(r.Context(), r.Host, tok.Identity)
	if err != nil {
		return h.passkeyFailed(w, r, "reauth", err)
	}
	writeJSON(w, http.StatusOK, begin)
	return nil
}

func (h *Issue) servePasskeyLoginFinish(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	ip := clientIP(r)
	var attempt *users.Attempt
	if h.throttle != nil {
		var wait time.Duration
		var ok bool
		if attempt, wait, ok = h.throttle.AttemptIP(ip); !ok {
			h.reportLoginFailed(r, "", true, "throttled")
			return h.throttled(w, r, wait)
		}
	}
	body, e := passkeyBody(w, r)
	if e != nil {
		attempt.Refund() // nothing was asserted
		return h.refuse(w, r, e)
	}
	a, err := h.passkey.svc.FinishLogin(r.Context(), body)
	h.sweepPasskeys()
	if err != nil {
		h.passkeyAssertionFailed(r, attempt, true, err)
		return h.passkeyFailed(w, r, "login", err)
	}
	attempt.Succeeded()
	return h.passkeyMint(w, r, next, a, nil)
}

func (h *Issue) servePasskeyReauthFinish(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	tok, e := h.passkeySession(r, false)
	if e != nil {
		return h.refuse(w, r, e)
	}
	var attempt *users.Attempt
	if h.throttle != nil {
		var wait time.Duration
		var ok bool
		if attempt, wait, ok = h.throttle.Attempt(tok.Identity, clientIP(r)); !ok {
			h.reportLoginFailed(r, tok.Identity, false, "throttled")
			return h.throttled(w, r, wait)
		}
	}
	body, e := passkeyBody(w, r)
	if e != nil {
		attempt.Refund()
		return h.refuse(w, r, e)
	}
	a, err := h.passkey.svc.FinishReauth(r.Context(), tok.Identity, body)
	h.sweepPasskeys()
	if err != nil {
		h.passkeyAssertionFailed(r, attempt, false, err)
		return h.passkeyFailed(w, r, "reauth", err)
	}
	attempt.Succeeded()
	return h.passkeyMint(w, r, next, a, tok)
}

// passkeyAssertionFailed settles the throttle's attempt of a failed
// sign-in or step-up (a failure, unless this side failed), counts it
// against the identity when the credential named one, and reports it; a
// sign count that went backwards is logged and emitted as
// jwt_passkey_sign_count.
func (h *Issue) passkeyAssertionFailed(r *http.Request, attempt *users.Attempt, withRefresh bool, err error) {
	var pe *passkey.Error
	if !errors.As(err, &pe) || pe.Status >= 500 {
		attempt.Refund()
		return
	}
	if withRefresh && pe.Identity != "" && h.throttle != nil {
		// the IP's count took the attempt; the identity's takes it too
		h.throttle.FailedName(pe.Identity)
	}
	var sc *passkey.SignCountError
	if errors.As(err, &sc) {
		h.logger.Warn("passkey sign count went backwards: the authenticator may be cloned; the assertion was refused",
			zap.String("identity", sc.Identity), zap.String("credential", sc.CredentialID),
			zap.Uint32("stored", sc.Stored), zap.Uint32("got", sc.Got), zap.String("remote_ip", clientIP(r)))
		h.app.events.emit(eventPasskeySignCount, eventData{Identity: sc.Identity, RemoteIP: clientIP(r), Route: routeKind(withRefresh), Reason: "sign_count"})
	}
	if pe.Status == http.StatusUnauthorized {
		h.reportLoginFailed(r, pe.Identity, withRefresh, "passkey")
		h.app.metrics.countLoginFailure()
	}
}

// passkeyFailed answers a ceremony that failed: the status and message
// of internal/passkey, and a log line with the cause.
func (h *Issue) passkeyFailed(w http.ResponseWriter, r *http.Request, route string, err error) error {
	var pe *passkey.Error
	if !errors.As(err, &pe) {
		pe = &passkey.Error{Status: http.StatusInternalServerError, Msg: passkey.MsgInternal, Cause: err}
	}
	if pe.Status >= 500 {
		h.logger.Error("passkey "+route+" failed", zap.String("remote_ip", clientIP(r)), zap.String("path", r.URL.Path), zap.Error(pe.Cause))
	} else {
		h.logger.Info("passkey "+route+" refused", zap.String("remote_ip", clientIP(r)), zap.String("path", r.URL.Path),
			zap.Int("status", pe.Status), zap.Error(pe.Cause))
	}
	return h.refuse(w, r, newAuthError(pe.Status, "passkey_failed", pe.Msg).asNoToken())
}

// passkeyMint answers a passkey sign-in (session nil: access and refresh
// token) or step-up (a fresh access token in the session's family), with
// the claims passkeyClaims decides.
func (h *Issue) passkeyMint(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, a *passkey.Assertion, session *token.Verified) error {
	auth := token.Authentication{Time: h.app.now(), Methods: []string{amrPoP, amrUser}}
	if a.UserVerified {
		auth.Methods = append(auth.Methods, amrMFA)
	}
	claims, done, err := h.passkeyClaims(w, r, next, a, auth)
	if done {
		return err
	}
	var family string
	if session != nil {
		family = session.Family
	}
	access, refresh, err := h.mintSession(r, a.Identity, claims, auth, true, family, session == nil)
	if err != nil {
		return h.mintFailed(w, r, err)
	}
	msg := "Login successful"
	if session != nil {
		msg = "Reauthentication successful"
	}
	h.deliver(w, r, msg, access, refresh)
	return nil
}

// passkeyClaims are the claims a passkey's tokens carry, decided as the
// refresh route decides them: with `refresh ... upstream`, the app
// confirms the identity as for a delegated refresh (and may refuse it)
// and its claims are used; a local user gets its current claims (and one
// that no longer exists is refused, as its refresh would be); otherwise
// the claims the identity had when the passkey was registered. done means
// the answer was written.
func (h *Issue) passkeyClaims(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, a *passkey.Assertion, auth token.Authentication) (map[string]any, bool, error) {
	stored := a.Credential.Claims
	switch {
	case h.delegates("refresh"):
		tok, err := h.passkeyToken(a.Identity, stored, auth)
		if err != nil {
			return nil, true, h.mintFailed(w, r, err)
		}
		claims, done, err := h.confirmRefresh(w, h.confirmationRequest(r), next, tok)
		return claims, done, err
	case h.creds != nil && h.creds.Lookup(a.Identity) != nil:
		return h.creds.Lookup(a.Identity).Claims, false, nil
	case h.checksPasswords() && !h.passkeyFromIdP(stored):
		h.logger.Warn("passkey of an identity that is no longer a user refused", zap.String("identity", a.Identity), zap.String("remote_ip", clientIP(r)))
		return nil, true, h.refuse(w, r, errUnknownUser)
	}
	return stored, false, nil
}

// checksPasswords reports whether this issuer checks passwords itself (a
// login or reauth route not delegated).
func (h *Issue) checksPasswords() bool {
	return (h.Login != "" && !h.delegates("login")) || (h.Reauth != "" && !h.delegates("reauth"))
}

// passkeyFromIdP reports whether claims stored with a passkey name one of
// this issuer's oidc blocks (the session that registered it began there).
func (h *Issue) passkeyFromIdP(claims map[string]any) bool {
	idp, _ := claims[claimIdP].(string)
	for _, o := range h.oidc {
		if idp != "" && o.cfg.Name == idp {
			return true
		}
	}
	return false
}

// passkeyToken is the verified form of a refresh token of the identity
// and claims, as the app's confirmation of a delegated refresh reads it
// (X-Jwt-Identity, X-Jwt-Claims, ...). It is never delivered.
func (h *Issue) passkeyToken(identity string, claims map[string]any, auth token.Authentication) (*token.Verified, error) {
	m, err := h.app.minter.Mint(token.Request{Type: token.TypeRefresh, Identity: identity, Claims: claims, Auth: auth})
	if err != nil {
		return nil, err
	}
	tok, e := h.app.verifier.Parse(m.Raw, h.app.ring.Current())
	if e != nil {
		return nil, fmt.Errorf("reading a minted token: %s", e.Msg)
	}
	return tok, nil
}

// confirmationRequest is the request that asks the app to confirm a
// passkey's identity: a POST to the refresh route, without a body, as a
// delegated refresh reaches the app.
func (h *Issue) confirmationRequest(r *http.Request) *http.Request {
	c := r.Clone(r.Context())
	u := *r.URL
	u.Path, u.RawPath, u.RawQuery = h.Refresh, "", ""
	c.URL = &u
	c.RequestURI = u.RequestURI()
	c.Method = http.MethodPost
	c.Body, c.ContentLength, c.GetBody = http.NoBody, 0, nil
	c.Header.Del("Content-Type")
	c.Header.Del("Content-Length")
	return c
}

// passkeyListed is one passkey as the credentials route lists it.
type passkeyListed struct {
	ID             string     `json:"id"`
	Name           string     `json:"name"`
	Created        time.Time  `json:"created"`
	LastUsed       *time.Time `json:"last_used,omitempty"`
	BackupEligible bool       `json:"backup_eligible"`
	BackedUp       bool       `json:"backed_up"`
	Transports     []string   `json:"transports,omitempty"`
	AAGUID         string     `json:"aaguid,omitempty"`
}

var errPasskeyID = newAuthError(http.StatusBadRequest, "bad_request", "Missing \"id\" query parameter")

// servePasskeyCredentials lists the session's passkeys (GET, HEAD) or
// removes one (DELETE ?id=, with a fresh access token).
func (h *Issue) servePasskeyCredentials(w http.ResponseWriter, r *http.Request) error {
	del := r.Method == http.MethodDelete
	tok, e := h.passkeySession(r, del)
	if e != nil {
		return h.refuse(w, r, e)
	}
	if del {
		id := r.URL.Query().Get("id")
		if id == "" {
			return h.refuse(w, r, errPasskeyID)
		}
		if err := h.passkey.svc.Remove(r.Context(), tok.Identity, id); err != nil {
			return h.passkeyFailed(w, r, "remove", err)
		}
		h.logger.Info("passkey removed", zap.String("identity", tok.Identity), zap.String("remote_ip", clientIP(r)), zap.String("credential", id))
		writeJSON(w, http.StatusOK, map[string]string{defaultMessageKey: "Passkey removed"})
		return nil
	}
	creds, err := h.passkey.svc.Credentials(r.Context(), tok.Identity)
	if err != nil {
		return h.passkeyFailed(w, r, "credentials", err)
	}
	list := make([]passkeyListed, 0, len(creds))
	for _, c := range creds {
		l := passkeyListed{ID: c.EncodedID(), Name: c.Name, Created: c.Created, BackupEligible: c.BackupEligible, BackedUp: c.BackedUp, Transports: c.Transports}
		if !c.LastUsed.IsZero() {
			lu := c.LastUsed
			l.LastUsed = &lu
		}
		if len(c.AAGUID) == 16 && !allZero(c.AAGUID) {
			l.AAGUID = fmt.Sprintf("%x-%x-%x-%x-%x", c.AAGUID[0:4], c.AAGUID[4:6], c.AAGUID[6:8], c.AAGUID[8:10], c.AAGUID[10:16])
		}
		list = append(list, l)
	}
	writeJSON(w, http.StatusOK, map[string]any{"credentials": list})
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// sweepPasskeys deletes expired ceremonies, at most once per
// passkeySweepEvery, in the background.
func (h *Issue) sweepPasskeys() {
	pk := h.passkey
	now := h.app.now().Unix()
	last := pk.lastSweep.Load()
	if now-last < int64(passkeySweepEvery/time.Second) || !pk.lastSweep.CompareAndSwap(last, now) {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := pk.svc.Sweep(ctx); err != nil {
			h.logger.Warn("sweeping expired passkey ceremonies failed", zap.Error(err))
		}
	}()
}
