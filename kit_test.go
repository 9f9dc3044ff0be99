package jwtextended

import "github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"

// parseToken runs a token through the app's verifier without the cache
// and the clock: what a token's signature and claims alone decide.
func (a *App) parseToken(raw string) (*token.Verified, *authError) {
	tok, e := a.verifier.Parse(raw, a.ring.Current())
	if e != nil {
		return nil, coreRefusal(e)
	}
	return tok, nil
}
