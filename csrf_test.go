package jwtextended

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func csrfRequest(method, target string, c *http.Cookie, hdr map[string]string, body string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	if c != nil {
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	return r
}

// TestCSRFProtectOff: as in flask-jwt-extended, no csrf claim, no CSRF
// cookies, and no CSRF value asked for, on jwt_auth, refresh and logout.
func TestCSRFProtectOff(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withAppJSON(`{"csrf": {"protect": false}}`), withIssuer(deliverCookies))
	cs := e.loginCookies()
	if len(cs) != 2 || cs["access_token_cookie"] == nil || cs["refresh_token_cookie"] == nil {
		t.Fatalf("cookies %v", cs)
	}
	for _, n := range []string{"access_token_cookie", "refresh_token_cookie"} {
		if _, claims := decodeToken(t, cs[n].Value); claims["csrf"] != nil {
			t.Errorf("%s carries csrf %v", n, claims["csrf"])
		}
	}
	if ae := e.authenticateCookie(csrfRequest("DELETE", "/api", cs["access_token_cookie"], nil, ""), token.TypeAccess); ae != nil {
		t.Errorf("DELETE without CSRF: %v", ae)
	}
	w := e.do(csrfRequest("POST", "/refresh", cs["refresh_token_cookie"], nil, ""))
	if w.Code != 200 || len(cookiesOf(w)) != 1 {
		t.Fatalf("refresh without CSRF: %d %s %v", w.Code, w.Body, w.Result().Cookies())
	}
	r := csrfRequest("POST", "/logout", cs["refresh_token_cookie"], nil, "")
	w = e.do(r)
	if w.Code != 200 || len(cookiesOf(w)) != 2 {
		t.Fatalf("logout with the refresh cookie alone: %d %s %v", w.Code, w.Body, w.Result().Cookies())
	}
}

// TestCSRFHeaders: header and refresh_header name where each token's
// value is read; the default header is then not read.
func TestCSRFHeaders(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withAppJSON(`{"csrf": {"header": "X-Access-Csrf", "refresh_header": "x-refresh-csrf"}}`), withIssuer(deliverCookies))
	cs := e.loginCookies()
	acc, ref := cs["access_token_cookie"], cs["refresh_token_cookie"]
	ca, cr := cs["csrf_access_token"].Value, cs["csrf_refresh_token"].Value
	if ae := e.authenticateCookie(csrfRequest("POST", "/api", acc, map[string]string{"X-CSRF-TOKEN": ca}, ""), token.TypeAccess); ae != errMissingCSRF {
		t.Errorf("default header: %v", ae)
	}
	if ae := e.authenticateCookie(csrfRequest("POST", "/api", acc, map[string]string{"X-Access-CSRF": ca}, ""), token.TypeAccess); ae != nil {
		t.Errorf("configured header: %v", ae)
	}
	if ae := e.authenticateCookie(csrfRequest("POST", "/api", acc, map[string]string{"X-Refresh-CSRF": ca}, ""), token.TypeAccess); ae != errMissingCSRF {
		t.Errorf("the refresh header for an access token: %v", ae)
	}
	wantMsg(t, e.do(csrfRequest("POST", "/refresh", ref, map[string]string{"X-Access-CSRF": cr}, "")), 401, "Missing CSRF token")
	if w := e.do(csrfRequest("POST", "/refresh", ref, map[string]string{"X-Refresh-CSRF": cr}, "")); w.Code != 200 {
		t.Fatalf("refresh with refresh_header: %d %s", w.Code, w.Body)
	}
	// logout with the refresh cookie alone takes the refresh header
	wantMsg(t, e.do(csrfRequest("POST", "/logout", ref, map[string]string{"X-Access-CSRF": cr}, "")), 401, "Missing CSRF token")
	if w := e.do(csrfRequest("POST", "/logout", ref, map[string]string{"X-Refresh-CSRF": cr}, "")); w.Code != 200 {
		t.Fatalf("logout with refresh_header: %d %s", w.Code, w.Body)
	}
}

// TestCSRFMethods: methods lists the methods checked, in any case; the
// others pass without a CSRF value. Unset: every method but the safe ones.
func TestCSRFMethods(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withAppJSON(`{"csrf": {"methods": ["POST", "put", "PATCH", "DELETE"]}}`), withIssuer(deliverCookies))
	cs := e.loginCookies()
	acc := cs["access_token_cookie"]
	for method, want := range map[string]*authError{
		"POST": errMissingCSRF, "post": errMissingCSRF, "PUT": errMissingCSRF, "DELETE": errMissingCSRF,
		"GET": nil, "PROPFIND": nil, "OPTIONS": nil,
	} {
		if ae := e.authenticateCookie(csrfRequest(method, "/api", acc, nil, ""), token.TypeAccess); ae != want {
			t.Errorf("%s: %v, want %v", method, ae, want)
		}
	}
	e = newFixture(t, withIssuer(deliverCookies))
	cs = e.loginCookies()
	for method, want := range map[string]*authError{
		"POST": errMissingCSRF, "post": errMissingCSRF, "PROPFIND": errMissingCSRF, "GET": nil, "HEAD": nil, "OPTIONS": nil, "TRACE": nil,
	} {
		if ae := e.authenticateCookie(csrfRequest(method, "/api", cs["access_token_cookie"], nil, ""), token.TypeAccess); ae != want {
			t.Errorf("default, %s: %v, want %v", method, ae, want)
		}
	}
}

// TestCSRFCheckForm: with check_form on and no header, the form field of
// a form body carries the value (refresh_form_field on the refresh route), and the
// body reaches the upstream unchanged; other bodies, larger ones and
// check_form off leave it to the header.
func TestCSRFCheckForm(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withAppJSON(`{"csrf": {"check_form": true, "form_field": "_csrf", "refresh_form_field": "_rcsrf"}}`), withIssuer(deliverCookies))
	cs := e.loginCookies()
	acc, ca := cs["access_token_cookie"], cs["csrf_access_token"].Value
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
	body := url.Values{"_csrf": {ca}, "item": {"x"}}.Encode()
	r := csrfRequest("POST", "/api", acc, form, body)
	if ae := e.authenticateCookie(r, token.TypeAccess); ae != nil {
		t.Fatalf("form field: %v", ae)
	}
	if got, _ := io.ReadAll(r.Body); string(got) != body {
		t.Errorf("the upstream reads %q, want %q", got, body)
	}
	if ae := e.authenticateCookie(csrfRequest("POST", "/api", acc, form, "_csrf=wrong"), token.TypeAccess); ae != errCSRFMismatch {
		t.Errorf("wrong form value: %v", ae)
	}
	// the header is read first, as flask-jwt-extended reads it
	withHeader := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-CSRF-TOKEN": ca}
	if ae := e.authenticateCookie(csrfRequest("POST", "/api", acc, withHeader, "_csrf=wrong"), token.TypeAccess); ae != nil {
		t.Errorf("the header with a wrong form value: %v", ae)
	}
	if ae := e.authenticateCookie(csrfRequest("POST", "/api", acc, form, "csrf_token="+ca), token.TypeAccess); ae != errMissingCSRF {
		t.Errorf("another field: %v", ae)
	}
	jsonBody := map[string]string{"Content-Type": "application/json"}
	if ae := e.authenticateCookie(csrfRequest("POST", "/api", acc, jsonBody, `{"_csrf":"`+ca+`"}`), token.TypeAccess); ae != errMissingCSRF {
		t.Errorf("a JSON body is not a form: %v", ae)
	}
	// a body over the cap is not read as a form, and reaches the upstream whole
	big := "_csrf=" + ca + "&pad=" + strings.Repeat("a", maxIssueBody)
	r = csrfRequest("POST", "/api", acc, map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-CSRF-TOKEN": ca}, big)
	if ae := e.authenticateCookie(r, token.TypeAccess); ae != nil {
		t.Errorf("large body with the header: %v", ae)
	}
	if got, _ := io.ReadAll(r.Body); string(got) != big {
		t.Errorf("the large body reaches the upstream with %d bytes, want %d", len(got), len(big))
	}
	// the refresh route reads refresh_form_field
	ref, cr := cs["refresh_token_cookie"], cs["csrf_refresh_token"].Value
	wantMsg(t, e.do(csrfRequest("POST", "/refresh", ref, form, "_csrf="+cr)), 401, "Missing CSRF token")
	if w := e.do(csrfRequest("POST", "/refresh", ref, form, "_rcsrf="+cr)); w.Code != 200 {
		t.Fatalf("refresh with the refresh form field: %d %s", w.Code, w.Body)
	}

	e = newFixture(t, withIssuer(deliverCookies))

	cs = e.loginCookies()
	if ae := e.authenticateCookie(csrfRequest("POST", "/api", cs["access_token_cookie"], form, "csrf_token="+cs["csrf_access_token"].Value), token.TypeAccess); ae != errMissingCSRF {
		t.Errorf("check_form off reads the form: %v", ae)
	}
}

// TestCSRFInCookiesOff: tokens carry the csrf claim and the check stays,
// but no CSRF cookies are set (or cleared).
func TestCSRFInCookiesOff(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withAppJSON(`{"csrf": {"in_cookies": false}}`), withIssuer(deliverCookies))
	cs := e.loginCookies()
	if len(cs) != 2 {
		t.Fatalf("cookies %v", cs)
	}
	_, claims := decodeToken(t, cs["access_token_cookie"].Value)
	csrf, _ := claims["csrf"].(string)
	if csrf == "" {
		t.Fatalf("no csrf claim: %v", claims)
	}
	acc := cs["access_token_cookie"]
	if ae := e.authenticateCookie(csrfRequest("POST", "/api", acc, nil, ""), token.TypeAccess); ae != errMissingCSRF {
		t.Errorf("no header: %v", ae)
	}
	if ae := e.authenticateCookie(csrfRequest("POST", "/api", acc, map[string]string{"X-CSRF-TOKEN": csrf}, ""), token.TypeAccess); ae != nil {
		t.Errorf("the claim in the header: %v", ae)
	}
}

// TestCSRFSettingsRefused: header names and methods that are not tokens
// are refused at load, by name.
func TestCSRFSettingsRefused(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cfg  CSRFConfig
		want string
	}{
		{CSRFConfig{Header: "X CSRF"}, `csrf header "X CSRF" is not a header name`},
		{CSRFConfig{RefreshHeader: "X:Y"}, "csrf refresh_header"},
		{CSRFConfig{Methods: []string{"POST", "DE LETE"}}, `csrf methods: "DE LETE" is not an HTTP method`},
	} {
		_, err := tryFixture(t, withApp(func(a *App) { a.CSRF = &c.cfg }))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.cfg, err, c.want)
		}
	}
}

// TestCSRFCaddyfile: the csrf block adapts to the JSON of the same names;
// every JSON key has its Caddyfile word; mistakes are refused at adapt
// time.
func TestCSRFCaddyfile(t *testing.T) {
	t.Parallel()
	got := caddyfileApp(t, `jwt {
	csrf {
		protect on
		header X-CSRF-ACCESS
		refresh_header X-CSRF-REFRESH
		methods POST PUT PATCH DELETE
		check_form on
		form_field csrf_token
		refresh_form_field csrf_refresh
		in_cookies off
	}
}`)
	want := `{"csrf":{"protect":true,"header":"X-CSRF-ACCESS","refresh_header":"X-CSRF-REFRESH","methods":["POST","PUT","PATCH","DELETE"],"check_form":true,"form_field":"csrf_token","refresh_form_field":"csrf_refresh","in_cookies":false}}`
	if string(got) != want {
		t.Errorf("adapted\n%s\nwant\n%s", got, want)
	}
	for _, f := range jsonSettingKeys(reflect.TypeFor[CSRFConfig]()) {
		_, err := parseGlobalOption(caddyfile.NewTestDispenser("jwt {\n\tcsrf {\n\t\t"+f.key+"\n\t}\n}"), nil)
		if err != nil && strings.Contains(err.Error(), "unrecognized") {
			t.Errorf("JSON key %q has no Caddyfile word: %v", f.key, err)
		}
	}
	for text, want := range map[string]string{
		"csrf on {\n}":                           "csrf takes a block of settings only",
		"csrf {\n\tcheck_header on\n}":           "unrecognized csrf setting 'check_header'",
		"csrf {\n\tprotect maybe\n}":             "csrf: protect must be on or off",
		"csrf {\n\tin_cookies 1\n}":              "csrf: in_cookies must be on or off",
		"csrf {\n\tmethods\n}":                   "wrong argument count",
		"csrf {\n\theader a b\n}":                "wrong argument count",
		"csrf {\n}\n\tcsrf {\n}":                 "the csrf block may appear only once",
		"csrf {\n\tprotect on\n\tprotect off\n}": "protect may appear only once",
	} {
		_, err := parseGlobalOption(caddyfile.NewTestDispenser("jwt {\n\t"+text+"\n}"), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", text, err, want)
		}
	}
}
