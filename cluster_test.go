//go:build slow

package jwtextended

// The cluster test of issue 4: real Caddy processes, built from ./cmd/caddy,
// sharing one file_system storage folder. A token revoked through the
// storage must be refused by every process within the contract's 5 seconds,
// after a restart from the first request on, during and after a config
// reload, and through a storage outage (the last known set keeps serving; a
// restart during the outage is refused).
//
// It builds Caddy and takes about a minute, so it runs only with the slow
// build tag: go test -tags slow -run TestRevocationCluster . (CI does).

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit/caddykit"
)

// revTestBuildCaddy builds ./cmd/caddy into dir.
func revTestBuildCaddy(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the cluster test builds Caddy and needs the go command: %v", err)
	}
	bin := filepath.Join(dir, "caddy")
	cmd := exec.Command(goBin, "build", "-o", bin, "./cmd/caddy")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("building ./cmd/caddy: %v\n%s", err, out)
	}
	return bin
}

// revTestCaddy is one Caddy process of the cluster.
type revTestCaddy struct {
	t         *testing.T
	parent    *testing.T
	name      string
	bin       string
	home      string
	storage   string
	secret    string
	ports     testkit.Ports
	httpPort  int
	adminPort int

	cmd    *exec.Cmd
	exited chan struct{}
	log    *os.File
}

// revTestNewCaddy prepares a process that will listen on ports (from
// testkit.NewPorts, distinct across the cluster).
func revTestNewCaddy(t *testing.T, name, bin, storage, secret string, ports testkit.Ports) *revTestCaddy {
	t.Helper()
	c := &revTestCaddy{
		t: t, parent: t, name: name, bin: bin, home: t.TempDir(), storage: storage, secret: secret,
		ports: ports, httpPort: ports.HTTP, adminPort: ports.Admin,
	}
	t.Cleanup(c.stop)
	return c
}

// caddyfile is the process's config; extra goes into the site block. It
// is written as startCaddy's are, without ports or storage, and gets them
// as startCaddy's do (caddykit.Caddyfile): the process's ports and the
// cluster's shared storage folder.
func (c *revTestCaddy) caddyfile(extra string) string {
	c.t.Helper()
	text, err := caddykit.Caddyfile(fmt.Sprintf(`{
	auto_https off
	jwt {
		secret %s
	}
}

http://127.0.0.1 {
	handle /version {
		respond "{$REVTEST_NAME} %s"
	}
	handle {
		jwt_issue {
			login   /auth/login
			refresh /auth/refresh
			logout  /auth/logout
			user    alice %s
		}
		jwt_auth
		respond "hello {http.auth.user.id}"
	}
}
`, c.secret, extra, testkit.BcryptHash(c.t, revTestAlicePassword)), c.ports, c.storage)
	if err != nil {
		c.t.Fatal(err)
	}
	return text
}

func (c *revTestCaddy) start() {
	c.t.Helper()
	cfg := filepath.Join(c.home, "Caddyfile")
	if err := os.WriteFile(cfg, []byte(c.caddyfile("v1")), 0o600); err != nil {
		c.t.Fatal(err)
	}
	logf, err := os.OpenFile(filepath.Join(c.home, "caddy.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		c.t.Fatal(err)
	}
	c.log = logf
	c.cmd = exec.Command(c.bin, "run", "--config", cfg, "--adapter", "caddyfile")
	c.cmd.Env = append(os.Environ(),
		"HOME="+c.home,
		"XDG_CONFIG_HOME="+filepath.Join(c.home, "config"),
		"XDG_DATA_HOME="+filepath.Join(c.home, "data"),
		"REVTEST_NAME="+c.name,
	)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := c.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		_ = cmd.Wait()
		close(exited)
	}(c.cmd, c.exited)
}

// stop ends the process gracefully (SIGINT), or kills it after 10s.
func (c *revTestCaddy) stop() {
	if c.cmd == nil {
		return
	}
	select {
	case <-c.exited:
	default:
		_ = c.cmd.Process.Signal(os.Interrupt)
		select {
		case <-c.exited:
		case <-time.After(10 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
	}
	c.cmd = nil
	_ = c.log.Close()
	if c.t.Failed() {
		b, _ := os.ReadFile(c.log.Name())
		c.t.Logf("%s log:\n%s", c.name, revTestTail(b, 4000))
	}
}

func revTestTail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

const revTestAlicePassword = "correct horse battery staple"

// post sends a JSON POST to the process and returns the status and the
// decoded JSON body.
func (c *revTestCaddy) post(path string, hdr map[string]string, body any) (int, map[string]any) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d%s", c.httpPort, path), bytes.NewReader(mustJSON(c.t, body)))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := revTestClient.Do(req)
	if err != nil {
		c.t.Fatalf("POST %s to %s: %v", path, c.name, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatalf("POST %s to %s: %d, body %q is not JSON", path, c.name, resp.StatusCode, b)
	}
	return resp.StatusCode, m
}

// revTestResult is what a request with the token got.
type revTestResult struct {
	status int
	msg    string
	err    error
}

func (r revTestResult) revoked() bool {
	return r.err == nil && r.status == http.StatusUnauthorized && r.msg == "Token has been revoked"
}

func (r revTestResult) String() string {
	if r.err != nil {
		return "error: " + r.err.Error()
	}
	return fmt.Sprintf("%d %q", r.status, r.msg)
}

var revTestClient = &http.Client{
	Timeout:   3 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true},
}

// get sends the token to the protected site.
func (c *revTestCaddy) get(token string) revTestResult {
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/", c.httpPort), nil)
	if err != nil {
		return revTestResult{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := revTestClient.Do(req)
	if err != nil {
		return revTestResult{err: err}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var v struct {
		Msg string `json:"msg"`
	}
	if resp.StatusCode == http.StatusOK {
		v.Msg = string(body)
	} else if err := json.Unmarshal(body, &v); err != nil {
		v.Msg = "unparsable body: " + string(body)
	}
	return revTestResult{status: resp.StatusCode, msg: v.Msg}
}

// firstAnswer polls until the process answers at all and returns that
// first answer, so that a restarted process is judged by its very first
// response.
func (c *revTestCaddy) firstAnswer(token string) revTestResult {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := c.get(token)
		if r.err == nil {
			return r
		}
		select {
		case <-c.exited:
			c.t.Fatalf("%s exited before answering: %v", c.name, r.err)
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s did not answer within 60s: %v", c.name, r.err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// load posts a Caddyfile to the admin API: a config reload.
func (c *revTestCaddy) load(caddyfile string) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/load", c.adminPort), strings.NewReader(caddyfile))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		c.t.Fatalf("reloading %s: %v", c.name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("reloading %s: %d %s", c.name, resp.StatusCode, body)
	}
}

func (c *revTestCaddy) version() string {
	resp, err := revTestClient.Get(fmt.Sprintf("http://127.0.0.1:%d/version", c.httpPort))
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// revTestWithinBound polls c with token until it answers "Token has been
// revoked", and returns an error unless that happens within bound of
// since. It returns how long it took.
func revTestWithinBound(c *revTestCaddy, token string, since time.Time, bound time.Duration) (time.Duration, error) {
	deadline := since.Add(bound)
	for {
		last := c.get(token)
		if last.revoked() {
			took := time.Since(since)
			if took > bound {
				return took, fmt.Errorf("%s refused the token only after %s, beyond the bound of %s", c.name, took, bound)
			}
			return took, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s still answers %s %s after the revocation; the bound is %s", c.name, last, time.Since(since), bound)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// revTestRevoker is a third instance in the test process: the store API on
// the same storage folder, as a logout on another node would write it.
func revTestRevoker(t *testing.T, dir string) *revocations {
	t.Helper()
	app := &App{now: time.Now, AccessTTL: "15m", RefreshTTL: "720h"}
	// its own identity, so it does not share the test process's sets
	r := openRevocations(t, testkit.NewStorage(t, dir, "revoker"), app, nil)
	return r
}

func revTestToken(t *testing.T, secret string) (token, jti string, exp time.Time) {
	t.Helper()
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	jti = "cluster-" + hex.EncodeToString(b)
	now := time.Now()
	exp = now.Add(time.Hour)
	token = signToken(t, "HS256", []byte(secret), nil, map[string]any{
		"sub": "alice", "type": "access", "fresh": false, "jti": jti,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": exp.Unix(),
	})
	return token, jti, exp
}

func TestRevocationCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Caddy and runs two processes")
	}
	bin := revTestBuildCaddy(t, t.TempDir())
	shared := t.TempDir()
	secret := "cluster-secret-" + strings.Repeat("k", 40)

	ports := testkit.FreePorts(t, 6)
	p1 := revTestNewCaddy(t, "p1", bin, shared, secret, testkit.Ports{Admin: ports[0], HTTP: ports[1], HTTPS: ports[2]})
	p2 := revTestNewCaddy(t, "p2", bin, shared, secret, testkit.Ports{Admin: ports[3], HTTP: ports[4], HTTPS: ports[5]})
	p1.start()
	p2.start()
	revoker := revTestRevoker(t, shared)

	token, jti, exp := revTestToken(t, secret)
	for _, p := range []*revTestCaddy{p1, p2} {
		if r := p.firstAnswer(token); r.status != http.StatusOK || r.msg != "hello alice" {
			t.Fatalf("%s before the revocation: %s", p.name, r)
		}
	}

	// a revocation through the shared storage reaches both processes
	// within the contract's 5 seconds, with the default sync interval
	if err := revoker.revoke(context.Background(), jti, exp); err != nil {
		t.Fatal(err)
	}
	revokedAt := time.Now()
	var wg sync.WaitGroup
	took := make([]time.Duration, 2)
	for i, p := range []*revTestCaddy{p1, p2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if took[i], err = revTestWithinBound(p, token, revokedAt, contractRevocationBound); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("refused after the revocation was stored: p1 %s, p2 %s (bound %s, sync interval %s)",
		took[0].Round(time.Millisecond), took[1].Round(time.Millisecond), contractRevocationBound, defaultRevocationSync)

	t.Run("logout on p1, refused by p2", func(t *testing.T) {
		p1.t, p2.t = t, t
		defer func() { p1.t, p2.t = p1.parent, p2.parent }()
		st, tokens := p1.post("/auth/login", nil, map[string]string{"username": "alice", "password": revTestAlicePassword})
		access, _ := tokens["access_token"].(string)
		refresh, _ := tokens["refresh_token"].(string)
		if st != http.StatusOK || access == "" || refresh == "" {
			t.Fatalf("login on p1: %d %v", st, tokens)
		}
		if r := p2.get(access); r.status != http.StatusOK {
			t.Fatalf("p2 refuses p1's fresh token: %s", r)
		}
		st, body := p1.post("/auth/logout", map[string]string{"Authorization": "Bearer " + access}, map[string]string{"refresh_token": refresh})
		loggedOut := time.Now()
		if st != http.StatusOK || body["msg"] != "Logged out" {
			t.Fatalf("logout on p1: %d %v", st, body)
		}
		// immediate on the instance that logged out
		if r := p1.get(access); !r.revoked() {
			t.Fatalf("p1 right after its logout: %s", r)
		}
		took, err := revTestWithinBound(p2, access, loggedOut, contractRevocationBound)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("a logout on p1 reached p2 in %s", took.Round(time.Millisecond))
		// the refresh token is revoked too: p2's refresh route refuses it
		st, body = p2.post("/auth/refresh", map[string]string{"Authorization": "Bearer " + refresh}, map[string]string{})
		if st != http.StatusUnauthorized || body["msg"] != "Token has been revoked" {
			t.Fatalf("refresh on p2 after the logout on p1: %d %v", st, body)
		}
	})

	// revocation by identity (issue 11): `caddy jwt revoke --identity` on
	// p1's admin endpoint ends a login made on p2, on p1 at once and on p2
	// within the bound; a login right afterwards works on both
	var identityRevoked string
	t.Run("identity revoked on p1, refused by p2", func(t *testing.T) {
		p1.t, p2.t = t, t
		defer func() { p1.t, p2.t = p1.parent, p2.parent }()
		st, tokens := p2.post("/auth/login", nil, map[string]string{"username": "alice", "password": revTestAlicePassword})
		access, _ := tokens["access_token"].(string)
		if st != http.StatusOK || access == "" {
			t.Fatalf("login on p2: %d %v", st, tokens)
		}
		if err := revoke(io.Discard, revokeOptions{identity: "alice", address: fmt.Sprintf("127.0.0.1:%d", p1.adminPort)}); err != nil {
			t.Fatalf("caddy jwt revoke --identity alice on p1: %v", err)
		}
		revokedAt := time.Now()
		identityRevoked = access
		if r := p1.get(access); !r.revoked() {
			t.Fatalf("p1 right after the revocation: %s", r)
		}
		took, err := revTestWithinBound(p2, access, revokedAt, contractRevocationBound)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("an identity revoked on p1 reached p2 in %s", took.Round(time.Millisecond))
		st, tokens = p1.post("/auth/login", nil, map[string]string{"username": "alice", "password": revTestAlicePassword})
		fresh, _ := tokens["access_token"].(string)
		if st != http.StatusOK || fresh == "" {
			t.Fatalf("login on p1 after the revocation: %d %v", st, tokens)
		}
		for _, p := range []*revTestCaddy{p1, p2} {
			if r := p.get(fresh); r.status != http.StatusOK {
				t.Fatalf("%s refuses the token of a login after the revocation: %s", p.name, r)
			}
		}
	})

	t.Run("restart", func(t *testing.T) {
		p2.t = t
		defer func() { p2.t = p2.parent }()
		p2.stop()
		p2.start()
		// the very first answer after the restart already refuses it
		if r := p2.firstAnswer(token); !r.revoked() {
			t.Fatalf("p2's first answer after a restart: %s", r)
		}
		if identityRevoked != "" {
			if r := p2.get(identityRevoked); !r.revoked() {
				t.Fatalf("p2 after a restart accepts a token of the revoked identity: %s", r)
			}
		}
		other, _, _ := revTestToken(t, secret)
		if r := p2.get(other); r.status != http.StatusOK {
			t.Fatalf("p2 after a restart refuses an unrevoked token: %s", r)
		}
	})

	t.Run("reload", func(t *testing.T) {
		p2.t = t
		defer func() { p2.t = p2.parent }()
		var stopHammer atomic.Bool
		var mu sync.Mutex
		var answers, transportErrors int
		var wrong []string
		var loadStart, loadEnd atomic.Int64
		var duringLoad atomic.Int64
		var hammers sync.WaitGroup
		var errSample []string
		for range 4 {
			hammers.Add(1)
			go func() {
				defer hammers.Done()
				for !stopHammer.Load() {
					begin := time.Now().UnixNano()
					r := p2.get(token)
					end := time.Now().UnixNano()
					mu.Lock()
					switch {
					case r.err != nil:
						transportErrors++
						if len(errSample) < 3 {
							errSample = append(errSample, r.err.Error())
						}
					case !r.revoked():
						wrong = append(wrong, r.String())
					default:
						answers++
					}
					mu.Unlock()
					if ls, le := loadStart.Load(), loadEnd.Load(); ls != 0 && end >= ls && (le == 0 || begin <= le) && r.err == nil {
						duringLoad.Add(1)
					}
				}
			}()
		}
		// let the hammer run a little before and after the reload
		for i := 0; i < 20; i++ {
			_ = p2.version()
		}
		loadStart.Store(time.Now().UnixNano())
		p2.load(p2.caddyfile("v2"))
		loadEnd.Store(time.Now().UnixNano())
		for i := 0; i < 20; i++ {
			_ = p2.version()
		}
		stopHammer.Store(true)
		hammers.Wait()
		if v := p2.version(); v != "p2 v2" {
			t.Fatalf("the reload did not take effect: /version answers %q", v)
		}
		if len(wrong) > 0 {
			t.Fatalf("during the reload the revoked token got: %v", wrong)
		}
		if answers == 0 || duringLoad.Load() == 0 {
			t.Fatalf("the token was not exercised during the reload (%d answers, %d during it)", answers, duringLoad.Load())
		}
		t.Logf("during the reload: %d refusals, %d of them overlapping the /load call, %d transport errors %q", answers, duringLoad.Load(), transportErrors, errSample)
		if r := p2.get(token); !r.revoked() {
			t.Fatalf("after the reload: %s", r)
		}

		// the reloaded config still syncs: a new revocation arrives in time
		tok2, jti2, exp2 := revTestToken(t, secret)
		if r := p2.get(tok2); r.status != http.StatusOK {
			t.Fatalf("a fresh token before revocation: %s", r)
		}
		if err := revoker.revoke(context.Background(), jti2, exp2); err != nil {
			t.Fatal(err)
		}
		took, err := revTestWithinBound(p2, tok2, time.Now(), contractRevocationBound)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("after the reload a new revocation reached p2 in %s", took.Round(time.Millisecond))
	})

	// so far the processes logged no error of the revocation store
	for _, p := range []*revTestCaddy{p1, p2} {
		if lines := p.logLines("revoked token ids", `"level":"error"`); len(lines) > 0 {
			t.Errorf("%s logged: %s", p.name, lines)
		}
	}

	t.Run("storage outage", func(t *testing.T) {
		p1.t, p2.t = t, t
		defer func() { p1.t, p2.t = p1.parent, p2.parent }()
		// the storage folder breaks: jwt/ becomes a file, so every listing
		// fails with "not a directory" (permissions would not stop root)
		jwtDir := filepath.Join(shared, "jwt")
		if err := os.Rename(jwtDir, jwtDir+".away"); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(jwtDir, []byte("not a folder"), 0o600); err != nil {
			t.Fatal(err)
		}
		restored := false
		restore := func() {
			if restored {
				return
			}
			restored = true
			_ = os.Remove(jwtDir)
			if err := os.Rename(jwtDir+".away", jwtDir); err != nil {
				t.Fatal(err)
			}
		}
		defer restore()

		// p1 logs the failed sync and keeps serving its last known set
		p1.waitLog(t, 15*time.Second, "syncing revoked token ids from storage failed", `"level":"error"`)
		if r := p1.get(token); !r.revoked() {
			t.Fatalf("p1 during the outage: %s", r)
		}
		// a restart during the outage is refused rather than serving
		// without the revocations
		p2.stop()
		p2.start()
		code := p2.waitExit(t, 60*time.Second)
		if code == 0 {
			t.Fatal("p2 started although it could not load the revocations")
		}
		if lines := p2.logLines("refusing to start"); len(lines) == 0 {
			t.Fatal("p2's refusal to start does not say why")
		}
		// the storage comes back: p1 recovers, p2 starts and refuses
		restore()
		p1.waitLog(t, 90*time.Second, "syncing revoked token ids from storage recovered")
		p2.stop()
		p2.start()
		if r := p2.firstAnswer(token); !r.revoked() {
			t.Fatalf("p2 after the outage: %s", r)
		}
	})
}

// logLines returns the lines of the process's log that hold every one of
// the substrings.
func (c *revTestCaddy) logLines(substrings ...string) []string {
	b, _ := os.ReadFile(filepath.Join(c.home, "caddy.log"))
	var out []string
lines:
	for _, line := range bytes.Split(b, []byte("\n")) {
		for _, sub := range substrings {
			if !bytes.Contains(line, []byte(sub)) {
				continue lines
			}
		}
		out = append(out, string(line))
	}
	return out
}

// waitLog polls the process's log until a line holds every substring.
func (c *revTestCaddy) waitLog(t *testing.T, timeout time.Duration, substrings ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for len(c.logLines(substrings...)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not log %q within %s", c.name, substrings, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitExit waits for the process to exit and returns its exit code.
func (c *revTestCaddy) waitExit(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-c.exited:
		return c.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %s", c.name, timeout)
		return 0
	}
}
