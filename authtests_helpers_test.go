package jwtextended

// Helpers for the jwt_auth, verify, source and Caddyfile tests (owned by
// the authtests area). Tokens are minted with signRaw/signToken from
// testutil_test.go, never with the module's own code.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// authtestsSecret is the HS256 key of the apps built by authtestsApp.
var authtestsSecret = []byte("authtests-hs256-secret-0123456789abcdef")

// authtestsNow is the fixed clock of every app built here.
var authtestsNow = time.Unix(1_800_000_000, 0)

// authtestsProvision provisions app (with its fields as the test sets
// them) with provisionTestApp and fixes its clock at authtestsNow.
func authtestsProvision(t testing.TB, app *App) (caddy.Context, *App, error) {
	t.Helper()
	ctx, got, err := provisionTestApp(t, mustJSON(t, app), "")
	if err != nil {
		return ctx, nil, err
	}
	got.now = func() time.Time { return authtestsNow }
	return ctx, got, nil
}

// authtestsApp returns a provisioned app with authtestsSecret, changed by
// mutate before provisioning, and its caddy context.
func authtestsApp(t testing.TB, mutate func(*App)) (caddy.Context, *App) {
	t.Helper()
	app := &App{Secret: string(authtestsSecret)}
	if mutate != nil {
		mutate(app)
	}
	ctx, got, err := authtestsProvision(t, app)
	if err != nil {
		t.Fatalf("provisioning jwt app: %v", err)
	}
	return ctx, got
}

// authtestsHandler provisions and validates h against an app built by
// authtestsApp(mutate).
func authtestsHandler(t testing.TB, mutate func(*App), h *Auth) (*Auth, *App) {
	t.Helper()
	ctx, app := authtestsApp(t, mutate)
	return authtestsHandlerOn(t, ctx, h), app
}

// authtestsHandlerOn provisions and validates h in ctx, so several handlers
// share one app.
func authtestsHandlerOn(t testing.TB, ctx caddy.Context, h *Auth) *Auth {
	t.Helper()
	if h == nil {
		h = new(Auth)
	}
	if err := h.Provision(ctx); err != nil {
		t.Fatalf("provisioning jwt_auth: %v", err)
	}
	if err := h.Validate(); err != nil {
		t.Fatalf("validating jwt_auth: %v", err)
	}
	return h
}

// authtestsClaims returns a valid access token's claims at authtestsNow,
// with overrides applied; a nil override deletes the claim.
func authtestsClaims(overrides map[string]any) map[string]any {
	now := authtestsNow.Unix()
	c := map[string]any{
		"sub":   "alice",
		"type":  "access",
		"fresh": false,
		"jti":   "jti-alice-1",
		"iat":   now - 60,
		"nbf":   now - 60,
		"exp":   now + 600,
	}
	applyOverrides(c, overrides)
	return c
}

// authtestsToken mints an HS256 token with authtestsSecret.
func authtestsToken(t testing.TB, overrides map[string]any) string {
	t.Helper()
	return signToken(t, "HS256", authtestsSecret, nil, authtestsClaims(overrides))
}

// authtestsNext is the next handler: it records the request it got.
type authtestsNext struct {
	called bool
	req    *http.Request
	header http.Header // a copy of req.Header as seen by the next handler
}

func (n *authtestsNext) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	n.called = true
	n.req = r
	n.header = r.Header.Clone()
	w.WriteHeader(http.StatusTeapot) // a status no refusal uses
	return nil
}

var _ caddyhttp.Handler = (*authtestsNext)(nil)

// authtestsResult is what one ServeHTTP call produced.
type authtestsResult struct {
	rec  *httptest.ResponseRecorder
	next *authtestsNext
	repl *caddy.Replacer
	err  error
}

// authtestsServe runs r through h with a replacer in the context, as Caddy's
// server does.
func authtestsServe(h *Auth, r *http.Request) authtestsResult {
	repl := caddy.NewReplacer()
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
	res := authtestsResult{rec: httptest.NewRecorder(), next: new(authtestsNext), repl: repl}
	res.err = h.ServeHTTP(res.rec, r, res.next)
	return res
}

// authtestsBearer is a GET request with Authorization: Bearer tok.
func authtestsBearer(tok string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://example.com/api", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

// authtestsBody is the exact refusal body {"msg": msg}, JSON without HTML
// escaping.
func authtestsBody(msg string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string]string{"msg": msg})
	return strings.TrimSuffix(buf.String(), "\n")
}

// authtestsAssertRefused checks a refusal written by jwt_auth: status, exact
// body, Content-Type, the challenge, and that the next handler was not
// called. challenge "" means no WWW-Authenticate header (403).
func authtestsAssertRefused(t testing.TB, res authtestsResult, status int, msg, challenge string) {
	t.Helper()
	if res.err != nil {
		t.Fatalf("ServeHTTP returned error %v; want a written refusal", res.err)
	}
	if res.next.called {
		t.Errorf("next handler was called on a refused request")
	}
	if res.rec.Code != status {
		t.Errorf("status = %d, want %d", res.rec.Code, status)
	}
	if got, want := res.rec.Body.String(), authtestsBody(msg); got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
	if ct := res.rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if got := res.rec.Header().Values("WWW-Authenticate"); challenge == "" && len(got) != 0 {
		t.Errorf("WWW-Authenticate = %q, want none", got)
	} else if challenge != "" && (len(got) != 1 || got[0] != challenge) {
		t.Errorf("WWW-Authenticate = %q, want %q", got, challenge)
	}
}

// Challenges of the contract.
const (
	authtestsNoTokenChallenge  = "Bearer"
	authtestsBadTokenChallenge = `Bearer error="invalid_token"`
)
