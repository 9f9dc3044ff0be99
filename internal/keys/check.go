package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
	"github.com/go-jose/go-jose/v4"
)

// minRSABits is the smallest RSA modulus accepted anywhere (RFC 7518
// section 3.3 requires 2048).
const minRSABits = 2048

// curveAlgorithms binds each ECDSA curve to its only JWS algorithm.
var curveAlgorithms = map[string]string{"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}

// rsaFamilyOnly returns alg when it is an RSA algorithm, else "": the
// configured algorithm applies to public_key RSA keys (an RSA key could be
// used with six algorithms), while EC and Ed25519 keys have exactly one.
func rsaFamilyOnly(alg string) string {
	if strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS") {
		return alg
	}
	return ""
}

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

// Fingerprint is a short, non-secret name of a key for logs.
func Fingerprint(pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return jws.Encoding.EncodeToString(sum[:8])
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
