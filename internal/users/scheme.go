package users

import (
	"crypto/rand"
	"errors"
	"strconv"

	"golang.org/x/crypto/bcrypt"
)

// Scheme is one password hash format that users may be configured with
// (bcrypt, argon2id). The Caddy glue provides them from Caddy's own
// http.authentication.hashes modules, so that every hash `caddy
// hash-password` makes is accepted; this package needs none of Caddy.
type Scheme interface {
	// Name names the format in errors and logs.
	Name() string
	// Params identifies the hash's cost parameters (users whose hashes
	// share them take as long to check); ok is false when hash is not of
	// this format.
	Params(hash []byte) (params string, ok bool)
	// Compare reports whether password matches hash.
	Compare(hash, password []byte) (bool, error)
	// Dummy is the hash of a random password with the parameters of like
	// (nil: the format's default): unknown users are checked against it,
	// so that they take as long as a wrong password.
	Dummy(like []byte) ([]byte, error)
	// MaxPassword is the longest password the format reads whole (bcrypt
	// ignores what is past 72 bytes); 0: no limit. Longer passwords are
	// refused, at the same cost, rather than half-checked.
	MaxPassword() int
}

// Bcrypt is the bcrypt format, for callers (and tests) without Caddy.
var Bcrypt Scheme = bcryptScheme{}

type bcryptScheme struct{}

func (bcryptScheme) Name() string { return "bcrypt" }

func (bcryptScheme) Params(hash []byte) (string, bool) {
	cost, err := bcrypt.Cost(hash)
	if err != nil {
		return "", false
	}
	return "bcrypt cost " + strconv.Itoa(cost), true
}

func (bcryptScheme) Compare(hash, password []byte) (bool, error) {
	err := bcrypt.CompareHashAndPassword(hash, password)
	if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		return false, nil
	}
	return err == nil, err
}

func (bcryptScheme) Dummy(like []byte) ([]byte, error) {
	cost := bcrypt.DefaultCost
	if like != nil {
		var err error
		if cost, err = bcrypt.Cost(like); err != nil {
			return nil, err
		}
	}
	return bcrypt.GenerateFromPassword(RandomPassword(), cost)
}

func (bcryptScheme) MaxPassword() int { return maxPasswordBytes }

// RandomPassword is 32 random bytes, for dummy hashes.
func RandomPassword() []byte {
	pw := make([]byte, 32)
	if _, err := rand.Read(pw); err != nil {
		panic(err) // crypto/rand does not fail
	}
	return pw
}
