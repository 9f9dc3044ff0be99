package jwtextended

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// cookieRequest is a request of method carrying tok in the
// access_token_cookie (or name, if given) and an optional X-CSRF-TOKEN.
func cookieRequest(method, name, tok, csrf string) *http.Request {
	r := httptest.NewRequest(method, "http://example.com/api", nil)
	if name == "" {
		name = accessCookieName
	}
	r.Header.Set("Cookie", "theme=dark; "+name+"="+tok)
	if csrf != "" {
		r.Header.Set("X-CSRF-TOKEN", csrf)
	}
	return r
}

// TestServeHTTPContractRefusals covers every refusal row of the contract's
// error table that jwt_auth answers: status, exact body, Content-Type, the
// Bearer challenge, the reason code, and that the upstream is never reached.
func TestServeHTTPContractRefusals(t *testing.T) {
	t.Parallel()
	otherSecret := []byte("another-secret-that-is-long-enough-0123456789")
	now := fixtureT0.Unix()
	cookieOnly := func() *Auth { return &Auth{TokenLookup: TokenLookup{TokenFrom: []string{"cookie"}}} }

	tests := []struct {
		name      string
		auth      func() *Auth
		mutate    func(*App)
		setup     func(t *testing.T, app *App)
		req       func(t *testing.T) *http.Request
		status    int
		msg       string
		challenge string
		code      string
	}{
		{
			name:      "no token (header source)",
			req:       func(t *testing.T) *http.Request { return httptest.NewRequest("GET", "/api", nil) },
			status:    401,
			msg:       "Missing Authorization Header",
			challenge: challengeNoToken,
			code:      "missing",
		},
		{
			name: "empty Authorization header",
			req: func(t *testing.T) *http.Request {
				r := httptest.NewRequest("GET", "/api", nil)
				r.Header["Authorization"] = []string{""}
				return r
			},
			status:    401,
			msg:       "Missing Authorization Header",
			challenge: challengeNoToken,
			code:      "missing",
		},
		{
			name: "header without the Bearer type (Basic)",
			req: func(t *testing.T) *http.Request {
				r := httptest.NewRequest("GET", "/api", nil)
				r.SetBasicAuth("alice", "pw")
				return r
			},
			status:    401,
			msg:       "Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'",
			challenge: challengeNoToken,
			code:      "bad_authorization_header",
		},
		{
			name: "header with a bare token and no type",
			req: func(t *testing.T) *http.Request {
				r := httptest.NewRequest("GET", "/api", nil)
				r.Header.Set("Authorization", accessToken(t, nil))
				return r
			},
			status:    401,
			msg:       "Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'",
			challenge: challengeNoToken,
			code:      "bad_authorization_header",
		},
		{
			name: "Bearer with nothing after it",
			req: func(t *testing.T) *http.Request {
				r := httptest.NewRequest("GET", "/api", nil)
				r.Header["Authorization"] = []string{"Bearer "}
				return r
			},
			status:    401,
			msg:       "Bad Authorization header. Expected 'Authorization: Bearer <JWT>'", // flask's InvalidHeaderError
			challenge: challengeNoToken,
			code:      "bad_authorization_header",
		},
		{
			name: "expired",
			req: func(t *testing.T) *http.Request {
				return bearerGet(accessToken(t, map[string]any{"exp": now - 1}))
			},
			status:    401,
			msg:       "Token has expired",
			challenge: challengeBadToken,
			code:      "expired",
		},
		{
			name: "expired at exactly exp",
			req: func(t *testing.T) *http.Request {
				return bearerGet(accessToken(t, map[string]any{"exp": now}))
			},
			status:    401,
			msg:       "Token has expired",
			challenge: challengeBadToken,
			code:      "expired",
		},
		{
			name: "bad signature (other key)",
			req: func(t *testing.T) *http.Request {
				return bearerGet(testkit.SignToken(t, "HS256", otherSecret, nil, accessClaims(nil)))
			},
			status:    401,
			msg:       "Signature verification failed",
			challenge: challengeBadToken,
			code:      "invalid_signature",
		},
		{
			name: "bad signature (payload swapped after signing)",
			req: func(t *testing.T) *http.Request {
				good := strings.Split(accessToken(t, nil), ".")
				evil := testkit.B64URL(testkit.MustJSON(t, accessClaims(map[string]any{"sub": "admin"})))
				return bearerGet(good[0] + "." + evil + "." + good[2])
			},
			status:    401,
			msg:       "Signature verification failed",
			challenge: challengeBadToken,
			code:      "invalid_signature",
		},
		{
			name:      "other invalid token (not a JWT)",
			req:       func(t *testing.T) *http.Request { return bearerGet("not-a-jwt") },
			status:    401,
			msg:       "Not enough segments",
			challenge: challengeBadToken,
			code:      "malformed",
		},
		{
			name: "other invalid token (type neither access nor refresh)",
			req: func(t *testing.T) *http.Request {
				return bearerGet(accessToken(t, map[string]any{"type": "id"}))
			},
			status:    401,
			msg:       "Invalid token type",
			challenge: challengeBadToken,
			code:      "invalid_type",
		},
		{
			name: "revoked",
			setup: func(t *testing.T, app *App) {
				if err := revokeOn(app, "jti-alice-1", fixtureT0.Add(time.Hour)); err != nil {
					t.Fatal(err)
				}
			},
			req:       func(t *testing.T) *http.Request { return bearerGet(accessToken(t, nil)) },
			status:    401,
			msg:       "Token has been revoked",
			challenge: challengeBadToken,
			code:      "revoked",
		},
		{
			name: "refresh token where an access token is needed",
			req: func(t *testing.T) *http.Request {
				return bearerGet(accessToken(t, map[string]any{"type": "refresh"}))
			},
			status:    401,
			msg:       "Only non-refresh tokens are allowed",
			challenge: challengeBadToken,
			code:      "wrong_token_type",
		},
		{
			name:      "access token where a refresh token is needed",
			auth:      func() *Auth { return &Auth{TokenType: "refresh"} },
			req:       func(t *testing.T) *http.Request { return bearerGet(accessToken(t, nil)) },
			status:    401,
			msg:       "Only refresh tokens are allowed",
			challenge: challengeBadToken,
			code:      "wrong_token_type",
		},
		{
			name: "token without type where a refresh token is needed",
			auth: func() *Auth { return &Auth{TokenType: "refresh"} },
			req: func(t *testing.T) *http.Request {
				return bearerGet(accessToken(t, map[string]any{"type": nil}))
			},
			status:    401,
			msg:       "Only refresh tokens are allowed",
			challenge: challengeBadToken,
			code:      "wrong_token_type",
		},
		{
			name: "fresh_required, fresh false",
			auth: func() *Auth { return &Auth{FreshRequired: true} },
			req: func(t *testing.T) *http.Request {
				return bearerGet(accessToken(t, map[string]any{"fresh": false}))
			},
			status:    401,
			msg:       "Fresh token required",
			challenge: challengeStepUp,
			code:      "not_fresh",
		},
		{
			name: "fresh_required, fresh missing",
			auth: func() *Auth { return &Auth{FreshRequired: true} },
			req: func(t *testing.T) *http.Request {
				return bearerGet(accessToken(t, map[string]any{"fresh": nil}))
			},
			status:    401,
			msg:       "Fresh token required",
			challenge: challengeStepUp,
			code:      "not_fresh",
		},
		{
			name: "fresh_required, fresh a unix time in the past",
			auth: func() *Auth { return &Auth{FreshRequired: true} },
			req: func(t *testing.T) *http.Request {
				return bearerGet(accessToken(t, map[string]any{"fresh": now - 1}))
			},
			status:    401,
			msg:       "Fresh token required",
			challenge: challengeStepUp,
			code:      "not_fresh",
		},
		{
			name: "fresh_required, fresh the string true",
			auth: func() *Auth { return &Auth{FreshRequired: true} },
			req: func(t *testing.T) *http.Request {
				return bearerGet(accessToken(t, map[string]any{"fresh": "true"}))
			},
			status:    401,
			msg:       "Fresh token required",
			challenge: challengeStepUp,
			code:      "not_fresh",
		},
		{
			name: "fresh_required, fresh 1",
			auth: func() *Auth { return &Auth{FreshRequired: true} },
			req: func(t *testing.T) *http.Request {
				return bearerGet(accessToken(t, map[string]any{"fresh": 1}))
			},
			status:    401,
			msg:       "Fresh token required",
			challenge: challengeStepUp,
			code:      "not_fresh",
		},
		{
			name: "fresh_required on a refresh token (always fresh false)",
			auth: func() *Auth { return &Auth{FreshRequired: true, TokenType: "any"} },
			req: func(t *testing.T) *http.Request {
				return bearerGet(accessToken(t, map[string]any{"type": "refresh"}))
			},
			status:    401,
			msg:       "Fresh token required",
			challenge: challengeStepUp,
			code:      "not_fresh",
		},
		{
			name: "cookie token, POST, no CSRF header",
			auth: cookieOnly,
			req: func(t *testing.T) *http.Request {
				return cookieRequest("POST", "", accessToken(t, map[string]any{"csrf": "c-1"}), "")
			},
			status:    401,
			msg:       "Missing CSRF token",
			challenge: challengeBadToken,
			code:      "csrf_missing",
		},
		{
			name: "cookie token, PUT, no CSRF header",
			auth: cookieOnly,
			req: func(t *testing.T) *http.Request {
				return cookieRequest("PUT", "", accessToken(t, map[string]any{"csrf": "c-1"}), "")
			},
			status:    401,
			msg:       "Missing CSRF token",
			challenge: challengeBadToken,
			code:      "csrf_missing",
		},
		{
			name: "cookie token, PATCH, no CSRF header",
			auth: cookieOnly,
			req: func(t *testing.T) *http.Request {
				return cookieRequest("PATCH", "", accessToken(t, map[string]any{"csrf": "c-1"}), "")
			},
			status:    401,
			msg:       "Missing CSRF token",
			challenge: challengeBadToken,
			code:      "csrf_missing",
		},
		{
			name: "cookie token, DELETE, no CSRF header",
			auth: cookieOnly,
			req: func(t *testing.T) *http.Request {
				return cookieRequest("DELETE", "", accessToken(t, map[string]any{"csrf": "c-1"}), "")
			},
			status:    401,
			msg:       "Missing CSRF token",
			challenge: challengeBadToken,
			code:      "csrf_missing",
		},
		{
			name: "cookie token from the app's token_from, POST, no CSRF header",
			mutate: func(a *App) {
				a.TokenFrom = []string{"cookie"}
			},
			req: func(t *testing.T) *http.Request {
				return cookieRequest("POST", "", accessToken(t, map[string]any{"csrf": "c-1"}), "")
			},
			status:    401,
			msg:       "Missing CSRF token",
			challenge: challengeBadToken,
			code:      "csrf_missing",
		},
		{
			name: "CSRF header differs",
			auth: cookieOnly,
			req: func(t *testing.T) *http.Request {
				return cookieRequest("POST", "", accessToken(t, map[string]any{"csrf": "c-1"}), "c-2")
			},
			status:    401,
			msg:       "CSRF double submit tokens do not match",
			challenge: challengeBadToken,
			code:      "csrf_mismatch",
		},
		{
			name: "CSRF header differs only in case",
			auth: cookieOnly,
			req: func(t *testing.T) *http.Request {
				return cookieRequest("DELETE", "", accessToken(t, map[string]any{"csrf": "abc"}), "ABC")
			},
			status:    401,
			msg:       "CSRF double submit tokens do not match",
			challenge: challengeBadToken,
			code:      "csrf_mismatch",
		},
		{
			name: "cookie token without a csrf claim, POST with a CSRF header",
			auth: cookieOnly,
			req: func(t *testing.T) *http.Request {
				return cookieRequest("POST", "", accessToken(t, nil), "c-1")
			},
			status:    401,
			msg:       "Missing claim: csrf",
			challenge: challengeBadToken,
			code:      "csrf_missing",
		},
		{
			name: "two Authorization headers",
			req: func(t *testing.T) *http.Request {
				r := bearerGet(accessToken(t, nil))
				r.Header.Add("Authorization", "Bearer "+accessToken(t, map[string]any{"sub": "admin"}))
				return r
			},
			status:    401,
			msg:       "Only one Authorization header is allowed",
			challenge: challengeNoToken,
			code:      "bad_authorization_header",
		},
		{
			name: "require not met (other value)",
			auth: func() *Auth { return &Auth{Require: []ClaimRequirement{{Claim: "role", Values: []string{"admin"}}}} },
			req: func(t *testing.T) *http.Request {
				return bearerGet(accessToken(t, map[string]any{"role": "user"}))
			},
			status:    403,
			msg:       "Insufficient claims",
			challenge: "",
			code:      "forbidden",
		},
		{
			name:      "require not met (claim missing)",
			auth:      func() *Auth { return &Auth{Require: []ClaimRequirement{{Claim: "role", Values: []string{"admin"}}}} },
			req:       func(t *testing.T) *http.Request { return bearerGet(accessToken(t, nil)) },
			status:    403,
			msg:       "Insufficient claims",
			challenge: "",
			code:      "forbidden",
		},
		{
			name: "require not met (array without the value)",
			auth: func() *Auth {
				return &Auth{Require: []ClaimRequirement{{Claim: "roles", Values: []string{"admin", "ops"}}}}
			},
			req: func(t *testing.T) *http.Request {
				return bearerGet(accessToken(t, map[string]any{"roles": []string{"user", "dev"}}))
			},
			status:    403,
			msg:       "Insufficient claims",
			challenge: "",
			code:      "forbidden",
		},
		// Issue 12, finding 10: only a string equal to the value, or an
		// array holding that string, meets a requirement; nested arrays,
		// objects, numbers and booleans do not.
		{
			name: "require not met (nested array)",
			auth: func() *Auth { return &Auth{Require: []ClaimRequirement{{Claim: "role", Values: []string{"admin"}}}} },
			req: func(t *testing.T) *http.Request {
				return bearerGet(accessToken(t, map[string]any{"role": []any{[]any{"admin"}}}))
			},
			status: 403, msg: "Insufficient claims", challenge: "", code: "forbidden",
		},
		{
			name: "require not met (object)",
			auth: func() *Auth { return &Auth{Require: []ClaimRequirement{{Claim: "role", Values: []string{"admin"}}}} },
			req: func(t *testing.T) *http.Request {
				return bearerGet(accessToken(t, map[string]any{"role": map[string]any{"admin": "admin"}}))
			},
			status: 403, msg: "Insufficient claims", challenge: "", code: "forbidden",
		},
		{
			name: "require not met (number and bool are not strings)",
			auth: func() *Auth {
				return &Auth{Require: []ClaimRequirement{{Claim: "level", Values: []string{"3"}}, {Claim: "staff", Values: []string{"true"}}}}
			},
			req: func(t *testing.T) *http.Request {
				return bearerGet(accessToken(t, map[string]any{"level": 3, "staff": true}))
			},
			status: 403, msg: "Insufficient claims", challenge: "", code: "forbidden",
		},
		{
			name: "require: every line must hold",
			auth: func() *Auth {
				return &Auth{Require: []ClaimRequirement{
					{Claim: "role", Values: []string{"admin"}},
					{Claim: "tenant", Values: []string{"acme"}},
				}}
			},
			req: func(t *testing.T) *http.Request {
				return bearerGet(accessToken(t, map[string]any{"role": "admin", "tenant": "other"}))
			},
			status:    403,
			msg:       "Insufficient claims",
			challenge: "",
			code:      "forbidden",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var a *Auth
			if tc.auth != nil {
				a = tc.auth()
			}
			f := newFixture(t, withApp(tc.mutate))
			h, app := f.auth(a), f.app
			if tc.setup != nil {
				tc.setup(t, app)
			}
			res := serve(h, tc.req(t))
			wantRefused(t, res, tc.status, tc.msg, tc.challenge)
			if got, _ := res.repl.GetString("http.auth.jwt.error"); got != tc.code {
				t.Errorf("{http.auth.jwt.error} = %q, want %q", got, tc.code)
			}
			if got, ok := res.repl.GetString("http.auth.user.id"); ok || got != "" {
				t.Errorf("{http.auth.user.id} = %q on a refusal", got)
			}
		})
	}
}

// TestServeHTTPPasses covers the accepting side of the same rows: what must
// reach the upstream, with the freshness it sees.
func TestServeHTTPPasses(t *testing.T) {
	t.Parallel()
	now := fixtureT0.Unix()
	cookieOnly := func() *Auth { return &Auth{TokenLookup: TokenLookup{TokenFrom: []string{"cookie"}}} }
	tests := []struct {
		name      string
		auth      func() *Auth
		req       func(t *testing.T) *http.Request
		wantType  string
		wantFresh string
	}{
		{"plain access token", nil,
			func(t *testing.T) *http.Request { return bearerGet(accessToken(t, nil)) }, "access", "false"},
		{"token without type is an access token", nil,
			func(t *testing.T) *http.Request {
				return bearerGet(accessToken(t, map[string]any{"type": nil}))
			}, "access", "false"},
		{"lowercase bearer scheme", nil,
			func(t *testing.T) *http.Request {
				r := httptest.NewRequest("GET", "/api", nil)
				r.Header.Set("Authorization", "bearer "+accessToken(t, nil))
				return r
			}, "access", "false"},
		{"fresh_required, fresh true", func() *Auth { return &Auth{FreshRequired: true} },
			func(t *testing.T) *http.Request {
				return bearerGet(accessToken(t, map[string]any{"fresh": true}))
			}, "access", "true"},
		{"fresh_required, fresh a unix time in the future", func() *Auth { return &Auth{FreshRequired: true} },
			func(t *testing.T) *http.Request {
				return bearerGet(accessToken(t, map[string]any{"fresh": now + 300}))
			}, "access", "true"},
		{"fresh_required, fresh exactly now is not in the past", func() *Auth { return &Auth{FreshRequired: true} },
			func(t *testing.T) *http.Request {
				return bearerGet(accessToken(t, map[string]any{"fresh": now}))
			}, "access", "true"},
		{"fresh_required, fresh a fractional time in the future", func() *Auth { return &Auth{FreshRequired: true} },
			func(t *testing.T) *http.Request {
				return bearerGet(accessToken(t, map[string]any{"fresh": float64(now) + 0.5}))
			}, "access", "true"},
		{"fresh number in the past without fresh_required passes as not fresh", nil,
			func(t *testing.T) *http.Request {
				return bearerGet(accessToken(t, map[string]any{"fresh": now - 1}))
			}, "access", "false"},
		{"cookie token, GET needs no CSRF header", cookieOnly,
			func(t *testing.T) *http.Request {
				return cookieRequest("GET", "", accessToken(t, map[string]any{"csrf": "c-1"}), "")
			}, "access", "false"},
		{"cookie token, HEAD needs no CSRF header", cookieOnly,
			func(t *testing.T) *http.Request {
				return cookieRequest("HEAD", "", accessToken(t, map[string]any{"csrf": "c-1"}), "")
			}, "access", "false"},
		{"cookie token, POST with the matching CSRF header", cookieOnly,
			func(t *testing.T) *http.Request {
				return cookieRequest("POST", "", accessToken(t, map[string]any{"csrf": "c-1"}), "c-1")
			}, "access", "false"},
		{"header token, POST needs no CSRF header", nil,
			func(t *testing.T) *http.Request {
				r := bearerGet(accessToken(t, map[string]any{"csrf": "c-1"}))
				r.Method = "POST"
				return r
			}, "access", "false"},
		{"require met (string)", func() *Auth {
			return &Auth{Require: []ClaimRequirement{{Claim: "role", Values: []string{"ops", "admin"}}}}
		},
			func(t *testing.T) *http.Request {
				return bearerGet(accessToken(t, map[string]any{"role": "admin"}))
			}, "access", "false"},
		{"require met (array contains)", func() *Auth { return &Auth{Require: []ClaimRequirement{{Claim: "roles", Values: []string{"admin"}}}} },
			func(t *testing.T) *http.Request {
				return bearerGet(accessToken(t, map[string]any{"roles": []string{"user", "admin"}}))
			}, "access", "false"},
		{"token_type any takes an access token", func() *Auth { return &Auth{TokenType: "any"} },
			func(t *testing.T) *http.Request { return bearerGet(accessToken(t, nil)) }, "access", "false"},
		{"token_type any takes a refresh token", func() *Auth { return &Auth{TokenType: "any"} },
			func(t *testing.T) *http.Request {
				return bearerGet(accessToken(t, map[string]any{"type": "refresh"}))
			}, "refresh", "false"},
		{"token_type refresh takes a refresh token", func() *Auth { return &Auth{TokenType: "refresh"} },
			func(t *testing.T) *http.Request {
				return bearerGet(accessToken(t, map[string]any{"type": "refresh"}))
			}, "refresh", "false"},
		{"token_type refresh reads refresh_token_cookie", func() *Auth {
			return &Auth{TokenType: "refresh", TokenLookup: TokenLookup{TokenFrom: []string{"cookie"}}}
		},
			func(t *testing.T) *http.Request {
				return cookieRequest("GET", refreshCookieName, accessToken(t, map[string]any{"type": "refresh"}), "")
			}, "refresh", "false"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var a *Auth
			if tc.auth != nil {
				a = tc.auth()
			}
			h := newFixture(t).auth(a)
			res := serve(h, tc.req(t))
			if res.err != nil || !res.next.called {
				t.Fatalf("refused: err=%v status=%d body=%s", res.err, res.rec.Code, res.rec.Body)
			}
			if got := res.next.header.Get("X-Jwt-Type"); got != tc.wantType {
				t.Errorf("X-Jwt-Type = %q, want %q", got, tc.wantType)
			}
			if got := res.next.header.Get("X-Jwt-Fresh"); got != tc.wantFresh {
				t.Errorf("X-Jwt-Fresh = %q, want %q", got, tc.wantFresh)
			}
			if got := res.next.header.Get("X-Jwt-Identity"); got != "alice" {
				t.Errorf("X-Jwt-Identity = %q, want alice", got)
			}
		})
	}
}

// TestServeHTTPFreshForNumericFresh: a token minted with fresh_for carries
// fresh=<unix time>; it is fresh until then and not after, by the app's
// clock.
func TestServeHTTPFreshForNumericFresh(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withAppJSON(`{"fresh_for": "5m"}`))
	h, app := f.auth(&Auth{FreshRequired: true}), f.app
	tok := accessToken(t, map[string]any{"fresh": fixtureT0.Add(5 * time.Minute).Unix(), "exp": fixtureT0.Add(time.Hour).Unix()})

	res := serve(h, bearerGet(tok))
	if !res.next.called || res.next.header.Get("X-Jwt-Fresh") != "true" {
		t.Fatalf("within fresh_for: status %d, X-Jwt-Fresh %q", res.rec.Code, res.next.header.Get("X-Jwt-Fresh"))
	}
	if got, _ := res.repl.GetString("http.auth.jwt.fresh"); got != "true" {
		t.Errorf("{http.auth.jwt.fresh} = %q, want true", got)
	}

	app.now = func() time.Time { return fixtureT0.Add(5*time.Minute + time.Second) }
	res = serve(h, bearerGet(tok))
	wantRefused(t, res, 401, "Fresh token required", challengeStepUp)

	// the same token on a route that does not need freshness: passes, not fresh
	f2 := newFixture(t)
	plain, app2 := f2.auth(nil), f2.app
	app2.now = app.now
	res = serve(plain, bearerGet(tok))
	if !res.next.called || res.next.header.Get("X-Jwt-Fresh") != "false" {
		t.Fatalf("after fresh_for: called=%v X-Jwt-Fresh %q", res.next.called, res.next.header.Get("X-Jwt-Fresh"))
	}
}

// TestServeHTTPOptional: no token passes on anonymously, but a token that is
// present and bad still fails.
func TestServeHTTPOptional(t *testing.T) {
	t.Parallel()
	h := newFixture(t).auth(&Auth{Optional: true})

	r := httptest.NewRequest("GET", "/api", nil)
	r.Header.Set("X-Jwt-Identity", "mallory") // spoofed
	res := serve(h, r)
	if res.err != nil || !res.next.called {
		t.Fatalf("anonymous request refused: %d %s", res.rec.Code, res.rec.Body)
	}
	for name := range res.next.header {
		if hasJWTPrefix(name) {
			t.Errorf("anonymous request reached next with %s: %q", name, res.next.header[name])
		}
	}
	if v, ok := res.repl.GetString("http.auth.user.id"); ok || v != "" {
		t.Errorf("{http.auth.user.id} = %q for an anonymous request", v)
	}

	res = serve(h, bearerGet(accessToken(t, map[string]any{"exp": fixtureT0.Unix() - 10})))
	wantRefused(t, res, 401, "Token has expired", challengeBadToken)

	res = serve(h, bearerGet("garbage"))
	wantRefused(t, res, 401, "Not enough segments", challengeBadToken)

	res = serve(h, bearerGet(accessToken(t, map[string]any{"type": "refresh"})))
	wantRefused(t, res, 401, "Only non-refresh tokens are allowed", challengeBadToken)

	res = serve(h, bearerGet(accessToken(t, nil)))
	if !res.next.called || res.next.header.Get("X-Jwt-Identity") != "alice" {
		t.Errorf("optional with a good token: called=%v identity=%q", res.next.called, res.next.header.Get("X-Jwt-Identity"))
	}

	// an Authorization header of another scheme presents no JWT: anonymous,
	// as flask-jwt-extended's optional=True does
	for _, v := range []string{"Basic YWxpY2U6cHc=", "Digest username=alice", "Token abc", accessToken(t, nil)} {
		r := httptest.NewRequest("GET", "/api", nil)
		r.Header.Set("Authorization", v)
		r.Header.Set("X-Jwt-Identity", "mallory")
		res := serve(h, r)
		if !res.next.called {
			t.Errorf("optional, Authorization %.20q: refused %d %s; want anonymous", v, res.rec.Code, res.rec.Body)
			continue
		}
		if got := res.next.header.Values("X-Jwt-Identity"); len(got) != 0 {
			t.Errorf("optional, Authorization %.20q: next saw X-Jwt-Identity %q", v, got)
		}
	}

	// optional with a cookie source: a missing cookie is no token either
	hc := newFixture(t).auth(&Auth{Optional: true, TokenLookup: TokenLookup{TokenFrom: []string{"cookie", "query"}}})
	res = serve(hc, httptest.NewRequest("POST", "/api", nil))
	if !res.next.called {
		t.Errorf("optional, cookie+query, nothing sent: refused %d %s", res.rec.Code, res.rec.Body)
	}

	// optional does not lift fresh_required or require for a present token
	hf := newFixture(t).auth(&Auth{Optional: true, FreshRequired: true})
	res = serve(hf, bearerGet(accessToken(t, nil)))
	wantRefused(t, res, 401, "Fresh token required", challengeStepUp)
	hr := newFixture(t).auth(&Auth{Optional: true, Require: []ClaimRequirement{{Claim: "role", Values: []string{"admin"}}}})
	res = serve(hr, bearerGet(accessToken(t, nil)))
	wantRefused(t, res, 403, "Insufficient claims", "")
}

// TestServeHTTPTokenFromOrder: sources are tried in the order given and the
// first token found wins; a source not listed is never read.
func TestServeHTTPTokenFromOrder(t *testing.T) {
	t.Parallel()
	headerTok := accessToken(t, map[string]any{"sub": "from-header"})
	cookieTok := accessToken(t, map[string]any{"sub": "from-cookie"})
	queryTok := accessToken(t, map[string]any{"sub": "from-query"})
	all := func() *http.Request {
		r := httptest.NewRequest("GET", "/api?jwt="+queryTok, nil)
		r.Header.Set("Authorization", "Bearer "+headerTok)
		r.Header.Set("Cookie", accessCookieName+"="+cookieTok)
		return r
	}
	tests := []struct {
		name    string
		appFrom []string
		auth    []string
		req     func() *http.Request
		want    string
	}{
		{"header cookie query", []string{"header", "cookie", "query"}, nil, all, "from-header"},
		{"cookie header query", []string{"cookie", "header", "query"}, nil, all, "from-cookie"},
		{"query cookie header", []string{"query", "cookie", "header"}, nil, all, "from-query"},
		{"handler overrides app", []string{"header"}, []string{"query"}, all, "from-query"},
		{"header missing falls through to cookie", []string{"header", "cookie"}, nil, func() *http.Request {
			r := all()
			r.Header.Del("Authorization")
			return r
		}, "from-cookie"},
		{"cookie missing falls through to query", []string{"cookie", "query"}, nil, func() *http.Request {
			r := all()
			r.Header.Del("Cookie")
			return r
		}, "from-query"},
		{"default is header only", nil, nil, all, "from-header"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newFixture(t, withApp(func(a *App) { a.TokenFrom = tc.appFrom })).auth(&Auth{TokenLookup: TokenLookup{TokenFrom: tc.auth}})
			res := serve(h, tc.req())
			if !res.next.called {
				t.Fatalf("refused: %d %s", res.rec.Code, res.rec.Body)
			}
			if got := res.next.header.Get("X-Jwt-Identity"); got != tc.want {
				t.Errorf("identity = %q, want %q", got, tc.want)
			}
		})
	}

	// a source that is not configured is never read
	t.Run("query not configured", func(t *testing.T) {
		h := newFixture(t).auth(nil)
		res := serve(h, httptest.NewRequest("GET", "/api?jwt="+queryTok, nil))
		wantRefused(t, res, 401, "Missing Authorization Header", challengeNoToken)
	})
	t.Run("cookie not configured", func(t *testing.T) {
		h := newFixture(t, withApp(func(a *App) { a.TokenFrom = []string{"query"} })).auth(nil)
		r := httptest.NewRequest("GET", "/api", nil)
		r.Header.Set("Cookie", accessCookieName+"="+cookieTok)
		res := serve(h, r)
		wantRefused(t, res, 401, `Missing "jwt" query parameter`, challengeNoToken)
	})
	// a bad token in the first source is refused, not skipped
	t.Run("bad header token does not fall through", func(t *testing.T) {
		h := newFixture(t, withApp(func(a *App) { a.TokenFrom = []string{"header", "cookie"} })).auth(nil)
		r := all()
		r.Header.Set("Authorization", "Bearer "+accessToken(t, map[string]any{"exp": fixtureT0.Unix() - 1}))
		res := serve(h, r)
		wantRefused(t, res, 401, "Token has expired", challengeBadToken)
	})
}

// TestServeHTTPMissingMessages: the refusal when no source has a token names
// every source tried, as flask-jwt-extended does.
func TestServeHTTPMissingMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		from []string
		msg  string
	}{
		{[]string{"header"}, "Missing Authorization Header"},
		{[]string{"cookie"}, `Missing cookie "access_token_cookie"`},
		{[]string{"query"}, `Missing "jwt" query parameter`},
		{[]string{"header", "cookie"}, `Missing JWT in headers or cookies (Missing Authorization Header; Missing cookie "access_token_cookie")`},
		{[]string{"cookie", "header"}, `Missing JWT in cookies or headers (Missing cookie "access_token_cookie"; Missing Authorization Header)`},
		{[]string{"header", "cookie", "query"}, `Missing JWT in headers, cookies or query_string (Missing Authorization Header; Missing cookie "access_token_cookie"; Missing "jwt" query parameter)`},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.from, "+"), func(t *testing.T) {
			h := newFixture(t, withApp(func(a *App) { a.TokenFrom = tc.from })).auth(nil)
			res := serve(h, httptest.NewRequest("GET", "/api", nil))
			wantRefused(t, res, 401, tc.msg, challengeNoToken)
			if got, _ := res.repl.GetString("http.auth.jwt.error"); got != "missing" {
				t.Errorf("{http.auth.jwt.error} = %q, want missing", got)
			}
		})
	}
	t.Run("refresh cookie", func(t *testing.T) {
		h := newFixture(t).auth(&Auth{TokenType: "refresh", TokenLookup: TokenLookup{TokenFrom: []string{"header", "cookie"}}})
		r := httptest.NewRequest("GET", "/api", nil)
		r.Header.Set("Cookie", accessCookieName+"="+accessToken(t, map[string]any{"type": "refresh"}))
		res := serve(h, r)
		wantRefused(t, res, 401, `Missing JWT in headers or cookies (Missing Authorization Header; Missing cookie "refresh_token_cookie")`, challengeNoToken)
	})
}

// TestServeHTTPPreflight: a CORS preflight passes untouched unless
// verify_preflight is set; a plain OPTIONS request is checked.
func TestServeHTTPPreflight(t *testing.T) {
	t.Parallel()
	preflight := func() *http.Request {
		r := httptest.NewRequest("OPTIONS", "/api", nil)
		r.Header.Set("Origin", "https://app.example")
		r.Header.Set("Access-Control-Request-Method", "POST")
		r.Header.Set("X-Jwt-Identity", "mallory")
		return r
	}
	h := newFixture(t).auth(nil)
	res := serve(h, preflight())
	if res.err != nil || !res.next.called || res.rec.Code != nextStatus {
		t.Fatalf("preflight not passed on: err=%v called=%v status=%d", res.err, res.next.called, res.rec.Code)
	}
	if res.rec.Header().Get("WWW-Authenticate") != "" {
		t.Errorf("preflight got a challenge")
	}
	if got := res.next.header.Get("Access-Control-Request-Method"); got != "POST" {
		t.Errorf("preflight headers changed: Access-Control-Request-Method = %q", got)
	}
	if got := res.next.header.Values("X-Jwt-Identity"); len(got) != 0 {
		t.Errorf("preflight reached next with spoofed X-Jwt-Identity %q", got)
	}
	if _, ok := res.repl.GetString("http.auth.jwt.error"); ok {
		t.Errorf("preflight set {http.auth.jwt.error}")
	}

	// a plain OPTIONS is not a preflight
	res = serve(h, httptest.NewRequest("OPTIONS", "/api", nil))
	wantRefused(t, res, 401, "Missing Authorization Header", challengeNoToken)

	hv := newFixture(t).auth(&Auth{VerifyPreflight: true})
	res = serve(hv, preflight())
	wantRefused(t, res, 401, "Missing Authorization Header", challengeNoToken)
	r := preflight()
	r.Header.Set("Authorization", "Bearer "+accessToken(t, nil))
	res = serve(hv, r)
	if !res.next.called || res.next.header.Get("X-Jwt-Identity") != "alice" {
		t.Errorf("verified preflight with a good token: called=%v identity=%q", res.next.called, res.next.header.Get("X-Jwt-Identity"))
	}
}

// TestServeHTTPHandleErrors: with handle_errors, a refusal is returned as a
// caddyhttp.HandlerError with the contract's status, nothing is written, and
// {http.auth.jwt.error} is set for the error routes.
func TestServeHTTPHandleErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		auth      *Auth
		req       func(t *testing.T) *http.Request
		status    int
		code      string
		msg       string
		challenge string
	}{
		{"missing", &Auth{HandleErrors: true},
			func(t *testing.T) *http.Request { return httptest.NewRequest("GET", "/api", nil) },
			401, "missing", "Missing Authorization Header", challengeNoToken},
		{"expired", &Auth{HandleErrors: true},
			func(t *testing.T) *http.Request {
				return bearerGet(accessToken(t, map[string]any{"exp": fixtureT0.Unix() - 5}))
			},
			401, "expired", "Token has expired", challengeBadToken},
		{"not fresh", &Auth{HandleErrors: true, FreshRequired: true},
			func(t *testing.T) *http.Request { return bearerGet(accessToken(t, nil)) },
			401, "not_fresh", "Fresh token required", challengeStepUp},
		{"forbidden", &Auth{HandleErrors: true, Require: []ClaimRequirement{{Claim: "role", Values: []string{"admin"}}}},
			func(t *testing.T) *http.Request { return bearerGet(accessToken(t, nil)) },
			403, "forbidden", "Insufficient claims", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newFixture(t).auth(tc.auth)
			res := serve(h, tc.req(t))
			if res.next.called {
				t.Fatal("next handler called on a refusal")
			}
			var he caddyhttp.HandlerError
			if !errors.As(res.err, &he) {
				t.Fatalf("err = %#v, want caddyhttp.HandlerError", res.err)
			}
			if he.StatusCode != tc.status {
				t.Errorf("HandlerError.StatusCode = %d, want %d", he.StatusCode, tc.status)
			}
			if he.Err == nil || he.Err.Error() != tc.msg {
				t.Errorf("HandlerError.Err = %v, want %q", he.Err, tc.msg)
			}
			if got, _ := res.repl.GetString("http.auth.jwt.error"); got != tc.code {
				t.Errorf("{http.auth.jwt.error} = %q, want %q", got, tc.code)
			}
			if res.rec.Body.Len() != 0 || res.rec.Code != http.StatusOK {
				t.Errorf("handle_errors mode wrote a response: %d %q", res.rec.Code, res.rec.Body)
			}
			if got := res.rec.Header().Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.challenge)
			}
		})
	}
}

// TestServeHTTPPublishesIdentity: a good token sets every X-Jwt-* header on
// the request the next handler sees, and every placeholder.
func TestServeHTTPPublishesIdentity(t *testing.T) {
	t.Parallel()
	h := newFixture(t).auth(nil)
	claims := accessClaims(map[string]any{
		"fresh": true,
		"role":  "admin",
		"roles": []string{"a", "b"},
		"level": 7,
		"org":   map[string]any{"id": "acme"},
		"name":  "Ålice <ops>",
		"exp":   float64(fixtureT0.Unix()) + 600.75,
	})
	payload := testkit.MustJSON(t, claims)
	tok := testkit.SignRaw(t, "HS256", fixtureKey, []byte(`{"alg":"HS256","typ":"JWT"}`), payload)
	res := serve(h, bearerGet(tok))
	if res.err != nil || !res.next.called {
		t.Fatalf("refused: %v %d %s", res.err, res.rec.Code, res.rec.Body)
	}
	exp := strconv.FormatInt(fixtureT0.Unix()+600, 10)
	want := map[string]string{
		"X-Jwt-Identity": "alice",
		"X-Jwt-Type":     "access",
		"X-Jwt-Fresh":    "true",
		"X-Jwt-Jti":      "jti-alice-1",
		"X-Jwt-Exp":      exp,
	}
	for name, v := range want {
		if got := res.next.header.Values(name); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want [%q]", name, got, v)
		}
	}
	cl := res.next.header.Values("X-Jwt-Claims")
	if len(cl) != 1 {
		t.Fatalf("X-Jwt-Claims = %q", cl)
	}
	if strings.ContainsAny(cl[0], "=+/") {
		t.Errorf("X-Jwt-Claims is not base64url without padding: %q", cl[0])
	}
	decoded, err := base64.RawURLEncoding.Strict().DecodeString(cl[0])
	if err != nil {
		t.Fatalf("X-Jwt-Claims does not decode: %v", err)
	}
	if string(decoded) != string(payload) {
		t.Errorf("X-Jwt-Claims decodes to %s, want the verified payload %s", decoded, payload)
	}
	var back map[string]any
	if err := json.Unmarshal(decoded, &back); err != nil || back["role"] != "admin" {
		t.Errorf("X-Jwt-Claims payload: %v %v", back, err)
	}

	placeholders := map[string]string{
		"http.auth.user.id":             "alice",
		"http.auth.jwt.type":            "access",
		"http.auth.jwt.fresh":           "true",
		"http.auth.jwt.jti":             "jti-alice-1",
		"http.auth.jwt.exp":             exp,
		"http.auth.jwt.claims.sub":      "alice",
		"http.auth.jwt.claims.role":     "admin",
		"http.auth.jwt.claims.name":     "Ålice <ops>",
		"http.auth.jwt.claims.level":    "7",
		"http.auth.jwt.claims.fresh":    "true",
		"http.auth.jwt.claims.roles":    `["a","b"]`,
		"http.auth.jwt.claims.org":      `{"id":"acme"}`,
		"http.auth.jwt.claims.type":     "access",
		"http.auth.jwt.claims.jti":      "jti-alice-1",
		"http.auth.jwt.claims.nbf":      strconv.FormatInt(fixtureT0.Unix()-60, 10),
		"http.auth.jwt.claims.notthere": "",
		"http.auth.jwt.claims_json":     string(payload),
	}
	for key, v := range placeholders {
		got, ok := res.repl.GetString(key)
		if key == "http.auth.jwt.claims.notthere" {
			if ok {
				t.Errorf("{%s} = %q, want unknown", key, got)
			}
			continue
		}
		if !ok || got != v {
			t.Errorf("{%s} = %q (known %v), want %q", key, got, ok, v)
		}
	}
	if got := res.repl.ReplaceAll("user={http.auth.user.id} role={http.auth.jwt.claims.role}", "-"); got != "user=alice role=admin" {
		t.Errorf("ReplaceAll = %q", got)
	}
	if _, ok := res.repl.GetString("http.auth.jwt.error"); ok {
		t.Errorf("{http.auth.jwt.error} set on success")
	}
}

// TestServeHTTPIdentityClaim: identity_claim other than sub names the user;
// a token without it is refused.
func TestServeHTTPIdentityClaim(t *testing.T) {
	t.Parallel()
	h := newFixture(t, withApp(func(a *App) { a.IdentityClaim = "email" })).auth(nil)
	res := serve(h, bearerGet(accessToken(t, map[string]any{"email": "alice@example.com"})))
	if !res.next.called {
		t.Fatalf("refused: %d %s", res.rec.Code, res.rec.Body)
	}
	if got := res.next.header.Get("X-Jwt-Identity"); got != "alice@example.com" {
		t.Errorf("X-Jwt-Identity = %q", got)
	}
	if got, _ := res.repl.GetString("http.auth.user.id"); got != "alice@example.com" {
		t.Errorf("{http.auth.user.id} = %q", got)
	}

	res = serve(h, bearerGet(accessToken(t, nil))) // has sub, no email
	wantRefused(t, res, 401, "Missing identity claim", challengeBadToken)

	// a numeric identity is rendered as its JSON number
	hn := newFixture(t).auth(nil)
	res = serve(hn, bearerGet(accessToken(t, map[string]any{"sub": 12345})))
	if got := res.next.header.Get("X-Jwt-Identity"); got != "12345" {
		t.Errorf("numeric sub: X-Jwt-Identity = %q", got)
	}
	for _, bad := range []any{true, map[string]any{"id": 1}, []string{"a"}} {
		res = serve(hn, bearerGet(accessToken(t, map[string]any{"sub": bad})))
		wantRefused(t, res, 401, "Identity claim must be a string or a number", challengeBadToken)
	}
}

// TestServeHTTPIssuerAudience: issuer and audience are required when
// configured; aud may be a string or an array.
func TestServeHTTPIssuerAudience(t *testing.T) {
	t.Parallel()
	h := newFixture(t, withApp(func(a *App) {
		a.Issuer = "https://auth.example"
		a.Audience = []string{"api", "web"}
	})).auth(nil)
	good := map[string]any{"iss": "https://auth.example", "aud": "web"}
	tests := []struct {
		name string
		over map[string]any
		msg  string
	}{
		{"good, aud string", good, ""},
		{"good, aud array", map[string]any{"iss": "https://auth.example", "aud": []string{"other", "api"}}, ""},
		{"iss missing", map[string]any{"aud": "api"}, `Token is missing the "iss" claim`},
		{"iss wrong", map[string]any{"iss": "https://evil.example", "aud": "api"}, "Invalid issuer"},
		{"iss not a string", map[string]any{"iss": 1, "aud": "api"}, "Invalid issuer"},
		{"aud missing", map[string]any{"iss": "https://auth.example"}, `Token is missing the "aud" claim`},
		{"aud wrong", map[string]any{"iss": "https://auth.example", "aud": "other"}, "Invalid audience"},
		{"aud array without a match", map[string]any{"iss": "https://auth.example", "aud": []string{"x", "y"}}, "Invalid audience"},
		{"aud empty array", map[string]any{"iss": "https://auth.example", "aud": []string{}}, "Invalid audience"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := serve(h, bearerGet(accessToken(t, tc.over)))
			if tc.msg == "" {
				if !res.next.called {
					t.Fatalf("refused: %d %s", res.rec.Code, res.rec.Body)
				}
				return
			}
			wantRefused(t, res, 401, tc.msg, challengeBadToken)
		})
	}

	// without configuration, iss is not checked, and a token meant for an
	// audience is refused (RFC 7519 4.1.3)
	plain := newFixture(t).auth(nil)
	res := serve(plain, bearerGet(accessToken(t, map[string]any{"iss": "anyone"})))
	if !res.next.called {
		t.Errorf("iss without issuer configured: refused %s", res.rec.Body)
	}
	res = serve(plain, bearerGet(accessToken(t, map[string]any{"aud": "api"})))
	wantRefused(t, res, 401, "Invalid audience", challengeBadToken)
}

// TestServeHTTPLeeway: exp, nbf and iat are checked against the app's clock
// with the configured leeway, and without any by default.
func TestServeHTTPLeeway(t *testing.T) {
	t.Parallel()
	now := fixtureT0.Unix()
	tests := []struct {
		name   string
		leeway time.Duration
		over   map[string]any
		msg    string
	}{
		{"expired 5s ago, no leeway", 0, map[string]any{"exp": now - 5}, "Token has expired"},
		{"expired 5s ago, leeway 10s", 10 * time.Second, map[string]any{"exp": now - 5}, ""},
		{"expired 10s ago, leeway 10s", 10 * time.Second, map[string]any{"exp": now - 10}, "Token has expired"},
		{"nbf 5s ahead, no leeway", 0, map[string]any{"nbf": now + 5}, "The token is not yet valid (nbf)"},
		{"nbf 5s ahead, leeway 10s", 10 * time.Second, map[string]any{"nbf": now + 5}, ""},
		{"nbf 15s ahead, leeway 10s", 10 * time.Second, map[string]any{"nbf": now + 15}, "The token is not yet valid (nbf)"},
		{"iat 5s ahead, no leeway", 0, map[string]any{"iat": now + 5, "nbf": nil}, "The token is not yet valid (iat)"},
		{"iat 5s ahead, leeway 10s", 10 * time.Second, map[string]any{"iat": now + 5, "nbf": nil}, ""},
		{"nbf and iat absent", 0, map[string]any{"iat": nil, "nbf": nil}, ""},
		{"nbf exactly now", 0, map[string]any{"nbf": now}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newFixture(t, withAppJSON(`{"leeway": "`+tc.leeway.String()+`"}`)).auth(nil)
			res := serve(h, bearerGet(accessToken(t, tc.over)))
			if tc.msg == "" {
				if !res.next.called {
					t.Fatalf("refused: %d %s", res.rec.Code, res.rec.Body)
				}
				return
			}
			wantRefused(t, res, 401, tc.msg, challengeBadToken)
		})
	}
}

// TestServeHTTPStripsClientHeaders: client-sent X-Jwt-* headers (any case,
// `_` for `-`, repeated lines) never reach the next handler, whether the
// request is accepted, refused or anonymous, and X-Jwt-* names are removed
// from Connection.
func TestServeHTTPStripsClientHeaders(t *testing.T) {
	t.Parallel()
	spoof := func(r *http.Request) *http.Request {
		r.Header["X-Jwt-Identity"] = []string{"mallory", "root"}
		r.Header["x-jwt-identity"] = []string{"mallory"} // non-canonical key, as a raw map write
		r.Header["X_Jwt_Identity"] = []string{"mallory"}
		r.Header["X-JWT-TYPE"] = []string{"access"}
		r.Header["X_JWT_FRESH"] = []string{"true"}
		r.Header["X-Jwt_Claims"] = []string{"e30"}
		r.Header["X-Jwt-Role"] = []string{"admin"} // not one the module sets
		r.Header["X-Jwt-"] = []string{"x"}
		r.Header.Add("Connection", "keep-alive, X-Jwt-Identity")
		r.Header.Add("Connection", "x_jwt_fresh,Upgrade")
		r.Header.Set("X-Jwtx", "kept") // not the prefix
		r.Header.Set("X-Request-Id", "kept")
		return r
	}
	check := func(t *testing.T, got http.Header, accepted bool) {
		t.Helper()
		for name, vals := range got {
			if !hasJWTPrefix(name) {
				continue
			}
			if !accepted || name != http.CanonicalHeaderKey(name) {
				t.Errorf("next handler saw client header %s: %q", name, vals)
				continue
			}
			switch name {
			case hdrIdentity, hdrType, hdrFresh, hdrJTI, hdrExp, hdrClaims:
				if len(vals) != 1 {
					t.Errorf("%s has %d values %q, want exactly the module's one", name, len(vals), vals)
				}
			default:
				t.Errorf("next handler saw client header %s: %q", name, vals)
			}
		}
		if got.Get("X-Jwtx") != "kept" || got.Get("X-Request-Id") != "kept" {
			t.Errorf("unrelated headers were removed: %v", got)
		}
		for _, line := range got.Values("Connection") {
			for _, tok := range strings.Split(line, ",") {
				if hasJWTPrefix(strings.TrimSpace(tok)) {
					t.Errorf("Connection still names %q: %q", tok, got.Values("Connection"))
				}
			}
		}
		if conn := strings.Join(got.Values("Connection"), ","); !strings.Contains(conn, "keep-alive") || !strings.Contains(conn, "Upgrade") {
			t.Errorf("other Connection tokens lost: %q", got.Values("Connection"))
		}
	}

	t.Run("accepted", func(t *testing.T) {
		h := newFixture(t).auth(nil)
		res := serve(h, spoof(bearerGet(accessToken(t, map[string]any{"sub": "alice"}))))
		if !res.next.called {
			t.Fatalf("refused: %s", res.rec.Body)
		}
		check(t, res.next.header, true)
		if got := res.next.header.Values("X-Jwt-Identity"); len(got) != 1 || got[0] != "alice" {
			t.Errorf("X-Jwt-Identity = %q, want [alice]", got)
		}
		if got := res.next.header.Get("X-Jwt-Fresh"); got != "false" {
			t.Errorf("X-Jwt-Fresh = %q, want the token's false", got)
		}
	})
	t.Run("anonymous", func(t *testing.T) {
		h := newFixture(t).auth(&Auth{Optional: true})
		res := serve(h, spoof(httptest.NewRequest("GET", "/api", nil)))
		if !res.next.called {
			t.Fatalf("refused: %s", res.rec.Body)
		}
		check(t, res.next.header, false)
	})
	t.Run("preflight", func(t *testing.T) {
		h := newFixture(t).auth(nil)
		r := spoof(httptest.NewRequest("OPTIONS", "/api", nil))
		r.Header.Set("Origin", "https://app.example")
		r.Header.Set("Access-Control-Request-Method", "GET")
		res := serve(h, r)
		if !res.next.called {
			t.Fatalf("refused: %s", res.rec.Body)
		}
		check(t, res.next.header, false)
	})
	t.Run("refused", func(t *testing.T) {
		h := newFixture(t).auth(nil)
		r := spoof(bearerGet("bad"))
		repl := serve(h, r)
		if repl.next.called {
			t.Fatal("next called")
		}
		// handle_errors routes see the request too: it must be clean
		for name := range r.Header {
			if hasJWTPrefix(name) {
				t.Errorf("refused request still carries %s", name)
			}
		}
	})
	t.Run("only X-Jwt names in Connection", func(t *testing.T) {
		h := newFixture(t).auth(nil)
		r := bearerGet(accessToken(t, nil))
		r.Header.Set("Connection", "X-Jwt-Identity, X_JWT_TYPE")
		res := serve(h, r)
		if got, ok := res.next.header["Connection"]; ok {
			t.Errorf("Connection = %q, want removed", got)
		}
	})
}

// TestServeHTTPControlCharacterClaims: a claim (value or name, at any depth)
// with a control character refuses the token, so it never reaches a header.
func TestServeHTTPControlCharacterClaims(t *testing.T) {
	t.Parallel()
	h := newFixture(t).auth(nil)
	tests := map[string]map[string]any{
		"CR in sub":           {"sub": "alice\rX-Jwt-Role: admin"},
		"LF in sub":           {"sub": "alice\nX-Jwt-Role: admin"},
		"NUL in sub":          {"sub": "alice\x00"},
		"DEL in sub":          {"sub": "alice\x7f"},
		"TAB in jti":          {"jti": "a\tb"},
		"LF in another claim": {"note": "line1\nline2"},
		"LF in array":         {"roles": []string{"ok", "x\ny"}},
		"LF in nested object": {"org": map[string]any{"name": "a\nb"}},
		"LF in a claim name":  {"bad\nname": "v"},
	}
	for name, over := range tests {
		t.Run(name, func(t *testing.T) {
			res := serve(h, bearerGet(accessToken(t, over)))
			wantRefused(t, res, 401, "Claims must not contain control characters", challengeBadToken)
		})
	}
	// invalid UTF-8 cannot be written by encoding/json; build the payload raw
	t.Run("invalid UTF-8 in sub", func(t *testing.T) {
		now := fixtureT0.Unix()
		payload := []byte(`{"sub":"al` + "\xff" + `ice","exp":` + strconv.FormatInt(now+60, 10) + `}`)
		tok := testkit.SignRaw(t, "HS256", fixtureKey, []byte(`{"alg":"HS256"}`), payload)
		res := serve(h, bearerGet(tok))
		wantRefused(t, res, 401, "Invalid payload", challengeBadToken)
	})
}

// TestServeHTTPRefusalsAreShortAndSecretFree: "other invalid token" reasons
// are short, single-line and never echo the token or key material.
func TestServeHTTPRefusalsAreShortAndSecretFree(t *testing.T) {
	t.Parallel()
	h := newFixture(t).auth(nil)
	good := accessToken(t, nil)
	parts := strings.Split(good, ".")
	bad := []string{
		"a", "a.b", "a.b.c", good + "x", parts[0] + ".." + parts[2], "...", parts[0] + "." + parts[1] + ".",
		testkit.SignRaw(t, "HS256", fixtureKey, []byte(`{"alg":"HS256"}`), []byte(`[1,2]`)),
		testkit.SignRaw(t, "HS256", fixtureKey, []byte(`{"alg":"HS256"}`), []byte(`{"sub":"a"}`)),
		testkit.SignRaw(t, "HS256", fixtureKey, []byte(`not json`), []byte(`{}`)),
		testkit.SignToken(t, "HS256", fixtureKey, map[string]any{"kid": "nope"}, accessClaims(nil)),
	}
	for _, tok := range bad {
		res := serve(h, bearerGet(tok))
		if res.next.called || res.rec.Code != 401 {
			t.Errorf("%q: status %d, called %v", tok, res.rec.Code, res.next.called)
			continue
		}
		var body map[string]string
		if err := json.Unmarshal(res.rec.Body.Bytes(), &body); err != nil || len(body) != 1 {
			t.Errorf("%q: body %s is not {\"msg\": ...}", tok, res.rec.Body)
			continue
		}
		msg := body["msg"]
		if msg == "" || len(msg) > 80 || strings.ContainsAny(msg, "\r\n\t") ||
			strings.Contains(msg, string(fixtureKey)) || (len(tok) > 8 && strings.Contains(msg, tok)) ||
			strings.Contains(strings.ToLower(msg), "goroutine") {
			t.Errorf("%q: reason %q is not short and clean", tok, msg)
		}
		if res.rec.Header().Get("WWW-Authenticate") != challengeBadToken {
			t.Errorf("%q: challenge %q", tok, res.rec.Header().Get("WWW-Authenticate"))
		}
	}
}

// TestServeHTTPWithoutReplacer: a request without a replacer in its context
// (another handler's subrequest) is still checked and published.
func TestServeHTTPWithoutReplacer(t *testing.T) {
	t.Parallel()
	h := newFixture(t).auth(nil)
	next := new(nextSaw)
	rec := httptest.NewRecorder()
	if err := h.ServeHTTP(rec, bearerGet(accessToken(t, nil)), next); err != nil || !next.called {
		t.Fatalf("err=%v called=%v", err, next.called)
	}
	if next.header.Get("X-Jwt-Identity") != "alice" {
		t.Errorf("X-Jwt-Identity = %q", next.header.Get("X-Jwt-Identity"))
	}
	rec = httptest.NewRecorder()
	next = new(nextSaw)
	_ = h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil), next)
	if next.called || rec.Code != 401 {
		t.Errorf("missing token without replacer: called=%v status=%d", next.called, rec.Code)
	}
}

// TestAuthValidate: a bad token_type, require line or token_from word is
// refused at load.
func TestAuthValidate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := f.ctx
	tests := []struct {
		name string
		auth *Auth
		want string
	}{
		{"bad token_type", &Auth{TokenType: "id"}, "token_type"},
		{"require without values", &Auth{Require: []ClaimRequirement{{Claim: "role"}}}, "require"},
		{"require without claim", &Auth{Require: []ClaimRequirement{{Values: []string{"x"}}}}, "require"},
		{"bad token_from", &Auth{TokenLookup: TokenLookup{TokenFrom: []string{"body"}}}, "token_from"},
		{"twice token_from", &Auth{TokenLookup: TokenLookup{TokenFrom: []string{"cookie", "cookie"}}}, "twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.auth.Provision(ctx)
			if err == nil {
				err = tc.auth.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one naming %q", err, tc.want)
			}
		})
	}
	ok := &Auth{TokenType: "ANY"}
	if err := ok.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ok.Validate(); err != nil {
		t.Errorf("token_type ANY: %v", err)
	}
	if !reflect.DeepEqual(*ok.auth.sources, []tokenSource{sourceHeader}) {
		t.Errorf("default sources = %v, want the app's [header]", *ok.auth.sources)
	}
}

// TestServeHTTPCachedTokenStillChecked: a token served once (and so cached
// by the app) is still checked on every request against revocation, the
// clock and freshness.
func TestServeHTTPCachedTokenStillChecked(t *testing.T) {
	t.Parallel()
	for _, size := range []int{0, 100} {
		t.Run("cache_size "+strconv.Itoa(size), func(t *testing.T) {
			size := size
			f := newFixture(t, withAppJSON(`{"cache_size": `+strconv.Itoa(size)+`}`))
			app := f.app
			h := f.auth(nil)
			hf := f.auth(&Auth{FreshRequired: true})
			tok := accessToken(t, map[string]any{"jti": "cached-1", "fresh": fixtureT0.Unix() + 30, "exp": fixtureT0.Unix() + 60})
			for i := 0; i < 2; i++ {
				if res := serve(hf, bearerGet(tok)); !res.next.called || res.next.header.Get("X-Jwt-Fresh") != "true" {
					t.Fatalf("round %d: %d %s", i, res.rec.Code, res.rec.Body)
				}
			}
			if size > 0 && (app.cache == nil || app.cache.Len() != 1) {
				t.Fatalf("the token was not cached")
			}

			app.now = func() time.Time { return fixtureT0.Add(31 * time.Second) }
			wantRefused(t, serve(hf, bearerGet(tok)), 401, "Fresh token required", challengeStepUp)
			if res := serve(h, bearerGet(tok)); !res.next.called || res.next.header.Get("X-Jwt-Fresh") != "false" {
				t.Fatalf("after fresh: %d %s, X-Jwt-Fresh %q", res.rec.Code, res.rec.Body, res.next.header.Get("X-Jwt-Fresh"))
			}

			app.now = func() time.Time { return fixtureT0.Add(60 * time.Second) }
			wantRefused(t, serve(h, bearerGet(tok)), 401, "Token has expired", challengeBadToken)

			app.now = func() time.Time { return fixtureT0 }
			tok2 := accessToken(t, map[string]any{"jti": "cached-2"})
			if res := serve(h, bearerGet(tok2)); !res.next.called {
				t.Fatalf("tok2: %d %s", res.rec.Code, res.rec.Body)
			}
			if err := f.revoke("cached-2", fixtureT0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			wantRefused(t, serve(h, bearerGet(tok2)), 401, "Token has been revoked", challengeBadToken)
		})
	}
}

// TestServeHTTPStripsDotVariants (hardening, beyond the contract's wording):
// Caddy 2.11 drops client headers with dots unless expected_dot_headers
// allowlists them, because PHP/CGI backends fold '.', '_' and '-' onto the
// same variable. Where a site allowlists them, X.Jwt.Identity passes
// jwt_auth untouched and a PHP backend reads it as HTTP_X_JWT_IDENTITY, the
// same variable as the module's X-Jwt-Identity. Reading '.' like '_' in
// hasJWTPrefix closes it.
func TestServeHTTPStripsDotVariants(t *testing.T) {
	t.Parallel()
	h := newFixture(t).auth(nil)
	r := bearerGet(accessToken(t, nil))
	r.Header["X.Jwt.Identity"] = []string{"mallory"}
	r.Header["X-Jwt.Role"] = []string{"admin"}
	res := serve(h, r)
	for name := range res.next.header {
		if name == "X.Jwt.Identity" || name == "X-Jwt.Role" {
			t.Errorf("next handler saw client header %s", name)
		}
	}
}

// TestStripJWTHeadersAllocatesNothing: the spoofing defence runs on every
// request; with nothing to strip (a Connection header of any case
// included) it must not allocate.
func TestStripJWTHeadersAllocatesNothing(t *testing.T) {
	h := http.Header{"Accept": {"*/*"}, "Authorization": {"Bearer x"}, "Connection": {"Keep-Alive, Upgrade"}}
	if n := testing.AllocsPerRun(100, func() { stripJWTHeaders(h) }); n != 0 {
		t.Fatalf("stripJWTHeaders allocated %v times per request", n)
	}
	if len(h) != 3 || h.Get("Connection") != "Keep-Alive, Upgrade" {
		t.Fatalf("headers changed: %v", h)
	}
}
