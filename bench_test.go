package jwtextended

// Benchmarks of the request path. Run them with
//
//	go test -run '^$' -bench . -benchmem
//
// CI runs each once (-benchtime=1x) so they never rot; no test asserts a
// time.

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

const benchSecret = "bench-secret-0123456789abcdef-0123456789"

func benchClaims(i int) map[string]any {
	now := time.Now().Unix()
	return map[string]any{
		"sub": "user" + strconv.Itoa(i), "type": "access", "fresh": true,
		"jti": "jti-" + strconv.Itoa(i), "iat": now, "nbf": now, "exp": now + 3600,
		"role": "admin",
	}
}

// BenchmarkVerifyHS256 compares a cache hit with a full verification.
func BenchmarkVerifyHS256(b *testing.B) {
	for _, tc := range []struct {
		name  string
		cache string
	}{{"hit", ""}, {"miss", `,"cache_size":0`}} {
		b.Run(tc.name, func(b *testing.B) {
			a := newFixture(b, appConfig([]byte(`{"secret":"`+benchSecret+`"`+tc.cache+`}`)), wallClock()).app
			tok := testkit.SignToken(b, "HS256", []byte(benchSecret), nil, benchClaims(1))
			if _, e := verifyRaw(a, tok); e != nil {
				b.Fatal(e)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, e := verifyRaw(a, tok); e != nil {
					b.Fatal(e)
				}
			}
		})
	}
}

// BenchmarkVerifyHS256Distinct verifies a new token every time: the cost
// when nothing is cached, eviction included.
func BenchmarkVerifyHS256Distinct(b *testing.B) {
	a := newFixture(b, appConfig([]byte(`{"secret":"`+benchSecret+`","cache_size":1000}`)), wallClock()).app
	toks := make([]string, 4096)
	for i := range toks {
		toks[i] = testkit.SignToken(b, "HS256", []byte(benchSecret), nil, benchClaims(i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, e := verifyRaw(a, toks[i%len(toks)]); e != nil {
			b.Fatal(e)
		}
	}
}

type benchNext struct{}

func (benchNext) ServeHTTP(w http.ResponseWriter, r *http.Request) error { return nil }

// BenchmarkServeHTTP is jwt_auth end to end: strip, extract, verify
// (cached), check revocation and freshness, publish headers and
// placeholders.
func BenchmarkServeHTTP(b *testing.B) {
	a := newFixture(b, appConfig([]byte(`{"secret":"`+benchSecret+`"}`)), wallClock()).app
	h := &Auth{FreshRequired: true, Require: []ClaimRequirement{{Claim: "role", Values: []string{"admin"}}}}
	h.app, h.auth, h.wantType = a, a.newAuthenticator(nil, nil), token.TypeAccess
	h.logger = caddy.Log()
	tok := testkit.SignToken(b, "HS256", []byte(benchSecret), nil, benchClaims(1))
	w := httptest.NewRecorder()
	var next caddyhttp.Handler = benchNext{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := &http.Request{Method: http.MethodGet, Header: http.Header{"Authorization": {"Bearer " + tok}}}
		repl := caddy.NewReplacer()
		r = r.WithContext(context.WithValue(context.Background(), caddy.ReplacerCtxKey, repl))
		if err := h.ServeHTTP(w, r, next); err != nil {
			b.Fatal(err)
		}
		if r.Header.Get(hdrIdentity) != "user1" {
			b.Fatal("identity not published")
		}
	}
}

// BenchmarkStripJWTHeaders is the cost of the spoofing defence on a
// request that carries no X-Jwt-* header (it should allocate nothing).
func BenchmarkStripJWTHeaders(b *testing.B) {
	h := http.Header{"Accept": {"*/*"}, "User-Agent": {"bench"}, "Authorization": {"Bearer x"}, "Connection": {"Keep-Alive"}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		stripJWTHeaders(h)
	}
}
