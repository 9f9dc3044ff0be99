package jwtextended

// Issue 20's step-up through a real Caddy: a login mints auth_time and
// amr, the upstream receives X-Jwt-Auth-Time, and a route with max_age
// answers RFC 9470's challenge to a token whose auth_time is too old. The
// old token is minted here (not by the module) with auth_time in the past,
// so nothing waits for time to pass.

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestIntegrationStepUp(t *testing.T) {
	up := newUpstream(t)
	t.Setenv("JWT_TEST_SECRET", integrationSecret)
	srv := startCaddy(t, integrationGlobal("secret {env.JWT_TEST_SECRET}")+integrationSite+`	jwt_issue {
		login /login
		user alice `+passwordHash(t)+`
	}
	handle /account/email {
		jwt_auth {
			fresh_required
			max_age 5m
		}
		reverse_proxy `+up.addr()+`
	}
	handle /pay {
		jwt_auth {
			acr urn:example:mfa
		}
		reverse_proxy `+up.addr()+`
	}
	handle /api/* {
		jwt_auth
		reverse_proxy `+up.addr()+`
	}
}
`, ownStorage())

	req, _ := http.NewRequest("POST", srv.Base+"/login", strings.NewReader(creds("alice", fixturePassword)))
	req.Header.Set("Content-Type", "application/json")
	before := time.Now().Unix()
	res, body := integrationDo(t, srv.Client, req)
	if res.StatusCode != 200 {
		t.Fatalf("login: %d %s", res.StatusCode, body)
	}
	var answer struct {
		Access string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(body), &answer); err != nil {
		t.Fatal(err)
	}
	access := answer.Access
	_, claims := decodeHS256(t, []byte(integrationSecret), access)
	authTime, err := strconv.ParseInt(claimText(claims["auth_time"]), 10, 64)
	if err != nil || authTime < before || authTime > time.Now().Unix() || claimText(claims["amr"]) != "[pwd]" {
		t.Fatalf("login's token: auth_time %v amr %v", claims["auth_time"], claims["amr"])
	}

	get := func(path, tok string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", srv.Base+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("X-Jwt-Auth-Time", "9999999999") // a client's own: never passes
		return integrationDo(t, srv.Client, req)
	}
	if res, body := get("/account/email", access); res.StatusCode != 200 {
		t.Fatalf("fresh, recent login refused: %d %s", res.StatusCode, body)
	}
	if got := up.last().Values("X-Jwt-Auth-Time"); len(got) != 1 || got[0] != strconv.FormatInt(authTime, 10) {
		t.Errorf("upstream X-Jwt-Auth-Time = %q, want [%d]", got, authTime)
	}

	// fresh, but authenticated an hour ago: the step-up challenge
	old := integrationToken(t, map[string]any{"fresh": true, "auth_time": time.Now().Add(-time.Hour).Unix()})
	res, body = get("/account/email", old)
	wantChallenge := `Bearer error="insufficient_user_authentication", error_description="Fresh token required", max_age="300"`
	if res.StatusCode != 401 || body != `{"msg":"Fresh token required"}` || res.Header.Get("WWW-Authenticate") != wantChallenge {
		t.Fatalf("old auth_time: %d %s %q", res.StatusCode, body, res.Header.Get("WWW-Authenticate"))
	}
	// a flask-jwt-extended token (no auth_time) passes where no step-up is set
	if res, body := get("/api/x", integrationToken(t, nil)); res.StatusCode != 200 {
		t.Fatalf("token without auth_time on a plain route: %d %s", res.StatusCode, body)
	}
	if got := up.last().Values("X-Jwt-Auth-Time"); len(got) != 0 {
		t.Errorf("upstream X-Jwt-Auth-Time = %q for a token without auth_time", got)
	}
	// acr
	res, _ = get("/pay", access)
	if res.StatusCode != 401 || res.Header.Get("WWW-Authenticate") != `Bearer error="insufficient_user_authentication", error_description="Fresh token required", acr_values="urn:example:mfa"` {
		t.Fatalf("password token on an acr route: %d %q", res.StatusCode, res.Header.Get("WWW-Authenticate"))
	}
	if res, body := get("/pay", integrationToken(t, map[string]any{"acr": "urn:example:mfa"})); res.StatusCode != 200 {
		t.Fatalf("token with the acr: %d %s", res.StatusCode, body)
	}
}
