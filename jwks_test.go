package jwtextended

import (
	"context"
	"crypto"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func keysTestLogger(t testing.TB) *zap.Logger { return zap.NewNop() }

// keysTestJWKSServer is an identity provider's JWKS endpoint whose
// answer the test changes.
type keysTestJWKSServer struct {
	*httptest.Server
	mu       sync.Mutex
	status   int
	body     []byte
	requests atomic.Int32
	hit      chan struct{}
}

func keysTestNewJWKSServer(t testing.TB) *keysTestJWKSServer {
	s := &keysTestJWKSServer{status: 200, body: []byte(`{"keys":[]}`), hit: make(chan struct{}, 100)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		status, body := s.status, s.body
		s.mu.Unlock()
		s.requests.Add(1)
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
		select {
		case s.hit <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *keysTestJWKSServer) set(status int, body []byte) {
	s.mu.Lock()
	s.status, s.body = status, body
	s.mu.Unlock()
}

// keysTestJWKSBody is a JWK Set of the public halves of keys, by kid.
func keysTestJWKSBody(t testing.TB, keys map[string]crypto.Signer, algs map[string]string) []byte {
	t.Helper()
	var set jose.JSONWebKeySet
	for kid, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.Public(), KeyID: kid, Algorithm: algs[kid], Use: "sig"})
	}
	return mustJSON(t, set)
}

// keysTestRemoteApp provisions an app trusting only the server's JWKS.
func keysTestRemoteApp(t testing.TB, url string, extra map[string]any) *App {
	t.Helper()
	cfg := map[string]any{"jwks_urls": []any{url}}
	for k, v := range extra {
		cfg[k] = v
	}
	a := keysTestApp(t, cfg, "")
	return a
}

// Provision does not touch the network; fetching starts with Start and
// the fetched keys verify by kid.
func TestJWKSFetchedAfterStart(t *testing.T) {
	keys := keysTestKeys()
	srv := keysTestNewJWKSServer(t)
	srv.set(200, keysTestJWKSBody(t, map[string]crypto.Signer{"idp-1": keys["rsa"]}, map[string]string{"idp-1": "RS256"}))

	a := keysTestRemoteApp(t, srv.URL, nil)
	if n := srv.requests.Load(); n != 0 {
		t.Fatalf("Provision fetched the JWKS %d times; it must stay offline", n)
	}
	if _, err := a.keys.signingKey(); err == nil {
		t.Fatal("a jwks_url-only app must not have a signer")
	}
	tok := keysTestSignWith(t, "RS256", keys["rsa"], "idp-1")
	if _, e := a.parseToken(tok); e != errUnknownKID {
		t.Fatalf("before start: got %v, want %v", e, errUnknownKID)
	}

	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	keysTestWaitFor(t, func() bool { return a.keys.snap.Load().byKID["idp-1"] != nil })
	if _, e := a.parseToken(tok); e != nil {
		t.Fatalf("after fetch: %v", e)
	}
	// remote keys are selected by kid only
	if _, e := a.parseToken(keysTestSignWith(t, "RS256", keys["rsa"], "")); e != errAlgNotAllowed {
		t.Fatalf("remote key used for a token without kid: %v", e)
	}
	// the alg is the JWK's: the same key as PS256 is refused
	if _, e := a.parseToken(keysTestSignWith(t, "PS256", keys["rsa"], "idp-1")); e != errAlgNotAllowed {
		t.Fatalf("PS256 with an RS256 JWK: %v", e)
	}
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	if a.keys.stopBG != nil {
		t.Fatal("Stop left the JWKS fetcher running")
	}
}

// keysTestWaitFor polls cond for a background fetch; only the bound is a
// duration, the outcome never depends on timing.
func keysTestWaitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Outage: the last good set is kept when the endpoint fails, answers
// garbage or too much; each failure is logged.
func TestJWKSOutageKeepsLastGoodSet(t *testing.T) {
	keys := keysTestKeys()
	srv := keysTestNewJWKSServer(t)
	srv.set(200, keysTestJWKSBody(t, map[string]crypto.Signer{"k1": keys["p256"]}, nil))
	a := keysTestRemoteApp(t, srv.URL, nil)
	core, logs := observer.New(zap.WarnLevel)
	a.keys.logger = zap.New(core)
	src := a.keys.remotes[0]
	if err := src.fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	tok := keysTestSignWith(t, "ES256", keys["p256"], "k1") // EC JWK without alg: ES256 from the curve
	if _, e := a.parseToken(tok); e != nil {
		t.Fatalf("good set: %v", e)
	}
	outages := []struct {
		name   string
		status int
		body   []byte
		want   string
	}{
		{"500", 500, []byte("boom"), "unexpected status"},
		{"garbage", 200, []byte("<html>"), "not a JWK Set"},
		{"no keys member", 200, []byte(`{}`), "no \"keys\""},
		{"empty set", 200, []byte(`{"keys":[]}`), "no usable"},
		{"too large", 200, []byte(`{"keys":[],"pad":"` + strings.Repeat("x", maxJWKSBytes) + `"}`), "larger than"},
	}
	for _, o := range outages {
		srv.set(o.status, o.body)
		src.refresh(context.Background())
		if _, e := a.parseToken(tok); e != nil {
			t.Fatalf("%s: last good key lost: %v", o.name, e)
		}
		entries := logs.TakeAll()
		if len(entries) != 1 || !strings.Contains(entries[0].Message, "keeping the last good keys") ||
			!strings.Contains(entries[0].ContextMap()["error"].(string), o.want) {
			t.Fatalf("%s: logged %v, want one error containing %q", o.name, entries, o.want)
		}
	}
	// unreachable endpoint
	srv.Close()
	src.refresh(context.Background())
	if _, e := a.parseToken(tok); e != nil {
		t.Fatalf("endpoint down: last good key lost: %v", e)
	}
	if n := logs.FilterMessageSnippet("keeping the last good keys").Len(); n != 1 {
		t.Fatalf("endpoint down: %d log entries", n)
	}
}

// An unknown kid asks for one refresh per interval, without blocking the
// request; once fetched, the rotated key verifies.
func TestJWKSUnknownKIDRefresh(t *testing.T) {
	keys := keysTestKeys()
	srv := keysTestNewJWKSServer(t)
	srv.set(200, keysTestJWKSBody(t, map[string]crypto.Signer{"old": keys["ed"]}, nil))
	a := keysTestRemoteApp(t, srv.URL, map[string]any{"jwks_refresh": int64(time.Hour)})
	now := time.Unix(1_700_000_000, 0)
	a.keys.now = func() time.Time { return now }
	src := a.keys.remotes[0]
	if err := src.fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	// an unchanged set keeps the snapshot (and the verified-token cache)
	before := a.keys.snap.Load()
	if err := src.fetch(context.Background()); err != nil || a.keys.snap.Load() != before {
		t.Fatalf("refetching an unchanged set replaced the snapshot (%v)", err)
	}
	// the identity provider rotates
	srv.set(200, keysTestJWKSBody(t, map[string]crypto.Signer{"old": keys["ed"], "new": keys["edb"]}, nil))
	tok := keysTestSignWith(t, "EdDSA", keys["edb"], "new")
	if _, e := a.parseToken(tok); e != errUnknownKID {
		t.Fatalf("first request with the new kid: got %v, want %v (it never waits)", e, errUnknownKID)
	}
	if len(src.kick) != 1 {
		t.Fatal("an unknown kid did not ask for a refresh")
	}
	<-src.kick
	// more unknown kids within the interval: no further refresh
	for i := 0; i < 5; i++ {
		a.parseToken(keysTestSignWith(t, "EdDSA", keys["edb"], "other"))
	}
	if len(src.kick) != 0 {
		t.Fatal("refresh not throttled")
	}
	now = now.Add(time.Hour)
	a.parseToken(keysTestSignWith(t, "EdDSA", keys["edb"], "other"))
	if len(src.kick) != 1 {
		t.Fatal("no refresh after the interval")
	}

	// end to end through the fetch loop
	<-src.kick
	src.lastKick.Store(0)
	a.keys.start()
	defer a.keys.stop()
	keysTestWaitFor(t, func() bool { return srv.requests.Load() >= 2 }) // the start fetch
	keysTestWaitFor(t, func() bool {
		_, e := a.parseToken(tok)
		return e == nil
	})
}

// Keys of a remote set are checked like local ones: RSA without alg,
// symmetric and private keys, weak keys and keys for encryption are
// skipped; a kid already used locally stays the local key's.
func TestJWKSKeyPolicy(t *testing.T) {
	keys := keysTestKeys()
	priv := mustJSON(t, jose.JSONWebKey{Key: keys["p384"], KeyID: "private", Algorithm: "ES384"})
	body := `{"keys":[
		` + string(mustJSON(t, jose.JSONWebKey{Key: keys["rsa"].Public(), KeyID: "rsa-no-alg"})) + `,
		` + string(mustJSON(t, jose.JSONWebKey{Key: keys["rsa2"].Public(), KeyID: "rsa-ps", Algorithm: "PS384"})) + `,
		` + string(mustJSON(t, jose.JSONWebKey{Key: keysTestSecret(32), KeyID: "hmac", Algorithm: "HS256"})) + `,
		` + string(mustJSON(t, jose.JSONWebKey{Key: keys["p256"].Public(), KeyID: "enc", Use: "enc"})) + `,
		` + string(mustJSON(t, jose.JSONWebKey{Key: keys["p521"].Public(), KeyID: "local"})) + `,
		` + string(priv) + `,
		{"kty":"OKP","crv":"X25519","kid":"x","x":"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"}
	]}`
	srv := keysTestNewJWKSServer(t)
	srv.set(200, []byte(body))
	a := keysTestRemoteApp(t, srv.URL, map[string]any{"public_keys": []any{map[string]any{"file": keysTestPKIX(t, keys["ed"].Public()), "kid": "local"}}})
	core, logs := observer.New(zap.WarnLevel)
	a.keys.logger = zap.New(core)
	if err := a.keys.remotes[0].fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	snap := a.keys.snap.Load()
	if vk := snap.byKID["rsa-ps"]; vk == nil || vk.alg != "PS384" {
		t.Fatalf("RSA key with alg not loaded: %+v", vk)
	}
	for _, kid := range []string{"rsa-no-alg", "hmac", "enc", "private", "x"} {
		if snap.byKID[kid] != nil {
			t.Errorf("remote key %q must be skipped", kid)
		}
	}
	if vk := snap.byKID["local"]; vk == nil || vk.alg != "EdDSA" {
		t.Fatalf("the local key lost its kid to a remote one: %+v", vk)
	}
	if logs.FilterMessageSnippet("skipping a key").Len() != 5 || logs.FilterMessageSnippet("already used").Len() != 1 {
		t.Fatalf("log: %v", logs.All())
	}
	if _, e := a.parseToken(keysTestSignWith(t, "PS384", keys["rsa2"], "rsa-ps")); e != nil {
		t.Fatal(e)
	}
}

// A remote set whose keys share a kid is refused as a whole; the last good
// set stays.
func TestJWKSDuplicateKIDKeepsLastGoodSet(t *testing.T) {
	keys := keysTestKeys()
	srv := keysTestNewJWKSServer(t)
	srv.set(200, keysTestJWKSBody(t, map[string]crypto.Signer{"a": keys["p256"]}, nil))
	a := keysTestRemoteApp(t, srv.URL, nil)
	src := a.keys.remotes[0]
	if err := src.fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	dup := `{"keys":[` + string(mustJSON(t, jose.JSONWebKey{Key: keys["p256b"].Public(), KeyID: "a"})) + `,` +
		string(mustJSON(t, jose.JSONWebKey{Key: keys["p384"].Public(), KeyID: "a"})) + `]}`
	srv.set(200, []byte(dup))
	if err := src.fetch(context.Background()); err == nil || !strings.Contains(err.Error(), `several keys with kid "a"`) {
		t.Fatalf("duplicate kids: %v", err)
	}
	if _, e := a.parseToken(keysTestSignWith(t, "ES256", keys["p256"], "a")); e != nil {
		t.Fatalf("last good key lost: %v", e)
	}
	if _, e := a.parseToken(keysTestSignWith(t, "ES256", keys["p256b"], "a")); e != errSignature {
		t.Fatalf("a key of the refused set verifies: %v", e)
	}
}
