package token

import (
	"strings"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
)

// BenchmarkCheckClaims is the claims part of a miss: decoding the verified
// payload and checking every claim that does not depend on the clock.
func BenchmarkCheckClaims(b *testing.B) {
	now := time.Now().Unix()
	tok := testkit.SignToken(b, "HS256", []byte("0123456789abcdef0123456789abcdef"), nil, map[string]any{
		"sub": "user-1", "type": "access", "fresh": false, "jti": "jti-1", "iat": now, "nbf": now, "exp": now + 900, "role": "member",
	})
	payload, _ := jws.Encoding.DecodeString(strings.Split(tok, ".")[1])
	v := &Verifier{IdentityClaim: "sub"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		claims, e := decodeClaims(payload)
		if e != nil {
			b.Fatal(e)
		}
		if e := v.checkClaims(&Verified{Claims: claims}); e != nil {
			b.Fatal(e)
		}
	}
}
