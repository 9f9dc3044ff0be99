package jwtextended

import (
	"net/http"

	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// A CORS preflight is OPTIONS with Origin and Access-Control-Request-
// Method, no body and no credentials (issue 19, point 3); anything else
// that claims to be one is verified by jwt_auth. Before, any OPTIONS with
// Access-Control-Request-Method passed jwt_auth untouched, so a
// method-agnostic app served the protected answer with no token.
func TestAuthFakePreflightVerified(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.auth(&Auth{})
	for _, tc := range []struct {
		name   string
		hdr    map[string]string
		body   string
		passed bool
	}{
		{"real preflight", map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}, "", true},
		{"without Origin", map[string]string{"Access-Control-Request-Method": "POST"}, "", false},
		{"with a body", map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}, `{"a":1}`, false},
		{"with a cookie", map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "POST", "Cookie": "a=b"}, "", false},
		{"with Authorization", map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "POST", "Authorization": "Basic eDp5"}, "", false},
	} {
		r := jsonPost("/api", tc.body)
		r.Method = http.MethodOptions
		if tc.body == "" {
			r.Body, r.ContentLength = http.NoBody, 0
		}
		for k, v := range tc.hdr {
			r.Header.Set(k, v)
		}
		res := serve(h, r)
		if res.next.called != tc.passed {
			t.Errorf("%s: passed on %v (status %d), want %v", tc.name, res.next.called, res.rec.Code, tc.passed)
		}
		if !tc.passed && res.rec.Code != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", tc.name, res.rec.Code)
		}
	}
}

// With the cors block the module answers preflights on its routes itself
// and adds the CORS headers to its answers and to the upstream's, for
// the listed origins only.
func TestCORSBlock(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withAppJSON(`{"cors":{"origins":["https://app.example"],"credentials":true,"max_age":600000000000}}`))
	h := f.auth(&Auth{})
	pre := func(origin string) *http.Request {
		r := bearerGet("")
		r.Method = http.MethodOptions
		r.Header.Del("Authorization")
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", "PUT")
		return r
	}
	res := serve(h, pre("https://app.example"))
	hd := res.rec.Header()
	if res.next.called || res.rec.Code != http.StatusNoContent || hd.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		hd.Get("Access-Control-Allow-Methods") != "PUT" || hd.Get("Access-Control-Allow-Credentials") != "true" ||
		hd.Get("Access-Control-Max-Age") != "600" || !strings.Contains(hd.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight: next %v, %d %v", res.next.called, res.rec.Code, hd)
	}
	res = serve(h, pre("https://evil.example"))
	if res.next.called || res.rec.Code != http.StatusNoContent || res.rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight of another origin: next %v, %d %v", res.next.called, res.rec.Code, res.rec.Header())
	}
	// a refusal and an upstream's answer carry the headers, once
	r := bearerGet("")
	r.Header.Del("Authorization")
	r.Header.Set("Origin", "https://app.example")
	res = serve(h, r)
	if res.rec.Code != http.StatusUnauthorized || res.rec.Header().Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Fatalf("refusal: %d %v", res.rec.Code, res.rec.Header())
	}
	r = bearerGet(f.access(nil))
	r.Header.Set("Origin", "https://app.example")
	rec, _, err := f.serveNext("", h, r, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Add("Access-Control-Allow-Origin", "*") // the app's own
		w.WriteHeader(http.StatusOK)
		return nil
	}))
	if got := rec.Header().Values("Access-Control-Allow-Origin"); err != nil || rec.Code != http.StatusOK || len(got) != 1 || got[0] != "https://app.example" {
		t.Fatalf("upstream answer: %d %v %v", rec.Code, rec.Header(), err)
	}

	for _, bad := range []string{`{"origins":[]}`, `{"origins":["*"]}`, `{"origins":["https://app.example/"]}`, `{"origins":["app.example"]}`, `{"origins":["https://a.example"],"headers":["bad header"]}`} {
		if _, err := tryFixture(t, withAppJSON(`{"cors":`+bad+`}`)); err == nil || !strings.Contains(err.Error(), "cors") {
			t.Errorf("cors %s: %v", bad, err)
		}
	}
}
