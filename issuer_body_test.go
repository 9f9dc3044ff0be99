package jwtextended

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
)

// Issue 12, finding 11: a client that sends its login body slowly is cut
// off after body_timeout with 408, through a real Caddy; it no longer holds
// the route and a connection for as long as it likes. The test waits for
// the server's answer (an event); its own deadline only fails a server that
// never answers, and is far above body_timeout.
func TestIssueSlowBodyTimesOut(t *testing.T) {
	ports := testkit.SharedPorts(t)
	cfg := ports.Globals(fmt.Sprintf("\tauto_https off\n\tjwt {\n\t\tsecret \"%s\"\n\t}\n", fixtureSecret)) + fmt.Sprintf(`
%s {
	jwt_issue {
		login /auth/login
		user alice %s
		body_timeout 1s
	}
	respond "next"
}
`, ports.HTTPBase(), testkit.BcryptHash(t, "pw"))
	startCaddy(t, cfg)

	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ports.HTTP))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// the headers promise 100 bytes; one comes, then nothing
	fmt.Fprintf(conn, "POST /auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled login body: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusRequestTimeout || string(body) != `{"msg":"Request body took too long"}` {
		t.Fatalf("stalled login body: %d %s, want 408", res.StatusCode, body)
	}
}
