package jwtextended

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
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
// method that signs and verifies it. A key is bound to exactly one of these
// at load; the token's header never chooses one.
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

// minHMACKeyBytes is the shortest secret accepted per algorithm: at least
// the hash size, as RFC 7518 section 3.2 requires.
var minHMACKeyBytes = map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}

// minRSABits is the smallest RSA modulus accepted anywhere (RFC 7518
// section 3.3 requires 2048).
const minRSABits = 2048

// curveAlgorithms binds each ECDSA curve to its only JWS algorithm.
var curveAlgorithms = map[string]string{"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}

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
	// source names where the key came from, for errors and logs: a
	// setting ("secret", "private_key", "public_key <file>") or a JWKS URL.
	source string
}

// signingKey is the key that mints tokens.
type signingKey struct {
	kid    string // empty for a secret: flask-jwt-extended tokens carry none
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
	// no kid: the local keys (a handful at most). Keys of remote JWK Sets
	// are only ever selected by kid.
	noKID []*verificationKey
}

// keyring holds the app's signing key and every trusted verification key.
type keyring struct {
	signer *signingKey
	// signErr says why there is no signer (a verify-only configuration).
	signErr error
	snap    atomic.Pointer[keySnapshot]

	// local keys, in configuration order; they win over remote ones.
	local []*verificationKey
	// jwks is the precomputed JWK Set of the local public keys.
	jwks []byte

	// remote JWK Sets (jwks_url); see jwks.go.
	remotes []*jwksSource
	mu      sync.Mutex // serializes snapshot rebuilds; never taken on the request path
	logger  *zap.Logger
	now     func() time.Time
	refresh time.Duration
	stopBG  func()
	wg      sync.WaitGroup
	// fetched counts each remote JWK Set fetch (metrics); never nil.
	fetched func(ok bool)
}

// loadKeyring builds the app's keys from its configuration. It reads local
// files and Caddy's storage, but never the network: remote JWK Sets are
// fetched after start.
func loadKeyring(ctx caddy.Context, a *App) (*keyring, error) {
	k := &keyring{logger: a.logger, now: time.Now, fetched: func(bool) {}}
	if k.logger == nil {
		k.logger = zap.NewNop()
	}
	if a.now != nil {
		// App.now is the clock, and tests replace it after Provision
		k.now = func() time.Time { return a.now() }
	}
	k.refresh = time.Duration(a.JWKSRefresh)
	if k.refresh <= 0 {
		k.refresh = defaultJWKSRefresh
	}

	zeroConfig := a.Secret == "" && a.PrivateKey == nil && len(a.PublicKeys) == 0 && len(a.JWKSURLs) == 0
	if a.Secret != "" && a.PrivateKey != nil {
		return nil, fmt.Errorf("jwt: secret and private_key are both set, but only one key signs; keep private_key and remove secret (or the other way round)")
	}

	switch {
	case a.Secret != "":
		alg := a.Algorithm
		if alg == "" {
			alg = "HS256"
		}
		min, ok := minHMACKeyBytes[alg]
		if !ok {
			return nil, fmt.Errorf("jwt: secret is an HMAC key, but algorithm is %s; use HS256, HS384 or HS512 with secret, or private_key for %s", alg, alg)
		}
		if len(a.Secret) < min {
			return nil, fmt.Errorf("jwt: secret is %d bytes, %s needs at least %d; generate one with `caddy jwt genkey --alg %s` and pass it as {env.JWT_SECRET}", len(a.Secret), alg, min, alg)
		}
		vk := &verificationKey{alg: alg, method: algorithms[alg], key: []byte(a.Secret), source: "secret"}
		k.signer = &signingKey{alg: alg, method: vk.method, key: vk.key}
		k.local = append(k.local, vk)

	case a.PrivateKey != nil:
		data, err := os.ReadFile(a.PrivateKey.File)
		if err != nil {
			return nil, fmt.Errorf("jwt: reading private_key: %v", err)
		}
		priv, err := parsePrivateKeyPEM(data)
		if err != nil {
			return nil, fmt.Errorf("jwt: private_key %s: %v", a.PrivateKey.File, err)
		}
		sk, vk, err := signingKeyFrom(priv, a.Algorithm, a.PrivateKey.KID)
		if err != nil {
			return nil, fmt.Errorf("jwt: private_key %s: %v", a.PrivateKey.File, err)
		}
		vk.source = "private_key " + a.PrivateKey.File
		k.signer = sk
		k.local = append(k.local, vk)

	case zeroConfig:
		if a.Algorithm != "" && a.Algorithm != "ES256" {
			return nil, fmt.Errorf("jwt: algorithm %s is set without a key; the generated key is ES256, so remove algorithm, or add secret (HS*) or private_key for %s", a.Algorithm, a.Algorithm)
		}
		priv, err := loadOrCreateSigningKey(ctx, ctx.Storage(), k.logger)
		if err != nil {
			return nil, err
		}
		sk, vk, err := signingKeyFrom(priv, "ES256", "")
		if err != nil {
			return nil, err
		}
		vk.source = "generated key in storage (" + zeroConfigKeyPath + ")"
		k.signer = sk
		k.local = append(k.local, vk)

	default:
		if a.Algorithm != "" {
			return nil, fmt.Errorf("jwt: algorithm %s is set, but there is no secret or private_key for it to sign with; add one, or remove algorithm (public_key and jwks_url keys carry their own)", a.Algorithm)
		}
		k.signErr = errors.New("jwt: no signing key: the jwt app only verifies (public_key or jwks_url without secret or private_key); set private_key or secret to mint tokens")
	}

	for _, pk := range a.PublicKeys {
		data, err := os.ReadFile(pk.File)
		if err != nil {
			return nil, fmt.Errorf("jwt: reading public_key: %v", err)
		}
		pub, err := parsePublicKeyPEM(data)
		if err != nil {
			return nil, fmt.Errorf("jwt: public_key %s: %v", pk.File, err)
		}
		alg, err := inferAlgorithm(pub, rsaFamilyOnly(a.Algorithm))
		if err != nil {
			return nil, fmt.Errorf("jwt: public_key %s: %v", pk.File, err)
		}
		vk, err := newVerificationKey(pub, alg, pk.KID)
		if err != nil {
			return nil, fmt.Errorf("jwt: public_key %s: %v", pk.File, err)
		}
		vk.source = "public_key " + pk.File
		k.local = append(k.local, vk)
	}

	seen := map[string]*verificationKey{}
	for _, vk := range k.local {
		if vk.kid == "" {
			continue
		}
		if prev, dup := seen[vk.kid]; dup {
			return nil, fmt.Errorf("jwt: key id %q is used by both %s and %s; give each key its own kid (the second argument of private_key/public_key), or remove the duplicate key", vk.kid, prev.source, vk.source)
		}
		seen[vk.kid] = vk
	}

	var err error
	if k.jwks, err = publicJWKSOf(k.local); err != nil {
		return nil, fmt.Errorf("jwt: building the public JWK Set: %v", err)
	}
	for _, u := range a.JWKSURLs {
		k.remotes = append(k.remotes, newJWKSSource(u, k))
	}
	k.rebuild()
	return k, nil
}

// rsaFamilyOnly returns alg when it is an RSA algorithm, else "": the
// configured algorithm applies to public_key RSA keys (an RSA key could be
// used with six algorithms), while EC and Ed25519 keys have exactly one.
func rsaFamilyOnly(alg string) string {
	if strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS") {
		return alg
	}
	return ""
}

// rebuild recomputes the snapshot from the local keys and the last good
// set of each remote source, then swaps it in. Local keys win a kid
// collision; among remote sources, the first configured wins.
func (k *keyring) rebuild() {
	k.mu.Lock()
	defer k.mu.Unlock()
	snap := &keySnapshot{byKID: map[string]*verificationKey{}}
	for _, vk := range k.local {
		snap.noKID = append(snap.noKID, vk)
		if vk.kid != "" {
			snap.byKID[vk.kid] = vk
		}
	}
	for _, src := range k.remotes {
		for _, vk := range src.current() {
			if prev, dup := snap.byKID[vk.kid]; dup {
				if prev != vk {
					src.logCollision(vk.kid, prev.source)
				}
				continue
			}
			snap.byKID[vk.kid] = vk
		}
	}
	k.snap.Store(snap)
}

// keyFor returns the key that verifies a token whose header names kid, or
// nil. The kid only selects among configured keys; it never chooses the
// algorithm or the key type. An unknown kid asks the remote JWK Sets, if
// any, for a refresh in the background (throttled); this request still
// fails.
func (k *keyring) keyFor(kid string) *verificationKey {
	vk := k.snap.Load().byKID[kid]
	if vk == nil && len(k.remotes) > 0 {
		k.unknownKID()
	}
	return vk
}

// keysWithoutKID returns the local keys tried, in order, for a token whose
// header has no kid.
func (k *keyring) keysWithoutKID() []*verificationKey {
	return k.snap.Load().noKID
}

// signingKey returns the key that mints tokens, or an error that says why
// this configuration cannot mint (it only verifies).
func (k *keyring) signingKey() (*signingKey, error) {
	if k.signer == nil {
		return nil, k.signErr
	}
	return k.signer, nil
}

// signingKeyFrom binds a private key to its algorithm and kid, and returns
// the public half as a verification key.
func signingKeyFrom(priv crypto.Signer, configuredAlg, kid string) (*signingKey, *verificationKey, error) {
	alg, err := inferAlgorithm(priv.Public(), configuredAlg)
	if err != nil {
		return nil, nil, err
	}
	vk, err := newVerificationKey(priv.Public(), alg, kid)
	if err != nil {
		return nil, nil, err
	}
	return &signingKey{kid: vk.kid, alg: alg, method: vk.method, key: priv}, vk, nil
}

// newVerificationKey checks an asymmetric public key against alg and binds
// it, with kid or, when kid is empty, its RFC 7638 thumbprint.
func newVerificationKey(pub crypto.PublicKey, alg, kid string) (*verificationKey, error) {
	if err := checkKeyFitsAlg(pub, alg); err != nil {
		return nil, err
	}
	if kid == "" {
		var err error
		if kid, err = thumbprint(pub); err != nil {
			return nil, err
		}
	}
	if len(kid) > maxKIDLength {
		return nil, fmt.Errorf("kid is longer than %d bytes", maxKIDLength)
	}
	return &verificationKey{kid: kid, alg: alg, method: algorithms[alg], key: pub}, nil
}

// thumbprint is the RFC 7638 JWK thumbprint (SHA-256, base64url): a kid
// that is stable for a key and the same in every JOSE library.
func thumbprint(pub crypto.PublicKey) (string, error) {
	j := jose.JSONWebKey{Key: pub}
	tp, err := j.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return b64.EncodeToString(tp), nil
}

// inferAlgorithm returns the algorithm for an asymmetric public key: the
// configured one when set (it must fit the key), else RS256 for RSA, the
// curve's ES algorithm for ECDSA and EdDSA for Ed25519.
func inferAlgorithm(pub crypto.PublicKey, configured string) (string, error) {
	alg := configured
	if alg == "" {
		switch p := pub.(type) {
		case *rsa.PublicKey:
			alg = "RS256"
		case *ecdsa.PublicKey:
			alg = curveAlgorithms[p.Curve.Params().Name]
			if alg == "" {
				return "", fmt.Errorf("ECDSA curve %s is not supported; use P-256, P-384 or P-521", p.Curve.Params().Name)
			}
		case ed25519.PublicKey:
			alg = "EdDSA"
		default:
			return "", fmt.Errorf("unsupported key type %T", pub)
		}
	}
	if err := checkKeyFitsAlg(pub, alg); err != nil {
		return "", err
	}
	return alg, nil
}

// checkKeyFitsAlg refuses a key that cannot serve alg, and weak keys.
func checkKeyFitsAlg(pub crypto.PublicKey, alg string) error {
	if _, ok := algorithms[alg]; !ok {
		return fmt.Errorf("algorithm %q is not supported; use one of %s", alg, supportedAlgorithms())
	}
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if alg[:2] != "RS" && alg[:2] != "PS" {
			return fmt.Errorf("an RSA key cannot be used with algorithm %s; use RS256/384/512 or PS256/384/512", alg)
		}
		return checkRSAKey(p)
	case *ecdsa.PublicKey:
		want := curveAlgorithms[p.Curve.Params().Name]
		if want == "" {
			return fmt.Errorf("ECDSA curve %s is not supported; use P-256, P-384 or P-521", p.Curve.Params().Name)
		}
		if alg != want {
			return fmt.Errorf("an ECDSA %s key is used with %s only, not %s; set algorithm %s or use a key on the matching curve", p.Curve.Params().Name, want, alg, want)
		}
		return nil
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			return errors.New("invalid Ed25519 public key")
		}
		if alg != "EdDSA" {
			return fmt.Errorf("an Ed25519 key is used with EdDSA only, not %s", alg)
		}
		return nil
	}
	return fmt.Errorf("unsupported key type %T", pub)
}

// checkRSAKey refuses RSA keys that are too small, have a degenerate
// public exponent, or carry the ROCA fingerprint (CVE-2017-15361), whose
// private half can be computed from the public one.
func checkRSAKey(p *rsa.PublicKey) error {
	if p.N == nil || p.N.BitLen() < minRSABits {
		bits := 0
		if p.N != nil {
			bits = p.N.BitLen()
		}
		return fmt.Errorf("RSA key is %d bits; at least %d are required, generate a new one with `caddy jwt genkey --alg RS256`", bits, minRSABits)
	}
	if p.E < 3 || p.E%2 == 0 {
		return fmt.Errorf("RSA public exponent %d is invalid; use a key with e = 65537", p.E)
	}
	if rocaVulnerable(p.N) {
		return errors.New("RSA key has the ROCA fingerprint (CVE-2017-15361) and its private key can be recovered; replace it")
	}
	return nil
}

// ROCA detection: a modulus made by the vulnerable Infineon library is, for
// each small prime p below, a power of 65537 modulo p. A sound modulus
// passes all these tests with negligible probability.
var rocaPrimes = []int64{3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167}

var rocaSubgroups = func() []map[int64]bool {
	out := make([]map[int64]bool, len(rocaPrimes))
	for i, p := range rocaPrimes {
		set := map[int64]bool{}
		g := int64(65537) % p
		for x := int64(1); !set[x]; x = x * g % p {
			set[x] = true
		}
		out[i] = set
	}
	return out
}()

func rocaVulnerable(n *big.Int) bool {
	m := new(big.Int)
	for i, p := range rocaPrimes {
		r := m.Mod(n, big.NewInt(p)).Int64()
		if !rocaSubgroups[i][r] {
			return false
		}
	}
	return true
}

// parsePrivateKeyPEM reads the first private key block of a PEM file:
// PKCS#8, PKCS#1 (RSA) or SEC 1 (EC).
func parsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM private key found; expected a PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block (e.g. from `caddy jwt genkey --alg ES256`)")
		}
		var key any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("the private key is encrypted; decrypt it first (e.g. `openssl pkey -in key.pem -out plain.pem`) and protect the file with permissions")
		case "PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE":
			return nil, fmt.Errorf("found a %s block, not a private key; use public_key for verification-only keys", block.Type)
		default:
			continue // e.g. "EC PARAMETERS" before the key
		}
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %v", block.Type, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported private key type %T", key)
		}
		if k, ok := signer.(ed25519.PrivateKey); ok {
			return k, nil
		}
		switch signer.(type) {
		case *rsa.PrivateKey, *ecdsa.PrivateKey:
			return signer, nil
		}
		return nil, fmt.Errorf("unsupported private key type %T; use RSA, ECDSA or Ed25519", key)
	}
}

// parsePublicKeyPEM reads the first public key block of a PEM file: PKIX
// ("PUBLIC KEY"), PKCS#1 ("RSA PUBLIC KEY") or a certificate, whose public
// key is used (the certificate itself is not checked: it is pinned).
func parsePublicKeyPEM(data []byte) (crypto.PublicKey, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM public key found; expected a PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE block")
		}
		var key any
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			key, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			key, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			cert, err = x509.ParseCertificate(block.Bytes)
			if err == nil {
				key = cert.PublicKey
			}
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
			return nil, fmt.Errorf("found a %s block; public_key takes the public half only (`openssl pkey -in key.pem -pubout`), or use private_key to sign", block.Type)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %v", block.Type, err)
		}
		switch key.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
			return key, nil
		}
		return nil, fmt.Errorf("unsupported public key type %T; use RSA, ECDSA or Ed25519", key)
	}
}

// jwkMeta is what go-jose does not keep of a JWK.
type jwkMeta struct {
	KeyOps []string `json:"key_ops"`
	Kty    string   `json:"kty"`
}

// verificationKeyFromJWK builds a verification key from one JWK, as
// jwks_url uses it. The key must be meant for signatures (use "sig" or
// key_ops with "verify", when present) and bound to exactly one algorithm:
// its alg, or when absent one inferred where only one fits (an EC curve,
// Ed25519). RSA and symmetric keys without alg are refused, since several
// algorithms would fit them. When configured is set (keys an operator
// wrote down), a private JWK yields its public half and a symmetric key
// ("oct") is an HMAC key; a remote JWK Set (configured unset) must hold
// public keys only.
func verificationKeyFromJWK(raw []byte, configured bool) (*verificationKey, error) {
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Errorf("invalid JWK: %v", err)
	}
	var meta jwkMeta
	if err := json.Unmarshal(raw, &meta); err != nil {
		return nil, fmt.Errorf("invalid JWK: %v", err)
	}
	if jwk.Use != "" && jwk.Use != "sig" {
		return nil, fmt.Errorf("JWK %q has use %q, not sig", jwk.KeyID, jwk.Use)
	}
	if meta.KeyOps != nil {
		verify := false
		for _, op := range meta.KeyOps {
			verify = verify || op == "verify"
		}
		if !verify {
			return nil, fmt.Errorf("JWK %q has key_ops without verify", jwk.KeyID)
		}
	}
	if len(jwk.KeyID) > maxKIDLength {
		return nil, fmt.Errorf("JWK kid is longer than %d bytes", maxKIDLength)
	}
	alg := jwk.Algorithm
	if alg != "" {
		if _, ok := algorithms[alg]; !ok {
			return nil, fmt.Errorf("JWK %q has alg %q, which is not a supported signature algorithm", jwk.KeyID, alg)
		}
	}

	if secret, ok := jwk.Key.([]byte); ok {
		if !configured {
			return nil, fmt.Errorf("JWK %q is a symmetric key; a JWK Set from a URL must hold public keys only", jwk.KeyID)
		}
		min, ok := minHMACKeyBytes[alg]
		if !ok {
			return nil, fmt.Errorf("JWK %q is a symmetric key without an HMAC alg (HS256, HS384, HS512)", jwk.KeyID)
		}
		if len(secret) < min {
			return nil, fmt.Errorf("JWK %q: %s needs a key of at least %d bytes, got %d", jwk.KeyID, alg, min, len(secret))
		}
		return &verificationKey{kid: jwk.KeyID, alg: alg, method: algorithms[alg], key: secret}, nil
	}

	if !configured && !jwk.IsPublic() {
		return nil, fmt.Errorf("JWK %q holds a private key; a JWK Set from a URL must hold public keys only", jwk.KeyID)
	}
	pubJWK := jwk.Public()
	if !pubJWK.Valid() {
		return nil, fmt.Errorf("JWK %q is not a valid key", jwk.KeyID)
	}
	pub := pubJWK.Key
	if alg == "" {
		if _, isRSA := pub.(*rsa.PublicKey); isRSA {
			return nil, fmt.Errorf("RSA JWK %q has no alg; RS256/384/512 and PS256/384/512 would all fit, so it is not trusted", jwk.KeyID)
		}
	}
	alg, err := inferAlgorithm(pub, alg)
	if err != nil {
		return nil, fmt.Errorf("JWK %q: %v", jwk.KeyID, err)
	}
	vk, err := newVerificationKey(pub, alg, jwk.KeyID)
	if err != nil {
		return nil, fmt.Errorf("JWK %q: %v", jwk.KeyID, err)
	}
	return vk, nil
}

// parseJWKSet reads a JWK Set. Keys that cannot be used are skipped and
// reported in skipped (RFC 7517 section 5: implementations SHOULD ignore
// them); a set whose usable keys share a kid, or mix symmetric and
// asymmetric keys, is refused as a whole.
func parseJWKSet(data []byte, configured bool) (keys []*verificationKey, skipped []error, err error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, nil, fmt.Errorf("not a JWK Set: %v", err)
	}
	if set.Keys == nil {
		return nil, nil, errors.New(`not a JWK Set: no "keys" member`)
	}
	seen := map[string]bool{}
	symmetric, asymmetric := false, false
	for _, raw := range set.Keys {
		vk, err := verificationKeyFromJWK(raw, configured)
		if err != nil {
			skipped = append(skipped, err)
			continue
		}
		if _, ok := vk.key.([]byte); ok {
			symmetric = true
		} else {
			asymmetric = true
		}
		if seen[vk.kid] {
			return nil, skipped, fmt.Errorf("the JWK Set has several keys with kid %q; a kid must name one key", vk.kid)
		}
		seen[vk.kid] = true
		keys = append(keys, vk)
	}
	if symmetric && asymmetric {
		return nil, skipped, errors.New("the JWK Set mixes symmetric and asymmetric keys")
	}
	return keys, skipped, nil
}

// fingerprint is a short, non-secret name of a key for logs.
func fingerprint(pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return b64.EncodeToString(sum[:8])
}
