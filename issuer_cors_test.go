package jwtextended

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Tests of CORS preflights on jwt_issue routes (issue 14, point 3): a
// preflight passes on to the next handler, which answers it (the site's
// CORS recipe); every other OPTIONS request is refused as before.

func TestIssuePreflightPassesOn(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withAppJSON(`{"secret":null}`), withIssuer(func(h *Issue) { h.JWKS = "/jwks" }))
	for _, p := range []string{"/login", "/refresh", "/reauth", "/logout", "/jwks"} {
		r := httptest.NewRequest(http.MethodOptions, p, nil)
		r.Header.Set("Origin", "https://app.example")
		r.Header.Set("Access-Control-Request-Method", "POST")
		r.Header.Set("Access-Control-Request-Headers", "content-type, x-csrf-token")
		w := e.do(r)
		if w.Code != nextStatus || w.Body.String() != "next" || len(w.Header()) != 0 {
			t.Errorf("preflight to %s: not passed on untouched: %d %q %v", p, w.Code, w.Body, w.Header())
		}
	}
}

func TestIssueOptionsWithoutPreflightRefused(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withAppJSON(`{"secret":null}`), withIssuer(func(h *Issue) { h.JWKS = "/jwks" }))
	for _, p := range []string{"/login", "/refresh", "/reauth", "/logout", "/jwks"} {
		for _, hdr := range []map[string]string{nil, {"Origin": "https://app.example"}, {"Access-Control-Request-Method": ""}} {
			r := httptest.NewRequest(http.MethodOptions, p, nil)
			for k, v := range hdr {
				r.Header.Set(k, v)
			}
			w := e.do(r)
			want := "POST"
			if p == "/jwks" {
				want = "GET, HEAD"
			}
			if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != want {
				t.Errorf("OPTIONS %s %v: %d Allow %q, want 405 Allow %q", p, hdr, w.Code, w.Header().Get("Allow"), want)
			}
		}
		// a preflight is OPTIONS only: a POST that carries the header is
		// served by the route
		r := httptest.NewRequest(http.MethodGet, p, nil)
		r.Header.Set("Access-Control-Request-Method", "POST")
		r.Method = http.MethodPut
		if w := e.do(r); w.Code == nextStatus {
			t.Errorf("PUT %s with Access-Control-Request-Method passed on", p)
		}
	}
}
