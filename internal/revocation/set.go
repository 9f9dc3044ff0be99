package revocation

import (
	"crypto/sha256"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Set is the in-memory set of revoked ids of one storage. Several Stores
// may share one Set (the old and the new config of a reload on the same
// storage), so that nothing revoked on one slips through the other.
//
// Its three parts (revoked ids, identities, refresh-token families) are
// compact tables (table.go): fixed-size slots keyed by the first 16 bytes
// of a SHA-256, 20 bytes per revoked id.
type Set struct {
	mu sync.RWMutex
	// ids holds the revoked ids: each one's exp in unix seconds.
	ids table[uint32]
	// idents holds the revocations by identity (identity.go).
	idents identitySet

	// syncMu serializes syncs: during a reload two Stores may sync at
	// once. It guards the fields below.
	syncMu sync.Mutex
	// noted remembers unrecognized storage keys already logged.
	noted map[string]struct{}
	// lastSync is the start time of the last successful sync; lastPurge
	// the time expired entries were last dropped from memory.
	lastSync, lastPurge time.Time
	// view is what the set has read of the compacted storage (sync.go).
	view view
	// legacyUntil is the head's legacy_until (unix seconds); before a
	// head is read, the largest int64 (sync.go).
	legacyUntil atomic.Int64
	// log is the set's own log of what it revoked (log.go).
	log logWriter

	// famMu guards families: the newest rotation record known of each
	// refresh-token family.
	famMu    sync.RWMutex
	families table[familyValue]
	// familyLocks serialize the refreshes of a family (LockFamily): a
	// fixed number, shared by families, so that there is no global lock
	// and no memory per family.
	familyLocks [256]sync.Mutex
}

// NewSet returns an empty set.
func NewSet() *Set {
	s := &Set{
		ids:      newTable(func(v, old *uint32) bool { return *v > *old }),
		idents:   identitySet{t: newTable(identityBetter)},
		families: newTable(familyBetter),
		noted:    map[string]struct{}{},
	}
	s.legacyUntil.Store(math.MaxInt64)
	return s
}

func (s *Set) has(sum *[sha256.Size]byte) bool {
	k := keyOf(sum)
	s.mu.RLock()
	ok := s.ids.contains(&k)
	s.mu.RUnlock()
	return ok
}

// add records sum until exp, keeping the later exp if it is already there.
func (s *Set) add(sum [sha256.Size]byte, exp int64) {
	s.mu.Lock()
	s.ids.put(keyOf(&sum), unix32(exp))
	s.mu.Unlock()
}

// entry is one revocation as named in storage.
type entry struct {
	sum [sha256.Size]byte
	exp int64
}

// bulk is how many entries make a merge rebuild the table at once rather
// than add them one by one.
const bulk = 1024

// mergeSlots adds entries, in table form, that are new or later than what
// the set holds. It never removes: an entry only leaves the set by
// expiring, so a sync can not undo a revocation made here whose write to
// storage failed. It may reorder slots.
func (s *Set) mergeSlots(slots []slot[uint32]) int {
	// what is new is found under the read lock: most of a sync is known
	// (at a start, nothing is, and slots are taken as they are)
	var added []slot[uint32]
	s.mu.RLock()
	if len(s.ids.base) == 0 && len(s.ids.recent) == 0 {
		added = slots
	} else {
		for i := range slots {
			if old, ok := s.ids.get(&slots[i].k); !ok || slots[i].v > old {
				added = append(added, slots[i])
			}
		}
	}
	s.mu.RUnlock()
	if len(added) == 0 {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(added) >= bulk {
		s.ids.rebuild(added, nil)
		return len(added)
	}
	for _, a := range added {
		s.ids.put(a.k, a.v)
	}
	return len(added)
}

// purge drops entries whose exp is before cutoff (unix seconds), once
// they are a sixteenth of the set (purgeTable).
func (s *Set) purge(cutoff int64) {
	c := unix32(cutoff)
	purgeTable(&s.mu, &s.ids, func(exp *uint32) bool { return *exp < c })
}

func (s *Set) len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ids.len()
}

func (s *Set) family(fam familySum) (familyRecord, bool) {
	s.famMu.RLock()
	v, ok := s.families.get((*key16)(&fam))
	s.famMu.RUnlock()
	if !ok {
		return familyRecord{}, false
	}
	return v.record(fam), true
}

// putFamily records r as its family's state: a rotation made here, which
// succeeds what the set knew.
func (s *Set) putFamily(r familyRecord) {
	s.famMu.Lock()
	s.families.set(key16(r.fam), valueOf(&r))
	s.famMu.Unlock()
}

// mergeFamilies adds records of storage that are new or supersede what
// the set holds. Like merge, it never goes back: a record only leaves by
// expiring, or by being superseded.
func (s *Set) mergeFamilies(recs []familyRecord) int {
	if len(recs) == 0 {
		return 0
	}
	n := 0
	s.famMu.Lock()
	defer s.famMu.Unlock()
	if len(recs) >= bulk {
		slots := make([]slot[familyValue], len(recs))
		for i := range recs {
			slots[i] = slot[familyValue]{key16(recs[i].fam), valueOf(&recs[i])}
		}
		before := s.families.len()
		s.families.rebuild(slots, nil)
		return max(s.families.len()-before, 0)
	}
	for i := range recs {
		if s.families.put(key16(recs[i].fam), valueOf(&recs[i])) {
			n++
		}
	}
	return n
}

// purgeFamilies drops records whose end is before cutoff (unix seconds):
// every token of the family has expired.
func (s *Set) purgeFamilies(cutoff int64) {
	c := unix32(cutoff)
	purgeTable(&s.famMu, &s.families, func(v *familyValue) bool { return v.end < c })
}

func (s *Set) familyCount() int {
	s.famMu.RLock()
	defer s.famMu.RUnlock()
	return s.families.len()
}
