package e2e

// Issue 21 in headless Chromium with the DevTools Protocol's virtual
// authenticator (CTAP2, internal transport, resident keys, user
// verification): the page of examples/passkeys/index.html, served by
// Caddy's file_server on http://localhost (a secure context, so WebAuthn
// runs without TLS), signs in with a password, registers a passkey, is
// refused a fresh_required route once a refresh made its token non-fresh,
// steps up with the passkey, passes again, and then signs in with the
// passkey alone in a fresh browser context that holds the same passkey
// (as a synced passkey would be) and no cookie.

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit/caddykit"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

func TestBrowserPasskeys(t *testing.T) {
	needBrowser(t)
	pageDir, err := filepath.Abs("../examples/passkeys")
	if err != nil {
		t.Fatal(err)
	}
	origin := testkit.SharedPorts(t).HTTPBase() // http://localhost:<port>
	srv := caddykit.Start(t, `{
	jwt {
		access_ttl 15m
	}
}

http://localhost {
	jwt_issue {
		login /auth/login
		refresh /auth/refresh
		user `+username+` `+testkit.BcryptHash(t, password)+` role=admin
		deliver cookie
		passkey {
			rp_id localhost
			rp_name "Passkey e2e"
			origins `+origin+`
			register /auth/passkey/register
			login /auth/passkey/login
			reauth /auth/passkey/reauth
			credentials /auth/passkey/credentials
		}
	}
	handle /account {
		jwt_auth fresh_required
		respond "account of {http.auth.user.id}"
	}
	handle {
		root * `+pageDir+`
		file_server
	}
}
`, caddykit.OwnStorage())
	if srv.Base != origin {
		t.Fatalf("Caddy is on %s, the passkey origin is %s", srv.Base, origin)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, browserOptions()...)
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	defer cancelBrowser()

	first := openPasskeyPage(t, browserCtx, origin)
	authID := first.addAuthenticator()

	first.want(first.call(fmt.Sprintf("login(%q, %q)", username, password)), 200)
	reg := first.call(`passkey('register', {name: 'e2e key'})`)
	first.want(reg, 201)
	if reg.Body["name"] != "e2e key" || reg.Body["id"] == "" {
		t.Fatalf("register answer %v", reg.Body)
	}
	creds, err := chromedp.Call(first.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: authID})
	if err != nil || len(creds.Credentials) != 1 || !creds.Credentials[0].IsResidentCredential || creds.Credentials[0].RpID != "localhost" {
		t.Fatalf("the virtual authenticator holds %+v (%v), want one resident credential for localhost", creds, err)
	}
	list := first.call(`fetch('/auth/passkey/credentials').then(async r => ({status: r.status, body: await r.json()}))`)
	first.want(list, 200)
	if l, _ := list.Body["credentials"].([]any); len(l) != 1 || l[0].(map[string]any)["name"] != "e2e key" {
		t.Fatalf("credentials %v", list.Body)
	}

	account := `fetch('/account').then(async r => ({status: r.status, body: {text: await r.text()}}))`
	first.want(first.call(account), 200)
	first.want(first.call(`refresh()`), 200)
	if got := first.call(account); got.Status != 401 || got.Body["text"] != `{"msg":"Fresh token required"}` {
		t.Fatalf("a refreshed token on the fresh_required route: %+v", got)
	}
	first.want(first.call(`passkey('reauth')`), 200)
	if got := first.call(account); got.Status != 200 || got.Body["text"] != "account of "+username {
		t.Fatalf("after the passkey step-up: %+v", got)
	}

	// a fresh browser context: no cookie, no password, the same passkey
	fresh, cancelFresh := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	defer cancelFresh()
	second := openPasskeyPage(t, fresh, origin)
	if c := second.eval(`document.cookie`); c != `""` {
		t.Fatalf("a fresh context has cookies: %s", c)
	}
	if got := second.call(account); got.Status != 401 {
		t.Fatalf("a fresh context reaches the account: %+v", got)
	}
	authID2 := second.addAuthenticator()
	// the passkey as the first authenticator holds it now (its counter
	// included), without the first authenticator's own CMTG state
	synced, err := chromedp.Call(first.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: authID})
	if err != nil || len(synced.Credentials) != 1 {
		t.Fatalf("%+v %v", synced, err)
	}
	c := synced.Credentials[0]
	if _, err := chromedp.Call(second.ctx, addCredential, addCredentialParams{AuthenticatorID: authID2, Credential: syncedCredential{
		CredentialID: c.CredentialID, IsResidentCredential: true, RpID: c.RpID, PrivateKey: c.PrivateKey,
		UserHandle: c.UserHandle, SignCount: c.SignCount, UserName: c.UserName, UserDisplayName: c.UserDisplayName,
	}}); err != nil {
		t.Fatal(err)
	}
	second.want(second.call(`passkey('login')`), 200)
	if got := second.call(account); got.Status != 200 || got.Body["text"] != "account of "+username {
		t.Fatalf("after the passkey sign-in: %+v", got)
	}
}

// addCredential is WebAuthn.addCredential with a credential of the fields
// a synced passkey carries: cdproto's Credential always sends
// generateCmtgKeyOnNextOperation, which Chromium refuses for an
// authenticator without the CMTG extension.
var addCredential = cdp.Command[addCredentialParams, cdp.Empty]{Method: webauthn.CommandAddCredential}

type addCredentialParams struct {
	AuthenticatorID webauthn.AuthenticatorID `json:"authenticatorId"`
	Credential      syncedCredential         `json:"credential"`
}

type syncedCredential struct {
	CredentialID         []byte  `json:"credentialId"`
	IsResidentCredential bool    `json:"isResidentCredential"`
	RpID                 string  `json:"rpId"`
	PrivateKey           []byte  `json:"privateKey"`
	UserHandle           []byte  `json:"userHandle,omitempty"`
	SignCount            float64 `json:"signCount"`
	UserName             string  `json:"userName,omitempty"`
	UserDisplayName      string  `json:"userDisplayName,omitempty"`
}

// passkeyPage is one tab on the passkey page.
type passkeyPage struct {
	t   *testing.T
	ctx context.Context
}

type pageResult struct {
	Status int            `json:"status"`
	Body   map[string]any `json:"body"`
}

func openPasskeyPage(t *testing.T, ctx context.Context, origin string) *passkeyPage {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(origin+"/")); err != nil {
		t.Fatalf("loading the page: %v", err)
	}
	return &passkeyPage{t: t, ctx: ctx}
}

// addAuthenticator enables WebAuthn in the tab and adds a virtual
// platform authenticator that verifies users.
func (p *passkeyPage) addAuthenticator() webauthn.AuthenticatorID {
	p.t.Helper()
	if _, err := chromedp.Call(p.ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		p.t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(p.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
		HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
	}})
	if err != nil {
		p.t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return res.AuthenticatorID
}

func (p *passkeyPage) eval(expr string) string {
	p.t.Helper()
	return evaluate(p.t, p.ctx, expr)
}

// call runs a function of the page that resolves to {status, body}.
func (p *passkeyPage) call(expr string) pageResult {
	p.t.Helper()
	var r pageResult
	raw := p.eval(expr)
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		p.t.Fatalf("%s: %s: %v", expr, raw, err)
	}
	p.t.Logf("%s -> %d %v", expr, r.Status, r.Body)
	return r
}

func (p *passkeyPage) want(r pageResult, status int) {
	p.t.Helper()
	if r.Status != status {
		p.t.Fatalf("status %d, want %d: %v", r.Status, status, r.Body)
	}
}
