package jwtextended

// The passkey ceremonies of jwt_issue (issue_passkey.go has the block and
// its routes): register, sign in and step up, each a begin and a finish;
// the throttle and the logs of a failed assertion; and the tokens of a
// passkey, minted like a login's with the claims the refresh route would
// give.

import (
	"errors"
	"fmt"
	"mime"
	"net/http"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/passkey"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/users"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

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
	h.passkey.sweep.maybe(h)
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
	attempt, ok, err := h.admit(w, r, "", true, true)
	if !ok {
		return err
	}
	body, e := passkeyBody(w, r)
	if e != nil {
		attempt.Refund() // nothing was asserted
		return h.refuse(w, r, e)
	}
	a, err := h.passkey.svc.FinishLogin(r.Context(), body)
	h.passkey.sweep.maybe(h)
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
	attempt, ok, err := h.admit(w, r, tok.Identity, false, false)
	if !ok {
		return err
	}
	body, e := passkeyBody(w, r)
	if e != nil {
		attempt.Refund()
		return h.refuse(w, r, e)
	}
	a, err := h.passkey.svc.FinishReauth(r.Context(), tok.Identity, body)
	h.passkey.sweep.maybe(h)
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
	if h.delegates("refresh") {
		tok, err := h.passkeyToken(a.Identity, stored, auth)
		if err != nil {
			return nil, true, h.mintFailed(w, r, err)
		}
		return h.confirmRefresh(w, h.confirmationRequest(r), next, tok)
	}
	if h.creds != nil {
		if acct := h.creds.Lookup(a.Identity); acct != nil {
			return acct.Claims, false, nil
		}
	}
	if h.checksPasswords() && !h.fromOIDC(stored) {
		h.logger.Warn("passkey of an identity that is no longer a user refused", zap.String("identity", a.Identity), zap.String("remote_ip", clientIP(r)))
		return nil, true, h.refuse(w, r, errUnknownUser)
	}
	return stored, false, nil
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
