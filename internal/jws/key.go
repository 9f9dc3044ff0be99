package jws

import "github.com/golang-jwt/jwt/v5"

// Key is one trusted verification key, bound to exactly one algorithm.
type Key struct {
	KID    string
	Alg    string
	Method jwt.SigningMethod
	// Material is []byte for HMAC, *rsa.PublicKey, *ecdsa.PublicKey or
	// ed25519.PublicKey.
	Material any
	// Source names where the key came from, for errors and logs: a
	// setting ("secret", "private_key <file>", "public_key <file>") or a
	// JWKS URL. Never key material.
	Source string
}

// Signer is the key that mints tokens.
type Signer struct {
	KID    string // empty for a secret: flask-jwt-extended tokens carry none
	Alg    string
	Method jwt.SigningMethod
	Key    any // []byte for HMAC, crypto.Signer otherwise
}

// KeySet is what Verify selects keys from.
type KeySet interface {
	// KeyFor returns the key a token whose header names kid is verified
	// with, or nil.
	KeyFor(kid string) *Key
	// KeysWithoutKID returns the keys tried, in order, for a token whose
	// header has no kid.
	KeysWithoutKID() []*Key
}
