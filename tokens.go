package jwtextended

import (
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// familyClaim names the refresh-token family a token belongs to when
// refresh rotation is on: one random id per login, shared by every token
// that login's refresh chain mints. Revoking it revokes the whole family.
const familyClaim = "fam"

// reservedClaims are minted by the issuer itself; a user's configured
// claims may not set them (the identity claim is reserved too).
var reservedClaims = map[string]bool{
	"sub": true, "type": true, "fresh": true, "jti": true, "iat": true, "nbf": true,
	"exp": true, "iss": true, "aud": true, "csrf": true, familyClaim: true,
}

// mintRequest says what to mint.
type mintRequest struct {
	typ      string // typeAccess or typeRefresh
	identity string
	// fresh marks an access token minted from credentials (login, reauth):
	// `fresh: true`, or the unix time now+fresh_for when fresh_for is set.
	// Refresh tokens and refreshed access tokens carry `fresh: false`.
	fresh bool
	// claims are the user's configured claims; reserved names never get
	// here (refused at load).
	claims map[string]any
	// csrf adds a random `csrf` claim, for cookie delivery.
	csrf bool
	// family is the refresh-token family (rotate_refresh); empty: none.
	family string
	// ttl overrides the app's lifetime for this token (caddy jwt mint).
	ttl time.Duration
}

// mintedToken is a signed token and what the response needs to know of it.
type mintedToken struct {
	raw  string
	jti  string
	csrf string
	exp  time.Time
	ttl  time.Duration
}

// mint signs a token in flask-jwt-extended's layout with the app's signing
// key: the identity under identity_claim, type, fresh, a UUIDv4 jti,
// iat/nbf/exp from the app's lifetimes and clock, iss and aud when
// configured, csrf for cookie delivery, and the user's claims.
func (a *App) mint(req mintRequest) (*mintedToken, error) {
	s, err := a.keys.signingKey()
	if err != nil {
		return nil, err
	}
	now := a.now()
	ttl := a.accessTTL()
	if req.typ == typeRefresh {
		ttl = a.refreshTTL()
	}
	if req.ttl > 0 {
		ttl = req.ttl
	}
	exp := now.Add(ttl)
	claims := make(jwt.MapClaims, len(req.claims)+12)
	for k, v := range req.claims {
		claims[k] = v
	}
	var fresh any = false
	if req.typ == typeAccess && req.fresh {
		fresh = true
		if a.FreshFor > 0 {
			fresh = now.Add(time.Duration(a.FreshFor)).Unix()
		}
	}
	m := &mintedToken{jti: uuid.NewString(), exp: time.Unix(exp.Unix(), 0), ttl: ttl}
	claims[a.IdentityClaim] = req.identity
	claims["type"] = req.typ
	claims["fresh"] = fresh
	claims["jti"] = m.jti
	claims["iat"] = now.Unix()
	claims["nbf"] = now.Unix()
	claims["exp"] = exp.Unix()
	if a.Issuer != "" {
		claims["iss"] = a.Issuer
	}
	switch len(a.Audience) {
	case 0:
	case 1:
		claims["aud"] = a.Audience[0]
	default:
		claims["aud"] = a.Audience
	}
	if req.csrf {
		m.csrf = uuid.NewString()
		claims["csrf"] = m.csrf
	}
	if req.family != "" {
		claims[familyClaim] = req.family
	}
	t := jwt.NewWithClaims(s.method, claims)
	if s.kid != "" {
		t.Header["kid"] = s.kid
	}
	raw, err := t.SignedString(s.key)
	if err != nil {
		return nil, errors.New("jwt: signing token: " + err.Error())
	}
	m.raw = raw
	a.countIssued(req.typ)
	return m, nil
}
