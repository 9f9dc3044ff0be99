package revocation

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddyserver/certmagic"
)

// countingOpen is testOpen on a CountingStorage over the file_system
// storage at dir.
func countingOpen(t *testing.T, dir string, clock *testkit.Clock) (*Store, *testkit.CountingStorage) {
	t.Helper()
	c := &testkit.CountingStorage{Storage: &certmagic.FileStorage{Path: dir}}
	cfg := testConfig(clock)
	cfg.noCompaction = true
	return testOpen(t, c, cfg, nil), c
}

// tipsOf reads the tips folder of the storage at dir: each writer's seq.
func tipsOf(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	r, err := New(Config{Storage: &certmagic.FileStorage{Path: dir}})
	if err != nil {
		t.Fatal(err)
	}
	tips, _, _, err := r.listTips(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	seqs := map[string]int64{}
	for w, tp := range tips {
		seqs[w] = tp.seq
	}
	return seqs
}

// A routine sync costs what changed: one listing of the tips (a key per
// writer), the head, and a Load per new batch but the last of each
// writer, which its tip's name holds; never a listing of the entries,
// however many are live, and nothing more when nothing changed.
func TestRoutineSyncReadsOnlyChanges(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	w1, _ := countingOpen(t, dir, clock)
	w2, _ := countingOpen(t, dir, clock)
	for i := range 500 {
		if err := w1.Revoke(context.Background(), fmt.Sprint("old-", i), clock.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := w1.Compact(context.Background()); err != nil || st.Batches != 500 {
		t.Fatalf("compaction: %+v %v", st, err)
	}
	r, c := countingOpen(t, dir, clock)
	if !r.IsRevoked("old-499") {
		t.Fatal("the start missed a compacted revocation")
	}

	syncNow := func() testkit.Counts {
		t.Helper()
		clock.Advance(4 * time.Second)
		before := c.Counts()
		if err := r.sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		return c.Counts().Sub(before)
	}
	if got := syncNow(); got != (testkit.Counts{Lists: 1, ListedKeys: 1, Loads: 1}) {
		t.Fatalf("a sync with no change: %+v, want the tips listed (one writer) and the head", got)
	}
	for i := range 5 {
		if err := w1.Revoke(context.Background(), fmt.Sprint("new-", i), clock.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w2.RevokeIdentity(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	got := syncNow()
	if got != (testkit.Counts{Lists: 1, ListedKeys: 2, Loads: 1 + 4}) {
		t.Fatalf("a sync after 6 commits of 2 writers: %+v, want the tips listed (2), the head and 4 batches (the last of each is in its tip)", got)
	}
	if _, ok := r.IdentityRevokedBefore("alice"); !ok || !r.IsRevoked("new-4") {
		t.Fatal("the sync missed a change")
	}
	if got := syncNow(); got != (testkit.Counts{Lists: 1, ListedKeys: 2, Loads: 1}) {
		t.Fatalf("the next sync: %+v, want the tips and the head only", got)
	}

	// revocations made at once are committed together: the readers'
	// Loads are the batches, not the revocations
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			if err := w1.Revoke(context.Background(), fmt.Sprint("burst-", i), clock.Now().Add(time.Hour)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	id, seq := w1.set.log.position()
	batches := seq - (500 + 5)
	tips, _, _, err := r.listTips(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tips[id].inline != nil {
		batches-- // the last one is in the tip
	}
	if got := syncNow(); got.Loads != 1+batches || got.ListedKeys != 2 {
		t.Fatalf("a sync after 200 revocations in %d batches to load: %+v", batches, got)
	}
	if i := firstMissing(r, "burst-", 200); i >= 0 {
		t.Fatalf("burst-%d missed", i)
	}
}

// A compaction folds the logs into segments and deletes the batches: a
// reader that syncs, or starts, between any two of its steps misses
// nothing, whether it had read the batches or not.
func TestLogFoldReadersNeverMiss(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	const n = 60
	var mu sync.Mutex
	var steps int
	var behind *Store
	hook := func(op, key string) {
		mu.Lock()
		defer mu.Unlock()
		if behind == nil {
			return
		}
		steps++
		fresh := testOpen(t, testkit.NewStorage(t, dir, fmt.Sprint("reader-", steps)), testConfig(clock), nil)
		for _, r := range []*Store{fresh, behind} {
			if err := r.sync(context.Background()); err != nil {
				t.Errorf("a sync before %s %s: %v", op, key, err)
				return
			}
			if i := firstMissing(r, "id-", n); i >= 0 {
				t.Errorf("before %s %s, a reader misses id-%d", op, key, i)
				return
			}
		}
	}
	w := testOpen(t, &hookStorage{testkit.NewStorage(t, dir, "writer"), hook}, testConfig(clock), nil)
	reader := testOpen(t, testkit.NewStorage(t, dir, "behind"), testConfig(clock), nil)
	for i := range n {
		if i == n/2 {
			// the reader has read half of the batches when the folding
			// begins
			if err := reader.sync(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Revoke(context.Background(), fmt.Sprint("id-", i), clock.Now().Add(time.Duration(i%3+1)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	behind = reader
	mu.Unlock()
	st, err := w.Compact(context.Background())
	if err != nil || st.Batches != n || st.Segments != 3 {
		t.Fatalf("compaction: %+v %v", st, err)
	}
	if steps < n {
		t.Fatalf("only %d steps observed", steps)
	}
	if left := logBatches(t, dir); len(left) != 0 {
		t.Fatalf("batches left after the compaction: %q", left)
	}
}

// A commit that fails fails its callers (the logout answers 503) and its
// seq is never used again; readers skip the batch that was not written.
// A tip that a failed delete left behind is ignored (the writer's latest
// counts) and deleted by the next compaction.
func TestLogFailedCommits(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	s := testkit.NewStorage(t, dir, "w")
	w := testOpen(t, s, testConfig(clock), nil)
	r := testOpen(t, testkit.NewStorage(t, dir, "r"), testConfig(clock), nil)
	exp := clock.Now().Add(time.Hour)
	if err := w.Revoke(context.Background(), "first", exp); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("storage is down")
	s.Set(func(s *testkit.Storage) { s.FailStore = boom })
	if err := w.Revoke(context.Background(), "unsaved", exp); !errors.Is(err, boom) {
		t.Fatalf("a failed commit returned %v", err)
	}
	s.Set(func(s *testkit.Storage) { s.FailStore, s.FailDelete = nil, boom })
	if err := w.Revoke(context.Background(), "third", exp); err != nil {
		t.Fatal(err)
	}
	s.Set(func(s *testkit.Storage) { s.FailDelete = nil })
	id, seq := w.set.log.position()
	if seq != 3 {
		t.Fatalf("the writer is at seq %d, want 3 (a failed seq is not used again)", seq)
	}
	if err := r.sync(context.Background()); err != nil {
		t.Fatalf("a sync over a batch never written: %v", err)
	}
	if !r.IsRevoked("first") || !r.IsRevoked("third") || r.IsRevoked("unsaved") {
		t.Fatal("the reader's view of the log is wrong")
	}
	keys, err := s.FileStorage.List(context.Background(), tipPrefix, false)
	if err != nil || len(keys) != 2 {
		t.Fatalf("tips: %q %v, want the one a failed delete left and the latest", keys, err)
	}
	if st, err := w.Compact(context.Background()); err != nil || st.Batches != 3 {
		t.Fatalf("compaction: %+v %v", st, err)
	}
	if tips := tipsOf(t, dir); len(tips) != 1 || tips[id] != 3 {
		t.Fatalf("tips after the compaction: %v", tips)
	}
	if keys, _ := s.FileStorage.List(context.Background(), tipPrefix, false); len(keys) != 1 {
		t.Fatalf("the replaced tip was not deleted: %q", keys)
	}
}

// A writer idle for writerIdle starts a new log; a log folded and idle for
// writerRetire is closed by a compaction (its tip and any batch a failed
// commit left go), so the tips listed stay one per live writer.
func TestLogsClosedWhenIdle(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	w := testOpen(t, testkit.NewStorage(t, dir, "w"), testConfig(clock), nil)
	revoke := func(id string) {
		t.Helper()
		if err := w.Revoke(context.Background(), id, clock.Now().Add(3*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	revoke("a")
	first, _ := w.set.log.position()
	// a batch left by a commit whose tip was never written (a crash)
	if err := w.storage.Store(context.Background(), batchKey(first, 2), (&segment{}).encode()); err != nil {
		t.Fatal(err)
	}
	clock.Advance(writerIdle + time.Second)
	revoke("b")
	second, _ := w.set.log.position()
	if second == first {
		t.Fatal("an idle writer kept its log")
	}
	if tips := tipsOf(t, dir); len(tips) != 2 {
		t.Fatalf("tips: %v", tips)
	}
	compact := func() {
		t.Helper()
		w.compactMore.Store(true)
		if _, err := w.Compact(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	compact()
	if tips := tipsOf(t, dir); len(tips) != 2 {
		t.Fatalf("a log was closed before writerRetire: %v", tips)
	}
	clock.Advance(writerRetire + time.Minute)
	compact()
	if tips := tipsOf(t, dir); len(tips) != 0 {
		t.Fatalf("logs idle for writerRetire were not closed: %v", tips)
	}
	if left := logBatches(t, dir); len(left) != 0 {
		t.Fatalf("batches left: %q", left)
	}
	h, err := w.loadHead(context.Background())
	if err != nil || len(h.Writers) != 0 {
		t.Fatalf("the head still names closed logs: %+v %v", h, err)
	}
	r := testOpen(t, testkit.NewStorage(t, dir, "r"), testConfig(clock), nil)
	if !r.IsRevoked("a") || !r.IsRevoked("b") {
		t.Fatal("a start misses revocations of closed logs")
	}
}

// On a storage that no earlier version wrote to, a start writes the head
// at once, and revocations go to the log only. An instance of an earlier
// version that shows up later (it writes per-entry objects) is noticed by
// the next compaction: the head holds the legacy layout again, and new
// instances write it and list its buckets for LegacyHold.
func TestLegacyLayoutOnlyWhenNeeded(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	cfg := testConfig(clock)
	cfg.LegacyHold = 0 // the default
	s := testkit.NewStorage(t, dir, "new")
	newer := testOpen(t, s, cfg, nil)
	if newer.legacy(clock.Now()) {
		t.Fatal("a start on empty storage keeps the legacy layout")
	}
	if err := newer.Revoke(context.Background(), "by-new", clock.Now().Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if names := storedNames(t, dir); len(names) != 0 {
		t.Fatalf("per-entry objects written without an earlier version: %q", names)
	}

	old := testkit.NewStorage(t, dir, "old")
	if err := old.Store(context.Background(), entryKey(sha256.Sum256([]byte("by-old")), clock.Now().Add(48*time.Hour).Unix(), clock.Now()), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute + closeDelay)
	newer.compactMore.Store(true)
	if _, err := newer.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := newer.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !newer.IsRevoked("by-old") || !newer.legacy(clock.Now()) {
		t.Fatal("the earlier version's revocation was not noticed")
	}
	if err := newer.Revoke(context.Background(), "by-new-2", clock.Now().Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if seen := oldInstance(t, old); !seen[sha256.Sum256([]byte("by-new-2"))] {
		t.Fatal("an instance of the earlier version misses a revocation made after it showed up")
	}
	if newer.legacy(clock.Now().Add(DefaultLegacyHold)) {
		t.Fatal("the legacy layout is kept beyond LegacyHold")
	}
}

// loadHookStorage runs hook before each Load of the storage it wraps.
type loadHookStorage struct {
	*testkit.Storage
	hook func(key string)
}

func (h *loadHookStorage) Load(ctx context.Context, key string) ([]byte, error) {
	h.hook(key)
	return h.Storage.Load(ctx, key)
}

// A compaction that folds the batches a sync is about to read (after the
// sync read the head): the batches are gone, the head read again names
// the segments that hold them.
func TestLogFoldedDuringASync(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	w := testOpen(t, testkit.NewStorage(t, dir, "w"), testConfig(clock), nil)
	var once sync.Once
	hook := func(key string) {
		if strings.HasPrefix(key, logPrefix+"/") {
			once.Do(func() {
				if st, err := w.Compact(context.Background()); err != nil || st.Batches == 0 {
					t.Errorf("compaction: %+v %v", st, err)
				}
			})
		}
	}
	r := testOpen(t, &loadHookStorage{testkit.NewStorage(t, dir, "r"), hook}, testConfig(clock), nil)
	for i := range 10 {
		if err := w.Revoke(context.Background(), fmt.Sprint("id-", i), clock.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(4 * time.Second)
	if err := r.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if i := firstMissing(r, "id-", 10); i >= 0 {
		t.Fatalf("id-%d folded during the sync was missed", i)
	}
}
