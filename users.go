package jwtextended

import (
	"bytes"
	"fmt"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/users"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"go.uber.org/zap"
)

// loadCredentials checks every configured user and reads users_file. Any
// mistake refuses to load, naming the user and the fix. A user claim may
// not be one the issuer sets itself (token.CollidesWithReserved, or the identity
// claim). Hashes may be of any form `caddy hash-password` makes: bcrypt
// or argon2id, checked by Caddy's own hash modules.
func loadCredentials(list []User, file, identityClaim string, now func() time.Time, logger *zap.Logger) (*users.Credentials, error) {
	converted := make([]users.User, len(list))
	for i, u := range list {
		converted[i] = users.User{Name: u.Name, Hash: u.Hash, Claims: u.Claims}
	}
	return users.Load(users.Config{
		Users:    converted,
		File:     file,
		Reserved: func(name string) bool { return claimSetByModule(name, identityClaim) },
		Now:      now,
		Logger:   logger,
		Schemes:  passwordSchemes,
	})
}

// passwordSchemes are the hash forms of Caddy's http.authentication.hashes
// modules, which basic_auth accepts too.
var passwordSchemes = []users.Scheme{bcryptScheme{}, argon2idScheme{}}

// bcryptScheme compares with Caddy's bcrypt module
// (http.authentication.hashes.bcrypt).
type bcryptScheme struct{}

func (bcryptScheme) Name() string                      { return users.Bcrypt.Name() }
func (bcryptScheme) Params(hash []byte) (string, bool) { return users.Bcrypt.Params(hash) }
func (bcryptScheme) Dummy(like []byte) ([]byte, error) { return users.Bcrypt.Dummy(like) }
func (bcryptScheme) MaxPassword() int                  { return users.Bcrypt.MaxPassword() }
func (bcryptScheme) Compare(hash, pw []byte) (bool, error) {
	return caddyauth.BcryptHash{}.Compare(hash, pw)
}

// argon2idScheme compares with Caddy's argon2id module
// (http.authentication.hashes.argon2id), the one `caddy hash-password
// --algorithm argon2id` makes.
type argon2idScheme struct{}

func (argon2idScheme) Name() string { return "argon2id" }

func (argon2idScheme) Params(hash []byte) (string, bool) {
	if !bytes.HasPrefix(hash, []byte("$argon2id$")) {
		return "", false
	}
	if _, _, err := caddyauth.DecodeHash(hash); err != nil {
		return "", false
	}
	// the parameters are the hash's third field: m=...,t=...,p=...
	fields := bytes.Split(hash, []byte("$"))
	return fmt.Sprintf("argon2id %s", fields[3]), true
}

func (argon2idScheme) Compare(hash, pw []byte) (bool, error) {
	return caddyauth.Argon2idHash{}.Compare(hash, pw)
}

// Dummy hashes a random password with like's parameters (and salt, which
// does not matter for a password nobody knows); without like, Caddy's
// own fake hash.
func (argon2idScheme) Dummy(like []byte) ([]byte, error) {
	if like == nil {
		return caddyauth.Argon2idHash{}.FakeHash(), nil
	}
	h, _, err := caddyauth.DecodeHash(like)
	if err != nil {
		return nil, err
	}
	return h.Hash(users.RandomPassword())
}

func (argon2idScheme) MaxPassword() int { return 0 }
