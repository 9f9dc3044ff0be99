package jwtextended

// The root package's one unit-test fixture. newFixture(t, options...)
// provisions the jwt app the way Caddy does at load (provisionTestApp,
// kit_test.go), in a storage folder of its own, and gives the test:
//
//   - f.app, the provisioned *App, and f.ctx, its caddy.Context (handlers
//     provisioned there bind to f.app, as in a real config);
//   - f.clock, a testkit.Clock at fixtureT0 that is the app's clock;
//   - f.key, the app's HS256 secret (fixtureSecret unless the config
//     names another);
//   - one token minter independent of the module (testkit.SignToken):
//     f.token(claims), f.claims/f.access for an ordinary access token at
//     the clock's time, f.signed for another algorithm or key;
//   - f.auth / f.issue: jwt_auth and jwt_issue handlers provisioned and
//     validated in f.ctx, from JSON or a struct;
//   - f.serve(h, r): one request through either handler, with a replacer
//     in the context and a recording next handler (what it saw is in
//     served.next); f.serveFrom adds Caddy's client IP; f.do(r) serves
//     through the fixture's own issuer (withIssuer) from fixtureIP.
//
// Options: the app config is JSON, {"secret": fixtureSecret} (or
// appConfig's whole config, e.g. caddyfileApp's), then withAppJSON
// merged in (a null value removes a field), then withApp mutations. Give
// number and duration fields as JSON ("access_ttl": "5m"), not as Go
// values: their Go types are not part of the tests' contract. inStorage
// shares a storage folder, faultyStorage makes the storage a
// testkit.Storage the test can make fail (f.failStores;
// fixture_storage_test.go), wallClock leaves the app on the real clock,
// withIssuer adds f.h, withUpstream changes the next handler's answer.
// f.again provisions the same config again on the same storage (a
// reload or restart); tryFixture returns a provisioning error.
//
// Each fixture is independent of every other (its own storage folder,
// clock and Caddy context; provisioning itself is serialized, see
// provisionTestAppIn), so tests that only use fixtures run in parallel.
//
// The calls into the app's internals that tests make (authenticate,
// revoke, the revocation store, the token lookup) go through the
// functions at the end of this file, so that a change to those internals
// is fixed here once. Request builders and response checks shared by the
// tests are in fixture_http_test.go.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/certmagic"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

const (
	// fixtureSecret is the app's HS256 secret unless a test sets another.
	fixtureSecret = "issuer-test-secret-0123456789abcdef-0123456789"
	// fixturePassword is the password of the default issuer's user alice.
	fixturePassword = "correct horse battery staple"
	// fixtureIP is the client IP f.do puts in the request context.
	fixtureIP = "192.0.2.10"
	// nextStatus and nextBody are what the recording next handler answers
	// (a status neither handler writes), unless withUpstream says other.
	nextStatus = 299
	nextBody   = "next"
)

// fixtureT0 is where every fixture's clock starts.
var fixtureT0 = time.Unix(1_800_000_000, 0)

// fixture is a provisioned app and what a unit test does with it.
type fixture struct {
	t     testing.TB
	ctx   caddy.Context
	app   *App
	clock *testkit.Clock
	key   []byte // the app's HS256 secret
	dir   string // the storage folder (file_system, or under the fault storage)
	// faults is the app's storage with faultyStorage, else nil.
	faults *testkit.Storage
	// reg is the metrics registry of the app's Caddy context.
	reg *prometheus.Registry
	// h is the issuer of withIssuer, what f.do serves through.
	h *Issue

	upStatus int
	upBody   string
	realTime bool // wallClock
	opts     []fixtureOption
}

// fixtureConfig is what the options set.
type fixtureConfig struct {
	app      map[string]any
	mutate   []func(*App)
	dir      string
	faulty   bool
	issue    []func(*Issue)
	issuer   bool
	upStatus int
	upBody   string
	realTime bool
}

type fixtureOption func(*fixtureConfig)

// withAppJSON merges the fields of a JSON object into the app config; a null
// value removes the field.
func withAppJSON(obj string) fixtureOption {
	return func(c *fixtureConfig) {
		var m map[string]any
		if err := json.Unmarshal([]byte(obj), &m); err != nil {
			panic(fmt.Sprintf("appJSON(%s): %v", obj, err))
		}
		testkit.ApplyOverrides(c.app, m)
	}
}

// appConfig makes raw (a JSON object, such as caddyfileApp's) the whole
// app config, in place of the default secret; later options change it.
func appConfig(raw []byte) fixtureOption {
	return func(c *fixtureConfig) {
		c.app = map[string]any{}
		if raw == nil {
			return
		}
		if err := json.Unmarshal(raw, &c.app); err != nil {
			panic(fmt.Sprintf("appConfig(%s): %v", raw, err))
		}
		if c.app == nil { // null
			c.app = map[string]any{}
		}
	}
}

// caddyfileApp adapts a `jwt { ... }` global option to the app's JSON, as
// the Caddyfile adapter does.
func caddyfileApp(t testing.TB, text string) json.RawMessage {
	t.Helper()
	v, err := parseGlobalOption(caddyfile.NewTestDispenser(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	return v.(httpcaddyfile.App).Value
}

// caddyfileIssue adapts a jwt_issue directive to the handler's JSON, as
// the adapter does, for f.issue or f.tryIssue.
func caddyfileIssue(t testing.TB, text string) []byte {
	t.Helper()
	var parsed Issue
	if err := parsed.UnmarshalCaddyfile(caddyfile.NewTestDispenser(text)); err != nil {
		t.Fatal(err)
	}
	return testkit.MustJSON(t, &parsed)
}

// withApp changes the app config as a Go value after the JSON options,
// for fields whose Go type is stable (strings, lists, sub-structs). A nil
// mut does nothing.
func withApp(mut func(*App)) fixtureOption {
	return func(c *fixtureConfig) {
		if mut != nil {
			c.mutate = append(c.mutate, mut)
		}
	}
}

// inStorage puts the app's file_system storage in dir, so that two
// fixtures can share it (a reload, a second instance) or a test can look
// at what is stored.
func inStorage(dir string) fixtureOption { return func(c *fixtureConfig) { c.dir = dir } }

// faultyStorage makes the app's storage a testkit.Storage on a folder of
// its own (through the jwt_test_faults storage module), as f.faults, so
// the test can make it fail: f.failStores(err).
func faultyStorage() fixtureOption { return func(c *fixtureConfig) { c.faulty = true } }

// withIssuer provisions the fixture's own jwt_issue handler, f.h: the
// four routes /login, /refresh, /reauth, /logout and user alice (password
// fixturePassword, claims role admin), changed by mods (nil ones skipped).
func withIssuer(mods ...func(*Issue)) fixtureOption {
	return func(c *fixtureConfig) {
		c.issuer = true
		for _, m := range mods {
			if m != nil {
				c.issue = append(c.issue, m)
			}
		}
	}
}

// issuerJSON is an issuer change (for withIssuer) that sets the fields of
// a JSON object, for number and duration fields such as the throttle's.
func issuerJSON(obj string) func(*Issue) {
	return func(h *Issue) {
		if err := json.Unmarshal([]byte(obj), h); err != nil {
			panic(fmt.Sprintf("issuerJSON(%s): %v", obj, err))
		}
	}
}

// withUpstream makes the recording next handler answer status and body.
func withUpstream(status int, body string) fixtureOption {
	return func(c *fixtureConfig) { c.upStatus, c.upBody = status, body }
}

// wallClock leaves the app on the real clock (f.clock is then unused).
func wallClock() fixtureOption { return func(c *fixtureConfig) { c.realTime = true } }

// newFixture provisions an app with opts and fails the test if it cannot.
func newFixture(t testing.TB, opts ...fixtureOption) *fixture {
	t.Helper()
	f, err := tryFixture(t, opts...)
	if err != nil {
		t.Fatalf("provisioning the jwt app: %v", err)
	}
	return f
}

// tryFixture is newFixture for tests of provisioning errors: the error is
// returned, and the fixture is nil then.
func tryFixture(t testing.TB, opts ...fixtureOption) (*fixture, error) {
	t.Helper()
	c := &fixtureConfig{app: map[string]any{"secret": fixtureSecret}, upStatus: nextStatus, upBody: nextBody}
	for _, o := range opts {
		o(c)
	}
	appJSON := testkit.MustJSON(t, c.app)
	if len(c.mutate) > 0 {
		var a App
		if err := json.Unmarshal(appJSON, &a); err != nil {
			t.Fatalf("app config %s: %v", appJSON, err)
		}
		for _, m := range c.mutate {
			m(&a)
		}
		appJSON = testkit.MustJSON(t, &a)
	}
	dir := c.dir
	if dir == "" {
		dir = t.TempDir()
	}
	storage := json.RawMessage(testkit.MustJSON(t, map[string]any{"module": "file_system", "root": dir}))
	var faults *testkit.Storage
	if c.faulty {
		faults = testkit.NewStorage(t, dir, "fixture")
		storage = testkit.MustJSON(t, map[string]any{"module": "jwt_test_faults", "name": registerFaults(t, faults)})
	}
	ctx, app, err := provisionTestAppIn(t, appJSON, storage)
	if err != nil {
		return nil, err
	}
	f := &fixture{
		t: t, ctx: ctx, app: app, clock: testkit.NewClock(fixtureT0), dir: dir, faults: faults,
		reg: ctx.GetMetricsRegistry(), upStatus: c.upStatus, upBody: c.upBody, realTime: c.realTime,
	}
	f.key = []byte(app.Secret)
	f.opts = opts
	if !c.realTime {
		app.now = f.clock.Now
	}
	app.logger = zap.NewNop()
	if c.issuer {
		h := defaultIssue(t)
		for _, m := range c.issue {
			m(h)
		}
		f.h = f.issue(h)
	}
	return f, nil
}

// passwordHash is a bcrypt hash of fixturePassword at the minimum cost.
func passwordHash(t testing.TB) string { return testkit.BcryptHash(t, fixturePassword) }

// defaultIssue is the issuer of withIssuer before its mods.
func defaultIssue(t testing.TB) *Issue {
	return &Issue{
		Login: "/login", Refresh: "/refresh", Reauth: "/reauth", Logout: "/logout",
		Users: []User{{Name: "alice", Hash: passwordHash(t), Claims: map[string]any{"role": "admin"}}},
	}
}

// again provisions the same config again on the same storage folder (a
// reload, or a restart), changed by opts; its clock is f's (unless
// wallClock).
func (f *fixture) again(opts ...fixtureOption) *fixture {
	f.t.Helper()
	all := append(append(append([]fixtureOption(nil), f.opts...), inStorage(f.dir)), opts...)
	g := newFixture(f.t, all...)
	g.clock = f.clock
	if !g.realTime {
		g.app.now = f.clock.Now
	}
	return g
}

// ---- handlers

// handlerConfig decodes cfg (nil, a JSON string or []byte, a value or a
// pointer of type T) into a fresh *T.
func handlerConfig[T any](t testing.TB, cfg any) *T {
	t.Helper()
	switch c := cfg.(type) {
	case nil:
		return new(T)
	case *T:
		if c == nil {
			return new(T)
		}
		return c
	case T:
		return &c
	case string:
		return handlerConfig[T](t, []byte(c))
	case []byte:
		h := new(T)
		if err := json.Unmarshal(c, h); err != nil {
			t.Fatalf("handler config %s: %v", c, err)
		}
		return h
	}
	t.Fatalf("handler config of type %T", cfg)
	return nil
}

// auth is a jwt_auth handler of cfg (nil, JSON, Auth or *Auth),
// provisioned and validated in f.ctx; it fails the test on an error.
func (f *fixture) auth(cfg any) *Auth {
	f.t.Helper()
	h, err := f.tryAuth(cfg)
	if err != nil {
		f.t.Fatalf("jwt_auth: %v", err)
	}
	return h
}

// tryAuth is auth that returns the Provision or Validate error.
func (f *fixture) tryAuth(cfg any) (*Auth, error) {
	f.t.Helper()
	h := handlerConfig[Auth](f.t, cfg)
	if err := h.Provision(f.ctx); err != nil {
		return h, err
	}
	return h, h.Validate()
}

// issue is a jwt_issue handler of cfg (nil, JSON, Issue or *Issue),
// provisioned and validated in f.ctx; it fails the test on an error.
func (f *fixture) issue(cfg any) *Issue {
	f.t.Helper()
	h, err := f.tryIssue(cfg)
	if err != nil {
		f.t.Fatalf("jwt_issue: %v", err)
	}
	return h
}

// tryIssue is issue that returns the Provision or Validate error.
func (f *fixture) tryIssue(cfg any) (*Issue, error) {
	f.t.Helper()
	h, err := f.provisionIssue(cfg)
	if err != nil {
		return h, err
	}
	return h, h.Validate()
}

// provisionIssue is a jwt_issue handler of cfg after Provision alone, and
// Provision's error.
func (f *fixture) provisionIssue(cfg any) (*Issue, error) {
	f.t.Helper()
	h := handlerConfig[Issue](f.t, cfg)
	if err := h.Provision(f.ctx); err != nil {
		return h, err
	}
	return h, h.Validate() // as Caddy does after Provision
}

// ---- serving

// nextSaw is the recording next handler: it records the request it got
// and answers status and body (nextStatus "next" when status is 0).
type nextSaw struct {
	called bool
	req    *http.Request
	header http.Header // a copy of the request header it got

	status int
	body   string
}

func (n *nextSaw) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	n.called, n.req, n.header = true, r, r.Header.Clone()
	status, body := n.status, n.body
	if status == 0 {
		status, body = nextStatus, nextBody
	}
	w.WriteHeader(status)
	if body == "" {
		return nil
	}
	_, err := w.Write([]byte(body))
	return err
}

// served is what one ServeHTTP call produced.
type served struct {
	rec  *httptest.ResponseRecorder
	next *nextSaw
	repl *caddy.Replacer
	err  error // ServeHTTP's error
}

// serve is f.serve for a handler of a fixture without withUpstream: the
// next handler answers nextStatus "next".
func serve(h caddyhttp.MiddlewareHandler, r *http.Request) *served {
	return (&fixture{upStatus: nextStatus, upBody: nextBody}).serve(h, r)
}

// serve runs r through h (either handler) with a replacer in the
// context, as Caddy's server puts, and a next handler that records the
// request and answers nextStatus "next" (or withUpstream's). No client IP
// var is set, so the handler sees r.RemoteAddr, unless r carries one
// (withVar). It is safe to call from any goroutine.
func (f *fixture) serve(h caddyhttp.MiddlewareHandler, r *http.Request) *served {
	return f.serveFrom("", h, r)
}

// serveFrom is serve with Caddy's client IP var set to ip (none if "").
func (f *fixture) serveFrom(ip string, h caddyhttp.MiddlewareHandler, r *http.Request) *served {
	s := &served{next: &nextSaw{status: f.upStatus, body: f.upBody}}
	s.rec, s.repl, s.err = f.serveNext(ip, h, r, s.next)
	return s
}

// serveNext runs r through h from ip (see serveFrom) with next as the
// next handler. Caddy vars already on r (withVar) are kept.
func (f *fixture) serveNext(ip string, h caddyhttp.MiddlewareHandler, r *http.Request, next caddyhttp.Handler) (*httptest.ResponseRecorder, *caddy.Replacer, error) {
	if ip != "" {
		r = withVar(r, caddyhttp.ClientIPVarKey, ip)
	}
	repl := caddy.NewReplacer()
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl)
	w := httptest.NewRecorder()
	err := h.ServeHTTP(w, r.WithContext(ctx), next)
	return w, repl, err
}

// mustServe is serveFrom that fails the test on a ServeHTTP error, and
// returns the response.
func (f *fixture) mustServe(ip string, h caddyhttp.MiddlewareHandler, r *http.Request) *httptest.ResponseRecorder {
	f.t.Helper()
	s := f.serveFrom(ip, h, r)
	if s.err != nil {
		f.t.Fatalf("ServeHTTP returned %v", s.err)
	}
	return s.rec
}

// do serves r through the fixture's issuer (withIssuer) from fixtureIP
// and fails the test if ServeHTTP returns an error.
func (f *fixture) do(r *http.Request) *httptest.ResponseRecorder {
	f.t.Helper()
	return f.doFrom(fixtureIP, r)
}

// doFrom is do from client IP ip.
func (f *fixture) doFrom(ip string, r *http.Request) *httptest.ResponseRecorder {
	f.t.Helper()
	if f.h == nil {
		f.t.Fatal("fixture: do without withIssuer")
	}
	return f.mustServe(ip, f.h, r)
}

// doNext serves r through the fixture's issuer with app as the next
// handler, and returns the response and ServeHTTP's error.
func (f *fixture) doNext(r *http.Request, app caddyhttp.Handler) (*httptest.ResponseRecorder, error) {
	w, _, err := f.serveNext(fixtureIP, f.h, r, app)
	return w, err
}

// login logs alice in through the fixture's issuer and returns the body.
func (f *fixture) login() map[string]any {
	f.t.Helper()
	w := f.do(jsonPost("/login", creds("alice", fixturePassword)))
	if w.Code != http.StatusOK {
		f.t.Fatalf("login: status %d body %s", w.Code, w.Body.String())
	}
	return bodyJSON(f.t, w)
}

// loginCookies logs alice in through the fixture's issuer and returns
// the cookies set, by name.
func (f *fixture) loginCookies() map[string]*http.Cookie {
	f.t.Helper()
	w := f.do(jsonPost("/login", creds("alice", fixturePassword)))
	if w.Code != 200 {
		f.t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	return cookiesOf(w)
}

// deliverCookies makes an issuer deliver tokens as cookies only.
func deliverCookies(h *Issue) { h.Deliver = []string{"cookie"} }

// refresh posts tok as a bearer token to the issuer's /refresh.
func (f *fixture) refresh(tok string) *httptest.ResponseRecorder {
	f.t.Helper()
	return f.do(withBearer(httptest.NewRequest(http.MethodPost, "/refresh", nil), tok))
}

// logout posts to the issuer's /logout with access as the bearer token
// and refresh, if not empty, as the body's refresh_token.
func (f *fixture) logout(access, refresh string) *httptest.ResponseRecorder {
	f.t.Helper()
	body := "{}"
	if refresh != "" {
		body = `{"refresh_token": "` + refresh + `"}`
	}
	return f.do(withBearer(jsonPost("/logout", body), access))
}

// observeIssuer replaces the fixture's issuer's logger with an observer
// at info, and returns what it records.
func (f *fixture) observeIssuer() *observer.ObservedLogs {
	core, logs := observer.New(zap.InfoLevel)
	f.h.logger = zap.New(core)
	return logs
}

// ---- tokens: testkit's minter, never the module's

// token is an HS256 token of claims signed with f.key; header adds to or
// (with nil values) removes from {"alg":"HS256","typ":"JWT"}.
func (f *fixture) token(claims map[string]any, header ...map[string]any) string {
	f.t.Helper()
	return f.signed("HS256", f.key, claims, header...)
}

// signed is token with another algorithm and key (see testkit.SignToken).
func (f *fixture) signed(alg string, key any, claims map[string]any, header ...map[string]any) string {
	f.t.Helper()
	var hdr map[string]any
	if len(header) > 0 {
		hdr = header[0]
	}
	return testkit.SignToken(f.t, alg, key, hdr, claims)
}

// raw signs raw header and payload JSON with f.key (HS256), for tokens a
// claims map cannot express.
func (f *fixture) raw(header, payload string) string {
	f.t.Helper()
	return testkit.SignRaw(f.t, "HS256", f.key, []byte(header), []byte(payload))
}

// rawSegments signs already-encoded header and payload segments as they
// are (even if they are not canonical base64url) with f.key, HS256. It
// does not use f.t, so a fuzz target may call it.
func (f *fixture) rawSegments(h, p string) string {
	m := hmac.New(sha256.New, f.key)
	m.Write([]byte(h + "." + p))
	return h + "." + p + "." + testkit.B64URL(m.Sum(nil))
}

// claims are a valid access token's claims at the clock's time (alice,
// jti-alice-1, issued a minute ago, ten minutes left), with overrides
// applied; a nil override deletes the claim.
func (f *fixture) claims(overrides map[string]any) map[string]any {
	now := f.clock.Now().Unix()
	c := map[string]any{
		"sub": "alice", "type": "access", "fresh": false, "jti": "jti-alice-1",
		"iat": now - 60, "nbf": now - 60, "exp": now + 600,
	}
	testkit.ApplyOverrides(c, overrides)
	return c
}

// fixtureKey is fixtureSecret as a key.
var fixtureKey = []byte(fixtureSecret)

// accessClaims and accessToken are f.claims and f.access of a fixture
// with the default key whose clock is at fixtureT0, for tables built
// before the fixture.
func accessClaims(overrides map[string]any) map[string]any {
	return (&fixture{clock: testkit.NewClock(fixtureT0)}).claims(overrides)
}

func accessToken(t testing.TB, overrides map[string]any) string {
	t.Helper()
	return (&fixture{t: t, clock: testkit.NewClock(fixtureT0), key: fixtureKey}).access(overrides)
}

// access is f.token(f.claims(overrides)).
func (f *fixture) access(overrides map[string]any) string {
	f.t.Helper()
	return f.token(f.claims(overrides))
}

// decodeToken checks a token the app minted, with fixtureSecret,
// independently of the module, and returns its header and claims.
func decodeToken(t testing.TB, raw string) (map[string]any, map[string]any) {
	t.Helper()
	return decodeHS256(t, []byte(fixtureSecret), raw)
}

// decodeHS256 checks an HS256 token with key independently of the module
// (crypto/hmac over the signing input) and returns its header and claims,
// numbers as json.Number.
func decodeHS256(t testing.TB, key []byte, raw string) (map[string]any, map[string]any) {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q has %d segments", raw, len(parts))
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		t.Fatalf("token signature does not verify with the configured secret")
	}
	dec := func(s string) map[string]any {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("segment is not base64url: %v", err)
		}
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			t.Fatalf("segment is not a JSON object: %v", err)
		}
		return m
	}
	return dec(parts[0]), dec(parts[1])
}

// ---- the app's internals, in one place

// authenticate checks a token in the Authorization header the way
// jwt_auth does, wanting type want.
func (f *fixture) authenticate(tok, want string) *authError {
	r := httptest.NewRequest(http.MethodGet, "/x", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	_, ae := f.app.newAuthenticator([]tokenSource{sourceHeader}, nil).authenticate(r, want)
	return ae
}

// authenticateCookie checks r's token from the cookie of type typ.
func (f *fixture) authenticateCookie(r *http.Request, typ string) *authError {
	_, ae := f.app.newAuthenticator([]tokenSource{sourceCookie}, nil).authenticate(r, typ)
	return ae
}

// lookupToken finds r's token in sources under names, as the handlers
// do (extractToken).
func lookupToken(r *http.Request, sources []tokenSource, names *tokenNames, cookieName string, refresh bool) (string, tokenSource, *authError) {
	return extractToken(r, sources, names, cookieName, refresh)
}

// revoke records jti as revoked until exp in the app's store.
func (f *fixture) revoke(jti string, exp time.Time) error { return revokeOn(f.app, jti, exp) }

// revokeOn is revoke for an app that is not a fixture's.
func revokeOn(a *App, jti string, exp time.Time) error {
	return a.revoked.revoke(context.Background(), jti, exp)
}

// isRevoked reports whether the app's store has jti revoked.
func (f *fixture) isRevoked(jti string) bool { return f.app.revoked.isRevoked(jti) }

// failStores makes every Store of the app's faultyStorage fail with err
// (nil: succeed again), so what the app writes cannot be recorded.
func (f *fixture) failStores(err error) {
	if f.faults == nil {
		f.t.Fatal("fixture: failStores without faultyStorage")
	}
	f.faults.Set(func(s *testkit.Storage) { s.FailStore = err })
}

// revocations is the app's revocation store.
func (f *fixture) revocations() *revocations { return f.app.revoked }

// newRevocationsFor prepares a revocation store on s with a's settings,
// resolved as Provision resolves them, without joining a shared set.
func newRevocationsFor(t testing.TB, s certmagic.Storage, a *App, logger *zap.Logger) (*revocations, error) {
	t.Helper()
	if err := a.resolvePlaceholders(); err != nil {
		return nil, err
	}
	a.applyDefaults()
	if logger != nil {
		a.logger = logger
	}
	return newRevocations(s, a)
}

// openRevocations opens a revocation store on s with a's settings the way
// Provision does (resolving them when a was only unmarshalled), and
// leaves it at the end of the test.
func openRevocations(t testing.TB, s certmagic.Storage, a *App, logger *zap.Logger) *revocations {
	t.Helper()
	if a.resolved.accessTTL == 0 {
		if err := a.resolvePlaceholders(); err != nil {
			t.Fatal(err)
		}
		a.applyDefaults()
	}
	if logger != nil {
		a.logger = logger
	}
	r, err := newRevocations(s, a)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.attach(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.release)
	return r
}

// verifyRaw checks a raw token with a's verifier, as the handlers'
// authenticators do (signature, claims, the clock, the cache).
func verifyRaw(a *App, raw string) (*token.Verified, *authError) {
	return a.newAuthenticator(nil, nil).verify(raw)
}

// jsonSetting is one exported field of a config struct and its JSON key.
type jsonSetting struct{ key string }

// jsonSettingKeys lists the JSON keys of the exported fields of the struct
// type t, those of embedded structs included, in field order.
func jsonSettingKeys(t reflect.Type) []jsonSetting {
	var out []jsonSetting
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		key, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && key == "" {
			out = append(out, jsonSettingKeys(f.Type)...)
			continue
		}
		if key == "-" {
			continue
		}
		out = append(out, jsonSetting{key})
	}
	return out
}
