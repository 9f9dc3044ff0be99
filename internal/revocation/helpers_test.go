package revocation

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// testConfig is a store configuration with the default settings (no
// leeway, refresh_ttl 720h) on clock, on a storage whose rolling upgrade
// is over (no legacy hold: TestRollingUpgrade has it).
func testConfig(clock *testkit.Clock) Config {
	return Config{Now: clock.Now, Keep: Grace, NoExpTTL: 720 * time.Hour, LegacyHold: -1}
}

// testOpen makes a store on s and loads it, as the first App on a
// storage does at start, and stops its loop at the end of the test.
func testOpen(t *testing.T, s certmagic.Storage, cfg Config, logger *zap.Logger) *Store {
	t.Helper()
	cfg.Storage, cfg.Logger, cfg.wait = s, logger, noWait
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Load(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop() })
	return r
}

func noWait(time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	c <- time.Time{}
	return c
}

func testLogs() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core), logs
}

// storedNames are the per-entry objects of the layout of earlier
// versions (jwt/revoked) in the file_system storage at dir.
func storedNames(t *testing.T, dir string) []string { return testkit.RevocationFiles(t, dir) }

// logBatches are the keys of the log batches in the file_system storage
// at dir.
func logBatches(t *testing.T, dir string) []string { return keysUnder(t, dir, logPrefix) }

// keysUnder are the keys under prefix in the file_system storage at dir.
func keysUnder(t *testing.T, dir, prefix string) []string {
	t.Helper()
	var keys []string
	err := filepath.WalkDir(filepath.Join(dir, filepath.FromSlash(prefix)), func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return filepath.SkipAll
		}
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			keys = append(keys, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// entryPath is the file of a revocation of id until exp, made at at.
func entryPath(dir, id string, exp, at time.Time) string {
	return filepath.Join(dir, filepath.FromSlash(entryKey(sha256.Sum256([]byte(id)), exp.Unix(), at)))
}

var keyName = regexp.MustCompile(`^[0-9a-f]{64}\.[0-9]+$`)

// testLoop drives a store's sync loop step by step: each wait the loop
// asks for is handed to the test, which fires it.
type testLoop struct {
	waits  chan time.Duration
	fire   chan time.Time
	synced chan error
}

func driveLoop(r *Store) *testLoop {
	l := &testLoop{waits: make(chan time.Duration, 1), fire: make(chan time.Time), synced: make(chan error, 1)}
	r.wait = func(d time.Duration) <-chan time.Time {
		l.waits <- d
		return l.fire
	}
	r.synced = func(err error) { l.synced <- err }
	return l
}

func (l *testLoop) step(t *testing.T) (waited time.Duration, err error) {
	t.Helper()
	select {
	case waited = <-l.waits:
	case <-time.After(10 * time.Second):
		t.Fatal("the loop did not ask to wait")
	}
	l.fire <- time.Time{}
	select {
	case err = <-l.synced:
	case <-time.After(10 * time.Second):
		t.Fatal("the loop did not sync")
	}
	return waited, err
}

// fullSync runs what replaced the periodic full listing: a sync that
// lists every bucket not compacted (as at start), a purge of memory, and
// a compaction (which deletes expired entries from storage), even if one
// ran a moment ago.
func fullSync(r *Store) error {
	r.set.syncMu.Lock()
	r.set.lastSync, r.set.lastPurge = time.Time{}, time.Time{}
	r.set.syncMu.Unlock()
	if err := r.sync(context.Background()); err != nil {
		return err
	}
	r.compactMore.Store(true)
	_, err := r.Compact(context.Background())
	return err
}

// compacted reads every segment the head of s names.
func compacted(t *testing.T, s certmagic.Storage) segment {
	t.Helper()
	var g segment
	b, err := s.Load(context.Background(), headKey)
	if errors.Is(err, fs.ErrNotExist) {
		return g
	}
	if err != nil {
		t.Fatal(err)
	}
	h, err := parseHead(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, segs := range h.Hours {
		for _, ref := range segs {
			b, err := s.Load(context.Background(), ref.Name)
			if err != nil {
				t.Fatal(err)
			}
			if err := g.decode(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	return g
}

// legacyStorage is a storage of dir that instances of the earlier
// per-entry layout share (a rolling upgrade within its hold): stores on
// it write that layout as well as their logs, and list its buckets, which
// is what the tests of that layout look at.
func legacyStorage(t *testing.T, dir, name string, clock *testkit.Clock) *testkit.Storage {
	t.Helper()
	s := testkit.NewStorage(t, dir, name)
	if _, err := s.FileStorage.Load(context.Background(), headKey); errors.Is(err, fs.ErrNotExist) {
		h := &head{Format: 1, Created: clock.Now().Unix(), LegacyUntil: clock.Now().Add(DefaultLegacyHold).Unix()}
		b, err := jsonHead(h)
		if err == nil {
			err = s.FileStorage.Store(context.Background(), headKey, b)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// endHold ends the legacy hold of the storage s (the rolling upgrade is
// over): compactions then delete the per-entry objects they fold.
func endHold(t *testing.T, s certmagic.Storage) {
	t.Helper()
	b, err := s.Load(context.Background(), headKey)
	if err != nil {
		t.Fatal(err)
	}
	h, err := parseHead(b)
	if err != nil {
		t.Fatal(err)
	}
	h.LegacyUntil = 1
	if b, err = jsonHead(h); err == nil {
		err = s.Store(context.Background(), headKey, b)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// firstMissing is the first of the ids prefix0 .. prefix<n-1> that r does
// not refuse, or -1.
func firstMissing(r *Store, prefix string, n int) int {
	for i := range n {
		if !r.IsRevoked(fmt.Sprint(prefix, i)) {
			return i
		}
	}
	return -1
}

// revokeMany revokes prefix0 .. prefix<n-1> until exp on r, 32 callers at
// once (as many logouts: they share commits).
func revokeMany(t *testing.T, r *Store, prefix string, n int, exp time.Time) {
	t.Helper()
	var wg sync.WaitGroup
	for c := range 32 {
		wg.Go(func() {
			for i := c; i < n; i += 32 {
				if err := r.Revoke(context.Background(), fmt.Sprint(prefix, i), exp); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
