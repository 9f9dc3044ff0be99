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

// RevokedIn reports whether any of ids is revoked, expiry aside, by
// reading storage directly: one recursive listing, bounded in time. It
// writes nothing and keeps nothing in memory, for tools (caddy jwt decode)
// that look once rather than serve.
func RevokedIn(ctx context.Context, storage certmagic.Storage, now time.Time, ids ...string) (bool, error) {
	want := make(map[[sha256.Size]byte]bool, len(ids))
	for _, id := range ids {
		if id != "" {
			want[sha256.Sum256([]byte(id))] = true
		}
	}
	if len(want) == 0 {
		return false, nil
	}
	var keys []string
	err := withStorageTimeout(ctx, func(ctx context.Context) error {
		var err error
		keys, err = storage.List(ctx, keyPrefix, true)
		return err
	})
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("listing %s: %w", keyPrefix, err)
	}
	for _, key := range keys {
		if e, ok := parseEntryKey(key); ok && want[e.sum] && e.exp >= now.Unix() {
			return true, nil
		}
	}
	return false, nil
}
