package keys

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/jws"
	"go.uber.org/zap"
)

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
