package jwtextended

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/revocation"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/google/uuid"
	"go.uber.org/zap"
)

// The refresh route of jwt_issue, with refresh-token rotation.

func (h *Issue) serveRefresh(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	tok, e := h.auth.authenticate(r, token.TypeRefresh)
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
	case h.fromOIDC(tok.Claims):
		// a provider's identity is no local user: the login put the
		// provider's claims into the refresh token, and they carry on
		claims = ownClaims(tok, h.app.IdentityClaim)
	case h.delegates("login"):
		// the app's users are not known here: the login put the app's
		// claims into the refresh token, and they carry on
		claims = ownClaims(tok, h.app.IdentityClaim)
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
	access, err := h.app.mint(r.Context(), token.Request{Type: token.TypeAccess, Identity: tok.Identity, Claims: claims, CSRF: h.deliverCookie && h.app.csrf.protect, Family: family, Auth: tok.Authentication()})
	if err != nil {
		return h.mintFailed(w, r, err)
	}
	h.app.events.emit(eventRefresh, eventData{Identity: tok.Identity, JTI: access.JTI, RemoteIP: clientIP(r)})
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
	switch h.app.revoked.refreshVerdict(family, tok.JTI, issuedAt(tok), h.rotateGrace) {
	case revocation.Keep:
		return nil, family, nil
	case revocation.Reuse:
		h.revokeFamily(r, tok, family)
		return nil, "", errRevoked
	}
	refresh, err := h.app.mint(r.Context(), token.Request{Type: token.TypeRefresh, Identity: tok.Identity, Claims: claims, CSRF: h.deliverCookie && h.app.csrf.protect, Family: family, Auth: tok.Authentication()})
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
	raw, _, e := h.auth.find(r, token.TypeRefresh)
	if e != nil {
		return
	}
	tok, e := h.auth.verify(raw)
	if e != nil || tok.Type != token.TypeRefresh || tok.Family == "" || !h.app.issuedHere(tok) {
		return
	}
	h.revokeFamily(r, tok, tok.Family)
}

// revokeFamily revokes a family whose refresh token tok was presented
// again after its rotation, and emits jwt_refresh_reuse.
func (h *Issue) revokeFamily(r *http.Request, tok *token.Verified, family string) {
	if family == "" || h.app.revoked.isRevoked(family) {
		return
	}
	ctx, cancel := revocationContext(r)
	defer cancel()
	if err := h.app.revoked.revoke(ctx, family, h.familyEnd()); err != nil {
		h.logger.Error("revoking a refresh token family failed", zap.Error(err))
		return
	}
	ip := clientIP(r)
	h.logger.Warn("refresh token reuse: token family revoked", zap.String("family", family), zap.String("remote_ip", ip))
	h.app.events.emit(eventRefreshReuse, eventData{Identity: tok.Identity, JTI: tok.JTI, RemoteIP: ip, Family: family})
}

// familyEnd is when every token of a family minted up to now has expired:
// now + refresh_ttl (+ leeway). A family's revocation is kept until then.
func (h *Issue) familyEnd() time.Time {
	return h.app.now().Add(h.app.resolved.refreshTTL + h.app.resolved.leeway)
}
