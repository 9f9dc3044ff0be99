package jwtextended

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/users"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/google/uuid"
)

// The login and reauth routes of jwt_issue (local users; delegate.go has
// the routes delegated to the app).

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
			h.reportLoginFailed(r, name, withRefresh, "throttled")
			return h.throttled(w, r, throttled.Wait)
		}
		h.reportLoginFailed(r, name, withRefresh, "bad_credentials")
		h.app.metrics.countLoginFailure()
		return h.refuse(w, r, errBadCredentials)
	}
	return h.issueLogin(w, r, acct.Name, acct.Claims, token.PasswordAt(h.app.now()), withRefresh)
}

// throttled refuses a login with 429 and Retry-After.
func (h *Issue) throttled(w http.ResponseWriter, r *http.Request, wait time.Duration) error {
	setRetryAfter(w, wait)
	h.app.metrics.countThrottled()
	return h.refuse(w, r, errTooManyFailures)
}

// admit takes one login attempt from the throttle, if there is one: for
// name and the client IP, or for the client IP alone when ipOnly (a
// passkey sign-in, whose user is known only from its assertion). When the
// throttle refuses, it reports the failed login and answers 429: ok is
// false, and err is what the handler returns.
func (h *Issue) admit(w http.ResponseWriter, r *http.Request, name string, ipOnly, withRefresh bool) (attempt *users.Attempt, ok bool, err error) {
	if h.throttle == nil {
		return nil, true, nil
	}
	var wait time.Duration
	if ipOnly {
		attempt, wait, ok = h.throttle.AttemptIP(clientIP(r))
	} else {
		attempt, wait, ok = h.throttle.Attempt(name, clientIP(r))
	}
	if !ok {
		h.reportLoginFailed(r, name, withRefresh, "throttled")
		return nil, false, h.throttled(w, r, wait)
	}
	return attempt, true, nil
}

// setRetryAfter sets Retry-After to wait, in whole seconds rounded up.
func setRetryAfter(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.FormatInt(int64((wait+time.Second-1)/time.Second), 10))
}

// admitPerIP counts a request in t's budget for its client IP, and
// refuses it with e (a 429) and Retry-After past the budget. It bounds
// what a route stores, or asks of others, for a client that needs no
// token: the attempt is never settled, so every request counts.
func (h *Issue) admitPerIP(w http.ResponseWriter, r *http.Request, t *users.Throttle, e *authError) (bool, error) {
	if _, wait, ok := t.AttemptIP(clientIP(r)); !ok {
		setRetryAfter(w, wait)
		return false, h.refuse(w, r, e)
	}
	return true, nil
}

// issueLogin answers a successful login (withRefresh) or reauth of
// identity, local or delegated: a fresh access token (and for a login a
// refresh token) with the user's claims and how they authenticated
// (auth_time, amr, acr), delivered as configured.
func (h *Issue) issueLogin(w http.ResponseWriter, r *http.Request, identity string, claims map[string]any, auth token.Authentication, withRefresh bool) error {
	var family string
	if !withRefresh && h.RotateRefresh {
		family = h.sessionFamily(r, identity)
	}
	access, refresh, err := h.mintSession(r, identity, claims, auth, true, family, withRefresh)
	if err != nil {
		return h.mintFailed(w, r, err)
	}
	msg := "Login successful"
	if !withRefresh {
		msg = "Reauthentication successful"
	}
	h.deliver(w, r, msg, access, refresh)
	return nil
}

// mintSession mints the tokens of a login (withRefresh: an access and a
// refresh token) or a reauth (an access token in the session's family,
// when rotate_refresh is on and family is not empty), and reports the
// login. fresh marks the access token fresh.
func (h *Issue) mintSession(r *http.Request, identity string, claims map[string]any, auth token.Authentication, fresh bool, family string, withRefresh bool) (access, refresh *token.Minted, err error) {
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		// access logs show who logged in
		repl.Set("http.auth.user.id", identity)
	}
	if !h.RotateRefresh {
		family = ""
	} else if family == "" {
		family = uuid.NewString()
	}
	csrf := h.deliverCookie && h.app.csrf.protect
	access, err = h.app.mint(r.Context(), token.Request{Type: token.TypeAccess, Identity: identity, Fresh: fresh, Claims: claims, CSRF: csrf, Family: family, Auth: auth})
	if err != nil {
		return nil, nil, err
	}
	if withRefresh {
		if refresh, err = h.app.mint(r.Context(), token.Request{Type: token.TypeRefresh, Identity: identity, Claims: claims, CSRF: csrf, Family: family, Auth: auth}); err != nil {
			return nil, nil, err
		}
	}
	h.reportLogin(r, identity, withRefresh, access.JTI)
	return access, refresh, nil
}

// sessionFamily is the family a reauth stays in under rotate_refresh: that
// of a valid, unrevoked token of the same identity the request presents,
// read as the handler reads tokens (the access token, else the refresh
// token as the refresh route reads it); "" when there is none, and the
// reauth starts a family of its own. A logout then revokes the session's
// family, with the login's tokens in it.
func (h *Issue) sessionFamily(r *http.Request, identity string) string {
	for _, typ := range []string{token.TypeAccess, token.TypeRefresh} {
		tok, e := h.auth.authenticate(r, typ)
		if e == nil && tok.Identity == identity && tok.Family != "" && h.app.issuedHere(tok) {
			// only a family minted here: another issuer's token names none
			// of this app's sessions
			return tok.Family
		}
	}
	return ""
}
