package oidcflow

import (
	"bytes"
	"strings"
	"testing"
)

func TestSealer(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := NewSealer(make([]byte, n)); err == nil {
			t.Errorf("a %d-byte key accepted", n)
		}
	}
	key := bytes.Repeat([]byte{7}, KeySize)
	s, err := NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	key[0] = 8 // the sealer holds its own copy
	aad := []byte("aad")
	v1, _ := s.seal(aad, []byte("hello"))
	v2, _ := s.seal(aad, []byte("hello"))
	if v1 == v2 {
		t.Fatal("two seals of one text are equal: the nonce is not random")
	}
	if strings.ContainsAny(v1, "+/=") {
		t.Fatalf("%q is not unpadded base64url", v1)
	}
	got, err := s.open(aad, v1)
	if err != nil || string(got) != "hello" {
		t.Fatalf("open: %q, %v", got, err)
	}
	if _, err := s.open([]byte("other"), v1); err == nil {
		t.Fatal("opened with another aad")
	}
	s2, _ := NewSealer(bytes.Repeat([]byte{8}, KeySize))
	if _, err := s2.open(aad, v1); err == nil {
		t.Fatal("opened with another key")
	}
	big, _ := s.seal(aad, bytes.Repeat([]byte("x"), MaxSealed))
	if _, err := s.open(aad, big); err == nil {
		t.Fatal("opened a value over MaxSealed")
	}
}

// FuzzOpenTx: no input panics the opening of a transaction, and nothing
// opens but a value the sealer sealed (the only transaction ever sealed
// with this key and aad is sealed below, in every fuzzing process, each
// time with a nonce of its own).
func FuzzOpenTx(f *testing.F) {
	s, _ := NewSealer(testKey)
	aad := txAAD("jwt_oidc_corp", "corp")
	sealed := transaction{V: txVersion, Kind: kindLogin, State: "s", Nonce: "n", Verifier: "v"}
	good, _ := s.sealTx(aad, &sealed)
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(good + "A")
	f.Add("")
	f.Add("AAAA")
	f.Add(strings.Repeat("A", 40))
	f.Add(strings.Repeat("_", MaxSealed+1))
	f.Fuzz(func(t *testing.T, v string) {
		tx, err := s.openTx(aad, v)
		if v == good && err != nil {
			t.Fatalf("the sealed value does not open: %v", err)
		}
		if err == nil && *tx != sealed {
			t.Fatalf("%q opened as %+v", v, tx)
		}
		if err == nil && len(v) > MaxSealed {
			t.Fatalf("a value of %d bytes opened", len(v))
		}
	})
}
