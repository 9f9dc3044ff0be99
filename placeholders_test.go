package jwtextended

import (
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
)

// TestUserClaimPlaceholders: {http.auth.user.<claim>} holds the token's
// top-level string and number claims, beside {http.auth.jwt.claims.<name>},
// as caddyauth publishes a user's metadata; {http.auth.user.id} stays the
// identity and costs no allocation.
func TestUserClaimPlaceholders(t *testing.T) {
	h := newFixture(t).auth(nil)
	tok := accessToken(t, map[string]any{
		"role": "admin", "tenant_id": 42, "ratio": 0.5,
		"groups": []string{"a", "b"}, "addr": map[string]any{"city": "x"}, "admin": true,
	})
	res := serve(h, bearerGet(tok))
	if !res.next.called {
		t.Fatalf("token refused: %d %s", res.rec.Code, res.rec.Body)
	}
	for key, want := range map[string]string{
		"http.auth.user.id":               "alice",
		"http.auth.user.role":             "admin",
		"http.auth.user.tenant_id":        "42",
		"http.auth.user.ratio":            "0.5",
		"http.auth.user.sub":              "alice",
		"http.auth.jwt.claims.role":       "admin",
		"http.auth.jwt.claims.groups":     `["a","b"]`,
		"http.auth.user.jti":              "jti-alice-1",
		"http.auth.jwt.claims.tenant_id":  "42",
		"http.auth.jwt.claims.admin":      "true",
		"http.auth.jwt.claims.addr":       `{"city":"x"}`,
		"http.auth.jwt.claims.role.extra": "",
	} {
		got, _ := res.repl.GetString(key)
		if got != want {
			t.Errorf("{%s} = %q, want %q", key, got, want)
		}
	}
	for _, key := range []string{"http.auth.user.groups", "http.auth.user.addr", "http.auth.user.admin", "http.auth.user.nope"} {
		if v, ok := res.repl.Get(key); ok {
			t.Errorf("{%s} = %v, want unknown (not a string or number claim)", key, v)
		}
	}

	p := presentationOf(mustParse(t, h, tok))
	if n := testing.AllocsPerRun(100, func() { _, _ = p.fresh("http.auth.user.id") }); n != 0 {
		t.Errorf("{http.auth.user.id} allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = p.stale("http.auth.user.role") }); n != 0 {
		t.Errorf("{http.auth.user.role} allocates %v times", n)
	}
}

// mustParse verifies tok with the handler's app.
func mustParse(t *testing.T, h *Auth, tok string) *token.Verified {
	t.Helper()
	v, e := h.app.parseToken(tok)
	if e != nil {
		t.Fatal(e)
	}
	return v
}

// TestPlaceholderFreshFollowsTheClock: one cached token, served before and
// after its fresh_for ends, publishes {http.auth.jwt.fresh} and
// X-Jwt-Fresh as the clock says on each request, with its other
// placeholders unchanged.
func TestPlaceholderFreshFollowsTheClock(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withAppJSON(`{"fresh_for": "5m"}`))
	h, app := f.auth(&Auth{}), f.app
	tok := accessToken(t, map[string]any{"fresh": fixtureT0.Add(5 * time.Minute).Unix(), "exp": fixtureT0.Add(time.Hour).Unix()})
	for _, step := range []struct {
		after time.Duration
		want  string
	}{{0, "true"}, {5*time.Minute + time.Second, "false"}, {0, "true"}} {
		app.now = func() time.Time { return fixtureT0.Add(step.after) }
		res := serve(h, bearerGet(tok))
		if !res.next.called {
			t.Fatalf("refused: %d", res.rec.Code)
		}
		got, _ := res.repl.GetString("http.auth.jwt.fresh")
		if got != step.want || res.next.header.Get("X-Jwt-Fresh") != step.want {
			t.Errorf("%v after: {http.auth.jwt.fresh} = %q, X-Jwt-Fresh = %q, want %s", step.after, got, res.next.header.Get("X-Jwt-Fresh"), step.want)
		}
		if id, _ := res.repl.GetString("http.auth.user.id"); id == "" {
			t.Errorf("%v after: {http.auth.user.id} is empty", step.after)
		}
	}
}
