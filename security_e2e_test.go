package jwtextended

// End to end: a real Caddy from a Caddyfile, reverse_proxy to a recording
// upstream. This is the only way to show the hop-by-hop case: Caddy's
// proxy drops every header named in Connection.

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

const secCaddyfile = `{
	auto_https off
	jwt {
		secret ` + secSecret + `
		access_ttl 15m
	}
}
http://127.0.0.1 {
	bind 127.0.0.1
	jwt_auth
	reverse_proxy %UPSTREAM%
}
`

// TestSecuritySpoofingEndToEnd drives a real Caddy with raw HTTP/1.1
// requests that carry spoofed X-Jwt-* lines in every spelling, repeated,
// and named in Connection, and checks what the upstream received.
func TestSecuritySpoofingEndToEnd(t *testing.T) {
	up := newUpstream(t)
	addr := startCaddy(t, strings.ReplaceAll(secCaddyfile, "%UPSTREAM%", up.addr()), ownStorage()).Addr
	// The real clock: this token is valid now.
	now := time.Now().Unix()
	claims := map[string]any{"sub": "alice", "type": "access", "fresh": true, "jti": "jti-e2e", "iat": now, "nbf": now, "exp": now + 600}
	tok := signToken(t, "HS256", []byte(secSecret), nil, claims)
	want := map[string]string{
		hdrIdentity: "alice", hdrType: "access", hdrFresh: "true", hdrJTI: "jti-e2e",
		hdrExp: strconv.FormatInt(now+600, 10), hdrClaims: strings.Split(tok, ".")[1],
	}
	spoofLines := "X-Jwt-Identity: admin\r\n" +
		"X-Jwt-Identity: root\r\n" +
		"x-jwt-identity: admin-lower\r\n" +
		"X_Jwt_Identity: admin-underscore\r\n" +
		"x_jwt_identity: admin-underscore-lower\r\n" +
		"X-JWT_IDENTITY: admin-mixed\r\n" +
		"X.Jwt.Identity: admin-dotted\r\n" +
		"X-Jwt-Claims: " + b64url([]byte(`{"sub":"admin"}`)) + "\r\n" +
		"X-Jwt-Role: admin\r\n"

	t.Run("spelling_variants_and_repeats", func(t *testing.T) {
		resp, body := secRawRequest(t, addr, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "+tok+"\r\n"+spoofLines+"Connection: close\r\n\r\n")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
		hdr := up.lastRequest(t).header
		secCheckUpstreamJWTHeaders(t, hdr, want)
	})
	t.Run("connection_names_identity", func(t *testing.T) {
		// Without the defence Caddy's proxy treats X-Jwt-Identity as
		// hop-by-hop and drops the header the module set: an upstream
		// that reads a missing identity as "anonymous" or falls back to
		// another source would be fooled.
		resp, body := secRawRequest(t, addr, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "+tok+"\r\n"+
			"Connection: X-Jwt-Identity, X-Jwt-Fresh\r\nConnection: x_jwt_claims\r\nConnection: close\r\n\r\n")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
		hdr := up.lastRequest(t).header
		secCheckUpstreamJWTHeaders(t, hdr, want)
	})
	t.Run("no_token_refused_before_upstream", func(t *testing.T) {
		before := up.count()
		resp, body := secRawRequest(t, addr, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"+spoofLines+"Connection: close\r\n\r\n")
		if resp.StatusCode != 401 || !strings.Contains(body, "Missing Authorization Header") {
			t.Fatalf("got %d %q, want 401 Missing Authorization Header", resp.StatusCode, body)
		}
		if up.count() != before {
			t.Fatal("a refused request reached the upstream")
		}
	})
	t.Run("trailers", func(t *testing.T) {
		// Caddy forwards request trailers. An upstream that merges
		// trailers into headers would read these as identity claims.
		body := "chunk"
		raw := "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + tok + "\r\n" +
			"Transfer-Encoding: chunked\r\nTrailer: X-Jwt-Identity, X_Jwt_Fresh, X-Other\r\nConnection: close\r\n\r\n" +
			strconv.FormatInt(int64(len(body)), 16) + "\r\n" + body + "\r\n0\r\n" +
			"X-Jwt-Identity: admin\r\nX_Jwt_Fresh: true\r\nX-Jwt-Claims: e30\r\nX-Other: kept\r\n\r\n"
		resp, rb := secRawRequest(t, addr, raw)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d body %q", resp.StatusCode, rb)
		}
		last := up.lastRequest(t)
		hdr, tr := last.header, last.trailer
		secCheckUpstreamJWTHeaders(t, hdr, want)
		for name, vals := range tr {
			if n := strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(name)); strings.HasPrefix(n, "x-jwt-") {
				t.Errorf("upstream got trailer %s: %q", name, vals)
			}
		}
		if tr.Get("X-Other") != "kept" {
			t.Errorf("the control trailer X-Other did not reach the upstream (got %v): this test no longer shows anything", tr)
		}
	})
}
