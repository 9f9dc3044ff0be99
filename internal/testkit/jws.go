package testkit

// Tokens in tests are minted here, independently of the code under test:
// raw JSON, base64url and the standard library's crypto.

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
	"testing"
)

// B64URL encodes without padding, as JWS does.
func B64URL(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// MustJSON marshals v or fails the test.
func MustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// SignRaw builds a compact JWS from raw header and payload JSON, signed with
// alg and key: []byte for HS*, *rsa.PrivateKey for RS*/PS*,
// *ecdsa.PrivateKey for ES*, ed25519.PrivateKey for EdDSA ("none" signs
// with nothing). Use it when a test needs a malformed or unusual token.
func SignRaw(t testing.TB, alg string, key any, headerJSON, payloadJSON []byte) string {
	t.Helper()
	signingInput := B64URL(headerJSON) + "." + B64URL(payloadJSON)
	return signingInput + "." + B64URL(RawSignature(t, alg, key, []byte(signingInput)))
}

// ApplyOverrides sets each override in m; a nil value deletes the name,
// so a test can drop a claim or header parameter.
func ApplyOverrides(m, overrides map[string]any) {
	for k, v := range overrides {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
}

// SignToken builds a compact JWS with header {"alg":alg,"typ":"JWT"} plus
// extraHeader (through ApplyOverrides), and the claims as payload.
func SignToken(t testing.TB, alg string, key any, extraHeader, claims map[string]any) string {
	t.Helper()
	hdr := map[string]any{"alg": alg, "typ": "JWT"}
	ApplyOverrides(hdr, extraHeader)
	return SignRaw(t, alg, key, MustJSON(t, hdr), MustJSON(t, claims))
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

// RawSignature is the JWS signature of msg with alg and key (see SignRaw
// for the key types): PKCS#1 v1.5 for RS*, PSS with the hash's length as
// salt for PS*, the fixed-size r||s for ES*.
func RawSignature(t testing.TB, alg string, key any, msg []byte) []byte {
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
	t.Fatalf("testkit: unknown algorithm %q", alg)
	return nil
}
