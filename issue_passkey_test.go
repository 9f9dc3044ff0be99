package jwtextended

// The passkey block: the Caddyfile parser (every error path with its
// line), the refusals at load, and the routes against internal/testkit's
// software authenticator (which builds its WebAuthn responses from the
// spec, not with go-webauthn): registering, signing in and stepping up,
// and every refusal of issue 21. A real Caddy runs them in
// passkey_integration_test.go, and headless Chromium with its virtual
// authenticator in e2e/passkey_browser_test.go.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func TestCaddyfilePasskey(t *testing.T) {
	t.Parallel()
	block := func(body string) string { return "jwt_issue {\n\tpasskey {\n" + body + "\n\t}\n}" }
	tests := []caddyfileTestCase[Issue]{
		{
			name: "every setting",
			input: block(`rp_id example.com
				rp_name "Example Inc"
				origins https://example.com https://app.example.com
				register /auth/passkey/register
				login /auth/passkey/login
				reauth /auth/passkey/reauth
				credentials /auth/passkey/credentials
				user_verification preferred`),
			want: &Issue{Passkey: &PasskeyConfig{
				RPID: "example.com", RPName: "Example Inc", Origins: []string{"https://example.com", "https://app.example.com"},
				Register: "/auth/passkey/register", Login: "/auth/passkey/login", Reauth: "/auth/passkey/reauth",
				Credentials: "/auth/passkey/credentials", UserVerification: "preferred",
			}},
		},
		{name: "a placeholder for user_verification", input: block("\t\tlogin /p\n\t\tuser_verification {env.UV}"),
			want: &Issue{Passkey: &PasskeyConfig{Login: "/p", UserVerification: "{env.UV}"}}},
		{name: "an argument", input: "jwt_issue {\n\tpasskey on {\n\t\tlogin /p\n\t}\n}", err: "passkey takes no arguments", line: 2},
		{name: "an empty block", input: "jwt_issue {\n\tpasskey {\n\t}\n}", err: "passkey needs a block with at least one route", line: 3},
		{name: "no block", input: "jwt_issue {\n\tpasskey\n}", err: "passkey needs a block", line: 2},
		{name: "twice", input: "jwt_issue {\n\tpasskey {\n\t\tlogin /a\n\t}\n\tpasskey {\n\t\tlogin /b\n\t}\n}", err: "passkey is given twice", line: 5},
		{name: "unknown setting", input: block("\t\trpid example.com"), err: "unrecognized passkey subdirective 'rpid'", line: 3},
		{name: "a setting twice", input: block("\t\tlogin /a\n\t\tlogin /b"), err: "passkey: login is given twice", line: 4},
		{name: "rp_id without value", input: block("\t\trp_id"), err: argCount, line: 3},
		{name: "rp_id with two values", input: block("\t\trp_id a.example b.example"), err: argCount, line: 3},
		{name: "rp_name without value", input: block("\t\trp_name"), err: argCount, line: 3},
		{name: "origins without value", input: block("\t\torigins"), err: argCount, line: 3},
		{name: "register without path", input: block("\t\tregister"), err: argCount, line: 3},
		{name: "login with two paths", input: block("\t\tlogin /a /b"), err: argCount, line: 3},
		{name: "reauth without path", input: block("\t\treauth"), err: argCount, line: 3},
		{name: "credentials without path", input: block("\t\tcredentials"), err: argCount, line: 3},
		{name: "user_verification discouraged", input: block("\t\tuser_verification discouraged"), err: "passkey: user_verification takes required or preferred, not 'discouraged'", line: 3},
		{name: "user_verification without value", input: block("\t\tuser_verification"), err: argCount, line: 3},
	}
	runCaddyfileCases(t, tests)
}

// TestPasskeyRefusedAtLoad: every passkey setting that cannot work is
// refused at load, naming the setting and the fix.
func TestPasskeyRefusedAtLoad(t *testing.T) {
	t.Parallel()
	pk := func(s string) string {
		return `{"login":"/login","users":[{"name":"alice","hash":"` + passwordHash(t) + `"}],"passkey":{` + s + `}}`
	}
	wantRefusedAtLoad(t, []refusedAtLoad{
		{"no route", "", pk(`"rp_id":"example.com"`), "passkey: no route is set"},
		{"user_verification", "", pk(`"login":"/pk/login","user_verification":"discouraged"`), `user_verification "discouraged" is not valid; use required`},
		{"a path without /", "", pk(`"login":"pk/login"`), `passkey login begin path "pk/login/begin" must start with /`},
		{"a path ending with /", "", pk(`"login":"/pk/login/"`), `login path "/pk/login/" must not end with /`},
		{"a path that clashes", "", pk(`"register":"/login/x","login":"/login/x"`), "share the path"},
		{"a path that clashes with login", "", `{"login":"/pk/login/begin","users":[{"name":"alice","hash":"` + passwordHash(t) + `"}],"passkey":{"login":"/pk/login"}}`, "share the path"},
		{"rp_id upper case", "", pk(`"login":"/pk","rp_id":"Example.com"`), "must be lower case: write example.com"},
		{"rp_id an IP", "", pk(`"login":"/pk","rp_id":"127.0.0.1"`), "is an IP address"},
		{"rp_id with a port", "", pk(`"login":"/pk","rp_id":"example.com:443"`), "is not a domain name"},
		{"rp_id a URL", "", pk(`"login":"/pk","rp_id":"https://example.com"`), "is not a domain name"},
		{"rp_id a public suffix", "", pk(`"login":"/pk","rp_id":"co.uk"`), "is a public suffix"},
		{"rp_id a private public suffix", "", pk(`"login":"/pk","rp_id":"github.io"`), "is a public suffix"},
		{"an origin with a path", "", pk(`"login":"/pk","origins":["https://example.com/app"]`), `"https://example.com/app" is not an origin`},
		{"an origin with a trailing slash", "", pk(`"login":"/pk","origins":["https://example.com/"]`), "without a path or trailing slash"},
		{"an origin in upper case", "", pk(`"login":"/pk","origins":["https://Example.com"]`), "must be lower case"},
		{"an http origin", "", pk(`"login":"/pk","origins":["http://example.com"]`), "WebAuthn needs a secure context"},
		{"an origin that is no origin", "", pk(`"login":"/pk","origins":["example.com"]`), "is not an origin"},
		{"an origin off the rp_id", "", pk(`"login":"/pk","rp_id":"example.com","origins":["https://example.org"]`), "origin https://example.org is not on rp_id example.com"},
		{"an origin that only ends like the rp_id", "", pk(`"login":"/pk","rp_id":"example.com","origins":["https://badexample.com"]`), "is not on rp_id"},
		{"access_path that misses register", `{"cookie":{"access_path":"/api/"}}`, `{"deliver":["cookie"],"login":"/login","users":[{"name":"alice","hash":"` + passwordHash(t) + `"}],"passkey":{"register":"/pk/register"}}`,
			"cookie access_path /api/ does not cover the passkey register route /pk/register/begin"},
		{"JSON delivery and no header lookup", "", `{"token_from":["query"],"login":"/login","users":[{"name":"alice","hash":"` + passwordHash(t) + `"}],"passkey":{"credentials":"/pk/credentials"}}`,
			"the credentials route needs the session's access token"},
		{"an unresolved placeholder", "", pk(`"login":"/pk","rp_id":"{env.JWT_TEST_UNSET_RP_ID}"`), "passkey"},
	})
	// what loads: localhost over http, a subdomain origin, the defaults
	f := newFixture(t)
	for _, s := range []string{
		`"login":"/pk","rp_id":"localhost","origins":["http://localhost"]`,
		`"login":"/pk","rp_id":"example.com","origins":["https://example.com","https://app.example.com:8443"]`,
		`"register":"/pk/register","login":"/pk/login","reauth":"/pk/reauth","credentials":"/pk/credentials"`,
	} {
		if _, err := f.tryIssue(pk(s)); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
}

// ---- the routes

const (
	pkOrigin = "https://example.com"
	pkBlock  = `{"rp_id":"example.com","rp_name":"Example","origins":["https://example.com"],` +
		`"register":"/pk/register","login":"/pk/login","reauth":"/pk/reauth","credentials":"/pk/credentials"}`
)

// withPasskeys adds the passkey block pkBlock to the fixture's issuer.
func withPasskeys(h *Issue) {
	if err := json.Unmarshal([]byte(pkBlock), &h.Passkey); err != nil {
		panic(err)
	}
}

// pk drives the passkey routes of a fixture's issuer with a software
// authenticator, over JSON delivery (Authorization: Bearer).
type pk struct {
	t    *testing.T
	f    *fixture
	auth *testkit.Authenticator
	// client is what the browser contributes (its origin by default)
	client testkit.Client
	ip     string
}

func newPK(t *testing.T, f *fixture) *pk {
	return &pk{t: t, f: f, auth: testkit.NewAuthenticator(), client: testkit.Client{Origin: pkOrigin}, ip: fixtureIP}
}

func (p *pk) post(path, access string, body []byte) *httptest.ResponseRecorder {
	p.t.Helper()
	r := jsonPost(path, string(body))
	if access != "" {
		withBearer(r, access)
	}
	return p.f.doFrom(p.ip, r)
}

// begin calls <path>/begin and returns its answer, failing unless 200.
func (p *pk) begin(path, access string) []byte {
	p.t.Helper()
	w := p.post(path+"/begin", access, []byte("{}"))
	if w.Code != http.StatusOK {
		p.t.Fatalf("%s/begin: %d %s", path, w.Code, w.Body)
	}
	return w.Body.Bytes()
}

// register registers a passkey named name for the access token's identity.
func (p *pk) register(access, name string) *httptest.ResponseRecorder {
	p.t.Helper()
	begin := p.begin("/pk/register", access)
	cred, _, err := p.auth.Create(begin, p.client)
	if err != nil {
		p.t.Fatal(err)
	}
	return p.post("/pk/register/finish", access, testkit.FinishBody(begin, cred, map[string]any{"name": name}))
}

// assert runs a login (access "") or reauth ceremony and answers finish.
func (p *pk) assert(path, access string) *httptest.ResponseRecorder {
	p.t.Helper()
	begin := p.begin(path, access)
	cred, err := p.auth.Get(begin, p.client)
	if err != nil {
		p.t.Fatal(err)
	}
	return p.post(path+"/finish", access, testkit.FinishBody(begin, cred, nil))
}

func tokensOf(t *testing.T, w *httptest.ResponseRecorder) (access, refresh string) {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	b := bodyJSON(t, w)
	access, _ = b["access_token"].(string)
	refresh, _ = b["refresh_token"].(string)
	return access, refresh
}

func (f *fixture) passwordLogin(t *testing.T) (access, refresh string) {
	return tokensOf(t, f.do(jsonPost("/login", creds("alice", fixturePassword))))
}

func TestPasskeyRegisterLoginReauth(t *testing.T) {
	f := newFixture(t, withIssuer(withPasskeys, issuerJSON(`{"rotate_refresh":true}`)))
	p := newPK(t, f)
	access, refresh := f.passwordLogin(t)

	w := p.register(access, "laptop")
	if w.Code != http.StatusCreated {
		t.Fatalf("register: %d %s", w.Code, w.Body)
	}
	got := bodyJSON(t, w)
	soft := p.auth.Credentials()[0]
	if got["id"] != soft.EncodedID() || got["name"] != "laptop" || len(got) != 2 {
		t.Fatalf("register answer %v", got)
	}

	// the list
	r := withBearer(httptest.NewRequest(http.MethodGet, "/pk/credentials", nil), access)
	w = f.do(r)
	var list struct {
		Credentials []map[string]any `json:"credentials"`
	}
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &list) != nil || len(list.Credentials) != 1 ||
		list.Credentials[0]["id"] != soft.EncodedID() || list.Credentials[0]["name"] != "laptop" || list.Credentials[0]["last_used"] != nil {
		t.Fatalf("credentials: %d %s", w.Code, w.Body)
	}

	// a passkey sign-in, no username: access and refresh token
	f.clock.Advance(time.Minute)
	pa, pr := tokensOf(t, p.assert("/pk/login", ""))
	_, claims := decodeToken(t, pa)
	if claims["sub"] != "alice" || claims["fresh"] != true || claims["role"] != "admin" || jsonNum(t, claims["auth_time"]) != f.clock.Now().Unix() ||
		!reflect.DeepEqual(claims["amr"], []any{"pop", "user", "mfa"}) {
		t.Fatalf("passkey access token: %v", claims)
	}
	if _, rc := decodeToken(t, pr); rc["type"] != "refresh" || !reflect.DeepEqual(rc["amr"], []any{"pop", "user", "mfa"}) {
		t.Fatalf("passkey refresh token: %v", rc)
	}

	// reauth of the password session after a refresh: fresh, in its family
	f.clock.Advance(time.Minute)
	stale, _ := tokensOf(t, f.refresh(refresh))
	if _, c := decodeToken(t, stale); c["fresh"] != false {
		t.Fatal("a refreshed token is fresh")
	}
	fresh, none := tokensOf(t, p.assert("/pk/reauth", stale))
	if none != "" {
		t.Fatal("reauth answered a refresh token")
	}
	_, fc := decodeToken(t, fresh)
	_, sc := decodeToken(t, stale)
	if fc["fresh"] != true || fc["sub"] != "alice" || fc["fam"] == nil || fc["fam"] != sc["fam"] || jsonNum(t, fc["auth_time"]) != f.clock.Now().Unix() {
		t.Fatalf("reauth token %v (session %v)", fc, sc)
	}
}

func TestPasskeyCookieDeliveryNeedsCSRF(t *testing.T) {
	f := newFixture(t, withIssuer(withPasskeys, deliverCookies))
	p := newPK(t, f)
	ck := f.loginCookies()
	cookieReq := func(path string, body []byte, csrf bool) *http.Request {
		r := jsonPost(path, string(body))
		r.AddCookie(ck["access_token_cookie"])
		if csrf {
			r.Header.Set("X-CSRF-TOKEN", ck["csrf_access_token"].Value)
		}
		return r
	}
	wantMsg(t, f.do(cookieReq("/pk/register/begin", []byte("{}"), false)), 401, "Missing CSRF token")
	w := f.do(cookieReq("/pk/register/begin", []byte("{}"), true))
	if w.Code != 200 {
		t.Fatalf("begin: %d %s", w.Code, w.Body)
	}
	cred, _, _ := p.auth.Create(w.Body.Bytes(), p.client)
	w = f.do(cookieReq("/pk/register/finish", testkit.FinishBody(w.Body.Bytes(), cred, nil), true))
	if w.Code != http.StatusCreated {
		t.Fatalf("finish: %d %s", w.Code, w.Body)
	}
	// a passkey sign-in sets the cookies, as a login does
	w = f.do(jsonPost("/pk/login/begin", "{}"))
	got, _ := p.auth.Get(w.Body.Bytes(), p.client)
	w = f.do(jsonPost("/pk/login/finish", string(testkit.FinishBody(w.Body.Bytes(), got, nil))))
	if c := cookiesOf(w); w.Code != 200 || c["access_token_cookie"] == nil || c["refresh_token_cookie"] == nil || c["csrf_access_token"] == nil {
		t.Fatalf("passkey login with cookies: %d %v", w.Code, w.Header()["Set-Cookie"])
	}
	wantMsg(t, w, 200, "Login successful")
}

func TestPasskeyRegisterNeedsAFreshToken(t *testing.T) {
	f := newFixture(t, withIssuer(withPasskeys))
	p := newPK(t, f)
	_, refresh := f.passwordLogin(t)
	stale, _ := tokensOf(t, f.refresh(refresh))
	for _, path := range []string{"/pk/register/begin", "/pk/register/finish"} {
		w := p.post(path, stale, []byte("{}"))
		wantMsg(t, w, 401, "Fresh token required")
		if c := w.Header().Get("WWW-Authenticate"); !strings.Contains(c, `error="insufficient_user_authentication"`) {
			t.Errorf("%s: challenge %q", path, c)
		}
		wantMsg(t, p.post(path, "", []byte("{}")), 401, "Missing Authorization Header")
		wantMsg(t, p.post(path, refresh, []byte("{}")), 401, "Only non-refresh tokens are allowed")
	}
	// no passkey to step up with
	fresh, _ := f.passwordLogin(t)
	wantMsg(t, p.post("/pk/reauth/begin", fresh, []byte("{}")), 400, "No passkey registered")
	if creds, _ := f.h.passkey.svc.Credentials(context.Background(), "alice"); len(creds) != 0 {
		t.Fatal("a passkey was registered")
	}
}

func TestPasskeyCredentialsDelete(t *testing.T) {
	f := newFixture(t, withIssuer(withPasskeys, func(h *Issue) {
		h.Users = append(h.Users, User{Name: "bob", Hash: passwordHash(t)})
	}))
	alice, bob := newPK(t, f), newPK(t, f)
	aliceAccess, aliceRefresh := f.passwordLogin(t)
	bobAccess, _ := tokensOf(t, f.do(jsonPost("/login", creds("bob", fixturePassword))))
	if w := alice.register(aliceAccess, "alice's"); w.Code != 201 {
		t.Fatal(w.Body)
	}
	if w := bob.register(bobAccess, "bob's"); w.Code != 201 {
		t.Fatal(w.Body)
	}
	del := func(access, id string) *httptest.ResponseRecorder {
		return f.do(withBearer(httptest.NewRequest(http.MethodDelete, "/pk/credentials?id="+id, nil), access))
	}
	aliceID, bobID := alice.auth.Credentials()[0].EncodedID(), bob.auth.Credentials()[0].EncodedID()
	// another identity's passkey: 404, and bob still signs in with it
	wantMsg(t, del(aliceAccess, bobID), 404, "Passkey not found")
	if a, _ := tokensOf(t, bob.assert("/pk/login", "")); a == "" {
		t.Fatal("bob cannot sign in")
	}
	// a non-fresh token cannot delete
	stale, _ := tokensOf(t, f.refresh(aliceRefresh))
	wantMsg(t, del(stale, aliceID), 401, "Fresh token required")
	wantMsg(t, del(aliceAccess, ""), 400, `Missing "id" query parameter`)
	wantMsg(t, del(aliceAccess, aliceID), 200, "Passkey removed")
	// a removed passkey can no longer sign in
	wantMsg(t, alice.assert("/pk/login", ""), 401, "Passkey not accepted")
	w := f.do(withBearer(httptest.NewRequest(http.MethodGet, "/pk/credentials", nil), aliceAccess))
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"credentials":[]`) {
		t.Fatalf("list after delete: %s", w.Body)
	}
	// other methods
	w = f.do(withBearer(httptest.NewRequest(http.MethodPut, "/pk/credentials", nil), aliceAccess))
	if w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD, DELETE" {
		t.Fatalf("PUT: %d %q", w.Code, w.Header().Get("Allow"))
	}
}

func TestPasskeyAssertionRefusals(t *testing.T) {
	f := newFixture(t, withIssuer(withPasskeys, issuerJSON(`{"throttle":{"max_per_user":100}}`), func(h *Issue) {
		h.Users = append(h.Users, User{Name: "bob", Hash: passwordHash(t)})
	}))
	alice, bob := newPK(t, f), newPK(t, f)
	aliceAccess, _ := f.passwordLogin(t)
	bobAccess, _ := tokensOf(t, f.do(jsonPost("/login", creds("bob", fixturePassword))))
	alice.register(aliceAccess, "a")
	bob.register(bobAccess, "b")
	aliceFails := eventsTestSubscribe(t, f.app, eventLoginFailed)

	for _, tc := range []struct {
		name   string
		client testkit.Client
		status int
		msg    string
	}{
		{"wrong origin", testkit.Client{Origin: "https://evil.example"}, 401, "Passkey not accepted"},
		{"wrong RP ID", testkit.Client{Origin: pkOrigin, RPID: "evil.example"}, 401, "Passkey not accepted"},
		{"user verification missing", testkit.Client{Origin: pkOrigin, NoUV: true}, 401, "Passkey not accepted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alice.client = tc.client
			wantMsg(t, alice.assert("/pk/login", ""), tc.status, tc.msg)
			alice.client = tc.client
			wantMsg(t, alice.assert("/pk/reauth", aliceAccess), tc.status, tc.msg)
		})
	}
	alice.client = testkit.Client{Origin: pkOrigin}
	if got := aliceFails(); len(got) != 6 || got[0].Data["identity"] != "alice" || got[0].Data["reason"] != "passkey" {
		t.Fatalf("jwt_login_failed events: %v", got)
	}

	t.Run("ceremony finished twice", func(t *testing.T) {
		begin := alice.begin("/pk/login", "")
		cred, _ := alice.auth.Get(begin, alice.client)
		body := testkit.FinishBody(begin, cred, nil)
		if w := alice.post("/pk/login/finish", "", body); w.Code != 200 {
			t.Fatal(w.Body)
		}
		wantMsg(t, alice.post("/pk/login/finish", "", body), 400, "Passkey ceremony unknown, expired or already finished")
	})
	t.Run("ceremony expired", func(t *testing.T) {
		begin := alice.begin("/pk/login", "")
		cred, _ := alice.auth.Get(begin, alice.client)
		f.clock.Advance(2 * time.Minute)
		wantMsg(t, alice.post("/pk/login/finish", "", testkit.FinishBody(begin, cred, nil)), 400, "Passkey ceremony unknown, expired or already finished")
	})
	t.Run("another identity's credential on reauth", func(t *testing.T) {
		begin := alice.begin("/pk/reauth", aliceAccess)
		cred, err := bob.auth.Get(begin, testkit.Client{Origin: pkOrigin, Credential: bob.auth.Credentials()[0]})
		if err != nil {
			t.Fatal(err)
		}
		wantMsg(t, alice.post("/pk/reauth/finish", aliceAccess, testkit.FinishBody(begin, cred, nil)), 401, "Passkey not accepted")
		// nor alice's ceremony finished with bob's session
		begin = alice.begin("/pk/reauth", aliceAccess)
		cred, _ = alice.auth.Get(begin, alice.client)
		wantMsg(t, alice.post("/pk/reauth/finish", bobAccess, testkit.FinishBody(begin, cred, nil)), 400, "Passkey ceremony unknown, expired or already finished")
	})
	t.Run("a body that is not JSON", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodPost, "/pk/login/finish", strings.NewReader("id=x"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		wantMsg(t, f.do(r), 415, "Content-Type must be application/json")
	})
	t.Run("GET of a finish route passes on", func(t *testing.T) {
		s := f.serve(f.h, httptest.NewRequest(http.MethodGet, "/pk/login/finish", nil))
		if !s.next.called {
			t.Fatal("GET /pk/login/finish did not pass on")
		}
	})
}

func TestPasskeySignCountBackwards(t *testing.T) {
	f := newFixture(t, withIssuer(withPasskeys))
	p := newPK(t, f)
	access, _ := f.passwordLogin(t)
	p.register(access, "k")
	for range 2 {
		tokensOf(t, p.assert("/pk/login", ""))
	}
	events := eventsTestSubscribe(t, f.app, eventPasskeySignCount)
	logs := f.observeIssuer()
	p.auth.SetSignCount(p.auth.Credentials()[0], 0) // signs with 1; 2 is stored
	wantMsg(t, p.assert("/pk/login", ""), 401, "Passkey not accepted")
	got := events()
	if len(got) != 1 || got[0].Data["identity"] != "alice" || got[0].Data["reason"] != "sign_count" || got[0].Data["remote_ip"] != fixtureIP {
		t.Fatalf("jwt_passkey_sign_count events: %v", got)
	}
	if n := logs.FilterMessageSnippet("sign count went backwards").Len(); n != 1 {
		t.Fatalf("%d log lines about the sign count", n)
	}
}

func TestPasskeyThrottle(t *testing.T) {
	f := newFixture(t, withIssuer(withPasskeys, issuerJSON(`{"throttle":{"max_per_user":2,"max_per_ip":3,"window":900000000000}}`)))
	p := newPK(t, f)
	access, _ := f.passwordLogin(t)
	p.register(access, "k")

	// failed sign-ins count by client IP
	p.client.Origin = "https://evil.example"
	p.ip = "203.0.113.1"
	for i := 0; i < 3; i++ {
		wantMsg(t, p.assert("/pk/login", ""), 401, "Passkey not accepted")
	}
	p.client.Origin = pkOrigin
	w := p.assert("/pk/login", "")
	wantMsg(t, w, 429, "Too many failed login attempts")
	if w.Header().Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	// ... and by identity, where the credential named one: alice has two
	// failures now, so her password login from another IP is throttled
	wantMsg(t, f.doFrom("198.51.100.7", jsonPost("/login", creds("alice", fixturePassword))), 429, "Too many failed login attempts")
	// another IP still signs in with the passkey (the identity's count
	// does not block passkey sign-ins, whose user is known only after)
	p.ip = "198.51.100.8"
	tokensOf(t, p.assert("/pk/login", ""))
}

func TestPasskeyReauthThrottleByIdentity(t *testing.T) {
	f := newFixture(t, withIssuer(withPasskeys, issuerJSON(`{"throttle":{"max_per_user":2,"max_per_ip":100,"window":900000000000}}`)))
	p := newPK(t, f)
	access, _ := f.passwordLogin(t)
	p.register(access, "k")
	p.client.NoUV = true
	for i := 0; i < 2; i++ {
		wantMsg(t, p.assert("/pk/reauth", access), 401, "Passkey not accepted")
	}
	p.client.NoUV = false
	p.ip = "198.51.100.9"
	wantMsg(t, p.post("/pk/reauth/finish", access, []byte(`{"ceremony":"x"}`)), 429, "Too many failed login attempts")
}

// Revoking an identity (admin API, logout all) ends its passkey sessions;
// a later passkey sign-in starts a new one.
func TestPasskeyIdentityRevocation(t *testing.T) {
	f := newFixture(t, withIssuer(withPasskeys))
	p := newPK(t, f)
	access, _ := f.passwordLogin(t)
	p.register(access, "k")
	pa, pr := tokensOf(t, p.assert("/pk/login", ""))
	auth := f.auth(nil)
	if s := f.serve(auth, bearerGet(pa)); !s.next.called {
		t.Fatalf("the passkey token is refused: %d %s", s.rec.Code, s.rec.Body)
	}
	if err := f.app.revoked.revokeIdentity(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	wantMsg(t, f.serve(auth, bearerGet(pa)).rec, 401, "Token has been revoked")
	wantMsg(t, f.refresh(pr), 401, "Token has been revoked")
	f.clock.Advance(time.Second)
	pa, _ = tokensOf(t, p.assert("/pk/login", ""))
	if s := f.serve(auth, bearerGet(pa)); !s.next.called {
		t.Fatal("a new passkey sign-in after the revocation is refused")
	}
}

// A ceremony begun on one instance finishes on another sharing the
// storage: registration, sign-in and step-up.
func TestPasskeyAcrossInstances(t *testing.T) {
	f := newFixture(t, withIssuer(withPasskeys))
	g := f.again()
	pf, pg := newPK(t, f), newPK(t, g)
	pg.auth = pf.auth
	access, _ := f.passwordLogin(t)
	begin := pf.begin("/pk/register", access)
	cred, _, _ := pf.auth.Create(begin, pf.client)
	if w := pg.post("/pk/register/finish", access, testkit.FinishBody(begin, cred, nil)); w.Code != 201 {
		t.Fatalf("register across: %d %s", w.Code, w.Body)
	}
	begin = pg.begin("/pk/login", "")
	got, _ := pf.auth.Get(begin, pf.client)
	pa, _ := tokensOf(t, pf.post("/pk/login/finish", "", testkit.FinishBody(begin, got, nil)))
	begin = pf.begin("/pk/reauth", pa)
	got, _ = pf.auth.Get(begin, pf.client)
	tokensOf(t, pg.post("/pk/reauth/finish", pa, testkit.FinishBody(begin, got, nil)))
}

// With `refresh ... upstream`, the app confirms a passkey sign-in as a
// delegated refresh: it sees the identity and the claims the passkey was
// registered with on the refresh path, may refuse, and its claims are used.
func TestPasskeyConfirmedByTheApp(t *testing.T) {
	f := newFixture(t, withIssuer(withPasskeys, func(h *Issue) {
		h.Login, h.Reauth, h.Users = "", "", nil
		h.Login = "/login"
		h.Upstream = []string{"login", "refresh"}
	}))
	p := newPK(t, f)
	var app appAnswers
	app.vouch("alice", `{"role":"admin"}`)
	w, err := f.doNext(jsonPost("/login", creds("alice", "pw")), &app)
	if err != nil {
		t.Fatal(err)
	}
	access, _ := tokensOf(t, w)
	begin := p.begin("/pk/register", access)
	cred, _, _ := p.auth.Create(begin, p.client)
	if w := p.post("/pk/register/finish", access, testkit.FinishBody(begin, cred, nil)); w.Code != 201 {
		t.Fatal(w.Body)
	}

	app.vouch("alice", `{"role":"owner"}`)
	begin = p.begin("/pk/login", "")
	got, _ := p.auth.Get(begin, p.client)
	w, err = f.doNext(jsonPost("/pk/login/finish", string(testkit.FinishBody(begin, got, nil))), &app)
	if err != nil {
		t.Fatal(err)
	}
	pa, _ := tokensOf(t, w)
	if _, c := decodeToken(t, pa); c["role"] != "owner" {
		t.Fatalf("claims %v, want the app's", c)
	}
	seen := app.last
	if seen.URL.Path != "/refresh" || seen.Header.Get("X-Jwt-Issue-Route") != "refresh" || seen.Header.Get("X-Jwt-Identity") != "alice" ||
		seen.Header.Get("X-Jwt-Type") != "refresh" || seen.ContentLength != 0 {
		t.Fatalf("the app saw %s %s %v", seen.Method, seen.URL, seen.Header)
	}
	claims := decodeClaimsHeader(t, seen.Header.Get("X-Jwt-Claims"))
	if claims["role"] != "admin" || !slices.Equal(anyStrings(claims["amr"]), []string{"pop", "user", "mfa"}) {
		t.Fatalf("the app saw claims %v", claims)
	}

	// the app refuses a disabled account: its answer goes to the client
	app.refuse(403, `{"msg":"Account disabled"}`)
	begin = p.begin("/pk/login", "")
	got, _ = p.auth.Get(begin, p.client)
	w, _ = f.doNext(jsonPost("/pk/login/finish", string(testkit.FinishBody(begin, got, nil))), &app)
	if w.Code != 403 || !strings.Contains(w.Body.String(), "Account disabled") || w.Header().Get("Set-Cookie") != "" {
		t.Fatalf("refused by the app: %d %s", w.Code, w.Body)
	}
}

// appAnswers is an app behind jwt_issue that vouches or refuses, and
// records the last request.
type appAnswers struct {
	status   int
	identity string
	claims   string
	body     string
	last     *http.Request
}

func (a *appAnswers) vouch(identity, claims string) {
	*a = appAnswers{status: 200, identity: identity, claims: claims}
}
func (a *appAnswers) refuse(status int, body string) { *a = appAnswers{status: status, body: body} }

func (a *appAnswers) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	a.last = r.Clone(r.Context())
	if a.identity != "" {
		w.Header().Set("X-Jwt-Issue-Identity", a.identity)
		if a.claims != "" {
			w.Header().Set("X-Jwt-Issue-Claims", a.claims)
		}
	}
	w.WriteHeader(a.status)
	_, _ = w.Write([]byte(a.body))
	return nil
}

var _ caddyhttp.Handler = (*appAnswers)(nil)

// decodeClaimsHeader reads X-Jwt-Claims: base64url JSON.
func decodeClaimsHeader(t *testing.T, v string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		t.Fatalf("X-Jwt-Claims %q: %v", v, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func anyStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// A local user who is gone from the users cannot sign in with a passkey,
// as their refresh would be refused.
func TestPasskeyOfARemovedUser(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t, inStorage(dir), withIssuer(withPasskeys, func(h *Issue) {
		h.Users = append(h.Users, User{Name: "bob", Hash: passwordHash(t)})
	}))
	p := newPK(t, f)
	bobAccess, _ := tokensOf(t, f.do(jsonPost("/login", creds("bob", fixturePassword))))
	p.register(bobAccess, "k")
	g := f.again() // bob removed from the users
	g.h = g.issue(func() *Issue { h := defaultIssue(t); withPasskeys(h); return h }())
	p.f = g
	wantMsg(t, p.assert("/pk/login", ""), 401, "User not found")
}

// The page docs/passkeys.md shows is examples/passkeys/index.html, which
// the e2e test drives in Chromium.
func TestPasskeyDocsPage(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("docs/passkeys.md")
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile("examples/passkeys/index.html")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```html\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 || block != string(page) {
		t.Fatal("docs/passkeys.md's html block is not examples/passkeys/index.html")
	}
}

// TestPasskeyBeginsBoundedPerIP: every begin writes a ceremony to
// storage, and login/begin needs no token, so each client IP may begin
// at most maxBeginsPerIP ceremonies per window; another IP, or the same
// one once the window has passed, begins again.
func TestPasskeyBeginsBoundedPerIP(t *testing.T) {
	f := newFixture(t, withIssuer(withPasskeys))
	p := newPK(t, f)
	p.ip = "203.0.113.20"
	for i := 0; i < maxBeginsPerIP; i++ {
		p.begin("/pk/login", "")
	}
	w := p.post("/pk/login/begin", "", []byte("{}"))
	wantMsg(t, w, 429, "Too many passkey ceremonies begun")
	if w.Header().Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	access, _ := f.passwordLogin(t)
	wantMsg(t, p.post("/pk/reauth/begin", access, []byte("{}")), 429, "Too many passkey ceremonies begun")

	p.ip = "203.0.113.21"
	p.begin("/pk/login", "")
	p.ip = "203.0.113.20"
	f.clock.Advance(maxBeginsWindow + time.Second)
	p.begin("/pk/login", "")
}

// TestPasskeyRegisterRefusals: registering needs an access token issued
// here (another trusted issuer's token, fresh or not, names no session of
// this app), and a credential id that is registered already is refused
// with 409, whoever registers it.
func TestPasskeyRegisterRefusals(t *testing.T) {
	idp := testkit.Keys()["rsa"]
	f := newFixture(t, withApp(func(a *App) {
		a.PublicKeys = []KeyFile{{File: testkit.WritePKIX(t, idp.Public()), KID: "idp"}}
	}), withIssuer(withPasskeys))
	now := fixtureT0.Unix()
	foreign := testkit.SignToken(t, "RS256", idp, map[string]any{"kid": "idp"}, map[string]any{
		"sub": "alice", "type": "access", "fresh": true, "jti": "idp-a1", "iat": now, "nbf": now, "exp": now + 3600,
	})
	p := newPK(t, f)
	wantMsg(t, p.post("/pk/register/begin", foreign, []byte("{}")), 401, "Only access tokens issued here can be used here")

	access, _ := f.passwordLogin(t)
	if w := p.register(access, "laptop"); w.Code != http.StatusCreated {
		t.Fatalf("register: %d %s", w.Code, w.Body)
	}
	taken := p.auth.Credentials()[0].ID
	other := newPK(t, f)
	other.client.ID = taken
	w := other.register(access, "the same id")
	wantMsg(t, w, http.StatusConflict, "Passkey already registered")
	if got := p.auth.Credentials(); len(got) != 1 {
		t.Fatalf("authenticator holds %d credentials", len(got))
	}
	// the first registration still signs in
	tokensOf(t, p.assert("/pk/login", ""))
}

// TestPasskeyRoutesOwnTheirPaths: the passkey routes own their paths up
// to case and a trailing slash, as every jwt_issue route does: another
// method is 405 with Allow; a GET of a ceremony path passes on to the app
// without X-Jwt-Issue-Route and is never a ceremony.
func TestPasskeyRoutesOwnTheirPaths(t *testing.T) {
	f := newFixture(t, withIssuer(withPasskeys))
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodPost, "/pk/credentials", "GET, HEAD, DELETE"},
		{http.MethodPut, "/PK/CREDENTIALS/", "GET, HEAD, DELETE"},
		{http.MethodDelete, "/pk/login/begin", "POST"},
		{http.MethodPatch, "/pk/reauth/FINISH", "POST"},
	} {
		w := f.do(httptest.NewRequest(tc.method, tc.path, nil))
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d Allow %q, want 405 Allow %q", tc.method, tc.path, w.Code, w.Header().Get("Allow"), tc.allow)
		}
	}
	app := &delegateApp{answer: answerWith(200, "the app's page")}
	w, err := f.doNext(httptest.NewRequest(http.MethodGet, "/Pk/Login/Begin/", nil), app)
	if err != nil || w.Code != 200 || w.Body.String() != "the app's page" || app.calls.Load() != 1 ||
		app.header.Get("X-Jwt-Issue-Route") != "" || w.Header().Get("X-Jwt-Issue-Debug") != "" {
		t.Fatalf("GET of a ceremony path: %v %d %q, app calls %d, app saw %v", err, w.Code, w.Body, app.calls.Load(), app.header)
	}
}
