package revocation

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

func testKey(i int) key16 {
	sum := sha256.Sum256(fmt.Append(nil, "id-", i))
	return keyOf(&sum)
}

// The table agrees with a map through additions (one by one and in
// bulk), better values, folds and purges.
func TestTableMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tb := newTable(func(v, old *uint32) bool { return *v > *old })
	model := map[key16]uint32{}
	check := func(step string) {
		t.Helper()
		if n := tb.len(); n != len(model) {
			t.Fatalf("%s: len %d, want %d", step, n, len(model))
		}
		for k, want := range model {
			if got, ok := tb.get(&k); !ok || got != want {
				t.Fatalf("%s: get = %d, %v; want %d", step, got, ok, want)
			}
		}
		for i := range 1000 {
			k := testKey(1_000_000 + i)
			if _, ok := tb.get(&k); ok {
				t.Fatalf("%s: a key never added is found", step)
			}
		}
	}
	// a start: a bulk into the empty table, with repeated keys, becomes
	// its base in place
	var first []slot[uint32]
	for range 5000 {
		i, v := rng.IntN(4000), uint32(rng.IntN(1000)+1)
		first = append(first, slot[uint32]{testKey(i), v})
		if old, ok := model[testKey(i)]; !ok || v > old {
			model[testKey(i)] = v
		}
	}
	tb.rebuild(first, nil)
	check("a bulk into the empty table")
	for round := range 5 {
		for range 3000 {
			i, v := rng.IntN(20_000), uint32(rng.IntN(1000)+1)
			k := testKey(i)
			tb.put(k, v)
			if old, ok := model[k]; !ok || v > old {
				model[k] = v
			}
		}
		check(fmt.Sprint("round ", round, " after puts"))
		var bulk []slot[uint32]
		for range 5000 {
			i, v := rng.IntN(40_000), uint32(rng.IntN(1000)+1)
			bulk = append(bulk, slot[uint32]{testKey(i), v})
			k := testKey(i)
			if old, ok := model[k]; !ok || v > old {
				model[k] = v
			}
		}
		tb.rebuild(bulk, nil)
		check(fmt.Sprint("round ", round, " after a bulk merge"))
		cut := uint32(rng.IntN(300))
		tb.rebuild(nil, func(v *uint32) bool { return *v < cut })
		for k, v := range model {
			if v < cut {
				delete(model, k)
			}
		}
		check(fmt.Sprint("round ", round, " after a purge"))
	}
}

// The set of a million revoked ids fits in 32 MiB of heap, and looking one
// up allocates nothing.
func TestSetMillionCompact(t *testing.T) {
	if testing.Short() {
		t.Skip("a million entries")
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s := millionSet()
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("a million revoked ids: %.1f MiB of heap, %.1f bytes each", float64(heap)/(1<<20), float64(heap)/million)
	if heap > 32<<20 {
		t.Fatalf("a million revoked ids take %d bytes of heap, want at most 32 MiB", heap)
	}
	if s.len() != million {
		t.Fatalf("set holds %d, want %d", s.len(), million)
	}
	sum := sha256.Sum256([]byte("id-12345"))
	other := sha256.Sum256([]byte("not revoked"))
	if allocs := testing.AllocsPerRun(1000, func() {
		if !s.has(&sum) || s.has(&other) {
			panic("wrong answer")
		}
	}); allocs != 0 {
		t.Fatalf("a lookup allocates %.1f times", allocs)
	}
	runtime.KeepAlive(s)
}

// millionSet is a set of the ids of testKey(0 .. million-1), as a start
// loads them.
func millionSet() *Set {
	s := NewSet()
	slots := make([]slot[uint32], million)
	for i := range slots {
		slots[i] = slot[uint32]{testKey(i), 2_000_000_000}
	}
	s.mergeSlots(slots)
	return s
}

const million = 1_000_000

// BenchmarkRevocationLookupMillion: a lookup in a set of a million revoked
// ids, with a few thousand recent additions not folded yet, for a revoked
// id and for one that is not.
func BenchmarkRevocationLookupMillion(b *testing.B) {
	s := millionSet()
	for i := range minFold - 1 {
		sum := sha256.Sum256(fmt.Append(nil, "recent-", i))
		s.add(sum, 2_000_000_000)
	}
	// probes spread over the whole table (revoked ids, every 977th of the
	// million in turn), so that they do not stay in the CPU's caches
	ids := make([][32]byte, 1<<16)
	for i := range ids {
		ids[i] = sha256.Sum256(fmt.Append(nil, "id-", i*977%million))
	}
	for _, tc := range []struct {
		name string
		flip bool
	}{{"revoked", false}, {"not-revoked", true}} {
		b.Run(tc.name, func(b *testing.B) {
			probe := make([][32]byte, len(ids))
			copy(probe, ids)
			if tc.flip {
				for i := range probe {
					probe[i][0] ^= 0xff
				}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if s.has(&probe[i&(1<<16-1)]) == tc.flip {
					b.Fatal("wrong answer")
				}
				i++
			}
		})
	}
}

// Expired entries leave the set once they are a sixteenth of it (any, in
// a set of fewer than sixteen): a set of a million is not copied every
// minute for the few that expired in it.
func TestPurgeOnceASixteenthExpired(t *testing.T) {
	s := NewSet()
	for i := range 1600 {
		sum := sha256.Sum256(fmt.Append(nil, "id-", i))
		s.add(sum, int64(1000+i))
	}
	s.purge(1000 + 99) // 99 expired: fewer than 100
	if n := s.len(); n != 1600 {
		t.Fatalf("%d entries after 99 of 1600 expired, want them kept until a sixteenth", n)
	}
	s.purge(1000 + 100)
	if n := s.len(); n != 1500 {
		t.Fatalf("%d entries after 100 of 1600 expired, want 1500", n)
	}
	small := NewSet()
	small.add(sha256.Sum256([]byte("a")), 10)
	small.add(sha256.Sum256([]byte("b")), 20)
	small.purge(11)
	if n := small.len(); n != 1 {
		t.Fatalf("a small set kept %d entries, want 1", n)
	}
}
