// Package keys holds the keys of the jwt app: the signing key and every
// trusted verification key, each bound to exactly one algorithm at load.
// It reads PEM files, JWKs and remote JWK Sets, and refuses weak or
// mismatched keys with a message that names the setting and the fix.
package keys

import (
	"crypto"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
)

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
