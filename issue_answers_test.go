package jwtextended

import (
	"net/http"
	"strings"
	"testing"
)

// Delegated answers are checked by the verifier's own rules before
// anything is minted (issue 19, point 5): a token the module would refuse
// is never delivered, and the client gets 502 "Bad identity from
// upstream".

// Claim names that equal a name the module sets up to case and Unicode
// folding were minted, and every token of that login was then refused
// with "Duplicate claim names".
func TestDelegatedClaimsFoldedNames(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"Type", "FRESH", "ſub", "Jti", "EXP", "Fam", "CSRF"} {
		f := newFixture(t, withIssuer(delegated(false, nil)))
		logs := f.observeIssuer()
		app := &delegateApp{answer: vouch("alice", `{"`+name+`":"x"}`)}
		w, _ := f.doNext(delegateLogin("alice", "pw"), app)
		wantMsg(t, w, http.StatusBadGateway, "Bad identity from upstream")
		if logs.FilterMessageSnippet("cannot be used").Len() != 1 {
			t.Errorf("%s: the reason was not logged", name)
		}
	}
	// a name of the app's own passes, and is in the token
	f := newFixture(t, withIssuer(delegated(false, nil)))
	w, _ := f.doNext(delegateLogin("alice", "pw"), &delegateApp{answer: vouch("alice", `{"Role":"admin"}`)})
	if w.Code != http.StatusOK {
		t.Fatalf("a claim of the app's own: %d %s", w.Code, w.Body)
	}
	if _, c := decodeToken(t, bodyJSON(t, w)["access_token"].(string)); c["Role"] != "admin" {
		t.Fatalf("claims %v", c)
	}
}

// 4 KiB of '<' in a claim made a 32 KB token (golang-jwt writes < as
// \u003c) that jwt_auth refuses with 431; with cookie delivery, a token
// whose cookie browsers drop (over 4096 bytes) is refused too, while JSON
// delivery takes it.
func TestDelegatedTokenTooLarge(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withIssuer(delegated(false, nil)))
	logs := f.observeIssuer()
	big := `{"note":"` + strings.Repeat("<", 4000) + `"}`
	w, _ := f.doNext(delegateLogin("alice", "pw"), &delegateApp{answer: vouch("alice", big)})
	wantMsg(t, w, http.StatusBadGateway, "Bad identity from upstream")
	if logs.FilterMessageSnippet("cannot be used").Len() != 1 {
		t.Error("the reason was not logged")
	}

	medium := `{"note":"` + strings.Repeat("a", 3200) + `"}`
	f = newFixture(t, withIssuer(delegated(false, nil)))
	if w, _ := f.doNext(delegateLogin("alice", "pw"), &delegateApp{answer: vouch("alice", medium)}); w.Code != http.StatusOK {
		t.Fatalf("JSON delivery of a 4.5 KB token: %d %s", w.Code, w.Body)
	}
	f = newFixture(t, withIssuer(delegated(false, deliverCookies)))
	w, _ = f.doNext(delegateLogin("alice", "pw"), &delegateApp{answer: vouch("alice", medium)})
	wantMsg(t, w, http.StatusBadGateway, "Bad identity from upstream")
	if len(w.Result().Cookies()) != 0 {
		t.Fatal("cookies were set")
	}
}

// An empty X-Jwt-Issue-Identity on a 2xx gave the client an empty 200.
func TestDelegatedEmptyIdentity(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withIssuer(delegated(false, nil)))
	w, _ := f.doNext(delegateLogin("alice", "pw"), &delegateApp{answer: vouch("", "")})
	wantMsg(t, w, http.StatusBadGateway, "Bad identity from upstream")
}

// failed_status lists the app's answers that count as failed logins;
// only 401 and 403 did, so an app that answers a failed form login with
// 302 was never throttled.
func TestDelegatedFailedStatus(t *testing.T) {
	t.Parallel()
	redirect := answerWith(http.StatusFound, "back to the form")
	for _, tc := range []struct {
		name      string
		failed    string
		throttled bool
	}{{"default 401 403", "", false}, {"failed_status 302", `"failed_status":[302]`, true}} {
		cfg := `{"throttle":{"max_per_user":1,"max_per_ip":100}`
		if tc.failed != "" {
			cfg += "," + tc.failed
		}
		f := newFixture(t, withIssuer(delegated(false, issuerJSON(cfg+"}"))))
		app := &delegateApp{answer: redirect}
		f.doNext(delegateLogin("alice", "wrong"), app)
		w, _ := f.doNext(delegateLogin("alice", "right"), app)
		if got := w.Code == http.StatusTooManyRequests; got != tc.throttled {
			t.Errorf("%s: second login %d, throttled %v, want %v", tc.name, w.Code, got, tc.throttled)
		}
		if want := map[bool]int32{true: 1, false: 2}[tc.throttled]; app.calls.Load() != want {
			t.Errorf("%s: the app was asked %d times, want %d", tc.name, app.calls.Load(), want)
		}
	}
	if _, err := newFixture(t).tryIssue(`{"login":"/l","upstream":["login"],"failed_status":[99]}`); err == nil || !strings.Contains(err.Error(), "failed_status 99") {
		t.Fatalf("failed_status 99: %v", err)
	}
}

// A delegated login answered 2xx without an identity (an app that still
// mints its own tokens) passed its answer on with nothing in the log: it
// warns, once per route.
func TestDelegatedNoIdentityWarnsOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withIssuer(delegated(false, nil)))
	logs := f.observeIssuer()
	app := &delegateApp{answer: answerWith(http.StatusOK, `{"access_token":"flask's own"}`)}
	for range 3 {
		w, _ := f.doNext(delegateLogin("alice", "pw"), app)
		if w.Code != http.StatusOK || w.Header().Get("X-Jwt-Issue-Debug") != "" {
			t.Fatalf("%d %v", w.Code, w.Header())
		}
	}
	if n := logs.FilterMessageSnippet("without X-Jwt-Issue-Identity").Len(); n != 1 {
		t.Fatalf("%d warnings, want 1", n)
	}
}

// The trailers of an answer that passes through were lost; its
// X-Jwt-Issue-* trailers still never reach the client.
func TestDelegatedTrailersPassThrough(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withIssuer(delegated(false, nil)))
	app := &delegateApp{answer: func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Trailer", "X-Checksum")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"msg":"no"}`))
		w.Header().Set("X-Checksum", "abc")
		w.Header().Set(http.TrailerPrefix+"X-Jwt-Issue-Identity", "alice")
		return nil
	}}
	w, _ := f.doNext(delegateLogin("alice", "pw"), app)
	res := w.Result()
	if res.StatusCode != http.StatusUnauthorized || res.Trailer.Get("X-Checksum") != "abc" {
		t.Fatalf("status %d, trailers %v", res.StatusCode, res.Trailer)
	}
	if res.Trailer.Get("X-Jwt-Issue-Identity") != "" || w.Header().Get(http.TrailerPrefix+"X-Jwt-Issue-Identity") != "" {
		t.Fatal("an X-Jwt-Issue-* trailer reached the client")
	}
}

// Every delegated call carries X-Jwt-Issue-Route: login, reauth or
// refresh; a client's own never reaches the app.
func TestDelegatedRouteHeader(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withIssuer(delegated(true, nil)))
	app := &delegateApp{answer: vouch("alice", "")}
	for _, tc := range []struct{ path, want string }{{"/login", "login"}, {"/reauth", "reauth"}} {
		r := jsonPost(tc.path, creds("alice", "pw"))
		r.Header.Set("X-Jwt-Issue-Route", "forged")
		if w, _ := f.doNext(r, app); w.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", tc.path, w.Code, w.Body)
		}
		if got := app.header.Values("X-Jwt-Issue-Route"); len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s: the app got X-Jwt-Issue-Route %q, want %q", tc.path, got, tc.want)
		}
	}
	w, _ := f.doNext(delegateLogin("alice", "pw"), app)
	refresh := bodyJSON(t, w)["refresh_token"].(string)
	r := withBearer(jsonPost("/refresh", "{}"), refresh)
	r.Header.Set("X-Jwt-Issue-Route", "login")
	if w, _ := f.doNext(r, app); w.Code != http.StatusOK {
		t.Fatalf("refresh: %d %s", w.Code, w.Body)
	}
	if got := app.header.Values("X-Jwt-Issue-Route"); len(got) != 1 || got[0] != "refresh" {
		t.Errorf("refresh: the app got X-Jwt-Issue-Route %q", got)
	}
}
