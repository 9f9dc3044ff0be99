package revocation

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
)

// hookStorage runs hook before each Store and Delete of the storage it
// wraps: a reader's sync, between any two steps of a compaction.
type hookStorage struct {
	*testkit.Storage
	hook func(op, key string)
}

func (h *hookStorage) Store(ctx context.Context, key string, value []byte) error {
	h.hook("store", key)
	return h.Storage.Store(ctx, key, value)
}

func (h *hookStorage) Delete(ctx context.Context, key string) error {
	h.hook("delete", key)
	return h.Storage.Delete(ctx, key)
}

// writeLegacy writes revocations as a version before the compacted layout
// did (the key format is the same): n ids, one bucket per minute over the
// last minutes.
func writeLegacy(t *testing.T, s *testkit.Storage, now time.Time, n, minutes int, exp func(i int) time.Time) {
	t.Helper()
	for i := range n {
		at := now.Add(-time.Duration(i%minutes+4) * time.Minute)
		key := entryKey(sha256.Sum256(fmt.Append(nil, "legacy-", i)), exp(i).Unix(), at)
		if err := s.FileStorage.Store(context.Background(), key, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
}

// A reader that syncs between any two storage writes or deletes of a
// compaction misses nothing: segments and the head are written before the
// entries they replace are deleted, and a sync lists buckets before it
// reads the head.
func TestCompactionReadersNeverMiss(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	const n = 300
	writeLegacy(t, testkit.NewStorage(t, dir, "old"), clock.Now(), n, 30, func(i int) time.Time {
		return clock.Now().Add(time.Duration(i%5+1) * time.Hour)
	})
	// deletes run several at once: the hook takes its turn
	var mu sync.Mutex
	steps := 0
	hook := func(op, key string) {
		mu.Lock()
		defer mu.Unlock()
		steps++
		// a new reader each time: it sees storage only as it is now
		cfg := testConfig(clock)
		cfg.Storage = testkit.NewStorage(t, dir, fmt.Sprint("reader-", steps))
		reader, err := New(cfg)
		if err == nil {
			err = reader.sync(context.Background())
		}
		if err != nil {
			t.Errorf("a reader's start before %s %s: %v", op, key, err)
			return
		}
		if i := firstMissing(reader, "legacy-", n); i >= 0 {
			t.Errorf("before %s %s, a reader that started then misses legacy-%d", op, key, i)
		}
	}
	compactor := testOpen(t, &hookStorage{testkit.NewStorage(t, dir, "compactor"), hook}, testConfig(clock), nil)
	st, err := compactor.Compact(context.Background())
	if err != nil || !st.Ran || st.Keys != n {
		t.Fatalf("compaction: %+v, %v", st, err)
	}
	if steps < n {
		t.Fatalf("only %d steps observed", steps)
	}
	if left := storedNames(t, dir); len(left) != 0 {
		t.Fatalf("%d per-entry objects left after the compaction", len(left))
	}
}

// Storage written by the earlier layout (one object per revocation, over
// many buckets) is read at the first start and compacted: afterwards it
// holds a head and a segment per hour of expiry, and a new start reads
// those (and no bucket) and refuses every id.
func TestLegacyStorageCompacted(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	old := testkit.NewStorage(t, dir, "old")
	const n = 2000
	writeLegacy(t, old, clock.Now(), n, 120, func(i int) time.Time {
		return clock.Now().Add(time.Duration(i%24+1) * time.Hour)
	})
	s := testkit.NewStorage(t, dir, "new")
	r := testOpen(t, s, testConfig(clock), nil)
	if i := firstMissing(r, "legacy-", n); i >= 0 {
		t.Fatalf("legacy-%d not loaded from the earlier layout", i)
	}
	st, err := r.Compact(context.Background())
	if err != nil || !st.Ran || st.Keys != n || st.More {
		t.Fatalf("compaction: %+v, %v", st, err)
	}
	if left := storedNames(t, dir); len(left) != 0 {
		t.Fatalf("%d per-entry objects left", len(left))
	}
	seg := compacted(t, s)
	if len(seg.ids) != n {
		t.Fatalf("segments hold %d ids, want %d", len(seg.ids), n)
	}
	h, err := r.loadHead(context.Background())
	if err != nil || h == nil {
		t.Fatal(h, err)
	}
	if c := h.segmentCount(); c > 25 {
		t.Fatalf("%d segments for %d ids over 24 hours of expiry", c, n)
	}

	fresh := testkit.NewStorage(t, dir, "restart")
	r2 := testOpen(t, fresh, testConfig(clock), nil)
	if i := firstMissing(r2, "legacy-", n); i >= 0 {
		t.Fatalf("legacy-%d not loaded from the segments", i)
	}
	if strings.Join(fresh.Listed, " ") != keyPrefix+" "+tipPrefix {
		t.Fatalf("a start on compacted storage listed %q, want the bucket folder and the tips", fresh.Listed)
	}
	if found, err := LookupIn(context.Background(), fresh, clock.Now(), "", "legacy-7"); err != nil || !found.ID {
		t.Fatalf("LookupIn on compacted storage: %+v, %v", found, err)
	}
}

// oldInstance reads storage as instances of the earlier version do: the
// recent buckets on a routine sync, and one recursive listing at start
// and every 5 minutes, taking every per-entry key it recognizes.
func oldInstance(t *testing.T, s *testkit.Storage) map[[32]byte]bool {
	t.Helper()
	keys, err := s.List(context.Background(), keyPrefix, true)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[[32]byte]bool{}
	for _, key := range keys {
		if e, ok := parseEntryKey(key); ok {
			seen[e.sum] = true
		} else if e, ok := parseIdentityKey(key); ok {
			seen[e.sum] = true
		}
	}
	return seen
}

// A rolling upgrade: instances of the earlier version and of this one on
// one storage. Both write the same per-entry objects, so each sees the
// other's revocations as it did; new instances compact closed buckets but
// keep their per-entry objects for LegacyHold, so an old instance that
// (re)starts during the upgrade still reads every revocation. After the
// hold, the compaction deletes them.
func TestRollingUpgrade(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	oldStorage := testkit.NewStorage(t, dir, "old")
	writeLegacy(t, oldStorage, clock.Now(), 100, 10, func(int) time.Time { return clock.Now().Add(48 * time.Hour) })
	cfg := testConfig(clock)
	cfg.LegacyHold = 0 // the default
	newer := testOpen(t, testkit.NewStorage(t, dir, "new"), cfg, nil)

	// a revocation and an identity revocation on the new instance reach
	// the old one by its routine sync, in the same buckets
	if err := newer.Revoke(context.Background(), "by-new", clock.Now().Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := newer.RevokeIdentity(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	recent, err := oldStorage.List(context.Background(), bucketKey(clock.Now()), false)
	if err != nil || len(recent) != 2 {
		t.Fatalf("the old instance's routine sync lists %q, %v", recent, err)
	}
	// and an old instance's revocation reaches the new one
	clock.Advance(4 * time.Second)
	if err := oldStorage.Store(context.Background(), entryKey(sha256.Sum256([]byte("by-old")), clock.Now().Add(48*time.Hour).Unix(), clock.Now()), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := newer.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !newer.IsRevoked("by-old") || !newer.IsRevoked("legacy-3") {
		t.Fatal("the new instance misses revocations of old ones")
	}

	// compactions during the hold keep the per-entry objects
	clock.Advance(time.Hour)
	for range 2 {
		newer.compactMore.Store(true)
		if st, err := newer.Compact(context.Background()); err != nil || !st.Ran {
			t.Fatalf("compaction: %+v %v", st, err)
		}
	}
	restartedOld := oldInstance(t, oldStorage)
	for _, id := range []string{"by-new", "by-old", "legacy-3", "legacy-99"} {
		if !restartedOld[sha256.Sum256([]byte(id))] {
			t.Fatalf("an old instance started during the upgrade misses %s", id)
		}
	}
	if !restartedOld[sha256.Sum256([]byte("alice"))] {
		t.Fatal("an old instance started during the upgrade misses the identity revocation")
	}
	restartedNew := testOpen(t, testkit.NewStorage(t, dir, "new-2"), cfg, nil)
	if !restartedNew.IsRevoked("by-old") || !restartedNew.IsRevoked("legacy-99") {
		t.Fatal("a new instance started during the upgrade misses revocations")
	}

	// after the hold, the next compaction deletes them: storage holds
	// segments, and every new instance still refuses every id
	clock.Advance(DefaultLegacyHold)
	newer.compactMore.Store(true)
	if st, err := newer.Compact(context.Background()); err != nil || !st.Ran {
		t.Fatalf("compaction after the hold: %+v %v", st, err)
	}
	if left := storedNames(t, dir); len(left) != 0 {
		t.Fatalf("after the hold %d per-entry objects are left: %q", len(left), left[:min(3, len(left))])
	}
	after := testOpen(t, testkit.NewStorage(t, dir, "new-3"), cfg, nil)
	for _, id := range []string{"by-new", "by-old", "legacy-3"} {
		if !after.IsRevoked(id) {
			t.Fatalf("after the upgrade a new instance misses %s", id)
		}
	}
	if _, ok := after.IdentityRevokedBefore("alice"); !ok {
		t.Fatal("after the upgrade a new instance misses the identity revocation")
	}
}

// Entries that expire in one hour are a few segments in one folder (at
// most maxSegments), so that hour goes with one Delete, and the head stops
// naming it.
func TestExpiredHourDeletedWhole(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0).Truncate(time.Hour))
	var segmentDeletes atomic.Int64
	s := &hookStorage{testkit.NewStorage(t, dir, "a"), func(op, key string) {
		if op == "delete" && strings.HasPrefix(key, snapshotPrefix) {
			segmentDeletes.Add(1)
		}
	}}
	r := testOpen(t, s, testConfig(clock), nil)
	exp := clock.Now().Add(90 * time.Minute)
	revokeMany(t, r, "mass-", 5000, exp)
	clock.Advance(time.Minute + closeDelay)
	if err := fullSync(r); err != nil {
		t.Fatal(err)
	}
	h, _ := r.loadHead(context.Background())
	if segs := h.Hours[hourOf(exp.Unix())]; len(segs) != 1 || segs[0].Entries != 5000 {
		t.Fatalf("the hour's segments: %+v", segs)
	}
	// two more compactions with entries of that hour: three segments
	for round := range 2 {
		clock.Advance(time.Minute)
		if err := r.Revoke(context.Background(), fmt.Sprint("later-", round), exp); err != nil {
			t.Fatal(err)
		}
		if err := fullSync(r); err != nil {
			t.Fatal(err)
		}
	}
	h, _ = r.loadHead(context.Background())
	if segs := h.Hours[hourOf(exp.Unix())]; len(segs) != 3 {
		t.Fatalf("the hour's segments: %+v", segs)
	}
	clock.Advance(3 * time.Hour)
	segmentDeletes.Store(0)
	if err := fullSync(r); err != nil {
		t.Fatal(err)
	}
	if n := segmentDeletes.Load(); n != 1 {
		t.Fatalf("deleting an expired hour of 5002 revocations in 3 segments took %d deletes, want 1", n)
	}
	if h, _ := r.loadHead(context.Background()); len(h.Hours) != 0 {
		t.Fatalf("the head still names %v", h.Hours)
	}
	if r.IsRevoked("mass-1") {
		t.Fatal("an expired revocation stayed in memory")
	}
}

// An hour's segments are merged at maxSegments, all but the largest: a
// mass revocation's segment is not written again, and so not read again
// by every instance, because steady revocations expiring in the same hour
// pile up beside it.
func TestLargeSegmentKeptWhenMerging(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0).Truncate(time.Hour))
	r := testOpen(t, testkit.NewStorage(t, dir, "a"), testConfig(clock), nil)
	exp := clock.Now().Add(90 * time.Minute)
	revokeMany(t, r, "mass-", 2000, exp)
	if err := fullSync(r); err != nil {
		t.Fatal(err)
	}
	h, _ := r.loadHead(context.Background())
	large := h.Hours[hourOf(exp.Unix())][0]
	for i := range 3 * maxSegments {
		clock.Advance(time.Minute)
		if err := r.Revoke(context.Background(), fmt.Sprint("steady-", i), exp); err != nil {
			t.Fatal(err)
		}
		if err := fullSync(r); err != nil {
			t.Fatal(err)
		}
		h, _ := r.loadHead(context.Background())
		segs := h.Hours[hourOf(exp.Unix())]
		if len(segs) > maxSegments || !slices.Contains(segs, large) {
			t.Fatalf("after %d more compactions the hour has %+v, want at most %d with %+v among them", i+1, segs, maxSegments, large)
		}
	}
	restarted := testOpen(t, testkit.NewStorage(t, dir, "b"), testConfig(clock), nil)
	for _, id := range []string{"mass-0", "mass-1999", "steady-0", fmt.Sprint("steady-", 3*maxSegments-1)} {
		if !restarted.IsRevoked(id) {
			t.Fatalf("%s lost in the merges", id)
		}
	}
}

// A failed sync of the loop is reported to OnSyncFailure (the root
// package's metric), once per failure.
func TestSyncFailureReported(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	cfg := testConfig(clock)
	var failures atomic.Int64
	cfg.OnSyncFailure = func(err error) {
		if !strings.Contains(err.Error(), "down") {
			t.Errorf("reported %v", err)
		}
		failures.Add(1)
	}
	cfg.noCompaction = true
	s := testkit.NewStorage(t, dir, "a")
	r := testOpen(t, s, cfg, nil)
	loop := driveLoop(r)
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	s.Set(func(s *testkit.Storage) { s.FailList = fmt.Errorf("storage is down") })
	for range 3 {
		if _, err := loop.step(t); err == nil {
			t.Fatal("a failing sync reported success")
		}
	}
	s.Set(func(s *testkit.Storage) { s.FailList = nil })
	if _, err := loop.step(t); err != nil {
		t.Fatal(err)
	}
	if n := failures.Load(); n != 3 {
		t.Fatalf("%d failures reported, want 3", n)
	}
}
