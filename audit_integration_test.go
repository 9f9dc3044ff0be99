package jwtextended

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
)

// docsBlock returns the first block of lang in docs/issuer.md's section
// that holds want.
func docsBlock(t *testing.T, section, lang, want string) string {
	t.Helper()
	for _, b := range testkit.DocBlocks(t, "docs/issuer.md", section, lang) {
		if strings.Contains(b, want) {
			return b
		}
	}
	t.Fatalf("docs/issuer.md, %q: no %s block with %q", section, lang, want)
	return ""
}

// TestFail2banOnCaddyLog runs the real fail2ban-regex (Debian's fail2ban;
// CI installs it and sets JWT_REQUIRE_FAIL2BAN=1) with the filter of
// docs/issuer.md against the log file a real Caddy writes with the docs'
// log block: every failed login matches, with the client's address, its
// date is read from ts (the datepattern), usernames that spell out another
// address change nothing, and a successful login does not match. It also
// checks the startup lines that name each key.
func TestFail2banOnCaddyLog(t *testing.T) {
	f2b, err := exec.LookPath("fail2ban-regex")
	if err != nil {
		if os.Getenv("JWT_REQUIRE_FAIL2BAN") == "1" {
			t.Fatal("fail2ban-regex not found and JWT_REQUIRE_FAIL2BAN=1 (apt-get install fail2ban)")
		}
		t.Skip("fail2ban-regex not found (apt-get install fail2ban); JWT_REQUIRE_FAIL2BAN=1 makes this a failure")
	}
	dir := t.TempDir()
	jwtLog, startLog := filepath.Join(dir, "jwt.log"), filepath.Join(dir, "start.log")
	logBlock := docsBlock(t, "## Logs and fail2ban", "caddyfile", "include http.handlers.jwt_issue")
	if !strings.Contains(logBlock, "/var/log/caddy/jwt.log") {
		t.Fatalf("the docs' log block no longer writes /var/log/caddy/jwt.log:\n%s", logBlock)
	}
	logBlock = strings.Replace(logBlock, "/var/log/caddy/jwt.log", jwtLog, 1)
	logBlock = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(logBlock), "{"), "}")
	filter := docsBlock(t, "## Logs and fail2ban", "ini", "[Definition]")
	filterFile := filepath.Join(dir, "caddy-jwt.conf")
	if err := os.WriteFile(filterFile, []byte(filter), 0o600); err != nil {
		t.Fatal(err)
	}

	cfg := caddyGlobals(fmt.Sprintf("\tauto_https off\n%s\n\tlog start {\n\t\toutput file %s\n\t\tformat json\n\t\tinclude jwt\n\t}\n\tjwt {\n\t\tsecret %q 2025\n\t}\n",
		logBlock, startLog, fixtureSecret)) + fmt.Sprintf(`
http://localhost {
	jwt_issue {
		login /login
		user alice %s
	}
}
`, testkit.BcryptHash(t, "pw-alice"))
	c := startCaddy(t, cfg).Client
	creds := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	spoofs := []string{"alice", `x","remote_ip":"198.51.100.66`, `"msg":"login failed","remote_ip":"198.51.100.66"`}
	for _, name := range spoofs {
		st, _, body := issuerITDo(t, c, "POST", "/login", creds, "username="+url.QueryEscape(name)+"&password=wrong")
		issuerITWant(t, "wrong password for "+name, st, body, 401, "Bad username or password")
	}
	st, _, body := issuerITDo(t, c, "POST", "/login", creds, "username=alice&password=pw-alice")
	issuerITWant(t, "login", st, body, 200, "")

	out, err := exec.Command(f2b, "--out", "ip", jwtLog, filterFile).CombinedOutput()
	if err != nil {
		t.Fatalf("fail2ban-regex: %v\n%s", err, out)
	}
	ips := strings.Fields(string(out))
	if len(ips) != len(spoofs) {
		t.Fatalf("fail2ban-regex found %d failures, want %d:\n%s\nlog:\n%s", len(ips), len(spoofs), out, readFile(t, jwtLog))
	}
	for _, ip := range ips {
		if ip != "127.0.0.1" && ip != "::1" {
			t.Errorf("fail2ban would ban %s, not the client", ip)
		}
	}
	// the summary: every line of the file carries a date fail2ban reads
	// (datepattern), and only the failures match
	out, err = exec.Command(f2b, jwtLog, filterFile).CombinedOutput()
	if err != nil {
		t.Fatalf("fail2ban-regex: %v\n%s", err, out)
	}
	n := strings.Count(readFile(t, jwtLog), "\n")
	for _, want := range []string{
		fmt.Sprintf("Lines: %d lines, 0 ignored, %d matched, %d missed", n, len(spoofs), n-len(spoofs)),
		fmt.Sprintf(`[%d] "ts":{EPOCH}`, n),
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("fail2ban-regex's summary lacks %q:\n%s", want, out)
		}
	}

	start := readFile(t, startLog)
	if !strings.Contains(start, `"msg":"key loaded","alg":"HS256","kid":"2025","source":"secret"`) {
		t.Errorf("no startup line naming the key:\n%s", start)
	}
	if strings.Contains(start, fixtureSecret) || strings.Contains(readFile(t, jwtLog), "wrong") {
		t.Error("a secret or a password is in the log")
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
