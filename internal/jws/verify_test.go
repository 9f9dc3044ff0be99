package jws

import (
	"strings"
	"testing"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
)

// testKeys is a KeySet of one HMAC key, named "k1".
type testKeys struct{ key *Key }

func (s testKeys) KeyFor(kid string) *Key {
	if kid == s.key.KID {
		return s.key
	}
	return nil
}
func (s testKeys) KeysWithoutKID() []*Key { return []*Key{s.key} }

var testSecret = []byte("jws-test-secret-0123456789abcdef0123")

func newTestKeys(alg string) testKeys {
	m, _ := Method(alg)
	return testKeys{&Key{KID: "k1", Alg: alg, Method: m, Material: testSecret}}
}

// The JWS layer alone: each refusal in the order it is checked, with
// tokens signed by testkit's minter (crypto/hmac), never by this package.
func TestVerify(t *testing.T) {
	keys := newTestKeys("HS256")
	sign := func(hdr string) string {
		return testkit.SignRaw(t, "HS256", testSecret, []byte(hdr), []byte(`{"sub":"a"}`))
	}
	good := sign(`{"alg":"HS256"}`)
	for _, tc := range []struct {
		name, tok string
		want      *Error
	}{
		{"valid, no kid", good, nil},
		{"valid, kid", sign(`{"alg":"HS256","kid":"k1"}`), nil},
		{"too large", strings.Repeat("a", MaxTokenSize+1), ErrTooLarge},
		{"two segments", "a.b", ErrMalformed},
		{"empty payload", "a..c", ErrMalformed},
		{"not base64url", "a!.b.c", ErrBadEncoding},
		{"header not JSON", testkit.SignRaw(t, "HS256", testSecret, []byte(`alg`), []byte(`{}`)), ErrBadHeader},
		{"alg a number", sign(`{"alg":1}`), ErrBadHeader},
		{"duplicate header names", sign(`{"alg":"HS256","ALG":"none"}`), ErrBadHeader},
		{"crit", sign(`{"alg":"HS256","crit":["x"]}`), ErrCrit},
		{"kid a number", sign(`{"alg":"HS256","kid":1}`), ErrBadKID},
		{"kid too long", sign(`{"alg":"HS256","kid":"` + strings.Repeat("k", MaxKIDLength+1) + `"}`), ErrBadKID},
		{"kid null names no key", sign(`{"alg":"HS256","kid":null}`), ErrUnknownKID},
		{"unknown kid", sign(`{"alg":"HS256","kid":"k2"}`), ErrUnknownKID},
		{"alg of no key", sign(`{"alg":"HS512"}`), ErrAlgNotAllowed},
		{"alg none", sign(`{"alg":"none"}`), ErrAlgNotAllowed},
		{"bad signature", good[:len(good)-2] + "AA", ErrSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payloadB64, payload, _, e := Verify(tc.tok, keys)
			if e != tc.want {
				t.Fatalf("got %v, want %v", e, tc.want)
			}
			if e == nil && (string(payload) != `{"sub":"a"}` || payloadB64 != strings.Split(tc.tok, ".")[1]) {
				t.Fatalf("payload %q (%q)", payload, payloadB64)
			}
		})
	}
}

// Sign and Verify agree, and the signer's kid is in the header.
func TestSignVerifies(t *testing.T) {
	keys := newTestKeys("HS384")
	raw, err := Sign(map[string]any{"sub": "a"}, &Signer{KID: "k1", Alg: "HS384", Method: keys.key.Method, Key: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, e := Verify(raw, keys); e != nil {
		t.Fatal(e)
	}
	h, _, _, _ := Split(raw)
	hdr, e := ParseHeader(h)
	if kid, _ := hdr.KID(); e != nil || hdr.Alg != "HS384" || kid != "k1" {
		t.Fatalf("header %+v (%v)", hdr, e)
	}
}
