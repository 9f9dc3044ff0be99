package jwtextended

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
)

// Issue 12, finding 3: a refresh token of another trusted issuer (a
// public_key or jwks_url key) is never turned into a local one. With alice
// a local user with role=admin, a foreign refresh token for "alice" with no
// role was refreshed into a local access token carrying role=admin. Only
// tokens signed with this app's own signing key are refreshed, revoked as
// refresh tokens at logout, or give a family to the tokens minted here.
func TestIssueForeignRefreshToken(t *testing.T) {
	t.Parallel()
	idp := testkit.Keys()["rsa"]
	e := newFixture(t, withApp(func(a *App) {
		a.PublicKeys = []KeyFile{{File: testkit.WritePKIX(t, idp.Public()), KID: "idp"}}
	}), withIssuer(func(h *Issue) { h.RotateRefresh = true }))
	now := fixtureT0.Unix()
	foreign := func(typ, jti string) string {
		return testkit.SignToken(t, "RS256", idp, map[string]any{"kid": "idp"}, map[string]any{
			"sub": "alice", "type": typ, "fresh": false, "jti": jti, "fam": "fam-of-idp",
			"iat": now, "nbf": now, "exp": now + 3600,
		})
	}
	// the foreign issuer's tokens are trusted where any access token is
	if ae := e.authenticate(foreign("access", "idp-a1"), "access"); ae != nil {
		t.Fatalf("test setup: the IdP's access token is refused: %v", ae)
	}

	w := e.do(withBearer(httptest.NewRequest(http.MethodPost, "/refresh", nil), foreign("refresh", "idp-r1")))
	wantMsg(t, w, 401, "Only refresh tokens issued here can be used here")
	if strings.Contains(w.Body.String(), "access_token") {
		t.Fatalf("a foreign refresh token was refreshed: %s", w.Body)
	}

	// logout does not take a foreign refresh token either
	login := e.login()
	logout := jsonPost("/logout", `{"refresh_token":"`+foreign("refresh", "idp-r2")+`"}`)
	logout = withBearer(logout, login["access_token"].(string))
	w = e.do(logout)
	wantMsg(t, w, 401, "Only refresh tokens issued here can be used here")

	// a foreign access token's family is not this app's to revoke: logout
	// with it leaves a local session of that family id alone
	e.clock.Advance(time.Second)
	w = e.do(withBearer(httptest.NewRequest(http.MethodPost, "/logout", nil), foreign("access", "idp-a2")))
	if w.Code != http.StatusOK {
		t.Fatalf("logout with a foreign access token: %d %s", w.Code, w.Body)
	}
	if e.isRevoked("fam-of-idp") {
		t.Fatal("a foreign token's family was revoked here")
	}
	// control: the local refresh token still refreshes
	w = e.do(withBearer(httptest.NewRequest(http.MethodPost, "/refresh", nil), login["refresh_token"].(string)))
	if w.Code != http.StatusOK {
		t.Fatalf("local refresh: %d %s", w.Code, w.Body)
	}
}
