package jwtextended

import (
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

func TestParseTokenSources(t *testing.T) {
	tests := []struct {
		words   []string
		want    []tokenSource
		wantErr string
	}{
		{[]string{"header"}, []tokenSource{sourceHeader}, ""},
		{[]string{"cookie", "header", "query"}, []tokenSource{sourceCookie, sourceHeader, sourceQuery}, ""},
		{[]string{"QUERY", "Cookie"}, []tokenSource{sourceQuery, sourceCookie}, ""},
		{[]string{}, []tokenSource{}, ""},
		{[]string{"body"}, nil, `unknown token source "body"; use header, cookie, query or json`},
		{[]string{"headers"}, nil, `unknown token source "headers"`},
		{[]string{"header", "cookie", "header"}, nil, "header is listed twice"},
		{[]string{"cookie", "COOKIE"}, nil, "COOKIE is listed twice"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.words, "+"), func(t *testing.T) {
			got, err := parseTokenSources("token_from", tc.words)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "token_from: ") {
					t.Fatalf("err = %v, want one with %q naming token_from", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// TestExtractToken covers the lookup of each source and the refusals that
// only sources.go gives.
func TestExtractToken(t *testing.T) {
	all := []tokenSource{sourceHeader, sourceCookie, sourceQuery}
	tests := []struct {
		name    string
		sources []tokenSource
		cookie  string // cookie name read
		url     string
		headers map[string][]string
		want    string
		from    tokenSource
		err     *authError
		errMsg  string
	}{
		{name: "header", sources: all, url: "/", headers: map[string][]string{"Authorization": {"Bearer aaa"}}, want: "aaa", from: sourceHeader},
		{name: "two Authorization headers", sources: all, url: "/", headers: map[string][]string{"Authorization": {"Bearer aaa", "Bearer bbb"}}, err: errMultipleHeaders},
		{name: "Bearer token with a space", sources: all, url: "/", headers: map[string][]string{"Authorization": {"Bearer aaa bbb"}}, err: errBadHeader},
		{name: "Bearer with two spaces", sources: all, url: "/", headers: map[string][]string{"Authorization": {"Bearer  aaa"}}, err: errBadHeader},
		// a header of another type is one more place without a token, as
		// flask-jwt-extended words it; alone, it is its own refusal
		{name: "Bearerx", sources: all, url: "/", headers: map[string][]string{"Authorization": {"Bearerx aaa"}}, errMsg: `Missing JWT in headers, cookies or query_string (Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'; Missing cookie "access_token_cookie"; Missing "jwt" query parameter)`},
		{name: "Bearerx, header only", sources: []tokenSource{sourceHeader}, url: "/", headers: map[string][]string{"Authorization": {"Bearerx aaa"}}, err: errBadHeaderType},
		{name: "malformed header beats a later cookie", sources: all, url: "/", headers: map[string][]string{"Authorization": {"Basic x"}, "Cookie": {"access_token_cookie=ccc"}}, want: "ccc", from: sourceCookie},
		{name: "another scheme named among the missing", sources: all, url: "/", headers: map[string][]string{"Authorization": {"Basic x"}}, errMsg: `Missing JWT in headers, cookies or query_string (Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'; Missing cookie "access_token_cookie"; Missing "jwt" query parameter)`},
		{name: "cookie among others", sources: []tokenSource{sourceCookie}, url: "/", headers: map[string][]string{"Cookie": {"a=1; access_token_cookie=ccc; b=2"}}, want: "ccc", from: sourceCookie},
		{name: "cookie on a second Cookie line", sources: []tokenSource{sourceCookie}, url: "/", headers: map[string][]string{"Cookie": {"a=1", "access_token_cookie=ccc"}}, want: "ccc", from: sourceCookie},
		{name: "empty cookie value is no token", sources: []tokenSource{sourceCookie}, url: "/", headers: map[string][]string{"Cookie": {"access_token_cookie=; x=1"}}, err: errMissingAccessCookie},
		{name: "empty cookie then a real one", sources: []tokenSource{sourceCookie}, url: "/", headers: map[string][]string{"Cookie": {"access_token_cookie=; access_token_cookie=ddd"}}, want: "ddd", from: sourceCookie},
		{name: "cookie name is exact", sources: []tokenSource{sourceCookie}, url: "/", headers: map[string][]string{"Cookie": {"Access_Token_Cookie=ccc; xaccess_token_cookie=c"}}, err: errMissingAccessCookie},
		{name: "refresh cookie", sources: []tokenSource{sourceCookie}, cookie: refreshCookieName, url: "/", headers: map[string][]string{"Cookie": {"access_token_cookie=a; refresh_token_cookie=rrr"}}, want: "rrr", from: sourceCookie},
		{name: "refresh cookie missing", sources: []tokenSource{sourceCookie}, cookie: refreshCookieName, url: "/", headers: map[string][]string{"Cookie": {"access_token_cookie=a"}}, err: errMissingRefreshCookie},
		{name: "query", sources: []tokenSource{sourceQuery}, url: "/?a=1&jwt=qqq", want: "qqq", from: sourceQuery},
		{name: "query empty", sources: []tokenSource{sourceQuery}, url: "/?jwt=", err: errMissingQuery},
		{name: "query other param", sources: []tokenSource{sourceQuery}, url: "/?token=qqq", err: errMissingQuery},
		{name: "query escaped", sources: []tokenSource{sourceQuery}, url: "/?jwt=a%2Eb%2Ec", want: "a.b.c", from: sourceQuery},
		{name: "nothing, two sources", sources: []tokenSource{sourceQuery, sourceHeader}, url: "/", errMsg: `Missing JWT in query_string or headers (Missing "jwt" query parameter; Missing Authorization Header)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tc.url, nil)
			for k, v := range tc.headers {
				r.Header[k] = v
			}
			cookie := tc.cookie
			if cookie == "" {
				cookie = accessCookieName
			}
			tok, from, e := extractToken(r, tc.sources, defaultNames, cookie, cookie == refreshCookieName)
			switch {
			case tc.err != nil:
				if e != tc.err {
					t.Fatalf("got %q, %v, %v; want error %q", tok, from, e, tc.err.msg)
				}
			case tc.errMsg != "":
				if e == nil || e.msg != tc.errMsg || !e.missing || e.status != 401 {
					t.Fatalf("got %v; want missing error %q", e, tc.errMsg)
				}
			default:
				if e != nil || tok != tc.want || from != tc.from {
					t.Fatalf("got %q from %v, err %v; want %q from %v", tok, from, e, tc.want, tc.from)
				}
			}
		})
	}
}

// TestMissingFromAllIsMemoized: the refusal for "no token in any source"
// is built once per list of sources, not per request.
func TestMissingFromAllIsMemoized(t *testing.T) {
	both := []tokenSource{sourceHeader, sourceCookie}
	first := defaultNames.missingFromAll(both, accessCookieName, nil, nil)
	if first.msg != `Missing JWT in headers or cookies (Missing Authorization Header; Missing cookie "access_token_cookie")` {
		t.Fatalf("message %q", first.msg)
	}
	if defaultNames.missingFromAll(both, accessCookieName, nil, nil) != first {
		t.Fatal("built again for the same sources")
	}
	if e := defaultNames.missingFromAll(both, refreshCookieName, nil, nil); e == first || e.msg == first.msg {
		t.Fatalf("refresh cookie shares the access cookie's refusal: %q", e.msg)
	}
	if e := defaultNames.missingFromAll([]tokenSource{sourceCookie, sourceHeader}, accessCookieName, nil, nil); e == first {
		t.Fatal("another order shares the refusal")
	}
	if n := testing.AllocsPerRun(100, func() { defaultNames.missingFromAll(both, accessCookieName, nil, nil) }); n != 0 {
		t.Fatalf("allocated %v times", n)
	}
}
