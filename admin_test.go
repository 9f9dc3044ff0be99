package jwtextended

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddyserver/caddy/v2"
)

// Tests of the admin API (admin.api.jwt) through a real in-process Caddy's
// admin endpoint, and of `caddy jwt revoke` against it (startCaddy). They
// must not run in parallel with other in-process Caddy tests.

const adminTestSecret = "admin-api-test-secret-0123456789abcdef-0123"

// adminTestStart starts Caddy with a jwt_issue (login, refresh, logout)
// for alice and bob, and jwt_auth on /api/*.
func adminTestStart(t *testing.T) testCaddy {
	t.Helper()
	hash := testkit.BcryptHash(t, "pw")
	cfg := fmt.Sprintf(`{
	auto_https off
	jwt {
		secret "%s"
	}
}

http://localhost {
	jwt_issue {
		login   /auth/login
		refresh /auth/refresh
		logout  /auth/logout
		user alice %s
		user bob %s
	}
	handle /api/* {
		jwt_auth
		respond "hello {http.auth.user.id}"
	}
}
`, adminTestSecret, hash, hash)
	// its own storage: the identities it revokes must not reach other tests
	return startCaddy(t, cfg, ownStorage())
}

// adminTestLogin logs user in and returns the access and refresh tokens.
func adminTestLogin(t *testing.T, c *http.Client, user string) (string, string) {
	t.Helper()
	st, _, body := issuerITDo(t, c, "POST", "/auth/login", map[string]string{"Content-Type": "application/json"},
		`{"username": "`+user+`", "password": "pw"}`)
	issuerITWant(t, "login "+user, st, body, 200, "")
	m := issuerITJSON(t, body)
	return m["access_token"].(string), m["refresh_token"].(string)
}

// adminTestAPI answers whether tok is accepted on /api/: 200, or 401
// with its message.
func adminTestAPI(t *testing.T, c *http.Client, tok string) (int, string) {
	t.Helper()
	st, _, body := issuerITDo(t, c, "GET", "/api/x", map[string]string{"Authorization": "Bearer " + tok}, "")
	if st != 200 {
		msg, _ := issuerITJSON(t, body)["msg"].(string)
		return st, msg
	}
	return st, body
}

// adminTestDo sends a request to the admin endpoint of startCaddy's
// server (on the test process's ports, testkit.SharedPorts).
func adminTestDo(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, testkit.SharedPorts(t).AdminBase()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// adminTestApp is the running config's jwt app.
func adminTestApp(t *testing.T) (*App, caddy.Context) {
	t.Helper()
	ctx := caddy.ActiveContext()
	v, err := ctx.App("jwt")
	if err != nil {
		t.Fatal(err)
	}
	return v.(*App), ctx
}

func TestAdminAPIRevoke(t *testing.T) {
	c := adminTestStart(t).Client
	app, ctx := adminTestApp(t)
	revoked := func(kind string) float64 {
		v, _ := metricValue(t, ctx.GetMetricsRegistry(), "caddy_jwt_admin_revocations_total", "kind", kind)
		return v
	}

	t.Run("token", func(t *testing.T) {
		access, _ := adminTestLogin(t, c, "alice")
		if st, body := adminTestAPI(t, c, access); st != 200 {
			t.Fatalf("before: %d %s", st, body)
		}
		st, body := adminTestDo(t, "POST", "/jwt/revoke", `{"token": "`+access+`"}`)
		if st != 200 || strings.TrimSpace(body) != `{"msg":"Revoked"}` {
			t.Fatalf("POST /jwt/revoke token: %d %s", st, body)
		}
		if st, msg := adminTestAPI(t, c, access); st != 401 || msg != "Token has been revoked" {
			t.Fatalf("after: %d %s", st, msg)
		}
	})

	t.Run("jti and exp", func(t *testing.T) {
		_, refresh := adminTestLogin(t, c, "alice")
		claims := adminTestClaims(t, refresh)
		body := fmt.Sprintf(`{"jti": %q, "exp": %d}`, claims["jti"], int64(claims["exp"].(float64)))
		if st, body := adminTestDo(t, "POST", "/jwt/revoke", body); st != 200 {
			t.Fatalf("POST /jwt/revoke jti: %d %s", st, body)
		}
		st, _, resp := issuerITDo(t, c, "POST", "/auth/refresh", map[string]string{"Authorization": "Bearer " + refresh}, "")
		issuerITWant(t, "refresh with the revoked jti", st, resp, 401, "Token has been revoked")
	})

	t.Run("identity", func(t *testing.T) {
		a1, r1 := adminTestLogin(t, c, "alice")
		a2, _ := adminTestLogin(t, c, "alice") // another device
		bob, _ := adminTestLogin(t, c, "bob")
		if st, body := adminTestDo(t, "GET", "/jwt/revoked?identity=alice", ""); st != 404 || !strings.Contains(body, "not revoked") {
			t.Fatalf("GET /jwt/revoked before: %d %s", st, body)
		}
		if st, body := adminTestDo(t, "POST", "/jwt/revoke", `{"identity": "alice"}`); st != 200 || strings.TrimSpace(body) != `{"msg":"Revoked"}` {
			t.Fatalf("POST /jwt/revoke identity: %d %s", st, body)
		}
		for i, tok := range []string{a1, a2} {
			if st, msg := adminTestAPI(t, c, tok); st != 401 || msg != "Token has been revoked" {
				t.Errorf("alice's token %d after the revocation: %d %s", i, st, msg)
			}
		}
		st, _, resp := issuerITDo(t, c, "POST", "/auth/refresh", map[string]string{"Authorization": "Bearer " + r1}, "")
		issuerITWant(t, "alice's refresh token", st, resp, 401, "Token has been revoked")
		if st, body := adminTestAPI(t, c, bob); st != 200 {
			t.Errorf("bob's token: %d %s", st, body)
		}
		st, body := adminTestDo(t, "GET", "/jwt/revoked?identity=alice", "")
		var rec map[string]any
		if st != 200 || json.Unmarshal([]byte(body), &rec) != nil || rec["identity"] != "alice" {
			t.Fatalf("GET /jwt/revoked: %d %s", st, body)
		}
		if before, _ := app.revoked.identityRevokedBefore("alice"); rec["revoked_before"] != float64(before) || before > time.Now().Unix() {
			t.Errorf("the record %s, the store's T %d", body, before)
		}
		// a login afterwards works, and its token is accepted
		fresh, _ := adminTestLogin(t, c, "alice")
		if st, body := adminTestAPI(t, c, fresh); st != 200 {
			t.Errorf("a login after the revocation: %d %s", st, body)
		}
		if st, body := adminTestDo(t, "GET", "/jwt/revoked", ""); st != 400 || !strings.Contains(body, "identity") {
			t.Errorf("GET /jwt/revoked without identity: %d %s", st, body)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		access, _ := adminTestLogin(t, c, "bob")
		forged := signToken(t, "HS256", []byte("another-secret-0123456789abcdef-0123456789"), nil, map[string]any{
			"sub": "bob", "type": "access", "fresh": false, "jti": "forged", "iat": time.Now().Unix(), "exp": time.Now().Unix() + 600,
		})
		before := revoked("token") + revoked("identity")
		for _, c := range []struct{ name, body, want string }{
			{"no body", "", "JSON object"},
			{"not JSON", "revoke alice", "JSON object"},
			{"unknown field", `{"user": "bob"}`, "unknown field"},
			{"nothing to revoke", `{}`, "exactly one of"},
			{"jti and identity", `{"jti": "x", "exp": 4000000000, "identity": "bob"}`, "exactly one of"},
			{"token and identity", `{"token": "` + access + `", "identity": "bob"}`, "exactly one of"},
			{"jti without exp", `{"jti": "x"}`, `needs "exp"`},
			{"exp with identity", `{"identity": "bob", "exp": 4000000000}`, `"exp" goes with "jti" only`},
			{"exp with token", `{"token": "` + access + `", "exp": 4000000000}`, `"exp" goes with "jti" only`},
			{"a forged token", `{"token": "` + forged + `"}`, "Signature verification failed"},
			{"not a token", `{"token": "a.b.c"}`, "token:"},
			{"two objects", `{"identity": "bob"} {"identity": "carol"}`, "one JSON object"},
		} {
			st, body := adminTestDo(t, "POST", "/jwt/revoke", c.body)
			var answer struct{ Error string }
			_ = json.Unmarshal([]byte(body), &answer)
			if st != 400 || !strings.Contains(answer.Error, c.want) {
				t.Errorf("%s: %d %s; want 400 with %q", c.name, st, body, c.want)
			}
		}
		if st, body := adminTestAPI(t, c, access); st != 200 {
			t.Errorf("a refused request revoked bob's token: %d %s", st, body)
		}
		if _, ok := app.revoked.identityRevokedBefore("bob"); ok {
			t.Error("a refused request revoked bob")
		}
		if after := revoked("token") + revoked("identity"); after != before {
			t.Errorf("refused requests were counted: %v -> %v", before, after)
		}
	})

	t.Run("wrong method", func(t *testing.T) {
		for _, c := range []struct{ method, path string }{
			{"GET", "/jwt/revoke"}, {"PUT", "/jwt/revoke"}, {"DELETE", "/jwt/revoke"},
			{"POST", "/jwt/revoked?identity=alice"}, {"DELETE", "/jwt/revoked?identity=alice"},
		} {
			if st, body := adminTestDo(t, c.method, c.path, ""); st != 405 {
				t.Errorf("%s %s: %d %s, want 405", c.method, c.path, st, body)
			}
		}
	})

	// token and jti revocations count as kind token, identities as identity
	if got := revoked("token"); got != 2 {
		t.Errorf("caddy_jwt_admin_revocations_total{kind=token} = %v, want 2", got)
	}
	if got := revoked("identity"); got != 1 {
		t.Errorf("caddy_jwt_admin_revocations_total{kind=identity} = %v, want 1", got)
	}
}

// `caddy jwt revoke` against the running Caddy's admin endpoint: the
// token, or every token of the identity, is refused afterwards; its
// mistakes and the API's 400s are errors.
func TestCommandRevoke(t *testing.T) {
	srv := adminTestStart(t)
	c := srv.Client
	addr := fmt.Sprintf("localhost:%d", srv.Ports.Admin)

	alice, _ := adminTestLogin(t, c, "alice")
	var out strings.Builder
	if err := revoke(&out, revokeOptions{token: alice + "\n", address: addr}); err != nil {
		t.Fatalf("revoke --token: %v", err)
	}
	if !strings.Contains(out.String(), `"msg":"Revoked"`) {
		t.Errorf("revoke --token printed %q", out.String())
	}
	if st, msg := adminTestAPI(t, c, alice); st != 401 || msg != "Token has been revoked" {
		t.Errorf("the token after revoke --token: %d %s", st, msg)
	}

	b1, _ := adminTestLogin(t, c, "bob")
	b2, _ := adminTestLogin(t, c, "bob")
	out.Reset()
	if err := revoke(&out, revokeOptions{identity: "bob", address: addr}); err != nil {
		t.Fatalf("revoke --identity: %v", err)
	}
	for _, tok := range []string{b1, b2} {
		if st, msg := adminTestAPI(t, c, tok); st != 401 || msg != "Token has been revoked" {
			t.Errorf("bob's token after revoke --identity: %d %s", st, msg)
		}
	}

	for _, o := range []revokeOptions{{address: addr}, {identity: "bob", token: b1, address: addr}} {
		if err := revoke(io.Discard, o); err == nil || !strings.Contains(err.Error(), "exactly one of --identity or --token") {
			t.Errorf("revoke %+v: %v", o, err)
		}
	}
	err := revoke(io.Discard, revokeOptions{token: "not-a-token", address: addr})
	if err == nil || !strings.Contains(err.Error(), "HTTP 400") || !strings.Contains(err.Error(), "token:") {
		t.Errorf("revoke --token with a bad token: %v; want the API's 400 and its message", err)
	}
}

// adminTestClaims decodes a token's payload (no verification).
func adminTestClaims(t *testing.T, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	p, err := jws.Encoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(p, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
