package jwtextended

import (
	"encoding/json"
	"strings"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/revocation"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/caddyserver/caddy/v2"
)

// presented is a verified token rendered once for the request path: the
// placeholder values boxed as interfaces and the providers of the
// {http.auth.*} placeholders, so that a cached token costs no rendering.
type presented struct {
	tok   *token.Verified
	boxed struct{ identity, typ, jti, exp, authTime any }
	// fresh and stale provide every placeholder of the token, with
	// {http.auth.jwt.fresh} true or false: freshness depends on the time,
	// so publish picks one per request, and a request grows the
	// replacer by one provider and no map entry.
	fresh, stale caddy.ReplacerFunc
	// ids are the token's ids as the revocation store keys them, hashed
	// once here rather than on every request (App.tokenRevoked).
	ids struct{ jti, family, identity revocation.ID }
}

// prepareForRequests is the Verifier's Prepare: it runs once per newly
// verified token, before the token is cached.
func prepareForRequests(t *token.Verified) any {
	p := &presented{tok: t}
	p.boxed.identity, p.boxed.typ, p.boxed.jti, p.boxed.exp = t.Identity, t.Type, t.JTI, t.ExpText
	if t.HasAuthTime {
		p.boxed.authTime = t.AuthTimeText
	}
	p.ids.jti, p.ids.family, p.ids.identity = revocation.IDOf(t.JTI), revocation.IDOf(t.Family), revocation.IDOf(t.Identity)
	p.fresh = func(key string) (any, bool) {
		if key == "http.auth.jwt.fresh" {
			return anyTrue, true
		}
		return p.placeholder(key)
	}
	p.stale = func(key string) (any, bool) {
		if key == "http.auth.jwt.fresh" {
			return anyFalse, true
		}
		return p.placeholder(key)
	}
	return p
}

// anyTrue and anyFalse are boxed once, so that a placeholder of them
// allocates nothing.
var anyTrue, anyFalse any = "true", "false"

// presentationOf returns the rendering of a token the app verified.
func presentationOf(t *token.Verified) *presented {
	if p, ok := t.Prepared.(*presented); ok {
		return p
	}
	return prepareForRequests(t).(*presented)
}

// placeholder resolves {http.auth.user.id}, {http.auth.user.<claim>} (a
// top-level string or number claim, as caddyauth publishes a user's
// metadata), {http.auth.jwt.type|jti|exp|auth_time} (auth_time unknown
// when the token has none),
// {http.auth.jwt.claims_json} and {http.auth.jwt.claims.<name>} for a
// request that this token authenticated ({http.auth.jwt.fresh} comes from
// the fresh and stale providers around it).
func (p *presented) placeholder(key string) (any, bool) {
	switch key {
	case "http.auth.user.id":
		return p.boxed.identity, true
	case "http.auth.jwt.type":
		return p.boxed.typ, true
	case "http.auth.jwt.jti":
		return p.boxed.jti, true
	case "http.auth.jwt.exp":
		return p.boxed.exp, true
	case "http.auth.jwt.auth_time":
		return p.boxed.authTime, p.boxed.authTime != nil
	case "http.auth.jwt.claims_json":
		return p.tok.PayloadJSON, true
	}
	if name, ok := strings.CutPrefix(key, "http.auth.user."); ok {
		return userClaim(p.tok.Claims[name])
	}
	name, ok := strings.CutPrefix(key, "http.auth.jwt.claims.")
	if !ok {
		return nil, false
	}
	v, ok := p.tok.Claims[name]
	if !ok {
		return nil, false
	}
	return claimString(v), true
}

// claimString renders a claim for a placeholder: strings as they are,
// anything else as compact JSON.
func claimString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return string(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// userClaim is the value of {http.auth.user.<claim>}: a string or number
// claim as it is; other kinds (objects, arrays, booleans) and missing
// claims are unknown, as in caddyauth, whose user metadata is text.
func userClaim(v any) (any, bool) {
	switch x := v.(type) {
	case string:
		return v, true // boxed already: no allocation
	case json.Number:
		return string(x), true
	}
	return nil, false
}
