package jwtextended

import (
	"slices"
	"strings"
	"testing"
)

// Tests of deliver cookie against the token lookup (issue 14, point 4):
// without token_from, a jwt_issue with deliver cookie makes the app's
// default lookup header cookie, for the handlers provisioned before it too;
// a token_from set without cookie that must read the cookies refuses to
// load.

// issuerDelivering is a jwt_issue with login and refresh routes,
// delivering as given, reading tokens from tokenFrom (the app's lookup
// when none).
func issuerDelivering(t *testing.T, deliver string, tokenFrom ...string) *Issue {
	return &Issue{Login: "/login", Refresh: "/refresh", Deliver: []string{deliver}, TokenLookup: TokenLookup{TokenFrom: tokenFrom},
		Users: []User{{Name: "alice", Hash: passwordHash(t)}}}
}

// authFrom is a jwt_auth reading tokens from tokenFrom (the app's lookup
// when none).
func authFrom(tokenFrom ...string) *Auth {
	return &Auth{TokenLookup: TokenLookup{TokenFrom: tokenFrom}}
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
	t.Parallel()
	e := newFixture(t)
	before := e.auth(authFrom())
	jsonIssuer := e.issue(issuerDelivering(t, "json"))
	wantSources(t, "jwt_auth before any cookie delivery", *before.auth.sources, "header")
	e.issue(issuerDelivering(t, "cookie"))
	after := e.auth(authFrom())
	own := e.auth(authFrom("query"))
	wantSources(t, "jwt_auth provisioned before the cookie issuer", *before.auth.sources, "header cookie")
	wantSources(t, "jwt_auth provisioned after it", *after.auth.sources, "header cookie")
	wantSources(t, "a json jwt_issue", *jsonIssuer.auth.sources, "header cookie")
	wantSources(t, "jwt_auth with its own token_from", *own.auth.sources, "query")
	if !slices.Equal(e.app.TokenFrom, []string{"header", "cookie"}) {
		t.Errorf("app TokenFrom %v", e.app.TokenFrom)
	}

	// a jwt_issue that reads cookies with a token_from of its own changes
	// the default too
	e = newFixture(t)
	a := e.auth(authFrom())
	i := e.issue(issuerDelivering(t, "cookie", "cookie"))
	wantSources(t, "jwt_auth", *a.auth.sources, "header cookie")
	wantSources(t, "jwt_issue with token_from cookie", *i.auth.sources, "cookie")
}

// TestNoCookieDeliveryKeepsHeader: without deliver cookie, the default
// stays header; and a new config's app (a reload) does not inherit the
// cookie delivery of the running one.
func TestNoCookieDeliveryKeepsHeader(t *testing.T) {
	t.Parallel()
	running := newFixture(t)
	running.issue(issuerDelivering(t, "cookie"))
	e := newFixture(t)
	e.issue(issuerDelivering(t, "json"))
	a := e.auth(authFrom())
	wantSources(t, "jwt_auth of the new config", *a.auth.sources, "header")
	wantSources(t, "the new config's app", e.app.sources, "header")
}

// TestCookieDeliveryWithTokenFromWithoutCookieRefused: the app's
// token_from set without cookie, a jwt_issue with deliver cookie and a
// jwt_auth that uses the app's lookup refuse to load, whichever is
// provisioned first, naming the setting and the fix.
func TestCookieDeliveryWithTokenFromWithoutCookieRefused(t *testing.T) {
	t.Parallel()
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
		e := newFixture(t, withApp(func(a *App) { a.TokenFrom = []string{"header", "query"} }))
		e.auth(authFrom())
		_, err := e.tryIssue(issuerDelivering(t, "cookie"))
		wantRefusal(t, "jwt_issue", err)
	})
	t.Run("jwt_issue first", func(t *testing.T) {
		e := newFixture(t, withApp(func(a *App) { a.TokenFrom = []string{"header", "query"} }))
		e.issue(issuerDelivering(t, "cookie"))
		_, err := e.tryAuth(authFrom())
		wantRefusal(t, "jwt_auth", err)
	})
}

// TestCookieDeliveryWithTokenFromWithoutCookieAllowed: the app's
// token_from without cookie is fine while every jwt_auth reads tokens
// where it says itself; the cookie issuer's refresh and logout still read
// the cookies. An app token_from with cookie is taken as it is.
func TestCookieDeliveryWithTokenFromWithoutCookieAllowed(t *testing.T) {
	t.Parallel()
	e := newFixture(t, withApp(func(a *App) { a.TokenFrom = []string{"header"} }))
	a := e.auth(authFrom("cookie"))
	i := e.issue(issuerDelivering(t, "cookie"))
	wantSources(t, "jwt_auth with token_from cookie", *a.auth.sources, "cookie")
	wantSources(t, "the cookie jwt_issue", *i.auth.sources, "header cookie")
	wantSources(t, "the app", e.app.sources, "header")

	e = newFixture(t, withApp(func(a *App) { a.TokenFrom = []string{"cookie", "query"} }))
	i = e.issue(issuerDelivering(t, "cookie"))
	a = e.auth(authFrom())
	wantSources(t, "jwt_auth", *a.auth.sources, "cookie query")
	wantSources(t, "jwt_issue", *i.auth.sources, "cookie query")
}

// TestIssueTokenFromWithoutCookieRefused: a jwt_issue that delivers
// cookies with a token_from of its own without cookie: its refresh and
// logout could never read them.
func TestIssueTokenFromWithoutCookieRefused(t *testing.T) {
	t.Parallel()
	e := newFixture(t)
	_, err := e.tryIssue(issuerDelivering(t, "cookie", "header", "json"))
	if err == nil || !strings.Contains(err.Error(), "token_from (header json) does not read cookies") ||
		!strings.Contains(err.Error(), "`token_from header json cookie`") {
		t.Fatalf("refusal %v", err)
	}
	e.issue(issuerDelivering(t, "json", "header"))
}
