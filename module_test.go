package jwtextended

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
)

// backgroundGoroutines counts the running goroutines of the app's
// background loops: the remote JWK Set fetchers and the revocation sync.
func backgroundGoroutines() int {
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	n := 0
	for _, g := range strings.Split(stacks, "\n\n") {
		if strings.Contains(g, "created by github.com/caddy-jwt-extended/caddy-jwt-extended/internal/keys.(*Ring).Start") ||
			strings.Contains(g, "created by github.com/caddy-jwt-extended/caddy-jwt-extended/internal/revocation.(*Store).Start") {
			n++
		}
	}
	return n
}

// Start runs the background loops; Cleanup (what Caddy calls when a config
// is unloaded, or fails to load) ends them and leaves the shared
// revocation set. Both Stop and Cleanup wait for the loops to return, so
// the count right after is exact.
func TestAppCleanupEndsBackgroundWork(t *testing.T) {
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"keys":[]}`))
	}))
	defer idp.Close()
	before := backgroundGoroutines()
	f := newFixture(t, withApp(func(a *App) { a.JWKSURLs = []string{idp.URL} }))
	app := f.app
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	if n := backgroundGoroutines() - before; n != 2 {
		t.Fatalf("%d background loops after Start, want 2 (one JWKS fetcher, one revocation sync)", n)
	}
	key := f.revocations().poolKey
	if refs, ok := revocationSets.References(key); !ok || refs != 1 {
		t.Fatalf("revocation set references %d (%v), want 1", refs, ok)
	}
	if err := app.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if n := backgroundGoroutines() - before; n != 0 {
		t.Fatalf("%d background loops left after Cleanup", n)
	}
	if _, ok := revocationSets.References(key); ok {
		t.Fatal("Cleanup left the app's share of the revocation set")
	}
	if err := app.Cleanup(); err != nil {
		t.Fatalf("a second Cleanup: %v", err)
	}
}

// Validate refuses settings that cannot work, naming the setting; Caddy
// then calls Cleanup, which must cope with what Provision left.
func TestAppValidateRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		app  string // JSON fields added to the app config
		want string
	}{
		{"negative leeway", `{"leeway": -1}`, "leeway must not be negative"},
		{"negative cache", `{"cache_size": -1}`, ""},
		{"jwks_url scheme", `{"jwks_urls": ["ftp://idp/jwks"]}`, `jwks_url "ftp://idp/jwks" must be an http:// or https:// URL`},
		// issue 12, finding 8: the identity cannot be a claim the module
		// writes itself (every user would be "access", or a random jti)
		{"identity_claim type", `{"identity_claim": "type"}`, `identity_claim "type" names (up to case) a claim the module sets itself`},
		{"identity_claim jti", `{"identity_claim": "jti"}`, `identity_claim "jti" names (up to case) a claim the module sets itself`},
		{"identity_claim exp", `{"identity_claim": "exp"}`, `identity_claim "exp" names (up to case) a claim the module sets itself`},
		{"identity_claim Type", `{"identity_claim": "Type"}`, `identity_claim "Type" names (up to case) a claim the module sets itself`},
		{"identity_claim Sub", `{"identity_claim": "Sub"}`, `identity_claim "Sub" names (up to case) a claim the module sets itself`},
		{"identity_claim fam", `{"identity_claim": "fam"}`, `identity_claim "fam" names (up to case) a claim the module sets itself`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "negative cache" {
				tc.want = "cache_size must be 0 (off) or more (got -1)"
			}
			_, err := tryFixture(t, withAppJSON(tc.app))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "invalid configuration") {
				t.Fatalf("got %v, want Validate's %q", err, tc.want)
			}
		})
	}
}
