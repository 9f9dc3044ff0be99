package jwtextended

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
)

// authenticator is the one answer to "where is a request verified", in the
// manner of Caddy's caddyauth.Authenticator: it finds the token in a
// handler's sources, in order, verifies it with the app's verifier, checks
// the double submit CSRF value of a cookie token on a protected method,
// checks the token type and revocation. jwt_auth holds one, and jwt_issue
// one for its refresh and logout routes; the app builds them
// (newAuthenticator), and they share its verifier, revocation store,
// cookie and CSRF settings.
type authenticator struct {
	// sources is the handler's own token_from, or the app's: a pointer to
	// the app's field, so that it reads the app's final lookup however
	// the handlers of a config were provisioned (see cookiesDelivered).
	sources  *[]tokenSource
	names    *tokenNames
	verifier *token.Verifier
	revoked  *revocations
	cookies  *cookieSettings
	csrf     *csrfSettings
}

// authenticate finds the request's token and checks everything the
// contract asks of any protected route: signature and claims, expiry, the
// token type, CSRF for cookie tokens on unsafe methods, and revocation.
// want is access, refresh or any; a refresh token is read from the
// refresh cookie and the refresh JSON field.
func (au *authenticator) authenticate(r *http.Request, want string) (*token.Verified, *authError) {
	raw, from, e := au.find(r, want)
	if e != nil {
		return nil, e
	}
	tok, e := au.verify(raw)
	if e != nil {
		return nil, e
	}
	if from == sourceCookie && au.csrf.protected(r.Method) {
		if e := au.checkCSRF(r, tok); e != nil {
			return nil, e
		}
	}
	switch {
	case want == token.TypeAccess && tok.Type != token.TypeAccess:
		return nil, errRefreshNotAllowed
	case want == token.TypeRefresh && tok.Type != token.TypeRefresh:
		return nil, errAccessNotAllowed
	}
	if au.revokedToken(tok) {
		return nil, errRevoked
	}
	return tok, nil
}

// find looks the token of type want up in the sources, in order.
func (au *authenticator) find(r *http.Request, want string) (string, tokenSource, *authError) {
	return extractToken(r, *au.sources, au.names, au.cookies.name(want), want == token.TypeRefresh)
}

// readsCookies reports whether the lookup reads the token cookies.
func (au *authenticator) readsCookies() bool { return hasSource(*au.sources, sourceCookie) }

// verify checks a raw token with the app's verifier (signature, claims,
// the clock; the cache of verified tokens).
func (au *authenticator) verify(raw string) (*token.Verified, *authError) {
	tok, e := au.verifier.Verify(raw)
	if e != nil {
		return nil, coreRefusal(e)
	}
	return tok, nil
}

// revokedToken reports whether tok was revoked: its jti, its refresh
// token family, or every token of its identity issued until some time, tok
// included (issued, by iat else nbf, at or before that second, or with
// neither). The ids are hashed once per verified token (presented), not
// per request.
func (au *authenticator) revokedToken(tok *token.Verified) bool {
	ids := &presentationOf(tok).ids
	if (tok.JTI != "" && au.revoked.isRevokedID(&ids.jti)) || (tok.Family != "" && au.revoked.isRevokedID(&ids.family)) {
		return true
	}
	before, ok := au.revoked.identityRevokedBeforeID(&ids.identity)
	if !ok {
		return false
	}
	issued, ok := tok.IssuedAt()
	return !ok || issued <= before
}

// checkCSRF compares the request's double submit value with the token's
// csrf claim: the csrf header (refresh_header for a refresh token), or
// when it is absent and `check_form` is on, the form field of a form body,
// in the order flask-jwt-extended reads them. Nothing is checked with
// protect off.
func (au *authenticator) checkCSRF(r *http.Request, tok *token.Verified) *authError {
	c := au.csrf
	if !c.protect {
		return nil
	}
	header, field := c.header, c.formField
	if tok.Type == token.TypeRefresh {
		header, field = c.refreshHeader, c.refreshFormField
	}
	got := r.Header.Get(header)
	if got == "" && c.checkForm {
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

// protected reports whether a cookie-borne token needs the double submit
// value for this method. Unless `csrf { methods ... }` lists the methods
// (matched without regard to case), every method but the safe ones,
// spelled exactly (flask-jwt-extended lists POST PUT PATCH DELETE instead,
// which lets "post" or an extension method through while an app may route
// it). Never with `csrf { protect off }`.
func (c *csrfSettings) protected(method string) bool {
	if !c.protect {
		return false
	}
	if c.methods != nil {
		for _, m := range c.methods {
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
