package revocation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap/zapcore"
)

func TestStoresHashedIDUntilExp(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	r := testOpen(t, legacyStorage(t, dir, "a", clock), testConfig(clock), nil)

	// a jti is client-chosen text: it must never become a path
	jti := "../../../../tmp/evil/" + strings.Repeat("x", 300)
	exp := clock.Now().Add(10 * time.Minute)
	if err := r.Revoke(context.Background(), jti, exp); err != nil {
		t.Fatal(err)
	}
	names := storedNames(t, dir)
	if len(names) != 1 {
		t.Fatalf("want one stored revocation, got %q", names)
	}
	sum := sha256.Sum256([]byte(jti))
	want := hex.EncodeToString(sum[:]) + fmt.Sprintf(".%d", exp.Unix())
	if names[0] != want || !keyName.MatchString(names[0]) {
		t.Fatalf("stored key %q, want %q", names[0], want)
	}
	if _, err := os.Stat(filepath.Join(dir, "..", "tmp")); err == nil {
		t.Fatal("the jti escaped the storage folder")
	}
	raw, err := os.ReadFile(entryPath(dir, jti, exp, clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		ID        string `json:"id_sha256"`
		Exp       int64  `json:"exp"`
		RevokedAt int64  `json:"revoked_at"`
	}
	if err := json.Unmarshal(raw, &v); err != nil || v.ID != hex.EncodeToString(sum[:]) || v.Exp != exp.Unix() || v.RevokedAt != clock.Now().Unix() {
		t.Fatalf("stored value %s (%v)", raw, err)
	}
	if strings.Contains(string(raw), "evil") {
		t.Fatal("the stored value holds the raw jti")
	}

	// sub-second exp rounds up, never down
	if err := r.Revoke(context.Background(), "frac", clock.Now().Add(1500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(entryPath(dir, "frac", clock.Now().Add(2*time.Second), clock.Now())); err != nil {
		t.Fatalf("sub-second exp not rounded up: %v", err)
	}
}

func TestImmediateHereAndAfterSyncElsewhere(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	a := testOpen(t, testkit.NewStorage(t, dir, "a"), testConfig(clock), nil)
	b := testOpen(t, testkit.NewStorage(t, dir, "b"), testConfig(clock), nil)
	if a.set == b.set {
		t.Fatal("two storages of distinct identity share a set; this test needs two instances")
	}

	if a.IsRevoked("t1") || b.IsRevoked("t1") {
		t.Fatal("revoked before revoke")
	}
	if err := a.Revoke(context.Background(), "t1", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !a.IsRevoked("t1") {
		t.Fatal("a revocation is not visible at once on the instance that made it")
	}
	if b.IsRevoked("t1") {
		t.Fatal("b saw the revocation without syncing: the test does not show propagation")
	}
	if err := b.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !b.IsRevoked("t1") {
		t.Fatal("b does not refuse t1 after a sync")
	}
	if b.IsRevoked("t2") || b.IsRevoked("") {
		t.Fatal("unrelated ids are reported revoked")
	}
}

func TestArbitraryIDs(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	a := testOpen(t, legacyStorage(t, dir, "a", clock), testConfig(clock), nil)
	b := testOpen(t, legacyStorage(t, dir, "b", clock), testConfig(clock), nil)
	ids := []string{"family:0f3c", "ünïcødé/../\x00id", strings.Repeat("long", 4096), "A", "a"}
	for _, id := range ids {
		if err := a.Revoke(context.Background(), id, clock.Now().Add(time.Hour)); err != nil {
			t.Fatalf("revoke %.20q: %v", id, err)
		}
	}
	if err := b.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if !b.IsRevoked(id) {
			t.Fatalf("%.20q not revoked after sync", id)
		}
	}
	if b.IsRevoked("B") {
		t.Fatal("ids are not compared exactly")
	}
	if err := a.Revoke(context.Background(), "", clock.Now().Add(time.Hour)); err == nil {
		t.Fatal("an empty id was accepted")
	}

	// no exp: kept for the longest token lifetime
	if err := a.Revoke(context.Background(), "no-exp", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(entryPath(dir, "no-exp", clock.Now().Add(720*time.Hour), clock.Now())); err != nil {
		t.Fatalf("id without exp not kept for refresh_ttl: %v", err)
	}
}

func TestStorageFaults(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	s := testkit.NewStorage(t, dir, "a")
	logger, logs := testLogs()
	r := testOpen(t, s, testConfig(clock), logger)
	if err := r.Revoke(context.Background(), "known", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}

	// a write that fails is an error for the caller (the logout answers
	// 503), but the id is refused here all the same
	boom := errors.New("storage is down")
	s.Set(func(s *testkit.Storage) { s.FailStore = boom })
	err := r.Revoke(context.Background(), "unsaved", clock.Now().Add(time.Hour))
	if !errors.Is(err, boom) {
		t.Fatalf("revoke with a failing storage returned %v", err)
	}
	if !r.IsRevoked("unsaved") {
		t.Fatal("an id whose write failed is not refused on this instance")
	}
	if logs.FilterMessageSnippet("storing revocations failed").Len() != 1 {
		t.Fatalf("the failed write was not logged: %v", logs.All())
	}

	// a listing that fails is an error; the last known set keeps serving
	s.Set(func(s *testkit.Storage) { s.FailList = boom })
	if err := r.sync(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("sync with a failing storage returned %v", err)
	}
	if !r.IsRevoked("known") || !r.IsRevoked("unsaved") {
		t.Fatal("a failed sync dropped revocations")
	}

	// storage back: a sync never undoes the unsaved revocation
	s.Set(func(s *testkit.Storage) { s.FailList, s.FailStore = nil, nil })
	if err := r.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !r.IsRevoked("unsaved") {
		t.Fatal("a sync removed a revocation that storage does not hold")
	}

	// a client that hangs up mid-logout does not cancel the write
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Revoke(gone, "hung-up", clock.Now().Add(time.Hour)); err != nil {
		t.Fatalf("revoke with a canceled request context: %v", err)
	}
	if found, err := LookupIn(context.Background(), s, clock.Now(), "", "hung-up"); err != nil || !found.ID {
		t.Fatalf("the revocation of a canceled request was not stored: %+v %v", found, err)
	}
}

func TestStorageTimeout(t *testing.T) {
	// a storage that hangs bounds a logout instead of hanging it
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	release := make(chan struct{})
	defer close(release)
	err := withStorageTimeout(ctx, func(context.Context) error { <-release; return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the deadline", err)
	}
}

func TestStartupLoad(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	w := testOpen(t, testkit.NewStorage(t, dir, "w"), testConfig(clock), nil)
	if err := w.Revoke(context.Background(), "old", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}

	// storage that fails twice, then answers: the start retries and loads
	s := testkit.NewStorage(t, dir, "flaky")
	s.FailList = errors.New("connection refused")
	var waits []time.Duration
	cfg := testConfig(clock)
	cfg.Storage = s
	cfg.wait = func(d time.Duration) <-chan time.Time {
		waits = append(waits, d)
		if len(waits) == 2 {
			s.Set(func(s *testkit.Storage) { s.FailList = nil })
		}
		return noWait(d)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Load(); err != nil {
		t.Fatalf("start after transient failures: %v", err)
	}
	if !r.IsRevoked("old") {
		t.Fatal("not loaded after retries")
	}
	if len(waits) != 2 || waits[1] <= waits[0]*3/2 {
		t.Fatalf("retries did not back off: %v", waits)
	}

	// storage that never answers: the start is refused, not silently open
	dead := testkit.NewStorage(t, dir, "dead")
	dead.FailList = errors.New("connection refused")
	cfg = testConfig(clock)
	cfg.Storage, cfg.wait = dead, noWait
	r2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = r2.Load()
	if err == nil || !strings.Contains(err.Error(), "refusing to start") {
		t.Fatalf("start on dead storage: %v", err)
	}
	if dead.Lists != loadTries {
		t.Fatalf("tried %d times, want %d", dead.Lists, loadTries)
	}
	// that a failed start leaves no set in the root package's pool is
	// checked there (TestRevocationFailedStartLeavesNoSet)
}

func TestSyncInterval(t *testing.T) {
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	s := &certmagic.FileStorage{Path: t.TempDir()}

	cfg := testConfig(clock)
	cfg.Storage = s
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.interval != DefaultInterval || r.interval > ContractBound {
		t.Fatalf("default sync interval %s", r.interval)
	}

	cfg.Interval = 10 * time.Millisecond
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "revocation_sync") {
		t.Fatalf("a 10ms interval: %v", err)
	}
	cfg.Interval = -time.Second
	if _, err := New(cfg); err == nil {
		t.Fatal("a negative interval was accepted")
	}

	cfg.Interval = time.Minute
	logger, logs := testLogs()
	cfg.Logger = logger
	if _, err := New(cfg); err != nil {
		t.Fatal(err)
	}
	if logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("longer than 5s").Len() != 1 {
		t.Fatal("an interval beyond the contract's bound was not warned about")
	}

}

func TestLookupAllocs(t *testing.T) {
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	r := testOpen(t, &certmagic.FileStorage{Path: t.TempDir()}, testConfig(clock), nil)
	if err := r.Revoke(context.Background(), "f81d4fae-7dec-11d0-a765-00a0c91e6bf6", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("j", 200)
	allocs := testing.AllocsPerRun(1000, func() {
		if !r.IsRevoked("f81d4fae-7dec-11d0-a765-00a0c91e6bf6") || r.IsRevoked(long) {
			panic("wrong answer")
		}
	})
	if allocs != 0 {
		t.Fatalf("isRevoked allocates %.1f times per call", allocs)
	}
}

func BenchmarkRevocationLookup(b *testing.B) {
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	cfg := testConfig(clock)
	cfg.Storage = &certmagic.FileStorage{Path: b.TempDir()}
	r, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	for i := range 100_000 {
		var sum [sha256.Size]byte
		copy(sum[:], fmt.Sprint("filler-", i))
		r.set.add(sha256.Sum256(sum[:]), clock.Now().Add(time.Hour).Unix())
	}
	r.set.add(sha256.Sum256([]byte("f81d4fae-7dec-11d0-a765-00a0c91e6bf6")), clock.Now().Add(time.Hour).Unix())
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !r.IsRevoked("f81d4fae-7dec-11d0-a765-00a0c91e6bf6") {
				b.Fatal("not revoked")
			}
		}
	})
}

// TestBounded (the store's half of the root's
// TestSecurityRevocationBounded): revoked ids cost a fixed 32 bytes each
// however long the id, and are dropped once their tokens have expired, so
// logging out in a loop cannot grow memory without bound.
func TestBounded(t *testing.T) {
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	start := clock.Now()
	r := testOpen(t, &certmagic.FileStorage{Path: t.TempDir()}, testConfig(clock), nil)
	long := strings.Repeat("j", 4096)
	for i := 0; i < 300; i++ {
		if err := r.Revoke(context.Background(), long+strconv.Itoa(i), start.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if n := r.set.len(); n != 300 {
		t.Fatalf("%d revoked ids in memory, want 300", n)
	}
	if !r.IsRevoked(long + "7") {
		t.Fatal("control: a revoked id is not refused")
	}
	clock.Advance(2 * time.Hour)
	if err := r.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := r.set.len(); n != 0 {
		t.Fatalf("%d revoked ids still in memory two hours after their tokens expired", n)
	}
}

// LookupIn reads a revocation made by a Store straight from storage, ids
// and identities alike, and writes nothing.
func TestLookupIn(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	r := testOpen(t, &certmagic.FileStorage{Path: dir}, testConfig(clock), nil)
	if err := r.Revoke(context.Background(), "gone", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	st := &certmagic.FileStorage{Path: dir}
	for _, tc := range []struct {
		ids  []string
		want bool
	}{{[]string{"gone"}, true}, {[]string{"other", "gone"}, true}, {[]string{"other"}, false}, {nil, false}} {
		got, err := LookupIn(context.Background(), st, clock.Now(), "", tc.ids...)
		if err != nil || got.ID != tc.want || got.IdentityRevoked {
			t.Errorf("LookupIn(%q) = %+v, %v; want %v", tc.ids, got, err, tc.want)
		}
	}
	// past its exp, a revocation no longer matters
	if got, _ := LookupIn(context.Background(), st, clock.Now().Add(2*time.Hour), "", "gone"); got.ID {
		t.Error("an expired revocation still counts")
	}
	// an identity revocation is found by the identity, with its time
	clock.Advance(time.Minute)
	if err := r.RevokeIdentity(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	before := keysUnder(t, dir, "jwt")
	if got, err := LookupIn(context.Background(), st, clock.Now(), "alice"); err != nil || !got.IdentityRevoked || got.IdentityBefore != clock.Now().Unix() || got.ID {
		t.Errorf("LookupIn(alice) = %+v, %v; want the identity revoked at %d", got, err, clock.Now().Unix())
	}
	if got, err := LookupIn(context.Background(), st, clock.Now(), "bob", "other"); err != nil || got.IdentityRevoked || got.ID {
		t.Errorf("LookupIn(bob) = %+v, %v; want nothing revoked", got, err)
	}
	if after := keysUnder(t, dir, "jwt"); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("RevokedIn changed storage: %q -> %q", before, after)
	}
	// an empty storage has nothing revoked
	if got, err := LookupIn(context.Background(), &certmagic.FileStorage{Path: t.TempDir()}, clock.Now(), "alice", "gone"); got != (Found{}) || err != nil {
		t.Fatalf("empty storage: %v, %v", got, err)
	}
}
