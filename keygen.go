package jwtextended

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/keys"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// zeroConfigKeyPath is where the generated signing key lives in Caddy's
// storage; zeroConfigLockName is the storage lock held while it is created.
const (
	zeroConfigKeyPath  = "jwt/signing_key.pem"
	zeroConfigLockName = "jwt_signing_key"
)

// loadOrCreateSigningKey returns the ES256 key kept in storage, creating it
// on first use. Creation happens under the storage lock and re-checks for
// the key once the lock is held, so instances that share the storage and
// start together agree on one key, as certmagic does for certificates.
func loadOrCreateSigningKey(ctx context.Context, st certmagic.Storage, logger *zap.Logger) (crypto.Signer, error) {
	if st == nil {
		return nil, errors.New("jwt: no storage to keep the generated signing key in; configure secret or private_key")
	}
	if key, err := loadStoredSigningKey(ctx, st); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := st.Lock(ctx, zeroConfigLockName); err != nil {
		return nil, fmt.Errorf("jwt: locking storage to create the signing key: %v", err)
	}
	defer func() {
		if err := st.Unlock(context.WithoutCancel(ctx), zeroConfigLockName); err != nil {
			logger.Error("unlocking storage after creating the signing key", zap.Error(err))
		}
	}()
	// another instance may have created it while we waited for the lock
	if key, err := loadStoredSigningKey(ctx, st); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("jwt: generating the signing key: %v", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("jwt: encoding the signing key: %v", err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := st.Store(ctx, zeroConfigKeyPath, pemBytes); err != nil {
		return nil, fmt.Errorf("jwt: storing the generated signing key at %s: %v", zeroConfigKeyPath, err)
	}
	logger.Info("generated an ES256 signing key and kept it in storage; every instance sharing this storage signs and verifies with it",
		zap.String("storage_key", zeroConfigKeyPath), zap.String("fingerprint", keys.Fingerprint(key.Public())))
	return key, nil
}

// loadStoredSigningKey loads the generated key; an error wrapping
// fs.ErrNotExist means there is none yet.
func loadStoredSigningKey(ctx context.Context, st certmagic.Storage) (crypto.Signer, error) {
	data, err := st.Load(ctx, zeroConfigKeyPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("jwt: loading the generated signing key from storage (%s): %v", zeroConfigKeyPath, err)
	}
	key, err := keys.ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("jwt: the generated signing key in storage (%s) is unreadable: %v; delete it to generate a new one (tokens it signed will be refused)", zeroConfigKeyPath, err)
	}
	return key, nil
}
