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
	"go.uber.org/zap"
)

// revocationStore is where revoked token ids (jti) live, and the rotation
// state of refresh-token families (one record per family). isRevoked is on
// the request path and must never wait on storage.
type revocationStore interface {
	// isRevoked reports whether the jti has been revoked; isRevokedID
	// takes the id already hashed (revocation.IDOf), as the request path
	// does.
	isRevoked(jti string) bool
	isRevokedID(id *revocation.ID) bool
	// revoke records the jti as revoked until exp; an error means the
	// revocation could not be made durable.
	revoke(ctx context.Context, jti string, exp time.Time) error
	// lockFamily serializes the refreshes of a refresh-token family on
	// this instance; it returns the unlock.
	lockFamily(family string) (unlock func())
	// refreshVerdict says what a refresh with the token jti of family,
	// minted at iat (unix seconds), may do: rotate, keep (an access token
	// only) or reuse (revoke the family). The caller holds lockFamily.
	refreshVerdict(family, jti string, iat int64, grace time.Duration) revocation.Verdict
	// rotated records family's new current generation cur (minted at iat,
	// expiring at end), replacing prev; an error means it could not be
	// made durable and nothing changed. The caller holds lockFamily.
	rotated(ctx context.Context, family, prev, cur string, iat, end time.Time) error
	start() error
	stop() error
	// release stops the store and leaves the shared set (App.Cleanup).
	release()
	// revokeIdentity revokes every token of identity issued up to now;
	// identityRevokedBefore returns that time, when there is one.
	revokeIdentity(ctx context.Context, identity string) error
	identityRevokedBefore(identity string) (int64, bool)
	identityRevokedBeforeID(identity *revocation.ID) (int64, bool)
}

// revocationSets holds one revocation.Set per storage, shared by every App
// provisioned on that storage in this process: during a config reload the
// old and the new App read and write the same set, so nothing revoked on
// one slips through the other.
var revocationSets = caddy.NewUsagePool()

// pooledSet is a revocation.Set in revocationSets.
type pooledSet struct{ *revocation.Set }

// Destruct implements caddy.Destructor; the set holds nothing to close.
func (pooledSet) Destruct() error { return nil }

// storageRevocations is one App's revocation store: a revocation.Store on
// the App's storage, sharing the set of that storage through
// revocationSets.
type storageRevocations struct {
	store    *revocation.Store
	poolKey  string
	released sync.Once
}

// openRevocationStore opens the app's revocation store on Caddy's storage.
// The first App on a storage in this process loads the revoked ids before
// it returns, so the first request after a start already sees them; later
// Apps (a reload) share that set. When the storage cannot be read at
// start, the config is refused: serving would accept tokens revoked before
// the restart.
func openRevocationStore(ctx caddy.Context, a *App) (revocationStore, error) {
	r, err := newStorageRevocations(ctx.Storage(), a, a.logger)
	if err != nil {
		return nil, err
	}
	if err := r.attach(); err != nil {
		return nil, err
	}
	// App.Cleanup leaves the shared set when this config is unloaded (or
	// fails to load).
	return r, nil
}

// newStorageRevocations checks the app's revocation settings and prepares
// a store on storage. It does not touch the storage; attach does. A nil
// storage makes a store of this App's memory only, shared with nobody.
func newStorageRevocations(storage certmagic.Storage, a *App, logger *zap.Logger) (*storageRevocations, error) {
	store, err := revocation.New(revocation.Config{
		Storage:  storage,
		Logger:   logger,
		Now:      a.clock,
		Interval: time.Duration(a.RevocationSync),
		Keep:     time.Duration(a.Leeway) + revocation.Grace,
		NoExpTTL: max(a.accessTTL(), a.refreshTTL()),
	})
	if err != nil {
		return nil, err
	}
	r := &storageRevocations{store: store}
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
func (r *storageRevocations) attach() error {
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
func (r *storageRevocations) release() {
	r.released.Do(func() {
		_ = r.stop()
		_, _ = revocationSets.Delete(r.poolKey)
	})
}

func (r *storageRevocations) isRevoked(jti string) bool { return r.store.IsRevoked(jti) }

func (r *storageRevocations) isRevokedID(id *revocation.ID) bool { return r.store.IsRevokedID(id) }

func (r *storageRevocations) revoke(ctx context.Context, id string, exp time.Time) error {
	return r.store.Revoke(ctx, id, exp)
}

func (r *storageRevocations) revokeIdentity(ctx context.Context, identity string) error {
	return r.store.RevokeIdentity(ctx, identity)
}

func (r *storageRevocations) identityRevokedBefore(identity string) (int64, bool) {
	return r.store.IdentityRevokedBefore(identity)
}

func (r *storageRevocations) identityRevokedBeforeID(identity *revocation.ID) (int64, bool) {
	return r.store.IdentityRevokedBeforeID(identity)
}

func (r *storageRevocations) lockFamily(family string) func() { return r.store.LockFamily(family) }

func (r *storageRevocations) refreshVerdict(family, jti string, iat int64, grace time.Duration) revocation.Verdict {
	return r.store.Refresh(family, jti, iat, grace)
}

func (r *storageRevocations) rotated(ctx context.Context, family, prev, cur string, iat, end time.Time) error {
	return r.store.Rotated(ctx, family, prev, cur, iat, end)
}

func (r *storageRevocations) start() error { return r.store.Start() }
func (r *storageRevocations) stop() error  { return r.store.Stop() }

// Interface guards
var (
	_ revocationStore  = (*storageRevocations)(nil)
	_ caddy.Destructor = pooledSet{}
)
