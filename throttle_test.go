package jwtextended

import (
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/users"
)

func TestThrottlePerUser(t *testing.T) {
	e := newFixture(t, withIssuer(func(h *Issue) {
		h.Throttle = &ThrottleConfig{MaxPerUser: "3", MaxPerIP: "100", Window: "10m"}
	}))
	fail := func(ip string) *httptest.ResponseRecorder {
		return e.doFrom(ip, jsonPost("/login", creds("alice", "wrong")))
	}
	for i := 0; i < 3; i++ {
		// from different IPs: the username counter alone trips
		if w := fail("198.51.100." + strconv.Itoa(i)); w.Code != 401 {
			t.Fatalf("failure %d: %d", i, w.Code)
		}
	}
	e.clock.Advance(time.Minute)
	// now even the right password is refused, with Retry-After until the
	// window (from the first failure) ends
	w := e.doFrom("203.0.113.9", jsonPost("/login", creds("alice", fixturePassword)))
	wantMsg(t, w, 429, "Too many failed login attempts")
	if got := w.Header().Get("Retry-After"); got != "540" {
		t.Errorf("Retry-After %q, want 540", got)
	}
	// reauth is throttled alike
	w = e.do(jsonPost("/reauth", creds("alice", fixturePassword)))
	wantMsg(t, w, 429, "Too many failed login attempts")
	// another user is not affected
	if w := e.do(jsonPost("/login", creds("bob", "x"))); w.Code != 401 {
		t.Errorf("another username: %d", w.Code)
	}
	e.clock.Advance(9 * time.Minute)
	if w := e.do(jsonPost("/login", creds("alice", fixturePassword))); w.Code != 200 {
		t.Errorf("after the window: %d", w.Code)
	}
}
func TestThrottleSuccessResetsUser(t *testing.T) {
	e := newFixture(t, withIssuer(func(h *Issue) {
		h.Throttle = &ThrottleConfig{MaxPerUser: "3", MaxPerIP: "100"}
	}))
	for round := 0; round < 3; round++ {
		for i := 0; i < 2; i++ {
			if w := e.do(jsonPost("/login", creds("alice", "wrong"))); w.Code != 401 {
				t.Fatalf("round %d failure %d: %d", round, i, w.Code)
			}
		}
		if w := e.do(jsonPost("/login", creds("alice", fixturePassword))); w.Code != 200 {
			t.Fatalf("round %d: a success must reset the count, got %d", round, w.Code)
		}
	}
}
func TestThrottlePerIP(t *testing.T) {
	e := newFixture(t, withIssuer(func(h *Issue) {
		h.Throttle = &ThrottleConfig{MaxPerUser: "100", MaxPerIP: "4"}
	}))
	for i := 0; i < 4; i++ {
		w := e.doFrom("198.51.100.7", jsonPost("/login", creds("user"+strconv.Itoa(i), "x")))
		if w.Code != 401 {
			t.Fatalf("failure %d: %d", i, w.Code)
		}
	}
	w := e.doFrom("198.51.100.7", jsonPost("/login", creds("alice", fixturePassword)))
	wantMsg(t, w, 429, "Too many failed login attempts")
	if got := w.Header().Get("Retry-After"); got != "900" {
		t.Errorf("Retry-After %q, want 900 (default window)", got)
	}
	// another client IP (Caddy's client IP var, which honours
	// trusted_proxies) is not affected
	if w := e.doFrom("198.51.100.8", jsonPost("/login", creds("alice", fixturePassword))); w.Code != 200 {
		t.Errorf("another IP: %d", w.Code)
	}
}
func TestThrottleDefaults(t *testing.T) {
	e := newFixture(t, withIssuer())
	for i := 0; i < users.DefaultMaxPerUser; i++ {
		e.do(jsonPost("/login", creds("alice", "wrong")))
	}
	wantMsg(t, e.do(jsonPost("/login", creds("alice", fixturePassword))), 429, "Too many failed login attempts")

	off := newFixture(t, withIssuer(func(h *Issue) { h.Throttle = &ThrottleConfig{Disabled: true} }))
	for i := 0; i < 30; i++ {
		off.do(jsonPost("/login", creds("alice", "wrong")))
	}
	if w := off.do(jsonPost("/login", creds("alice", fixturePassword))); w.Code != 200 {
		t.Errorf("throttle off: %d", w.Code)
	}
}
