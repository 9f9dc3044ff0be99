package revocation

import (
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"go.uber.org/zap/zapcore"
)

func TestExpiryAndConcurrentSweep(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	cfg := testConfig(clock)
	cfg.Keep = 30*time.Second + Grace // a leeway of 30s
	sa, sb := legacyStorage(t, dir, "a", clock), legacyStorage(t, dir, "b", clock)
	a := testOpen(t, sa, cfg, nil)
	logger, logs := testLogs()
	b := testOpen(t, sb, cfg, logger)

	exp := clock.Now().Add(time.Minute)
	for _, id := range []string{"short-1", "short-2"} {
		if err := a.Revoke(context.Background(), id, exp); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Revoke(context.Background(), "long", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := b.sync(context.Background()); err != nil {
		t.Fatal(err)
	}

	// still within exp + leeway + grace: kept everywhere
	clock.Advance(time.Minute + 30*time.Second + Grace)
	for _, r := range []*Store{a, b} {
		if err := fullSync(r); err != nil {
			t.Fatal(err)
		}
		if !r.IsRevoked("short-1") {
			t.Fatal("dropped before exp + leeway + grace")
		}
	}
	if n := len(storedNames(t, dir)); n != 3 {
		t.Fatalf("swept too early: %d entries left", n)
	}

	// past it, once the bucket is closed: both instances compact at once
	// (one holds the lock), and every delete of an entry already deleted is
	// not-found and must be tolerated silently
	endHold(t, sa)
	clock.Advance(time.Second + closeDelay)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, r := range []*Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fullSync(r)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	// and once more each, so that one of them surely deletes a key that
	// is already gone (the listing may be stale on a remote storage)
	sb.Set(func(s *testkit.Storage) {
		s.ExtraKeys = []string{entryKey(sha256.Sum256([]byte("short-1")), exp.Unix(), clock.Now().Add(-time.Minute))}
	})
	if err := fullSync(b); err != nil {
		t.Fatal(err)
	}
	// the live entry moved to a segment, the expired ones are gone
	if names := storedNames(t, dir); len(names) != 0 {
		t.Fatalf("after the compaction want no per-entry object, got %q", names)
	}
	if found, err := LookupIn(context.Background(), sa, clock.Now(), "", "long"); err != nil || !found.ID {
		t.Fatalf("the live entry is not in storage: %+v %v", found, err)
	}
	// the expired ones went into the segment of their hour of expiry
	// (folded from the log while live): it goes whole once that hour has
	// expired
	clock.Advance(45 * time.Minute)
	if err := fullSync(b); err != nil {
		t.Fatal(err)
	}
	if found, err := LookupIn(context.Background(), sa, exp.Add(-time.Hour), "", "short-1"); err != nil || found.ID {
		t.Fatalf("an expired entry is still in storage: %+v %v", found, err)
	}
	if found, err := LookupIn(context.Background(), sa, clock.Now(), "", "long"); err != nil || !found.ID {
		t.Fatalf("the live entry is not in storage: %+v %v", found, err)
	}
	for _, r := range []*Store{a, b} {
		if r.IsRevoked("short-1") || r.IsRevoked("short-2") {
			t.Fatal("an expired entry stayed in memory")
		}
		if !r.IsRevoked("long") {
			t.Fatal("an unexpired entry was dropped")
		}
	}
	if n := logs.FilterLevelExact(zapcore.WarnLevel).Len(); n != 0 {
		t.Fatalf("a not-found delete was logged as a failure: %v", logs.All())
	}

	// revoking a token expired long ago stores nothing
	before := keysUnder(t, dir, "jwt")
	if err := a.Revoke(context.Background(), "ancient", clock.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if after := keysUnder(t, dir, "jwt"); len(after) != len(before) {
		t.Fatalf("an expired token's revocation was stored: %q, then %q", before, after)
	}
}

// TestSweepKeepsUp: a compaction drops every expired entry of the logs it
// folds, however many, and deletes their batches (the sweep of the full
// listing deleted at most 256 per run, and fell behind).
func TestSweepKeepsUp(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	s := testkit.NewStorage(t, dir, "a")
	r := testOpen(t, s, testConfig(clock), nil)
	total := 2000
	revokeMany(t, r, "b", total, clock.Now().Add(time.Minute))
	clock.Advance(time.Hour)
	if err := fullSync(r); err != nil {
		t.Fatal(err)
	}
	seg := compacted(t, s)
	if n, b := seg.len(), len(logBatches(t, dir)); n != 0 || b != 0 {
		t.Fatalf("one compaction left %d of %d expired entries in segments and %d log batches", n, total, b)
	}
}

func TestCorruptEntriesSkipped(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	writer := testOpen(t, legacyStorage(t, dir, "w", clock), testConfig(clock), nil)
	if err := writer.Revoke(context.Background(), "good", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := writer.Revoke(context.Background(), "garbled-value", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// the value of an entry is never what decides: the name is. A
	// garbled value still revokes (the safe side).
	gkey := entryPath(dir, "garbled-value", clock.Now().Add(time.Hour), clock.Now())
	if err := os.WriteFile(gkey, []byte("\x00\xffnot json"), 0o600); err != nil {
		t.Fatal(err)
	}
	hex64 := strings.Repeat("ab", 32)
	bad := []string{
		"garbage",
		strings.Repeat("zz", 32) + ".1800000000", // not hex
		hex64 + ".soon",                          // exp not a number
		hex64 + ".-5",                            // negative exp
		hex64 + ".+5",                            // signed exp
		hex64 + ".0",                             // zero exp
		hex64 + ".99999999999999999999999",       // overflow
		hex64,                                    // no exp
		hex64[:60] + ".1800000000",               // short hash
	}
	for _, name := range bad {
		if err := os.WriteFile(filepath.Join(dir, "jwt", "revoked", name), []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "jwt", "revoked", "subdir"), 0o700); err != nil {
		t.Fatal(err)
	}
	// a temporary file of an atomic write in progress: skipped quietly
	if err := os.WriteFile(filepath.Join(dir, "jwt", "revoked", "4075321982"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	logger, logs := testLogs()
	reader := testOpen(t, legacyStorage(t, dir, "r", clock), testConfig(clock), logger) // loads at start
	if !reader.IsRevoked("good") || !reader.IsRevoked("garbled-value") {
		t.Fatal("a corrupt entry stopped valid entries from loading")
	}
	skipped := logs.FilterMessageSnippet("unrecognized entry")
	if skipped.Len() != len(bad)+1 {
		t.Fatalf("logged %d unrecognized entries, want %d (the bad names and subdir): %v", skipped.Len(), len(bad)+1, skipped.All())
	}
	// logged once each, not on every sync
	if err := fullSync(reader); err != nil {
		t.Fatal(err)
	}
	if n := logs.FilterMessageSnippet("unrecognized entry").Len(); n != len(bad)+1 {
		t.Fatalf("unrecognized entries logged again on the next sync (%d)", n)
	}
	if reader.set.len() != 2 {
		t.Fatalf("set holds %d entries, want the 2 valid ones", reader.set.len())
	}
}

func TestOldEmptyBucketsRetired(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	r := testOpen(t, legacyStorage(t, dir, "a", clock), testConfig(clock), nil)
	if err := r.Revoke(context.Background(), "short", clock.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	oldBucket := filepath.Join(dir, filepath.FromSlash(bucketKey(clock.Now())))
	clock.Advance(bucketRetire + time.Minute)
	if err := r.Revoke(context.Background(), "young", clock.Now().Add(-30*time.Second)); err != nil {
		t.Fatal(err)
	}
	youngBucket := filepath.Join(dir, filepath.FromSlash(bucketKey(clock.Now())))
	clock.Advance(time.Minute) // "young" has expired too: both buckets empty after the sweep
	// the first full listing deletes the expired entries, the next one the
	// buckets that are then empty and old
	endHold(t, r.storage)
	for range 2 {
		if err := fullSync(r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(oldBucket); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("an old empty bucket was kept: %v", err)
	}
	if _, err := os.Stat(youngBucket); err != nil {
		t.Fatalf("a young bucket was deleted: %v", err)
	}
	// the young bucket's expired entry goes when the bucket is compacted
	clock.Advance(closeDelay)
	if err := fullSync(r); err != nil {
		t.Fatal(err)
	}
	if n := len(storedNames(t, dir)); n != 0 {
		t.Fatalf("%d expired entries left", n)
	}
	if _, err := os.Stat(youngBucket); err != nil {
		t.Fatalf("a young bucket was deleted: %v", err)
	}
}
