package jwtextended

// Issue 21's passkeys through a real Caddy: two sites, each with its own
// jwt_issue (so two handler instances that share nothing but Caddy's
// storage), where every ceremony is begun on one and finished on the
// other: a registration, a step-up that makes a fresh_required route pass
// again after a refresh, and a passkey sign-in. The WebAuthn responses
// come from internal/testkit's software authenticator.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
)

func TestIntegrationPasskeys(t *testing.T) {
	t.Setenv("JWT_TEST_SECRET", integrationSecret)
	port := testkit.SharedPorts(t).HTTP
	a, b := fmt.Sprintf("http://a.localhost:%d", port), fmt.Sprintf("http://b.localhost:%d", port)
	site := func(host string) string {
		return `
http://` + host + ` {
	jwt_issue {
		login /login
		refresh /refresh
		user alice ` + passwordHash(t) + ` role=admin
		passkey {
			rp_id localhost
			rp_name "Passkey test"
			origins ` + a + ` ` + b + `
			register /pk/register
			login /pk/login
			reauth /pk/reauth
			credentials /pk/credentials
		}
	}
	handle /account {
		jwt_auth fresh_required
		respond "account of {http.auth.user.id}"
	}
}
`
	}
	srv := startCaddy(t, integrationGlobal("secret {env.JWT_TEST_SECRET}")+site("a.localhost")+site("b.localhost"), ownStorage())

	do := func(method, url, access string, body []byte) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(string(body)))
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if access != "" {
			req.Header.Set("Authorization", "Bearer "+access)
		}
		res, err := srv.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		got, _ := io.ReadAll(res.Body)
		return res.StatusCode, got
	}
	tokens := func(status int, body []byte) (access, refresh string) {
		t.Helper()
		var ans struct {
			Access  string `json:"access_token"`
			Refresh string `json:"refresh_token"`
		}
		if status != 200 || json.Unmarshal(body, &ans) != nil || ans.Access == "" {
			t.Fatalf("want tokens: %d %s", status, body)
		}
		return ans.Access, ans.Refresh
	}
	auth := testkit.NewAuthenticator()
	page := testkit.Client{Origin: a} // the page runs on site a

	access, refresh := tokens(do("POST", a+"/login", "", []byte(creds("alice", fixturePassword))))

	// register: begun on a, finished on b
	st, begin := do("POST", a+"/pk/register/begin", access, []byte("{}"))
	if st != 200 {
		t.Fatalf("register begin: %d %s", st, begin)
	}
	cred, soft, err := auth.Create(begin, page)
	if err != nil {
		t.Fatal(err)
	}
	st, body := do("POST", b+"/pk/register/finish", access, testkit.FinishBody(begin, cred, map[string]any{"name": "test key"}))
	if st != 201 || !strings.Contains(string(body), `"id":"`+soft.EncodedID()+`"`) {
		t.Fatalf("register finish: %d %s", st, body)
	}
	if st, body := do("GET", a+"/pk/credentials", access, nil); st != 200 || !strings.Contains(string(body), `"name":"test key"`) {
		t.Fatalf("credentials: %d %s", st, body)
	}

	// the session turns non-fresh; a passkey step-up makes it fresh again
	stale, _ := tokens(do("POST", a+"/refresh", refresh, nil))
	if st, body := do("GET", a+"/account", stale, nil); st != 401 || !strings.Contains(string(body), "Fresh token required") {
		t.Fatalf("a refreshed token on a fresh_required route: %d %s", st, body)
	}
	st, begin = do("POST", b+"/pk/reauth/begin", stale, []byte("{}"))
	if st != 200 {
		t.Fatalf("reauth begin: %d %s", st, begin)
	}
	got, err := auth.Get(begin, page)
	if err != nil {
		t.Fatal(err)
	}
	fresh, none := tokens(do("POST", a+"/pk/reauth/finish", stale, testkit.FinishBody(begin, got, nil)))
	if none != "" {
		t.Fatal("reauth answered a refresh token")
	}
	if st, body := do("GET", b+"/account", fresh, nil); st != 200 || string(body) != "account of alice" {
		t.Fatalf("after the step-up: %d %s", st, body)
	}

	// a passkey sign-in, no password: begun on b, finished on a; finishing
	// it again on b is refused
	st, begin = do("POST", b+"/pk/login/begin", "", []byte("{}"))
	if st != 200 {
		t.Fatalf("login begin: %d %s", st, begin)
	}
	got, _ = auth.Get(begin, page)
	finish := testkit.FinishBody(begin, got, nil)
	pa, pr := tokens(do("POST", a+"/pk/login/finish", "", finish))
	if pr == "" {
		t.Fatal("a passkey sign-in answered no refresh token")
	}
	_, claims := decodeHS256(t, []byte(integrationSecret), pa)
	if claims["sub"] != "alice" || claims["role"] != "admin" || claimText(claims["amr"]) != "[pop user mfa]" {
		t.Fatalf("passkey token claims %v", claims)
	}
	if st, body := do("GET", a+"/account", pa, nil); st != 200 {
		t.Fatalf("passkey token: %d %s", st, body)
	}
	if st, body := do("POST", b+"/pk/login/finish", "", finish); st != 400 || !strings.Contains(string(body), "already finished") {
		t.Fatalf("a ceremony finished twice: %d %s", st, body)
	}
	// an assertion from a page of another origin is refused
	if st, begin = do("POST", a+"/pk/login/begin", "", []byte("{}")); st != 200 {
		t.Fatalf("login begin: %d %s", st, begin)
	}
	got, _ = auth.Get(begin, testkit.Client{Origin: "http://evil.localhost"})
	if st, body := do("POST", a+"/pk/login/finish", "", testkit.FinishBody(begin, got, nil)); st != 401 {
		t.Fatalf("another origin: %d %s", st, body)
	}
}
