package jwtextended

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/certmagic"
)

// forged is the value of every X-Jwt-* header the clients of
// TestBoundaryEverySite send: the upstream must never see it.
const forged = "forged-7f3a"

// probeHeader marks, for the upstream's record, a request that carries a
// valid token.
const probeHeader = "X-Boundary-Probe"

// TestBoundaryEverySite runs every site of README.md, docs/*.md and the
// examples that reverse-proxies to an app, in a real Caddy, against a
// recording upstream, and sends each site requests with forged X-Jwt-*
// headers: on a path outside every jwt_* handler, on every route path
// the block names (and its case and trailing-slash variants), with GET,
// POST, PUT, a CORS preflight and a fake one, each without a token and
// again with a valid one of the site's key. The upstream must never see a
// forged value, nor an X-Jwt-Identity, X-Jwt-Fresh or X-Jwt-Claims for a
// request without a token; and every site's upstream must get some
// requests, so that no site passes for answering everything itself.
func TestBoundaryEverySite(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Caddy for every documented site")
	}
	up := newUpstream(t)
	blocks := boundaryDocSites(t)
	ran := 0
	for _, b := range blocks {
		t.Run(b.name, func(t *testing.T) {
			text, hosts, priv := boundarySiteText(t, b.text, up.addr())
			srv := startCaddy(t, text, ownStorage())
			sign := boundarySigner(t, text, priv, srv.Storage)
			// no cookie jar: a login's cookies would be a token
			client := &http.Client{Transport: srv.Client.Transport, Timeout: 5 * time.Second}
			before := up.count()
			for _, host := range hosts {
				for _, path := range boundaryPaths(b.text) {
					for _, withToken := range []bool{false, true} {
						for _, req := range boundaryRequests(t, srv.Base+path, host) {
							if withToken {
								// a token of its own each (a logout revokes it)
								req.Header.Set("Authorization", "Bearer "+sign())
								req.Header.Set(probeHeader, "token")
							}
							res, err := client.Do(req)
							if err != nil {
								t.Fatalf("%s %s (host %s): %v", req.Method, path, host, err)
							}
							res.Body.Close()
						}
					}
				}
			}
			up.mu.Lock()
			seen := up.reqs[before:]
			up.mu.Unlock()
			for _, r := range seen {
				for name, vals := range r.header {
					for _, v := range vals {
						if strings.Contains(v, forged) {
							t.Errorf("the upstream received the client's %s: %q", name, v)
						}
					}
				}
				if r.header.Get(probeHeader) != "" {
					continue // a token's identity is the module's to set
				}
				for _, name := range []string{"X-Jwt-Identity", "X-Jwt-Fresh", "X-Jwt-Claims"} {
					if v := r.header.Get(name); v != "" {
						t.Errorf("the upstream received %s %q for a request without a token", name, v)
					}
				}
			}
			t.Logf("%d requests reached the upstream", len(seen))
			if len(seen) == 0 {
				t.Fatal("no request reached the upstream: the site's checks prove nothing")
			}
			ran++
		})
	}
	if ran < 8 {
		t.Fatalf("only %d documented sites ran", ran)
	}
}

// boundaryBlock is one documented Caddyfile with a site that proxies.
type boundaryBlock struct{ name, text string }

// boundaryDocSites collects the documented Caddyfiles with a site block
// and a reverse_proxy.
func boundaryDocSites(t *testing.T) []boundaryBlock {
	var out []boundaryBlock
	for _, d := range docCaddyfiles(t) {
		if strings.Contains(d.text, "reverse_proxy") && boundaryHasSite(d.text) {
			out = append(out, boundaryBlock{fmt.Sprintf("%s/%d", d.file, d.n), d.text})
		}
	}
	for _, f := range []string{"Caddyfile.example", "examples/delegated/Caddyfile"} {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(text), "reverse_proxy") {
			out = append(out, boundaryBlock{f, string(text)})
		}
	}
	return out
}

// boundaryHasSite reports whether a Caddyfile has a site block.
func boundaryHasSite(text string) bool {
	blocks, err := caddyfile.Parse("Caddyfile", []byte(text))
	if err != nil {
		return false
	}
	for _, b := range blocks {
		if len(b.Keys) > 0 {
			return true
		}
	}
	return false
}

var (
	envPlaceholder = regexp.MustCompile(`\{(?:env\.|\$)([A-Z_][A-Z0-9_]*)\}`)
	proxyUpstream  = regexp.MustCompile(`\breverse_proxy([ \t]+@[^\s{}]*)?[ \t]+([^\s{}@][^\s{}]*)`)
	fakeHash       = regexp.MustCompile(`\$(?:2[aby]\$\d\d|argon2id)\$\S*`)
	usersFileLine  = regexp.MustCompile(`(?m)\busers_file[ \t]+\S+`)
	keyFileLine    = regexp.MustCompile(`(?m)\b(private_key|public_key)[ \t]+(\S+)`)
	siteLine       = regexp.MustCompile(`(?m)^(\S[^{\n]*?)\s*\{\s*$`)
	routePath      = regexp.MustCompile(`\b(?:login|refresh|reauth|logout|jwks|jwt_auth|handle|handle_path|route)\s+(/[^\s{}*]*)`)
)

// boundarySiteText makes a documented Caddyfile runnable by startCaddy:
// its reverse_proxy lines point at upstream, its env placeholders have
// values, and its site addresses keep their host but lose scheme and
// port (http://host, or http:// for an address without one). It returns
// the Host headers to try.
func boundarySiteText(t *testing.T, text, upstream string) (string, []string, *ecdsa.PrivateKey) {
	for _, m := range envPlaceholder.FindAllStringSubmatch(text, -1) {
		if os.Getenv(m[1]) == "" {
			t.Setenv(m[1], "boundary-test-secret-0123456789-0123456789-0123456789")
		}
	}
	text = proxyUpstream.ReplaceAllString(text, "reverse_proxy$1 "+upstream)
	// the docs' users, files and keys, made real
	hash := testkit.BcryptHash(t, "wonderland")
	text = fakeHash.ReplaceAllLiteralString(text, hash)
	text = usersFileLine.ReplaceAllLiteralString(text, "users_file "+usersFileOf(t, "alice:"+hash))
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	privFile, pubFile := testkit.WritePKCS8(t, priv), testkit.WritePKIX(t, &priv.PublicKey)
	// an identity provider's JWK Set becomes its key as a file, so that
	// the test can sign as the provider
	text = jwksURLLine.ReplaceAllLiteralString(text, "public_key "+pubFile)
	text = keyFileLine.ReplaceAllStringFunc(text, func(line string) string {
		if strings.HasPrefix(line, "private_key") {
			return "private_key " + privFile
		}
		return "public_key " + pubFile
	})
	hosts := map[string]bool{}
	text = siteLine.ReplaceAllStringFunc(text, func(line string) string {
		key := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(line), "{"))
		if key == "" || strings.HasPrefix(key, "(") || strings.HasPrefix(key, "#") {
			return line // the global options, a snippet
		}
		var addrs []string
		for _, a := range strings.FieldsFunc(key, func(r rune) bool { return r == ',' || r == ' ' }) {
			a = strings.TrimPrefix(strings.TrimPrefix(a, "https://"), "http://")
			host := a
			if i := strings.LastIndexByte(a, ':'); i >= 0 {
				host = a[:i]
			}
			if host == "" {
				addrs = append(addrs, "http://")
				hosts["localhost"] = true
				continue
			}
			addrs = append(addrs, "http://"+host)
			hosts[host] = true
		}
		return strings.Join(addrs, ", ") + " {"
	})
	var list []string
	for h := range hosts {
		list = append(list, h)
	}
	return text, list, priv
}

var (
	secretLine  = regexp.MustCompile(`(?m)^\s*secret\s+(?:\{(?:env\.|\$)([A-Z_][A-Z0-9_]*)\}|("[^"]+"|[^\s{}#]+))\s*(?:#.*)?$`)
	jwksURLLine = regexp.MustCompile(`(?m)\bjwks_url[ \t]+\S+`)
	claimLine   = regexp.MustCompile(`(?m)^\s*(issuer|audience)\s+(\S+)`)
)

// boundarySigner mints valid access tokens of alice for a documented
// site (text, as boundarySiteText made it): HS256 with its secret, ES256
// with the key that replaced its private_key, or with the key Caddy
// generated in storage for a site without one; with its issuer and
// audience. The module only reads the generated key here: the signature
// is testkit's.
func boundarySigner(t *testing.T, text string, priv *ecdsa.PrivateKey, storage string) func() string {
	var alg string
	var key any
	switch m := secretLine.FindStringSubmatch(text); {
	case m != nil && m[1] != "":
		alg, key = "HS256", []byte(os.Getenv(m[1]))
	case m != nil:
		alg, key = "HS256", []byte(strings.Trim(m[2], `"`))
	case strings.Contains(text, "private_key") || strings.Contains(text, "public_key"):
		alg, key = "ES256", priv
	default:
		gen, err := loadStoredSigningKey(context.Background(), &certmagic.FileStorage{Path: storage})
		if err != nil {
			t.Fatalf("the site's generated key: %v", err)
		}
		alg, key = "ES256", gen
	}
	n := 0
	return func() string {
		n++
		now := time.Now().Unix()
		claims := map[string]any{"sub": "alice", "type": "access", "fresh": true, "jti": fmt.Sprintf("boundary-%d", n),
			"iat": now, "nbf": now, "exp": now + 600, "role": "admin"}
		for _, m := range claimLine.FindAllStringSubmatch(text, -1) {
			claims[map[string]string{"issuer": "iss", "audience": "aud"}[m[1]]] = m[2]
		}
		return testkit.SignToken(t, alg, key, nil, claims)
	}
}

// boundaryPaths are the paths to try on a site: one outside every
// handler, and each path the block names, with its case and
// trailing-slash variants.
func boundaryPaths(text string) []string {
	paths := []string{"/", "/outside-every-jwt-handler"}
	for _, m := range routePath.FindAllStringSubmatch(text, -1) {
		p := m[1]
		if p == "/" {
			continue
		}
		paths = append(paths, p, strings.ToUpper(p), strings.TrimSuffix(p, "/")+"/", strings.TrimSuffix(p, "/")+"/x")
	}
	return paths
}

// boundaryRequests are the requests sent to one URL: every X-Jwt-* name
// the module sets or reads, and a Connection header that names one.
func boundaryRequests(t *testing.T, url, host string) []*http.Request {
	var out []*http.Request
	for _, mk := range []struct {
		method, body string
		hdr          map[string]string
	}{
		{http.MethodGet, "", nil},
		{http.MethodPost, `{"username":"alice","password":"wonderland"}`, map[string]string{"Content-Type": "application/json"}},
		{http.MethodOptions, "", map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}},
		{http.MethodOptions, `{"username":"alice","password":"wonderland"}`, map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "POST", "Content-Type": "application/json"}},
		{http.MethodPut, "", nil},
	} {
		req, err := http.NewRequest(mk.method, url, strings.NewReader(mk.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		for k, v := range mk.hdr {
			req.Header.Set(k, v)
		}
		for _, name := range []string{"X-Jwt-Identity", "X-Jwt-Fresh", "X-Jwt-Claims", "X-Jwt-Type", "X-Jwt-Jti", "X-Jwt-Exp", "X-Jwt-Issue-Route", "X-Jwt-Issue-Identity"} {
			req.Header.Set(name, forged)
		}
		req.Header["X-JWT-IDENTITY"] = []string{forged + "-upper"}
		req.Header.Set("Connection", "keep-alive, X-Jwt-Identity")
		out = append(out, req)
	}
	return out
}
