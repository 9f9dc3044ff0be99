package jwtextended

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
)

// TestSecretsIntegration runs secret rotation through a real Caddy: tokens
// of both secrets pass jwt_auth (by kid, or without one), login mints with
// the first secret's kid; then a verify-only gateway, `algorithm PS256`
// with only a public_key, accepts PS256 tokens of that key.
func TestSecretsIntegration(t *testing.T) {
	hash := testkit.BcryptHash(t, "pw-alice")
	site := fmt.Sprintf(`
http://localhost {
	jwt_issue {
		login /auth/login
		user alice %s
	}
	handle /api/* {
		jwt_auth
		respond "hello {http.auth.user.id}"
	}
}
`, hash)
	c := startCaddy(t, caddyGlobals(fmt.Sprintf(`	auto_https off
	jwt {
		secret "%s" k2
		secret "%s" k1
	}
`, secretsTestNew, secretsTestOld))+site).Client
	now := time.Now().Unix()
	claims := map[string]any{"sub": "alice", "type": token.TypeAccess, "jti": "j1", "iat": now, "nbf": now, "exp": now + 600, "fresh": false}
	for name, tok := range map[string]string{
		"old secret, kid k1": testkit.SignToken(t, "HS256", []byte(secretsTestOld), map[string]any{"kid": "k1"}, claims),
		"old secret, no kid": testkit.SignToken(t, "HS256", []byte(secretsTestOld), nil, claims),
		"new secret, kid k2": testkit.SignToken(t, "HS256", []byte(secretsTestNew), map[string]any{"kid": "k2"}, claims),
	} {
		st, _, body := issuerITDo(t, c, "GET", "/api/me", map[string]string{"Authorization": "Bearer " + tok}, "")
		if st != 200 || body != "hello alice" {
			t.Errorf("%s: %d %q", name, st, body)
		}
	}
	st, _, body := issuerITDo(t, c, "GET", "/api/me", map[string]string{"Authorization": "Bearer " + testkit.SignToken(t, "HS256", []byte(secretsTestOld), map[string]any{"kid": "k2"}, claims)}, "")
	issuerITWant(t, "old secret under the new kid", st, body, 401, "")
	st, _, body = issuerITDo(t, c, "POST", "/auth/login", map[string]string{"Content-Type": "application/json"}, `{"username":"alice","password":"pw-alice"}`)
	issuerITWant(t, "login", st, body, 200, "")
	access := issuerITJSON(t, body)["access_token"].(string)
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(access, ".")[0])
	if !strings.Contains(string(hdr), `"kid":"k2"`) {
		t.Errorf("minted header %s", hdr)
	}
	issuerITCheckHS256(t, secretsTestNew, access)

	ks := testkit.Keys()
	pub := testkit.WritePKIX(t, ks["rsa"].Public())
	c = startCaddy(t, caddyGlobals(fmt.Sprintf(`	auto_https off
	jwt {
		algorithm PS256
		public_key %s idp
	}
`, pub))+`
http://localhost {
	jwt_auth
	respond "hello {http.auth.user.id}"
}
`).Client
	st, _, body = issuerITDo(t, c, "GET", "/", map[string]string{"Authorization": "Bearer " + testkit.SignToken(t, "PS256", ks["rsa"], map[string]any{"kid": "idp"}, claims)}, "")
	if st != 200 || body != "hello alice" {
		t.Errorf("PS256 token at the verify-only gateway: %d %q", st, body)
	}
	st, _, body = issuerITDo(t, c, "GET", "/", map[string]string{"Authorization": "Bearer " + testkit.SignToken(t, "RS256", ks["rsa"], map[string]any{"kid": "idp"}, claims)}, "")
	issuerITWant(t, "RS256 token at the PS256 gateway", st, body, 401, "")
}
