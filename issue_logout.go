package jwtextended

import (
	"net/http"
	"slices"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"go.uber.org/zap"
)

// The logout route of jwt_issue.

// serveLogout revokes the presented access token (token sources) and
// refresh token (body field refresh_token, or the refresh_token_cookie
// cookie), then clears the cookies. At least one valid token is needed; an
// expired or already revoked one is skipped, anything else refused.
func (h *Issue) serveLogout(w http.ResponseWriter, r *http.Request) error {
	key := h.auth.names.refreshJSONKey // refresh_json_key: where the body holds the refresh token
	fields, e := readBodyFields(w, r, []string{key}, false)
	if e != nil {
		return h.refuse(w, r, e)
	}
	access, accessErr := h.auth.authenticate(r, token.TypeAccess)
	if accessErr != nil && !skippableAtLogout(accessErr) {
		return h.refuse(w, r, accessErr)
	}
	refresh, e := h.logoutRefreshToken(r, fields[key], access)
	if e != nil {
		return h.refuse(w, r, e)
	}
	if access == nil && refresh == nil {
		if accessErr == nil {
			accessErr = h.auth.names.missingHeader
		}
		return h.refuse(w, r, accessErr)
	}
	if e := h.revokeAtLogout(r, access, refresh); e != nil {
		return h.refuse(w, r, e)
	}
	h.app.events.emit(eventLogout, logoutEvent(r, access, refresh))
	if h.deliverCookie {
		h.app.cookies.clearTokenCookies(w, r)
	}
	writeJSON(w, http.StatusOK, map[string]string{"msg": "Logged out"})
	return nil
}

// logoutRefreshToken finds the refresh token a logout presents: the body's
// refresh_token, or the refresh cookie. It returns nil when there is none,
// or when it is expired or already revoked (nothing left to revoke).
func (h *Issue) logoutRefreshToken(r *http.Request, raw string, access *token.Verified) (*token.Verified, *authError) {
	fromCookie := false
	if raw == "" && h.auth.readsCookies() {
		if v, e := tokenFromCookie(r, h.app.cookies.name(token.TypeRefresh)); e == nil {
			raw, fromCookie = v, true
		} else if e == errTooLarge {
			return nil, e
		}
	}
	if raw == "" {
		return nil, nil
	}
	tok, e := h.auth.verify(raw)
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
		if e := h.auth.checkCSRF(r, tok); e != nil {
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
			if err := h.app.revoked.revokeIdentity(ctx, identity); err != nil {
				h.logger.Error("logout all: revoking the identity failed", zap.Error(err))
				return errRevocationFailed
			}
			h.app.events.emit(eventRevoked, eventData{Identity: identity, RemoteIP: clientIP(r), Reason: "logout_all"})
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

// logoutEvent is jwt_logout's data: the identity and the jti of the
// access token revoked, else of the refresh token.
func logoutEvent(r *http.Request, access, refresh *token.Verified) eventData {
	t := access
	if t == nil {
		t = refresh
	}
	return eventData{Identity: t.Identity, JTI: t.JTI, RemoteIP: clientIP(r)}
}
