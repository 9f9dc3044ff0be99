package jwtextended

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestAppProvision: the jwt app's defaults, placeholder resolution and
// every refusal at load, each naming the setting and never the secret.
func TestAppProvision(t *testing.T) {
	t.Setenv("AUTHTESTS_SECRET", string(fixtureKey))
	t.Setenv("AUTHTESTS_ISSUER", "https://iss.example")
	t.Setenv("AUTHTESTS_EMPTY", "")

	t.Run("defaults", func(t *testing.T) {
		f := newFixture(t)
		app := f.app
		if app.resolved.accessTTL != 15*time.Minute || app.resolved.refreshTTL != 720*time.Hour {
			t.Errorf("ttls = %v, %v; want 15m, 720h", app.resolved.accessTTL, app.resolved.refreshTTL)
		}
		if app.IdentityClaim != "sub" || !reflect.DeepEqual(app.TokenFrom, []string{"header"}) ||
			!reflect.DeepEqual(app.sources, []tokenSource{sourceHeader}) {
			t.Errorf("identity_claim %q, token_from %v (%v)", app.IdentityClaim, app.TokenFrom, app.sources)
		}
		if app.resolved.leeway != 0 || app.resolved.freshFor != 0 {
			t.Errorf("leeway %v, fresh_for %v; want 0", app.Leeway, app.FreshFor)
		}
		if app.ring.Local()[0] == nil || app.ring.Local()[0].Alg != "HS256" {
			t.Errorf("signer = %+v, want HS256", app.ring.Local()[0])
		}
	})

	t.Run("placeholders", func(t *testing.T) {
		f := newFixture(t, withApp(func(a *App) {
			a.Secret = "{env.AUTHTESTS_SECRET}"
			a.Issuer = "{env.AUTHTESTS_ISSUER}"
			a.Audience = []string{"aud-{env.AUTHTESTS_ISSUER}"}
			a.Algorithm = "hs256"
		}))
		app := f.app
		if app.Secret != string(fixtureKey) || app.Issuer != "https://iss.example" || app.Audience[0] != "aud-https://iss.example" {
			t.Errorf("placeholders not resolved: issuer %q audience %q", app.Issuer, app.Audience)
		}
		if app.Algorithm != "HS256" {
			t.Errorf("algorithm = %q, want HS256", app.Algorithm)
		}
		if _, e := verifyRaw(app, accessToken(t, map[string]any{"iss": "https://iss.example", "aud": "aud-https://iss.example"})); e != nil {
			t.Errorf("token with the resolved secret refused: %v", e)
		}
	})

	long := func(n int) string { return strings.Repeat("s", n) }
	tests := []struct {
		name   string
		app    string // the whole app config, JSON
		want   []string
		secret string // must not appear in the error
	}{
		{"short HS256 secret", `{"secret": "` + long(31) + `"}`, []string{"secret is 31 bytes", "HS256 needs at least 32", "caddy jwt genkey"}, long(31)},
		{"short HS384 secret", `{"secret": "` + long(47) + `", "algorithm": "HS384"}`, []string{"secret is 47 bytes", "HS384 needs at least 48"}, long(47)},
		{"short HS512 secret", `{"secret": "` + long(63) + `", "algorithm": "HS512"}`, []string{"secret is 63 bytes", "HS512 needs at least 64"}, long(63)},
		{"secret with a private key", `{"secret": "` + long(32) + `", "private_key": {"file": "/nonexistent/key.pem"}}`, []string{"secret", "private_key"}, long(32)},
		{"unknown algorithm", `{"secret": "` + long(64) + `", "algorithm": "HS257"}`, []string{`algorithm "HS257" is not supported`, "HS256"}, long(64)},
		{"unset env placeholder", `{"secret": "{env.AUTHTESTS_UNSET_VAR}"}`, []string{"secret"}, ""},
		{"empty env placeholder", `{"secret": "{env.AUTHTESTS_EMPTY}"}`, []string{"secret"}, ""},
		{"missing file placeholder", `{"secret": "{file./nonexistent/authtests/secret}"}`, []string{"secret"}, ""},
		{"negative leeway", `{"secret": "` + long(32) + `", "leeway": "-1s"}`, []string{"leeway must not be negative"}, long(32)},
		{"negative access_ttl", `{"secret": "` + long(32) + `", "access_ttl": "-1s"}`, []string{"access_ttl must not be negative"}, long(32)},
		{"negative refresh_ttl", `{"secret": "` + long(32) + `", "refresh_ttl": "-1s"}`, []string{"refresh_ttl must not be negative"}, long(32)},
		{"negative fresh_for", `{"secret": "` + long(32) + `", "fresh_for": "-1s"}`, []string{"fresh_for must not be negative"}, long(32)},
		{"bad token_from", `{"secret": "` + long(32) + `", "token_from": ["header", "body"]}`, []string{"token_from", `"body"`}, long(32)},
		{"duplicate token_from", `{"secret": "` + long(32) + `", "token_from": ["query", "query"]}`, []string{"token_from", "twice"}, long(32)},
		{"negative cache_size", `{"secret": "` + long(32) + `", "cache_size": -1}`, []string{"cache_size must be 0 (off) or more"}, long(32)},
		{"jwks_url not http", `{"secret": "` + long(32) + `", "jwks_urls": ["ftp://x"]}`, []string{"jwks_url", "http"}, long(32)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tryFixture(t, withAppJSON(`{"secret": null}`), withAppJSON(tc.app))
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
			if _, err := tryFixture(t, withAppJSON(`{"secret": "`+long(n)+`", "algorithm": "`+alg+`"}`)); err != nil {
				t.Errorf("%s with %d bytes: %v", alg, n, err)
			}
		}
	})
}
