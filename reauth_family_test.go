package jwtextended

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
)

// TestReauthStaysInFamily (issue 12, finding 6): under rotate_refresh a
// reauth that presents a valid token of the session (its access token,
// or its refresh token as the refresh route reads it) mints into the
// session's family, so a logout with the reauth's token ends the whole
// session: the login's access and refresh tokens are refused afterwards.
func TestReauthStaysInFamily(t *testing.T) {
	for _, presented := range []string{"access_token", "refresh_token"} {
		t.Run(presented, func(t *testing.T) {
			e := newFixture(t, withIssuer(func(h *Issue) { h.RotateRefresh = true }))
			login := e.login()
			_, loginClaims := decodeToken(t, login["access_token"].(string))

			w := e.do(withBearer(jsonPost("/reauth", creds("alice", fixturePassword)), login[presented].(string)))
			if w.Code != http.StatusOK {
				t.Fatalf("reauth: %d %s", w.Code, w.Body)
			}
			fresh := bodyJSON(t, w)["access_token"].(string)
			_, freshClaims := decodeToken(t, fresh)
			if freshClaims[token.FamilyClaim] != loginClaims[token.FamilyClaim] {
				t.Errorf("reauth's family %v, want the session's %v", freshClaims[token.FamilyClaim], loginClaims[token.FamilyClaim])
			}

			w = e.do(withBearer(httptest.NewRequest(http.MethodPost, "/logout", nil), fresh))
			if w.Code != http.StatusOK {
				t.Fatalf("logout: %d %s", w.Code, w.Body)
			}
			if ae := e.authenticate(login["access_token"].(string), token.TypeAccess); ae != errRevoked {
				t.Errorf("the login's access token after logout with the reauth's token: %v, want revoked", ae)
			}
			r := withBearer(httptest.NewRequest(http.MethodPost, "/refresh", nil), login["refresh_token"].(string))
			wantMsg(t, e.do(r), 401, "Token has been revoked")
		})
	}
}

// TestReauthWithoutSessionNewFamily: a reauth that presents no token, or
// one of another user, or one of a session already logged out, starts a
// family of its own, as before.
func TestReauthWithoutSessionNewFamily(t *testing.T) {
	e := newFixture(t, withIssuer(func(h *Issue) {
		h.RotateRefresh = true
		h.Users = append(h.Users, User{Name: "bob", Hash: passwordHash(t)})
	}))
	login := e.login()
	_, loginClaims := decodeToken(t, login["access_token"].(string))
	fam := loginClaims[token.FamilyClaim]
	reauthFamily := func(name, bearer string) any {
		t.Helper()
		r := jsonPost("/reauth", creds(name, fixturePassword))
		if bearer != "" {
			withBearer(r, bearer)
		}
		w := e.do(r)
		if w.Code != http.StatusOK {
			t.Fatalf("reauth: %d %s", w.Code, w.Body)
		}
		_, c := decodeToken(t, bodyJSON(t, w)["access_token"].(string))
		if !uuidV4.MatchString(c[token.FamilyClaim].(string)) {
			t.Fatalf("reauth's family %v is not a UUID", c[token.FamilyClaim])
		}
		return c[token.FamilyClaim]
	}
	if got := reauthFamily("alice", ""); got == fam {
		t.Error("a reauth without a token joined a session")
	}
	if got := reauthFamily("bob", login["access_token"].(string)); got == fam {
		t.Error("bob's reauth joined alice's session")
	}
	w := e.do(withBearer(httptest.NewRequest(http.MethodPost, "/logout", nil), login["access_token"].(string)))
	if w.Code != http.StatusOK {
		t.Fatalf("logout: %d %s", w.Code, w.Body)
	}
	if got := reauthFamily("alice", login["refresh_token"].(string)); got == fam {
		t.Error("a reauth joined a session that was logged out")
	}
}

// A logout that presents tokens of two families (a reauth that started its
// own family, and the login's refresh token) ends both: the login's other
// access tokens are refused afterwards.
func TestLogoutEndsEveryPresentedFamily(t *testing.T) {
	e := newFixture(t, withIssuer(func(h *Issue) { h.RotateRefresh = true }))
	login := e.login()
	w := e.do(jsonPost("/reauth", creds("alice", fixturePassword))) // no token: a new family
	if w.Code != http.StatusOK {
		t.Fatalf("reauth: %d %s", w.Code, w.Body)
	}
	reauthAccess := bodyJSON(t, w)["access_token"].(string)
	logout := jsonPost("/logout", `{"refresh_token":"`+login["refresh_token"].(string)+`"}`)
	if w := e.do(withBearer(logout, reauthAccess)); w.Code != http.StatusOK {
		t.Fatalf("logout: %d %s", w.Code, w.Body)
	}
	if ae := e.authenticate(login["access_token"].(string), token.TypeAccess); ae != errRevoked {
		t.Fatalf("the login's access token after a logout with its refresh token: %v, want revoked", ae)
	}
}
