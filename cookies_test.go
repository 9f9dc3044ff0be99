package jwtextended

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// TestCookieDefaults: flask-jwt-extended's names and paths, session
// cookies (no Max-Age, JWT_SESSION_COOKIE's default), SameSite=Lax, no
// Domain, Secure only over HTTPS.
func TestCookieDefaults(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withIssuer(deliverCookies))
	cs := e.loginCookies()
	for name, httpOnly := range map[string]bool{"access_token_cookie": true, "refresh_token_cookie": true, "csrf_access_token": false, "csrf_refresh_token": false} {
		c := cs[name]
		if c == nil || c.HttpOnly != httpOnly || c.MaxAge != 0 || !c.Expires.IsZero() || c.Path != "/" || c.Domain != "" || c.SameSite != http.SameSiteLaxMode || c.Secure {
			t.Errorf("cookie %s: %+v", name, c)
		}
		if c != nil && strings.Contains(c.Raw, "Max-Age") {
			t.Errorf("cookie %s is not a session cookie: %s", name, c.Raw)
		}
	}
}

// TestCookieSettings: every name, path and attribute of the cookie block
// is used when setting, reading and clearing the cookies.
func TestCookieSettings(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withAppJSON(`{"cookie": {
		"access_name": "acc", "refresh_name": "ref", "access_path": "/api", "refresh_path": "/auth",
		"domain": "example.com", "samesite": "strict", "session": false,
		"csrf_access_name": "xa", "csrf_refresh_name": "xr", "csrf_access_path": "/", "csrf_refresh_path": "/auth"}}`),
		// the refresh cookie's path must cover the refresh and logout routes
		withIssuer(deliverCookies, func(h *Issue) { h.Refresh, h.Logout = "/auth/refresh", "/auth/logout" }))
	cs := e.loginCookies()
	want := map[string]struct {
		path     string
		httpOnly bool
		maxAge   int
	}{
		"acc": {"/api", true, 900}, "ref": {"/auth", true, 720 * 3600},
		"xa": {"/", false, 900}, "xr": {"/auth", false, 720 * 3600},
	}
	if len(cs) != len(want) {
		t.Fatalf("cookies %v", cs)
	}
	for name, w := range want {
		c := cs[name]
		if c == nil || c.Path != w.path || c.HttpOnly != w.httpOnly || c.MaxAge != w.maxAge || c.Domain != "example.com" || c.SameSite != http.SameSiteStrictMode {
			t.Errorf("cookie %s: %+v", name, c)
		}
	}
	// refresh reads the configured refresh cookie, not the default name
	r := httptest.NewRequest(http.MethodPost, "/auth/refresh", nil)
	r.AddCookie(&http.Cookie{Name: "refresh_token_cookie", Value: cs["ref"].Value})
	r.Header.Set("X-CSRF-TOKEN", cs["xr"].Value)
	// refused, naming the configured cookie (the default name is no token here)
	w0 := e.do(r)
	wantMsg(t, w0, 401, `Missing JWT in headers or cookies (Missing Authorization Header; Missing cookie "ref")`)
	r = httptest.NewRequest(http.MethodPost, "/auth/refresh", nil)
	r.AddCookie(&http.Cookie{Name: "ref", Value: cs["ref"].Value})
	r.Header.Set("X-CSRF-TOKEN", cs["xr"].Value)
	w := e.do(r)
	if w.Code != 200 || cookiesOf(w)["acc"] == nil {
		t.Fatalf("refresh with the configured cookie: %d %s %v", w.Code, w.Body, w.Result().Cookies())
	}
	// jwt_auth reads the configured access cookie
	if ae := e.authenticateCookie(cookieRequestFor(http.MethodGet, "acc", cs["acc"].Value), "access"); ae != nil {
		t.Errorf("access cookie under its configured name: %v", ae)
	}
	// logout clears every cookie with its own path and the domain
	r = httptest.NewRequest(http.MethodPost, "/auth/logout", nil)
	r.AddCookie(&http.Cookie{Name: "acc", Value: cs["acc"].Value})
	r.AddCookie(&http.Cookie{Name: "ref", Value: cs["ref"].Value})
	r.Header.Set("X-CSRF-TOKEN", cs["xa"].Value)
	w = e.do(r)
	if w.Code != 200 {
		t.Fatalf("logout: %d %s", w.Code, w.Body)
	}
	cleared := cookiesOf(w)
	for name, wc := range want {
		c := cleared[name]
		if c == nil || c.MaxAge >= 0 || c.Value != "" || c.Path != wc.path || c.Domain != "example.com" {
			t.Errorf("logout does not clear %s: %+v", name, c)
		}
	}
}

func cookieRequestFor(method, name, value string) *http.Request {
	r := httptest.NewRequest(method, "/api/x", nil)
	r.AddCookie(&http.Cookie{Name: name, Value: value})
	return r
}

// TestCookieSecure: auto marks cookies Secure over HTTPS, or when a
// trusted proxy says X-Forwarded-Proto https (never on a client's word);
// on and off are fixed.
func TestCookieSecure(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, secure string
		tls, trusted bool
		proto        string
		want         bool
	}{
		{"auto, plain HTTP", "", false, false, "", false},
		{"auto, HTTPS", "", true, false, "", true},
		{"auto, trusted proxy https", "auto", false, true, "https", true},
		{"auto, trusted proxy list", "auto", false, true, "HTTPS, http", true},
		{"auto, trusted proxy http", "auto", false, true, "http", false},
		{"auto, untrusted client says https", "auto", false, false, "https", false},
		{"on, plain HTTP", "on", false, false, "", true},
		{"off, HTTPS", "off", true, true, "https", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newFixture(t, withApp(func(a *App) { a.Cookie = &CookieConfig{Secure: c.secure} }), withIssuer(deliverCookies))
			r := jsonPost("/login", creds("alice", fixturePassword))
			if c.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if c.proto != "" {
				r.Header.Set("X-Forwarded-Proto", c.proto)
			}
			w := e.do(withVar(r, caddyhttp.TrustedProxyVarKey, c.trusted))
			cs := w.Result().Cookies()
			if w.Code != 200 || len(cs) != 4 {
				t.Fatalf("%d %s %v", w.Code, w.Body, cs)
			}
			for _, ck := range cs {
				if ck.Secure != c.want {
					t.Errorf("%s Secure=%v, want %v", ck.Name, ck.Secure, c.want)
				}
			}
		})
	}
}

// TestCookieSameSiteNone: samesite none is set as None, and refused at
// load without secure.
func TestCookieSameSiteNone(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withApp(func(a *App) { a.Cookie = &CookieConfig{SameSite: "none", Secure: "on"} }), withIssuer(deliverCookies))
	for n, c := range e.loginCookies() {
		if c.SameSite != http.SameSiteNoneMode || !c.Secure {
			t.Errorf("%s: %+v", n, c)
		}
	}
}

// TestCookieSettingsRefused: values that cannot work are refused at load,
// by name.
func TestCookieSettingsRefused(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cfg  CookieConfig
		want string
	}{
		{CookieConfig{SameSite: "none", Secure: "off"}, "samesite none requires secure"},
		{CookieConfig{SameSite: "loose"}, "samesite must be lax, strict or none"},
		{CookieConfig{Secure: "yes"}, "secure must be auto, on or off"},
		{CookieConfig{AccessName: "a b"}, "access_name \"a b\" is not a valid cookie name"},
		{CookieConfig{CSRFRefreshName: "x;y"}, "csrf_refresh_name"},
		{CookieConfig{RefreshName: "access_token_cookie"}, "access_name and refresh_name are both"},
		{CookieConfig{AccessPath: "api"}, "access_path \"api\" must be a path starting with /"},
		{CookieConfig{Domain: "a.com; secure"}, "cookie domain"},
	} {
		_, err := tryFixture(t, withApp(func(a *App) { a.Cookie = &c.cfg }))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.cfg, err, c.want)
		}
	}
}

// TestCookiePlaceholders: text settings of the block take placeholders,
// resolved at load.
func TestCookiePlaceholders(t *testing.T) {
	t.Setenv("JWTT_COOKIE", "my_access")
	t.Setenv("JWTT_SAMESITE", "strict")
	e := newFixture(t, withApp(func(a *App) {
		a.Cookie = &CookieConfig{AccessName: "{env.JWTT_COOKIE}", SameSite: "{env.JWTT_SAMESITE}"}
	}), withIssuer(deliverCookies))
	c := e.loginCookies()["my_access"]
	if c == nil || c.SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie %+v", c)
	}
}

// TestCookieCaddyfile: the cookie block adapts to the JSON of the same
// names; every JSON key has its Caddyfile word; mistakes are refused at
// adapt time.
func TestCookieCaddyfile(t *testing.T) {
	t.Parallel()
	got := caddyfileApp(t, `jwt {
	cookie {
		access_name  a
		refresh_name r
		access_path  /api
		refresh_path /auth
		domain       example.com
		secure       ON
		samesite     none
		session      off
		csrf_access_name  ca
		csrf_refresh_name cr
		csrf_access_path  /c
		csrf_refresh_path /d
	}
}`)
	want := `{"cookie":{"access_name":"a","refresh_name":"r","access_path":"/api","refresh_path":"/auth","domain":"example.com","secure":"on","samesite":"none","session":false,"csrf_access_name":"ca","csrf_refresh_name":"cr","csrf_access_path":"/c","csrf_refresh_path":"/d"}}`
	if string(got) != want {
		t.Errorf("adapted\n%s\nwant\n%s", got, want)
	}
	for _, f := range jsonSettingKeys(reflect.TypeFor[CookieConfig]()) {
		_, err := parseGlobalOption(caddyfile.NewTestDispenser("jwt {\n\tcookie {\n\t\t"+f.key+"\n\t}\n}"), nil)
		if err != nil && strings.Contains(err.Error(), "unrecognized") {
			t.Errorf("JSON key %q has no Caddyfile word: %v", f.key, err)
		}
	}
	for text, want := range map[string]string{
		"cookie x {\n}":                       "cookie takes a block of settings only",
		"cookie {\n\tflavour oat\n}":          "unrecognized cookie setting 'flavour'",
		"cookie {\n\tsecure maybe\n}":         "secure must be auto, on, off, not 'maybe'",
		"cookie {\n\tsamesite loose\n}":       "samesite must be lax, strict, none",
		"cookie {\n\tsession yes\n}":          "session must be on or off",
		"cookie {\n\taccess_name\n}":          "wrong argument count",
		"cookie {\n\tdomain a\n\tdomain b\n}": "domain may appear only once",
		"cookie {\n}\n\tcookie {\n}":          "the cookie block may appear only once",
	} {
		_, err := parseGlobalOption(caddyfile.NewTestDispenser("jwt {\n\t"+text+"\n}"), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", text, err, want)
		}
	}
}
