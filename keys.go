package jwtextended

import (
	"fmt"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
	"github.com/golang-jwt/jwt/v5"
)

// algorithms maps every supported JWS algorithm name to the golang-jwt
// method that signs and verifies it. A key is bound to exactly one of these
// at load; the token's header never chooses one.
var algorithms = map[string]jwt.SigningMethod{
	"HS256": jwt.SigningMethodHS256,
	"HS384": jwt.SigningMethodHS384,
	"HS512": jwt.SigningMethodHS512,
}

// minHMACKeyBytes is the shortest secret accepted per algorithm: at least
// the hash size, as RFC 7518 section 3.2 requires.
var minHMACKeyBytes = map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}

func supportedAlgorithms() string {
	names := make([]string, 0, len(algorithms))
	for n := range algorithms {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}

// verificationKey is one trusted key, bound to exactly one algorithm.
type verificationKey struct {
	kid    string
	alg    string
	method jwt.SigningMethod
	key    any // []byte for HMAC, *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey
}

// signingKey is the key that mints tokens.
type signingKey struct {
	kid    string
	alg    string
	method jwt.SigningMethod
	key    any // []byte for HMAC, crypto.Signer otherwise
}

// keySnapshot is an immutable view of the trusted keys. It is swapped
// atomically when a remote JWK Set changes, so the request path reads it
// without locks.
type keySnapshot struct {
	byKID map[string]*verificationKey
	// noKID holds the keys tried, in order, for a token whose header has
	// no kid: the local keys (a handful at most).
	noKID []*verificationKey
}

// keyring holds the app's signing key and every trusted verification key.
type keyring struct {
	signer *signingKey
	snap   atomic.Pointer[keySnapshot]
}

// loadKeyring builds the app's keys from its configuration.
func loadKeyring(ctx caddy.Context, a *App) (*keyring, error) {
	_ = ctx
	k := new(keyring)
	snap := &keySnapshot{byKID: map[string]*verificationKey{}}
	if a.Secret == "" {
		return nil, fmt.Errorf("jwt: no key configured; set secret (a random string of at least 32 bytes, e.g. from `openssl rand -base64 48`)")
	}
	alg := a.Algorithm
	if alg == "" {
		alg = "HS256"
	}
	min, ok := minHMACKeyBytes[alg]
	if !ok {
		return nil, fmt.Errorf("jwt: secret is an HMAC key, but algorithm is %s; use HS256, HS384 or HS512 with secret", alg)
	}
	if len(a.Secret) < min {
		return nil, fmt.Errorf("jwt: secret is %d bytes, %s needs at least %d; generate one with `openssl rand -base64 %d` and pass it as {env.JWT_SECRET}", len(a.Secret), alg, min, min+min/2)
	}
	vk := &verificationKey{alg: alg, method: algorithms[alg], key: []byte(a.Secret)}
	k.signer = &signingKey{alg: alg, method: vk.method, key: vk.key}
	snap.noKID = append(snap.noKID, vk)
	k.snap.Store(snap)
	return k, nil
}

// keyFor returns the key that verifies a token whose header names kid, or
// nil. The kid only selects among configured keys; it never chooses the
// algorithm or the key type.
func (k *keyring) keyFor(kid string) *verificationKey {
	return k.snap.Load().byKID[kid]
}

// keysWithoutKID returns the local keys tried, in order, for a token whose
// header has no kid.
func (k *keyring) keysWithoutKID() []*verificationKey {
	return k.snap.Load().noKID
}

func (k *keyring) start() error { return nil }
func (k *keyring) stop() error  { return nil }
