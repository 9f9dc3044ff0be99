package jwtextended

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/keys"
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	_ "github.com/caddyserver/caddy/v2/modules/filestorage"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// wallClaims is a valid flask-jwt-extended access token payload at the
// wall clock (the apps here run on it).
func wallClaims() map[string]any {
	now := time.Now().Unix()
	return map[string]any{"sub": "alice", "type": "access", "fresh": false, "jti": "j1", "iat": now, "nbf": now, "exp": now + 600}
}

// kidHeader is the extra JWS header naming kid, none when kid is empty.
func kidHeader(kid string) map[string]any {
	if kid == "" {
		return nil
	}
	return map[string]any{"kid": kid}
}

// Every algorithm: a token signed with the configured key verifies through
// parseToken; one signed with another key of the same kind, or naming
// another algorithm, is refused.
func TestKeysEveryAlgorithm(t *testing.T) {
	t.Parallel()
	ks := testkit.Keys()
	type tc struct {
		alg        string
		key, other any // signing keys (secret bytes or private key)
	}
	cases := []tc{
		{"HS256", testkit.Secret(32), testkit.Secret(32)},
		{"HS384", testkit.Secret(48), testkit.Secret(48)},
		{"HS512", testkit.Secret(64), testkit.Secret(64)},
		{"RS256", ks["rsa"], ks["rsa2"]},
		{"RS384", ks["rsa"], ks["rsa2"]},
		{"RS512", ks["rsa"], ks["rsa2"]},
		{"PS256", ks["rsa"], ks["rsa2"]},
		{"PS384", ks["rsa"], ks["rsa2"]},
		{"PS512", ks["rsa"], ks["rsa2"]},
		{"ES256", ks["p256"], ks["p256b"]},
		{"ES384", ks["p384"], ks["p384b"]},
		{"ES512", ks["p521"], ks["p521b"]},
		{"EdDSA", ks["ed"], ks["edb"]},
	}
	for _, c := range cases {
		t.Run(c.alg, func(t *testing.T) {
			cfg := map[string]any{"algorithm": c.alg}
			kid := ""
			if secret, ok := c.key.([]byte); ok {
				cfg["secret"] = string(secret)
			} else {
				kid = "k-" + c.alg
				cfg["private_key"] = map[string]any{"file": testkit.WritePKCS8(t, c.key), "kid": kid}
			}
			a := newFixture(t, appConfig(testkit.MustJSON(t, cfg)), wallClock()).app
			sk, err := a.ring.Signer()
			if err != nil || sk.Alg != c.alg || sk.KID != kid {
				t.Fatalf("signer = %+v, %v; want alg %s kid %q", sk, err, c.alg, kid)
			}

			good := testkit.SignToken(t, c.alg, c.key, kidHeader(kid), wallClaims())
			if _, e := a.parseToken(good); e != nil {
				t.Fatalf("token signed with the configured key refused: %v", e)
			}
			// without kid: the local keys are tried
			if _, e := a.parseToken(testkit.SignToken(t, c.alg, c.key, kidHeader(""), wallClaims())); e != nil {
				t.Fatalf("token without kid refused: %v", e)
			}
			if _, e := a.parseToken(testkit.SignToken(t, c.alg, c.other, kidHeader(kid), wallClaims())); e != errSignature {
				t.Fatalf("token signed with another key: got %v, want %v", e, errSignature)
			}
			// the same key under another algorithm of its family is refused
			var otherAlg string
			switch c.alg[:2] {
			case "HS":
				otherAlg = map[string]string{"HS256": "HS512", "HS384": "HS256", "HS512": "HS384"}[c.alg]
			case "RS":
				otherAlg = "PS" + c.alg[2:]
			case "PS":
				otherAlg = "RS" + c.alg[2:]
			}
			if otherAlg != "" {
				if _, e := a.parseToken(testkit.SignToken(t, otherAlg, c.key, kidHeader(kid), wallClaims())); e != errAlgNotAllowed {
					t.Fatalf("same key as %s: got %v, want %v", otherAlg, e, errAlgNotAllowed)
				}
			}
			// golang-jwt's method signs what the module mints; the
			// independent verifier above must accept it too.
			minted, err := sk.Method.Sign("e30.e30", sk.Key)
			if err != nil {
				t.Fatal(err)
			}
			vk := a.ring.Current().KeysWithoutKID()[0]
			if err := vk.Method.Verify("e30.e30", minted, vk.Material); err != nil {
				t.Fatalf("the public half does not verify the signer's signature: %v", err)
			}
		})
	}
}

// Algorithm confusion: the bytes of a configured public key (PEM or DER)
// used as an HMAC secret never verify.
func TestKeysAlgorithmConfusion(t *testing.T) {
	t.Parallel()
	ks := testkit.Keys()
	for _, name := range []string{"rsa", "p256", "ed"} {
		t.Run(name, func(t *testing.T) {
			pub := ks[name].Public()
			der, err := x509.MarshalPKIXPublicKey(pub)
			if err != nil {
				t.Fatal(err)
			}
			path := testkit.WritePKIX(t, pub)
			pemBytes, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			a := newFixture(t, appConfig(testkit.MustJSON(t, map[string]any{"public_keys": []any{map[string]any{"file": path, "kid": "pub"}}})), wallClock()).app
			for _, secret := range [][]byte{pemBytes, der} {
				for _, alg := range []string{"HS256", "HS384", "HS512"} {
					for _, kid := range []string{"pub", ""} {
						tok := testkit.SignToken(t, alg, secret, kidHeader(kid), wallClaims())
						if _, e := a.parseToken(tok); e != errAlgNotAllowed {
							t.Errorf("%s token keyed with the public key (kid %q, %d bytes): got %v, want %v", alg, kid, len(secret), e, errAlgNotAllowed)
						}
					}
				}
			}
		})
	}
}

func TestKeysUnknownKID(t *testing.T) {
	t.Parallel()
	a := newFixture(t, appConfig(testkit.MustJSON(t, map[string]any{"private_key": map[string]any{"file": testkit.WritePKCS8(t, testkit.Keys()["p256"]), "kid": "k1"}})), wallClock()).app
	if _, e := a.parseToken(testkit.SignToken(t, "ES256", testkit.Keys()["p256"], kidHeader("k2"), wallClaims())); e != errUnknownKID {
		t.Fatalf("got %v, want %v", e, errUnknownKID)
	}
}

// Rotation: the new key signs; tokens of the old key (now a public_key)
// and of the new one both verify.
func TestKeysRotation(t *testing.T) {
	t.Parallel()
	ks := testkit.Keys()
	oldKey, newKey := ks["rsa"], ks["rsa2"]
	a := newFixture(t, appConfig(testkit.MustJSON(t, map[string]any{
		"algorithm":   "PS256",
		"private_key": map[string]any{"file": testkit.WritePKCS8(t, newKey), "kid": "2025-02"},
		"public_keys": []any{map[string]any{"file": testkit.WritePKIX(t, oldKey.Public()), "kid": "2025-01"}},
	})), wallClock()).app
	sk, err := a.ring.Signer()
	if err != nil || sk.KID != "2025-02" || sk.Alg != "PS256" {
		t.Fatalf("signer = %+v, %v", sk, err)
	}
	for kid, key := range map[string]any{"2025-01": oldKey, "2025-02": newKey} {
		if _, e := a.parseToken(testkit.SignToken(t, "PS256", key, kidHeader(kid), wallClaims())); e != nil {
			t.Errorf("token of %s refused: %v", kid, e)
		}
	}
	// the old key's kid does not verify a token of the new key
	if _, e := a.parseToken(testkit.SignToken(t, "PS256", newKey, kidHeader("2025-01"), wallClaims())); e != errSignature {
		t.Errorf("new key under old kid: got %v, want %v", e, errSignature)
	}
	var set struct{ Keys []map[string]any }
	if err := json.Unmarshal(a.ring.PublicJWKS(), &set); err != nil || len(set.Keys) != 2 {
		t.Fatalf("published set = %s, %v; want both keys", a.ring.PublicJWKS(), err)
	}
}

// A key file without kid gets its RFC 7638 thumbprint; minted tokens carry it.
func TestKeysDefaultKIDIsThumbprint(t *testing.T) {
	t.Parallel()
	// RFC 7638 section 3.1 example key and thumbprint
	nb, err := jws.Encoding.DecodeString("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
	if err != nil {
		t.Fatal(err)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: 65537}
	got, err := keys.Thumbprint(pub)
	if err != nil || got != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Fatalf("thumbprint = %q, %v", got, err)
	}

	key := testkit.Keys()["p384"]
	a := newFixture(t, appConfig(testkit.MustJSON(t, map[string]any{"private_key": map[string]any{"file": testkit.WritePKCS8(t, key)}})), wallClock()).app
	want, _ := keys.Thumbprint(key.Public())
	sk, _ := a.ring.Signer()
	if sk.KID != want || sk.Alg != "ES384" {
		t.Fatalf("signer kid %q alg %s, want %q ES384 (inferred from P-384)", sk.KID, sk.Alg, want)
	}
	if _, e := a.parseToken(testkit.SignToken(t, "ES384", key, kidHeader(want), wallClaims())); e != nil {
		t.Fatalf("token with the thumbprint kid refused: %v", e)
	}
}

// Algorithm inference from the key, and refusal when algorithm does not fit.
func TestKeysAlgorithmInference(t *testing.T) {
	t.Parallel()
	ks := testkit.Keys()
	for name, want := range map[string]string{"rsa": "RS256", "p256": "ES256", "p384": "ES384", "p521": "ES512", "ed": "EdDSA"} {
		a := newFixture(t, appConfig(testkit.MustJSON(t, map[string]any{"private_key": map[string]any{"file": testkit.WritePKCS8(t, ks[name])}})), wallClock()).app
		if sk, _ := a.ring.Signer(); sk.Alg != want {
			t.Errorf("%s: inferred %s, want %s", name, sk.Alg, want)
		}
	}
}

// PEM forms: PKCS#8, PKCS#1 and SEC 1 private keys; PKIX, PKCS#1 and
// certificates for public keys.
func TestKeysPEMForms(t *testing.T) {
	t.Parallel()
	ks := testkit.Keys()
	rsaKey := ks["rsa"].(*rsa.PrivateKey)
	ecKey := ks["p256"].(*ecdsa.PrivateKey)
	sec1, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "issuer"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, ecKey.Public(), ecKey)
	if err != nil {
		t.Fatal(err)
	}
	privates := map[string]string{
		"pkcs8": testkit.WritePKCS8(t, rsaKey),
		"pkcs1": testkit.WritePEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)),
		"sec1":  testkit.WritePEM(t, "EC PRIVATE KEY", sec1),
	}
	for name, path := range privates {
		data, _ := os.ReadFile(path)
		if _, err := keys.ParsePrivateKeyPEM(data); err != nil {
			t.Errorf("private %s: %v", name, err)
		}
	}
	publics := map[string]string{
		"pkix":  testkit.WritePKIX(t, rsaKey.Public()),
		"pkcs1": testkit.WritePEM(t, "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)),
		"cert":  testkit.WritePEM(t, "CERTIFICATE", certDER),
	}
	for name, path := range publics {
		data, _ := os.ReadFile(path)
		if _, err := keys.ParsePublicKeyPEM(data); err != nil {
			t.Errorf("public %s: %v", name, err)
		}
	}
	// a certificate's key verifies tokens
	a := newFixture(t, appConfig(testkit.MustJSON(t, map[string]any{"public_keys": []any{map[string]any{"file": publics["cert"], "kid": "c"}}})), wallClock()).app
	if _, e := a.parseToken(testkit.SignToken(t, "ES256", ecKey, kidHeader("c"), wallClaims())); e != nil {
		t.Errorf("certificate key: %v", e)
	}
	// a private key where a public key is expected, and the reverse
	if _, err := keys.ParsePublicKeyPEM(readKeyFile(t, privates["pkcs8"])); err == nil || !strings.Contains(err.Error(), "-pubout") {
		t.Errorf("private key as public_key: %v", err)
	}
	if _, err := keys.ParsePrivateKeyPEM(readKeyFile(t, publics["pkix"])); err == nil || !strings.Contains(err.Error(), "public_key") {
		t.Errorf("public key as private_key: %v", err)
	}
}

func readKeyFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Configurations that must not load, each with an error naming the setting.
func TestKeysRefusedConfigs(t *testing.T) {
	t.Parallel()
	ks := testkit.Keys()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p256 := testkit.WritePKCS8(t, ks["p256"])
	cases := []struct {
		name string
		cfg  map[string]any
		want string
	}{
		{"rsa 1024 private", map[string]any{"private_key": map[string]any{"file": testkit.WritePKCS8(t, small)}}, "1024 bits"},
		{"rsa 1024 public", map[string]any{"public_keys": []any{map[string]any{"file": testkit.WritePKIX(t, small.Public())}}}, "1024 bits"},
		{"duplicate kid", map[string]any{
			"private_key": map[string]any{"file": p256, "kid": "a"},
			"public_keys": []any{map[string]any{"file": testkit.WritePKIX(t, ks["p384"].Public()), "kid": "a"}},
		}, `key id "a" is used by both`},
		{"same key twice", map[string]any{
			"private_key": map[string]any{"file": p256},
			"public_keys": []any{map[string]any{"file": testkit.WritePKIX(t, ks["p256"].Public())}},
		}, "is used by both"},
		{"secret and private key", map[string]any{"secret": string(testkit.Secret(32)), "private_key": map[string]any{"file": p256}}, "secret and private_key are both set"},
		{"curve mismatch", map[string]any{"algorithm": "ES384", "private_key": map[string]any{"file": p256}}, "P-256 key is used with ES256 only"},
		{"rsa alg for ec key", map[string]any{"algorithm": "RS256", "private_key": map[string]any{"file": p256}}, "ES256 only"},
		{"hmac alg for private key", map[string]any{"algorithm": "HS256", "private_key": map[string]any{"file": p256}}, "ES256 only"},
		{"ec alg for rsa key", map[string]any{"algorithm": "ES256", "private_key": map[string]any{"file": testkit.WritePKCS8(t, ks["rsa"])}}, "RSA key cannot be used with algorithm ES256"},
		{"asymmetric alg with secret", map[string]any{"algorithm": "RS256", "secret": string(testkit.Secret(64))}, "secret is an HMAC key"},
		{"secret too short", map[string]any{"secret": string(testkit.Secret(31))}, "31 bytes, HS256 needs at least 32"},
		{"hs512 secret too short", map[string]any{"algorithm": "HS512", "secret": string(testkit.Secret(63))}, "HS512 needs at least 64"},
		{"algorithm without signing key", map[string]any{"algorithm": "ES256", "jwks_urls": []any{"https://idp.invalid/jwks"}}, "no secret or private_key"},
		{"algorithm without any key", map[string]any{"algorithm": "RS256"}, "the generated key is ES256"},
		{"missing file", map[string]any{"private_key": map[string]any{"file": "/nonexistent/key.pem"}}, "reading private_key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := tryFixture(t, appConfig(testkit.MustJSON(t, c.cfg)), wallClock())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
			if s, ok := c.cfg["secret"].(string); ok && strings.Contains(err.Error(), s) {
				t.Fatal("the error echoes the secret")
			}
		})
	}
}

// public_key only: the app verifies but cannot mint, and says why.
func TestKeysVerifyOnly(t *testing.T) {
	t.Parallel()
	key := testkit.Keys()["ed"]
	a := newFixture(t, appConfig(testkit.MustJSON(t, map[string]any{"public_keys": []any{map[string]any{"file": testkit.WritePKIX(t, key.Public())}}})), wallClock()).app
	if _, err := a.ring.Signer(); err == nil || !strings.Contains(err.Error(), "only verifies") {
		t.Fatalf("signingKey() error = %v", err)
	}
	if _, e := a.parseToken(testkit.SignToken(t, "EdDSA", key, kidHeader(""), wallClaims())); e != nil {
		t.Fatalf("verify-only app refused a good token: %v", e)
	}
}

// Zero configuration: an ES256 key is generated into storage; a second
// provision (a restart, or another instance on the same storage) reuses it.
func TestKeysZeroConfigSharedStorage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a1 := newFixture(t, appConfig(nil), wallClock(), inStorage(dir)).app
	a2 := newFixture(t, appConfig(nil), wallClock(), inStorage(dir)).app
	s1, err1 := a1.ring.Signer()
	s2, err2 := a2.ring.Signer()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if s1.Alg != "ES256" || s1.KID == "" || s1.KID != s2.KID {
		t.Fatalf("signers differ: %s/%s vs %s/%s", s1.Alg, s1.KID, s2.Alg, s2.KID)
	}
	if _, err := os.Stat(filepath.Join(dir, zeroConfigKeyPath)); err != nil {
		t.Fatalf("key not in storage: %v", err)
	}
	// a token signed by one instance verifies on the other
	tok := testkit.SignToken(t, "ES256", s1.Key, kidHeader(s1.KID), wallClaims())
	if _, e := a2.parseToken(tok); e != nil {
		t.Fatalf("instance 2 refused instance 1's token: %v", e)
	}
	// the published key is the generated one
	if !strings.Contains(string(a1.ring.PublicJWKS()), s1.KID) {
		t.Fatalf("published set %s lacks kid %s", a1.ring.PublicJWKS(), s1.KID)
	}
}

// Instances starting together agree on one key: the storage lock
// serializes creation and the loser reads the winner's key.
func TestKeysZeroConfigConcurrentStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const n = 6
	kids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			st := &certmagic.FileStorage{Path: dir} // one per instance, as separate processes have
			<-start
			key, err := loadOrCreateSigningKey(context.Background(), st, zap.NewNop())
			if err != nil {
				errs[i] = err
				return
			}
			kids[i], errs[i] = keys.Thumbprint(key.Public())
		}(i)
	}
	close(start)
	wg.Wait()
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			t.Fatalf("instance %d: %v", i, errs[i])
		}
		if kids[i] != kids[0] {
			t.Fatalf("instance %d has key %s, instance 0 has %s", i, kids[i], kids[0])
		}
	}
}

// The published JWK Set holds public keys only, with kid, alg and use.
func TestKeysPublicJWKS(t *testing.T) {
	t.Parallel()
	ks := testkit.Keys()
	a := newFixture(t, appConfig(testkit.MustJSON(t, map[string]any{
		"private_key": map[string]any{"file": testkit.WritePKCS8(t, ks["rsa"]), "kid": "signer"},
		"public_keys": []any{
			map[string]any{"file": testkit.WritePKIX(t, ks["p521"].Public()), "kid": "ec"},
			map[string]any{"file": testkit.WritePKIX(t, ks["ed"].Public()), "kid": "ed"},
		},
	})), wallClock()).app
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(a.ring.PublicJWKS(), &set); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"signer": "RS256", "ec": "ES512", "ed": "EdDSA"}
	if len(set.Keys) != len(want) {
		t.Fatalf("got %d keys: %s", len(set.Keys), a.ring.PublicJWKS())
	}
	for _, k := range set.Keys {
		kid, _ := k["kid"].(string)
		if k["alg"] != want[kid] || k["use"] != "sig" {
			t.Errorf("key %v: want alg %s use sig", k, want[kid])
		}
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
			if _, ok := k[private]; ok {
				t.Errorf("key %s publishes private member %q", kid, private)
			}
		}
		// each published key loads back as the same verification key
		vk, err := keys.FromJWK(testkit.MustJSON(t, k), false)
		if err != nil || vk.KID != kid || vk.Alg != want[kid] {
			t.Errorf("published key %s does not load back: %v", kid, err)
		}
	}

	// an HMAC secret is never published
	hs := newFixture(t, appConfig(testkit.MustJSON(t, map[string]any{"secret": string(testkit.Secret(32))})), wallClock()).app
	if got := string(hs.ring.PublicJWKS()); got != `{"keys":[]}` {
		t.Fatalf("secret-only app publishes %s", got)
	}
}

func TestKeysServeJWKS(t *testing.T) {
	t.Parallel()
	a := newFixture(t, appConfig(testkit.MustJSON(t, map[string]any{"private_key": map[string]any{"file": testkit.WritePKCS8(t, testkit.Keys()["p256"]), "kid": "k"}})), wallClock()).app
	h := &Issue{JWKS: "/.well-known/jwks.json", app: a}

	w := httptest.NewRecorder()
	if err := h.serveJWKS(w, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil)); err != nil {
		t.Fatal(err)
	}
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/jwk-set+json" || !strings.Contains(w.Header().Get("Cache-Control"), "max-age=") {
		t.Fatalf("GET: %d %v", w.Code, w.Header())
	}
	if w.Body.String() != string(a.ring.PublicJWKS()) {
		t.Fatalf("GET body %s", w.Body)
	}

	w = httptest.NewRecorder()
	_ = h.serveJWKS(w, httptest.NewRequest(http.MethodHead, "/.well-known/jwks.json", nil))
	if w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Content-Length") == "" {
		t.Fatalf("HEAD: %d, body %q", w.Code, w.Body)
	}

	w = httptest.NewRecorder()
	_ = h.serveJWKS(w, httptest.NewRequest(http.MethodPost, "/.well-known/jwks.json", nil))
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST: %d %v", w.Code, w.Header())
	}
}
