package jwtextended

// Benchmarks of verification per algorithm against the bare signature
// check, of the JSON scanner, of jwt_issue's login and refresh, and the
// memory bound of the verified-token cache. Run them with
//
//	go test -run '^$' -bench . -benchmem
//
// (BENCHMARKS.md has the figures and the method.) Benchmarks that load
// Caddy in-process must not run in parallel. A benchmark whose setup fails
// (a key the keyring refuses, a jwt_issue that does not load or answer)
// fails and says why: a skip would hide a broken benchmark.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/strictjson"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"
)

// perfAlg is one algorithm under benchmark: the signing key for the test
// signer, and the jwt app config that verifies with it.
type perfAlg struct {
	name   string
	key    any // what signRaw signs with
	public any // what the bare check verifies with
	method jwt.SigningMethod
	config string
}

// perfAlgorithms builds every benchmarked algorithm; asymmetric keys are
// written as PKCS#8 PEM files in dir and configured as private_key.
func perfAlgorithms(tb testing.TB, dir string) []perfAlg {
	tb.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	edPub, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	keyFile := func(name string, key any) string {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			tb.Fatal(err)
		}
		path := filepath.Join(dir, name+".pem")
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			tb.Fatal(err)
		}
		return `{"private_key":{"file":` + string(testkit.MustJSON(tb, path)) + `},"algorithm":"` + name + `"`
	}
	return []perfAlg{
		{"HS256", []byte(benchSecret), []byte(benchSecret), jwt.SigningMethodHS256, `{"secret":"` + benchSecret + `"`},
		{"ES256", ec, &ec.PublicKey, jwt.SigningMethodES256, keyFile("ES256", ec)},
		{"RS256", rs, &rs.PublicKey, jwt.SigningMethodRS256, keyFile("RS256", rs)},
		{"EdDSA", ed, edPub, jwt.SigningMethodEdDSA, keyFile("EdDSA", ed)},
	}
}

// perfLoadApp is loadApp that returns a refused config's error, so the
// caller can say which algorithm or setting was refused.
func perfLoadApp(tb testing.TB, jwtJSON string) (*App, error) {
	tb.Helper()
	cfg := `{"admin":{"disabled":true},"logging":{"logs":{"default":{"level":"ERROR"}}},` +
		`"storage":{"module":"file_system","root":` + string(testkit.MustJSON(tb, tb.TempDir())) + `},` +
		`"apps":{"jwt":` + jwtJSON + `}}`
	if err := caddy.Load([]byte(cfg), true); err != nil {
		return nil, err
	}
	tb.Cleanup(func() { _ = caddy.Stop() })
	v, err := caddy.ActiveContext().App("jwt")
	if err != nil {
		return nil, err
	}
	return v.(*App), nil
}

func perfLoadAlg(b *testing.B, alg perfAlg, extra string) *App {
	b.Helper()
	a, err := perfLoadApp(b, alg.config+extra+`}`)
	if err != nil {
		b.Fatalf("%s: the jwt app refuses this key as private_key: %v", alg.name, err)
	}
	return a
}

// perfTokens mints n distinct tokens of the layout jwt_issue mints.
func perfTokens(tb testing.TB, alg perfAlg, n int) []string {
	tb.Helper()
	toks := make([]string, n)
	hdr := testkit.MustJSON(tb, map[string]any{"alg": alg.name, "typ": "JWT"})
	for i := range toks {
		toks[i] = testkit.SignRaw(tb, alg.name, alg.key, hdr, testkit.MustJSON(tb, benchClaims(i)))
	}
	return toks
}

// BenchmarkVerifyAlgorithms is App.verify per algorithm: a cache hit, a
// miss (cache off: every call parses and checks the signature), and
// distinct tokens through the default cache (insert and eviction
// included). Compare miss and distinct with BenchmarkBareSignature.
func BenchmarkVerifyAlgorithms(b *testing.B) {
	algs := perfAlgorithms(b, b.TempDir())
	for _, alg := range algs {
		for _, mode := range []string{"hit", "miss", "distinct"} {
			b.Run(alg.name+"/"+mode, func(b *testing.B) {
				extra := ""
				switch mode {
				case "miss":
					extra = `,"cache_size":0`
				case "distinct":
					// far fewer entries than tokens: each one is evicted
					// long before its token comes round again
					extra = `,"cache_size":64`
				}
				a := perfLoadAlg(b, alg, extra)
				n := 1
				if mode == "distinct" {
					n = 2048
				}
				toks := perfTokens(b, alg, n)
				for _, t := range toks {
					if _, e := verifyRaw(a, t); e != nil {
						b.Fatalf("%s: %v", alg.name, e)
					}
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, e := verifyRaw(a, toks[i%len(toks)]); e != nil {
						b.Fatal(e)
					}
				}
			})
		}
	}
}

// BenchmarkBareSignature is the baseline: golang-jwt's Verify of the
// signature alone, with the signing input and decoded signature at hand.
func BenchmarkBareSignature(b *testing.B) {
	for _, alg := range perfAlgorithms(b, b.TempDir()) {
		b.Run(alg.name, func(b *testing.B) {
			tok := perfTokens(b, alg, 1)[0]
			dot := strings.LastIndexByte(tok, '.')
			input := tok[:dot]
			sig, err := jws.Encoding.DecodeString(tok[dot+1:])
			if err != nil {
				b.Fatal(err)
			}
			if err := alg.method.Verify(input, sig, alg.public); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := alg.method.Verify(input, sig, alg.public); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyVsBare interleaves, token by token, the bare signature
// check and a full App.verify of distinct tokens (cache on, every token a
// miss), timing each, so that both see the same machine load: the ratio
// metric is verify / bare, the figure the goal "within 1.2x of the bare
// signature check" is about.
func BenchmarkVerifyVsBare(b *testing.B) {
	for _, alg := range perfAlgorithms(b, b.TempDir()) {
		b.Run(alg.name, func(b *testing.B) {
			a := perfLoadAlg(b, alg, `,"cache_size":64`)
			toks := perfTokens(b, alg, 1024)
			inputs := make([]string, len(toks))
			sigs := make([][]byte, len(toks))
			for i, t := range toks {
				dot := strings.LastIndexByte(t, '.')
				inputs[i] = t[:dot]
				var err error
				if sigs[i], err = jws.Encoding.DecodeString(t[dot+1:]); err != nil {
					b.Fatal(err)
				}
			}
			var bare, full time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := i % len(toks)
				t0 := time.Now()
				if err := alg.method.Verify(inputs[k], sigs[k], alg.public); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if _, e := verifyRaw(a, toks[k]); e != nil {
					b.Fatal(e)
				}
				full += time.Since(t1)
				bare += t1.Sub(t0)
			}
			b.ReportMetric(float64(bare.Nanoseconds())/float64(b.N), "bare-ns/op")
			b.ReportMetric(float64(full.Nanoseconds())/float64(b.N), "verify-ns/op")
			b.ReportMetric(float64(full)/float64(bare), "ratio")
		})
	}
}

// BenchmarkGolangJWTParse is golang-jwt's whole Parse of the same token,
// for comparison with a miss.
func BenchmarkGolangJWTParse(b *testing.B) {
	for _, alg := range perfAlgorithms(b, b.TempDir()) {
		b.Run(alg.name, func(b *testing.B) {
			tok := perfTokens(b, alg, 1)[0]
			p := jwt.NewParser(jwt.WithValidMethods([]string{alg.name}))
			keyFunc := func(*jwt.Token) (any, error) { return alg.public, nil }
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := p.Parse(tok, keyFunc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseSteps splits a miss into its parts for HS256: the JSON
// scan of header and payload, and parseToken whole (the claims decode and
// checks alone: internal/token's BenchmarkCheckClaims).
func BenchmarkParseSteps(b *testing.B) {
	tok := testkit.SignToken(b, "HS256", []byte(benchSecret), nil, benchClaims(1))
	parts := strings.Split(tok, ".")
	hdr, _ := jws.Encoding.DecodeString(parts[0])
	payload, _ := jws.Encoding.DecodeString(parts[1])
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if strictjson.Scan(hdr) != strictjson.OK || strictjson.Scan(payload) != strictjson.OK {
				b.Fatal("refused")
			}
		}
	})
	b.Run("parseToken", func(b *testing.B) {
		a := newFixture(b, appConfig([]byte(`{"secret":"`+benchSecret+`","cache_size":0}`)), wallClock()).app
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, e := a.parseToken(tok); e != nil {
				b.Fatal(e)
			}
		}
	})
}

// BenchmarkServeHTTPDistinct is jwt_auth end to end with a new token on
// every request (ES256 and HS256): the all-distinct case of the load test.
func BenchmarkServeHTTPDistinct(b *testing.B) {
	for _, alg := range perfAlgorithms(b, b.TempDir()) {
		if alg.name != "HS256" && alg.name != "ES256" {
			continue
		}
		b.Run(alg.name, func(b *testing.B) {
			a := perfLoadAlg(b, alg, `,"cache_size":64`)
			h := &Auth{}
			h.app, h.auth, h.wantType = a, a.newAuthenticator(nil, nil), token.TypeAccess
			h.logger = caddy.Log()
			toks := perfTokens(b, alg, 4096)
			headers := make([]string, len(toks))
			for i, t := range toks {
				headers[i] = "Bearer " + t
			}
			w := httptest.NewRecorder()
			var next caddyhttp.Handler = benchNext{}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r := &http.Request{Method: http.MethodGet, Header: http.Header{"Authorization": {headers[i%len(headers)]}}}
				if err := h.ServeHTTP(w, r, next); err != nil {
					b.Fatal(err)
				}
				if len(r.Header[hdrIdentity]) != 1 {
					b.Fatal("identity not published")
				}
			}
		})
	}
}

// perfIssue loads jwt_issue into the running config with one user whose
// bcrypt hash has the minimum cost; it fails if jwt_issue does not load.
func perfIssue(b *testing.B, password string) caddyhttp.MiddlewareHandler {
	b.Helper()
	hash := testkit.BcryptHash(b, password)
	cfg := `{"login":"/login","refresh":"/refresh","users":[{"name":"bench","hash":` + string(testkit.MustJSON(b, hash)) + `}]}`
	ctx := caddy.ActiveContext()
	m, err := ctx.LoadModuleByID("http.handlers.jwt_issue", json.RawMessage(cfg))
	if err != nil {
		b.Fatalf("jwt_issue does not load: %v", err)
	}
	return m.(caddyhttp.MiddlewareHandler)
}

type perfNotRouted struct{}

func (perfNotRouted) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	w.WriteHeader(http.StatusTeapot)
	return nil
}

func perfPost(b *testing.B, h caddyhttp.MiddlewareHandler, path, bearer, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		r.Header.Set("Authorization", "Bearer "+bearer)
	}
	r = r.WithContext(caddy.ActiveContext().Context)
	repl := caddy.NewReplacer()
	r = caddyhttp.PrepareRequest(r, repl, nil, nil)
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, perfNotRouted{}); err != nil {
		b.Fatalf("%s: %v", path, err)
	}
	return w
}

// BenchmarkLogin is a jwt_issue login (HS256 app). Its ns/op includes one
// bcrypt comparison at the minimum cost (the issuer spends exactly one per
// login); each iteration also times that comparison alone, interleaved so
// both see the same machine load, and ns/op-excl-bcrypt is the difference.
func BenchmarkLogin(b *testing.B) {
	if _, err := perfLoadApp(b, `{"secret":"`+benchSecret+`"}`); err != nil {
		b.Fatal(err)
	}
	const password = "bench-password"
	h := perfIssue(b, password)
	body := `{"username":"bench","password":"` + password + `"}`
	if w := perfPost(b, h, "/login", "", body); w.Code != http.StatusOK {
		b.Fatalf("login answers %d, not 200: %s", w.Code, bytes.TrimSpace(w.Body.Bytes()))
	}
	// the same hash (minimum cost) as the login's user
	hash := []byte(testkit.BcryptHash(b, password))
	var login, compare time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		_ = bcrypt.CompareHashAndPassword(hash, []byte(password))
		t1 := time.Now()
		if w := perfPost(b, h, "/login", "", body); w.Code != http.StatusOK {
			b.Fatalf("login: %d %s", w.Code, w.Body)
		}
		login += time.Since(t1)
		compare += t1.Sub(t0)
	}
	b.ReportMetric(float64(login.Nanoseconds())/float64(b.N), "login-ns/op")
	b.ReportMetric(float64((login-compare).Nanoseconds())/float64(b.N), "ns/op-excl-bcrypt")
}

// BenchmarkRefresh is a jwt_issue refresh: verify the refresh token,
// check revocation, mint a new access token (HS256 app).
func BenchmarkRefresh(b *testing.B) {
	if _, err := perfLoadApp(b, `{"secret":"`+benchSecret+`"}`); err != nil {
		b.Fatal(err)
	}
	const password = "bench-password"
	h := perfIssue(b, password)
	w := perfPost(b, h, "/login", "", `{"username":"bench","password":"`+password+`"}`)
	if w.Code != http.StatusOK {
		b.Fatalf("login answers %d, not 200: %s", w.Code, bytes.TrimSpace(w.Body.Bytes()))
	}
	var got struct {
		Refresh string `json:"refresh_token"`
	}
	body, _ := io.ReadAll(w.Body)
	if err := json.Unmarshal(body, &got); err != nil || got.Refresh == "" {
		b.Fatalf("login body %s: %v", body, err)
	}
	if w := perfPost(b, h, "/refresh", got.Refresh, ""); w.Code != http.StatusOK {
		b.Fatalf("refresh answers %d: %s (refresh rotation on?)", w.Code, bytes.TrimSpace(w.Body.Bytes()))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if w := perfPost(b, h, "/refresh", got.Refresh, ""); w.Code != http.StatusOK {
			b.Fatalf("refresh: %d %s", w.Code, w.Body)
		}
	}
}

// BenchmarkServeHTTPHitCost is what jwt_auth adds to a request whose token
// is cached: "harness" builds the request, replacer and context as Caddy
// would and calls the next handler directly; "jwt_auth" does the same
// through Auth.ServeHTTP (HS256, no require, no fresh_required). The
// difference is jwt_auth's own cost per request on a hit.
func BenchmarkServeHTTPHitCost(b *testing.B) {
	a := newFixture(b, appConfig([]byte(`{"secret":"`+benchSecret+`"}`)), wallClock()).app
	h := &Auth{}
	h.app, h.auth, h.wantType = a, a.newAuthenticator(nil, nil), token.TypeAccess
	h.logger = caddy.Log()
	header := "Bearer " + testkit.SignToken(b, "HS256", []byte(benchSecret), nil, benchClaims(1))
	w := httptest.NewRecorder()
	var next caddyhttp.Handler = benchNext{}
	for _, through := range []string{"harness", "jwt_auth"} {
		b.Run(through, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				r := &http.Request{Method: http.MethodGet, Header: http.Header{"Authorization": {header}}}
				repl := caddy.NewReplacer()
				// the request's Caddy variables, as Caddy's server starts them
				vars := map[string]any{caddyhttp.TrustedProxyVarKey: false, caddyhttp.ClientIPVarKey: "192.0.2.1"}
				ctx := context.WithValue(context.Background(), caddy.ReplacerCtxKey, repl)
				r = r.WithContext(context.WithValue(ctx, caddyhttp.VarsCtxKey, vars))
				var err error
				if through == "harness" {
					err = next.ServeHTTP(w, r)
				} else {
					err = h.ServeHTTP(w, r, next)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
