//go:build slow

package jwtextended

// Issue 21's "done when": a passkey registration, sign-in and step-up
// across two Caddy processes (built from ./cmd/caddy) sharing one
// file_system storage folder, every ceremony begun on one and finished on
// the other. It builds Caddy, so it runs with the slow tag only:
// go test -tags slow -run TestPasskeyCluster .

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit/caddykit"
)

func TestPasskeyCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Caddy and runs two processes")
	}
	bin := revTestBuildCaddy(t, t.TempDir())
	shared := t.TempDir()
	ports := testkit.FreePorts(t, 6)
	hash := testkit.BcryptHash(t, fixturePassword)
	const origin = "https://passkeys.localhost"
	start := func(name string, p testkit.Ports) string {
		t.Helper()
		text, err := caddykit.Caddyfile(`{
	auto_https off
	jwt {
		secret `+integrationSecret+`
	}
}

http://localhost {
	jwt_issue {
		login /auth/login
		user alice `+hash+`
		passkey {
			rp_id localhost
			origins `+origin+`
			register /auth/passkey/register
			login /auth/passkey/login
			reauth /auth/passkey/reauth
		}
	}
	jwt_auth
	respond "hello {http.auth.user.id} from `+name+`"
}
`, p, shared)
		if err != nil {
			t.Fatal(err)
		}
		home := t.TempDir()
		cfg := filepath.Join(home, "Caddyfile")
		if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		var log bytes.Buffer
		cmd := exec.Command(bin, "run", "--config", cfg, "--adapter", "caddyfile")
		cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, "config"), "XDG_DATA_HOME="+filepath.Join(home, "data"))
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(os.Interrupt)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			if t.Failed() {
				t.Logf("%s log:\n%s", name, revTestTail(log.Bytes(), 4000))
			}
		})
		addr := fmt.Sprintf("127.0.0.1:%d", p.HTTP)
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				_ = c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not listen on %s within 30s", name, addr)
			}
		}
		return fmt.Sprintf("http://localhost:%d", p.HTTP)
	}
	p1 := start("p1", testkit.Ports{Admin: ports[0], HTTP: ports[1], HTTPS: ports[2]})
	p2 := start("p2", testkit.Ports{Admin: ports[3], HTTP: ports[4], HTTPS: ports[5]})

	post := func(url, access string, body []byte) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if access != "" {
			req.Header.Set("Authorization", "Bearer "+access)
		}
		res, err := revTestClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	access := func(status int, body []byte) string {
		t.Helper()
		var a struct {
			Access string `json:"access_token"`
		}
		if status != 200 || json.Unmarshal(body, &a) != nil || a.Access == "" {
			t.Fatalf("want tokens: %d %s", status, body)
		}
		return a.Access
	}
	begin := func(url, tok string) []byte {
		t.Helper()
		st, b := post(url, tok, []byte("{}"))
		if st != 200 {
			t.Fatalf("%s: %d %s", url, st, b)
		}
		return b
	}
	auth := testkit.NewAuthenticator()
	client := testkit.Client{Origin: origin}

	tok := access(post(p1+"/auth/login", "", []byte(creds("alice", fixturePassword))))
	b := begin(p1+"/auth/passkey/register/begin", tok)
	cred, _, err := auth.Create(b, client)
	if err != nil {
		t.Fatal(err)
	}
	if st, body := post(p2+"/auth/passkey/register/finish", tok, testkit.FinishBody(b, cred, nil)); st != 201 {
		t.Fatalf("register begun on p1, finished on p2: %d %s", st, body)
	}
	b = begin(p2+"/auth/passkey/login/begin", "")
	got, _ := auth.Get(b, client)
	pa := access(post(p1+"/auth/passkey/login/finish", "", testkit.FinishBody(b, got, nil)))
	b = begin(p1+"/auth/passkey/reauth/begin", pa)
	got, _ = auth.Get(b, client)
	fresh := access(post(p2+"/auth/passkey/reauth/finish", pa, testkit.FinishBody(b, got, nil)))
	// the finished ceremony cannot be finished again on the other process
	if st, body := post(p1+"/auth/passkey/reauth/finish", pa, testkit.FinishBody(b, got, nil)); st != 400 {
		t.Fatalf("a reauth finished twice: %d %s", st, body)
	}
	req, _ := http.NewRequest(http.MethodGet, p1+"/", nil)
	req.Header.Set("Authorization", "Bearer "+fresh)
	res, err := revTestClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "hello alice from p1" {
		t.Fatalf("the step-up's token on p1: %d %s", res.StatusCode, body)
	}
}
