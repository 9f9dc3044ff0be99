package jwtextended

import (
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"net/http"
	"time"
)

// Cookie delivery follows flask-jwt-extended: the tokens in HttpOnly
// cookies that scripts cannot read, and each token's csrf claim in a
// cookie that scripts can read and echo in X-CSRF-TOKEN (double submit).
//
// Every cookie has Path=/ (flask-jwt-extended's default for both
// JWT_ACCESS_COOKIE_PATH and JWT_REFRESH_COOKIE_PATH): the refresh cookie
// must reach both the refresh and the logout route, which may live
// anywhere. SameSite=Lax, and Secure when the request came over HTTPS.
// Max-Age is the token's lifetime.

// setTokenCookies sets the token cookie and its CSRF cookie.
func setTokenCookies(w http.ResponseWriter, r *http.Request, typ string, t *token.Minted) {
	name, csrfName := accessCookieName, accessCSRFCookie
	if typ == token.TypeRefresh {
		name, csrfName = refreshCookieName, refreshCSRFCookie
	}
	maxAge := int(t.TTL / time.Second)
	http.SetCookie(w, tokenCookie(r, name, t.Raw, maxAge, true))
	http.SetCookie(w, tokenCookie(r, csrfName, t.CSRF, maxAge, false))
}

// clearTokenCookies expires all four cookies.
func clearTokenCookies(w http.ResponseWriter, r *http.Request) {
	for _, c := range []struct {
		name     string
		httpOnly bool
	}{
		{accessCookieName, true}, {refreshCookieName, true},
		{accessCSRFCookie, false}, {refreshCSRFCookie, false},
	} {
		ck := tokenCookie(r, c.name, "", -1, c.httpOnly)
		ck.Expires = time.Unix(0, 0)
		http.SetCookie(w, ck)
	}
}

func tokenCookie(r *http.Request, name, value string, maxAge int, httpOnly bool) *http.Cookie {
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: httpOnly,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteLaxMode,
	}
}
