package revocation

// Revocation by identity: "every token of identity X issued at or before
// time T is revoked" (log out everywhere, a disabled account). A record is
// kept beside the token revocations, in the same minute buckets, as
//
//	jwt/revoked/<bucket>/i<hex sha256 of the identity>.<T>.<exp>
//
// T and the record's own expiry are in the name, so syncs only list, as
// for tokens; exp is T plus the longest token lifetime (no token issued at
// or before T outlives it), after which the sweep drops the record. A
// later revocation of the same identity writes a new record with a later
// T; the latest T wins.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// identityEntry is one identity's revocation: tokens issued at or before
// before (unix seconds) are revoked; the record lasts until exp.
type identityEntry struct {
	sum         [sha256.Size]byte
	before, exp int64
}

// identityValue is an identity's revocation as the set's table keeps it:
// 8 bytes beside the key, unix seconds.
type identityValue struct{ before, exp uint32 }

// identityBetter: the later T wins; on the same T, the later exp.
func identityBetter(v, old *identityValue) bool {
	return v.before > old.before || (v.before == old.before && v.exp > old.exp)
}

// identitySet is the in-memory part of a Set for identities.
type identitySet struct {
	mu sync.RWMutex
	t  table[identityValue]
	// n is about the number of entries (recent additions may count twice),
	// read without the lock: with no identity revoked (the common case)
	// the request path costs one atomic load.
	n atomic.Int64
}

func (s *identitySet) count() {
	s.n.Store(int64(len(s.t.base) + len(s.t.recent)))
}

// merge adds records that are new or have a later T.
func (s *identitySet) merge(entries ...identityEntry) int {
	if len(entries) == 0 {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.count()
	if len(entries) >= bulk {
		slots := make([]slot[identityValue], len(entries))
		for i := range entries {
			slots[i] = slot[identityValue]{keyOf(&entries[i].sum), identityValue{unix32(entries[i].before), unix32(entries[i].exp)}}
		}
		return s.mergeSlotsLocked(slots)
	}
	added := 0
	for _, e := range entries {
		if s.t.put(keyOf(&e.sum), identityValue{unix32(e.before), unix32(e.exp)}) {
			added++
		}
	}
	return added
}

// mergeSlots adds records already in table form.
func (s *identitySet) mergeSlots(slots []slot[identityValue]) int {
	if len(slots) == 0 {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.count()
	return s.mergeSlotsLocked(slots)
}

func (s *identitySet) mergeSlotsLocked(slots []slot[identityValue]) int {
	if len(slots) < bulk {
		added := 0
		for _, sl := range slots {
			if s.t.put(sl.k, sl.v) {
				added++
			}
		}
		return added
	}
	added := 0
	for i := range slots {
		if old, ok := s.t.get(&slots[i].k); !ok || identityBetter(&slots[i].v, &old) {
			added++
		}
	}
	if added > 0 {
		s.t.rebuild(slots, nil)
	}
	return added
}

// purge drops records whose exp is before cutoff.
func (s *identitySet) purge(cutoff int64) {
	if s.n.Load() == 0 {
		return
	}
	c := unix32(cutoff)
	if purgeTable(&s.mu, &s.t, func(v *identityValue) bool { return v.exp < c }) {
		s.mu.RLock()
		s.count()
		s.mu.RUnlock()
	}
}

// before returns T for the identity's hash, if it is revoked.
func (s *identitySet) before(sum *[sha256.Size]byte) (int64, bool) {
	k := keyOf(sum)
	s.mu.RLock()
	v, ok := s.t.get(&k)
	s.mu.RUnlock()
	return int64(v.before), ok
}

func (s *identitySet) len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.t.len()
}

// identityKey is the storage key of an identity's revocation made at at.
func identityKey(e identityEntry, at time.Time) string {
	return bucketKey(at) + "/i" + hex.EncodeToString(e.sum[:]) + "." + strconv.FormatInt(e.before, 10) + "." + strconv.FormatInt(e.exp, 10)
}

// parseIdentityKey reads a storage key written by identityKey.
func parseIdentityKey(key string) (identityEntry, bool) {
	var e identityEntry
	name, ok := strings.CutPrefix(path.Base(key), "i")
	if !ok {
		return e, false
	}
	parts := strings.Split(name, ".")
	if len(parts) != 3 || len(parts[0]) != 2*sha256.Size {
		return e, false
	}
	if _, err := hex.Decode(e.sum[:], []byte(parts[0])); err != nil {
		return e, false
	}
	var err1, err2 error
	e.before, err1 = strconv.ParseInt(parts[1], 10, 64)
	e.exp, err2 = strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || e.before <= 0 || e.exp < e.before || parts[1][0] == '+' || parts[2][0] == '+' {
		return e, false
	}
	return e, true
}

// IdentityRevokedBefore returns T when tokens of identity issued at or
// before T (unix seconds) are revoked. On the request path: with no
// identity revoked it is one atomic load; otherwise one hash and a map
// lookup under a read lock.
func (s *Store) IdentityRevokedBefore(identity string) (int64, bool) {
	if s.set.idents.n.Load() == 0 {
		return 0, false
	}
	sum := IDOf(identity)
	return s.IdentityRevokedBeforeID(&sum)
}

// IdentityRevokedBeforeID is IdentityRevokedBefore for an ID already
// computed: one atomic load with no identity revoked, otherwise a map
// lookup under a read lock.
func (s *Store) IdentityRevokedBeforeID(identity *ID) (int64, bool) {
	if s.set.idents.n.Load() == 0 {
		return 0, false
	}
	return s.set.idents.before((*[sha256.Size]byte)(identity))
}

// RevokeIdentity revokes every token of identity issued at or before the
// current second: in memory first, then in storage. An error means the
// storage write failed; the revocation holds on this instance only.
func (s *Store) RevokeIdentity(ctx context.Context, identity string) error {
	if identity == "" {
		return errors.New("jwt: cannot revoke an empty identity")
	}
	now := s.now()
	e := identityEntry{sum: sha256.Sum256([]byte(identity)), before: now.Unix()}
	life := s.noExpTTL + s.keep
	e.exp = e.before + int64(math.Ceil(life.Seconds()))
	s.set.idents.merge(e)
	if s.storage == nil {
		return nil
	}
	value := fmt.Appendf(nil, `{"identity_sha256":%q,"revoked_before":%d,"exp":%d}`, hex.EncodeToString(e.sum[:]), e.before, e.exp)
	return s.persist(ctx, now, identityKey(e, now), value, func(g *segment) {
		g.idents = append(g.idents, slot[identityValue]{keyOf(&e.sum), identityValue{unix32(e.before), unix32(e.exp)}})
	})
}
