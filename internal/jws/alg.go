// Package jws reads and writes compact JWS (RFC 7515) as this module
// trusts them: strict base64url, a strict JOSE header, and signatures
// checked only with keys that configuration bound to exactly one
// algorithm. The token's header never chooses an algorithm; its kid only
// selects among the configured keys.
package jws

import (
	"crypto"
	"crypto/rsa"
	"sort"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// PS256/384/512 as RFC 7518 section 3.5 fixes them: the salt is as long as
// the hash, on signing and on verifying. golang-jwt's own PS methods verify
// with rsa.PSSSaltLengthAuto, which accepts any salt length.
var (
	signingMethodPS256 = newStrictPSS("PS256", crypto.SHA256)
	signingMethodPS384 = newStrictPSS("PS384", crypto.SHA384)
	signingMethodPS512 = newStrictPSS("PS512", crypto.SHA512)
)

func newStrictPSS(name string, h crypto.Hash) *jwt.SigningMethodRSAPSS {
	opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}
	return &jwt.SigningMethodRSAPSS{
		SigningMethodRSA: &jwt.SigningMethodRSA{Name: name, Hash: h},
		Options:          opts,
		VerifyOptions:    opts,
	}
}

// algorithms maps every supported JWS algorithm name to the golang-jwt
// method that signs and verifies it.
var algorithms = map[string]jwt.SigningMethod{
	"HS256": jwt.SigningMethodHS256,
	"HS384": jwt.SigningMethodHS384,
	"HS512": jwt.SigningMethodHS512,
	"RS256": jwt.SigningMethodRS256,
	"RS384": jwt.SigningMethodRS384,
	"RS512": jwt.SigningMethodRS512,
	"PS256": signingMethodPS256,
	"PS384": signingMethodPS384,
	"PS512": signingMethodPS512,
	"ES256": jwt.SigningMethodES256,
	"ES384": jwt.SigningMethodES384,
	"ES512": jwt.SigningMethodES512,
	"EdDSA": jwt.SigningMethodEdDSA,
}

// Method returns the golang-jwt method of a supported algorithm name.
func Method(alg string) (jwt.SigningMethod, bool) {
	m, ok := algorithms[alg]
	return m, ok
}

// Supported lists the supported algorithm names, sorted, space-separated,
// for error messages and help texts.
func Supported() string {
	names := make([]string, 0, len(algorithms))
	for n := range algorithms {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}

// minHMACKeyBytes is the shortest secret accepted per algorithm: at least
// the hash size, as RFC 7518 section 3.2 requires.
var minHMACKeyBytes = map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}

// MinHMACKeyBytes returns the shortest secret accepted for an HMAC
// algorithm; ok is false for any other algorithm.
func MinHMACKeyBytes(alg string) (n int, ok bool) {
	n, ok = minHMACKeyBytes[alg]
	return n, ok
}
