package oidcflow

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/caddyserver/certmagic"
)

// storageTimeout bounds one storage operation of this package that has no
// deadline of its own (an unlock).
const storageTimeout = 10 * time.Second

// LoadOrCreateKey returns the 32-byte sealing key kept in s at key,
// creating it when there is none. The creation holds s.Lock(key) and loads
// again under it, so instances sharing s that race at their first start
// all end with the one key that was stored. The key is stored as standard
// base64 text. A value that is not a 32-byte key is an error, never
// replaced: another instance may be using it.
func LoadOrCreateKey(ctx context.Context, s certmagic.Storage, key string) ([]byte, error) {
	if k, err := loadKey(ctx, s, key); !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if err := s.Lock(ctx, key); err != nil {
		return nil, fmt.Errorf("locking %s: %w", key, err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storageTimeout)
		defer cancel()
		_ = s.Unlock(ctx, key)
	}()
	if k, err := loadKey(ctx, s, key); !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := s.Store(ctx, key, []byte(base64.StdEncoding.EncodeToString(k)+"\n")); err != nil {
		return nil, fmt.Errorf("storing %s: %w", key, err)
	}
	return k, nil
}

// loadKey loads and decodes the key at key; a missing one is an error
// that is fs.ErrNotExist.
func loadKey(ctx context.Context, s certmagic.Storage, key string) ([]byte, error) {
	b, err := s.Load(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fs.ErrNotExist
	}
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", key, err)
	}
	k, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(b)))
	if err != nil || len(k) != KeySize {
		return nil, fmt.Errorf("%s does not hold a base64 %d-byte key", key, KeySize)
	}
	return k, nil
}
