package keys

import (
	"context"
	"crypto"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

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

// keysTestRemote is a keyring trusting the server's JWKS (and the given
// public keys), with a channel that receives the outcome of every fetch.
type keysTestRemote struct {
	*Ring
	fetched chan bool
}

func keysTestRemoteRing(t testing.TB, url string, refresh time.Duration, public []KeyFile) keysTestRemote {
	t.Helper()
	fetched := make(chan bool, 100)
	ring, err := Load(Config{JWKSURLs: []string{url}, Refresh: refresh, PublicKeys: public, Fetched: func(ok bool) { fetched <- ok }})
	if err != nil {
		t.Fatal(err)
	}
	return keysTestRemote{ring, fetched}
}

// awaitFetch waits for the next fetch of the background loop and returns
// its outcome; the bound is only there so a broken loop fails the test.
func (r keysTestRemote) awaitFetch(t testing.TB) bool {
	t.Helper()
	select {
	case ok := <-r.fetched:
		return ok
	case <-time.After(10 * time.Second):
		t.Fatal("no JWKS fetch within 10s")
		return false
	}
}

// verify runs a token through the JWS layer with the ring's keys now.
func (r keysTestRemote) verify(token string) *jws.Error {
	_, _, _, e := jws.Verify(token, r.Current())
	return e
}

// keysTestKeys and the other key fixtures come from the test kit.
var (
	keysTestKeys   = testkit.Keys
	keysTestSecret = testkit.Secret
	keysTestPKIX   = testkit.WritePKIX
)

// keysTestSignWith signs a token with key, independently of this module.
func keysTestSignWith(t testing.TB, alg string, key any, kid string) string {
	t.Helper()
	hdr := map[string]any{}
	if kid != "" {
		hdr["kid"] = kid
	}
	return testkit.SignToken(t, alg, key, hdr, map[string]any{"sub": "alice", "exp": 4102444800})
}

func mustJSON(t testing.TB, v any) []byte { return testkit.MustJSON(t, v) }

// Provision does not touch the network; fetching starts with Start and
// the fetched keys verify by kid.
func TestJWKSFetchedAfterStart(t *testing.T) {
	keys := keysTestKeys()
	srv := keysTestNewJWKSServer(t)
	srv.set(200, keysTestJWKSBody(t, map[string]crypto.Signer{"idp-1": keys["rsa"]}, map[string]string{"idp-1": "RS256"}))

	a := keysTestRemoteRing(t, srv.URL, 0, nil)
	if n := srv.requests.Load(); n != 0 {
		t.Fatalf("Load fetched the JWKS %d times; it must stay offline", n)
	}
	if _, err := a.Signer(); err == nil {
		t.Fatal("a jwks_url-only app must not have a signer")
	}
	tok := keysTestSignWith(t, "RS256", keys["rsa"], "idp-1")
	if e := a.verify(tok); e != jws.ErrUnknownKID {
		t.Fatalf("before start: got %v, want %v", e, jws.ErrUnknownKID)
	}

	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	if !a.awaitFetch(t) || a.Current().byKID["idp-1"] == nil {
		t.Fatal("the first fetch after Start did not install the remote key")
	}
	if e := a.verify(tok); e != nil {
		t.Fatalf("after fetch: %v", e)
	}
	// remote keys are selected by kid only
	if e := a.verify(keysTestSignWith(t, "RS256", keys["rsa"], "")); e != jws.ErrAlgNotAllowed {
		t.Fatalf("remote key used for a token without kid: %v", e)
	}
	// the alg is the JWK's: the same key as PS256 is refused
	if e := a.verify(keysTestSignWith(t, "PS256", keys["rsa"], "idp-1")); e != jws.ErrAlgNotAllowed {
		t.Fatalf("PS256 with an RS256 JWK: %v", e)
	}
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	if a.stopBG != nil {
		t.Fatal("Stop left the JWKS fetcher running")
	}
}

// Outage: the last good set is kept when the endpoint fails, answers
// garbage or too much; each failure is logged.
func TestJWKSOutageKeepsLastGoodSet(t *testing.T) {
	keys := keysTestKeys()
	srv := keysTestNewJWKSServer(t)
	srv.set(200, keysTestJWKSBody(t, map[string]crypto.Signer{"k1": keys["p256"]}, nil))
	a := keysTestRemoteRing(t, srv.URL, 0, nil)
	core, logs := observer.New(zap.WarnLevel)
	a.logger = zap.New(core)
	src := a.remotes[0]
	if err := src.fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	tok := keysTestSignWith(t, "ES256", keys["p256"], "k1") // EC JWK without alg: ES256 from the curve
	if e := a.verify(tok); e != nil {
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
		{"too large", 200, []byte(`{"keys":[],"pad":"` + strings.Repeat("x", MaxJWKSBytes) + `"}`), "larger than"},
	}
	for _, o := range outages {
		srv.set(o.status, o.body)
		_ = src.refresh(context.Background())
		if e := a.verify(tok); e != nil {
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
	_ = src.refresh(context.Background())
	if e := a.verify(tok); e != nil {
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
	a := keysTestRemoteRing(t, srv.URL, time.Hour, nil)
	now := time.Unix(1_700_000_000, 0)
	a.now = func() time.Time { return now }
	src := a.remotes[0]
	if err := src.fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	// an unchanged set keeps the snapshot (and the verified-token cache)
	before := a.Current()
	if err := src.fetch(context.Background()); err != nil || a.Current() != before {
		t.Fatalf("refetching an unchanged set replaced the snapshot (%v)", err)
	}
	// the identity provider rotates
	srv.set(200, keysTestJWKSBody(t, map[string]crypto.Signer{"old": keys["ed"], "new": keys["edb"]}, nil))
	tok := keysTestSignWith(t, "EdDSA", keys["edb"], "new")
	if e := a.verify(tok); e != jws.ErrUnknownKID {
		t.Fatalf("first request with the new kid: got %v, want %v (it never waits)", e, jws.ErrUnknownKID)
	}
	if len(src.kick) != 1 {
		t.Fatal("an unknown kid did not ask for a refresh")
	}
	<-src.kick
	// more unknown kids within the interval: no further refresh
	for i := 0; i < 5; i++ {
		a.verify(keysTestSignWith(t, "EdDSA", keys["edb"], "other"))
	}
	if len(src.kick) != 0 {
		t.Fatal("refresh not throttled")
	}
	now = now.Add(time.Hour)
	a.verify(keysTestSignWith(t, "EdDSA", keys["edb"], "other"))
	if len(src.kick) != 1 {
		t.Fatal("no refresh after the interval")
	}

	// end to end through the fetch loop
	<-src.kick
	src.lastKick.Store(0)
	a.Start()
	defer a.Stop()
	if !a.awaitFetch(t) { // the fetch at start
		t.Fatal("the fetch at start failed")
	}
	if e := a.verify(tok); e != nil {
		t.Fatalf("after the fetch at start, the rotated key does not verify: %v", e)
	}
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
	a := keysTestRemoteRing(t, srv.URL, 0, []KeyFile{{File: keysTestPKIX(t, keys["ed"].Public()), KID: "local"}})
	core, logs := observer.New(zap.WarnLevel)
	a.logger = zap.New(core)
	if err := a.remotes[0].fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	snap := a.Current()
	if vk := snap.byKID["rsa-ps"]; vk == nil || vk.Alg != "PS384" {
		t.Fatalf("RSA key with alg not loaded: %+v", vk)
	}
	for _, kid := range []string{"rsa-no-alg", "hmac", "enc", "private", "x"} {
		if snap.byKID[kid] != nil {
			t.Errorf("remote key %q must be skipped", kid)
		}
	}
	if vk := snap.byKID["local"]; vk == nil || vk.Alg != "EdDSA" {
		t.Fatalf("the local key lost its kid to a remote one: %+v", vk)
	}
	if logs.FilterMessageSnippet("skipping a key").Len() != 5 || logs.FilterMessageSnippet("already used").Len() != 1 {
		t.Fatalf("log: %v", logs.All())
	}
	if e := a.verify(keysTestSignWith(t, "PS384", keys["rsa2"], "rsa-ps")); e != nil {
		t.Fatal(e)
	}
}

// A remote set whose keys share a kid is refused as a whole; the last good
// set stays.
func TestJWKSDuplicateKIDKeepsLastGoodSet(t *testing.T) {
	keys := keysTestKeys()
	srv := keysTestNewJWKSServer(t)
	srv.set(200, keysTestJWKSBody(t, map[string]crypto.Signer{"a": keys["p256"]}, nil))
	a := keysTestRemoteRing(t, srv.URL, 0, nil)
	src := a.remotes[0]
	if err := src.fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	dup := `{"keys":[` + string(mustJSON(t, jose.JSONWebKey{Key: keys["p256b"].Public(), KeyID: "a"})) + `,` +
		string(mustJSON(t, jose.JSONWebKey{Key: keys["p384"].Public(), KeyID: "a"})) + `]}`
	srv.set(200, []byte(dup))
	if err := src.fetch(context.Background()); err == nil || !strings.Contains(err.Error(), `several keys with kid "a"`) {
		t.Fatalf("duplicate kids: %v", err)
	}
	if e := a.verify(keysTestSignWith(t, "ES256", keys["p256"], "a")); e != nil {
		t.Fatalf("last good key lost: %v", e)
	}
	if e := a.verify(keysTestSignWith(t, "ES256", keys["p256b"], "a")); e != jws.ErrSignature {
		t.Fatalf("a key of the refused set verifies: %v", e)
	}
}

// Every fetch of a remote JWK Set is bounded in time, connection to last
// byte.
func TestJWKSClientTimeout(t *testing.T) {
	a := keysTestRemoteRing(t, "http://127.0.0.1:1/jwks", 0, nil)
	if tm := a.remotes[0].client.Timeout; tm <= 0 || tm > 30*time.Second {
		t.Fatalf("JWKS client timeout %v, want 0 < t <= 30s", tm)
	}
}

// Issue 12, finding 9: jwks_url follows redirects within its origin only.
// A redirect to another origin (another port of the same host here) fails
// the fetch with an error that says why, and the other server is never
// asked; a redirect within the origin is followed.
func TestJWKSRedirectToAnotherOriginRefused(t *testing.T) {
	keys := keysTestKeys()
	body := keysTestJWKSBody(t, map[string]crypto.Signer{"idp": keys["p256"]}, nil)
	other := keysTestNewJWKSServer(t)
	other.set(200, body)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/jwks", http.StatusFound)
		case "/moved":
			http.Redirect(w, r, "/jwks", http.StatusMovedPermanently)
		case "/jwks":
			w.Header().Set("Content-Type", "application/jwk-set+json")
			_, _ = w.Write(body)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(front.Close)
	tok := keysTestSignWith(t, "ES256", keys["p256"], "idp")

	a := keysTestRemoteRing(t, front.URL+"/away", 0, nil)
	err := a.remotes[0].fetch(context.Background())
	if err == nil || !strings.Contains(err.Error(), "another origin") {
		t.Fatalf("a redirect to another origin: fetch error %v, want one that names another origin", err)
	}
	if n := other.requests.Load(); n != 0 {
		t.Fatalf("the other origin was asked %d times", n)
	}
	if e := a.verify(tok); e != jws.ErrUnknownKID {
		t.Fatalf("a key of the other origin's set: %v, want %v", e, jws.ErrUnknownKID)
	}

	// control: a redirect within the origin is followed
	same := keysTestRemoteRing(t, front.URL+"/moved", 0, nil)
	if err := same.remotes[0].fetch(context.Background()); err != nil {
		t.Fatalf("a redirect within the origin: %v", err)
	}
	if e := same.verify(tok); e != nil {
		t.Fatalf("after a redirect within the origin: %v", e)
	}
}

// The origin of a redirect policy: scheme, host and port, default ports
// made explicit, case folded.
func TestJWKSRedirectOrigin(t *testing.T) {
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"https://idp.example/jwks", "https://IDP.example:443/other", true},
		{"http://idp.example/jwks", "http://idp.example:80/jwks", true},
		{"https://idp.example/jwks", "http://idp.example/jwks", false},
		{"https://idp.example/jwks", "https://idp.example:8443/jwks", false},
		{"https://idp.example/jwks", "https://evil.example/jwks", false},
		{"https://idp.example/jwks", "https://sub.idp.example/jwks", false},
		{"http://idp.example:8080/a", "http://idp.example:8081/a", false},
	} {
		a, _ := url.Parse(c.a)
		b, _ := url.Parse(c.b)
		via := []*http.Request{{URL: a}}
		err := sameOriginRedirects(&http.Request{URL: b}, via)
		if (err == nil) != c.same {
			t.Errorf("%s -> %s: %v, want same origin %v", c.a, c.b, err, c.same)
		}
	}
	a, _ := url.Parse("https://idp.example/jwks")
	via := []*http.Request{{URL: a}, {URL: a}, {URL: a}, {URL: a}}
	if err := sameOriginRedirects(&http.Request{URL: a}, via); err == nil {
		t.Errorf("a redirect after %d was followed", len(via))
	}
	b, _ := url.Parse("https://user:pw@evil.example/jwks?token=secret")
	if err := sameOriginRedirects(&http.Request{URL: b}, via[:1]); err == nil || strings.Contains(err.Error(), "pw") || strings.Contains(err.Error(), "secret") {
		t.Errorf("the error names the target's credentials: %v", err)
	}
}

// keysTestLastGood is a LastGood in a map, recording what is saved.
type keysTestLastGood struct {
	mu    sync.Mutex
	sets  map[string][]byte
	saves []string
}

func (l *keysTestLastGood) Load(url string) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sets[url]
}

func (l *keysTestLastGood) Save(url string, set []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sets[url] = set
	l.saves = append(l.saves, url)
}

func (l *keysTestLastGood) saved() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.saves)
}

// Issue 12, finding 7: a Ring built with a kept last good set verifies its
// tokens before any fetch, keeps it when the first fetch fails, and saves
// each changed set a fetch installs (not an unchanged or a failed one).
func TestJWKSInitialSetFromLastGood(t *testing.T) {
	keys := keysTestKeys()
	srv := keysTestNewJWKSServer(t)
	kept := keysTestJWKSBody(t, map[string]crypto.Signer{"idp-1": keys["rsa"]}, map[string]string{"idp-1": "RS256"})
	lg := &keysTestLastGood{sets: map[string][]byte{srv.URL: kept}}
	fetched := make(chan bool, 10)
	ring, err := Load(Config{JWKSURLs: []string{srv.URL}, Refresh: time.Hour, LastGood: lg, Fetched: func(ok bool) { fetched <- ok }})
	if err != nil {
		t.Fatal(err)
	}
	a := keysTestRemote{ring, fetched}
	tok := keysTestSignWith(t, "RS256", keys["rsa"], "idp-1")
	if e := a.verify(tok); e != nil {
		t.Fatalf("before any fetch: %v", e)
	}
	if n := srv.requests.Load(); n != 0 {
		t.Fatalf("Load fetched %d times", n)
	}
	// bound to the JWK's algorithm, selected by kid only, like a fetched key
	if e := a.verify(keysTestSignWith(t, "PS256", keys["rsa"], "idp-1")); e != jws.ErrAlgNotAllowed {
		t.Fatalf("PS256 with a kept RS256 key: %v", e)
	}
	if e := a.verify(keysTestSignWith(t, "RS256", keys["rsa"], "")); e != jws.ErrAlgNotAllowed {
		t.Fatalf("a kept key used for a token without kid: %v", e)
	}

	// the identity provider is down at start
	srv.set(503, []byte("down"))
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	if a.awaitFetch(t) {
		t.Fatal("the first fetch succeeded against a 503")
	}
	if e := a.verify(tok); e != nil {
		t.Fatalf("after a failed first fetch: %v", e)
	}
	if lg.saved() != 0 {
		t.Fatal("a failed fetch was saved")
	}
	a.Stop()

	// the same set again: nothing replaced, nothing saved
	srv.set(200, kept)
	if err := a.Refresh(context.Background()); err != nil || lg.saved() != 0 {
		t.Fatalf("an unchanged set: %v, %d saves", err, lg.saved())
	}
	// the IdP rotates: the new set replaces the kept one and is saved
	rotated := keysTestJWKSBody(t, map[string]crypto.Signer{"idp-2": keys["p384"]}, nil)
	srv.set(200, rotated)
	if err := a.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if lg.saved() != 1 || string(lg.Load(srv.URL)) != string(rotated) {
		t.Fatalf("the rotated set was not saved: %d saves", lg.saved())
	}
	if e := a.verify(tok); e != jws.ErrUnknownKID {
		t.Fatalf("a key the IdP removed still verifies: %v", e)
	}
	if e := a.verify(keysTestSignWith(t, "ES384", keys["p384"], "idp-2")); e != nil {
		t.Fatalf("the rotated key: %v", e)
	}
}

// A kept set is checked exactly like a fetched one: a set that would be
// refused from the network is ignored (with a warning) and the Ring
// starts empty; a kept key never displaces a local key's kid.
func TestJWKSInitialSetChecked(t *testing.T) {
	keys := keysTestKeys()
	const url = "https://idp.invalid/jwks"
	dup := `{"keys":[` + string(mustJSON(t, jose.JSONWebKey{Key: keys["p256"].Public(), KeyID: "a"})) + `,` +
		string(mustJSON(t, jose.JSONWebKey{Key: keys["p384"].Public(), KeyID: "a"})) + `]}`
	for name, c := range map[string]struct {
		set string
		kid string
	}{
		"symmetric":       {string(mustJSON(t, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: keysTestSecret(32), KeyID: "h", Algorithm: "HS256"}}})), "h"},
		"private":         {`{"keys":[` + string(mustJSON(t, jose.JSONWebKey{Key: keys["p256"], KeyID: "p", Algorithm: "ES256"})) + `]}`, "p"},
		"rsa without alg": {`{"keys":[` + string(mustJSON(t, jose.JSONWebKey{Key: keys["rsa"].Public(), KeyID: "r"})) + `]}`, "r"},
		"duplicate kids":  {dup, "a"},
		"garbage":         {"<html>", "a"},
		"too large":       {`{"keys":[],"pad":"` + strings.Repeat("x", MaxJWKSBytes) + `"}`, "a"},
	} {
		t.Run(name, func(t *testing.T) {
			core, logs := observer.New(zap.WarnLevel)
			ring, err := Load(Config{JWKSURLs: []string{url}, LastGood: &keysTestLastGood{sets: map[string][]byte{url: []byte(c.set)}}, Logger: zap.New(core)})
			if err != nil {
				t.Fatal(err)
			}
			if ring.Current().byKID[c.kid] != nil || len(ring.remotes[0].current()) != 0 {
				t.Fatalf("a kept set that a fetch would refuse was installed")
			}
			if logs.FilterMessageSnippet("ignoring the kept last good JWK Set").Len() != 1 {
				t.Fatalf("log: %v", logs.All())
			}
		})
	}
	kept := keysTestJWKSBody(t, map[string]crypto.Signer{"local": keys["p256"]}, nil)
	ring, err := Load(Config{JWKSURLs: []string{url}, PublicKeys: []KeyFile{{File: keysTestPKIX(t, keys["ed"].Public()), KID: "local"}},
		LastGood: &keysTestLastGood{sets: map[string][]byte{url: kept}}})
	if err != nil {
		t.Fatal(err)
	}
	if vk := ring.Current().byKID["local"]; vk == nil || vk.Alg != "EdDSA" {
		t.Fatalf("a kept remote key took a local key's kid: %+v", vk)
	}
}
