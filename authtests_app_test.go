package jwtextended

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// TestAppProvision: the jwt app's defaults, placeholder resolution and
// every refusal at load, each naming the setting and never the secret.
func TestAppProvision(t *testing.T) {
	t.Setenv("AUTHTESTS_SECRET", string(authtestsSecret))
	t.Setenv("AUTHTESTS_ISSUER", "https://iss.example")
	t.Setenv("AUTHTESTS_EMPTY", "")

	t.Run("defaults", func(t *testing.T) {
		_, app := authtestsApp(t, nil)
		if app.accessTTL() != 15*time.Minute || app.refreshTTL() != 720*time.Hour {
			t.Errorf("ttls = %v, %v; want 15m, 720h", app.accessTTL(), app.refreshTTL())
		}
		if app.IdentityClaim != "sub" || !reflect.DeepEqual(app.TokenFrom, []string{"header"}) ||
			!reflect.DeepEqual(app.sources, []tokenSource{sourceHeader}) {
			t.Errorf("identity_claim %q, token_from %v (%v)", app.IdentityClaim, app.TokenFrom, app.sources)
		}
		if app.Leeway != 0 || app.FreshFor != 0 {
			t.Errorf("leeway %v, fresh_for %v; want 0", app.Leeway, app.FreshFor)
		}
		if app.ring.Local()[0] == nil || app.ring.Local()[0].Alg != "HS256" {
			t.Errorf("signer = %+v, want HS256", app.ring.Local()[0])
		}
	})

	t.Run("placeholders", func(t *testing.T) {
		_, app := authtestsApp(t, func(a *App) {
			a.Secret = "{env.AUTHTESTS_SECRET}"
			a.Issuer = "{env.AUTHTESTS_ISSUER}"
			a.Audience = []string{"aud-{env.AUTHTESTS_ISSUER}"}
			a.Algorithm = "hs256"
		})
		if app.Secret != string(authtestsSecret) || app.Issuer != "https://iss.example" || app.Audience[0] != "aud-https://iss.example" {
			t.Errorf("placeholders not resolved: issuer %q audience %q", app.Issuer, app.Audience)
		}
		if app.Algorithm != "HS256" {
			t.Errorf("algorithm = %q, want HS256", app.Algorithm)
		}
		if _, e := app.verify(authtestsToken(t, map[string]any{"iss": "https://iss.example", "aud": "aud-https://iss.example"})); e != nil {
			t.Errorf("token with the resolved secret refused: %v", e)
		}
	})

	long := func(n int) string { return strings.Repeat("s", n) }
	tests := []struct {
		name   string
		app    App
		want   []string
		secret string // must not appear in the error
	}{
		{"short HS256 secret", App{Secret: long(31)}, []string{"secret is 31 bytes", "HS256 needs at least 32", "caddy jwt genkey"}, long(31)},
		{"short HS384 secret", App{Secret: long(47), Algorithm: "HS384"}, []string{"secret is 47 bytes", "HS384 needs at least 48"}, long(47)},
		{"short HS512 secret", App{Secret: long(63), Algorithm: "HS512"}, []string{"secret is 63 bytes", "HS512 needs at least 64"}, long(63)},
		{"secret with a private key", App{Secret: long(32), PrivateKey: &KeyFile{File: "/nonexistent/key.pem"}}, []string{"secret", "private_key"}, long(32)},
		{"unknown algorithm", App{Secret: long(64), Algorithm: "HS257"}, []string{`algorithm "HS257" is not supported`, "HS256"}, long(64)},
		{"unset env placeholder", App{Secret: "{env.AUTHTESTS_UNSET_VAR}"}, []string{"secret"}, ""},
		{"empty env placeholder", App{Secret: "{env.AUTHTESTS_EMPTY}"}, []string{"secret"}, ""},
		{"missing file placeholder", App{Secret: "{file./nonexistent/authtests/secret}"}, []string{"secret"}, ""},
		{"negative leeway", App{Secret: long(32), Leeway: caddy.Duration(-time.Second)}, []string{"leeway must not be negative"}, long(32)},
		{"negative access_ttl", App{Secret: long(32), AccessTTL: caddy.Duration(-time.Second)}, []string{"access_ttl must not be negative"}, long(32)},
		{"negative refresh_ttl", App{Secret: long(32), RefreshTTL: caddy.Duration(-time.Second)}, []string{"refresh_ttl must not be negative"}, long(32)},
		{"negative fresh_for", App{Secret: long(32), FreshFor: caddy.Duration(-time.Second)}, []string{"fresh_for must not be negative"}, long(32)},
		{"bad token_from", App{Secret: long(32), TokenFrom: []string{"header", "body"}}, []string{"token_from", `"body"`}, long(32)},
		{"duplicate token_from", App{Secret: long(32), TokenFrom: []string{"query", "query"}}, []string{"token_from", "twice"}, long(32)},
		{"negative cache_size", App{Secret: long(32), CacheSize: authtestsIntPtr(-1)}, []string{"cache_size must be 0 (off) or more"}, long(32)},
		{"jwks_url not http", App{Secret: long(32), JWKSURLs: []string{"ftp://x"}}, []string{"jwks_url", "http"}, long(32)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			app := tc.app
			_, _, err := authtestsProvision(t, &app)
			if err == nil {
				t.Fatal("provisioned; want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
				t.Errorf("error echoes the secret: %q", err)
			}
		})
	}

	t.Run("minimum lengths accepted", func(t *testing.T) {
		for alg, n := range map[string]int{"HS256": 32, "HS384": 48, "HS512": 64} {
			app := &App{Secret: long(n), Algorithm: alg}
			if _, _, err := authtestsProvision(t, app); err != nil {
				t.Errorf("%s with %d bytes: %v", alg, n, err)
			}
		}
	})
}
