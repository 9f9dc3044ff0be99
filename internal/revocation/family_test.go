package revocation

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
)

const testGrace = 10 * time.Second

// rotateOnce records a rotation of family from prev to cur at the clock's
// time, as the issuer does after Refresh said Rotate.
func rotateOnce(t *testing.T, r *Store, clock *testkit.Clock, family, prev, cur string) {
	t.Helper()
	unlock := r.LockFamily(family)
	defer unlock()
	if err := r.Rotated(context.Background(), family, prev, cur, clock.Now(), clock.Now().Add(720*time.Hour)); err != nil {
		t.Fatal(err)
	}
}

func TestFamilyKeyRoundTrip(t *testing.T) {
	at := time.Unix(1_700_000_000, 0)
	rec := familyRecord{fam: sumFamily("f"), cur: sumFamily("c"), prev: sumFamily("p"), iat: 1_700_000_005, end: 1_702_592_005, at: at.Truncate(time.Minute).Unix()}
	key := rec.key()
	if len(key) > 200 {
		t.Fatalf("key of %d bytes", len(key))
	}
	got, ok := parseFamilyKey(key)
	if !ok || got != rec {
		t.Fatalf("parsed %q as %+v, %v", key, got, ok)
	}
	if _, ok := parseEntryKey(key); ok {
		t.Fatal("a family record reads as a revocation")
	}
	if _, ok := parseFamilyKey(entryKey([32]byte{1}, 5, at)); ok {
		t.Fatal("a revocation reads as a family record")
	}
	for _, bad := range []string{
		keyPrefix + "/x/" + key[len(bucketKey(at))+1:],
		key + ".1",
		key[:len(key)-1] + "x",
		bucketKey(at) + "/zz" + key[len(bucketKey(at))+3:],
	} {
		if _, ok := parseFamilyKey(bad); ok {
			t.Errorf("parsed %q", bad)
		}
	}
}

func TestFamilyVerdicts(t *testing.T) {
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	r := testOpen(t, testkit.NewStorage(t, t.TempDir(), "a"), testConfig(clock), nil)
	login := clock.Now().Unix()
	check := func(name, jti string, iat int64, want Verdict) {
		t.Helper()
		if got := r.Refresh("fam", jti, iat, testGrace); got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
	// no record: a login's token, or one minted before records were kept
	check("untracked, young", "g0", login, Keep)
	clock.Advance(testGrace)
	check("untracked, past the grace", "g0", login, Rotate)
	rotateOnce(t, r, clock, "fam", "g0", "g1")
	g1 := clock.Now().Unix()
	check("current, young", "g1", g1, Keep)
	check("previous within the grace", "g0", login, Keep)
	check("unknown older", "gx", login, Reuse)
	check("newer than the record (another instance)", "g2", g1+1, Keep)
	clock.Advance(testGrace + time.Second)
	check("current past the grace", "g1", g1, Rotate)
	check("previous past the grace", "g0", login, Reuse)
	check("newer past its grace", "g2", g1+1, Rotate)
	rotateOnce(t, r, clock, "fam", "g1", "g2")
	check("two generations back, at once", "g0", login, Reuse)
	check("previous within the grace again", "g1", g1, Keep)
	check("another family is untouched", "h0", login, Reuse)
	if got := r.Refresh("other", "h0", login, testGrace); got != Rotate {
		t.Errorf("another family: %s", got)
	}
}

func TestFamilySupersedes(t *testing.T) {
	a := familyRecord{fam: sumFamily("f"), cur: sumFamily("b"), prev: sumFamily("a"), iat: 100}
	b := familyRecord{fam: sumFamily("f"), cur: sumFamily("c"), prev: sumFamily("b"), iat: 90} // a clock behind
	if !b.supersedes(&a) || a.supersedes(&b) {
		t.Fatal("a direct successor must win whatever the clocks")
	}
	fork := familyRecord{fam: sumFamily("f"), cur: sumFamily("d"), prev: sumFamily("a"), iat: 100}
	if a.supersedes(&fork) == fork.supersedes(&a) {
		t.Fatal("two rotations of one generation in one second: exactly one must win")
	}
	later := familyRecord{fam: sumFamily("f"), cur: sumFamily("e"), prev: sumFamily("x"), iat: 200}
	if !later.supersedes(&a) || a.supersedes(&later) {
		t.Fatal("the later record must win")
	}
	if a.supersedes(&a) {
		t.Fatal("a record supersedes itself")
	}
}

// 1,000 rotations of one family leave one stored record and one in
// memory; N families leave N; nothing is revoked by rotating.
func TestFamilyStateBounded(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	r := testOpen(t, testkit.NewStorage(t, dir, "a"), testConfig(clock), nil)
	prev := "g0"
	for i := range 1000 {
		clock.Advance(testGrace)
		cur := fmt.Sprint("g", i+1)
		if v := r.Refresh("fam", prev, clock.Now().Add(-testGrace).Unix(), testGrace); v != Rotate {
			t.Fatalf("rotation %d: %s", i, v)
		}
		rotateOnce(t, r, clock, "fam", prev, cur)
		prev = cur
	}
	// the log holds every rotation until a compaction folds it into one
	// record
	if err := fullSync(r); err != nil {
		t.Fatal(err)
	}
	if n, b := len(compacted(t, r.storage).families), len(logBatches(t, dir)); n != 1 || b != 0 {
		t.Fatalf("1000 rotations of one family: %d stored records and %d log batches, want 1 and 0", n, b)
	}
	if r.Families() != 1 || r.Revoked() != 0 {
		t.Fatalf("memory: %d families and %d revoked ids, want 1 and 0", r.Families(), r.Revoked())
	}
	const families = 50
	for f := range families {
		for g := range 3 {
			clock.Advance(time.Second)
			rotateOnce(t, r, clock, fmt.Sprint("f", f), fmt.Sprint("f", f, "g", g), fmt.Sprint("f", f, "g", g+1))
		}
	}
	if err := fullSync(r); err != nil {
		t.Fatal(err)
	}
	if n, b := len(compacted(t, r.storage).families), len(logBatches(t, dir)); n != families+1 || b != 0 {
		t.Fatalf("%d families: %d stored records and %d log batches, want %d and 0", families+1, n, b, families+1)
	}
	// a restart loads them all, and nothing more
	other := testOpen(t, testkit.NewStorage(t, dir, "b"), testConfig(clock), nil)
	if other.Families() != families+1 || other.Revoked() != 0 {
		t.Fatalf("loaded %d families and %d revoked ids", other.Families(), other.Revoked())
	}
	// a family's record is dropped with its last token
	clock.Advance(721 * time.Hour)
	if err := fullSync(other); err != nil {
		t.Fatal(err)
	}
	if other.Families() != 0 {
		t.Fatalf("%d expired families kept in memory", other.Families())
	}
	if n := len(compacted(t, r.storage).families) + len(logBatches(t, dir)); n != 0 {
		t.Fatalf("%d expired family records kept in storage", n)
	}
}

// Another instance sees a rotation within one routine sync, and a restart
// sees it at once; a leftover record (a failed delete, or two instances
// rotating before a sync) is swept by a full listing.
func TestFamilySharedAndSwept(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	sa := legacyStorage(t, dir, "a", clock)
	a := testOpen(t, sa, testConfig(clock), nil)
	b := testOpen(t, legacyStorage(t, dir, "b", clock), testConfig(clock), nil)
	clock.Advance(testGrace)
	rotateOnce(t, a, clock, "fam", "g0", "g1")
	clock.Advance(testGrace)
	if v := b.Refresh("fam", "g0", 1, testGrace); v != Rotate {
		t.Fatalf("before a sync the other instance knows no record: %s", v)
	}
	if err := b.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := b.Refresh("fam", "g0", 1, testGrace); v != Reuse {
		t.Fatalf("after a sync, the replaced generation is reuse on the other instance: %s", v)
	}
	// a delete that fails leaves the replaced record: two entries, until
	// a full listing sweeps the superseded one
	sa.Set(func(s *testkit.Storage) { s.FailDelete = errors.New("flaky") })
	rotateOnce(t, a, clock, "fam", "g1", "g2")
	sa.Set(func(s *testkit.Storage) { s.FailDelete = nil })
	if n := len(storedNames(t, dir)); n != 2 {
		t.Fatalf("%d entries after a failed delete, want 2", n)
	}
	endHold(t, sa)
	clock.Advance(time.Minute + closeDelay)
	if err := fullSync(b); err != nil {
		t.Fatal(err)
	}
	if n, seg := len(storedNames(t, dir)), compacted(t, sa); n != 0 || len(seg.families) != 1 || seg.families[0].cur != sumFamily("g2") {
		t.Fatalf("%d entries and %+v after the compaction, want the newest record only", n, seg.families)
	}
	if v := b.Refresh("fam", "g2", 1, testGrace); v != Rotate {
		t.Fatalf("the newest record lost to the superseded one: %s", v)
	}
	// a storage that cannot write: nothing changes, and the caller is told
	sa.Set(func(s *testkit.Storage) { s.FailStore = errors.New("down") })
	unlock := a.LockFamily("fam")
	err := a.Rotated(context.Background(), "fam", "g2", "g3", clock.Now(), clock.Now().Add(time.Hour))
	unlock()
	if err == nil {
		t.Fatal("a failed write reported success")
	}
	clock.Advance(testGrace)
	if v := a.Refresh("fam", "g2", 1, testGrace); v != Rotate {
		t.Fatalf("a failed rotation changed the record: %s", v)
	}
}
