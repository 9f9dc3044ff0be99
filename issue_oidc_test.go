package jwtextended

// The oidc block's settings: the Caddyfile parser (every error path) and
// the refusals at load. The flow itself runs against a real OpenID
// Provider in e2e/oidc_test.go (and e2e/oidc_browser_test.go); its core
// is tested in internal/oidcflow.

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestCaddyfileOIDC(t *testing.T) {
	t.Parallel()
	block := func(body string) string { return "jwt_issue {\n\toidc google {\n" + body + "\n\t}\n}" }
	tests := []caddyfileTestCase[Issue]{
		{
			name: "every setting",
			input: block(`issuer https://accounts.google.com
				client_id web.apps.googleusercontent.com
				client_secret {env.GOOGLE_SECRET}
				scopes openid email
				login /auth/google/login
				callback /auth/google/callback
				reauth /auth/google/reauth
				identity_claim email
				claims email name picture
				fresh_within 2m
				return_to https://app.example.com https://admin.example.com`),
			want: &Issue{OIDC: []OIDCProvider{{
				Name: "google", Issuer: "https://accounts.google.com", ClientID: "web.apps.googleusercontent.com",
				ClientSecret: "{env.GOOGLE_SECRET}", Scopes: []string{"openid", "email"},
				Login: "/auth/google/login", Callback: "/auth/google/callback", Reauth: "/auth/google/reauth",
				IdentityClaim: "email", Claims: []string{"email", "name", "picture"}, FreshWithin: "120000000000",
				ReturnTo: []string{"https://app.example.com", "https://admin.example.com"},
			}}},
		},
		{
			name:  "two blocks",
			input: "jwt_issue {\n\toidc a {\n\t\tissuer https://a.example\n\t}\n\toidc b {\n\t\tissuer https://b.example\n\t}\n}",
			want:  &Issue{OIDC: []OIDCProvider{{Name: "a", Issuer: "https://a.example"}, {Name: "b", Issuer: "https://b.example"}}},
		},
		{name: "no name", input: "jwt_issue {\n\toidc {\n\t\tissuer https://a.example\n\t}\n}", err: "oidc takes a name and a block", line: 2},
		{name: "two names", input: "jwt_issue {\n\toidc a b {\n\t}\n}", err: "oidc takes a name and a block", line: 2},
		{name: "unknown setting", input: block("\t\tissuer_url https://a.example"), err: "unrecognized oidc subdirective 'issuer_url'", line: 3},
		{name: "a setting twice", input: block("\t\tissuer https://a.example\n\t\tissuer https://b.example"), err: "oidc google: issuer is given twice", line: 4},
		{name: "issuer without value", input: block("\t\tissuer"), err: argCount, line: 3},
		{name: "client_id with two values", input: block("\t\tclient_id a b"), err: argCount, line: 3},
		{name: "scopes without value", input: block("\t\tscopes"), err: argCount, line: 3},
		{name: "claims without value", input: block("\t\tclaims"), err: argCount, line: 3},
		{name: "return_to without value", input: block("\t\treturn_to"), err: argCount, line: 3},
		{name: "fresh_within 0", input: block("\t\tfresh_within 0s"), err: "oidc google: fresh_within '0s' must be a positive duration", line: 3},
		{name: "fresh_within not a duration", input: block("\t\tfresh_within soon"), err: "oidc google: fresh_within 'soon' must be a positive duration", line: 3},
	}
	runCaddyfileCases(t, tests)
}

// TestOIDCRefusedAtLoad: every oidc setting that cannot work is refused
// at load, naming the setting and the fix.
func TestOIDCRefusedAtLoad(t *testing.T) {
	t.Parallel()
	ok := `"name":"op","issuer":"https://op.example","client_id":"web","login":"/auth/op/login","callback":"/auth/op/callback"`
	wantRefusedAtLoad(t, []refusedAtLoad{
		{"a bad name", "", `{"deliver":["cookie"],"oidc":[{` + strings.Replace(ok, `"op"`, `"my op"`, 1) + `}]}`, `oidc name "my op" must be 1 to 64 letters`},
		{"a name twice", "", `{"deliver":["cookie"],"oidc":[{` + ok + `},{` + strings.NewReplacer("/auth/op/", "/auth/op2/").Replace(ok) + `}]}`, "oidc op is given twice"},
		{"no issuer", "", `{"deliver":["cookie"],"oidc":[{` + strings.Replace(ok, `"https://op.example"`, `""`, 1) + `}]}`, "issuer is required"},
		{"an http issuer", "", `{"deliver":["cookie"],"oidc":[{` + strings.Replace(ok, `https://op.example`, `http://op.example`, 1) + `}]}`, "must be https (http only on a loopback host"},
		{"an issuer with a query", "", `{"deliver":["cookie"],"oidc":[{` + strings.Replace(ok, `https://op.example`, `https://op.example/?x=1`, 1) + `}]}`, "must not have a query or fragment"},
		{"no client_id", "", `{"deliver":["cookie"],"oidc":[{` + strings.Replace(ok, `"client_id":"web"`, `"client_id":""`, 1) + `}]}`, "client_id is required"},
		{"no callback", "", `{"deliver":["cookie"],"oidc":[{` + strings.Replace(ok, `"callback":"/auth/op/callback"`, `"callback":""`, 1) + `}]}`, "callback is required"},
		{"neither login nor reauth", "", `{"deliver":["cookie"],"oidc":[{` + strings.Replace(ok, `"login":"/auth/op/login"`, `"login":""`, 1) + `}]}`, "neither login nor reauth is set"},
		{"a path that is not a path", "", `{"deliver":["cookie"],"oidc":[{` + strings.Replace(ok, `"/auth/op/login"`, `"auth/op/login"`, 1) + `}]}`, `oidc op login path "auth/op/login" must start with /`},
		{"a path shared with refresh", "", `{"deliver":["cookie"],"refresh":"/AUTH/OP/CALLBACK","oidc":[{` + ok + `}]}`, "share the path"},
		{"tokens as JSON only", "", `{"oidc":[{` + ok + `}]}`, "its tokens can only be delivered as cookies; add `deliver cookie`"},
		{"a return_to with a path", "", `{"deliver":["cookie"],"oidc":[{` + ok + `,"return_to":["https://app.example/after"]}]}`, `return_to "https://app.example/after" is not an origin`},
		{"a claim the module sets", "", `{"deliver":["cookie"],"oidc":[{` + ok + `,"claims":["email","Auth_Time"]}]}`, `claims "Auth_Time" names a claim the module sets itself`},
		{"idp as a claim", "", `{"deliver":["cookie"],"oidc":[{` + ok + `,"claims":["idp"]}]}`, `claims "idp" names a claim the module sets itself`},
		{"a user with an idp claim", "", `{"deliver":["cookie"],"login":"/login","users":[{"name":"alice","hash":"` + passwordHash(t) + `","claims":{"idp":"op"}}],"oidc":[{` + ok + `}]}`, "user alice has the claim idp"},
		{"access_path that misses reauth", `{"cookie":{"access_path":"/api/"}}`, `{"deliver":["cookie"],"oidc":[{` + ok + `,"reauth":"/auth/op/reauth"}]}`, "cookie access_path /api/ does not cover the oidc op reauth route /auth/op/reauth"},
		{"a secret placeholder that does not resolve", "", `{"deliver":["cookie"],"oidc":[{` + ok + `,"client_secret":"{env.JWT_TEST_UNSET_OIDC_SECRET}"}]}`, "oidc"},
	})

	// what loads: the minimal block, a loopback http issuer, a public client
	f := newFixture(t)
	for _, issue := range []string{
		`{"deliver":["cookie"],"oidc":[{` + ok + `}]}`,
		`{"deliver":["json","cookie"],"oidc":[{` + strings.Replace(ok, `https://op.example`, `http://127.0.0.1/realms/x`, 1) + `,"reauth":"/auth/op/reauth","return_to":["https://app.example"]}]}`,
	} {
		if _, err := f.tryIssue(issue); err != nil {
			t.Errorf("%s: %v", issue, err)
		}
	}
}

// TestOIDCCallbackWithoutTransaction: a callback without the transaction
// cookie (a forged or stale link) is refused before anything reaches the
// provider, logged, and emitted as jwt_login_failed; nothing is minted.
func TestOIDCCallbackWithoutTransaction(t *testing.T) {
	e := newFixture(t, withIssuer(func(h *Issue) {
		*h = Issue{Deliver: []string{"cookie"}, OIDC: []OIDCProvider{{Name: "op", Issuer: "https://op.invalid", ClientID: "web",
			Login: "/auth/op/login", Callback: "/auth/op/callback"}}}
	}))
	sub := eventsTestSubscribe(t, e.app, eventLoginFailed)
	logs := e.observeIssuer()
	w := e.do(httptest.NewRequest(http.MethodGet, "/auth/op/callback?code=c&state=s", nil))
	if w.Code != 401 || w.Body.String() != `{"msg":"Missing or invalid login state"}` || w.Header().Get("WWW-Authenticate") != "Bearer" {
		t.Fatalf("%d %q %s", w.Code, w.Header().Get("WWW-Authenticate"), w.Body)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name != "jwt_oidc_op" || c.MaxAge >= 0 {
			t.Errorf("cookie %s set (max-age %d); want only the transaction cookie cleared", c.Name, c.MaxAge)
		}
	}
	if got := sub(); len(got) != 1 || got[0].Data["route"] != "oidc" || got[0].Data["remote_ip"] != fixtureIP {
		t.Errorf("events %v, want one jwt_login_failed of route oidc", got)
	}
	if l := logs.FilterMessage("oidc login failed").All(); len(l) != 1 || l[0].ContextMap()["oidc"] != "op" {
		t.Errorf("log lines %v", logs.All())
	}
	// a POST of the callback is 405, not a login
	w = e.do(httptest.NewRequest(http.MethodPost, "/auth/op/callback", nil))
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d Allow %q", w.Code, w.Header().Get("Allow"))
	}
}

// TestOIDCCallbacksBoundedPerIP: a callback may store a marker and ask
// the provider's token endpoint, and anyone can get a transaction and its
// state from the login route, so each client IP may make at most
// maxCallbacksPerIP callbacks per window, whatever comes of them.
func TestOIDCCallbacksBoundedPerIP(t *testing.T) {
	e := newFixture(t, withIssuer(func(h *Issue) {
		*h = Issue{Deliver: []string{"cookie"}, OIDC: []OIDCProvider{{Name: "op", Issuer: "https://op.invalid", ClientID: "web",
			Login: "/auth/op/login", Callback: "/auth/op/callback"}}}
	}))
	callback := func(ip string) *httptest.ResponseRecorder {
		return e.doFrom(ip, httptest.NewRequest(http.MethodGet, "/auth/op/callback?code=c&state=s", nil))
	}
	for i := 0; i < maxCallbacksPerIP; i++ {
		if w := callback("203.0.113.30"); w.Code != 401 {
			t.Fatalf("callback %d: %d %s", i, w.Code, w.Body)
		}
	}
	w := callback("203.0.113.30")
	if w.Code != 429 || w.Body.String() != `{"msg":"Too many login attempts"}` || w.Header().Get("Retry-After") == "" {
		t.Fatalf("callback past the bound: %d %q %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	if w := callback("203.0.113.31"); w.Code != 401 {
		t.Errorf("another IP: %d", w.Code)
	}
	e.clock.Advance(maxCallbacksWindow + time.Second)
	if w := callback("203.0.113.30"); w.Code != 401 {
		t.Errorf("after the window: %d", w.Code)
	}
}
