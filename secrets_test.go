package jwtextended

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// The two secrets of a rotation (flask_interop_test.go and
// secrets_integration_test.go use them too).
const (
	secretsTestNew = "secrets-test-new-secret-0123456789abcdef-01234"
	secretsTestOld = "secrets-test-old-secret-0123456789abcdef-01234"
)

// typedClaims are a token's claims of type typ at fixtureT0.
func typedClaims(typ string) map[string]any {
	return map[string]any{"sub": "alice", "type": typ, "jti": "j-" + typ, "iat": fixtureT0.Unix(), "nbf": fixtureT0.Unix(), "exp": fixtureT0.Unix() + 600, "fresh": false}
}

// TestSecretsVerifyAndMint: a token's kid picks its secret; a token
// without kid is checked against each; tokens are minted with the first
// secret and its kid; a refresh token of an earlier secret still
// refreshes (it was minted here).
func TestSecretsVerifyAndMint(t *testing.T) {
	e := newFixture(t, withApp(func(a *App) {
		a.Secret = ""
		a.Secrets = []SecretKey{{Key: secretsTestNew, KID: "k2"}, {Key: secretsTestOld, KID: "k1"}}
	}), withIssuer())
	for _, c := range []struct {
		name, secret, kid string
		want              *authError
	}{
		{"new secret, its kid", secretsTestNew, "k2", nil},
		{"old secret, its kid", secretsTestOld, "k1", nil},
		{"old secret, no kid", secretsTestOld, "", nil},
		{"new secret, no kid", secretsTestNew, "", nil},
		{"old secret, the new kid", secretsTestOld, "k2", errSignature},
		{"unknown kid", secretsTestNew, "k3", errUnknownKID},
		{"unknown secret", strings.Repeat("x", 40), "", errSignature},
	} {
		if got := e.authenticate(e.signed("HS256", []byte(c.secret), typedClaims(token.TypeAccess), kidHeader(c.kid)), token.TypeAccess); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	w := e.do(jsonPost("/login", creds("alice", fixturePassword)))
	if w.Code != 200 {
		t.Fatalf("login %d %s", w.Code, w.Body)
	}
	access := bodyJSON(t, w)["access_token"].(string)
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(access, ".")[0])
	if string(hdr) != `{"alg":"HS256","kid":"k2","typ":"JWT"}` {
		t.Errorf("minted header %s", hdr)
	}
	issuerITCheckHS256(t, secretsTestNew, access)

	// a refresh token of the earlier secret (no kid, as flask minted it)
	old := e.signed("HS256", []byte(secretsTestOld), typedClaims(token.TypeRefresh), kidHeader(""))
	w = e.do(withBearer(httptest.NewRequest(http.MethodPost, "/refresh", nil), old))
	if w.Code != 200 {
		t.Fatalf("refresh with the earlier secret's token: %d %s", w.Code, w.Body)
	}
}

// TestSecretsCaddyfile: one secret without kid is "secret" as before;
// secret lines with a kid, or several, fill "secrets", the first first.
func TestSecretsCaddyfile(t *testing.T) {
	t.Parallel()
	for text, want := range map[string]string{
		"jwt {\n\tsecret abc\n}":                       `{"secret":"abc"}`,
		"jwt {\n\tsecret abc k1\n}":                    `{"secrets":[{"key":"abc","kid":"k1"}]}`,
		"jwt {\n\tsecret abc k2\n\tsecret def k1\n}":   `{"secrets":[{"key":"abc","kid":"k2"},{"key":"def","kid":"k1"}]}`,
		"jwt {\n\tsecret {env.A}\n\tsecret {env.B}\n}": `{"secrets":[{"key":"{env.A}"},{"key":"{env.B}"}]}`,
	} {
		if got := string(caddyfileApp(t, text)); got != want {
			t.Errorf("%q adapted to %s, want %s", text, got, want)
		}
	}
	_, err := parseGlobalOption(caddyfile.NewTestDispenser("jwt {\n\tsecret a b c\n}"), nil)
	if err == nil || !strings.Contains(err.Error(), "secret takes a key and an optional key id") {
		t.Errorf("three arguments: %v", err)
	}
}

// TestSecretsPlaceholders: the key and kid of each secret take
// placeholders, resolved at load; a secret and secrets together refuse to
// load.
func TestSecretsPlaceholders(t *testing.T) {
	t.Setenv("JWTT_NEW", secretsTestNew)
	t.Setenv("JWTT_KID", "k2")
	f, err := tryFixture(t, appConfig(caddyfileApp(t, "jwt {\n\tsecret {env.JWTT_NEW} {env.JWTT_KID}\n\tsecret "+secretsTestOld+"\n}")))
	if err != nil {
		t.Fatal(err)
	}
	app := f.app
	if s, _ := app.ring.Signer(); s.KID != "k2" || string(s.Key.([]byte)) != secretsTestNew {
		t.Errorf("signer %+v", s)
	}
	_, err = tryFixture(t, withAppJSON(`{"secret": "`+secretsTestNew+`", "secrets": [{"key": "`+secretsTestOld+`"}]}`))
	if err == nil || !strings.Contains(err.Error(), "secret and secrets are both set") {
		t.Errorf("secret and secrets: %v", err)
	}
}

// TestAlgorithmVerifyOnlyApp: algorithm PS256 with only a public_key
// loads and verifies PS256 tokens of that key, and no others.
func TestAlgorithmVerifyOnlyApp(t *testing.T) {
	t.Parallel()
	ks := testkit.Keys()
	f, err := tryFixture(t, appConfig(testkit.MustJSON(t, map[string]any{"algorithm": "PS256", "public_keys": []any{map[string]any{"file": testkit.WritePKIX(t, ks["rsa"].Public()), "kid": "idp"}}})))
	if err != nil {
		t.Fatal(err)
	}
	app := f.app
	app.now = func() time.Time { return fixtureT0 }
	claims := typedClaims(token.TypeAccess)
	ps := testkit.SignToken(t, "PS256", ks["rsa"], map[string]any{"kid": "idp"}, claims)
	if _, e := verifyRaw(app, ps); e != nil {
		t.Errorf("PS256 token: %v", e)
	}
	rs := testkit.SignToken(t, "RS256", ks["rsa"], map[string]any{"kid": "idp"}, claims)
	if _, e := verifyRaw(app, rs); e == nil {
		t.Error("an RS256 token of the same key is accepted")
	}
}
