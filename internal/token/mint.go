package token

import (
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/keys"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Minter signs tokens in flask-jwt-extended's layout with the signing key.
type Minter struct {
	Keys          *keys.Ring
	Issuer        string
	Audience      []string
	IdentityClaim string
	AccessTTL     time.Duration
	RefreshTTL    time.Duration
	// FreshFor, when set, makes fresh tokens carry fresh: <now+FreshFor>
	// instead of true.
	FreshFor time.Duration
	Now      func() time.Time
}

// Request says what to mint.
type Request struct {
	Type     string // TypeAccess or TypeRefresh
	Identity string
	// Fresh marks an access token minted from credentials (login,
	// reauth): fresh: true, or the unix time now+FreshFor when FreshFor is
	// set. Refresh tokens and refreshed access tokens carry fresh: false.
	Fresh bool
	// Claims are the user's claims; reserved names never get here
	// (refused at load).
	Claims map[string]any
	// CSRF adds a random csrf claim, for cookie delivery.
	CSRF bool
	// Family is the refresh-token family (rotation); empty: none.
	Family string
	// TTL overrides the lifetime of the token's type (caddy jwt mint).
	TTL time.Duration
	// Auth is when and how the user authenticated: auth_time, amr and acr
	// of a token minted from a credential check, copied by a refresh.
	Auth Authentication
}

// Minted is a signed token and what a response needs to know of it.
type Minted struct {
	Raw  string
	JTI  string
	CSRF string
	Exp  time.Time
	TTL  time.Duration
}

// Mint signs a token: the identity under the identity claim, type, fresh,
// a UUIDv4 jti, iat/nbf/exp from the lifetimes and the clock, iss and aud
// when configured, csrf for cookie delivery, and the user's claims.
func (m *Minter) Mint(req Request) (*Minted, error) {
	s, err := m.Keys.Signer()
	if err != nil {
		return nil, err
	}
	now := m.Now()
	ttl := m.AccessTTL
	if req.Type == TypeRefresh {
		ttl = m.RefreshTTL
	}
	if req.TTL > 0 {
		ttl = req.TTL
	}
	exp := now.Add(ttl)
	claims := make(jwt.MapClaims, len(req.Claims)+15)
	for k, v := range req.Claims {
		claims[k] = v
	}
	var fresh any = false
	if req.Type == TypeAccess && req.Fresh {
		fresh = true
		if m.FreshFor > 0 {
			fresh = now.Add(m.FreshFor).Unix()
		}
	}
	out := &Minted{JTI: uuid.NewString(), Exp: time.Unix(exp.Unix(), 0), TTL: ttl}
	claims[m.IdentityClaim] = req.Identity
	claims["type"] = req.Type
	claims["fresh"] = fresh
	claims["jti"] = out.JTI
	claims["iat"] = now.Unix()
	claims["nbf"] = now.Unix()
	claims["exp"] = exp.Unix()
	if m.Issuer != "" {
		claims["iss"] = m.Issuer
	}
	switch len(m.Audience) {
	case 0:
	case 1:
		claims["aud"] = m.Audience[0]
	default:
		claims["aud"] = m.Audience
	}
	if req.CSRF {
		out.CSRF = uuid.NewString()
		claims["csrf"] = out.CSRF
	}
	if req.Family != "" {
		claims[FamilyClaim] = req.Family
	}
	req.Auth.put(claims)
	if out.Raw, err = jws.Sign(claims, s); err != nil {
		return nil, err
	}
	return out, nil
}
