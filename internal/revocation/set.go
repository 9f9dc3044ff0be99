package revocation

import (
	"crypto/sha256"
	"sync"
	"time"
)

// Set is the in-memory set of revoked ids of one storage. Several Stores
// may share one Set (the old and the new config of a reload on the same
// storage), so that nothing revoked on one slips through the other.
type Set struct {
	mu sync.RWMutex
	// ids maps the SHA-256 of a revoked id to its exp in unix seconds.
	ids map[[sha256.Size]byte]int64
	// idents holds the revocations by identity (identity.go).
	idents identitySet

	// syncMu serializes syncs: during a reload two Stores may sync at
	// once. It guards the fields below.
	syncMu sync.Mutex
	// noted remembers unrecognized storage keys already logged.
	noted map[string]struct{}
	// lastSync and lastFull are the start times of the last successful
	// sync and full listing.
	lastSync, lastFull time.Time

	// famMu guards families: the newest rotation record known of each
	// refresh-token family.
	famMu    sync.RWMutex
	families map[familySum]familyRecord
	// familyLocks serialize the refreshes of a family (LockFamily): a
	// fixed number, shared by families, so that there is no global lock
	// and no memory per family.
	familyLocks [256]sync.Mutex
}

// NewSet returns an empty set.
func NewSet() *Set {
	return &Set{ids: map[[sha256.Size]byte]int64{}, noted: map[string]struct{}{}, families: map[familySum]familyRecord{}}
}

func (s *Set) has(sum *[sha256.Size]byte) bool {
	s.mu.RLock()
	_, ok := s.ids[*sum]
	s.mu.RUnlock()
	return ok
}

// add records sum until exp, keeping the later exp if it is already there.
func (s *Set) add(sum [sha256.Size]byte, exp int64) {
	s.mu.Lock()
	if old, ok := s.ids[sum]; !ok || exp > old {
		s.ids[sum] = exp
	}
	s.mu.Unlock()
}

// entry is one revocation as named in storage.
type entry struct {
	sum [sha256.Size]byte
	exp int64
}

// merge adds entries that are new or later than what the set holds. It
// never removes: an entry only leaves the set by expiring, so a sync can
// not undo a revocation made here whose write to storage failed.
func (s *Set) merge(entries []entry) int {
	var added []entry
	s.mu.RLock()
	for _, e := range entries {
		if old, ok := s.ids[e.sum]; !ok || e.exp > old {
			added = append(added, e)
		}
	}
	s.mu.RUnlock()
	if len(added) == 0 {
		return 0
	}
	s.mu.Lock()
	for _, e := range added {
		if old, ok := s.ids[e.sum]; !ok || e.exp > old {
			s.ids[e.sum] = e.exp
		}
	}
	s.mu.Unlock()
	return len(added)
}

// purge drops entries whose exp is before cutoff (unix seconds). Readers
// are only blocked while the expired entries are deleted.
func (s *Set) purge(cutoff int64) int {
	var expired [][sha256.Size]byte
	s.mu.RLock()
	for sum, exp := range s.ids {
		if exp < cutoff {
			expired = append(expired, sum)
		}
	}
	s.mu.RUnlock()
	if len(expired) == 0 {
		return 0
	}
	s.mu.Lock()
	for _, sum := range expired {
		if exp, ok := s.ids[sum]; ok && exp < cutoff {
			delete(s.ids, sum)
		}
	}
	s.mu.Unlock()
	return len(expired)
}

func (s *Set) len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.ids)
}

func (s *Set) family(fam familySum) (familyRecord, bool) {
	s.famMu.RLock()
	r, ok := s.families[fam]
	s.famMu.RUnlock()
	return r, ok
}

// putFamily records r as its family's state: a rotation made here, which
// succeeds what the set knew.
func (s *Set) putFamily(r familyRecord) {
	s.famMu.Lock()
	s.families[r.fam] = r
	s.famMu.Unlock()
}

// mergeFamilies adds records of storage that are new or supersede what
// the set holds. Like merge, it never goes back: a record only leaves by
// expiring, or by being superseded.
func (s *Set) mergeFamilies(recs []familyRecord) int {
	n := 0
	s.famMu.Lock()
	for _, r := range recs {
		if old, ok := s.families[r.fam]; !ok || r.supersedes(&old) {
			s.families[r.fam] = r
			n++
		}
	}
	s.famMu.Unlock()
	return n
}

// purgeFamilies drops records whose end is before cutoff (unix seconds):
// every token of the family has expired.
func (s *Set) purgeFamilies(cutoff int64) {
	s.famMu.Lock()
	for fam, r := range s.families {
		if r.end < cutoff {
			delete(s.families, fam)
		}
	}
	s.famMu.Unlock()
}

func (s *Set) familyCount() int {
	s.famMu.RLock()
	defer s.famMu.RUnlock()
	return len(s.families)
}
