package e2e

// Issue 20's OIDC sign-in and RFC 9470 step-up in a real browser: headless
// Chromium clicks the site's login link, fills the real OP's form (the
// zitadel OP of op_test.go), follows the provider's cross-site redirect
// back to Caddy's callback, and is let into a `fresh_required; max_age 3s`
// route; once max_age has passed the same route answers the step-up
// challenge, and a reauth through the provider's form (prompt=login, shown
// although the provider has a session) lets the browser in again. Only a
// browser decides whether the SameSite=Lax transaction cookie survives the
// provider's redirect (a top-level navigation from another site: the OP is
// on 127.0.0.1, Caddy on localhost), which cookies it stores and which the
// page's script may read; the OIDC tests of oidc_test.go play the browser
// with a cookie jar that knows none of that.

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit/caddykit"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// stepUpMaxAge is the route's max_age: short, so that the test sees it pass.
const stepUpMaxAge = 3 * time.Second

// TestBrowserOIDCStepUp drives issue 20's whole flow in headless Chromium:
// login through the provider's form, a fresh_required route with max_age
// that passes, the same route refused with the RFC 9470 challenge once
// max_age has passed, reauth through the provider's form, and the route
// passing again with a newer auth_time.
func TestBrowserOIDCStepUp(t *testing.T) {
	needBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	op := startOP(t)
	up := &stepUpUpstream{}
	t.Setenv("JWT_TEST_OIDC_SECRET", oidcSecret)
	srv := caddykit.Start(t, `http://localhost {
	jwt_issue {
		deliver cookie
		oidc op {
			issuer `+op.Issuer+`
			client_id web
			client_secret {env.JWT_TEST_OIDC_SECRET}
			login /auth/op/login
			callback /auth/op/callback
			reauth /auth/op/reauth
		}
	}
	handle /account/* {
		jwt_auth {
			fresh_required
			max_age `+stepUpMaxAge.String()+`
		}
		reverse_proxy `+up.start(t)+`
	}
	handle / {
		header Content-Type "text/html; charset=utf-8"
		respond <<HTML
			<!doctype html>
			<html><head><meta charset="utf-8"><title>Example site</title></head>
			<body><a id="login" href="/auth/op/login?return_to=/account/settings">Sign in with the provider</a></body></html>
			HTML 200
	}
	respond "not found" 404
}
`, caddykit.OwnStorage())
	op.AddClient("web", oidcSecret, srv.Base+"/auth/op/callback")
	callback := srv.Base + "/auth/op/callback"
	settings := srv.Base + "/account/settings"

	ctx, stop := newBrowser(t, ctx, "") // plain HTTP on loopback: no certificate to accept
	defer stop()
	b := &browser{t: t, ctx: ctx}
	nl := &stepUpNetLog{}
	if err := chromedp.Listen(ctx, nl.event); err != nil {
		t.Fatal(err)
	}
	// run runs a step's actions, each step bounded on its own so that a
	// page that never comes fails with what the browser shows instead.
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			sent, blocked := nl.txCookie()
			t.Fatalf("%s: %v\nthe browser is at %s, showing %q\nits navigations: %s\nthe transaction cookie was sent %d times, blocked %v; Set-Cookie refused: %v",
				what, err, b.location(), b.text(), nl.hops(0), sent, blocked, nl.blockedSetCookies())
		}
	}

	// 1. The site's page, its login link, the provider's form.
	run("loading the site's page", chromedp.Navigate(srv.Base+"/"))
	mark := nl.mark()
	run("clicking the login link", chromedp.Click(chromedp.ID("login")), chromedp.WaitVisible(chromedp.ID("username")))
	if op.Count(opFormShown) != 1 {
		t.Errorf("the provider showed its form %d times, want 1: %v", op.Count(opFormShown), op.Counts())
	}
	authURL := nl.want(t, "the login link", mark,
		stepUpHop{"GET", srv.Base + "/auth/op/login", http.StatusFound},
		stepUpHop{"GET", op.Issuer + "/authorize", http.StatusFound},
		stepUpHop{"GET", op.Issuer + "/login", http.StatusOK})[1]
	q := authURL.Query()
	if q.Get("client_id") != "web" || q.Get("redirect_uri") != callback || q.Get("response_type") != "code" ||
		q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" || q.Get("nonce") == "" ||
		q.Has("prompt") || q.Has("max_age") {
		t.Errorf("the login asks the provider with %s", authURL.RawQuery)
	}
	// the transaction cookie, for the callback only, which the browser
	// must send back on the provider's cross-site redirect
	tx := stepUpCookie(b, "localhost", "jwt_oidc_op")
	if tx == nil {
		t.Fatalf("the browser holds no transaction cookie jwt_oidc_op after the login route")
	}
	if tx.Path != "/auth/op/callback" || !tx.HTTPOnly || tx.SameSite != network.CookieSameSiteLax {
		t.Errorf("the transaction cookie as the browser holds it: %+v; want path /auth/op/callback, HttpOnly, SameSite=Lax", tx)
	}

	// signIn fills the provider's form as alice and follows the browser
	// back through the callback (303) to the fresh_required route.
	signIn := func(what string, mark int) {
		t.Helper()
		run(what,
			chromedp.SendKeys(chromedp.ID("username"), opAlice),
			chromedp.SendKeys(chromedp.ID("password"), opAlicePassword),
			chromedp.Click(chromedp.ID("submit")),
			chromedp.WaitVisible(chromedp.ID("identity")))
		nl.want(t, what, mark,
			stepUpHop{"POST", op.Issuer + "/login", http.StatusSeeOther},
			stepUpHop{"GET", op.Issuer + "/authorize/callback", http.StatusFound},
			stepUpHop{"GET", callback, http.StatusSeeOther},
			stepUpHop{"GET", settings, http.StatusOK})
	}

	// 2. Sign in at the provider: back through the callback (303) to the
	// fresh_required route, which lets the browser in.
	before := time.Now().Unix()
	mark = nl.mark()
	signIn("signing in at the provider", mark)
	if loc := b.location(); loc != settings {
		t.Fatalf("after the login the browser is at %s, want %s", loc, settings)
	}
	if sent, blocked := nl.txCookie(); sent != 1 || len(blocked) != 0 {
		t.Fatalf("the transaction cookie on the provider's redirect back: sent %d times, blocked %v; want sent once", sent, blocked)
	}
	first := up.last(t, "the login")
	if first.identity != opAliceSub || first.authTime < before || first.authTime > time.Now().Unix() {
		t.Fatalf("the upstream saw identity %q auth time %d, want %q and a time since %d", first.identity, first.authTime, opAliceSub, before)
	}
	if shown := b.textOf("auth-time"); shown != strconv.FormatInt(first.authTime, 10) {
		t.Errorf("the page shows auth time %q, the upstream saw %d", shown, first.authTime)
	}
	// the cookies as the browser stored them: the tokens HttpOnly, the
	// CSRF cookies for the script, the transaction spent
	access := stepUpCookie(b, "localhost", "access_token_cookie")
	refresh := stepUpCookie(b, "localhost", "refresh_token_cookie")
	for _, c := range []*network.Cookie{access, refresh} {
		if c == nil || !c.HTTPOnly || c.Path != "/" {
			t.Fatalf("a token cookie as the browser holds it: %+v; want HttpOnly, path /", c)
		}
		t.Logf("%s: path %s, HttpOnly %v, Secure %v, SameSite %q, session %v", c.Name, c.Path, c.HTTPOnly, c.Secure, c.SameSite, c.Session)
	}
	if c := stepUpCookie(b, "localhost", "jwt_oidc_op"); c != nil {
		t.Errorf("the transaction cookie outlived its callback: %+v", c)
	}
	if script := b.eval(`document.cookie`); strings.Contains(script, "access_token_cookie") || strings.Contains(script, "refresh_token_cookie") || strings.Contains(script, "jwt_oidc_op") {
		t.Errorf("the page's script reads %s", script)
	}
	claims := claimsOf(t, access.Value)
	if claims["fresh"] != true || claims["idp"] != "op" || claims["sub"] != opAliceSub || fmt.Sprint(claims["auth_time"]) != strconv.FormatInt(first.authTime, 10) {
		t.Fatalf("the access token's claims: %v", claims)
	}

	// 3. Once max_age has passed, the page's own request to the route is
	// refused with the step-up challenge (the page polls, with a deadline,
	// until the answer is no longer the upstream's), although the token
	// is still fresh=true and unexpired: max_age alone refuses it.
	seen := up.count()
	var poll struct {
		Status  int    `json:"status"`
		Body    string `json:"body"`
		Type    string `json:"type"`
		Www     string `json:"www"`
		Passes  int    `json:"passes"`
		Expired bool   `json:"expired"`
	}
	raw := b.eval(`(async (path, ms) => {
	const until = Date.now() + ms;
	for (let passes = 0; ; passes++) {
		const r = await fetch(path, {credentials: 'include', cache: 'no-store'});
		const res = {status: r.status, body: await r.text(), type: r.headers.get('Content-Type'),
			www: r.headers.get('WWW-Authenticate'), passes, expired: Date.now() > until};
		if (r.status !== 200 || res.expired) return res;
		await new Promise(resolve => setTimeout(resolve, 200));
	}
})('/account/settings', 10000)`)
	if err := json.Unmarshal([]byte(raw), &poll); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	refusedAt := time.Now().Unix()
	t.Logf("the route refused the page's fetch %ds after auth_time, after %d passes: %d %s %q", refusedAt-first.authTime, poll.Passes, poll.Status, poll.Body, poll.Www)
	wantChallenge := `Bearer error="insufficient_user_authentication", error_description="Fresh token required", max_age="3"`
	if poll.Expired || poll.Status != http.StatusUnauthorized || poll.Body != `{"msg":"Fresh token required"}` || poll.Www != wantChallenge {
		t.Fatalf("the route once max_age has passed: %+v; want 401 {\"msg\":\"Fresh token required\"} and WWW-Authenticate %s", poll, wantChallenge)
	}
	if refusedAt-first.authTime <= int64(stepUpMaxAge/time.Second) {
		t.Errorf("refused %ds after auth_time, before max_age (%s) had passed", refusedAt-first.authTime, stepUpMaxAge)
	}
	if n := up.count() - seen; n != poll.Passes {
		t.Errorf("the upstream saw %d requests, want the %d that passed", n, poll.Passes)
	}
	// a navigation to the route: the browser shows the refusal
	seen = up.count()
	res, err := chromedp.Run(ctx, chromedp.NavigateResponse(settings))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != http.StatusUnauthorized || stepUpHeader(res.Headers, "WWW-Authenticate") != wantChallenge || b.text() != `{"msg":"Fresh token required"}` {
		t.Fatalf("navigating to the route: %d, WWW-Authenticate %q, the page shows %q", res.Status, stepUpHeader(res.Headers, "WWW-Authenticate"), b.text())
	}
	if up.count() != seen {
		t.Errorf("a refused navigation reached the upstream")
	}

	// 4. Step up: the reauth route sends the browser to the provider with
	// prompt=login and max_age=0, and the provider shows its form although
	// its session (its cookie from the login) would have let it skip it.
	shown, reused := op.Count(opFormShown), op.Count(opSessionReused)
	mark = nl.mark()
	run("the reauth route", chromedp.Navigate(srv.Base+"/auth/op/reauth?return_to=/account/settings"), chromedp.WaitVisible(chromedp.ID("username")))
	if op.Count(opFormShown) != shown+1 || op.Count(opSessionReused) != reused {
		t.Errorf("reauth: the provider showed its form %d times and reused its session %d times, want once and never",
			op.Count(opFormShown)-shown, op.Count(opSessionReused)-reused)
	}
	if opURL := mustURL(t, op.Issuer); stepUpCookie(b, opURL.Hostname(), "op_session_"+opURL.Port()) == nil {
		t.Errorf("the browser holds no session cookie of the provider, so its form proves nothing")
	}
	authURL = nl.want(t, "the reauth route", mark,
		stepUpHop{"GET", srv.Base + "/auth/op/reauth", http.StatusFound},
		stepUpHop{"GET", op.Issuer + "/authorize", http.StatusFound},
		stepUpHop{"GET", op.Issuer + "/login", http.StatusOK})[1]
	if q := authURL.Query(); q.Get("prompt") != "login" || q.Get("max_age") != "0" || q.Get("redirect_uri") != callback {
		t.Errorf("reauth asks the provider with %s, want prompt=login and max_age=0", authURL.RawQuery)
	}
	before = time.Now().Unix()
	mark = nl.mark()
	signIn("signing in again at the provider", mark)
	if sent, blocked := nl.txCookie(); sent != 2 || len(blocked) != 0 {
		t.Fatalf("the transaction cookie on the provider's redirects back: sent %d times, blocked %v; want sent twice", sent, blocked)
	}
	second := up.last(t, "the reauth")
	if second.identity != opAliceSub || second.authTime <= first.authTime || second.authTime < before || second.authTime > time.Now().Unix() {
		t.Fatalf("after reauth the upstream saw identity %q auth time %d, want %q and a time since %d, after the login's %d",
			second.identity, second.authTime, opAliceSub, before, first.authTime)
	}
	reauthed := stepUpCookie(b, "localhost", "access_token_cookie")
	if reauthed == nil || reauthed.Value == access.Value || !reauthed.HTTPOnly {
		t.Fatalf("the access cookie after reauth: %+v", reauthed)
	}
	if c := claimsOf(t, reauthed.Value); c["fresh"] != true || c["fam"] != claims["fam"] || c["sub"] != opAliceSub ||
		fmt.Sprint(c["auth_time"]) != strconv.FormatInt(second.authTime, 10) {
		t.Errorf("the reauthed access token's claims %v (the login's family %v)", c, claims["fam"])
	}
	if c := stepUpCookie(b, "localhost", "refresh_token_cookie"); c == nil || c.Value != refresh.Value {
		t.Errorf("reauth replaced or dropped the refresh cookie: %+v", c)
	}
	if c := stepUpCookie(b, "localhost", "jwt_oidc_op"); c != nil {
		t.Errorf("the transaction cookie outlived its callback: %+v", c)
	}
	if blocked := nl.blockedSetCookies(); len(blocked) != 0 {
		t.Errorf("the browser refused cookies the module set: %v", blocked)
	}
}

// stepUpUpstream answers the account pages with what it saw: an HTML page
// with the X-Jwt-Identity and X-Jwt-Auth-Time it received.
type stepUpUpstream struct {
	mu   sync.Mutex
	seen []stepUpSeen
}

type stepUpSeen struct {
	path, identity string
	authTime       int64
}

func (u *stepUpUpstream) start(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at, _ := strconv.ParseInt(r.Header.Get("X-Jwt-Auth-Time"), 10, 64)
		s := stepUpSeen{path: r.URL.Path, identity: r.Header.Get("X-Jwt-Identity"), authTime: at}
		u.mu.Lock()
		u.seen = append(u.seen, s)
		u.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><head><meta charset="utf-8"><title>Account</title></head><body>
<p>Account settings of <span id="identity">%s</span>, signed in at <span id="auth-time">%d</span></p></body></html>`,
			html.EscapeString(s.identity), s.authTime)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func (u *stepUpUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.seen)
}

// last is the upstream's last request, which must be one of
// /account/settings.
func (u *stepUpUpstream) last(t *testing.T, what string) stepUpSeen {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		t.Fatalf("%s: the upstream saw %d requests", what, len(u.seen))
	}
	s := u.seen[len(u.seen)-1]
	if s.path != "/account/settings" {
		t.Fatalf("%s: the upstream's last request was for %s", what, s.path)
	}
	return s
}

// stepUpHop is one hop of a top-level navigation: the request and the
// status it was answered with (a redirect, or the final document).
type stepUpHop struct {
	method, url string // url without its query
	status      int64
}

type stepUpNavigation struct {
	stepUpHop
	full *url.URL
}

// stepUpNetLog keeps, from the tab's network events, the top-level
// navigations hop by hop, whether the browser sent the transaction cookie
// jwt_oidc_op (and why not when it did not), and the Set-Cookie lines it
// refused to store.
type stepUpNetLog struct {
	mu         sync.Mutex
	nav        []stepUpNavigation
	pending    map[network.RequestID]*network.Request
	txSent     int
	txBlocked  []string
	setBlocked []string
}

// event runs on chromedp's reading goroutine: it only records.
func (l *stepUpNetLog) event(ev any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pending == nil {
		l.pending = map[network.RequestID]*network.Request{}
	}
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		if ev.Type != network.ResourceTypeDocument {
			return
		}
		if prev := l.pending[ev.RequestID]; prev != nil && ev.RedirectResponse != nil {
			l.add(prev.Method, ev.RedirectResponse.URL, ev.RedirectResponse.Status)
		}
		l.pending[ev.RequestID] = ev.Request
	case *network.EventResponseReceived:
		if req := l.pending[ev.RequestID]; req != nil && ev.Type == network.ResourceTypeDocument {
			l.add(req.Method, ev.Response.URL, ev.Response.Status)
			delete(l.pending, ev.RequestID)
		}
	case *network.EventRequestWillBeSentExtraInfo:
		for _, c := range ev.AssociatedCookies {
			if c.Cookie == nil || c.Cookie.Name != "jwt_oidc_op" {
				continue
			}
			var reasons []string
			for _, r := range c.BlockedReasons {
				if r != network.CookieBlockedReasonNotOnPath && r != network.CookieBlockedReasonDomainMismatch {
					reasons = append(reasons, string(r))
				}
			}
			switch {
			case len(c.BlockedReasons) == 0:
				l.txSent++
			case len(reasons) > 0:
				l.txBlocked = append(l.txBlocked, strings.Join(reasons, "+"))
			}
		}
	case *network.EventResponseReceivedExtraInfo:
		for _, c := range ev.BlockedCookies {
			var reasons []string
			for _, r := range c.BlockedReasons {
				reasons = append(reasons, string(r))
			}
			l.setBlocked = append(l.setBlocked, fmt.Sprintf("%q (%s)", c.CookieLine, strings.Join(reasons, "+")))
		}
	}
}

func (l *stepUpNetLog) add(method, raw string, status int64) {
	u, err := url.Parse(raw)
	if err != nil {
		u = &url.URL{Path: raw}
	}
	bare := *u
	bare.RawQuery = ""
	l.nav = append(l.nav, stepUpNavigation{stepUpHop{method, bare.String(), status}, u})
}

// mark is where the next navigation's hops will start.
func (l *stepUpNetLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.nav)
}

func (l *stepUpNetLog) hops(from int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var s []string
	for _, n := range l.nav[from:] {
		s = append(s, fmt.Sprintf("%s %s -> %d", n.method, n.full, n.status))
	}
	return strings.Join(s, ", ")
}

// want checks the navigation's hops since mark and returns their URLs.
func (l *stepUpNetLog) want(t *testing.T, what string, mark int, hops ...stepUpHop) []*url.URL {
	t.Helper()
	l.mu.Lock()
	var got []stepUpHop
	var urls []*url.URL
	for _, n := range l.nav[mark:] {
		got = append(got, n.stepUpHop)
		urls = append(urls, n.full)
	}
	l.mu.Unlock()
	if !slices.Equal(got, hops) {
		t.Fatalf("%s: the browser went through %s; want %v", what, l.hops(mark), hops)
	}
	return urls
}

func (l *stepUpNetLog) txCookie() (int, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.txSent, slices.Clone(l.txBlocked)
}

func (l *stepUpNetLog) blockedSetCookies() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.setBlocked)
}

// stepUpCookie is the browser's cookie name for domain, or nil.
func stepUpCookie(b *browser, domain, name string) *network.Cookie {
	b.t.Helper()
	for _, c := range b.cookies() {
		if c.Name == name && c.Domain == domain {
			return c
		}
	}
	return nil
}

// stepUpHeader is a header of a CDP response, whatever its case.
func stepUpHeader(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return fmt.Sprint(v)
		}
	}
	return ""
}

// location and text are where the browser is and what its page shows,
// for checks and failure messages.
func (b *browser) location() string {
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return loc
}

func (b *browser) text() string {
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.trim() : ""`))
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return s
}

func (b *browser) textOf(id string) string {
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.ID(id)))
	if err != nil {
		b.t.Fatalf("#%s: %v", id, err)
	}
	return s
}
