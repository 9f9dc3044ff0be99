package jwtextended

import (
	"context"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// RevocationConfig configures the store of revoked token ids.
type RevocationConfig struct {
	// How often the in-memory set is refreshed from Caddy's storage, so
	// that revocations made by other instances are seen. Default: 5s.
	SyncInterval caddy.Duration `json:"sync_interval,omitempty"`
}

// revocationStore is where revoked token ids (jti) live. isRevoked is on
// the request path and must never wait on storage.
type revocationStore interface {
	// isRevoked reports whether the jti has been revoked.
	isRevoked(jti string) bool
	// revoke records the jti as revoked until exp; an error means the
	// revocation could not be made durable.
	revoke(ctx context.Context, jti string, exp time.Time) error
	start() error
	stop() error
}

// openRevocationStore opens the app's revocation store.
func openRevocationStore(ctx caddy.Context, a *App) (revocationStore, error) {
	_ = ctx
	return &memoryRevocations{ids: map[string]time.Time{}, now: a.now}, nil
}

// memoryRevocations keeps revoked ids in this process only.
type memoryRevocations struct {
	mu  sync.RWMutex
	ids map[string]time.Time
	now func() time.Time
}

func (m *memoryRevocations) isRevoked(jti string) bool {
	m.mu.RLock()
	_, ok := m.ids[jti]
	m.mu.RUnlock()
	return ok
}

func (m *memoryRevocations) revoke(_ context.Context, jti string, exp time.Time) error {
	m.mu.Lock()
	m.ids[jti] = exp
	m.mu.Unlock()
	return nil
}

func (m *memoryRevocations) start() error { return nil }
func (m *memoryRevocations) stop() error  { return nil }
