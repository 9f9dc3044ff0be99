package jwtextended

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
)

// TestDocsDeadRoutes runs the example of docs/issuer.md's "Routes that can
// never match" through a real Caddy: jwt_issue inside handle keeps the
// path, inside handle_path it answers the path as stripped; and it shows
// the two pitfalls the section describes as they behave today (nothing
// refuses to load or warns): a route path that handle_path strips passes
// on, and the second of two jwt_issue on one path is never reached.
func TestDocsDeadRoutes(t *testing.T) {
	doc, err := os.ReadFile("docs/issuer.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	s = s[strings.Index(s, "### Routes that can never match"):]
	m := regexp.MustCompile("(?s)\n( *)```caddyfile\n(.*?)```").FindStringSubmatch(s)
	if m == nil {
		t.Fatal("docs/issuer.md: no Caddyfile in \"Routes that can never match\"")
	}
	block := dedent(m[2], m[1])
	ports := testkit.SharedPorts(t)
	hash := testkit.BcryptHash(t, "pw-alice")
	for old, repl := range map[string]string{
		"example.com {": ports.HTTPBase() + " {",
		"\n}":           "\n\thandle_path /broken/* {\n\t\tjwt_issue {\n\t\t\tlogin /broken/login\n\t\t\tuser alice " + hash + "\n\t\t}\n\t\trespond \"passed on {path}\"\n\t}\n}",
	} {
		if !strings.Contains(block, old) {
			t.Fatalf("the example no longer has %q:\n%s", old, block)
		}
		block = strings.Replace(block, old, repl, 1)
	}
	block = strings.ReplaceAll(block, "users_file /etc/caddy/users", "user alice "+hash)
	cfg := ports.Globals(fmt.Sprintf("\tauto_https off\n\tjwt {\n\t\tsecret %q\n\t}\n", issuerTestSecret)) + block
	c := issuerITTester(t, cfg).Client
	creds := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	for _, p := range []string{"/auth/login", "/id/login"} {
		st, _, body := issuerITDo(t, c, "POST", p, creds, "username=alice&password=pw-alice")
		issuerITWant(t, "POST "+p, st, body, 200, "")
		if _, ok := issuerITJSON(t, body)["access_token"]; !ok {
			t.Errorf("POST %s: %s", p, body)
		}
	}
	if st, _, body := issuerITDo(t, c, "POST", "/broken/login", creds, "username=alice&password=pw-alice"); st != 200 || body != "passed on /login" {
		t.Errorf("a route path handle_path strips: %d %q, want it passed on", st, body)
	}

	// two jwt_issue on one path: the second's users never log in there
	cfg = ports.Globals(fmt.Sprintf("\tauto_https off\n\tjwt {\n\t\tsecret %q\n\t}\n", issuerTestSecret)) + fmt.Sprintf(`
%s {
	jwt_issue {
		login /login
		user alice %s
	}
	jwt_issue {
		login /login
		user bob %s
	}
}
`, ports.HTTPBase(), hash, testkit.BcryptHash(t, "pw-bob"))
	c = issuerITTester(t, cfg).Client
	st, _, body := issuerITDo(t, c, "POST", "/login", creds, "username=alice&password=pw-alice")
	issuerITWant(t, "alice, of the first jwt_issue", st, body, 200, "")
	st, _, body = issuerITDo(t, c, "POST", "/login", creds, "username=bob&password=pw-bob")
	issuerITWant(t, "bob, of the second jwt_issue", st, body, 401, "Bad username or password")
}
