package jwtextended

import (
	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/token"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/users"
)

// loadCredentials checks every configured user and reads users_file. Any
// mistake refuses to load, naming the user and the fix. A user claim may
// not be one the issuer sets itself (token.Reserved, or the identity
// claim).
func loadCredentials(list []User, file, identityClaim string, now func() time.Time, logger *zap.Logger) (*users.Credentials, error) {
	converted := make([]users.User, len(list))
	for i, u := range list {
		converted[i] = users.User{Name: u.Name, Hash: u.Hash, Claims: u.Claims}
	}
	return users.Load(users.Config{
		Users:    converted,
		File:     file,
		Reserved: func(name string) bool { return token.Reserved(name) || name == identityClaim },
		Now:      now,
		Logger:   logger,
	})
}
