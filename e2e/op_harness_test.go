package e2e

import (
	"context"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// opRP is a standard relying party (go-oidc and x/oauth2) of testOP.
type opRP struct {
	t        *testing.T
	op       *testOP
	provider *oidc.Provider
	config   oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func newOPRP(t *testing.T, ctx context.Context, o *testOP, clientID, secret, redirectURI string) *opRP {
	t.Helper()
	provider, err := oidc.NewProvider(ctx, o.Issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	endpoint := provider.Endpoint()
	endpoint.AuthStyle = oauth2.AuthStyleInHeader // client_secret_basic
	if secret == "" {
		endpoint.AuthStyle = oauth2.AuthStyleInParams // client_id alone
	}
	return &opRP{
		t: t, op: o, provider: provider,
		config: oauth2.Config{
			ClientID: clientID, ClientSecret: secret, RedirectURL: redirectURI,
			Endpoint: endpoint, Scopes: []string{oidc.ScopeOpenID, "email", "profile"},
		},
		verifier: provider.Verifier(&oidc.Config{ClientID: clientID}),
	}
}

// opAttempt is one authorization request of the RP.
type opAttempt struct {
	state, nonce, verifier string
	authURL                string
}

// begin builds an authorization URL with state, nonce, PKCE S256 (unless
// noPKCE) and opts.
func (rp *opRP) begin(noPKCE bool, opts ...oauth2.AuthCodeOption) opAttempt {
	a := opAttempt{state: oauth2.GenerateVerifier(), nonce: oauth2.GenerateVerifier(), verifier: oauth2.GenerateVerifier()}
	opts = append(opts, oidc.Nonce(a.nonce))
	if !noPKCE {
		opts = append(opts, oauth2.S256ChallengeOption(a.verifier))
	}
	a.authURL = rp.config.AuthCodeURL(a.state, opts...)
	return a
}

// code logs in through the OP with browser and returns the code of the
// callback, after checking that it goes to the redirect_uri with the state.
func (rp *opRP) code(browser *http.Client, a opAttempt, user, password string) string {
	rp.t.Helper()
	cb, err := rp.op.Login(browser, a.authURL, user, password)
	if err != nil {
		rp.t.Fatalf("login: %v", err)
	}
	if got := cb.Scheme + "://" + cb.Host + cb.Path; got != rp.config.RedirectURL {
		rp.t.Fatalf("callback %s, want the redirect_uri %s", cb, rp.config.RedirectURL)
	}
	q := cb.Query()
	if q.Get("state") != a.state || q.Get("code") == "" || q.Get("error") != "" {
		rp.t.Fatalf("callback %s: want code and state %q", cb, a.state)
	}
	return q.Get("code")
}

type opIDClaims struct {
	AuthTime      int64    `json:"auth_time"`
	AMR           []string `json:"amr"`
	ACR           string   `json:"acr"`
	AZP           string   `json:"azp"`
	Email         string   `json:"email"`
	EmailVerified *bool    `json:"email_verified"`
}

// exchange redeems code and verifies the ID token as an RP must (go-oidc:
// signature by the OP's JWKS, iss, aud, exp; here: nonce).
func (rp *opRP) exchange(ctx context.Context, a opAttempt, code string, withVerifier bool) (*oauth2.Token, *oidc.IDToken, opIDClaims, error) {
	var opts []oauth2.AuthCodeOption
	if withVerifier {
		opts = append(opts, oauth2.VerifierOption(a.verifier))
	}
	tok, err := rp.config.Exchange(ctx, code, opts...)
	if err != nil {
		return nil, nil, opIDClaims{}, err
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := rp.verifier.Verify(ctx, raw)
	if err != nil {
		return tok, nil, opIDClaims{}, opRefused{err}
	}
	if idt.Nonce != a.nonce {
		return tok, idt, opIDClaims{}, opRefused{errors.New("nonce mismatch")}
	}
	var c opIDClaims
	err = idt.Claims(&c)
	return tok, idt, c, err
}

// opRefused is the RP refusing the ID token of a successful exchange.
type opRefused struct{ error }

func (e opRefused) Unwrap() error { return e.error }

// login is begin, code and exchange, all expected to succeed.
func (rp *opRP) login(ctx context.Context, browser *http.Client, user, password string, opts ...oauth2.AuthCodeOption) (*oauth2.Token, *oidc.IDToken, opIDClaims) {
	rp.t.Helper()
	a := rp.begin(false, opts...)
	tok, idt, c, err := rp.exchange(ctx, a, rp.code(browser, a, user, password), true)
	if err != nil {
		rp.t.Fatalf("exchange and verify: %v", err)
	}
	return tok, idt, c
}

func newOPBrowser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 5 * time.Second}
}

func wantRecent(t *testing.T, what string, unix int64, since time.Time) {
	t.Helper()
	if unix < since.Unix() || unix > time.Now().Unix() {
		t.Errorf("%s = %s, want between %s and now", what, time.Unix(unix, 0), since.Truncate(time.Second))
	}
}

// TestOPHarness proves the test OP with a standard relying party (go-oidc
// and x/oauth2) and no browser: the code flow with PKCE, state and nonce,
// the public client, the OP session with prompt, max_age and auth_time,
// the rewrite hook, the signing helpers and the failure switches.
func TestOPHarness(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o := startOP(t)
	rpServer := httptest.NewServer(http.NotFoundHandler()) // only its free port: the callback is not followed
	defer rpServer.Close()
	redirect := rpServer.URL + "/callback"
	const webSecret = "web client secret"
	o.AddClient("web", webSecret, redirect)
	o.AddClient("spa", "", redirect)
	web := newOPRP(t, ctx, o, "web", webSecret, redirect)
	spa := newOPRP(t, ctx, o, "spa", "", redirect)
	browser := newOPBrowser(t)

	t.Run("discovery", func(t *testing.T) {
		var meta struct {
			Issuer     string   `json:"issuer"`
			Token      string   `json:"token_endpoint"`
			JWKS       string   `json:"jwks_uri"`
			PKCE       []string `json:"code_challenge_methods_supported"`
			AuthMethod []string `json:"token_endpoint_auth_methods_supported"`
			Algs       []string `json:"id_token_signing_alg_values_supported"`
		}
		if err := web.provider.Claims(&meta); err != nil {
			t.Fatal(err)
		}
		if meta.Issuer != o.Issuer || meta.Token != o.Issuer+"/oauth/token" || meta.JWKS != o.Issuer+"/keys" {
			t.Errorf("discovery %+v, issuer %s", meta, o.Issuer)
		}
		if !slices.Contains(meta.PKCE, "S256") || !slices.Contains(meta.AuthMethod, "client_secret_post") ||
			!slices.Contains(meta.AuthMethod, "none") || !slices.Equal(meta.Algs, []string{"RS256"}) {
			t.Errorf("discovery %+v", meta)
		}
	})

	t.Run("confidential client, PKCE S256, state, nonce", func(t *testing.T) {
		o.ResetCounts()
		start := time.Now()
		a := web.begin(false)
		code := web.code(browser, a, opAlice, opAlicePassword)
		if o.Count(opFormShown) != 1 || o.Count(opLoginSubmit) != 1 || o.Count(opSessionReused) != 0 {
			t.Errorf("a first login shows the form once: %v", o.Counts())
		}
		tok, idt, c, err := web.exchange(ctx, a, code, true)
		if err != nil {
			t.Fatal(err)
		}
		if idt.Issuer != o.Issuer || !slices.Equal(idt.Audience, []string{"web"}) || c.AZP != "web" || idt.Subject != opAliceSub {
			t.Errorf("iss %s aud %v azp %s sub %s", idt.Issuer, idt.Audience, c.AZP, idt.Subject)
		}
		wantRecent(t, "auth_time", c.AuthTime, start)
		if !slices.Equal(c.AMR, []string{"pwd"}) || c.ACR != "" {
			t.Errorf("amr %v acr %q, want [pwd] and none", c.AMR, c.ACR)
		}
		if c.Email != opAliceEmail || c.EmailVerified == nil || !*c.EmailVerified {
			t.Errorf("email %q verified %v", c.Email, c.EmailVerified)
		}
		info, err := web.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil || info.Subject != opAliceSub || info.Email != opAliceEmail || !info.EmailVerified {
			t.Errorf("userinfo %+v, %v", info, err)
		}
		if _, err := web.config.Exchange(ctx, code, oauth2.VerifierOption(a.verifier)); !isOAuthError(err, "invalid_grant") {
			t.Errorf("the code replayed: %v, want invalid_grant", err)
		}
		n := o.Counts()
		if n[opAuthorize] != 1 || n[opCallback] != 1 || n[opToken] != 2 || n[opUserinfo] != 1 || n[opJWKS] != 1 || n[opDiscovery] != 0 {
			t.Errorf("counts %v", n)
		}

		a = web.begin(false)
		code = web.code(browser, a, opAlice, opAlicePassword)
		if _, _, _, err := web.exchange(ctx, a, code, false); !isOAuthError(err, "invalid_request") {
			t.Errorf("without the code_verifier: %v, want invalid_request", err)
		}
		a = web.begin(false)
		code = web.code(browser, a, opAlice, opAlicePassword)
		a.verifier = oauth2.GenerateVerifier()
		if _, _, _, err := web.exchange(ctx, a, code, true); !isOAuthError(err, "invalid_grant") {
			t.Errorf("with another code_verifier: %v, want invalid_grant", err)
		}
		wrong := newOPRP(t, ctx, o, "web", "not the secret", redirect)
		a = wrong.begin(false)
		code = wrong.code(browser, a, opAlice, opAlicePassword)
		if _, _, _, err := wrong.exchange(ctx, a, code, true); !isOAuthError(err, "invalid_client") {
			t.Errorf("a wrong client secret: %v, want invalid_client", err)
		}
		post := newOPRP(t, ctx, o, "web", webSecret, redirect)
		post.config.Endpoint.AuthStyle = oauth2.AuthStyleInParams // client_secret_post
		post.login(ctx, browser, opAlice, opAlicePassword)
	})

	t.Run("public client needs PKCE", func(t *testing.T) {
		_, idt, _ := spa.login(ctx, browser, opAlice, opAlicePassword)
		if !slices.Equal(idt.Audience, []string{"spa"}) {
			t.Errorf("aud %v", idt.Audience)
		}
		a := spa.begin(false)
		code := spa.code(browser, a, opAlice, opAlicePassword)
		var re *oauth2.RetrieveError
		if _, _, _, err := spa.exchange(ctx, a, code, false); !errors.As(err, &re) || re.ErrorCode != "invalid_request" || re.ErrorDescription != "code_verifier required" {
			t.Errorf("without the code_verifier: %v, want invalid_request: code_verifier required", err)
		}
		a = spa.begin(true)
		code = spa.code(browser, a, opAlice, opAlicePassword)
		if _, _, _, err := spa.exchange(ctx, a, code, false); !errors.As(err, &re) || re.ErrorCode != "invalid_request" || re.ErrorDescription != "PKCE required" {
			t.Errorf("without PKCE at all: %v, want invalid_request: PKCE required", err)
		}
	})

	t.Run("OP session, max_age, prompt and auth_time", func(t *testing.T) {
		b := newOPBrowser(t)
		// step logs in with b and checks whether the OP showed the form: a
		// step that expects none gives no password, so a form fails it.
		step := func(what string, form bool, opts ...oauth2.AuthCodeOption) opIDClaims {
			t.Helper()
			user, pw := "", ""
			if form {
				user, pw = opAlice, opAlicePassword
			}
			shown, reused := o.Count(opFormShown), o.Count(opSessionReused)
			_, _, c := web.login(ctx, b, user, pw, opts...)
			shown, reused = o.Count(opFormShown)-shown, o.Count(opSessionReused)-reused
			if form && (shown != 1 || reused != 0) || !form && (shown != 0 || reused != 1) {
				t.Errorf("%s: form shown %d, session reused %d; want the form %v", what, shown, reused, form)
			}
			return c
		}
		maxAge := func(s string) oauth2.AuthCodeOption { return oauth2.SetAuthURLParam("max_age", s) }
		prompt := func(s string) oauth2.AuthCodeOption { return oauth2.SetAuthURLParam("prompt", s) }

		hourAgo := time.Now().Add(-time.Hour).Truncate(time.Second)
		o.SetNextAuthTime(opAlice, hourAgo)
		if c := step("first login", true); c.AuthTime != hourAgo.Unix() {
			t.Fatalf("auth_time %d, want %d from SetNextAuthTime", c.AuthTime, hourAgo.Unix())
		}
		if c := step("no prompt", false); c.AuthTime != hourAgo.Unix() || !slices.Equal(c.AMR, []string{"pwd"}) {
			t.Errorf("the session answers with the old auth_time and amr: auth_time %d amr %v", c.AuthTime, c.AMR)
		}
		if c := step("max_age=7200, longer than the hour", false, maxAge("7200")); c.AuthTime != hourAgo.Unix() {
			t.Errorf("max_age=7200: auth_time %d, want the session's", c.AuthTime)
		}
		start := time.Now()
		wantRecent(t, "auth_time after max_age=60", step("max_age=60, shorter than the hour", true, maxAge("60")).AuthTime, start)
		start = time.Now()
		wantRecent(t, "auth_time after prompt=login&max_age=0", step("prompt=login&max_age=0", true, prompt("login"), maxAge("0")).AuthTime, start)
		step("prompt=login", true, prompt("login"))
		step("max_age=0", true, maxAge("0"))
		step("prompt=none with a session", false, prompt("none"))

		a := web.begin(false, prompt("none"))
		cb, err := o.Login(newOPBrowser(t), a.authURL, opAlice, opAlicePassword)
		if err != nil || cb.Query().Get("error") != "login_required" || cb.Query().Get("state") != a.state {
			t.Errorf("prompt=none without a session: %v %v, want error=login_required with the state", cb, err)
		}
		o.ForgetSessions()
		step("after ForgetSessions", true)
	})

	t.Run("users: acr, amr, unverified email, wrong password, deny", func(t *testing.T) {
		o.AddUser(opUser{Username: "bob", Password: "bob's password", Email: "bob@example.com", EmailVerified: true,
			ACR: "urn:example:mfa", AMR: []string{"pwd", "otp"}})
		_, idt, c := web.login(ctx, newOPBrowser(t), "bob", "bob's password")
		if idt.Subject != "op-user-bob" || c.ACR != "urn:example:mfa" || !slices.Equal(c.AMR, []string{"pwd", "otp"}) {
			t.Errorf("bob: sub %s acr %q amr %v", idt.Subject, c.ACR, c.AMR)
		}
		_, idt, c = web.login(ctx, newOPBrowser(t), opMallory, opMalloryPassword)
		if idt.Subject != opMallorySub || c.Email != opAliceEmail || c.EmailVerified == nil || *c.EmailVerified { // stated false, not left out
			t.Errorf("mallory: sub %s email %q verified %v", idt.Subject, c.Email, c.EmailVerified)
		}
		a := web.begin(false)
		if cb, err := o.Login(newOPBrowser(t), a.authURL, opAlice, "wrong"); err == nil || !strings.Contains(err.Error(), "wrong username or password") {
			t.Errorf("a wrong password: %v %v", cb, err)
		}
		a = web.begin(false)
		cb, err := o.Deny(newOPBrowser(t), a.authURL)
		if err != nil || cb.Query().Get("error") != "access_denied" || cb.Query().Get("state") != a.state || cb.Query().Get("code") != "" {
			t.Errorf("deny: %v %v", cb, err)
		}
		a = web.begin(false)
		a.authURL = strings.Replace(a.authURL, url.QueryEscape(redirect), url.QueryEscape(redirect+"/other"), 1)
		if cb, err := o.Login(newOPBrowser(t), a.authURL, opAlice, opAlicePassword); err == nil {
			t.Errorf("an unregistered redirect_uri: %v, want the OP to refuse it", cb)
		}
	})

	t.Run("userinfo-only claims", func(t *testing.T) {
		o.RegisterClient(opClient{ID: "strict", Secret: "s", RedirectURIs: []string{redirect}, ClaimsInUserinfoOnly: true})
		strict := newOPRP(t, ctx, o, "strict", "s", redirect)
		tok, _, c := strict.login(ctx, browser, opAlice, opAlicePassword)
		if c.Email != "" || c.EmailVerified != nil {
			t.Errorf("email in the ID token: %+v", c)
		}
		if info, err := strict.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err != nil || info.Email != opAliceEmail {
			t.Errorf("userinfo %+v %v", info, err)
		}
	})

	t.Run("rewrite hook and signing helpers", func(t *testing.T) {
		defer o.RewriteIDToken(nil)
		try := func(rewrite func(claims map[string]any) string) error {
			o.RewriteIDToken(func(idToken string) string {
				claims, err := opDecodeClaims(idToken)
				if err != nil {
					return "undecodable: " + err.Error()
				}
				return rewrite(claims)
			})
			a := web.begin(false)
			_, _, _, err := web.exchange(ctx, a, web.code(browser, a, opAlice, opAlicePassword), true)
			if err != nil && !errors.As(err, new(opRefused)) {
				t.Errorf("the exchange itself failed: %v", err)
			}
			return err
		}
		if err := try(func(c map[string]any) string { c["amr"] = []string{"pwd", "hwk"}; return o.Sign(c) }); err != nil {
			t.Errorf("re-signed with the OP's key: %v", err)
		}
		a := web.begin(false)
		code := web.code(browser, a, opAlice, opAlicePassword)
		minted := o.Sign(o.Claims("web", opAlice, a.nonce))
		o.RewriteIDToken(func(string) string { return minted })
		if _, idt, _, err := web.exchange(ctx, a, code, true); err != nil || idt.Subject != opAliceSub {
			t.Errorf("a token minted from Claims and Sign: %v", err)
		}
		for _, bad := range []struct {
			name, want string
			rewrite    func(c map[string]any) string
		}{
			{"wrong aud", "expected audience", func(c map[string]any) string { c["aud"] = "someone-else"; return o.Sign(c) }},
			{"wrong iss", "issued by a different provider", func(c map[string]any) string { c["iss"] = "http://127.0.0.1:1"; return o.Sign(c) }},
			{"expired", "expired", func(c map[string]any) string { c["exp"] = time.Now().Add(-time.Hour).Unix(); return o.Sign(c) }},
			{"unknown kid", "failed to verify signature", func(c map[string]any) string { return o.SignUnknownKid(c) }},
			{"HS256", `signature algorithm "HS256"`, func(c map[string]any) string { return o.SignHS256(c, webSecret) }},
			{"alg none", `signature algorithm "none"`, func(c map[string]any) string { return o.Unsigned(c) }},
			{"wrong nonce", "nonce mismatch", func(c map[string]any) string { c["nonce"] = "another"; return o.Sign(c) }},
		} {
			if err := try(bad.rewrite); err == nil || !strings.Contains(err.Error(), bad.want) {
				t.Errorf("%s: %v, want an error with %q", bad.name, err, bad.want)
			}
		}
		o.RewriteIDToken(nil)
		web.login(ctx, browser, opAlice, opAlicePassword)
	})

	t.Run("failure switches", func(t *testing.T) {
		o.Fail(opToken, http.StatusInternalServerError)
		a := web.begin(false)
		_, _, _, err := web.exchange(ctx, a, web.code(browser, a, opAlice, opAlicePassword), true)
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.Response.StatusCode != http.StatusInternalServerError {
			t.Errorf("a failing token endpoint: %v", err)
		}
		o.Fail(opToken, 0)
		web.login(ctx, browser, opAlice, opAlicePassword)

		o.Fail(opDiscovery, http.StatusServiceUnavailable)
		if _, err := oidc.NewProvider(ctx, o.Issuer); err == nil || !strings.Contains(err.Error(), "503") {
			t.Errorf("a failing discovery: %v", err)
		}
		o.Fail(opDiscovery, 0)

		o.Stall(opJWKS, true)
		quick, cancelQuick := context.WithTimeout(ctx, 200*time.Millisecond)
		_, err = oidc.NewRemoteKeySet(ctx, o.Issuer+"/keys").VerifySignature(quick, o.Sign(o.Claims("web", opAlice, "")))
		cancelQuick()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("a stalled JWKS: %v, want the deadline", err)
		}
		o.Stall(opJWKS, false)
		if _, err := oidc.NewRemoteKeySet(ctx, o.Issuer+"/keys").VerifySignature(ctx, o.Sign(o.Claims("web", opAlice, ""))); err != nil {
			t.Errorf("the JWKS after the stall: %v", err)
		}

		if err := o.SetUnreachable(true); err != nil {
			t.Fatal(err)
		}
		if _, err := oidc.NewProvider(ctx, o.Issuer); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("an unreachable OP: %v, want connection refused", err)
		}
		if err := o.SetUnreachable(false); err != nil {
			t.Fatal(err)
		}
		again := newOPRP(t, ctx, o, "web", webSecret, redirect)
		again.login(ctx, browser, opAlice, opAlicePassword)
	})

	t.Run("issuer with a path", func(t *testing.T) {
		k := startOP(t, opIssuerPath("/realms/test"))
		k.AddClient("web", webSecret, redirect)
		rp := newOPRP(t, ctx, k, "web", webSecret, redirect)
		b := newOPBrowser(t)
		_, idt, _ := rp.login(ctx, b, opAlice, opAlicePassword)
		rp.login(ctx, b, "", "")
		if !strings.HasSuffix(k.Issuer, "/realms/test") || idt.Issuer != k.Issuer ||
			k.Count(opFormShown) != 1 || k.Count(opSessionReused) != 1 || k.Count(opDiscovery) != 1 {
			t.Errorf("issuer %s, iss %s, counts %v", k.Issuer, idt.Issuer, k.Counts())
		}
	})
}

// isOAuthError: err is a token endpoint error with that error code.
func isOAuthError(err error, code string) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == code
}
