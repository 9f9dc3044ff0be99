package jwtextended

import (
	"context"
	"crypto"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddyserver/certmagic"
	"github.com/go-jose/go-jose/v4"
)

// fakeIdP is an identity provider's JWKS endpoint that can go down
// (503) and counts the requests it gets.
type fakeIdP struct {
	*httptest.Server
	body     atomic.Pointer[[]byte]
	down     atomic.Bool
	requests atomic.Int32
}

func newFakeIdP(t testing.TB, body []byte) *fakeIdP {
	t.Helper()
	idp := &fakeIdP{}
	idp.body.Store(&body)
	idp.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		idp.requests.Add(1)
		if idp.down.Load() {
			http.Error(w, "identity provider down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(*idp.body.Load())
	}))
	t.Cleanup(idp.Close)
	return idp
}

// jwkSetOf is a JWK Set of the public half of key, with kid and alg.
func jwkSetOf(t testing.TB, key crypto.Signer, kid, alg string) []byte {
	t.Helper()
	return testkit.MustJSON(t, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: kid, Algorithm: alg, Use: "sig"}}})
}

// wantParse asserts that the app accepts (or, with want "", refuses
// with any message) the token; want is the refusal message expected.
func wantParse(t testing.TB, step string, a *App, tok string, want string) {
	t.Helper()
	_, e := a.parseToken(tok)
	switch {
	case want == "" && e != nil:
		t.Fatalf("%s: the IdP's token is refused: %d %q", step, e.status, e.msg)
	case want != "" && e == nil:
		t.Fatalf("%s: the token is accepted, want %q", step, want)
	case want != "" && e.msg != want:
		t.Fatalf("%s: refused with %q, want %q", step, e.msg, want)
	}
}

// Issue 12, finding 7: the last good JWK Set of a jwks_url survives a
// config reload (the new app uses it before its first fetch, and keeps it
// when that fetch fails) and a restart (read back from Caddy's storage),
// while the identity provider is down. Fetches are run synchronously with
// Ring.Refresh, the same path as the background loop's; nothing sleeps.
func TestJWKSLastGoodSetSurvivesReloadAndRestart(t *testing.T) {
	t.Parallel()
	key := testkit.Keys()["p256"]
	idp := newFakeIdP(t, jwkSetOf(t, key, "idp-1", "ES256"))
	storage := t.TempDir()
	cfg := map[string]any{"jwks_urls": []any{idp.URL}, "jwks_refresh": "1h"}
	tok := testkit.SignToken(t, "ES256", key, map[string]any{"kid": "idp-1"}, wallClaims())
	ctx := context.Background()

	a1 := newFixture(t, appConfig(testkit.MustJSON(t, cfg)), wallClock(), inStorage(storage)).app
	wantParse(t, "before the first fetch", a1, tok, "Unknown key id")
	if err := a1.ring.Refresh(ctx); err != nil {
		t.Fatalf("first fetch: %v", err)
	}
	wantParse(t, "after the first fetch", a1, tok, "")
	idp.down.Store(true)
	if err := a1.ring.Refresh(ctx); err == nil {
		t.Fatal("a fetch from the IdP that is down succeeded")
	}
	wantParse(t, "IdP down, same config", a1, tok, "")

	// caddy reload: the new app is provisioned while the old one runs,
	// then the old one is cleaned up
	a2 := newFixture(t, appConfig(testkit.MustJSON(t, cfg)), wallClock(), inStorage(storage)).app
	wantParse(t, "reload, before the new app's first fetch", a2, tok, "")
	if err := a2.ring.Refresh(ctx); err == nil {
		t.Fatal("a fetch from the IdP that is down succeeded")
	}
	wantParse(t, "reload, after a failed first fetch", a2, tok, "")
	if err := a1.Cleanup(); err != nil {
		t.Fatal(err)
	}
	wantParse(t, "reload, the old app cleaned up", a2, tok, "")

	// restart: nothing is left in memory; the set comes from storage
	if err := a2.Cleanup(); err != nil {
		t.Fatal(err)
	}
	a3 := newFixture(t, appConfig(testkit.MustJSON(t, cfg)), wallClock(), inStorage(storage)).app
	wantParse(t, "restart, before the first fetch", a3, tok, "")
	if err := a3.ring.Refresh(ctx); err == nil {
		t.Fatal("a fetch from the IdP that is down succeeded")
	}
	wantParse(t, "restart, after a failed first fetch", a3, tok, "")

	// a restart on another storage knows nothing of the set
	if err := a3.Cleanup(); err != nil {
		t.Fatal(err)
	}
	a4 := newFixture(t, appConfig(testkit.MustJSON(t, cfg)), wallClock(), inStorage(t.TempDir())).app
	wantParse(t, "restart on an empty storage", a4, tok, "Unknown key id")
}

// A kept set is only ever used for its own URL, and is checked like a
// fetched one: the set of one URL copied to another URL's storage key is
// ignored, and so is a kept set a fetch would refuse. The memory entry of
// a URL lives while an App names it.
func TestJWKSKeptSetBoundToItsURL(t *testing.T) {
	t.Parallel()
	key := testkit.Keys()["p256"]
	idp := newFakeIdP(t, jwkSetOf(t, key, "idp-1", "ES256"))
	dir := t.TempDir()
	store := &certmagic.FileStorage{Path: dir}
	ctx := context.Background()
	tok := testkit.SignToken(t, "ES256", key, map[string]any{"kid": "idp-1"}, wallClaims())

	a := newFixture(t, appConfig(testkit.MustJSON(t, map[string]any{"jwks_urls": []any{idp.URL, idp.URL}})), wallClock(), inStorage(dir)).app
	if refs, ok := jwksLastGood.References(jwksPoolKey(idp.URL)); !ok || refs != 1 {
		t.Fatalf("memory entry of the URL: %d references (%v), want 1 for one App naming it twice", refs, ok)
	}
	if err := a.ring.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	data, err := store.Load(ctx, jwksStorageKey(idp.URL))
	if err != nil {
		t.Fatalf("the fetched set was not kept in storage: %v", err)
	}
	var kept keptJWKS
	if err := json.Unmarshal(data, &kept); err != nil || kept.URL != idp.URL {
		t.Fatalf("kept set %s: %v", data, err)
	}
	if err := a.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if _, ok := jwksLastGood.References(jwksPoolKey(idp.URL)); ok {
		t.Fatal("the memory entry outlived the last App naming its URL")
	}

	// another URL (same host, another path) whose storage key holds the
	// first URL's set
	other := idp.URL + "/other"
	idp.down.Store(true)
	if err := store.Store(ctx, jwksStorageKey(other), data); err != nil {
		t.Fatal(err)
	}
	b := newFixture(t, appConfig(testkit.MustJSON(t, map[string]any{"jwks_urls": []any{other}})), wallClock(), inStorage(dir)).app
	wantParse(t, "another URL's kept set", b, tok, "Unknown key id")
	if err := b.Cleanup(); err != nil {
		t.Fatal(err)
	}

	// the URL's own key, holding a set a fetch would refuse (a secret)
	bad := keptJWKS{URL: idp.URL, JWKS: testkit.MustJSON(t, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "idp-1", Algorithm: "HS256"}}})}
	if err := store.Store(ctx, jwksStorageKey(idp.URL), testkit.MustJSON(t, bad)); err != nil {
		t.Fatal(err)
	}
	c := newFixture(t, appConfig(testkit.MustJSON(t, map[string]any{"jwks_urls": []any{idp.URL}})), wallClock(), inStorage(dir)).app
	wantParse(t, "a kept set with a secret", c, testkit.SignToken(t, "HS256", []byte("0123456789abcdef0123456789abcdef"), map[string]any{"kid": "idp-1"}, wallClaims()), "Unknown key id")
}
