package jwtextended

// The attack list of issue 6 as tests: one named subtest per attack, each
// against a real handler chain (a jwt_auth handler provisioned against a
// jwt app that runs in an in-process Caddy), each asserting the status and
// the message.
//
// Every attack token is signed properly with the configured key unless the
// attack is about the signature itself, so that the only thing standing
// between it and a 200 is the defence under test: remove that defence and
// the subtest fails. Each group also has a control that shows the same
// claims, presented the ordinary way, are accepted.
//
// The tests are split by the unit they attack: security_parse_test.go
// (token parsing), security_claims_test.go (claim checks),
// security_keys_test.go (keys and algorithms), security_auth_test.go
// (jwt_auth), security_issuer_test.go (jwt_issue) and
// security_e2e_test.go (a real Caddy). This file holds their shared
// helpers; SECURITY.md maps each attack to its test.

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/standard"
)

const (
	secSecret      = "security-test-secret-0123456789abcdef"
	secOtherSecret = "attacker-secret-0123456789abcdef-xyz"
)

// secNow is the clock of every security test (the fixture's clock):
// tokens and the app agree on it, so no test depends on the wall clock.
var secNow = fixtureT0

// secClaims is a valid access token's claims at secNow, with overrides
// (a nil value deletes the claim).
func secClaims(over map[string]any) map[string]any {
	now := secNow.Unix()
	c := map[string]any{
		"sub": "alice", "type": "access", "fresh": true, "jti": "jti-alice",
		"iat": now, "nbf": now, "exp": now + 900,
	}
	testkit.ApplyOverrides(c, over)
	return c
}

// secResult is what a client and the upstream saw.
type secResult struct {
	status    int
	msg       string
	challenge string
	// upstream is the request header the next handler got; nil when the
	// request never got there.
	upstream http.Header
}

// secResultOf is what a client and the upstream saw of one request the
// fixture served (fx.serve, with withUpstream(200, "upstream")); a
// refusal must be JSON {"msg": ...}.
func secResultOf(t testing.TB, s *served) secResult {
	t.Helper()
	if s.err != nil {
		t.Fatalf("ServeHTTP returned %v", s.err)
	}
	w := s.rec
	var res secResult
	if s.next.called {
		res.upstream = s.next.header
	}
	res.status = w.Code
	res.challenge = w.Header().Get("WWW-Authenticate")
	if w.Code != http.StatusOK {
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("refusal Content-Type = %q, want application/json", ct)
		}
		var body struct {
			Msg string `json:"msg"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("refusal body %q is not {\"msg\":...}: %v", w.Body.String(), err)
		}
		res.msg = body.Msg
	}
	return res
}

// secRequest builds a request; headers are name, value pairs, kept
// exactly as given (no canonicalization) so that odd spellings reach the
// handler as a client could send them.
func secRequest(method, target string, headers ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header[headers[i]] = append(r.Header[headers[i]], headers[i+1])
	}
	return r
}

func secBearer(tok string) *http.Request {
	return secRequest(http.MethodGet, "/", "Authorization", "Bearer "+tok)
}

// secCase is one attack (or one control).
type secCase struct {
	name   string
	auth   Auth
	req    *http.Request
	status int
	msg    string // for refusals
	// identity is the X-Jwt-Identity the upstream must get (status 200).
	identity string
}

// secRun serves each case through a jwt_auth handler of fx and checks status, message, challenge and what
// reached the upstream.
func secRun(t *testing.T, fx *fixture, cases []secCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := fx.auth(c.auth)
			res := secResultOf(t, fx.serve(h, c.req))
			if res.status != c.status {
				t.Fatalf("status = %d (msg %q), want %d", res.status, res.msg, c.status)
			}
			if c.status == http.StatusOK {
				if res.upstream == nil {
					t.Fatal("200 but the upstream was not called")
				}
				if c.identity != "" {
					if got := res.upstream.Get(hdrIdentity); got != c.identity {
						t.Fatalf("X-Jwt-Identity = %q, want %q", got, c.identity)
					}
				}
				return
			}
			if res.msg != c.msg {
				t.Fatalf("msg = %q, want %q", res.msg, c.msg)
			}
			if res.upstream != nil {
				t.Fatal("a refused request reached the upstream")
			}
			if c.status == http.StatusUnauthorized && !strings.HasPrefix(res.challenge, "Bearer") {
				t.Fatalf("WWW-Authenticate = %q, want a Bearer challenge", res.challenge)
			}
		})
	}
}

// secB64Std re-encodes a base64url segment in the standard alphabet.
func secB64Std(seg string) string {
	return strings.NewReplacer("-", "+", "_", "/").Replace(seg)
}

func secSegments(tok string) (h, p, s string) {
	parts := strings.SplitN(tok, ".", 3)
	return parts[0], parts[1], parts[2]
}

const secHeaderHS256 = `{"alg":"HS256","typ":"JWT"}`

// secJWTHeaderNames are the headers jwt_auth sets, and the only X-Jwt-*
// names an upstream may see.
var secJWTHeaderNames = []string{hdrIdentity, hdrType, hdrFresh, hdrJTI, hdrExp, hdrClaims}

// secCheckUpstreamJWTHeaders fails unless every header whose name, read
// case-insensitively with '_' and '.' as '-', starts with x-jwt- is one the module
// set, once, with the value it set.
func secCheckUpstreamJWTHeaders(t testing.TB, got http.Header, want map[string]string) {
	t.Helper()
	for name, vals := range got {
		norm := strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(name))
		if !strings.HasPrefix(norm, "x-jwt-") {
			continue
		}
		w, ok := want[name]
		if !ok {
			t.Errorf("upstream got %s: %q, which the module did not set", name, vals)
			continue
		}
		if len(vals) != 1 || vals[0] != w {
			t.Errorf("upstream got %s: %q, want exactly [%q]", name, vals, w)
		}
	}
	for name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("upstream did not get %s", name)
		}
	}
	for _, line := range got.Values("Connection") {
		for _, tok := range strings.Split(line, ",") {
			if n := strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(strings.TrimSpace(tok))); strings.HasPrefix(n, "x-jwt-") {
				t.Errorf("Connection still lists %q, which would make a proxy drop the module's header", tok)
			}
		}
	}
}

// secStartCaddyfile is startCaddy for a Caddyfile that spells its own
// port and storage as %PORT% and %STORAGE% (security_issuer_test.go's):
// they become startCaddy's HTTP port and a storage folder of the test's
// own. It returns the listen address. New tests call startCaddy with a
// port-less Caddyfile.
func secStartCaddyfile(t testing.TB, caddyfile string) string {
	t.Helper()
	dir := t.TempDir()
	caddyfile = strings.NewReplacer("%PORT%", strconv.Itoa(testkit.SharedPorts(t).HTTP), "%STORAGE%", filepath.ToSlash(dir)).Replace(caddyfile)
	return startCaddy(t, caddyfile, storageIn(dir)).Addr
}

// secRawRequest writes a request byte for byte (header names as given,
// repeated lines kept) and reads the response.
func secRawRequest(t testing.TB, addr, raw string) (*http.Response, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}
