package jwtextended

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
)

// The README's handle_errors example, run: a refused request is redirected
// to the login page, and the login page itself is served without a token
// (the example once guarded /login too, and redirected it to itself).
func TestReadmeHandleErrorsExample(t *testing.T) {
	block := testkit.DocBlocks(t, "README.md", "### Handing refusals to `handle_errors`", "caddyfile")[0]
	site := strings.Replace(block, "example.com", "http://localhost", 1)
	site = testkit.ReplaceReverseProxy(t, site, `respond "page {path}"`)
	cfg := caddyGlobals(fmt.Sprintf("\tauto_https off\n\tjwt {\n\t\tsecret \"%s\"\n\t}\n", fixtureSecret)) + site
	srv := startCaddy(t, cfg)
	c := srv.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	res, err := c.Get(srv.Base + "/account")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/login?reason=missing" {
		t.Fatalf("/account without a token: %d %q, want a redirect to /login", res.StatusCode, res.Header.Get("Location"))
	}
	st, _, body := issuerITDo(t, c, "GET", "/login?reason=missing", nil, "")
	if st != 200 || body != "page /login" {
		t.Fatalf("/login without a token: %d %q, want the page (no redirect loop)", st, body)
	}
}
