package jwtextended

// jwt_auth: header and cookie tokens and CSRF, spoofed X-Jwt-* headers,
// the verified-token cache, and what is logged.

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestSecurityAuthorizationHeader: several Authorization headers, two
// tokens on one line, other schemes and no scheme. (These were
// TestSecurityAttacks's until it was split by unit.)
func TestSecurityAuthorizationHeader(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, appConfig([]byte(`{"secret":"`+secSecret+`"}`)), withUpstream(http.StatusOK, "upstream"))
	valid := fx.token(secClaims(nil))

	var cases []secCase
	add := func(c ...secCase) { cases = append(cases, c...) }

	add(secCase{name: "control/valid_hs256", req: secBearer(valid), status: 200, identity: "alice"})

	// Several Authorization headers, and odd ones.
	add(secCase{name: "authorization/two_headers_same_token", req: secRequest("GET", "/", "Authorization", "Bearer "+valid, "Authorization", "Bearer "+valid), status: 401, msg: "Only one Authorization header is allowed"})
	add(secCase{name: "authorization/two_headers_valid_then_forged", req: secRequest("GET", "/", "Authorization", "Bearer "+valid, "Authorization", "Bearer "+fx.signed("HS256", []byte(secOtherSecret), secClaims(map[string]any{"sub": "admin"}))), status: 401, msg: "Only one Authorization header is allowed"})
	add(secCase{name: "authorization/two_tokens_one_line", req: secRequest("GET", "/", "Authorization", "Bearer "+valid+", Bearer "+valid), status: 401, msg: "Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'"})
	add(secCase{name: "authorization/basic_scheme", req: secRequest("GET", "/", "Authorization", "Basic YWxpY2U6cHc="), status: 401, msg: "Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'"})
	add(secCase{name: "authorization/token_without_scheme", req: secRequest("GET", "/", "Authorization", valid), status: 401, msg: "Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'"})
	add(secCase{name: "authorization/empty", req: secRequest("GET", "/", "Authorization", ""), status: 401, msg: "Missing Authorization Header"})
	add(secCase{name: "authorization/missing", req: secRequest("GET", "/"), status: 401, msg: "Missing Authorization Header"})
	add(secCase{name: "control/lowercase_bearer", req: secRequest("GET", "/", "Authorization", "bearer "+valid), status: 200, identity: "alice"})

	secRun(t, fx, cases)
}

// TestSecurityHeaderCookieCSRF: which token wins when a header and a
// cookie both carry one, and that the CSRF double submit check cannot be
// bypassed by adding a header of another kind.
func TestSecurityHeaderCookieCSRF(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, appConfig([]byte(`{"secret":"`+secSecret+`","token_from":["header","cookie"]}`)), withUpstream(http.StatusOK, "upstream"))
	alice := fx.token(secClaims(map[string]any{"csrf": "csrf-alice"}))
	mallory := fx.token(secClaims(map[string]any{"sub": "mallory", "jti": "jti-mallory", "csrf": "csrf-mallory"}))
	noCSRF := fx.token(secClaims(map[string]any{"sub": "carol", "jti": "jti-carol"}))
	cookie := func(tok string) string { return accessCookieName + "=" + tok }
	var cases []secCase
	add := func(c secCase) { cases = append(cases, c) }

	// The header wins; a header token needs no CSRF header.
	add(secCase{name: "header_and_cookie/get_header_wins", req: secRequest("GET", "/", "Authorization", "Bearer "+alice, "Cookie", cookie(mallory)), status: 200, identity: "alice"})
	add(secCase{name: "header_and_cookie/post_header_wins_no_csrf_needed", req: secRequest("POST", "/", "Authorization", "Bearer "+alice, "Cookie", cookie(mallory)), status: 200, identity: "alice"})
	add(secCase{name: "header_and_cookie/forged_header_does_not_fall_back_to_cookie", req: secRequest("GET", "/", "Authorization", "Bearer "+fx.signed("HS256", []byte(secOtherSecret), secClaims(nil)), "Cookie", cookie(mallory)), status: 401, msg: "Signature verification failed"})
	add(secCase{name: "control/cookie_get_needs_no_csrf", req: secRequest("GET", "/", "Cookie", cookie(mallory)), status: 200, identity: "mallory"})

	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		add(secCase{name: "csrf/" + m + "/missing", req: secRequest(m, "/", "Cookie", cookie(alice)), status: 401, msg: "Missing CSRF token"})
		add(secCase{name: "csrf/" + m + "/wrong", req: secRequest(m, "/", "Cookie", cookie(alice), "X-Csrf-Token", "guess"), status: 401, msg: "CSRF double submit tokens do not match"})
		add(secCase{name: "csrf/" + m + "/from_another_token", req: secRequest(m, "/", "Cookie", cookie(alice), "X-Csrf-Token", "csrf-mallory"), status: 401, msg: "CSRF double submit tokens do not match"})
		add(secCase{name: "control/csrf_" + m + "_matching", req: secRequest(m, "/", "Cookie", cookie(alice), "X-Csrf-Token", "csrf-alice"), status: 200, identity: "alice"})
	}
	// Issue 12, finding 4: CSRF is decided by the safe methods, exactly as
	// spelled; any other method (a lower-case one, which Flask routes as
	// POST, or an extension method) needs the double submit.
	for _, m := range []string{"post", "Post", "put", "patch", "delete", "PROPFIND", "FOO"} {
		add(secCase{name: "csrf/method_" + m + "/missing", req: secRequest(m, "/", "Cookie", cookie(alice)), status: 401, msg: "Missing CSRF token"})
	}
	for _, m := range []string{"GET", "HEAD", "OPTIONS", "TRACE"} {
		add(secCase{name: "control/csrf_safe_method_" + m, req: secRequest(m, "/", "Cookie", cookie(alice)), status: 200, identity: "alice"})
	}
	add(secCase{name: "csrf/prefix_of_claim", req: secRequest("POST", "/", "Cookie", cookie(alice), "X-Csrf-Token", "csrf-ali"), status: 401, msg: "CSRF double submit tokens do not match"})
	add(secCase{name: "csrf/empty_header", req: secRequest("POST", "/", "Cookie", cookie(alice), "X-Csrf-Token", ""), status: 401, msg: "Missing CSRF token"})
	add(secCase{name: "csrf/token_without_csrf_claim", req: secRequest("POST", "/", "Cookie", cookie(noCSRF), "X-Csrf-Token", ""+"anything"), status: 401, msg: "Missing claim: csrf"})
	// CSRF can't be bypassed by adding an Authorization header the
	// attacker can make a browser send (none, or another scheme): the
	// cookie is still the token, and still needs the double submit.
	add(secCase{name: "csrf/bypass_with_basic_authorization", req: secRequest("POST", "/", "Authorization", "Basic YTpi", "Cookie", cookie(alice)), status: 401, msg: "Missing CSRF token"})
	add(secCase{name: "csrf/bypass_with_empty_bearer", req: secRequest("POST", "/", "Authorization", "Bearer ", "Cookie", cookie(alice)), status: 401, msg: "Missing CSRF token"})
	add(secCase{name: "csrf/csrf_cookie_is_not_the_header", req: secRequest("POST", "/", "Cookie", cookie(alice)+"; "+accessCSRFCookie+"=csrf-alice"), status: 401, msg: "Missing CSRF token"})
	add(secCase{name: "csrf/duplicate_cookie_first_wins", req: secRequest("POST", "/", "Cookie", cookie(alice)+"; "+cookie(mallory), "X-Csrf-Token", "csrf-mallory"), status: 401, msg: "CSRF double submit tokens do not match"})
	secRun(t, fx, cases)
}

// TestSecuritySpoofedJWTHeaders: a client's own X-Jwt-* headers never
// reach the upstream, in any spelling, repeated or named in Connection.
func TestSecuritySpoofedJWTHeaders(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, appConfig([]byte(`{"secret":"`+secSecret+`"}`)), withUpstream(http.StatusOK, "upstream"))
	tok := fx.token(secClaims(nil))
	claimsB64 := strings.Split(tok, ".")[1]
	want := map[string]string{
		hdrIdentity: "alice", hdrType: "access", hdrFresh: "true", hdrJTI: "jti-alice",
		hdrExp: strconv.FormatInt(secNow.Unix()+900, 10), hdrClaims: claimsB64,
	}
	spoof := []string{
		"X-Jwt-Identity", "admin",
		"X-Jwt-Identity", "root",
		"x-jwt-identity", "admin-lower",
		"X-JWT-IDENTITY", "admin-upper",
		"X_Jwt_Identity", "admin-underscore",
		"x_jwt_identity", "admin-underscore-lower",
		"X-Jwt_Identity", "admin-mixed",
		"X.Jwt.Identity", "admin-dotted",
		"x.jwt_identity", "admin-dotted-mixed",
		"X-Jwt-Fresh", "true",
		"X-Jwt-Claims", testkit.B64URL([]byte(`{"sub":"admin","role":"admin"}`)),
		"X-Jwt-Role", "admin",
		"X_JWT_ROLE", "admin",
		"Connection", "keep-alive, X-Jwt-Identity",
		"Connection", "X_Jwt_Fresh",
	}
	h := fx.auth(Auth{})
	t.Run("valid_token", func(t *testing.T) {
		r := secRequest("GET", "/", append([]string{"Authorization", "Bearer " + tok}, spoof...)...)
		res := secResultOf(t, fx.serve(h, r))
		if res.status != 200 {
			t.Fatalf("status %d %q", res.status, res.msg)
		}
		secCheckUpstreamJWTHeaders(t, res.upstream, want)
		if got := res.upstream.Values("Connection"); len(got) != 1 || got[0] != "keep-alive" {
			t.Errorf("Connection = %q, want [keep-alive]", got)
		}
	})
	t.Run("optional_no_token", func(t *testing.T) {
		res := secResultOf(t, fx.serve(fx.auth(Auth{Optional: true}), secRequest("GET", "/", spoof...)))
		if res.status != 200 {
			t.Fatalf("status %d %q", res.status, res.msg)
		}
		secCheckUpstreamJWTHeaders(t, res.upstream, map[string]string{})
	})
	t.Run("optional_other_scheme", func(t *testing.T) {
		res := secResultOf(t, fx.serve(fx.auth(Auth{Optional: true}), secRequest("GET", "/", append([]string{"Authorization", "Basic YTpi"}, spoof...)...)))
		if res.status != 200 {
			t.Fatalf("status %d %q", res.status, res.msg)
		}
		secCheckUpstreamJWTHeaders(t, res.upstream, map[string]string{})
	})
	t.Run("cors_preflight", func(t *testing.T) {
		r := secRequest("OPTIONS", "/", append([]string{"Access-Control-Request-Method", "POST", "Origin", "https://app.example"}, spoof...)...)
		res := secResultOf(t, fx.serve(h, r))
		if res.status != 200 {
			t.Fatalf("status %d %q", res.status, res.msg)
		}
		secCheckUpstreamJWTHeaders(t, res.upstream, map[string]string{})
	})
}

// TestSecurityCacheDoesNotBypassChecks: a token verified once (and so
// cached) is still checked against the clock, revocation, freshness and
// the route's type on every request.
func TestSecurityCacheDoesNotBypassChecks(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, appConfig([]byte(`{"secret":"`+secSecret+`"}`)), withUpstream(http.StatusOK, "upstream"))
	a := fx.app
	tok := fx.token(secClaims(map[string]any{"fresh": secNow.Unix() + 10, "jti": "jti-cached"}))
	h := fx.auth(Auth{})
	fresh := fx.auth(Auth{FreshRequired: true})
	refresh := fx.auth(Auth{TokenType: "refresh"})
	step := func(name string, h *Auth, status int, msg string) {
		t.Run(name, func(t *testing.T) {
			res := secResultOf(t, fx.serve(h, secBearer(tok)))
			if res.status != status || (status != 200 && res.msg != msg) {
				t.Fatalf("got %d %q, want %d %q", res.status, res.msg, status, msg)
			}
		})
	}
	step("first_use", h, 200, "")
	step("fresh_now", fresh, 200, "")
	step("wrong_type_even_if_cached", refresh, 401, "Only refresh tokens are allowed")
	a.now = func() time.Time { return secNow.Add(11 * time.Second) }
	step("fresh_window_passed", fresh, 401, "Fresh token required")
	if err := fx.revoke("jti-cached", secNow.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	step("revoked_after_cached", h, 401, "Token has been revoked")
	a.now = func() time.Time { return secNow.Add(901 * time.Second) }
	step("expired_after_cached", h, 401, "Token has expired")
}

// TestSecurityCacheBounded: distinct valid tokens beyond the cache bound
// never grow the cache past it.
func TestSecurityCacheBounded(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, appConfig([]byte(`{"secret":"`+secSecret+`","cache_size":64}`)), withUpstream(http.StatusOK, "upstream"))
	a := fx.app
	for i := 0; i < 1000; i++ {
		if _, e := verifyRaw(a, fx.token(secClaims(map[string]any{"jti": "j" + strconv.Itoa(i)}))); e != nil {
			t.Fatal(e)
		}
	}
	// the bound is per shard, rounded up
	limit := a.cache.Bound()
	if limit < 64 || limit > 64+16 {
		t.Fatalf("cache bound %d for cache_size 64", limit)
	}
	if n := a.cache.Len(); n > limit || n == 0 {
		t.Fatalf("cache holds %d tokens after 1000 distinct ones, want 1..%d", n, limit)
	}
}

// TestSecurityNoTokenInLogs: a refused request's debug log line never
// carries the token, even when it came in the query string.
func TestSecurityNoTokenInLogs(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, appConfig([]byte(`{"secret":"`+secSecret+`","token_from":["query"]}`)), withUpstream(http.StatusOK, "upstream"))
	core, logs := observer.New(zapcore.DebugLevel)
	h := fx.auth(Auth{})
	h.logger = zap.New(core)
	expired := fx.token(secClaims(map[string]any{"exp": secNow.Unix() - 1}))
	sig := expired[strings.LastIndexByte(expired, '.')+1:]
	res := secResultOf(t, fx.serve(h, secRequest("GET", "/api?jwt="+expired+"&x=1")))
	if res.status != 401 || res.msg != "Token has expired" {
		t.Fatalf("got %d %q", res.status, res.msg)
	}
	if logs.Len() == 0 {
		t.Fatal("no debug line for the refusal")
	}
	for _, e := range logs.All() {
		for k, v := range e.ContextMap() {
			if s := fmt.Sprint(v); strings.Contains(s, sig) {
				t.Errorf("log field %s carries the token: %q", k, s)
			}
		}
	}
}
