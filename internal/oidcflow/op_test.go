package oidcflow

// A small OpenID Provider for the unit tests: discovery, keys, a token
// endpoint that checks the client's authentication and the PKCE verifier
// against the challenge of the authorization request, and user info. The
// browser's visit to the authorization endpoint is authorize. ID tokens are
// signed by testkit (the standard library's crypto), not by the go-jose the
// code under test verifies with. The tests against a real OP library live
// in the e2e module.

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	jose "github.com/go-jose/go-jose/v4"
)

const (
	testClientID = "edge-client"
	testSecret   = "s3cret-Client-Value"
	testSubject  = "user-1"
	testCallback = "https://app.example.com/oidc/corp/callback"
)

var testStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// grant is an authorization code the test OP issued.
type grant struct {
	redirect  string
	challenge string
	method    string
	nonce     string
	scope     string
	query     url.Values // the authorization request
}

type testOP struct {
	t     *testing.T
	srv   *httptest.Server
	clock *testkit.Clock

	mu sync.Mutex
	// settings (set through set)
	secret     string        // "": a public client
	alg        string        // signing algorithm of ID tokens
	key        crypto.Signer // signing key
	kid        string        // kid of ID tokens
	jwks       []jose.JSONWebKey
	jwksStatus int            // 0: 200
	discovery  map[string]any // the discovery document (tests may edit)
	discStatus int            // 0: 200
	tokenStat  int            // 0: normal; else answer this status with tokenBody
	tokenBody  string
	noIDToken  bool
	claims     func(g *grant, c map[string]any) // edits the ID token's claims
	sign       func(c map[string]any) string    // replaces the signing
	userinfo   func(g *grant) map[string]any    // nil: answers 500
	uiStatus   int

	// records
	codes        map[string]*grant
	nextCode     int
	discHits     int
	jwksHits     int
	tokenHits    int
	uiHits       int
	tokenForms   []url.Values
	tokenAuthHdr []string
	authRequests []url.Values
}

func newOP(t *testing.T, clock *testkit.Clock) *testOP {
	t.Helper()
	op := &testOP{t: t, clock: clock, secret: testSecret, alg: "ES256", key: testkit.Keys()["p256"], kid: "k1", codes: map[string]*grant{}}
	op.jwks = []jose.JSONWebKey{{Key: op.key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}
	op.srv = httptest.NewServer(http.HandlerFunc(op.serve))
	t.Cleanup(op.srv.Close)
	iss := op.srv.URL
	op.discovery = map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                iss + "/authorize",
		"token_endpoint":                        iss + "/token",
		"jwks_uri":                              iss + "/jwks",
		"userinfo_endpoint":                     iss + "/userinfo",
		"id_token_signing_alg_values_supported": []string{"ES256", "RS256"},
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"code_challenge_methods_supported":      []string{"S256"},
	}
	op.userinfo = func(g *grant) map[string]any {
		return map[string]any{"sub": testSubject, "name": "User One", "groups": []string{"staff"}}
	}
	t.Cleanup(func() { forgetProvider(iss) })
	return op
}

// forgetProvider drops issuer from the provider cache once its discovery
// in flight, if any, is done.
func forgetProvider(issuer string) {
	waitDiscovery(issuer)
	providers.Lock()
	delete(providers.m, issuer)
	providers.Unlock()
}

func (op *testOP) issuer() string { return op.srv.URL }

func (op *testOP) set(f func(op *testOP)) {
	op.mu.Lock()
	defer op.mu.Unlock()
	f(op)
}

func (op *testOP) read(f func(op *testOP)) { op.set(f) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (op *testOP) serve(w http.ResponseWriter, r *http.Request) {
	op.mu.Lock()
	defer op.mu.Unlock()
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		op.discHits++
		if op.discStatus != 0 {
			http.Error(w, "down", op.discStatus)
			return
		}
		writeJSON(w, 200, op.discovery)
	case "/jwks":
		op.jwksHits++
		if op.jwksStatus != 0 {
			http.Error(w, "down", op.jwksStatus)
			return
		}
		writeJSON(w, 200, jose.JSONWebKeySet{Keys: op.jwks})
	case "/token":
		op.token(w, r)
	case "/userinfo":
		op.uiHits++
		at, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		g := op.codes[strings.TrimPrefix(at, "at-")]
		if !ok || g == nil {
			writeJSON(w, 401, map[string]any{"error": "invalid_token"})
			return
		}
		if op.uiStatus != 0 || op.userinfo == nil {
			http.Error(w, "down", 500)
			return
		}
		writeJSON(w, 200, op.userinfo(g))
	default:
		http.NotFound(w, r)
	}
}

func (op *testOP) token(w http.ResponseWriter, r *http.Request) {
	op.tokenHits++
	if r.Method != http.MethodPost {
		writeJSON(w, 405, map[string]any{"error": "invalid_request"})
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, 400, map[string]any{"error": "invalid_request"})
		return
	}
	op.tokenForms = append(op.tokenForms, r.PostForm)
	op.tokenAuthHdr = append(op.tokenAuthHdr, r.Header.Get("Authorization"))
	if op.tokenStat != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(op.tokenStat)
		_, _ = w.Write([]byte(op.tokenBody))
		return
	}
	// client authentication
	id, secret, basic := r.BasicAuth()
	if basic {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	}
	if op.secret != "" {
		if !basic || id != testClientID || secret != op.secret || r.PostForm.Has("client_secret") {
			writeJSON(w, 401, map[string]any{"error": "invalid_client"})
			return
		}
	} else if basic || r.PostForm.Has("client_secret") || r.PostForm.Get("client_id") != testClientID {
		writeJSON(w, 401, map[string]any{"error": "invalid_client"})
		return
	}
	f := r.PostForm
	code := f.Get("code")
	g := op.codes[code]
	if f.Get("grant_type") != "authorization_code" || g == nil || f.Get("redirect_uri") != g.redirect {
		writeJSON(w, 400, map[string]any{"error": "invalid_grant"})
		return
	}
	// PKCE (RFC 7636, section 4.6)
	sum := sha256.Sum256([]byte(f.Get("code_verifier")))
	if g.method != "S256" || f.Get("code_verifier") == "" || testkit.B64URL(sum[:]) != g.challenge {
		writeJSON(w, 400, map[string]any{"error": "invalid_grant", "error_description": "PKCE verification failed"})
		return
	}
	resp := map[string]any{"access_token": "at-" + code, "token_type": "Bearer", "expires_in": 3600}
	if !op.noIDToken {
		resp["id_token"] = op.idToken(g)
	}
	writeJSON(w, 200, resp)
}

// idToken mints the ID token of g; the caller holds op.mu.
func (op *testOP) idToken(g *grant) string {
	now := op.clock.Now()
	c := map[string]any{
		"iss":            op.issuer(),
		"sub":            testSubject,
		"aud":            testClientID,
		"exp":            now.Add(5 * time.Minute).Unix(),
		"iat":            now.Unix(),
		"auth_time":      now.Unix(),
		"nonce":          g.nonce,
		"email":          "user1@example.com",
		"email_verified": true,
		"amr":            []string{"pwd", "otp"},
		"acr":            "urn:example:loa:2",
	}
	if op.claims != nil {
		op.claims(g, c)
	}
	if op.sign != nil {
		return op.sign(c)
	}
	return testkit.SignToken(op.t, op.alg, op.key, map[string]any{"kid": op.kid}, c)
}

// authorize is the browser's visit to the authorization endpoint: it
// checks the request as an OP would, issues a code, and returns the
// callback's query.
func (op *testOP) authorize(t *testing.T, authURL string) url.Values {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Scheme + "://" + u.Host + u.Path; got != op.issuer()+"/authorize" {
		t.Fatalf("auth URL %s is not the authorization endpoint", got)
	}
	q := u.Query()
	for name, want := range map[string]string{"response_type": "code", "client_id": testClientID, "code_challenge_method": "S256"} {
		if q.Get(name) != want {
			t.Fatalf("authorization request %s = %q, want %q", name, q.Get(name), want)
		}
	}
	for _, name := range []string{"state", "nonce", "code_challenge", "redirect_uri", "scope"} {
		if q.Get(name) == "" {
			t.Fatalf("authorization request without %s", name)
		}
	}
	op.mu.Lock()
	defer op.mu.Unlock()
	op.nextCode++
	code := "code-" + strconv.Itoa(op.nextCode)
	op.codes[code] = &grant{redirect: q.Get("redirect_uri"), challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method"), nonce: q.Get("nonce"), scope: q.Get("scope"), query: q}
	op.authRequests = append(op.authRequests, q)
	return url.Values{"code": {code}, "state": {q.Get("state")}}
}

// closedURL is the URL of a server that is gone: connections are refused.
func closedURL(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.NotFoundHandler())
	u := s.URL
	s.Close()
	return u
}

// testEnv is a flow on a test OP, with its clock and storage.
type testEnv struct {
	op    *testOP
	clock *testkit.Clock
	flow  *Flow
	once  *StorageOnce
	dir   string
	key   []byte
}

var testKey = []byte("0123456789abcdef0123456789abcdef")

func newEnv(t *testing.T, edit func(c *Config)) *testEnv {
	t.Helper()
	clock := testkit.NewClock(testStart)
	op := newOP(t, clock)
	e := &testEnv{op: op, clock: clock, dir: t.TempDir(), key: testKey}
	e.once = NewStorageOnce(testkit.NewStorage(t, e.dir, "a"), "jwt/oidc/used", clock.Now)
	e.flow = e.newFlow(t, e.once, edit)
	return e
}

func (e *testEnv) config(edit func(c *Config)) Config {
	c := Config{
		Name:         "corp",
		Issuer:       e.op.issuer(),
		ClientID:     testClientID,
		ClientSecret: testSecret,
		Claims:       []string{"email", "name"},
		Now:          e.clock.Now,
	}
	if edit != nil {
		edit(&c)
	}
	return c
}

func (e *testEnv) newFlow(t *testing.T, once Once, edit func(c *Config)) *Flow {
	t.Helper()
	s, err := NewSealer(e.key)
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(e.config(edit), s, once)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// begin runs Begin and the browser's visit to the OP.
func (e *testEnv) begin(t *testing.T, f *Flow, reauth *Session) (query url.Values, sealed string) {
	t.Helper()
	authURL, sealed, err := f.Begin(context.Background(), testCallback, "/after", reauth)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	return e.op.authorize(t, authURL), sealed
}

// login runs a whole login on e.flow.
func (e *testEnv) login(t *testing.T) (*Result, error) {
	t.Helper()
	q, sealed := e.begin(t, e.flow, nil)
	return finish(t, e.flow, q, sealed)
}

// finish runs Finish and checks that an error is an *Error whose text
// holds none of the secrets of the flow.
func finish(t *testing.T, f *Flow, q url.Values, sealed string) (*Result, error) {
	t.Helper()
	res, err := f.Finish(context.Background(), testCallback, q, sealed)
	if err != nil {
		var fe *Error
		if !errors.As(err, &fe) {
			t.Fatalf("Finish error %T is not an *Error: %v", err, err)
		}
		for _, secret := range []string{testSecret, q.Get("code"), q.Get("state"), sealed} {
			if len(secret) > 3 && strings.Contains(err.Error(), secret) {
				t.Fatalf("Finish error %q holds a secret %q", err, secret)
			}
		}
	}
	return res, err
}

// wantError fails unless err is an *Error of status and msg.
func wantError(t *testing.T, err error, status int, msg string) *Error {
	t.Helper()
	var fe *Error
	if !errors.As(err, &fe) {
		t.Fatalf("error = %v, want an *Error %d %q", err, status, msg)
	}
	if fe.Status != status || fe.Msg != msg {
		t.Fatalf("error = %d %q (%v), want %d %q", fe.Status, fe.Msg, fe.Cause, status, msg)
	}
	return fe
}
