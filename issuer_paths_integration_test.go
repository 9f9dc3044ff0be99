package jwtextended

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
)

// TestDocsDeadRoutes runs the example of docs/issuer.md's "Routes that can
// never match" through a real Caddy: jwt_issue inside handle keeps the
// path, inside handle_path it answers the path as stripped; and a route
// path that handle_path strips passes on, as the section says (Caddy loads
// it with a warning). The other pitfall,
// two jwt_issue on one path, refuses to load:
// TestTwoIssuersOnOnePathRefuseToLoad.
func TestDocsDeadRoutes(t *testing.T) {
	blocks := testkit.DocBlocks(t, "docs/issuer.md", "### Routes that can never match", "caddyfile")
	if len(blocks) == 0 {
		t.Fatal("docs/issuer.md: no Caddyfile in \"Routes that can never match\"")
	}
	block := blocks[0]
	hash := testkit.BcryptHash(t, "pw-alice")
	for old, repl := range map[string]string{
		"example.com {": "http://localhost {",
		"\n}":           "\n\thandle_path /broken/* {\n\t\tjwt_issue {\n\t\t\tlogin /broken/login\n\t\t\tuser alice " + hash + "\n\t\t}\n\t\trespond \"passed on {path}\"\n\t}\n}",
	} {
		if !strings.Contains(block, old) {
			t.Fatalf("the example no longer has %q:\n%s", old, block)
		}
		block = strings.Replace(block, old, repl, 1)
	}
	block = strings.ReplaceAll(block, "users_file /etc/caddy/users", "user alice "+hash)
	logFile := filepath.Join(t.TempDir(), "warn.log")
	cfg := caddyGlobals(fmt.Sprintf("\tauto_https off\n\tlog {\n\t\toutput file %s\n\t\tlevel WARN\n\t}\n\tjwt {\n\t\tsecret %q\n\t}\n", logFile, fixtureSecret)) + block
	c := startCaddy(t, cfg).Client
	// the route check walked Caddy's real route tree: the stripped route
	// warns, and the two under handle and handle_path that work do not
	logged, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(logged), "jwt_issue route inside handle_path can never match"); n != 1 || !strings.Contains(string(logged), `"path":"/broken/login","stripped_prefix":"/broken","sees":"/login"`) {
		t.Errorf("%d handle_path warnings, want one for /broken/login:\n%s", n, logged)
	}
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

}
