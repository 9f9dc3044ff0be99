package revocation

import (
	"context"
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
// expiry aside, by reading storage directly as a start does (the head,
// its segments, the buckets not compacted yet), each read bounded in
// time. It writes nothing and keeps nothing in memory, for tools (caddy
// jwt decode) that look once rather than serve.
func LookupIn(ctx context.Context, storage certmagic.Storage, now time.Time, identity string, ids ...string) (Found, error) {
	var found Found
	want := false
	for _, id := range ids {
		want = want || id != ""
	}
	if !want && identity == "" {
		return found, nil
	}
	s, err := New(Config{Storage: storage, Now: func() time.Time { return now }, noCompaction: true})
	if err != nil {
		return found, err
	}
	if err := s.sync(ctx); err != nil {
		return found, err
	}
	for _, id := range ids {
		if id != "" && s.IsRevoked(id) {
			found.ID = true
		}
	}
	if identity != "" {
		sum := IDOf(identity)
		found.IdentityBefore, found.IdentityRevoked = s.set.idents.before((*[32]byte)(&sum))
	}
	return found, nil
}
