package jwtextended

// Integration tests: a real Caddy, started in-process by startCaddy from a
// Caddyfile, reverse-proxying to an upstream that records what it
// receives. In-process Caddy is process-wide: these tests never run in
// parallel.

import (
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// integrationSecret is the secret the Caddyfiles read from
// {env.JWT_TEST_SECRET} or {file.<path>}. integrationNow-based tokens use
// the real clock: Caddy runs with time.Now.
const integrationSecret = "integration-secret-0123456789abcdef-xyz"

// integrationToken mints an HS256 token with the integration secret at the
// real clock.
func integrationToken(t *testing.T, overrides map[string]any) string {
	t.Helper()
	now := time.Now().Unix()
	c := map[string]any{
		"sub": "alice", "type": "access", "fresh": false, "jti": "it-1",
		"iat": now - 5, "nbf": now - 5, "exp": now + 300, "role": "admin",
	}
	applyOverrides(c, overrides)
	return signToken(t, "HS256", []byte(integrationSecret), nil, c)
}

// integrationGlobal is the global block every config here starts with:
// extra options, and the jwt app with the given option lines.
func integrationGlobal(jwt string, extra ...string) string {
	return "{\n" + strings.Join(extra, "") + "\tjwt {\n\t\t" + jwt + "\n\t}\n}\n"
}

// integrationSite opens the site block.
const integrationSite = "\nhttp://localhost {\n"

func integrationDo(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

func TestIntegrationProxyIdentity(t *testing.T) {
	up := newUpstream(t)
	t.Setenv("JWT_TEST_SECRET", integrationSecret)
	issuerFile := filepath.Join(t.TempDir(), "issuer")
	if err := os.WriteFile(issuerFile, []byte("https://auth.it.example"), 0o600); err != nil {
		t.Fatal(err)
	}

	srv := startCaddy(t, integrationGlobal("secret {env.JWT_TEST_SECRET}\n\t\tissuer {file."+issuerFile+"}")+integrationSite+`	handle /api/* {
		jwt_auth
		reverse_proxy `+up.addr()+`
	}
	handle /whoami {
		jwt_auth
		header >X-User "{http.auth.user.id}"
		respond "user={http.auth.user.id} type={http.auth.jwt.type} role={http.auth.jwt.claims.role}"
	}
	handle /custom/* {
		jwt_auth {
			handle_errors
		}
		respond "never"
	}
	handle_errors {
		respond "custom {err.status_code} {http.auth.jwt.error}" {err.status_code}
	}
}
`)
	iss := map[string]any{"iss": "https://auth.it.example"}
	good := integrationToken(t, iss)

	t.Run("upstream sees the identity, not the spoofed headers", func(t *testing.T) {
		before := up.count()
		req, _ := http.NewRequest("GET", srv.Base+"/api/items", nil)
		req.Header.Set("Authorization", "Bearer "+good)
		req.Header["X-Jwt-Identity"] = []string{"mallory", "root"}
		req.Header["X-JWT-ROLE"] = []string{"admin"}
		req.Header["X_Jwt_Identity"] = []string{"mallory"}
		req.Header["X_JWT_TYPE"] = []string{"refresh"}
		req.Header["Connection"] = []string{"X-Jwt-Identity, X-Jwt-Claims"}
		res, body := integrationDo(t, srv.Client, req)
		if res.StatusCode != 200 || body != "upstream ok" || up.count() != before+1 {
			t.Fatalf("status %d body %q, upstream requests %d -> %d", res.StatusCode, body, before, up.count())
		}
		h := up.last()
		want := map[string]string{
			"X-Jwt-Identity": "alice",
			"X-Jwt-Type":     "access",
			"X-Jwt-Fresh":    "false",
			"X-Jwt-Jti":      "it-1",
		}
		for name, v := range want {
			if got := h.Values(name); len(got) != 1 || got[0] != v {
				t.Errorf("upstream %s = %q, want [%q]", name, got, v)
			}
		}
		if got := h.Get("X-Jwt-Exp"); got == "" {
			t.Errorf("upstream X-Jwt-Exp missing")
		}
		claims, err := base64.RawURLEncoding.DecodeString(h.Get("X-Jwt-Claims"))
		if err != nil || string(claims) != string(mustDecode(t, strings.Split(good, ".")[1])) {
			t.Errorf("upstream X-Jwt-Claims = %q (%v), want the token's payload", h.Get("X-Jwt-Claims"), err)
		}
		for name, vals := range h {
			if !hasJWTPrefix(name) {
				continue
			}
			switch name {
			case hdrIdentity, hdrType, hdrFresh, hdrJTI, hdrExp, hdrClaims:
			default:
				t.Errorf("upstream received client header %s: %q", name, vals)
			}
		}
	})

	t.Run("refused requests never reach the upstream", func(t *testing.T) {
		before := up.count()
		cases := []struct {
			name   string
			auth   string
			status int
			msg    string
		}{
			{"no token", "", 401, "Missing Authorization Header"},
			{"expired", "Bearer " + integrationToken(t, map[string]any{"iss": "https://auth.it.example", "exp": time.Now().Unix() - 60}), 401, "Token has expired"},
			{"wrong issuer", "Bearer " + integrationToken(t, nil), 401, `Token is missing the "iss" claim`},
			{"refresh token", "Bearer " + integrationToken(t, map[string]any{"iss": "https://auth.it.example", "type": "refresh"}), 401, "Only non-refresh tokens are allowed"},
			{"other key", "Bearer " + signToken(t, "HS256", []byte(strings.Repeat("z", 40)), nil, map[string]any{"sub": "x", "exp": time.Now().Unix() + 60}), 401, "Signature verification failed"},
		}
		for _, c := range cases {
			req, _ := http.NewRequest("GET", srv.Base+"/api/items", nil)
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			req.Header.Set("X-Jwt-Identity", "mallory")
			res, body := integrationDo(t, srv.Client, req)
			if res.StatusCode != c.status || body != refusalBody(c.msg) {
				t.Errorf("%s: %d %s, want %d %s", c.name, res.StatusCode, body, c.status, refusalBody(c.msg))
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s: Content-Type %q", c.name, ct)
			}
			if !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s: WWW-Authenticate %q", c.name, res.Header.Get("WWW-Authenticate"))
			}
		}
		if up.count() != before {
			t.Errorf("upstream received %d refused requests", up.count()-before)
		}
	})

	t.Run("placeholders in respond and header", func(t *testing.T) {
		req, _ := http.NewRequest("GET", srv.Base+"/whoami", nil)
		req.Header.Set("Authorization", "Bearer "+good)
		res, body := integrationDo(t, srv.Client, req)
		if res.StatusCode != 200 || body != "user=alice type=access role=admin" {
			t.Errorf("whoami: %d %q", res.StatusCode, body)
		}
		if got := res.Header.Get("X-User"); got != "alice" {
			t.Errorf("X-User = %q, want alice", got)
		}
	})

	t.Run("handle_errors gets the status and reason", func(t *testing.T) {
		req, _ := http.NewRequest("GET", srv.Base+"/custom/x", nil)
		req.Header.Set("Authorization", "Bearer "+integrationToken(t, map[string]any{"iss": "https://auth.it.example", "exp": time.Now().Unix() - 60}))
		res, body := integrationDo(t, srv.Client, req)
		if res.StatusCode != 401 || body != "custom 401 expired" {
			t.Errorf("handle_errors: %d %q, want 401 \"custom 401 expired\"", res.StatusCode, body)
		}
		if got := res.Header.Get("WWW-Authenticate"); got != `Bearer error="invalid_token"` {
			t.Errorf("handle_errors: WWW-Authenticate %q", got)
		}
	})
}

// TestIntegrationFileSecretAndShortSecret: a secret read with {file.*}
// works, and a config whose secret is too short is refused at load with an
// error that names the setting, without echoing the secret; the running
// config stays in place.
func TestIntegrationFileSecretAndShortSecret(t *testing.T) {
	up := newUpstream(t)
	secretFile := filepath.Join(t.TempDir(), "jwt-secret")
	if err := os.WriteFile(secretFile, []byte(integrationSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	site := integrationSite + `	jwt_auth
	reverse_proxy ` + up.addr() + `
}
`
	srv := startCaddy(t, integrationGlobal("secret {file."+secretFile+"}")+site)
	good := integrationToken(t, nil)
	get := func() (*http.Response, string) {
		req, _ := http.NewRequest("GET", srv.Base+"/", nil)
		req.Header.Set("Authorization", "Bearer "+good)
		return integrationDo(t, srv.Client, req)
	}
	if res, body := get(); res.StatusCode != 200 || up.last().Get("X-Jwt-Identity") != "alice" {
		t.Fatalf("file secret: %d %q", res.StatusCode, body)
	}

	const short = "too-short-secret-xyz"
	cfg := integrationGlobal("secret "+short) + site
	msg := integrationLoadError(t, srv, cfg)
	for _, want := range []string{"secret", "32"} {
		if !strings.Contains(msg, want) {
			t.Errorf("load error %q does not mention %q", msg, want)
		}
	}
	if strings.Contains(msg, short) {
		t.Errorf("load error echoes the secret: %q", msg)
	}
	// the previous config still serves
	if res, body := get(); res.StatusCode != 200 {
		t.Errorf("after a refused load: %d %q", res.StatusCode, body)
	}

	// the same with the env placeholder
	t.Setenv("JWT_TEST_SECRET", short)
	msg = integrationLoadError(t, srv, integrationGlobal("secret {env.JWT_TEST_SECRET}")+site)
	if !strings.Contains(msg, "secret is 20 bytes, HS256 needs at least 32") || strings.Contains(msg, short) {
		t.Errorf("env secret load error: %q", msg)
	}
}

// integrationLoadError loads a Caddyfile into the running server and
// returns the error Caddy answers; it fails the test if the config loads.
func integrationLoadError(t *testing.T, srv testCaddy, caddyfile string) string {
	t.Helper()
	err := srv.Load(t, caddyfile)
	if err == nil {
		t.Fatal("config loaded; want a load error")
	}
	return err.Error()
}

// TestIntegrationUnderscoreHeadersAllowlisted: Caddy drops client headers
// with underscores unless the site allowlists them (servers
// expected_underscore_headers). Where they are allowed, the module must
// remove the X_Jwt_* spellings, which CGI-style backends read as X-Jwt-*,
// on every route of the server. A control server without the module
// shows the spoof does reach the proxy.
func TestIntegrationUnderscoreHeadersAllowlisted(t *testing.T) {
	up := newUpstream(t)
	t.Setenv("JWT_TEST_SECRET", integrationSecret)
	servers := "\tservers {\n\t\texpected_underscore_headers x_jwt_identity x_jwt_*\n\t}\n"
	var srv testCaddy
	send := func(path string) http.Header {
		req, _ := http.NewRequest("GET", srv.Base+path, nil)
		req.Header.Set("Authorization", "Bearer "+integrationToken(t, nil))
		req.Header["X_Jwt_Identity"] = []string{"mallory"}
		req.Header["X_JWT_ROLE"] = []string{"admin"}
		res, body := integrationDo(t, srv.Client, req)
		if res.StatusCode != 200 {
			t.Fatalf("%s: %d %q", path, res.StatusCode, body)
		}
		return up.last()
	}
	underscored := func(h http.Header) []string {
		var names []string
		for name := range h {
			if hasJWTPrefix(name) && strings.Contains(name, "_") {
				names = append(names, name)
			}
		}
		return names
	}
	srv = startCaddy(t, "{\n"+servers+"}\n"+integrationSite+"\treverse_proxy "+up.addr()+"\n}\n")
	if names := underscored(send("/control/x")); len(names) == 0 {
		t.Fatal("control: the allowlisted X_Jwt_* headers did not reach the upstream; the test proves nothing")
	}
	srv = startCaddy(t, integrationGlobal("secret {env.JWT_TEST_SECRET}", servers)+integrationSite+`	jwt_strip
	handle /control/* {
		reverse_proxy `+up.addr()+`
	}
	handle {
		jwt_auth
		reverse_proxy `+up.addr()+`
	}
}
`)
	if names := underscored(send("/control/x")); len(names) != 0 {
		t.Errorf("upstream outside jwt_auth received client headers %v", names)
	}
	h := send("/api")
	if names := underscored(h); len(names) != 0 {
		t.Errorf("upstream behind jwt_auth received client headers %v", names)
	}
	if got := h.Values("X-Jwt-Identity"); len(got) != 1 || got[0] != "alice" {
		t.Errorf("upstream X-Jwt-Identity = %q, want [alice]", got)
	}
}

// mustDecode decodes a strict base64url segment or fails the test.
func mustDecode(t *testing.T, seg string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
