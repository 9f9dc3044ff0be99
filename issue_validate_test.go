package jwtextended

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Settings that load without a word and break something are refused at
// load, naming the setting and the fix (issue 19, point 6). Each case
// loaded before its check.
func TestIssueRefusedAtLoad(t *testing.T) {
	t.Parallel()
	hash := passwordHash(t)
	wantRefusedAtLoad(t, []refusedAtLoad{
		{"users beside a delegated login and reauth", "",
			`{"login":"/l","reauth":"/r","upstream":["login","reauth"],"users":[{"name":"alice","hash":"` + hash + `"}]}`,
			"user and users_file would never be consulted"},
		{"users_file beside a delegated login", "",
			`{"login":"/l","upstream":["login"],"users_file":` + string(mustJSON(t, usersFileOf(t, "alice:"+hash))) + `}`,
			"user and users_file would never be consulted"},
		{"rotate_grace without rotate_refresh", "",
			`{"refresh":"/r","rotate_grace":"30s"}`,
			"rotate_grace applies only to rotated refresh tokens"},
		{"a jwks route with only an HMAC secret", "",
			`{"jwks":"/.well-known/jwks.json"}`,
			"would publish no key"},
		{"refresh_path that misses logout", `{"cookie":{"refresh_path":"/auth/refresh"}}`,
			`{"refresh":"/auth/refresh","logout":"/auth/logout","deliver":["cookie"]}`,
			"cookie refresh_path /auth/refresh does not cover the logout route /auth/logout"},
		{"csrf_refresh_path that misses refresh", `{"cookie":{"csrf_refresh_path":"/auth/logout"}}`,
			`{"refresh":"/auth/refresh","logout":"/auth/logout","deliver":["cookie"]}`,
			"cookie csrf_refresh_path /auth/logout does not cover the refresh route /auth/refresh"},
		{"failed_status without a delegated login", "",
			`{"login":"/l","users":[{"name":"alice","hash":"` + hash + `"}],"failed_status":[302]}`,
			"failed_status counts the app's answers to a delegated login or reauth"},
		{"paths that differ in case", "",
			`{"refresh":"/auth/refresh","logout":"/AUTH/REFRESH/"}`,
			"share the path"},
	})

	// what the refusals leave alone
	f := newFixture(t, withAppJSON(`{"cookie":{"refresh_path":"/auth/"}}`))
	if _, err := f.tryIssue(`{"refresh":"/auth/refresh","logout":"/auth/logout","deliver":["cookie"],"rotate_refresh":true,"rotate_grace":"30s"}`); err != nil {
		t.Errorf("refresh_path /auth/ covering both routes: %v", err)
	}
	if _, err := newFixture(t, withAppJSON(`{"secret":null}`)).tryIssue(`{"jwks":"/jwks"}`); err != nil {
		t.Errorf("a jwks route with the generated key: %v", err)
	}
	if _, err := newFixture(t).tryIssue(`{"login":"/l","upstream":["login"],"reauth":"/r","users":[{"name":"alice","hash":"` + hash + `"}]}`); err != nil {
		t.Errorf("users for a local reauth beside a delegated login: %v", err)
	}
}

// refresh_ttl shorter than access_ttl is refused by the app.
func TestAppRefreshShorterThanAccessRefused(t *testing.T) {
	t.Parallel()
	_, err := tryFixture(t, withAppJSON(`{"access_ttl":"1h","refresh_ttl":"30m"}`))
	if err == nil || !strings.Contains(err.Error(), "refresh_ttl (30m0s) is shorter than access_ttl (1h0m0s)") {
		t.Fatalf("%v", err)
	}
	if _, err := tryFixture(t, withAppJSON(`{"access_ttl":"1h","refresh_ttl":"1h"}`)); err != nil {
		t.Fatalf("equal lifetimes: %v", err)
	}
}

// usersFileOf writes a users file of lines and returns its path.
func usersFileOf(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// refusedAtLoad is a jwt_issue config (JSON) on an app config (JSON, ""
// for {}) that must be refused at load with an error containing want.
type refusedAtLoad struct{ name, app, issue, want string }

// wantRefusedAtLoad provisions each case's issuer on a fixture of its app
// and checks that the load fails, naming what want says.
func wantRefusedAtLoad(t *testing.T, cases []refusedAtLoad) {
	t.Helper()
	for _, tc := range cases {
		if tc.app == "" {
			tc.app = "{}"
		}
		f := newFixture(t, withAppJSON(tc.app))
		_, err := f.tryIssue(tc.issue)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}
