// Package e2e drives the module in a real headless browser: only a browser
// enforces CORS, SameSite, Secure and HttpOnly, so the cross-origin cookie
// flow of the README's "Cross-origin single-page apps" is shown here, in
// Debian's chromium driven by chromedp. It is a module of its own so that
// the plugin's go.mod does not carry chromedp.
package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/caddy-jwt-extended/caddy-jwt-extended"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit/caddykit"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/argon2"
)

func TestMain(m *testing.M) { os.Exit(testkit.RunWithStorage(m)) }

// chromiumPath is Debian's chromium, which .ci/run installs.
const chromiumPath = "/usr/bin/chromium"

// The two origins share the parent domain app.test, which the browser
// resolves to 127.0.0.1 (--host-resolver-rules): the page on
// https://app.test:<port>, the API on https://api.app.test:<port>.
const (
	parentDomain = "app.test"
	apiHost      = "api.app.test"
)

const (
	username = "alice"
	password = "correct horse battery staple"
)

// TestBrowserCrossOriginCookieFlow runs the README's cookie-mode Caddyfile
// with the jwt option's cors block (with a reauth route, a fresh_required
// route and a route without CORS headers added) behind a TLS-terminating
// proxy, and a page on another origin that logs in as an argon2id user and
// goes through the session in headless Chromium: the browser, not the
// test, sends the preflights, keeps the cookies, decides which ones the
// script may read, and sends them. The module answers every preflight;
// none reaches the upstream.
func TestBrowserCrossOriginCookieFlow(t *testing.T) {
	needBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	cert, spki := testCertificate(t)
	upstream := newRecorder(t)

	// The API: Caddy on plain HTTP behind a TLS-terminating proxy that
	// says X-Forwarded-Proto https; Caddy trusts it (trusted_proxies), so
	// the cookies are Secure although Caddy itself sees no TLS.
	ports := testkit.NewPorts(t)
	caddyURL, _ := url.Parse(ports.HTTPBase())
	proxyLog := newRecorder(t)
	proxy := httptest.NewUnstartedServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		proxyLog.record(pr.In)
		pr.SetURL(caddyURL)
		pr.SetXForwarded()
	}})
	proxy.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	proxy.StartTLS()
	defer proxy.Close()
	apiOrigin := fmt.Sprintf("https://%s:%d", apiHost, port(proxy))

	// The page, on another origin of the same site.
	page := httptest.NewUnstartedServer(spaHandler(t, apiOrigin))
	page.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	page.StartTLS()
	defer page.Close()
	spaOrigin := fmt.Sprintf("https://%s:%d", parentDomain, port(page))

	caddykit.Tester(t, ports).InitServer(caddyConfig(t, ports, spaOrigin, upstream.URL()), "caddyfile")
	if t.Failed() {
		t.FailNow()
	}

	ctx, stop := newBrowser(t, ctx, spki)
	defer stop()
	if err := chromedp.Do(ctx, chromedp.Navigate(spaOrigin+"/")); err != nil {
		t.Fatalf("loading the page: %v", err)
	}
	b := &browser{t: t, ctx: ctx, upstream: upstream}

	if c := b.eval(`document.cookie`); c != `""` {
		t.Fatalf("a fresh browser has cookies: %s", c)
	}

	// Log in: the browser sends the preflight (JSON body), then the POST.
	r := b.step(`login(username, "wrong")`)
	r.want(t, "login with a wrong password", 401, "Bad username or password")
	r = b.step(`login(username, password)`)
	r.want(t, "login", 200, "Login successful")
	if strings.Contains(r.Body, "access_token") {
		t.Errorf("cookie mode answered the token in the body: %s", r.Body)
	}
	// HttpOnly: the script sees the CSRF cookies, not the tokens.
	r.wantScriptCookies(t, "after login", "csrf_access_token", "csrf_refresh_token")
	b.wantCookieAttributes()

	// A jwt_auth route with the cookie: GET needs no CSRF header, POST does.
	b.step(`call("GET", "/api/items")`).wantUpstream(t, b, "GET /api/items", "GET", "/api/items")
	b.step(`call("POST", "/api/items")`).wantRefused(t, b, "POST /api/items without X-CSRF-TOKEN", "Missing CSRF token")
	b.step(`call("POST", "/api/items", {csrf: "csrf_access_token"})`).wantUpstream(t, b, "POST /api/items with X-CSRF-TOKEN", "POST", "/api/items")
	b.step(`call("GET", "/api/fresh/email")`).wantUpstream(t, b, "fresh_required route after login", "GET", "/api/fresh/email")

	// Refresh: a non-fresh access token, which the fresh_required route refuses.
	before := b.cookie("access_token_cookie").Value
	b.step(`call("POST", "/auth/refresh")`).wantRefused(t, b, "refresh without X-CSRF-TOKEN", "Missing CSRF token")
	b.step(`call("POST", "/auth/refresh", {csrf: "csrf_refresh_token"})`).want(t, "refresh", 200, "Token refreshed")
	if b.cookie("access_token_cookie").Value == before {
		t.Errorf("refresh did not replace the access cookie")
	}
	b.step(`call("GET", "/api/fresh/email")`).wantRefused(t, b, "fresh_required route after refresh", "Fresh token required")
	b.step(`call("POST", "/api/items", {csrf: "csrf_access_token"})`).wantUpstream(t, b, "POST /api/items after refresh", "POST", "/api/items")

	// Reauth: fresh again.
	b.step(`reauth(username, password)`).want(t, "reauth", 200, "Reauthentication successful")
	b.step(`call("GET", "/api/fresh/email")`).wantUpstream(t, b, "fresh_required route after reauth", "GET", "/api/fresh/email")

	// CORS is the browser's: a route answering without
	// Access-Control-Allow-Origin serves the request (the upstream sees
	// alice) but the page cannot read the answer.
	r = b.step(`call("GET", "/nocors/secret")`)
	if r.Error == "" || !strings.HasPrefix(r.Error, "TypeError") {
		t.Errorf("a cross-origin answer without CORS headers was readable: %+v", r)
	}
	if got := upstream.since(b.seen); len(got) != 1 || got[0].identity != username || got[0].path != "/nocors/secret" {
		t.Errorf("the route without CORS headers: the upstream saw %v, want alice's GET", got)
	}
	b.seen = upstream.count()

	// Log out: the cookies go, and the token they held is revoked.
	stale := b.cookie("access_token_cookie")
	r = b.step(`call("POST", "/auth/logout", {csrf: "csrf_access_token"})`)
	r.want(t, "logout", 200, "Logged out")
	r.wantScriptCookies(t, "after logout")
	if cookies := b.cookies(); len(cookies) != 0 {
		t.Errorf("cookies left after logout: %v", cookies)
	}
	b.step(`call("GET", "/api/items")`).wantRefused(t, b, "GET /api/items after logout", `Missing JWT in headers or cookies (Missing Authorization Header; Missing cookie "access_token_cookie")`)
	yes := true
	if _, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{Name: stale.Name, Value: stale.Value,
		Domain: stale.Domain, Path: stale.Path, Secure: &yes, HTTPOnly: &yes, SameSite: network.CookieSameSiteLax}); err != nil {
		t.Fatal(err)
	}
	b.step(`call("GET", "/api/items")`).wantRefused(t, b, "GET /api/items with the logged-out access cookie put back", "Token has been revoked")

	// The browser, not the test, asked before each kind of POST (JSON
	// body, X-CSRF-TOKEN): one preflight per URL, cached for Max-Age. The
	// cors block answered them all: the upstream saw none.
	for _, p := range []string{"/auth/login", "/api/items", "/auth/refresh", "/auth/reauth", "/auth/logout"} {
		if !proxyLog.saw("OPTIONS", p, spaOrigin) {
			t.Errorf("the browser sent no preflight to %s; the proxy saw %v", p, proxyLog.all())
		}
	}
	for _, r := range upstream.all() {
		if r.method == "OPTIONS" {
			t.Errorf("a preflight reached the upstream: %v", r)
		}
	}
}

// caddyConfig is the README's cookie-mode Caddyfile with the cors block,
// with the test's ports, secret, origins, argon2id user and upstream, plus
// what the flow needs beyond it: the trusted proxy, a reauth route, a
// fresh_required route and a route whose answers lack the CORS headers.
func caddyConfig(t *testing.T, ports testkit.Ports, spaOrigin, upstream string) string {
	t.Helper()
	blocks := testkit.DocBlocks(t, "../README.md", "## Cross-origin single-page apps", "caddyfile")
	if len(blocks) != 4 {
		t.Fatalf("the section has %d Caddyfiles, want 4 (header mode, cookie mode; with the cors block, then without)", len(blocks))
	}
	block := blocks[1]
	if !strings.Contains(block, "\t\tcors {") || !strings.Contains(block, "deliver cookie") {
		t.Fatalf("the section's second Caddyfile is not cookie mode with the cors block:\n%s", block)
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	for _, r := range [][2]string{
		{"{\n", "{\n" + ports.Options() + "\tauto_https off\n\tdefault_bind 127.0.0.1\n\tservers {\n\t\ttrusted_proxies static 127.0.0.1/32\n\t}\n"},
		{"{env.JWT_SECRET}", hex.EncodeToString(secret)},
		{"domain app.example", "domain " + parentDomain},
		{"origins https://app.example\n", "origins " + spaOrigin + "\n"},
		{"api.app.example {", ports.HTTPBase() + " {"},
		{"users_file /etc/caddy/users", "reauth /auth/reauth\n\t\tuser " + username + " " + argon2idHash(t, password)},
		{"\thandle /api/* {", fmt.Sprintf("\thandle /api/fresh/* {\n\t\tjwt_auth fresh_required\n\t\treverse_proxy %s\n\t}\n"+
			"\thandle /nocors/* {\n\t\theader -Access-Control-Allow-Origin\n\t\tjwt_auth\n\t\treverse_proxy %s\n\t}\n\thandle /api/* {", upstream, upstream)},
	} {
		if !strings.Contains(block, r[0]) {
			t.Fatalf("the README's cookie-mode Caddyfile no longer has %q:\n%s", r[0], block)
		}
		block = strings.Replace(block, r[0], r[1], 1)
	}
	return testkit.ReplaceReverseProxy(t, block, "reverse_proxy "+upstream)
}

// argon2idHash hashes pw as `caddy hash-password --algorithm argon2id`
// does (Caddy's default parameters, PHC string form), with
// golang.org/x/crypto/argon2 rather than the module's or Caddy's code.
func argon2idHash(t *testing.T, pw string) string {
	t.Helper()
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		t.Fatal(err)
	}
	const memory, iterations, threads, keyLen = 47104, 1, 1, 32
	key := argon2.IDKey([]byte(pw), salt, iterations, memory, threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, memory, iterations, threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// testCertificate makes a self-signed certificate for app.test and
// *.app.test, and the base64 SHA-256 of its public key, which Chromium is
// told to accept (--ignore-certificate-errors-spki-list): the page and the
// API are then secure contexts, as on a real HTTPS site.
func testCertificate(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: parentDomain},
		DNSNames:     []string{parentDomain, "*." + parentDomain},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pub)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, base64.StdEncoding.EncodeToString(sum[:])
}

// needBrowser skips a test when Chromium is missing, or fails it when
// JWT_REQUIRE_BROWSER=1 (CI) says it must run.
func needBrowser(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("JWT_REQUIRE_BROWSER") == "1" {
			t.Fatalf("JWT_REQUIRE_BROWSER=1 but %s is missing: apt-get install chromium", chromiumPath)
		}
		t.Skipf("%s is missing (apt-get install chromium); set JWT_REQUIRE_BROWSER=1 to make this a failure", chromiumPath)
	}
}

// browserOptions are what every browser test starts Chromium with:
// headless, a fresh profile, no sandbox (CI runs as root), and everything
// that phones home off (the network here is closed); then extra.
func browserOptions(extra ...chromedp.ExecAllocatorOption) []chromedp.ExecAllocatorOption {
	return append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	}, extra...)
}

// newBrowser starts headless Chromium with a fresh profile. The network
// here is closed, so everything that phones home is off; app.test and its
// subdomains resolve to 127.0.0.1.
func newBrowser(t *testing.T, ctx context.Context, spki string) (context.Context, func()) {
	t.Helper()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, browserOptions(
		chromedp.Flag("host-resolver-rules", fmt.Sprintf("MAP *.%s 127.0.0.1, MAP %s 127.0.0.1", parentDomain, parentDomain)),
		chromedp.Flag("ignore-certificate-errors-spki-list", spki),
	)...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	if err := chromedp.Do(browserCtx); err != nil {
		cancelBrowser()
		cancelAlloc()
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	return browserCtx, func() { cancelBrowser(); cancelAlloc() }
}

// spaPage is the single-page app, in the style of the README's snippet:
// fetch with credentials: 'include', the CSRF cookie read by script and
// sent as X-CSRF-TOKEN. Each call resolves to what the script could see:
// the status and body, or the error fetch threw, and document.cookie.
var spaPage = template.Must(template.New("spa").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>SPA</title></head><body>
<script>
const api = {{.API}};
const username = {{.Username}}, password = {{.Password}};
const csrf = (name) => document.cookie.split('; ').find(c => c.startsWith(name + '='))?.split('=')[1];
async function call(method, path, opts = {}) {
  const headers = {};
  if (opts.json !== undefined) headers['Content-Type'] = 'application/json';
  if (opts.csrf) headers['X-CSRF-TOKEN'] = csrf(opts.csrf) ?? '';
  try {
    const r = await fetch(api + path, {method, credentials: 'include', headers,
      body: opts.json === undefined ? undefined : JSON.stringify(opts.json)});
    return {status: r.status, body: await r.text(), cookies: document.cookie};
  } catch (e) {
    return {error: e.name + ': ' + e.message, cookies: document.cookie};
  }
}
const login = (username, password) => call('POST', '/auth/login', {json: {username, password}});
const reauth = (username, password) => call('POST', '/auth/reauth', {json: {username, password}});
</script>
</body></html>
`))

func spaHandler(t *testing.T, apiOrigin string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := spaPage.Execute(w, map[string]string{"API": apiOrigin, "Username": username, "Password": password}); err != nil {
			t.Error(err)
		}
	})
}

// browser runs the page's calls and checks what the upstream saw.
type browser struct {
	t        *testing.T
	ctx      context.Context
	upstream *recorder
	seen     int // the upstream's requests already checked
}

// result is what the page's script saw of one call.
type result struct {
	Status  int    `json:"status"`
	Body    string `json:"body"`
	Error   string `json:"error"`
	Cookies string `json:"cookies"`
}

func (b *browser) eval(expr string) string {
	b.t.Helper()
	return evaluate(b.t, b.ctx, expr)
}

// evaluate runs expr in the page of ctx, awaiting a promise, and returns
// its value as JSON.
func evaluate(t *testing.T, ctx context.Context, expr string) string {
	t.Helper()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return string(raw)
}

// step runs one call of the page's script.
func (b *browser) step(expr string) result {
	b.t.Helper()
	var r result
	if err := json.Unmarshal([]byte(b.eval(expr)), &r); err != nil {
		b.t.Fatalf("%s: %v", expr, err)
	}
	b.t.Logf("%s -> %+v", expr, r)
	return r
}

// want checks the status and, unless empty, the msg of a JSON body.
func (r result) want(t *testing.T, step string, status int, msg string) {
	t.Helper()
	if r.Error != "" {
		t.Fatalf("%s: the page could not read the answer: %s", step, r.Error)
	}
	if r.Status != status {
		t.Fatalf("%s: %d %s, want %d", step, r.Status, r.Body, status)
	}
	if msg == "" {
		return
	}
	var body struct{ Msg string }
	if err := json.Unmarshal([]byte(r.Body), &body); err != nil || body.Msg != msg {
		t.Fatalf("%s: body %s, want msg %q", step, r.Body, msg)
	}
}

// wantRefused checks a 401 with this msg, and that the request did not
// reach the upstream.
func (r result) wantRefused(t *testing.T, b *browser, step, msg string) {
	t.Helper()
	r.want(t, step, 401, msg)
	if got := b.upstream.since(b.seen); len(got) != 0 {
		t.Errorf("%s: refused, yet the upstream saw %v", step, got)
	}
}

// wantUpstream checks a 200 from the upstream, which saw exactly this
// request with alice's identity.
func (r result) wantUpstream(t *testing.T, b *browser, step, method, path string) {
	t.Helper()
	r.want(t, step, 200, "")
	got := b.upstream.since(b.seen)
	b.seen = b.upstream.count()
	want := seenRequest{method: method, path: path, identity: username}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("%s: the upstream saw %v, want %v", step, got, want)
	}
	if r.Body != want.String() {
		t.Errorf("%s: the page read %q, want the upstream's %q", step, r.Body, want.String())
	}
}

// wantScriptCookies checks the names of the cookies the script can read.
func (r result) wantScriptCookies(t *testing.T, step string, names ...string) {
	t.Helper()
	var got []string
	for _, c := range strings.Split(r.Cookies, "; ") {
		if name, _, _ := strings.Cut(c, "="); name != "" {
			got = append(got, name)
		}
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Errorf("%s: document.cookie has %v, want %v", step, got, names)
	}
}

// cookies returns every cookie the browser holds, HttpOnly ones included.
func (b *browser) cookies() []*network.Cookie {
	b.t.Helper()
	res, err := chromedp.CallBrowser(b.ctx, storage.GetCookies, storage.GetCookiesParams{})
	if err != nil {
		b.t.Fatal(err)
	}
	return res.Cookies
}

func (b *browser) cookie(name string) *network.Cookie {
	b.t.Helper()
	for _, c := range b.cookies() {
		if c.Name == name {
			return c
		}
	}
	b.t.Fatalf("the browser holds no cookie %s", name)
	return nil
}

// wantCookieAttributes checks the four cookies as the browser stored
// them: for the shared parent domain, Secure (the proxy's
// X-Forwarded-Proto https), SameSite=Lax, session cookies, and HttpOnly
// for the tokens only.
func (b *browser) wantCookieAttributes() {
	b.t.Helper()
	cookies := b.cookies()
	byName := map[string]*network.Cookie{}
	for _, c := range cookies {
		byName[c.Name] = c
	}
	for name, httpOnly := range map[string]bool{
		"access_token_cookie": true, "refresh_token_cookie": true,
		"csrf_access_token": false, "csrf_refresh_token": false,
	} {
		c := byName[name]
		switch {
		case c == nil:
			b.t.Errorf("the browser holds no cookie %s", name)
		case c.Domain != "."+parentDomain || c.Path != "/" || !c.Secure || c.HTTPOnly != httpOnly ||
			c.SameSite != network.CookieSameSiteLax || !c.Session:
			b.t.Errorf("cookie %s: domain %q path %q secure %v httponly %v samesite %q session %v; want .%s / secure httponly=%v Lax session",
				name, c.Domain, c.Path, c.Secure, c.HTTPOnly, c.SameSite, c.Session, parentDomain, httpOnly)
		}
	}
	if len(cookies) != 4 {
		b.t.Errorf("the browser holds %d cookies, want 4", len(cookies))
	}
}

// seenRequest is what a recorder saw of one request.
type seenRequest struct{ method, path, identity, origin string }

func (s seenRequest) String() string {
	return fmt.Sprintf("%s %s identity=%s", s.method, s.path, s.identity)
}

// recorder records requests: as an upstream (URL), answering with what it
// saw, or fed by the proxy (record).
type recorder struct {
	t    *testing.T
	mu   sync.Mutex
	reqs []seenRequest
}

func newRecorder(t *testing.T) *recorder { return &recorder{t: t} }

// URL starts the recorder as an upstream on 127.0.0.1:0 and returns its
// host:port.
func (rc *recorder) URL() string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, rc.record(r).String())
	}))
	rc.t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func (rc *recorder) record(r *http.Request) seenRequest {
	s := seenRequest{method: r.Method, path: r.URL.Path, identity: r.Header.Get("X-Jwt-Identity"), origin: r.Header.Get("Origin")}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.reqs = append(rc.reqs, s)
	return s
}

func (rc *recorder) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.reqs)
}

func (rc *recorder) since(n int) []seenRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []seenRequest
	for _, s := range rc.reqs[n:] {
		out = append(out, seenRequest{method: s.method, path: s.path, identity: s.identity})
	}
	return out
}

func (rc *recorder) all() []seenRequest { return rc.since(0) }

// saw reports whether a request with this method, path and Origin came by.
func (rc *recorder) saw(method, path, origin string) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, s := range rc.reqs {
		if s.method == method && s.path == path && s.origin == origin {
			return true
		}
	}
	return false
}

func port(s *httptest.Server) int { return s.Listener.Addr().(*net.TCPAddr).Port }
