package jwtextended

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/revocation"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
)

// revocationSets holds one revocation.Set per storage, shared by every App
// provisioned on that storage in this process: during a config reload the
// old and the new App read and write the same set, so nothing revoked on
// one slips through the other.
var revocationSets = caddy.NewUsagePool()

// pooledSet is a revocation.Set in revocationSets.
type pooledSet struct{ *revocation.Set }

// Destruct implements caddy.Destructor; the set holds nothing to close.
func (pooledSet) Destruct() error { return nil }

// revocations is one App's revocation store: where revoked token ids
// (jti), identity revocations and the rotation state of refresh-token
// families (one record per family) live. It is a revocation.Store on the
// App's storage, sharing the set of that storage through revocationSets.
// isRevoked and the other lookups are on the request path and never wait
// on storage.
type revocations struct {
	store    *revocation.Store
	poolKey  string
	released sync.Once
}

// newRevocations checks the app's revocation settings and prepares a
// store on storage. It does not touch the storage; attach does. A nil
// storage makes a store of this App's memory only, shared with nobody.
func newRevocations(storage certmagic.Storage, a *App) (*revocations, error) {
	store, err := revocation.New(revocation.Config{
		Storage:  storage,
		Logger:   a.logger,
		Now:      a.clock,
		Interval: a.resolved.revocationSync,
		Keep:     a.resolved.leeway + revocation.Grace,
		NoExpTTL: max(a.resolved.accessTTL, a.resolved.refreshTTL),
		OnSyncFailure: func(error) {
			a.metrics.countRevocationSyncFailure()
		},
	})
	if err != nil {
		return nil, err
	}
	r := &revocations{store: store}
	if storage != nil {
		r.poolKey = revocationPoolKey(storage)
	} else {
		r.poolKey = fmt.Sprintf("jwt.revocation.memory.%p", r)
	}
	return r, nil
}

// revocationPoolKey names a storage, so that Apps of successive configs on
// the same storage share one set. Storages that describe themselves (the
// file system storage says "FileStorage:<path>") are named by that;
// others by their type and JSON configuration. The name is hashed: it may
// hold credentials.
func revocationPoolKey(s certmagic.Storage) string {
	var id string
	if str, ok := s.(fmt.Stringer); ok {
		id = fmt.Sprintf("%T:%s", s, str.String())
	} else if b, err := json.Marshal(s); err == nil {
		id = fmt.Sprintf("%T:%s", s, b)
	} else {
		id = fmt.Sprintf("%T:%p", s, s)
	}
	sum := sha256.Sum256([]byte(id))
	return "jwt.revocation." + hex.EncodeToString(sum[:])
}

// attach joins the shared set of the storage, loading it from storage
// first if this is the first App on it in this process.
func (r *revocations) attach() error {
	v, _, err := revocationSets.LoadOrNew(r.poolKey, func() (caddy.Destructor, error) {
		if err := r.store.Load(); err != nil {
			return nil, err
		}
		return pooledSet{r.store.Set()}, nil
	})
	if err != nil {
		return err
	}
	if set := v.(pooledSet).Set; set != r.store.Set() {
		r.store = r.store.WithSet(set)
	}
	return nil
}

// release stops the loop and leaves the shared set; the set is dropped
// when its last App leaves. It is idempotent.
func (r *revocations) release() {
	r.released.Do(func() {
		_ = r.stop()
		_, _ = revocationSets.Delete(r.poolKey)
	})
}

func (r *revocations) isRevoked(jti string) bool { return r.store.IsRevoked(jti) }

func (r *revocations) isRevokedID(id *revocation.ID) bool { return r.store.IsRevokedID(id) }

func (r *revocations) revoke(ctx context.Context, id string, exp time.Time) error {
	return r.store.Revoke(ctx, id, exp)
}

func (r *revocations) revokeIdentity(ctx context.Context, identity string) error {
	return r.store.RevokeIdentity(ctx, identity)
}

func (r *revocations) identityRevokedBefore(identity string) (int64, bool) {
	return r.store.IdentityRevokedBefore(identity)
}

func (r *revocations) identityRevokedBeforeID(identity *revocation.ID) (int64, bool) {
	return r.store.IdentityRevokedBeforeID(identity)
}

func (r *revocations) lockFamily(family string) func() { return r.store.LockFamily(family) }

func (r *revocations) refreshVerdict(family, jti string, iat int64, grace time.Duration) revocation.Verdict {
	return r.store.Refresh(family, jti, iat, grace)
}

func (r *revocations) rotated(ctx context.Context, family, prev, cur string, iat, end time.Time) error {
	return r.store.Rotated(ctx, family, prev, cur, iat, end)
}

func (r *revocations) start() error { return r.store.Start() }
func (r *revocations) stop() error  { return r.store.Stop() }

// Interface guards
var _ caddy.Destructor = pooledSet{}
