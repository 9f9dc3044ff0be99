package revocation

import (
	"encoding/binary"
	"math"
	"slices"
	"sync"
)

// The in-memory sets (revoked ids, identity revocations, refresh-token
// families) are tables of fixed-size slots, with no pointer per entry, so
// that a million entries cost tens of bytes each, not a hundred, and the
// garbage collector has nothing to scan in them:
//
//   - base: slots sorted by key, in one slice, with an index of where each
//     key prefix starts (keys are hashes, so prefixes are spread evenly and
//     each range holds a handful of slots): a lookup is one index read and
//     a binary search over a few adjacent slots;
//   - recent: a small map of the additions since base was built, folded
//     into base when it reaches a fraction of it.
//
// A key is the first 16 bytes of the SHA-256 of an id (128 bits: no two
// ids collide in practice).

// key16 is a table key: the first 16 bytes of a SHA-256.
type key16 [16]byte

func keyOf(sum *[32]byte) key16 { return key16(sum[:16]) }

func (k *key16) hi() uint64 { return binary.BigEndian.Uint64(k[:8]) }
func (k *key16) lo() uint64 { return binary.BigEndian.Uint64(k[8:]) }

func (k *key16) less(o *key16) bool {
	if a, b := k.hi(), o.hi(); a != b {
		return a < b
	}
	return k.lo() < o.lo()
}

// slot is one entry of a table.
type slot[V any] struct {
	k key16
	v V
}

// minFold is the size recent may reach before it is folded into base,
// whatever the size of base; beyond that, a sixteenth of base.
const minFold = 4096

// table is a set of key16 with a value each. It is not safe for
// concurrent use; its owner locks.
type table[V any] struct {
	base []slot[V]
	// index[p] is the first slot of base whose key's top bits are at least
	// p; index[len-1] is len(base).
	index []uint32
	bits  uint8
	// recent holds additions since base was built; on a key in both, its
	// value is the one that counts.
	recent map[key16]V
	// better reports whether v should replace old.
	better func(v, old *V) bool
}

func newTable[V any](better func(v, old *V) bool) table[V] {
	return table[V]{better: better, index: []uint32{0, 0}}
}

// get returns the value of k. It allocates nothing.
func (t *table[V]) get(k *key16) (V, bool) {
	if len(t.recent) > 0 {
		if v, ok := t.recent[*k]; ok {
			return v, true
		}
	}
	return t.getBase(k)
}

// contains reports whether k is in the table, whatever its value: base
// first (where nearly everything is), then recent.
func (t *table[V]) contains(k *key16) bool {
	if _, ok := t.getBase(k); ok {
		return true
	}
	if len(t.recent) > 0 {
		_, ok := t.recent[*k]
		return ok
	}
	return false
}

func (t *table[V]) getBase(k *key16) (V, bool) {
	var zero V
	if len(t.base) == 0 {
		return zero, false
	}
	p := k.hi() >> (64 - uint(t.bits))
	lo, hi := int(t.index[p]), int(t.index[p+1])
	if hi-lo <= 32 {
		// a range of a few slots (about 8 on average): scanned in order,
		// which the CPU prefetches, rather than probed at random
		for ; lo < hi; lo++ {
			if !t.base[lo].k.less(k) {
				break
			}
		}
		if lo < hi && t.base[lo].k == *k {
			return t.base[lo].v, true
		}
		return zero, false
	}
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t.base[m].k.less(k) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(t.base) && t.base[lo].k == *k {
		return t.base[lo].v, true
	}
	return zero, false
}

// put records v for k if k is new or v is better than its value; it
// reports whether it did.
func (t *table[V]) put(k key16, v V) bool {
	if old, ok := t.get(&k); ok && !t.better(&v, &old) {
		return false
	}
	t.set(k, v)
	return true
}

// set records v for k, whatever k held.
func (t *table[V]) set(k key16, v V) {
	if t.recent == nil {
		t.recent = map[key16]V{}
	}
	t.recent[k] = v
	if len(t.recent) >= max(minFold, len(t.base)/16) {
		t.rebuild(nil, nil)
	}
}

func (t *table[V]) len() int {
	n := len(t.base)
	for k := range t.recent {
		if _, ok := t.getBase(&k); !ok {
			n++
		}
	}
	return n
}

// purgeTable drops from t, guarded by mu, what drop reports true for,
// once purgeDue says so: counted under the read lock, rebuilt (a copy,
// readers blocked only for the copy) under the write lock. It reports
// whether it rebuilt.
func purgeTable[V any](mu *sync.RWMutex, t *table[V], drop func(*V) bool) bool {
	mu.RLock()
	due := t.purgeDue(drop)
	mu.RUnlock()
	if !due {
		return false
	}
	mu.Lock()
	t.rebuild(nil, drop)
	mu.Unlock()
	return true
}

// purgeDue reports whether dropping what drop reports true for is worth
// a rebuild (a copy of the table): when it is at least one entry in
// sixteen, or any in a table of fewer than sixteen. Expired entries do no
// harm meanwhile, and a table of a million is not copied every minute for
// the few that expired in it. The count skips the recent map's lookups,
// so it may count an entry that recent replaced: a rebuild a little early.
func (t *table[V]) purgeDue(drop func(*V) bool) bool {
	n := 0
	for i := range t.base {
		if drop(&t.base[i].v) {
			n++
		}
	}
	for _, v := range t.recent {
		if drop(&v) {
			n++
		}
	}
	return n > 0 && n >= (len(t.base)+len(t.recent))/16
}

// rebuild folds recent (whose values win over base's) and more (sorted
// or not; on equal keys the better value wins) into a new base, without
// the entries drop reports true for (drop may be nil).
func (t *table[V]) rebuild(more []slot[V], drop func(*V) bool) {
	if len(t.base) == 0 && len(t.recent) == 0 && drop == nil && len(more) > 0 {
		// a start: more becomes the base, sorted and deduplicated in
		// place, without a second copy of a million entries
		sortSlots(more)
		base := dedupeSlots(more, t.better)
		if cap(base)-len(base) > len(base)/8 {
			base = append(make([]slot[V], 0, len(base)), base...)
		}
		t.base, t.recent = base, nil
		t.index, t.bits = buildIndex(base)
		return
	}
	base := t.base
	if len(t.recent) > 0 {
		add := make([]slot[V], 0, len(t.recent))
		for k, v := range t.recent {
			add = append(add, slot[V]{k, v})
		}
		sortSlots(add)
		base = mergeSlots(base, add, func(v, old *V) bool { return true }, nil)
	}
	if len(more) > 0 {
		sortSlots(more)
		base = mergeSlots(base, more, t.better, nil)
	}
	if drop != nil {
		base = mergeSlots(base, nil, nil, drop)
	}
	t.base, t.recent = base, nil
	t.index, t.bits = buildIndex(base)
}

// mergeSlots merges two sorted runs into a new, exactly sized slice: on
// equal keys (also within b) b's value replaces a's when better says so;
// entries that drop reports true for are left out.
func mergeSlots[V any](a, b []slot[V], better func(v, old *V) bool, drop func(*V) bool) []slot[V] {
	out := make([]slot[V], 0, len(a)+len(b))
	emit := func(s *slot[V]) {
		if n := len(out); n > 0 && out[n-1].k == s.k {
			if better(&s.v, &out[n-1].v) {
				out[n-1].v = s.v
			}
			return
		}
		out = append(out, *s)
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		if j == len(b) || (i < len(a) && !b[j].k.less(&a[i].k)) {
			emit(&a[i])
			i++
		} else {
			emit(&b[j])
			j++
		}
	}
	if drop != nil {
		kept := out[:0]
		for i := range out {
			if !drop(&out[i].v) {
				kept = append(kept, out[i])
			}
		}
		out = kept
	}
	if cap(out)-len(out) > len(out)/8 {
		out = append(make([]slot[V], 0, len(out)), out...)
	}
	return out
}

// dedupeSlots keeps one slot per key of the sorted s, in place: of equal
// keys the value better says is better (the first of equals).
func dedupeSlots[V any](s []slot[V], better func(v, old *V) bool) []slot[V] {
	out := s[:0]
	for i := range s {
		if n := len(out); n > 0 && out[n-1].k == s[i].k {
			if better(&s[i].v, &out[n-1].v) {
				out[n-1].v = s[i].v
			}
			continue
		}
		out = append(out, s[i])
	}
	return out
}

// sortSlots sorts by key: a counting pass on the top 16 bits (keys are
// hashes, evenly spread), then a sort of each small range.
func sortSlots[V any](s []slot[V]) {
	if len(s) < 4096 {
		slices.SortFunc(s, compareSlots[V])
		return
	}
	const bits = 16
	var counts [1<<bits + 1]uint32
	for i := range s {
		counts[s[i].k.hi()>>(64-bits)+1]++
	}
	for p := 1; p < len(counts); p++ {
		counts[p] += counts[p-1]
	}
	out := make([]slot[V], len(s))
	next := counts
	for i := range s {
		p := s[i].k.hi() >> (64 - bits)
		out[next[p]] = s[i]
		next[p]++
	}
	for p := range 1 << bits {
		slices.SortFunc(out[counts[p]:counts[p+1]], compareSlots[V])
	}
	copy(s, out)
}

func compareSlots[V any](a, b slot[V]) int {
	switch {
	case a.k.less(&b.k):
		return -1
	case a.k == b.k:
		return 0
	}
	return 1
}

// buildIndex indexes sorted slots by their top bits, about eight slots
// per prefix.
func buildIndex[V any](s []slot[V]) ([]uint32, uint8) {
	bits := uint8(1)
	for n := len(s) / 8; n > 1 && bits < 24; n >>= 1 {
		bits++
	}
	index := make([]uint32, 1<<bits+1)
	p := 0
	for i := range s {
		top := int(s[i].k.hi() >> (64 - uint(bits)))
		for p <= top {
			index[p] = uint32(i)
			p++
		}
	}
	for ; p < len(index); p++ {
		index[p] = uint32(len(s))
	}
	return index, bits
}

// unix32 is a unix time in seconds as a table keeps it: clamped to 32
// bits (until 2106; a later time is kept until then, the safe side).
func unix32(t int64) uint32 {
	return uint32(min(max(t, 0), math.MaxUint32))
}
