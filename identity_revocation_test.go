package jwtextended

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
)

// Tests of revocation by identity (issue 11) in the root glue: the iat
// rule of App.identityRevoked, the record across a reload, a restart and a
// second instance on the same storage, a login right after a revocation,
// and `logout <path> all`. The store itself is tested in
// internal/revocation (identity_test.go); the admin API and `caddy jwt
// revoke` in admin_test.go.

// identityClaims are an access token's claims of sub with jti, expiring
// far ahead, without iat or nbf; claims in extra are added, and a nil
// value removes the claim.
func identityClaims(sub, jti string, extra map[string]any) map[string]any {
	claims := map[string]any{"sub": sub, "type": "access", "fresh": false, "jti": jti, "exp": float64(4_000_000_000)}
	testkit.ApplyOverrides(claims, extra)
	return claims
}

// The issue's rule: a token of the identity is revoked when its iat (else
// its nbf) is at or before the revocation's second T, or it has neither;
// a token issued in a later second is not; a later revocation's T wins.
// Checked on every request, after the cache of verified tokens.
func TestIdentityRevokedIatRule(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	app := f.app
	t0 := int64(1_800_000_000)
	clock := f.clock
	clock.Set(time.Unix(t0, 500_000_000))

	cached := f.token(identityClaims("alice", "cached", map[string]any{"iat": t0 - 60}))
	if e := f.authenticate(cached, token.TypeAccess); e != nil {
		t.Fatalf("before the revocation: %v", e)
	}
	if err := app.revoked.revokeIdentity(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	if before, ok := app.revoked.identityRevokedBefore("alice"); !ok || before != t0 {
		t.Fatalf("T = %d, %v; want %d", before, ok, t0)
	}
	clock.Advance(5 * time.Second)
	cases := []struct {
		name    string
		sub     string
		claims  map[string]any
		revoked bool
	}{
		{"verified and cached before the revocation", "alice", nil, true},
		{"iat before T", "alice", map[string]any{"iat": t0 - 1}, true},
		{"iat in T's own second", "alice", map[string]any{"iat": t0}, true},
		{"fractional iat in T's second", "alice", map[string]any{"iat": float64(t0) + 0.9}, true},
		{"iat the second after T", "alice", map[string]any{"iat": t0 + 1}, false},
		{"iat after T, nbf before: iat decides", "alice", map[string]any{"iat": t0 + 1, "nbf": t0 - 100}, false},
		{"iat before T, nbf after: iat decides", "alice", map[string]any{"iat": t0 - 1, "nbf": t0 + 1}, true},
		{"no iat, nbf at T", "alice", map[string]any{"nbf": t0}, true},
		{"no iat, nbf after T", "alice", map[string]any{"nbf": t0 + 1}, false},
		{"neither iat nor nbf", "alice", nil, true},
		{"another identity, iat before T", "bob", map[string]any{"iat": t0 - 1}, false},
	}
	for i, c := range cases {
		tok := cached
		if i > 0 {
			tok = f.token(identityClaims(c.sub, c.name, c.claims))
		}
		e := f.authenticate(tok, token.TypeAccess)
		if c.revoked && e != errRevoked {
			t.Errorf("%s: %v, want revoked", c.name, e)
		}
		if !c.revoked && e != nil {
			t.Errorf("%s: %v, want accepted", c.name, e)
		}
	}
	// a later revocation's T wins
	clock.Advance(time.Second)
	if err := app.revoked.revokeIdentity(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Second)
	if e := f.authenticate(f.token(identityClaims("alice", "after-first", map[string]any{"iat": t0 + 1})), token.TypeAccess); e != errRevoked {
		t.Errorf("a token issued between two revocations, after the second: %v, want revoked", e)
	}
	if e := f.authenticate(f.token(identityClaims("alice", "after-second", map[string]any{"iat": t0 + 7})), token.TypeAccess); e != nil {
		t.Errorf("a token issued after the second revocation: %v", e)
	}
}

// The record holds across `caddy reload` (two Apps provisioned on one
// storage, as a reload does: revoked on the first, refused by the second),
// a restart (a new App after both are gone, loading from storage) and on
// a second instance sharing the storage (its own set; it learns the
// record by its sync loop, within the contract's bound).
func TestIdentityRevocationReloadRestartSecondInstance(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().Unix()
	first := newFixture(t, inStorage(dir), wallClock())
	issued := first.token(identityClaims("alice", "a1", map[string]any{"iat": now - 10}))
	reloaded := first.again(wallClock())
	// the second instance: the same folder under another name, so another
	// storage identity and another set, like another process
	link := filepath.Join(t.TempDir(), "shared")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	other := newFixture(t, inStorage(link), wallClock(), withAppJSON(`{"revocation_sync": "100ms"}`))
	if other.revocations().store.Set() == first.revocations().store.Set() {
		t.Fatal("the second instance shares the first's set; the test would show no propagation")
	}
	// provisioned, not started: the second instance's sync loop is started
	// here, as Caddy's Start does
	if err := other.revocations().start(); err != nil {
		t.Fatal(err)
	}
	for _, a := range []*fixture{first, reloaded, other} {
		if e := a.authenticate(issued, token.TypeAccess); e != nil {
			t.Fatalf("before the revocation: %v", e)
		}
	}

	if err := first.app.revoked.revokeIdentity(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	if e := first.authenticate(issued, token.TypeAccess); e != errRevoked {
		t.Fatalf("on the instance that revoked: %v", e)
	}
	if e := reloaded.authenticate(issued, token.TypeAccess); e != errRevoked {
		t.Fatalf("in the reloaded config: %v", e)
	}
	start := time.Now()
	for other.authenticate(issued, token.TypeAccess) != errRevoked {
		if time.Since(start) > contractRevocationBound {
			t.Fatalf("the second instance accepts the token %s after the revocation", time.Since(start))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("the second instance refused the token after %s", time.Since(start).Round(time.Millisecond))

	// a restart: every App on the storage gone, then a new one
	first.revocations().release()
	reloaded.revocations().release()
	restarted := first.again(wallClock())
	if e := restarted.authenticate(issued, token.TypeAccess); e != errRevoked {
		t.Fatalf("after a restart: %v", e)
	}
	before, _ := restarted.app.revoked.identityRevokedBefore("alice")
	for time.Now().Unix() <= before {
		time.Sleep(10 * time.Millisecond)
	}
	if e := restarted.authenticate(restarted.token(identityClaims("alice", "a2", map[string]any{"iat": time.Now().Unix()})), token.TypeAccess); e != nil {
		t.Fatalf("after a restart, a token issued after the revocation: %v", e)
	}
}

// With the real clock: a login right after a revocation waits until the
// revocation's second has passed, so its token is accepted, while the
// tokens of before are refused.
func TestIdentityLoginRightAfterRevocation(t *testing.T) {
	e := newFixture(t, withIssuer())
	e.app.now = time.Now
	old := e.login()
	if err := e.app.revoked.revokeIdentity(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	fresh := e.login()
	waited := time.Since(start)
	for _, tok := range []string{old["access_token"].(string), old["refresh_token"].(string)} {
		if ae := e.authenticate(tok, "any"); ae != errRevoked {
			t.Errorf("a token of before the revocation: %v, want revoked", ae)
		}
	}
	if ae := e.authenticate(fresh["access_token"].(string), token.TypeAccess); ae != nil {
		t.Fatalf("the login right after the revocation got a refused token: %v", ae)
	}
	if w := e.refresh(fresh["refresh_token"].(string)); w.Code != http.StatusOK {
		t.Fatalf("its refresh token: %d %s", w.Code, w.Body)
	}
	if waited > 1500*time.Millisecond {
		t.Errorf("the login waited %s; at most a second is expected", waited)
	}
	t.Logf("the login waited %s", waited)
}

// `logout <path> all` ends every login of the user (another device's
// tokens are refused, at jwt_auth and at the refresh route); a plain
// logout ends only the presented tokens. A login afterwards works.
func TestIssueLogoutAll(t *testing.T) {
	t.Parallel()
	for _, all := range []bool{true, false} {
		name := "plain"
		if all {
			name = "all"
		}
		t.Run(name, func(t *testing.T) {
			e := newFixture(t, withIssuer(func(h *Issue) { h.LogoutAll = all }))
			phone, laptop := e.login(), e.login()
			e.clock.Advance(time.Second)
			w := e.logout(phone["access_token"].(string), phone["refresh_token"].(string))
			if w.Code != http.StatusOK || w.Body.String() != `{"msg":"Logged out"}` {
				t.Fatalf("logout: %d %s", w.Code, w.Body)
			}
			if ae := e.authenticate(phone["access_token"].(string), token.TypeAccess); ae != errRevoked {
				t.Errorf("the presented access token: %v, want revoked", ae)
			}
			_, revoked := e.app.revoked.identityRevokedBefore("alice")
			laptopAccess := e.authenticate(laptop["access_token"].(string), token.TypeAccess)
			laptopRefresh := e.refresh(laptop["refresh_token"].(string))
			if all {
				if !revoked || laptopAccess != errRevoked {
					t.Errorf("another device's access token after logout all: %v (identity revoked %v), want revoked", laptopAccess, revoked)
				}
				wantMsg(t, laptopRefresh, 401, "Token has been revoked")
			} else {
				if revoked || laptopAccess != nil || laptopRefresh.Code != http.StatusOK {
					t.Errorf("a plain logout ended another device's login: identity revoked %v, access %v, refresh %d",
						revoked, laptopAccess, laptopRefresh.Code)
				}
			}
			e.clock.Advance(time.Second)
			again := e.login()
			if ae := e.authenticate(again["access_token"].(string), token.TypeAccess); ae != nil {
				t.Errorf("a login after the logout: %v", ae)
			}
		})
	}
}

// A token of another trusted issuer (public_key) that names a local user
// does not log that user out everywhere: the logout revokes the presented
// token only. A local token of the same user does.
func TestIssueLogoutAllForeignToken(t *testing.T) {
	t.Parallel()
	idp := testkit.Keys()["rsa"]
	e := newFixture(t, withApp(func(a *App) {
		a.PublicKeys = []KeyFile{{File: testkit.WritePKIX(t, idp.Public()), KID: "idp"}}
	}), withIssuer(func(h *Issue) { h.LogoutAll = true }))
	now := fixtureT0.Unix()
	foreign := func(jti string) string {
		return testkit.SignToken(t, "RS256", idp, map[string]any{"kid": "idp"}, map[string]any{
			"sub": "alice", "type": "access", "fresh": false, "jti": jti, "iat": now, "nbf": now, "exp": now + 3600,
		})
	}
	local := e.login()
	e.clock.Advance(time.Second)
	w := e.logout(foreign("idp-1"), "")
	if w.Code != http.StatusOK {
		t.Fatalf("logout with a foreign access token: %d %s", w.Code, w.Body)
	}
	if _, ok := e.app.revoked.identityRevokedBefore("alice"); ok {
		t.Fatal("a foreign issuer's token revoked the local user's identity")
	}
	if ae := e.authenticate(local["access_token"].(string), token.TypeAccess); ae != nil {
		t.Fatalf("the local user's token after a foreign token's logout all: %v", ae)
	}
	if ae := e.authenticate(foreign("idp-1"), token.TypeAccess); ae != errRevoked {
		t.Errorf("the presented foreign token: %v, want revoked (a plain logout)", ae)
	}
	// control: the local token does end every token of the identity
	other := foreign("idp-2")
	e.clock.Advance(time.Second)
	if w := e.logout(local["access_token"].(string), ""); w.Code != http.StatusOK {
		t.Fatalf("logout all with a local token: %d %s", w.Code, w.Body)
	}
	if _, ok := e.app.revoked.identityRevokedBefore("alice"); !ok {
		t.Fatal("logout all with a local token did not revoke the identity")
	}
	if ae := e.authenticate(other, token.TypeAccess); ae != errRevoked {
		t.Errorf("a token of the identity issued before (by any issuer): %v, want revoked", ae)
	}
}

// A logout all whose identity revocation cannot be stored answers 503,
// like any logout that cannot be recorded, and revokes nothing else.
func TestIssueLogoutAllStorageFailureIs503(t *testing.T) {
	t.Parallel()
	e := newFixture(t, faultyStorage(), withIssuer(func(h *Issue) { h.LogoutAll = true }))
	login := e.login()
	e.failStores(errors.New("storage down"))
	w := e.logout(login["access_token"].(string), login["refresh_token"].(string))
	wantMsg(t, w, 503, "Logout could not be recorded; try again")
	_, claims := decodeToken(t, login["refresh_token"].(string))
	if e.isRevoked(claims["jti"].(string)) {
		t.Error("a failed logout all revoked the refresh token's jti")
	}
}
