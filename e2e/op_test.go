// A real OpenID Provider for the OIDC tests of issue 20: startOP runs the
// OP of github.com/zitadel/oidc/v3 (its pkg/op package) on a free port of
// 127.0.0.1 over plain HTTP, with users and clients the test registers at
// run time, a login page a browser (chromedp) or an http.Client can fill,
// a session at the OP, and switches for the negative tests.
//
// What is the library's (pkg/op, not written here): discovery
// (/.well-known/openid-configuration), the JWKS (/keys), the authorization
// endpoint (/authorize: parsing, client and redirect_uri validation, prompt
// validation, which turns prompt=login into max_age=0, PKCE method check),
// the return from the login UI (/authorize/callback: the code or the error
// redirect with state), the token endpoint (/oauth/token: client
// authentication by client_secret_basic or client_secret_post, PKCE
// verification of code_verifier, PKCE required for a client with auth
// method none, redirect_uri and grant checks, single use of the code
// through the storage), the ID token (iss, sub, aud, azp, exp, iat,
// auth_time, nonce, acr, amr, at_hash, c_hash, the userinfo claims) and its
// RS256 signature, and /userinfo.
//
// What is written here, as every deployment of pkg/op must (the library
// delegates them to the storage and the login UI): an in-memory storage
// implementing op.Storage (zitadel's example storage reports no acr, sets
// auth_time only inside its own password check with no way for a test to
// choose it, has no OP session and refuses every prompt=none), the login
// page at /login, and the OP session: a cookie
// op_session_<port> that lets an authorization request without prompt=login
// complete without the form and with the session's OLD auth_time, unless
// its max_age (prompt=login arrives here as max_age=0) has passed since that
// auth_time. prompt=none without a usable session answers login_required.
//
// The login page (GET /login?authRequestID=<id>) is a form with the element
// ids #username, #password, #submit (sign in) and #deny (cancel: the library
// redirects with error=access_denied); a refused password renders the form
// again with #error holding the message. The form itself is #op-login.

package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"html/template"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// The OP's default users. mallory claims alice's address without having
// verified it: the account takeover that identity_claim email must refuse.
const (
	opAlice           = "alice"
	opAlicePassword   = "alice's provider password"
	opAliceSub        = "op-user-alice"
	opAliceEmail      = "alice@example.com"
	opMallory         = "mallory"
	opMalloryPassword = "mallory's provider password"
	opMallorySub      = "op-user-mallory"
)

// opEndpoint names what testOP counts, fails and stalls. The first eight
// are requests (by path and method); opFormShown and opSessionReused are
// what the login UI did with a GET /login.
type opEndpoint string

const (
	opDiscovery     opEndpoint = "discovery"      // /.well-known/openid-configuration
	opJWKS          opEndpoint = "jwks"           // /keys
	opAuthorize     opEndpoint = "authorize"      // /authorize
	opCallback      opEndpoint = "callback"       // /authorize/callback: the login UI hands back to the library
	opToken         opEndpoint = "token"          // /oauth/token
	opUserinfo      opEndpoint = "userinfo"       // /userinfo
	opLogin         opEndpoint = "login"          // GET /login
	opLoginSubmit   opEndpoint = "login_submit"   // POST /login
	opFormShown     opEndpoint = "form_shown"     // GET /login rendered the form
	opSessionReused opEndpoint = "session_reused" // GET /login completed from the OP session, no form
)

// opUser is an account at the OP.
type opUser struct {
	Username, Password string
	Subject            string // sub; default "op-user-" + Username
	Email              string
	EmailVerified      bool
	// OmitEmailVerified leaves email_verified out instead of stating
	// false (the library's oidc.UserInfo would drop a false one, so the
	// storage adds it as an extra claim, as Google's tokens state it).
	OmitEmailVerified bool
	Name              string
	ACR               string   // the ID token's acr when set
	AMR               []string // the ID token's amr; default ["pwd"]
}

// opClient is a relying party registered at the OP.
type opClient struct {
	ID string
	// Secret "" registers a public client: token endpoint auth method
	// none, for which the library requires PKCE. Otherwise a confidential
	// client that may use client_secret_basic or client_secret_post.
	Secret       string
	RedirectURIs []string // matched exactly; http is allowed
	// ClaimsInUserinfoOnly leaves email, email_verified and the profile
	// claims out of the ID token (OIDC Core 5.4 read strictly, as some
	// providers do): the RP must call userinfo for them.
	ClaimsInUserinfoOnly bool
	IDTokenLifetime      time.Duration // default 1h
}

type opConfig struct {
	path string
}

type opOption func(*opConfig)

// opIssuerPath serves the OP under a path, as Keycloak does
// (http://127.0.0.1:<port>/realms/test): the issuer and every endpoint
// carry it.
func opIssuerPath(path string) opOption {
	return func(c *opConfig) { c.path = "/" + strings.Trim(path, "/") }
}

// testOP is a running OP. Its methods are safe for concurrent use.
type testOP struct {
	Issuer string // http://127.0.0.1:<port>[path], no trailing slash

	addr     string
	path     string
	cookie   string
	provider *op.Provider
	store    *opStorage
	handler  http.Handler

	mu           sync.Mutex
	srv          *http.Server
	served       chan struct{}
	stopped      bool
	counts       map[opEndpoint]int
	fail         map[opEndpoint]int
	stall        map[opEndpoint]bool
	unstall      chan struct{} // closed to release stalled requests
	rewrite      func(map[string]any)
	unknownKey   *rsa.PrivateKey
	unknownKeyID string
}

// startOP starts an OP with the users alice and mallory and no clients.
func startOP(t *testing.T, opts ...opOption) *testOP {
	t.Helper()
	var cfg opConfig
	for _, opt := range opts {
		opt(&cfg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	o := &testOP{
		Issuer:  fmt.Sprintf("http://127.0.0.1:%d%s", port, cfg.path),
		addr:    ln.Addr().String(),
		path:    cfg.path,
		cookie:  fmt.Sprintf("op_session_%d", port),
		counts:  map[opEndpoint]int{},
		fail:    map[opEndpoint]int{},
		stall:   map[opEndpoint]bool{},
		unstall: make(chan struct{}),
	}
	o.store, err = newOPStorage(cfg.path + "/login")
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	var cryptoKey [32]byte
	rand.Read(cryptoKey[:])
	o.provider, err = op.NewProvider(&op.Config{
		CryptoKey:      cryptoKey,
		CryptoKeyId:    "code-key",
		CodeMethodS256: true,
		AuthMethodPost: true,
	}, o.store, op.StaticIssuer(o.Issuer), op.WithAllowInsecure())
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	o.AddUser(opUser{Username: opAlice, Password: opAlicePassword, Subject: opAliceSub,
		Email: opAliceEmail, EmailVerified: true, Name: "Alice Example"})
	o.AddUser(opUser{Username: opMallory, Password: opMalloryPassword, Subject: opMallorySub,
		Email: opAliceEmail, EmailVerified: false, Name: "Mallory Example"})

	mux := http.NewServeMux()
	mux.HandleFunc("/login", o.serveLogin)
	mux.Handle("/", o.provider)
	var h http.Handler = o.middleware(mux)
	if cfg.path != "" {
		prefixed := http.NewServeMux()
		prefixed.Handle(cfg.path+"/", http.StripPrefix(cfg.path, h))
		h = prefixed
	}
	o.handler = h
	o.serve(ln)
	t.Cleanup(o.stop)
	return o
}

func (o *testOP) serve(ln net.Listener) {
	srv := &http.Server{Handler: o.handler, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	o.srv, o.served = srv, done
}

// down closes the listener and every connection; o.mu is held.
func (o *testOP) down() {
	if o.srv == nil {
		return
	}
	close(o.unstall)
	o.unstall = make(chan struct{})
	o.srv.Close()
	<-o.served
	o.srv, o.served = nil, nil
}

func (o *testOP) stop() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stopped = true
	o.down()
}

// SetUnreachable(true) closes the OP's port, so that connections are
// refused, and SetUnreachable(false) listens on the same port again.
func (o *testOP) SetUnreachable(unreachable bool) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.stopped {
		return errors.New("OP stopped")
	}
	if unreachable {
		o.down()
		return nil
	}
	if o.srv != nil {
		return nil
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen again on %s: %w", o.addr, err)
	}
	o.serve(ln)
	return nil
}

// Fail makes every request to ep answer status with an OAuth error body
// ({"error":"server_error"}) before the OP sees it; status 0 heals it.
func (o *testOP) Fail(ep opEndpoint, status int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if status == 0 {
		delete(o.fail, ep)
		return
	}
	o.fail[ep] = status
}

// Stall holds every request to ep without an answer until the client
// gives up, Stall(ep, false) is called or the OP stops.
func (o *testOP) Stall(ep opEndpoint, stall bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if stall {
		o.stall[ep] = true
		return
	}
	delete(o.stall, ep)
	close(o.unstall)
	o.unstall = make(chan struct{})
}

// Count is how many requests reached ep (or, for opFormShown and
// opSessionReused, how often the login UI did that) since the start or
// the last ResetCounts. Failed and stalled requests count too.
func (o *testOP) Count(ep opEndpoint) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.counts[ep]
}

// Counts is every count, for failure messages.
func (o *testOP) Counts() map[opEndpoint]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return maps.Clone(o.counts)
}

func (o *testOP) ResetCounts() {
	o.mu.Lock()
	defer o.mu.Unlock()
	clear(o.counts)
}

func (o *testOP) count(ep opEndpoint) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.counts[ep]++
}

// RewriteTokenResponse passes the JSON object of every successful token
// endpoint response through rewrite before the client reads it (nil
// turns it off). The OP itself is unchanged: it issued, and forgot, the
// code as usual.
func (o *testOP) RewriteTokenResponse(rewrite func(body map[string]any)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.rewrite = rewrite
}

// RewriteIDToken replaces the id_token of every successful token response
// by rewrite(the OP's id_token); nil turns it off. rewrite may use
// opDecodeClaims and Sign, SignUnknownKid, SignHS256 or Unsigned.
func (o *testOP) RewriteIDToken(rewrite func(idToken string) string) {
	if rewrite == nil {
		o.RewriteTokenResponse(nil)
		return
	}
	o.RewriteTokenResponse(func(body map[string]any) {
		if tok, ok := body["id_token"].(string); ok {
			body["id_token"] = rewrite(tok)
		}
	})
}

func (o *testOP) classify(r *http.Request) opEndpoint {
	switch p := r.URL.Path; {
	case p == oidc.DiscoveryEndpoint:
		return opDiscovery
	case p == o.provider.KeysEndpoint().Relative():
		return opJWKS
	case p == o.provider.AuthorizationEndpoint().Relative():
		return opAuthorize
	case p == o.provider.AuthorizationEndpoint().Relative()+"/callback":
		return opCallback
	case p == o.provider.TokenEndpoint().Relative():
		return opToken
	case p == o.provider.UserinfoEndpoint().Relative():
		return opUserinfo
	case p == "/login" && r.Method == http.MethodPost:
		return opLoginSubmit
	case p == "/login":
		return opLogin
	}
	return ""
}

// middleware counts, fails, stalls and rewrites, in front of the OP and
// its login UI.
func (o *testOP) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ep := o.classify(r)
		o.mu.Lock()
		if ep != "" {
			o.counts[ep]++
		}
		status, stall, unstall, rewrite := o.fail[ep], o.stall[ep], o.unstall, o.rewrite
		o.mu.Unlock()
		if stall {
			select {
			case <-r.Context().Done():
			case <-unstall:
			}
			return
		}
		if status != 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			io.WriteString(w, `{"error":"server_error","error_description":"failure injected by the test"}`)
			return
		}
		if ep != opToken || rewrite == nil {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if rec.Code == http.StatusOK {
			var m map[string]any
			if json.Unmarshal(body, &m) == nil {
				if err := opRewrite(rewrite, m); err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				body, _ = json.Marshal(m)
			}
		}
		for k, v := range rec.Header() {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(rec.Code)
		w.Write(body)
	})
}

// opRewrite runs the test's rewrite; a panic in it becomes an error that
// the token endpoint answers with 500, for the test to see.
func opRewrite(rewrite func(map[string]any), body map[string]any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("the test's token response rewrite panicked: %v", p)
		}
	}()
	rewrite(body)
	return nil
}

// AddUser adds or replaces an account.
func (o *testOP) AddUser(u opUser) {
	if u.Subject == "" {
		u.Subject = "op-user-" + u.Username
	}
	if u.AMR == nil {
		u.AMR = []string{"pwd"}
	}
	s := o.store
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.Username] = &u
}

// AddClient registers a client: confidential with a secret, public (PKCE
// required) with secret "".
func (o *testOP) AddClient(id, secret string, redirectURIs ...string) {
	o.RegisterClient(opClient{ID: id, Secret: secret, RedirectURIs: redirectURIs})
}

// RegisterClient adds or replaces a client.
func (o *testOP) RegisterClient(c opClient) {
	if c.IDTokenLifetime == 0 {
		c.IDTokenLifetime = time.Hour
	}
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	s := o.store
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[c.ID] = &opZClient{c: c, loginPath: s.loginPath}
}

// SetNextAuthTime makes the next password login of username report at
// as its auth_time (and start an OP session with it), as if the user had
// typed the password then: time.Now().Add(-time.Hour) is a user who signed
// in at the provider an hour ago. It is used once.
func (o *testOP) SetNextAuthTime(username string, at time.Time) {
	s := o.store
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextAuthTime[username] = at
}

// ForgetSessions ends every OP session: the next authorization request
// shows the form whatever the browser's cookie.
func (o *testOP) ForgetSessions() {
	s := o.store
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.sessions)
}

// KeyID is the kid of the OP's signing key, which its JWKS publishes.
func (o *testOP) KeyID() string { return o.store.kid }

// Claims are the claims the OP puts in an ID token for username and
// clientID (with nonce when not ""), issued now, auth_time now: a valid
// starting point for a token a test edits and signs itself.
func (o *testOP) Claims(clientID, username, nonce string) map[string]any {
	s := o.store
	s.mu.Lock()
	u, ok := s.users[username]
	s.mu.Unlock()
	if !ok {
		panic("testOP.Claims: no user " + username)
	}
	now := time.Now()
	c := map[string]any{
		"iss":            o.Issuer,
		"sub":            u.Subject,
		"aud":            []any{clientID},
		"azp":            clientID,
		"client_id":      clientID,
		"exp":            now.Add(time.Hour).Unix(),
		"iat":            now.Unix(),
		"auth_time":      now.Unix(),
		"amr":            slices.Clone(u.AMR),
		"email":          u.Email,
		"email_verified": u.EmailVerified,
	}
	if nonce != "" {
		c["nonce"] = nonce
	}
	if u.ACR != "" {
		c["acr"] = u.ACR
	}
	return c
}

// Sign signs claims with the OP's own key and kid (RS256), as the library
// signs its ID tokens.
func (o *testOP) Sign(claims map[string]any) string {
	key, _ := o.store.SigningKey(context.Background())
	signer, err := op.SignerFromKey(key)
	if err != nil {
		panic(err)
	}
	return signJWT(signer, claims)
}

// SignUnknownKid signs claims (RS256) with a key the OP does not publish,
// under a kid its JWKS does not have.
func (o *testOP) SignUnknownKid(claims map[string]any) string {
	o.mu.Lock()
	if o.unknownKey == nil {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			o.mu.Unlock()
			panic(err)
		}
		o.unknownKey, o.unknownKeyID = key, "unknown-"+rand.Text()
	}
	key, kid := o.unknownKey, o.unknownKeyID
	o.mu.Unlock()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		panic(err)
	}
	return signJWT(signer, claims)
}

// SignHS256 signs claims with HMAC-SHA256 keyed by secret (a client
// secret, say): the algorithm confusion an RP must refuse. It is made by
// hand because go-jose refuses HMAC keys shorter than 256 bits, and client
// secrets often are.
func (o *testOP) SignHS256(claims map[string]any, secret string) string {
	input := opJWTInput(`{"alg":"HS256","typ":"JWT"}`, claims)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// Unsigned is claims as a JWT with alg none and an empty signature.
func (o *testOP) Unsigned(claims map[string]any) string {
	return opJWTInput(`{"alg":"none","typ":"JWT"}`, claims) + "."
}

func opJWTInput(header string, claims map[string]any) string {
	payload, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc(payload)
}

func signJWT(signer jose.Signer, claims map[string]any) string {
	payload, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		panic(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		panic(err)
	}
	return s
}

// opDecodeClaims reads a JWT's claims without verifying anything.
func opDecodeClaims(token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("not a compact JWT: %d parts", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, err
	}
	return claims, nil
}

// Login completes the authorization request authURL (the RP's URL to the
// OP's /authorize) with client as the browser: it follows the OP's
// redirects, fills the login form with user and password when the OP
// shows it, and returns the URL the OP redirects to at the RP's
// redirect_uri (with code and state, or error) without requesting it.
// With a cookie jar in client the OP session is kept, and a later call
// may complete without the form (user and password unused). A refused
// password is an error.
func (o *testOP) Login(client *http.Client, authURL, user, password string) (*url.URL, error) {
	return o.authorize(client, authURL, url.Values{"username": {user}, "password": {password}, "action": {"login"}})
}

// Deny is Login pressing #deny instead: the library redirects to the
// redirect_uri with error=access_denied.
func (o *testOP) Deny(client *http.Client, authURL string) (*url.URL, error) {
	return o.authorize(client, authURL, url.Values{"action": {"deny"}})
}

var (
	opFormAction = regexp.MustCompile(`<form id="op-login" method="post" action="([^"]*)">`)
	opFormID     = regexp.MustCompile(`name="authRequestID" value="([^"]*)"`)
	opFormError  = regexp.MustCompile(`<p id="error">([^<]*)</p>`)
)

func (o *testOP) authorize(client *http.Client, authURL string, submit url.Values) (*url.URL, error) {
	u, err := url.Parse(authURL)
	if err != nil {
		return nil, err
	}
	redirect, err := url.Parse(u.Query().Get("redirect_uri"))
	if err != nil || redirect.Host == "" {
		return nil, fmt.Errorf("authorization URL without an absolute redirect_uri: %s", authURL)
	}
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, err := http.NewRequest(http.MethodGet, authURL, nil)
	if err != nil {
		return nil, err
	}
	submitted := false
	for hop := 0; hop < 10; hop++ {
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			next, err := resp.Location()
			if err != nil {
				return nil, err
			}
			if next.Scheme == redirect.Scheme && next.Host == redirect.Host && next.Path == redirect.Path {
				return next, nil
			}
			if req, err = http.NewRequest(http.MethodGet, next.String(), nil); err != nil {
				return nil, err
			}
		case opFormAction.Match(body):
			if submitted {
				msg := "the form came back"
				if m := opFormError.FindSubmatch(body); m != nil {
					msg = html.UnescapeString(string(m[1]))
				}
				return nil, fmt.Errorf("login refused (%d): %s", resp.StatusCode, msg)
			}
			submitted = true
			action, err := req.URL.Parse(string(opFormAction.FindSubmatch(body)[1]))
			if err != nil {
				return nil, err
			}
			form := maps.Clone(submit)
			form.Set("authRequestID", string(opFormID.FindSubmatch(body)[1]))
			if req, err = http.NewRequest(http.MethodPost, action.String(), strings.NewReader(form.Encode())); err != nil {
				return nil, err
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		default:
			return nil, fmt.Errorf("%s %s: %d %s", req.Method, req.URL, resp.StatusCode, strings.TrimSpace(string(body)))
		}
	}
	return nil, errors.New("more than 10 hops without reaching the redirect_uri")
}

var opLoginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Sign in – test OpenID Provider</title></head>
<body>
<h1>Sign in</h1>
<form id="op-login" method="post" action="{{.Action}}">
<input type="hidden" name="authRequestID" value="{{.ID}}">
<label for="username">Username</label> <input id="username" name="username" autocomplete="username" value="{{.Username}}">
<label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password">
<button id="submit" type="submit" name="action" value="login">Sign in</button>
<button id="deny" type="submit" name="action" value="deny">Cancel</button>
{{if .Error}}<p id="error">{{.Error}}</p>{{end}}
</form>
</body></html>
`))

// serveLogin is the login UI: the library redirects the authorization
// request here and expects it back at /authorize/callback once the
// request is done.
func (o *testOP) serveLogin(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req, err := o.store.authRequest(r.Form.Get("authRequestID"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch r.Method {
	case http.MethodGet:
		if sess := o.session(r); sess != nil && req.reusable(sess, time.Now()) {
			o.store.complete(req, sess)
			o.count(opSessionReused)
			http.Redirect(w, r, o.callbackPath(req), http.StatusFound)
			return
		}
		if slices.Contains(req.prompt, oidc.PromptNone) {
			op.AuthRequestError(w, r, req, oidc.ErrLoginRequired(), o.provider)
			return
		}
		o.count(opFormShown)
		o.renderLogin(w, req, "", "", http.StatusOK)
	case http.MethodPost:
		if r.Form.Get("action") == "deny" {
			op.AuthRequestError(w, r, req, oidc.ErrAccessDenied().WithDescription("the user cancelled the login"), o.provider)
			return
		}
		username := r.Form.Get("username")
		sess, ok := o.store.checkPassword(username, r.Form.Get("password"))
		if !ok {
			o.renderLogin(w, req, username, "wrong username or password", http.StatusUnauthorized)
			return
		}
		id := rand.Text()
		o.store.mu.Lock()
		o.store.sessions[id] = sess
		o.store.mu.Unlock()
		cookiePath := o.path
		if cookiePath == "" {
			cookiePath = "/"
		}
		http.SetCookie(w, &http.Cookie{Name: o.cookie, Value: id, Path: cookiePath, HttpOnly: true, SameSite: http.SameSiteLaxMode})
		o.store.complete(req, sess)
		http.Redirect(w, r, o.callbackPath(req), http.StatusSeeOther)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (o *testOP) renderLogin(w http.ResponseWriter, req *opAuthRequest, username, msg string, status int) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	opLoginPage.Execute(w, map[string]string{"Action": o.path + "/login", "ID": req.id, "Username": username, "Error": msg})
}

func (o *testOP) callbackPath(req *opAuthRequest) string {
	return o.path + o.provider.AuthorizationEndpoint().Relative() + "/callback?id=" + url.QueryEscape(req.id)
}

func (o *testOP) session(r *http.Request) *opSession {
	c, err := r.Cookie(o.cookie)
	if err != nil {
		return nil
	}
	o.store.mu.Lock()
	defer o.store.mu.Unlock()
	return o.store.sessions[c.Value]
}

// opSession is a browser's sign-in at the OP: who, and when the password
// was typed.
type opSession struct {
	subject  string
	authTime time.Time
	amr      []string
	acr      string
}

// opStorage implements op.Storage in memory for the authorization code
// flow (no refresh tokens, no JWT profile, no device flow).
type opStorage struct {
	loginPath string
	kid       string
	key       *rsa.PrivateKey

	mu           sync.Mutex
	users        map[string]*opUser // by username
	clients      map[string]*opZClient
	requests     map[string]*opAuthRequest
	codes        map[string]string // code → request id
	tokens       map[string]*opAccessToken
	sessions     map[string]*opSession
	nextAuthTime map[string]time.Time // by username
}

var (
	_ op.Storage                   = (*opStorage)(nil)
	_ op.CanSetUserinfoFromRequest = (*opStorage)(nil)
	_ op.AuthRequest               = (*opAuthRequest)(nil)
	_ op.Client                    = (*opZClient)(nil)
)

func newOPStorage(loginPath string) (*opStorage, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return &opStorage{
		loginPath:    loginPath,
		kid:          "op-" + rand.Text(),
		key:          key,
		users:        map[string]*opUser{},
		clients:      map[string]*opZClient{},
		requests:     map[string]*opAuthRequest{},
		codes:        map[string]string{},
		tokens:       map[string]*opAccessToken{},
		sessions:     map[string]*opSession{},
		nextAuthTime: map[string]time.Time{},
	}, nil
}

func (s *opStorage) authRequest(id string) (*opAuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	req, ok := s.requests[id]
	if !ok {
		return nil, errors.New("unknown or finished authorization request")
	}
	return req, nil
}

// checkPassword is the login: a session for the user when the password
// is right, with auth_time now or the one SetNextAuthTime set.
func (s *opStorage) checkPassword(username, password string) (*opSession, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[username]
	if !ok || subtle.ConstantTimeCompare([]byte(u.Password), []byte(password)) != 1 {
		return nil, false
	}
	at := time.Now()
	if next, ok := s.nextAuthTime[username]; ok {
		at = next
		delete(s.nextAuthTime, username)
	}
	return &opSession{subject: u.Subject, authTime: at, amr: slices.Clone(u.AMR), acr: u.ACR}, true
}

func (s *opStorage) complete(req *opAuthRequest, sess *opSession) {
	s.mu.Lock()
	defer s.mu.Unlock()
	req.subject, req.authTime, req.amr, req.acr = sess.subject, sess.authTime, sess.amr, sess.acr
	req.done = true
}

func (s *opStorage) userBySubject(sub string) *opUser {
	for _, u := range s.users {
		if u.Subject == sub {
			return u
		}
	}
	return nil
}

func (s *opStorage) CreateAuthRequest(_ context.Context, ar *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	req := &opAuthRequest{
		id:           rand.Text(),
		clientID:     ar.ClientID,
		redirectURI:  ar.RedirectURI,
		state:        ar.State,
		nonce:        ar.Nonce,
		scopes:       slices.Clone(ar.Scopes),
		responseType: ar.ResponseType,
		responseMode: ar.ResponseMode,
		prompt:       slices.Clone(ar.Prompt),
		maxAge:       ar.MaxAge,
	}
	if ar.CodeChallenge != "" {
		req.challenge = &oidc.CodeChallenge{Challenge: ar.CodeChallenge, Method: ar.CodeChallengeMethod}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[req.id] = req
	return req, nil
}

func (s *opStorage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	return s.authRequest(id)
}

func (s *opStorage) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	id, ok := s.codes[code]
	s.mu.Unlock()
	if !ok {
		return nil, errors.New("unknown or used code")
	}
	return s.authRequest(id)
}

func (s *opStorage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = id
	return nil
}

// DeleteAuthRequest is called once the token response is made: the code
// dies with its request, so a replayed code is invalid_grant.
func (s *opStorage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.requests, id)
	for code, rid := range s.codes {
		if rid == id {
			delete(s.codes, code)
		}
	}
	return nil
}

type opAccessToken struct {
	subject, clientID string
	scopes            []string
	expires           time.Time
}

func (s *opStorage) CreateAccessToken(_ context.Context, tr op.TokenRequest) (string, time.Time, error) {
	clientID := ""
	if req, ok := tr.(*opAuthRequest); ok {
		clientID = req.clientID
	}
	id := rand.Text()
	exp := time.Now().Add(5 * time.Minute)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[id] = &opAccessToken{subject: tr.GetSubject(), clientID: clientID, scopes: slices.Clone(tr.GetScopes()), expires: exp}
	return id, exp, nil
}

func (s *opStorage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errors.New("refresh tokens are not supported by the test OP")
}

func (s *opStorage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}

func (s *opStorage) TerminateSession(_ context.Context, userID, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, tok := range s.tokens {
		if tok.subject == userID && tok.clientID == clientID {
			delete(s.tokens, id)
		}
	}
	return nil
}

func (s *opStorage) RevokeToken(_ context.Context, tokenOrID, _, _ string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, tokenOrID)
	return nil
}

func (s *opStorage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

type opSigningKey struct {
	kid string
	key *rsa.PrivateKey
}

func (k opSigningKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k opSigningKey) Key() any                                    { return k.key }
func (k opSigningKey) ID() string                                  { return k.kid }

type opPublicKey struct{ opSigningKey }

func (k opPublicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k opPublicKey) Use() string                        { return "sig" }
func (k opPublicKey) Key() any                           { return &k.key.PublicKey }

func (s *opStorage) SigningKey(context.Context) (op.SigningKey, error) {
	return opSigningKey{kid: s.kid, key: s.key}, nil
}

func (s *opStorage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *opStorage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{opPublicKey{opSigningKey{kid: s.kid, key: s.key}}}, nil
}

func (s *opStorage) GetClientByClientID(_ context.Context, clientID string) (op.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[clientID]
	if !ok {
		return nil, fmt.Errorf("unknown client %q", clientID)
	}
	return c, nil
}

func (s *opStorage) AuthorizeClientIDSecret(_ context.Context, clientID, secret string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[clientID]
	if !ok || c.c.Secret == "" || subtle.ConstantTimeCompare([]byte(c.c.Secret), []byte(secret)) != 1 {
		return errors.New("wrong client_id or client_secret")
	}
	return nil
}

func (s *opStorage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

func (s *opStorage) SetUserinfoFromRequest(_ context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	return s.setUserinfo(info, req.GetSubject(), scopes)
}

func (s *opStorage) SetUserinfoFromToken(_ context.Context, info *oidc.UserInfo, tokenID, _, _ string) error {
	s.mu.Lock()
	tok, ok := s.tokens[tokenID]
	s.mu.Unlock()
	if !ok || time.Now().After(tok.expires) {
		return errors.New("access token invalid or expired")
	}
	return s.setUserinfo(info, tok.subject, tok.scopes)
}

func (s *opStorage) setUserinfo(info *oidc.UserInfo, subject string, scopes []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userBySubject(subject)
	if u == nil {
		return errors.New("user not found")
	}
	for _, scope := range scopes {
		switch scope {
		case oidc.ScopeOpenID:
			info.Subject = u.Subject
		case oidc.ScopeEmail:
			info.Email = u.Email
			info.EmailVerified = oidc.Bool(u.EmailVerified)
			if !u.EmailVerified && !u.OmitEmailVerified {
				info.AppendClaims("email_verified", false) // the field is omitempty
			}
		case oidc.ScopeProfile:
			info.Name = u.Name
			info.PreferredUsername = u.Username
		}
	}
	return nil
}

func (s *opStorage) SetIntrospectionFromToken(_ context.Context, resp *oidc.IntrospectionResponse, tokenID, _, clientID string) error {
	s.mu.Lock()
	tok, ok := s.tokens[tokenID]
	s.mu.Unlock()
	if !ok || time.Now().After(tok.expires) || tok.clientID != clientID {
		return errors.New("token inactive")
	}
	resp.Subject, resp.ClientID, resp.Scope = tok.subject, tok.clientID, tok.scopes
	resp.Expiration = oidc.FromTime(tok.expires)
	return nil
}

func (s *opStorage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *opStorage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("JWT profile is not supported by the test OP")
}

func (s *opStorage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("JWT profile is not supported by the test OP")
}

func (s *opStorage) Health(context.Context) error { return nil }

// opAuthRequest is an authorization request from the library's parse to
// its token response. The login UI fills subject to acr and done under
// opStorage.mu; the library reads them after fetching the request (again
// under the lock) on a later request.
type opAuthRequest struct {
	id           string
	clientID     string
	redirectURI  string
	state, nonce string
	scopes       []string
	responseType oidc.ResponseType
	responseMode oidc.ResponseMode
	prompt       []string
	maxAge       *uint // seconds; the library sets 0 for prompt=login
	challenge    *oidc.CodeChallenge

	subject  string
	done     bool
	authTime time.Time
	amr      []string
	acr      string
}

// reusable: the session may answer this request without the form unless
// the request says prompt=login or the session's auth_time is older than
// its max_age (OIDC Core 3.1.2.1).
func (a *opAuthRequest) reusable(sess *opSession, now time.Time) bool {
	if slices.Contains(a.prompt, oidc.PromptLogin) {
		return false
	}
	return a.maxAge == nil || now.Sub(sess.authTime) <= time.Duration(*a.maxAge)*time.Second
}

func (a *opAuthRequest) GetID() string                         { return a.id }
func (a *opAuthRequest) GetACR() string                        { return a.acr }
func (a *opAuthRequest) GetAMR() []string                      { return a.amr }
func (a *opAuthRequest) GetAudience() []string                 { return []string{a.clientID} }
func (a *opAuthRequest) GetAuthTime() time.Time                { return a.authTime }
func (a *opAuthRequest) GetClientID() string                   { return a.clientID }
func (a *opAuthRequest) GetCodeChallenge() *oidc.CodeChallenge { return a.challenge }
func (a *opAuthRequest) GetNonce() string                      { return a.nonce }
func (a *opAuthRequest) GetRedirectURI() string                { return a.redirectURI }
func (a *opAuthRequest) GetResponseType() oidc.ResponseType    { return a.responseType }
func (a *opAuthRequest) GetResponseMode() oidc.ResponseMode    { return a.responseMode }
func (a *opAuthRequest) GetScopes() []string                   { return a.scopes }
func (a *opAuthRequest) GetState() string                      { return a.state }
func (a *opAuthRequest) GetSubject() string                    { return a.subject }
func (a *opAuthRequest) Done() bool                            { return a.done }

// opZClient is an opClient as the library sees it.
type opZClient struct {
	c         opClient
	loginPath string
}

func (z *opZClient) GetID() string                    { return z.c.ID }
func (z *opZClient) RedirectURIs() []string           { return z.c.RedirectURIs }
func (z *opZClient) PostLogoutRedirectURIs() []string { return nil }
func (z *opZClient) ApplicationType() op.ApplicationType {
	return op.ApplicationTypeWeb
}
func (z *opZClient) AuthMethod() oidc.AuthMethod {
	if z.c.Secret == "" {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic // the library accepts client_secret_post too
}
func (z *opZClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (z *opZClient) GrantTypes() []oidc.GrantType { return []oidc.GrantType{oidc.GrantTypeCode} }
func (z *opZClient) LoginURL(id string) string {
	return z.loginPath + "?authRequestID=" + url.QueryEscape(id)
}
func (z *opZClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (z *opZClient) IDTokenLifetime() time.Duration      { return z.c.IDTokenLifetime }

// DevMode lets http redirect URIs through for the public client too
// (the RP's callback is http://127.0.0.1:<port>); they still match exactly.
func (z *opZClient) DevMode() bool { return true }
func (z *opZClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}
func (z *opZClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}
func (z *opZClient) IsScopeAllowed(string) bool           { return false }
func (z *opZClient) IDTokenUserinfoClaimsAssertion() bool { return !z.c.ClaimsInUserinfoOnly }
func (z *opZClient) ClockSkew() time.Duration             { return 0 }
