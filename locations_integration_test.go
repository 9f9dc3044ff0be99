package jwtextended

import (
	"fmt"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
)

// TestLocationsIntegration runs issue 13's token locations through a real
// Caddy from a Caddyfile: a Flask configuration with JWT_HEADER_NAME
// X-Auth, JWT_HEADER_TYPE Token, JWT_TOKEN_LOCATION headers and json and
// JWT_ERROR_MESSAGE_KEY error.
func TestLocationsIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Caddy")
	}
	hash := testkit.BcryptHash(t, "pw-alice")
	cfg := caddyGlobals(fmt.Sprintf(`	auto_https off
	jwt {
		secret "%s"
		token_from header json
		header_name X-Auth
		header_type Token
		refresh_json_key rt
		message_key error
	}
`, fixtureSecret)) + fmt.Sprintf(`
http://localhost {
	jwt_issue {
		login   /auth/login
		refresh /auth/refresh
		user alice %s
	}
	handle /api/* {
		jwt_auth
		respond "hello {http.auth.user.id} {http.request.body}"
	}
}
`, hash)
	c := startCaddy(t, cfg).Client
	jsonHdr := map[string]string{"Content-Type": "application/json"}
	want := func(step string, st int, body string, wantSt int, wantBody string) {
		t.Helper()
		if st != wantSt || body != wantBody {
			t.Fatalf("%s: %d %s; want %d %s", step, st, body, wantSt, wantBody)
		}
	}

	st, _, body := issuerITDo(t, c, "POST", "/auth/login", jsonHdr, `{"username":"alice","password":"wrong"}`)
	want("bad login", st, body, 401, `{"error":"Bad username or password"}`)
	st, _, body = issuerITDo(t, c, "POST", "/auth/login", jsonHdr, `{"username":"alice","password":"pw-alice"}`)
	if st != 200 {
		t.Fatalf("login: %d %s", st, body)
	}
	m := issuerITJSON(t, body)
	access, refresh := m["access_token"].(string), m["refresh_token"].(string)

	st, _, body = issuerITDo(t, c, "GET", "/api/me", map[string]string{"X-Auth": "Token " + access}, "")
	want("header", st, body, 200, "hello alice ")
	st, _, body = issuerITDo(t, c, "GET", "/api/me", map[string]string{"Authorization": "Bearer " + access}, "")
	want("the default header", st, body, 401,
		`{"error":"Missing JWT in headers or json (Missing X-Auth Header; Invalid content-type. Must be application/json.)"}`)
	st, _, body = issuerITDo(t, c, "GET", "/api/me", map[string]string{"X-Auth": "Bearer " + access}, "")
	want("another type", st, body, 401, `{"error":"Missing JWT in headers or json (Missing 'Token' type in 'X-Auth' header. Expected 'X-Auth: Token <JWT>'; Invalid content-type. Must be application/json.)"}`)

	// a token in the JSON body; the upstream reads the body unchanged
	in := `{"access_token":"` + access + `","n":1}`
	st, _, body = issuerITDo(t, c, "POST", "/api/me", jsonHdr, in)
	want("json body", st, body, 200, "hello alice "+in)
	st, _, body = issuerITDo(t, c, "POST", "/api/me", jsonHdr, `{"n":1}`)
	want("json without the key", st, body, 401,
		`{"error":"Missing JWT in headers or json (Missing X-Auth Header; Missing \"access_token\" key in json data.)"}`)

	// refresh reads refresh_json_key from the body
	st, _, body = issuerITDo(t, c, "POST", "/auth/refresh", jsonHdr, `{"rt":"`+refresh+`"}`)
	if st != 200 || issuerITJSON(t, body)["access_token"] == nil {
		t.Fatalf("refresh from the json body: %d %s", st, body)
	}
	st, _, body = issuerITDo(t, c, "POST", "/auth/refresh", jsonHdr, `{"refresh_token":"`+refresh+`"}`)
	want("refresh under the default key", st, body, 401,
		`{"error":"Missing JWT in headers or json (Missing X-Auth Header; Missing \"rt\" key in json data.)"}`)
}
