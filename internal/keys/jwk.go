package keys

import (
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
	"github.com/go-jose/go-jose/v4"
)

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
