package jwtextended

// Tokens in tests are minted here, independently of the code under test:
// raw JSON, base64url and the standard library's crypto, so a bug in the
// module's own minting or parsing cannot hide a bug in its verification.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"hash"
	"math/big"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	_ "github.com/caddyserver/caddy/v2/modules/filestorage"
)

// b64url encodes without padding, as JWS does.
func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// mustJSON marshals v or fails the test.
func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signRaw builds a compact JWS from raw header and payload JSON, signed with
// alg and key: []byte for HS*, *rsa.PrivateKey for RS*/PS*,
// *ecdsa.PrivateKey for ES*, ed25519.PrivateKey for EdDSA. Use it when a
// test needs a malformed or unusual token.
func signRaw(t testing.TB, alg string, key any, headerJSON, payloadJSON []byte) string {
	t.Helper()
	signingInput := b64url(headerJSON) + "." + b64url(payloadJSON)
	return signingInput + "." + b64url(rawSignature(t, alg, key, []byte(signingInput)))
}

// applyOverrides sets each override in m; a nil value deletes the name,
// so a test can drop a claim or header parameter.
func applyOverrides(m, overrides map[string]any) {
	for k, v := range overrides {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
}

// signToken builds a compact JWS with header {"alg":alg,"typ":"JWT"} plus
// extraHeader, and the claims as payload.
func signToken(t testing.TB, alg string, key any, extraHeader, claims map[string]any) string {
	t.Helper()
	hdr := map[string]any{"alg": alg, "typ": "JWT"}
	applyOverrides(hdr, extraHeader)
	return signRaw(t, alg, key, mustJSON(t, hdr), mustJSON(t, claims))
}

func hashFor(alg string) (crypto.Hash, func() hash.Hash) {
	switch alg[2:] {
	case "384":
		return crypto.SHA384, sha512.New384
	case "512":
		return crypto.SHA512, sha512.New
	}
	return crypto.SHA256, sha256.New
}

func rawSignature(t testing.TB, alg string, key any, msg []byte) []byte {
	t.Helper()
	if alg == "EdDSA" {
		return ed25519.Sign(key.(ed25519.PrivateKey), msg)
	}
	if alg == "none" {
		return nil
	}
	h, newHash := hashFor(alg)
	switch alg[:2] {
	case "HS":
		m := hmac.New(newHash, key.([]byte))
		m.Write(msg)
		return m.Sum(nil)
	}
	d := newHash()
	d.Write(msg)
	digest := d.Sum(nil)
	switch alg[:2] {
	case "RS":
		sig, err := rsa.SignPKCS1v15(rand.Reader, key.(*rsa.PrivateKey), h, digest)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	case "PS":
		sig, err := rsa.SignPSS(rand.Reader, key.(*rsa.PrivateKey), h, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		if err != nil {
			t.Fatal(err)
		}
		return sig
	case "ES":
		k := key.(*ecdsa.PrivateKey)
		r, s, err := ecdsa.Sign(rand.Reader, k, digest)
		if err != nil {
			t.Fatal(err)
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		out := make([]byte, 2*size)
		r.FillBytes(out[:size])
		s.FillBytes(out[size:])
		return out
	}
	t.Fatalf("signRaw: unknown algorithm %q", alg)
	return nil
}

// bigInt is a shorthand for tests that build ECDSA special values.
func bigInt(v int64) *big.Int { return big.NewInt(v) }

// TestMain gives the in-process Caddy servers of the integration tests a
// storage folder of their own ({$CADDY_JWT_TEST_STORAGE} in their global
// options), so generated keys and revocations never land in, or come from,
// the user's Caddy data directory.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "caddy-jwt-test-storage-")
	if err != nil {
		panic(err)
	}
	os.Setenv("CADDY_JWT_TEST_STORAGE", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testClock is an injectable clock (App.now) that tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// loadApp starts Caddy in-process with the given `jwt` app config (JSON)
// and Caddy's file_system storage in a temporary folder, and returns the
// provisioned app. Tests that use it must not run in parallel: Caddy's
// running config is process-wide. The config is unloaded at cleanup.
func loadApp(tb testing.TB, jwtJSON string) *App {
	tb.Helper()
	cfg := `{"admin":{"disabled":true},"logging":{"logs":{"default":{"level":"ERROR"}}},` +
		`"storage":{"module":"file_system","root":` + string(mustJSON(tb, tb.TempDir())) + `},` +
		`"apps":{"jwt":` + jwtJSON + `}}`
	if err := caddy.Load([]byte(cfg), true); err != nil {
		tb.Fatalf("loading config: %v", err)
	}
	tb.Cleanup(func() { _ = caddy.Stop() })
	v, err := caddy.ActiveContext().App("jwt")
	if err != nil {
		tb.Fatal(err)
	}
	return v.(*App)
}
