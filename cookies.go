package jwtextended

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Cookie delivery follows flask-jwt-extended: the tokens in HttpOnly
// cookies that scripts cannot read, and each token's csrf claim in a
// cookie that scripts can read and echo in X-CSRF-TOKEN (double submit).
//
// The `cookie { ... }` block of the jwt app names the cookies and sets
// their attributes, with flask-jwt-extended's names and paths as defaults
// (Path=/ for all four: the refresh cookie must reach both the refresh and
// the logout route, which may live anywhere). Two defaults differ from
// flask's on purpose: SameSite=Lax (flask: none), and Secure when the
// request came over HTTPS, directly or through a trusted proxy (flask:
// never). Cookies are session cookies by default (no Max-Age), as flask's
// JWT_SESSION_COOKIE; `session off` gives them Max-Age = the token's
// lifetime.

// Defaults of the cookie block, as flask-jwt-extended names them.
const (
	defaultCookiePath = "/"
)

// Values of `cookie { secure ... }`.
const (
	secureAuto = "auto"
	secureOn   = "on"
	secureOff  = "off"
)

// CookieConfig is the `cookie { ... }` block of the jwt app: the names and
// attributes of the token cookies and their CSRF cookies.
type CookieConfig struct {
	// Name of the access token cookie. Default: access_token_cookie.
	AccessName string `json:"access_name,omitempty"`
	// Name of the refresh token cookie. Default: refresh_token_cookie.
	RefreshName string `json:"refresh_name,omitempty"`
	// Path of the access token cookie. Default: /.
	AccessPath string `json:"access_path,omitempty"`
	// Path of the refresh token cookie. Default: /. It must cover the
	// refresh and the logout route.
	RefreshPath string `json:"refresh_path,omitempty"`
	// Domain attribute of every cookie. Default: none (host-only).
	Domain string `json:"domain,omitempty"`
	// auto (default): Secure when the request came over HTTPS, or from a
	// trusted proxy (Caddy's trusted_proxies) with X-Forwarded-Proto
	// https; on: always; off: never.
	Secure string `json:"secure,omitempty"`
	// lax (default), strict or none; none requires secure on or auto.
	SameSite string `json:"samesite,omitempty"`
	// true (default): session cookies, without Max-Age; false: Max-Age is
	// the token's lifetime.
	Session WeakBool `json:"session,omitempty"`
	// Name of the access token's CSRF cookie. Default: csrf_access_token.
	CSRFAccessName string `json:"csrf_access_name,omitempty"`
	// Name of the refresh token's CSRF cookie. Default: csrf_refresh_token.
	CSRFRefreshName string `json:"csrf_refresh_name,omitempty"`
	// Path of the access token's CSRF cookie. Default: /.
	CSRFAccessPath string `json:"csrf_access_path,omitempty"`
	// Path of the refresh token's CSRF cookie. Default: /.
	CSRFRefreshPath string `json:"csrf_refresh_path,omitempty"`
}

// cookieSettings is the cookie block with its defaults applied.
type cookieSettings struct {
	accessName, refreshName         string
	accessPath, refreshPath         string
	csrfAccessName, csrfRefreshName string
	csrfAccessPath, csrfRefreshPath string
	domain                          string
	secure                          string
	sameSite                        http.SameSite
	session                         bool
	// csrf is the app's csrf block: whether CSRF cookies are set.
	csrf *csrfSettings
}

// cookieSettings resolves the block's placeholders, applies the defaults
// and refuses values that cannot work, by name.
func (c *CookieConfig) settings() (cookieSettings, error) {
	var cc CookieConfig
	if c != nil {
		cc = *c
	}
	session, err := cc.Session.resolve("jwt: cookie", "session", true)
	if err != nil {
		return cookieSettings{}, err
	}
	if err := resolveEach("cookie", &cc.AccessName, &cc.RefreshName, &cc.AccessPath, &cc.RefreshPath, &cc.Domain,
		&cc.Secure, &cc.SameSite, &cc.CSRFAccessName, &cc.CSRFRefreshName, &cc.CSRFAccessPath, &cc.CSRFRefreshPath); err != nil {
		return cookieSettings{}, fmt.Errorf("jwt: %v", err)
	}
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	s := cookieSettings{
		accessName:      or(cc.AccessName, accessCookieName),
		refreshName:     or(cc.RefreshName, refreshCookieName),
		accessPath:      or(cc.AccessPath, defaultCookiePath),
		refreshPath:     or(cc.RefreshPath, defaultCookiePath),
		csrfAccessName:  or(cc.CSRFAccessName, accessCSRFCookie),
		csrfRefreshName: or(cc.CSRFRefreshName, refreshCSRFCookie),
		csrfAccessPath:  or(cc.CSRFAccessPath, defaultCookiePath),
		csrfRefreshPath: or(cc.CSRFRefreshPath, defaultCookiePath),
		domain:          cc.Domain,
		secure:          strings.ToLower(or(cc.Secure, secureAuto)),
		session:         session,
	}
	for _, n := range []struct{ setting, v string }{
		{"access_name", s.accessName}, {"refresh_name", s.refreshName},
		{"csrf_access_name", s.csrfAccessName}, {"csrf_refresh_name", s.csrfRefreshName},
	} {
		if !validCookieName(n.v) {
			return cookieSettings{}, fmt.Errorf("jwt: cookie %s %q is not a valid cookie name; use letters, digits and - _ . only", n.setting, n.v)
		}
	}
	if s.accessName == s.refreshName {
		return cookieSettings{}, fmt.Errorf("jwt: cookie access_name and refresh_name are both %q; the two tokens need cookies of their own", s.accessName)
	}
	for _, p := range []struct{ setting, v string }{
		{"access_path", s.accessPath}, {"refresh_path", s.refreshPath},
		{"csrf_access_path", s.csrfAccessPath}, {"csrf_refresh_path", s.csrfRefreshPath},
	} {
		if !strings.HasPrefix(p.v, "/") || strings.ContainsAny(p.v, "; \t\r\n") {
			return cookieSettings{}, fmt.Errorf("jwt: cookie %s %q must be a path starting with /", p.setting, p.v)
		}
	}
	if strings.ContainsAny(s.domain, "; \t\r\n,") {
		return cookieSettings{}, fmt.Errorf("jwt: cookie domain %q is not a domain", s.domain)
	}
	switch s.secure {
	case secureAuto, secureOn, secureOff:
	default:
		return cookieSettings{}, fmt.Errorf("jwt: cookie secure must be auto, on or off, not %q", cc.Secure)
	}
	switch strings.ToLower(or(cc.SameSite, "lax")) {
	case "lax":
		s.sameSite = http.SameSiteLaxMode
	case "strict":
		s.sameSite = http.SameSiteStrictMode
	case "none":
		if s.secure == secureOff {
			return cookieSettings{}, fmt.Errorf("jwt: cookie samesite none requires secure (browsers drop SameSite=None cookies without it); set secure auto or on, or samesite lax")
		}
		s.sameSite = http.SameSiteNoneMode
	default:
		return cookieSettings{}, fmt.Errorf("jwt: cookie samesite must be lax, strict or none, not %q", cc.SameSite)
	}
	return s, nil
}

// validCookieName: a cookie name is an RFC 6265 token; this module takes
// the characters every client and framework handles alike.
func validCookieName(n string) bool {
	if n == "" {
		return false
	}
	for _, c := range n {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// name is the name of the cookie a token of type typ is read from.
func (c *cookieSettings) name(typ string) string {
	if typ == token.TypeRefresh {
		return c.refreshName
	}
	return c.accessName
}

// csrfCookies reports whether CSRF cookies are set: csrf protect and
// in_cookies both on.
func (c *cookieSettings) csrfCookies() bool { return c.csrf.protect && c.csrf.inCookies }

// setTokenCookies sets the token cookie and, unless CSRF protection or
// its cookies are off, its CSRF cookie.
func (c *cookieSettings) setTokenCookies(w http.ResponseWriter, r *http.Request, typ string, t *token.Minted) {
	name, path, csrfName, csrfPath := c.accessName, c.accessPath, c.csrfAccessName, c.csrfAccessPath
	if typ == token.TypeRefresh {
		name, path, csrfName, csrfPath = c.refreshName, c.refreshPath, c.csrfRefreshName, c.csrfRefreshPath
	}
	maxAge := 0
	if !c.session {
		maxAge = int(t.TTL / time.Second)
	}
	http.SetCookie(w, c.tokenCookie(r, name, path, t.Raw, maxAge, true))
	if c.csrfCookies() && t.CSRF != "" {
		http.SetCookie(w, c.tokenCookie(r, csrfName, csrfPath, t.CSRF, maxAge, false))
	}
}

// clearTokenCookies expires the token cookies and, when they are set at
// all, the CSRF cookies, with the names, paths and domain they were set
// with (a browser only replaces a cookie of the same name, path and
// domain).
func (c *cookieSettings) clearTokenCookies(w http.ResponseWriter, r *http.Request) {
	list := []struct {
		name, path string
		httpOnly   bool
	}{{c.accessName, c.accessPath, true}, {c.refreshName, c.refreshPath, true}}
	if c.csrfCookies() {
		list = append(list, struct {
			name, path string
			httpOnly   bool
		}{c.csrfAccessName, c.csrfAccessPath, false}, struct {
			name, path string
			httpOnly   bool
		}{c.csrfRefreshName, c.csrfRefreshPath, false})
	}
	for _, ck := range list {
		cookie := c.tokenCookie(r, ck.name, ck.path, "", -1, ck.httpOnly)
		cookie.Expires = time.Unix(0, 0)
		http.SetCookie(w, cookie)
	}
}

func (c *cookieSettings) tokenCookie(r *http.Request, name, path, value string, maxAge int, httpOnly bool) *http.Cookie {
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     path,
		Domain:   c.domain,
		MaxAge:   maxAge,
		HttpOnly: httpOnly,
		Secure:   c.secureFor(r),
		SameSite: c.sameSite,
	}
}

// secureFor decides the Secure attribute: secure on or off, or with
// auto, whether the request came over HTTPS: directly, or through a proxy
// that Caddy trusts (the server's trusted_proxies) and that says so in
// X-Forwarded-Proto. The header of an untrusted client is ignored.
func (c *cookieSettings) secureFor(r *http.Request) bool {
	switch c.secure {
	case secureOn:
		return true
	case secureOff:
		return false
	}
	return requestIsHTTPS(r)
}

// requestIsHTTPS reports whether the request came over HTTPS: directly,
// or through a proxy that Caddy trusts (the server's trusted_proxies) and
// that says so in X-Forwarded-Proto.
func requestIsHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool)
	if !trusted {
		return false
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

// CSRFConfig is the `csrf { ... }` block of the jwt app: the double submit
// check of tokens read from cookies.
type CSRFConfig struct {
	// true (default): tokens minted for cookies carry a csrf claim, its
	// CSRF cookie is set, and a cookie token on a protected method needs
	// it back in the header. false: none of these.
	Protect WeakBool `json:"protect,omitempty"`
	// The header that carries an access token's csrf value. Default:
	// X-CSRF-TOKEN.
	Header string `json:"header,omitempty"`
	// The header that carries a refresh token's csrf value (the refresh
	// and logout routes). Default: X-CSRF-TOKEN.
	RefreshHeader string `json:"refresh_header,omitempty"`
	// The methods checked, matched without regard to case. Default: every
	// method except GET, HEAD, OPTIONS and TRACE.
	Methods []string `json:"methods,omitempty"`
	// Without the header, read the csrf value from a field of an
	// application/x-www-form-urlencoded body, as flask-jwt-extended does.
	// Default: off.
	CheckForm WeakBool `json:"check_form,omitempty"`
	// The form field of an access token's csrf value. Default: csrf_token.
	FormField string `json:"form_field,omitempty"`
	// The form field of a refresh token's csrf value. Default: csrf_token.
	RefreshFormField string `json:"refresh_form_field,omitempty"`
	// true (default): the CSRF cookies are set with the token cookies.
	// false: the app hands the csrf value to its pages itself.
	InCookies WeakBool `json:"in_cookies,omitempty"`
}

// csrfSettings is the csrf block with its defaults applied.
type csrfSettings struct {
	protect, checkForm, inCookies bool
	header, refreshHeader         string // canonical form
	formField, refreshFormField   string
	// methods checked; nil: every method but the safe ones
	methods []string
}

const (
	defaultCSRFHeader    = "X-CSRF-TOKEN"
	defaultCSRFFormField = "csrf_token"
)

// settings resolves the block's placeholders, applies the defaults and
// refuses values that cannot work, by name.
func (c *CSRFConfig) settings() (csrfSettings, error) {
	var cc CSRFConfig
	if c != nil {
		cc = *c
		cc.Methods = append([]string(nil), c.Methods...)
	}
	var sw [3]bool
	for i, b := range []struct {
		key string
		w   WeakBool
		def bool
	}{{"check_form", cc.CheckForm, false}, {"in_cookies", cc.InCookies, true}, {"protect", cc.Protect, true}} {
		var err error
		if sw[i], err = b.w.resolve("jwt: csrf", b.key, b.def); err != nil {
			return csrfSettings{}, err
		}
	}
	vals := []*string{&cc.Header, &cc.RefreshHeader, &cc.FormField, &cc.RefreshFormField}
	if err := resolveEach("csrf", append(vals, pointers(cc.Methods)...)...); err != nil {
		return csrfSettings{}, fmt.Errorf("jwt: %v", err)
	}
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	s := csrfSettings{
		checkForm:        sw[0],
		inCookies:        sw[1],
		protect:          sw[2],
		header:           http.CanonicalHeaderKey(or(cc.Header, defaultCSRFHeader)),
		refreshHeader:    http.CanonicalHeaderKey(or(cc.RefreshHeader, defaultCSRFHeader)),
		formField:        or(cc.FormField, defaultCSRFFormField),
		refreshFormField: or(cc.RefreshFormField, defaultCSRFFormField),
	}
	for _, h := range []struct{ setting, v string }{{"header", s.header}, {"refresh_header", s.refreshHeader}} {
		if !httpToken(h.v) {
			return csrfSettings{}, fmt.Errorf("jwt: csrf %s %q is not a header name", h.setting, h.v)
		}
	}
	for _, m := range cc.Methods {
		if !httpToken(m) {
			return csrfSettings{}, fmt.Errorf("jwt: csrf methods: %q is not an HTTP method", m)
		}
		s.methods = append(s.methods, strings.ToUpper(m))
	}
	return s, nil
}

// httpToken reports whether v is an RFC 9110 token (a header name, a
// method).
func httpToken(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// formCSRF reads the csrf field of an application/x-www-form-urlencoded
// body of at most maxIssueBody bytes, and puts the body back for the
// upstream, unchanged. A larger body is not read as a form (and is put
// back whole).
func formCSRF(r *http.Request, field string) string {
	if r.Body == nil || r.Body == http.NoBody {
		return ""
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return ""
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxIssueBody+1))
	rest := r.Body
	if err != nil || len(body) > maxIssueBody {
		r.Body = readCloser{io.MultiReader(bytes.NewReader(body), rest), rest}
		return ""
	}
	r.Body = readCloser{bytes.NewReader(body), rest}
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return ""
	}
	return vals.Get(field)
}

// readCloser reads from r and closes the original body.
type readCloser struct {
	io.Reader
	io.Closer
}
