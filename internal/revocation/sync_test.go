package revocation

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap/zapcore"
)

func TestLoopRetriesWithBackoff(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	cfg := testConfig(clock)
	cfg.Interval = 3 * time.Second
	s := testkit.NewStorage(t, dir, "a")
	logger, logs := testLogs()
	r := testOpen(t, s, cfg, logger)
	other := testOpen(t, testkit.NewStorage(t, dir, "other"), testConfig(clock), nil)
	if err := other.Revoke(context.Background(), "first", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	loop := driveLoop(r)
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()

	waited, err := loop.step(t)
	if waited != 3*time.Second || err != nil || !r.IsRevoked("first") {
		t.Fatalf("first sync: waited %s, err %v, revoked %v", waited, err, r.IsRevoked("first"))
	}

	s.Set(func(s *testkit.Storage) { s.FailList = errors.New("storage is down") })
	if _, err := loop.step(t); err == nil {
		t.Fatal("a failing sync reported success")
	}
	var backoffs []time.Duration
	for range 3 {
		waited, err := loop.step(t)
		if err == nil {
			t.Fatal("a failing sync reported success")
		}
		backoffs = append(backoffs, waited)
		if !r.IsRevoked("first") {
			t.Fatal("the last known set stopped serving during the outage")
		}
	}
	// 1s, 2s, 4s with up to 20% jitter below
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		if backoffs[i] > want || backoffs[i] < want*4/5 {
			t.Fatalf("backoff %d: %s, want within 20%% below %s (all: %v)", i+1, backoffs[i], want, backoffs)
		}
	}
	if n := logs.FilterMessageSnippet("serving the last known set").FilterLevelExact(zapcore.ErrorLevel).Len(); n != 4 {
		t.Fatalf("logged %d failed syncs, want 4", n)
	}

	// a revocation made elsewhere during the outage arrives on recovery
	if err := other.Revoke(context.Background(), "during-outage", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	s.Set(func(s *testkit.Storage) { s.FailList = nil })
	if _, err := loop.step(t); err != nil {
		t.Fatal(err)
	}
	if !r.IsRevoked("during-outage") {
		t.Fatal("not synced after recovery")
	}
	if logs.FilterMessageSnippet("recovered").Len() != 1 {
		t.Fatal("recovery not logged")
	}
	// and the interval is back to normal
	if waited, _ := loop.step(t); waited != 3*time.Second {
		t.Fatalf("after recovery waited %s, want the sync interval", waited)
	}
}

func TestBackoffIsCapped(t *testing.T) {
	for failures := 1; failures < 100; failures++ {
		d := backoff(failures, time.Second)
		if d > maxBackoff || d < time.Second*4/5 {
			t.Fatalf("backoff after %d failures: %s", failures, d)
		}
	}
	if d := backoff(40, time.Second); d < maxBackoff*4/5 {
		t.Fatalf("backoff does not reach the cap: %s", d)
	}
}

func TestRoutineSyncListsOnlyRecentBuckets(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	s := legacyStorage(t, dir, "reader", clock)
	r := testOpen(t, s, testConfig(clock), nil)
	w := testOpen(t, legacyStorage(t, dir, "writer", clock), testConfig(clock), nil)
	if got := buckets(s.Listed); len(got) != 1 || got[0] != keyPrefix {
		t.Fatalf("the start did not list the bucket folder once: %q", got)
	}
	// many old revocations: a routine sync must not pay for them
	for i := range 50 {
		id := fmt.Sprint("old-", i)
		key := entryKey(sha256.Sum256([]byte(id)), clock.Now().Add(time.Hour).Unix(), clock.Now().Add(-time.Duration(i+2)*time.Minute))
		if err := s.FileStorage.Store(context.Background(), key, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}

	clock.Advance(4 * time.Second)
	if err := w.Revoke(context.Background(), "recent", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	s.Set(func(s *testkit.Storage) { s.Listed = nil })
	if err := r.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !r.IsRevoked("recent") {
		t.Fatal("the routine sync missed a recent revocation")
	}
	if len(buckets(s.Listed)) == 0 || len(buckets(s.Listed)) > 3 {
		t.Fatalf("a routine sync listed %q, want the 2-3 recent buckets", s.Listed)
	}
	for _, p := range buckets(s.Listed) {
		if _, ok := parseBucketKey(p); !ok {
			t.Fatalf("a routine sync listed %q, not a bucket", p)
		}
	}
	if r.IsRevoked("old-40") {
		t.Fatal("test setup: the routine sync listed old buckets")
	}

	// a writer whose clock is 10 minutes behind writes into an old
	// bucket: the next compaction (by any instance) puts it in a segment,
	// and the head brings it to the reader's next routine sync
	skewed := entryKey(sha256.Sum256([]byte("skewed")), clock.Now().Add(time.Hour).Unix(), clock.Now().Add(-10*time.Minute))
	if err := s.FileStorage.Store(context.Background(), skewed, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if st, err := w.Compact(context.Background()); err != nil || !st.Ran {
		t.Fatalf("compaction: %+v, %v", st, err)
	}
	clock.Advance(4 * time.Second)
	s.Set(func(s *testkit.Storage) { s.Listed = nil })
	if err := r.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !r.IsRevoked("skewed") || !r.IsRevoked("old-40") {
		t.Fatal("the compaction's segments did not reach the reader")
	}
	if len(buckets(s.Listed)) > 3 {
		t.Fatalf("a routine sync after a compaction listed %q", s.Listed)
	}

	// after an outage longer than maxWindow, the sync lists the bucket
	// folder once and the buckets not compacted: never recursively
	clock.Advance(maxWindow + time.Second)
	s.Set(func(s *testkit.Storage) { s.Listed = nil })
	if err := r.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := buckets(s.Listed); len(got) == 0 || got[0] != keyPrefix {
		t.Fatalf("after a long gap the sync listed %q", s.Listed)
	}
	for _, p := range s.Listed {
		if strings.HasSuffix(p, "(recursive)") {
			t.Fatalf("a sync listed recursively: %q", s.Listed)
		}
	}
}

// buckets are the listings of the layout of earlier versions among
// listed (leaving out the tips of the logs).
func buckets(listed []string) []string {
	var out []string
	for _, p := range listed {
		if p != tipPrefix {
			out = append(out, p)
		}
	}
	return out
}

// BenchmarkRevocationSync measures the syncs of 1,000 and 10,000 live
// revocations on file_system storage, made by one instance and
// compacted: the routine sync every instance does every sync interval
// (the tips, the head, and here no new batch), and a start's.
func BenchmarkRevocationSync(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
		dir := b.TempDir()
		s := &certmagic.FileStorage{Path: dir}
		cfg := testConfig(clock)
		cfg.Storage = s
		w, err := New(cfg)
		if err == nil {
			err = w.Load()
		}
		if err != nil {
			b.Fatal(err)
		}
		for i := range n {
			if err := w.Revoke(context.Background(), fmt.Sprint("id-", i), clock.Now().Add(time.Hour)); err != nil {
				b.Fatal(err)
			}
		}
		w.compactMore.Store(true)
		if st, err := w.Compact(context.Background()); err != nil || st.Batches != n {
			b.Fatalf("compaction: %+v %v", st, err)
		}
		for _, start := range []bool{false, true} {
			name := fmt.Sprintf("%d/routine", n)
			if start {
				name = fmt.Sprintf("%d/start", n)
			}
			b.Run(name, func(b *testing.B) {
				r, err := New(cfg)
				if err == nil {
					err = r.Load()
				}
				if err != nil {
					b.Fatal(err)
				}
				if r.set.len() != n {
					b.Fatalf("set holds %d, want %d", r.set.len(), n)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if start {
						r = r.WithSet(NewSet())
					}
					if err := r.sync(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
