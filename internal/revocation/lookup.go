package revocation

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/caddyserver/certmagic"
)

// Found is what LookupIn found in storage.
type Found struct {
	// ID: one of the ids asked about (a jti, a family) is revoked.
	ID bool
	// IdentityBefore, when IdentityRevoked: every token of the identity
	// issued at or before this time (unix seconds) is revoked.
	IdentityBefore  int64
	IdentityRevoked bool
}

// LookupIn reports whether any of ids, or the identity, is revoked,
// expiry aside, by reading storage directly: one recursive listing,
// bounded in time. It writes nothing and keeps nothing in memory, for
// tools (caddy jwt decode) that look once rather than serve.
func LookupIn(ctx context.Context, storage certmagic.Storage, now time.Time, identity string, ids ...string) (Found, error) {
	var found Found
	want := make(map[[sha256.Size]byte]bool, len(ids))
	for _, id := range ids {
		if id != "" {
			want[sha256.Sum256([]byte(id))] = true
		}
	}
	if len(want) == 0 && identity == "" {
		return found, nil
	}
	var keys []string
	err := withStorageTimeout(ctx, func(ctx context.Context) error {
		var err error
		keys, err = storage.List(ctx, keyPrefix, true)
		return err
	})
	if errors.Is(err, fs.ErrNotExist) {
		return found, nil
	}
	if err != nil {
		return found, fmt.Errorf("listing %s: %w", keyPrefix, err)
	}
	idSum := sha256.Sum256([]byte(identity))
	for _, key := range keys {
		if e, ok := parseEntryKey(key); ok && want[e.sum] && e.exp >= now.Unix() {
			found.ID = true
		}
		if e, ok := parseIdentityKey(key); ok && identity != "" && e.sum == idSum && e.exp >= now.Unix() &&
			(!found.IdentityRevoked || e.before > found.IdentityBefore) {
			found.IdentityRevoked, found.IdentityBefore = true, e.before
		}
	}
	return found, nil
}
