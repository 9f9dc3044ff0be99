package jwtextended

// End to end: a real Caddy from a Caddyfile, reverse_proxy to a recording
// upstream. This is the only way to show the hop-by-hop case: Caddy's
// proxy drops every header named in Connection.

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// secUpstream records the headers and trailers of every request.
type secUpstream struct {
	*httptest.Server
	mu       sync.Mutex
	headers  []http.Header
	trailers []http.Header
}

func secNewUpstream(t testing.TB) *secUpstream {
	u := &secUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		u.mu.Lock()
		u.headers = append(u.headers, r.Header.Clone())
		u.trailers = append(u.trailers, r.Trailer.Clone())
		u.mu.Unlock()
		w.WriteHeader(200)
		_, _ = w.Write([]byte("upstream"))
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *secUpstream) last(t testing.TB) (http.Header, http.Header) {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.headers) == 0 {
		t.Fatal("the upstream got no request")
	}
	return u.headers[len(u.headers)-1], u.trailers[len(u.trailers)-1]
}

const secCaddyfile = `{
	admin off
	persist_config off
	auto_https off
	storage file_system %STORAGE%
	jwt {
		secret ` + secSecret + `
		access_ttl 15m
	}
}
http://127.0.0.1:%PORT% {
	bind 127.0.0.1
	jwt_auth
	reverse_proxy %UPSTREAM%
}
`

// TestSecuritySpoofingEndToEnd drives a real Caddy with raw HTTP/1.1
// requests that carry spoofed X-Jwt-* lines in every spelling, repeated,
// and named in Connection, and checks what the upstream received.
func TestSecuritySpoofingEndToEnd(t *testing.T) {
	up := secNewUpstream(t)
	addr := secStartCaddyfile(t, strings.ReplaceAll(secCaddyfile, "%UPSTREAM%", up.Listener.Addr().String()))
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
		hdr, _ := up.last(t)
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
		hdr, _ := up.last(t)
		secCheckUpstreamJWTHeaders(t, hdr, want)
	})
	t.Run("no_token_refused_before_upstream", func(t *testing.T) {
		before := len(up.headers)
		resp, body := secRawRequest(t, addr, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"+spoofLines+"Connection: close\r\n\r\n")
		if resp.StatusCode != 401 || !strings.Contains(body, "Missing Authorization Header") {
			t.Fatalf("got %d %q, want 401 Missing Authorization Header", resp.StatusCode, body)
		}
		up.mu.Lock()
		after := len(up.headers)
		up.mu.Unlock()
		if after != before {
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
		hdr, tr := up.last(t)
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
