package jwtextended

import (
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// Tests of deliver cookie against the token lookup (issue 14, point 4):
// without token_from, a jwt_issue with deliver cookie makes the app's
// default lookup header cookie, for the handlers provisioned before it too;
// a token_from set without cookie that must read the cookies refuses to
// load.

type cookieLookupEnv struct {
	t   *testing.T
	ctx caddy.Context
	app *App
}

func newCookieLookupEnv(t *testing.T, tokenFrom ...string) *cookieLookupEnv {
	t.Helper()
	ctx, app, err := provisionTestApp(t, mustJSON(t, &App{Secret: fixtureSecret, TokenFrom: tokenFrom}), "")
	if err != nil {
		t.Fatal(err)
	}
	return &cookieLookupEnv{t, ctx, app}
}

// issue provisions a jwt_issue with a login route, delivering as given.
func (e *cookieLookupEnv) issue(deliver string, tokenFrom ...string) (*Issue, error) {
	e.t.Helper()
	h := &Issue{Login: "/login", Refresh: "/refresh", Deliver: []string{deliver}, TokenFrom: tokenFrom,
		Users: []User{{Name: "alice", Hash: passwordHash(e.t)}}}
	return h, h.Provision(e.ctx)
}

func (e *cookieLookupEnv) auth(tokenFrom ...string) (*Auth, error) {
	e.t.Helper()
	h := &Auth{TokenFrom: tokenFrom}
	return h, h.Provision(e.ctx)
}

func (e *cookieLookupEnv) mustIssue(deliver string, tokenFrom ...string) *Issue {
	e.t.Helper()
	h, err := e.issue(deliver, tokenFrom...)
	if err != nil {
		e.t.Fatalf("jwt_issue refused to load: %v", err)
	}
	return h
}

func (e *cookieLookupEnv) mustAuth(tokenFrom ...string) *Auth {
	e.t.Helper()
	h, err := e.auth(tokenFrom...)
	if err != nil {
		e.t.Fatalf("jwt_auth refused to load: %v", err)
	}
	return h
}

func wantSources(t *testing.T, who string, got []tokenSource, want string) {
	t.Helper()
	if sourceWords(got) != want {
		t.Errorf("%s looks tokens up in %q, want %q", who, sourceWords(got), want)
	}
}

// TestCookieDeliveryMakesDefaultLookupHeaderCookie: the app's token_from
// unset, a jwt_issue with deliver cookie makes every handler that uses the
// app's lookup read header, then cookie, whatever the order of
// provisioning.
func TestCookieDeliveryMakesDefaultLookupHeaderCookie(t *testing.T) {
	e := newCookieLookupEnv(t)
	before := e.mustAuth()
	jsonIssuer := e.mustIssue("json")
	wantSources(t, "jwt_auth before any cookie delivery", before.sources, "header")
	e.mustIssue("cookie")
	after := e.mustAuth()
	own := e.mustAuth("query")
	wantSources(t, "jwt_auth provisioned before the cookie issuer", before.sources, "header cookie")
	wantSources(t, "jwt_auth provisioned after it", after.sources, "header cookie")
	wantSources(t, "a json jwt_issue", jsonIssuer.sources, "header cookie")
	wantSources(t, "jwt_auth with its own token_from", own.sources, "query")
	if !slices.Equal(e.app.TokenFrom, []string{"header", "cookie"}) {
		t.Errorf("app TokenFrom %v", e.app.TokenFrom)
	}

	// a jwt_issue that reads cookies with a token_from of its own changes
	// the default too
	e = newCookieLookupEnv(t)
	a := e.mustAuth()
	i := e.mustIssue("cookie", "cookie")
	wantSources(t, "jwt_auth", a.sources, "header cookie")
	wantSources(t, "jwt_issue with token_from cookie", i.sources, "cookie")
}

// TestNoCookieDeliveryKeepsHeader: without deliver cookie, the default
// stays header; and a new config's app (a reload) does not inherit the
// cookie delivery of the running one.
func TestNoCookieDeliveryKeepsHeader(t *testing.T) {
	running := newCookieLookupEnv(t)
	running.mustIssue("cookie")
	e := newCookieLookupEnv(t)
	e.mustIssue("json")
	a := e.mustAuth()
	wantSources(t, "jwt_auth of the new config", a.sources, "header")
	wantSources(t, "the new config's app", e.app.sources, "header")
}

// TestCookieDeliveryWithTokenFromWithoutCookieRefused: the app's
// token_from set without cookie, a jwt_issue with deliver cookie and a
// jwt_auth that uses the app's lookup refuse to load, whichever is
// provisioned first, naming the setting and the fix.
func TestCookieDeliveryWithTokenFromWithoutCookieRefused(t *testing.T) {
	wantRefusal := func(t *testing.T, who string, err error) {
		t.Helper()
		if err == nil {
			t.Fatal("loaded; want a refusal")
		}
		for _, want := range []string{who + ":", "deliver cookie", "token_from (header query)", "Missing Authorization Header", "`token_from header cookie`"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("refusal %q does not say %q", err, want)
			}
		}
	}
	t.Run("jwt_auth first", func(t *testing.T) {
		e := newCookieLookupEnv(t, "header", "query")
		e.mustAuth()
		_, err := e.issue("cookie")
		wantRefusal(t, "jwt_issue", err)
	})
	t.Run("jwt_issue first", func(t *testing.T) {
		e := newCookieLookupEnv(t, "header", "query")
		e.mustIssue("cookie")
		_, err := e.auth()
		wantRefusal(t, "jwt_auth", err)
	})
}

// TestCookieDeliveryWithTokenFromWithoutCookieAllowed: the app's
// token_from without cookie is fine while every jwt_auth reads tokens
// where it says itself; the cookie issuer's refresh and logout still read
// the cookies. An app token_from with cookie is taken as it is.
func TestCookieDeliveryWithTokenFromWithoutCookieAllowed(t *testing.T) {
	e := newCookieLookupEnv(t, "header")
	a := e.mustAuth("cookie")
	i := e.mustIssue("cookie")
	wantSources(t, "jwt_auth with token_from cookie", a.sources, "cookie")
	wantSources(t, "the cookie jwt_issue", i.sources, "header cookie")
	wantSources(t, "the app", e.app.sources, "header")

	e = newCookieLookupEnv(t, "cookie", "query")
	i = e.mustIssue("cookie")
	a = e.mustAuth()
	wantSources(t, "jwt_auth", a.sources, "cookie query")
	wantSources(t, "jwt_issue", i.sources, "cookie query")
}

// TestIssueTokenFromWithoutCookieRefused: a jwt_issue that delivers
// cookies with a token_from of its own without cookie: its refresh and
// logout could never read them.
func TestIssueTokenFromWithoutCookieRefused(t *testing.T) {
	e := newCookieLookupEnv(t)
	_, err := e.issue("cookie", "header", "json")
	if err == nil || !strings.Contains(err.Error(), "token_from (header json) does not read cookies") ||
		!strings.Contains(err.Error(), "`token_from header json cookie`") {
		t.Fatalf("refusal %v", err)
	}
	e.mustIssue("json", "header")
}
