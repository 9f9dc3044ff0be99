package jwtextended

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
)

// TestVerifyTokenSizeLimit: tokens over 8 KiB are refused before any
// decoding, from every source; 8 KiB exactly is fine.
func TestVerifyTokenSizeLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	app := f.app

	// not even base64: only the size check can answer
	huge := strings.Repeat("!", jws.MaxTokenSize+1)
	if _, e := verifyRaw(app, huge); e != errTooLarge {
		t.Errorf("8 KiB + 1 of garbage: got %v, want %q", e, errTooLarge.msg)
	}

	// a valid token of exactly jws.MaxTokenSize bytes
	base := accessToken(t, map[string]any{"pad": ""})
	var exact string
	for n := (jws.MaxTokenSize-len(base))*3/4 - 8; n < jws.MaxTokenSize; n++ {
		tok := accessToken(t, map[string]any{"pad": strings.Repeat("p", n)})
		if len(tok) == jws.MaxTokenSize {
			exact = tok
			break
		}
		if len(tok) > jws.MaxTokenSize {
			break
		}
	}
	if exact == "" {
		t.Fatal("test setup: no padding gives a token of exactly 8 KiB")
	}
	if _, e := verifyRaw(app, exact); e != nil {
		t.Errorf("token of exactly %d bytes refused: %v", len(exact), e)
	}
	over := accessToken(t, map[string]any{"pad": strings.Repeat("p", jws.MaxTokenSize)})
	if _, e := verifyRaw(app, over); e != errTooLarge {
		t.Errorf("valid but oversized token: got %v, want %q", e, errTooLarge.msg)
	}

	for _, from := range []string{"header", "cookie", "query"} {
		t.Run(from, func(t *testing.T) {
			h := newFixture(t, withApp(func(a *App) { a.TokenFrom = []string{from} })).auth(nil)
			r := httptest.NewRequest("GET", "/api", nil)
			switch from {
			case "header":
				r.Header.Set("Authorization", "Bearer "+huge)
			case "cookie":
				r.Header.Set("Cookie", accessCookieName+"="+huge)
			case "query":
				r = httptest.NewRequest("GET", "/api?jwt="+huge, nil)
			}
			res := serve(h, r)
			wantRefused(t, res, 401, "Token is too large", challengeBadToken)
		})
	}
}
