// Package keys holds the keys of the jwt app: the signing key and every
// trusted verification key, each bound to exactly one algorithm at load.
// It reads PEM files, JWKs and remote JWK Sets, and refuses weak or
// mismatched keys with a message that names the setting and the fix.
package keys

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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
	"github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"
)

// minRSABits is the smallest RSA modulus accepted anywhere (RFC 7518
// section 3.3 requires 2048).
const minRSABits = 2048

// curveAlgorithms binds each ECDSA curve to its only JWS algorithm.
var curveAlgorithms = map[string]string{"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}

// KeyFile is a PEM key on disk, optionally named by a key id.
type KeyFile struct {
	File string
	KID  string
}

// Secret is one HMAC secret, optionally named by a key id.
type Secret struct {
	Key string
	KID string
}

// Config says which keys to load. Settings are named in errors as the
// Caddyfile names them.
type Config struct {
	// Secret is one HMAC secret (the `secret` setting without a kid).
	Secret string
	// Secrets are HMAC secrets for rotation: the first signs (with its kid,
	// when it has one), every one verifies. Secret and Secrets are not
	// both set.
	Secrets    []Secret
	Algorithm  string
	PrivateKey *KeyFile
	PublicKeys []KeyFile
	JWKSURLs   []string
	// Refresh is how often remote JWK Sets are fetched; 0: 15m.
	Refresh time.Duration
	// Generated is the signing key of a configuration without keys (the
	// caller keeps it in storage; see ZeroConfig), and GeneratedSource
	// names where it is kept.
	Generated       crypto.Signer
	GeneratedSource string

	Logger *zap.Logger // nil: no logs
	Now    func() time.Time
	// Fetched is told the outcome of every remote JWK Set fetch.
	Fetched func(ok bool)
	// LastGood, when set, keeps the last good set of each JWKSURL across
	// reloads and restarts: Load starts each remote source with the set
	// it holds (checked like a fetched one), and each fetch that installs
	// a changed set is saved to it. Nil: every Ring starts empty.
	LastGood LastGood
}

// ZeroConfig reports whether no key is configured at all, so the caller
// must supply the generated key. It checks the one setting that may come
// with it: the generated key is ES256.
func (c *Config) ZeroConfig() (bool, error) {
	if c.Secret != "" || len(c.Secrets) != 0 || c.PrivateKey != nil || len(c.PublicKeys) != 0 || len(c.JWKSURLs) != 0 {
		return false, nil
	}
	if c.Algorithm != "" && c.Algorithm != "ES256" {
		return true, fmt.Errorf("jwt: algorithm %s is set without a key; the generated key is ES256, so remove algorithm, or add secret (HS*) or private_key for %s", c.Algorithm, c.Algorithm)
	}
	return true, nil
}

// Load builds the keys of a configuration. It reads local files, but never
// the network: remote JWK Sets are fetched after Start.
func Load(cfg Config) (*Ring, error) {
	if cfg.Algorithm != "" {
		if _, ok := jws.Method(cfg.Algorithm); !ok {
			return nil, fmt.Errorf("jwt: algorithm %q is not supported; use one of %s", cfg.Algorithm, jws.Supported())
		}
	}
	k := &Ring{logger: cfg.Logger, now: cfg.Now, fetched: cfg.Fetched, refresh: cfg.Refresh, lastGood: cfg.LastGood}
	if k.logger == nil {
		k.logger = zap.NewNop()
	}
	if k.now == nil {
		k.now = time.Now
	}
	if k.fetched == nil {
		k.fetched = func(bool) {}
	}
	if k.refresh <= 0 {
		k.refresh = DefaultJWKSRefresh
	}
	if err := k.loadSigner(&cfg); err != nil {
		return nil, err
	}
	if err := k.loadPublicKeys(cfg.PublicKeys, cfg.Algorithm); err != nil {
		return nil, err
	}
	if err := checkUniqueKIDs(k.local); err != nil {
		return nil, err
	}
	var err error
	if k.jwks, err = publicJWKSOf(k.local); err != nil {
		return nil, fmt.Errorf("jwt: building the public JWK Set: %v", err)
	}
	for _, u := range cfg.JWKSURLs {
		src := newJWKSSource(u, k)
		if k.lastGood != nil {
			src.restore(k.lastGood)
		}
		k.remotes = append(k.remotes, src)
	}
	k.rebuild()
	return k, nil
}

// secrets returns the configured HMAC secrets, the signing one first.
func (c *Config) secrets() ([]Secret, error) {
	if c.Secret != "" && len(c.Secrets) != 0 {
		return nil, errors.New("jwt: secret and secrets are both set; list every secret in secrets, the signing one first")
	}
	if c.Secret != "" {
		return []Secret{{Key: c.Secret}}, nil
	}
	for i, s := range c.Secrets {
		if s.Key == "" {
			return nil, fmt.Errorf("jwt: secret %d is empty", i+1)
		}
	}
	return c.Secrets, nil
}

// loadSigner binds the one key that signs: the first secret, private_key
// or the generated key; a configuration with none only verifies. Every
// further secret verifies only (rotation).
func (k *Ring) loadSigner(cfg *Config) error {
	secrets, err := cfg.secrets()
	if err != nil {
		return err
	}
	if len(secrets) > 0 && cfg.PrivateKey != nil {
		return fmt.Errorf("jwt: secret and private_key are both set, but only one key signs; keep private_key and remove secret (or the other way round)")
	}
	var vk *jws.Key
	switch {
	case len(secrets) > 0:
		alg := cfg.Algorithm
		if alg == "" {
			alg = "HS256"
		}
		min, ok := jws.MinHMACKeyBytes(alg)
		if !ok {
			return fmt.Errorf("jwt: secret is an HMAC key, but algorithm is %s; use HS256, HS384 or HS512 with secret, or private_key for %s", alg, alg)
		}
		method, _ := jws.Method(alg)
		for i, s := range secrets {
			name := "secret"
			if len(secrets) > 1 {
				name = fmt.Sprintf("secret %d", i+1)
			}
			if len(s.Key) < min {
				return fmt.Errorf("jwt: %s is %d bytes, %s needs at least %d; generate one with `caddy jwt genkey --alg %s` and pass it as {env.JWT_SECRET}", name, len(s.Key), alg, min, alg)
			}
			if len(s.KID) > jws.MaxKIDLength {
				return fmt.Errorf("jwt: %s: kid is longer than %d bytes", name, jws.MaxKIDLength)
			}
			key := &jws.Key{KID: s.KID, Alg: alg, Method: method, Material: []byte(s.Key), Source: name}
			if i == 0 {
				vk = key
				k.signer = &jws.Signer{KID: s.KID, Alg: alg, Method: method, Key: vk.Material}
				continue
			}
			k.extra = append(k.extra, key)
		}

	case cfg.PrivateKey != nil:
		data, err := os.ReadFile(cfg.PrivateKey.File)
		if err != nil {
			return fmt.Errorf("jwt: reading private_key: %v", err)
		}
		priv, err := ParsePrivateKeyPEM(data)
		if err != nil {
			return fmt.Errorf("jwt: private_key %s: %v", cfg.PrivateKey.File, err)
		}
		if k.signer, vk, err = signingKeyFrom(priv, cfg.Algorithm, cfg.PrivateKey.KID); err != nil {
			return fmt.Errorf("jwt: private_key %s: %v", cfg.PrivateKey.File, err)
		}
		vk.Source = "private_key " + cfg.PrivateKey.File

	case cfg.Generated != nil:
		var err error
		if k.signer, vk, err = signingKeyFrom(cfg.Generated, "ES256", ""); err != nil {
			return err
		}
		vk.Source = cfg.GeneratedSource

	default:
		if _, hmac := jws.MinHMACKeyBytes(cfg.Algorithm); cfg.Algorithm != "" && (hmac || len(cfg.PublicKeys) == 0) {
			return fmt.Errorf("jwt: algorithm %s is set, but there is no secret or private_key for it to sign with; add one, or remove algorithm (public_key and jwks_url keys carry their own)", cfg.Algorithm)
		}
		// a verify-only configuration: algorithm, when set, binds the
		// public_key keys (loadPublicKeys)
		k.verifyOnlyAlg = cfg.Algorithm
		k.signErr = errors.New("jwt: no signing key: the jwt app only verifies (public_key or jwks_url without secret or private_key); set private_key or secret to mint tokens")
		return nil
	}
	k.signerKey = vk
	k.local = append(append(k.local, vk), k.extra...)
	k.own = k.extra
	k.extra = nil
	return nil
}

// loadPublicKeys adds the verification-only keys of public_key lines.
func (k *Ring) loadPublicKeys(files []KeyFile, configuredAlg string) error {
	for _, pk := range files {
		data, err := os.ReadFile(pk.File)
		if err != nil {
			return fmt.Errorf("jwt: reading public_key: %v", err)
		}
		pub, err := ParsePublicKeyPEM(data)
		if err != nil {
			return fmt.Errorf("jwt: public_key %s: %v", pk.File, err)
		}
		bound := rsaFamilyOnly(configuredAlg)
		if k.verifyOnlyAlg != "" {
			// nothing signs here: algorithm is the one these keys verify
			bound = k.verifyOnlyAlg
		}
		alg, err := inferAlgorithm(pub, bound)
		if err != nil {
			return fmt.Errorf("jwt: public_key %s: %v", pk.File, err)
		}
		vk, err := newVerificationKey(pub, alg, pk.KID)
		if err != nil {
			return fmt.Errorf("jwt: public_key %s: %v", pk.File, err)
		}
		vk.Source = "public_key " + pk.File
		k.local = append(k.local, vk)
	}
	return nil
}

// checkUniqueKIDs refuses two local keys with one kid: a kid must name one
// key.
func checkUniqueKIDs(local []*jws.Key) error {
	seen := map[string]*jws.Key{}
	for _, vk := range local {
		if vk.KID == "" {
			continue
		}
		if prev, dup := seen[vk.KID]; dup {
			return fmt.Errorf("jwt: key id %q is used by both %s and %s; give each key its own kid (the second argument of private_key/public_key), or remove the duplicate key", vk.KID, prev.Source, vk.Source)
		}
		seen[vk.KID] = vk
	}
	return nil
}

// Snapshot is an immutable view of the trusted keys. It is swapped
// atomically when a remote JWK Set changes, so the request path reads it
// without locks.
type Snapshot struct {
	byKID map[string]*jws.Key
	// noKID holds the keys tried, in order, for a token whose header has
	// no kid: the local keys (a handful at most). Keys of remote JWK Sets
	// are only ever selected by kid.
	noKID []*jws.Key
	// ring is asked for a refresh of remote JWK Sets on an unknown kid;
	// nil when there are none.
	ring *Ring
}

// Ring holds the app's signing key and every trusted verification key.
type Ring struct {
	signer *jws.Signer
	// signerKey is the signer's verification half: a token it verified
	// was issued here.
	signerKey *jws.Key
	// signErr says why there is no signer (a verify-only configuration).
	signErr error
	// verifyOnlyAlg is the algorithm of a verify-only configuration, which
	// binds its public_key keys; "" when a key signs or none is set.
	verifyOnlyAlg string
	// extra holds the verification-only secrets while loading; own keeps
	// them: this configuration's own earlier secrets, whose tokens were
	// minted here too (rotation).
	extra, own []*jws.Key
	snap       atomic.Pointer[Snapshot]

	// local keys, in configuration order; they win over remote ones.
	local []*jws.Key
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
	// lastGood keeps the remote sets across reloads and restarts; nil:
	// not kept.
	lastGood LastGood
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
func (k *Ring) rebuild() {
	k.mu.Lock()
	defer k.mu.Unlock()
	snap := &Snapshot{byKID: map[string]*jws.Key{}}
	if len(k.remotes) > 0 {
		snap.ring = k
	}
	for _, vk := range k.local {
		snap.noKID = append(snap.noKID, vk)
		if vk.KID != "" {
			snap.byKID[vk.KID] = vk
		}
	}
	for _, src := range k.remotes {
		for _, vk := range src.current() {
			if prev, dup := snap.byKID[vk.KID]; dup {
				if prev != vk {
					src.logCollision(vk.KID, prev.Source)
				}
				continue
			}
			snap.byKID[vk.KID] = vk
		}
	}
	k.snap.Store(snap)
}

// KeyFor returns the key that verifies a token whose header names kid, or
// nil. The kid only selects among configured keys; it never chooses the
// algorithm or the key type. An unknown kid asks the remote JWK Sets, if
// any, for a refresh in the background (throttled); this request still
// fails.
func (s *Snapshot) KeyFor(kid string) *jws.Key {
	vk := s.byKID[kid]
	if vk == nil && s.ring != nil {
		s.ring.unknownKID()
	}
	return vk
}

// KeysWithoutKID returns the local keys tried, in order, for a token whose
// header has no kid.
func (s *Snapshot) KeysWithoutKID() []*jws.Key { return s.noKID }

// Current returns the keys trusted now. Hold on to it for the whole of one
// verification: a token is checked against one snapshot, and a cache of
// verified tokens is only good while the snapshot is the same.
func (k *Ring) Current() *Snapshot { return k.snap.Load() }

// Signer returns the key that mints tokens, or an error that says why this
// configuration cannot mint (it only verifies).
func (k *Ring) Signer() (*jws.Signer, error) {
	if k.signer == nil {
		return nil, k.signErr
	}
	return k.signer, nil
}

// Signs reports whether key is the signing key's own verification key, or
// one of the further secrets (which signed before a rotation): a token
// verified with it was issued by this configuration, not by another
// trusted issuer (public_key, jwks_url).
func (k *Ring) Signs(key *jws.Key) bool {
	if key == nil {
		return false
	}
	if key == k.signerKey {
		return true
	}
	for _, o := range k.own {
		if key == o {
			return true
		}
	}
	return false
}

// Local returns the configured keys (not those of remote JWK Sets), in
// configuration order.
func (k *Ring) Local() []*jws.Key { return k.local }

// signingKeyFrom binds a private key to its algorithm and kid, and returns
// the public half as a verification key.
func signingKeyFrom(priv crypto.Signer, configuredAlg, kid string) (*jws.Signer, *jws.Key, error) {
	alg, err := inferAlgorithm(priv.Public(), configuredAlg)
	if err != nil {
		return nil, nil, err
	}
	vk, err := newVerificationKey(priv.Public(), alg, kid)
	if err != nil {
		return nil, nil, err
	}
	return &jws.Signer{KID: vk.KID, Alg: alg, Method: vk.Method, Key: priv}, vk, nil
}

// newVerificationKey checks an asymmetric public key against alg and binds
// it, with kid or, when kid is empty, its RFC 7638 thumbprint.
func newVerificationKey(pub crypto.PublicKey, alg, kid string) (*jws.Key, error) {
	if err := checkKeyFitsAlg(pub, alg); err != nil {
		return nil, err
	}
	if kid == "" {
		var err error
		if kid, err = Thumbprint(pub); err != nil {
			return nil, err
		}
	}
	if len(kid) > jws.MaxKIDLength {
		return nil, fmt.Errorf("kid is longer than %d bytes", jws.MaxKIDLength)
	}
	method, _ := jws.Method(alg)
	return &jws.Key{KID: kid, Alg: alg, Method: method, Material: pub}, nil
}

// Thumbprint is the RFC 7638 JWK thumbprint (SHA-256, base64url): a kid
// that is stable for a key and the same in every JOSE library.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	j := jose.JSONWebKey{Key: pub}
	tp, err := j.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return jws.Encoding.EncodeToString(tp), nil
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
	if _, ok := jws.Method(alg); !ok {
		return fmt.Errorf("algorithm %q is not supported; use one of %s", alg, jws.Supported())
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

// ParsePrivateKeyPEM reads the first private key block of a PEM file:
// PKCS#8, PKCS#1 (RSA) or SEC 1 (EC).
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
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

// ParsePublicKeyPEM reads the first public key block of a PEM file: PKIX
// ("PUBLIC KEY"), PKCS#1 ("RSA PUBLIC KEY") or a certificate, whose public
// key is used (the certificate itself is not checked: it is pinned).
func ParsePublicKeyPEM(data []byte) (crypto.PublicKey, error) {
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

// FromJWK builds a verification key from one JWK, as
// jwks_url uses it. The key must be meant for signatures (use "sig" or
// key_ops with "verify", when present) and bound to exactly one algorithm:
// its alg, or when absent one inferred where only one fits (an EC curve,
// Ed25519). RSA and symmetric keys without alg are refused, since several
// algorithms would fit them. When configured is set (keys an operator
// wrote down), a private JWK yields its public half and a symmetric key
// ("oct") is an HMAC key; a remote JWK Set (configured unset) must hold
// public keys only.
func FromJWK(raw []byte, configured bool) (*jws.Key, error) {
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
	if len(jwk.KeyID) > jws.MaxKIDLength {
		return nil, fmt.Errorf("JWK kid is longer than %d bytes", jws.MaxKIDLength)
	}
	alg := jwk.Algorithm
	if alg != "" {
		if _, ok := jws.Method(alg); !ok {
			return nil, fmt.Errorf("JWK %q has alg %q, which is not a supported signature algorithm", jwk.KeyID, alg)
		}
	}

	if secret, ok := jwk.Key.([]byte); ok {
		if !configured {
			return nil, fmt.Errorf("JWK %q is a symmetric key; a JWK Set from a URL must hold public keys only", jwk.KeyID)
		}
		min, ok := jws.MinHMACKeyBytes(alg)
		if !ok {
			return nil, fmt.Errorf("JWK %q is a symmetric key without an HMAC alg (HS256, HS384, HS512)", jwk.KeyID)
		}
		if len(secret) < min {
			return nil, fmt.Errorf("JWK %q: %s needs a key of at least %d bytes, got %d", jwk.KeyID, alg, min, len(secret))
		}
		method, _ := jws.Method(alg)
		return &jws.Key{KID: jwk.KeyID, Alg: alg, Method: method, Material: secret}, nil
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
func parseJWKSet(data []byte, configured bool) (keys []*jws.Key, skipped []error, err error) {
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
		vk, err := FromJWK(raw, configured)
		if err != nil {
			skipped = append(skipped, err)
			continue
		}
		if _, ok := vk.Material.([]byte); ok {
			symmetric = true
		} else {
			asymmetric = true
		}
		if seen[vk.KID] {
			return nil, skipped, fmt.Errorf("the JWK Set has several keys with kid %q; a kid must name one key", vk.KID)
		}
		seen[vk.KID] = true
		keys = append(keys, vk)
	}
	if symmetric && asymmetric {
		return nil, skipped, errors.New("the JWK Set mixes symmetric and asymmetric keys")
	}
	return keys, skipped, nil
}

// Fingerprint is a short, non-secret name of a key for logs.
func Fingerprint(pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return jws.Encoding.EncodeToString(sum[:8])
}
