package keys

import (
	"crypto"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
)

// BenchmarkKeysVerifySignature measures the signature layer per algorithm
// (no claims, no cache): what a token costs the first time it is seen.
func BenchmarkKeysVerifySignature(b *testing.B) {
	ks := keysTestKeys()
	for _, c := range []struct {
		alg string
		key any
	}{
		{"HS256", keysTestSecret(32)}, {"RS256", ks["rsa"]}, {"PS256", ks["rsa"]},
		{"ES256", ks["p256"]}, {"ES384", ks["p384"]}, {"ES512", ks["p521"]}, {"EdDSA", ks["ed"]},
	} {
		b.Run(c.alg, func(b *testing.B) {
			method, _ := jws.Method(c.alg)
			vk := &jws.Key{Alg: c.alg, Method: method, Material: c.key}
			if signer, ok := c.key.(crypto.Signer); ok {
				vk.Material = signer.Public()
			}
			ring := keysTestRing(vk).Current()
			tok := keysTestSignWith(b, c.alg, c.key, "")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, _, _, e := jws.Verify(tok, ring); e != nil {
					b.Fatal(e)
				}
			}
		})
	}
}
