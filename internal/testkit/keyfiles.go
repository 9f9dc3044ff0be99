package testkit

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Keys are test keys generated once per test binary (RSA generation is
// slow), by name: "rsa" and "rsa2" (RSA 2048), "p256", "p256b", "p384",
// "p384b", "p521", "p521b" (ECDSA), "ed" and "edb" (Ed25519).
var Keys = sync.OnceValue(func() map[string]crypto.Signer {
	gen := func(f func() (crypto.Signer, error)) crypto.Signer {
		k, err := f()
		if err != nil {
			panic(err)
		}
		return k
	}
	m := map[string]crypto.Signer{}
	for _, name := range []string{"rsa", "rsa2"} {
		m[name] = gen(func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) })
	}
	for name, c := range map[string]elliptic.Curve{"p256": elliptic.P256(), "p256b": elliptic.P256(), "p384": elliptic.P384(), "p384b": elliptic.P384(), "p521": elliptic.P521(), "p521b": elliptic.P521()} {
		m[name] = gen(func() (crypto.Signer, error) { return ecdsa.GenerateKey(c, rand.Reader) })
	}
	for _, name := range []string{"ed", "edb"} {
		m[name] = gen(func() (crypto.Signer, error) { _, k, err := ed25519.GenerateKey(rand.Reader); return k, err })
	}
	return m
})

// Secret is a random printable secret of n bytes, as a user would put in a
// Caddyfile.
func Secret(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return []byte(base64.RawURLEncoding.EncodeToString(b)[:n])
}

// WritePEM writes a PEM block to a temporary file and returns its path.
func WritePEM(t testing.TB, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), strings.ReplaceAll(strings.ToLower(typ), " ", "_")+".pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// WritePKCS8 writes a private key as a PKCS#8 PEM file.
func WritePKCS8(t testing.TB, priv any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return WritePEM(t, "PRIVATE KEY", der)
}

// WritePKIX writes a public key as a PKIX PEM file.
func WritePKIX(t testing.TB, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return WritePEM(t, "PUBLIC KEY", der)
}
