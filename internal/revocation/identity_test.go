package revocation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-jwt-extended/caddy-jwt-extended/internal/testkit"
	"go.uber.org/zap/zapcore"
)

// Tests of revocation by identity (identity.go): "every token of identity
// X issued at or before T is revoked". The iat rule itself (a token is
// revoked when its iat, else nbf, is at or before T, or it has neither) is
// the root package's App.identityRevoked, tested there.

// identityFiles lists the stored identity records.
func identityFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, n := range storedNames(t, dir) {
		if strings.HasPrefix(n, "i") {
			out = append(out, n)
		}
	}
	return out
}

// A revocation's T is the current second (the fraction dropped), for that
// identity only; its record names T and lasts the longest token lifetime
// plus the keep.
func TestIdentityRevocationIsItsSecond(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 700_000_000))
	cfg := testConfig(clock)
	r := testOpen(t, legacyStorage(t, dir, "a", clock), cfg, nil)
	if _, ok := r.IdentityRevokedBefore("alice"); ok {
		t.Fatal("revoked before any revocation")
	}
	if err := r.RevokeIdentity(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	before, ok := r.IdentityRevokedBefore("alice")
	if !ok || before != 1_700_000_000 {
		t.Fatalf("IdentityRevokedBefore(alice) = %d, %v; want 1700000000 (the revocation's second)", before, ok)
	}
	for _, other := range []string{"bob", "Alice", "alice ", ""} {
		if _, ok := r.IdentityRevokedBefore(other); ok {
			t.Errorf("%q is revoked by alice's revocation", other)
		}
	}
	if r.IsRevoked("alice") {
		t.Error("an identity revocation reads as a revoked jti")
	}
	files := identityFiles(t, dir)
	exp := int64(1_700_000_000) + int64((cfg.NoExpTTL + cfg.Keep).Seconds())
	want := "i" + hexSum("alice") + ".1700000000." + itoa(exp)
	if len(files) != 1 || files[0] != want {
		t.Fatalf("stored %q, want [%s]", files, want)
	}
	if err := r.RevokeIdentity(context.Background(), ""); err == nil {
		t.Error("an empty identity was revoked")
	}
}

// A later revocation's T wins, in memory, on another instance (whatever
// order it learns them in) and in storage, where the full listing keeps
// one record per identity.
func TestIdentityLaterRevocationWins(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	a := testOpen(t, legacyStorage(t, dir, "a", clock), testConfig(clock), nil)
	if err := a.RevokeIdentity(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	first := clock.Now().Unix()
	clock.Advance(90 * time.Second) // another minute bucket
	if err := a.RevokeIdentity(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	later := clock.Now().Unix()
	if before, _ := a.IdentityRevokedBefore("alice"); before != later {
		t.Fatalf("after a second revocation: T = %d, want %d", before, later)
	}
	if n := len(identityFiles(t, dir)); n != 2 {
		t.Fatalf("%d identity records before a full listing, want 2", n)
	}
	// an instance that loads both records keeps the later one (and the
	// compaction of their buckets keeps only the later one)
	b := testOpen(t, legacyStorage(t, dir, "b", clock), testConfig(clock), nil)
	if before, _ := b.IdentityRevokedBefore("alice"); before != later {
		t.Fatalf("loaded from storage: T = %d, want %d", before, later)
	}
	// and learning the earlier one afterwards changes nothing
	b.set.idents.merge(identityEntry{sum: sha256.Sum256([]byte("alice")), before: first, exp: first + 100})
	if before, _ := b.IdentityRevokedBefore("alice"); before != later {
		t.Fatalf("an earlier record replaced a later one: T = %d, want %d", before, later)
	}
	endHold(t, b.storage)
	clock.Advance(time.Minute + closeDelay)
	if err := fullSync(b); err != nil {
		t.Fatal(err)
	}
	files, seg := identityFiles(t, dir), compacted(t, b.storage)
	if len(files) != 0 || len(seg.idents) != 1 || int64(seg.idents[0].v.before) != later {
		t.Fatalf("after a compaction: %q and %+v, want the later record only", files, seg.idents)
	}
	if before, _ := b.IdentityRevokedBefore("alice"); before != later {
		t.Fatalf("after the sweep: T = %d, want %d", before, later)
	}
}

// Another instance on the same storage learns the record by its routine
// sync (only the recent buckets) and by a full listing; a restart (a new
// Set loaded from storage) knows it before serving.
func TestIdentitySharedAndSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	a := testOpen(t, testkit.NewStorage(t, dir, "a"), testConfig(clock), nil)
	sb := testkit.NewStorage(t, dir, "b")
	b := testOpen(t, sb, testConfig(clock), nil)
	c := testOpen(t, testkit.NewStorage(t, dir, "c"), testConfig(clock), nil)
	if a.set == b.set || b.set == c.set {
		t.Fatal("the instances share a set; the test needs separate ones")
	}
	clock.Advance(2 * time.Second)
	if err := a.RevokeIdentity(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	want := clock.Now().Unix()
	if _, ok := b.IdentityRevokedBefore("alice"); ok {
		t.Fatal("b knew the revocation before syncing: the test shows no propagation")
	}
	sb.Set(func(s *testkit.Storage) { s.Listed = nil })
	if err := b.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, l := range sb.Listed {
		if strings.HasSuffix(l, "(recursive)") {
			t.Fatalf("b's sync was a full listing (%q); the test needs a routine one", sb.Listed)
		}
	}
	if before, ok := b.IdentityRevokedBefore("alice"); !ok || before != want {
		t.Fatalf("after a routine sync: %d, %v; want %d", before, ok, want)
	}
	if err := fullSync(c); err != nil {
		t.Fatal(err)
	}
	if before, ok := c.IdentityRevokedBefore("alice"); !ok || before != want {
		t.Fatalf("after a full listing: %d, %v; want %d", before, ok, want)
	}
	// a restart: a new Set, loaded from storage
	clock.Advance(time.Hour)
	restarted := testOpen(t, testkit.NewStorage(t, dir, "restarted"), testConfig(clock), nil)
	if before, ok := restarted.IdentityRevokedBefore("alice"); !ok || before != want {
		t.Fatalf("after a restart: %d, %v; want %d", before, ok, want)
	}
}

// The record is dropped from memory and storage once no token it could
// refuse is alive: after its exp (the longest token lifetime) plus the
// keep; not before.
func TestIdentitySweptAfterExp(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	cfg := testConfig(clock)
	a := testOpen(t, testkit.NewStorage(t, dir, "a"), cfg, nil)
	if err := a.RevokeIdentity(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(cfg.NoExpTTL) // every token issued before T has expired, but not the keep
	if err := fullSync(a); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.IdentityRevokedBefore("alice"); !ok || len(identityFiles(t, dir))+len(compacted(t, a.storage).idents) != 1 {
		t.Fatal("the record was swept within its keep")
	}
	clock.Advance(2*cfg.Keep + 2*time.Second)
	if err := fullSync(a); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.IdentityRevokedBefore("alice"); ok {
		t.Error("the record outlived its exp in memory")
	}
	// in storage, its segment goes when its whole hour of expiry is over
	clock.Advance(time.Hour)
	if err := fullSync(a); err != nil {
		t.Fatal(err)
	}
	if files := identityFiles(t, dir); len(files) != 0 || len(compacted(t, a.storage).idents) != 0 {
		t.Errorf("the record outlived its exp in storage: %q", files)
	}
	// a store without storage drops it too
	mem := testOpen(t, nil, cfg, nil)
	if err := mem.RevokeIdentity(context.Background(), "bob"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(cfg.NoExpTTL + 2*cfg.Keep + 2*time.Second)
	if err := mem.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := mem.IdentityRevokedBefore("bob"); ok {
		t.Error("a memory-only store kept an expired identity record")
	}
}

// A failed storage write keeps the revocation on this instance (the safe
// side) and says so.
func TestIdentityStorageFailure(t *testing.T) {
	dir := t.TempDir()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	s := testkit.NewStorage(t, dir, "a")
	logger, logs := testLogs()
	a := testOpen(t, s, testConfig(clock), logger)
	s.Set(func(s *testkit.Storage) { s.FailStore = errors.New("disk full") })
	if err := a.RevokeIdentity(context.Background(), "alice"); err == nil {
		t.Fatal("a failed write reported success")
	}
	if _, ok := a.IdentityRevokedBefore("alice"); !ok {
		t.Fatal("a failed write lost the revocation on this instance too")
	}
	if logs.FilterLevelExact(zapcore.ErrorLevel).FilterMessageSnippet("storing revocations failed").Len() != 1 {
		t.Error("the failed write was not logged")
	}
}

// Identity records, token revocations and family records share the
// buckets: each kind parses as itself only, so old keys of the other kinds
// still load alongside, and none is taken for another.
func TestIdentityKeysDistinctFromOtherKinds(t *testing.T) {
	at := time.Unix(1_700_000_000, 0)
	sum := sha256.Sum256([]byte("alice"))
	ik := identityKey(identityEntry{sum: sum, before: 1_700_000_000, exp: 1_702_592_060}, at)
	jk := entryKey(sum, 1_700_003_600, at)
	fam := familyRecord{fam: sumFamily("f"), cur: sumFamily("c"), prev: sumFamily("p"), iat: 1_700_000_000, end: 1_702_592_000, at: at.Unix()}
	fk := fam.key()

	if e, ok := parseIdentityKey(ik); !ok || e.sum != sum || e.before != 1_700_000_000 || e.exp != 1_702_592_060 {
		t.Fatalf("identity key %s does not round-trip: %+v %v", ik, e, ok)
	}
	if _, ok := parseEntryKey(ik); ok {
		t.Errorf("identity key %s parses as a token revocation", ik)
	}
	if _, ok := parseFamilyKey(ik); ok {
		t.Errorf("identity key %s parses as a family record", ik)
	}
	for _, k := range []string{jk, fk} {
		if _, ok := parseIdentityKey(k); ok {
			t.Errorf("%s parses as an identity record", k)
		}
	}
	bucket := bucketKey(at) + "/i"
	h := hexSum("alice")
	for _, bad := range []string{
		bucket + h,                              // no T, no exp
		bucket + h + ".1700000000",              // no exp
		bucket + h + ".1700000000.1700000001.1", // a part too many
		bucket + h[:62] + ".1700000000.1700000001",
		bucket + strings.Repeat("z", 64) + ".1700000000.1700000001",
		bucket + h + ".0.1700000001",          // T zero
		bucket + h + ".1700000000.1699999999", // exp before T
		bucket + h + ".+1700000000.1700000001",
		bucket + h + ".1700000000.+1700000001",
		bucket + h + ".-5.1700000001",
		bucketKey(at) + "/" + h + ".1700000000.1700000001", // no i
	} {
		if _, ok := parseIdentityKey(bad); ok {
			t.Errorf("%s parses as an identity record", bad)
		}
	}

	// all three kinds in one storage: a load takes each for what it is,
	// and warns about none
	dir := t.TempDir()
	clock := testkit.NewClock(at)
	s := legacyStorage(t, dir, "a", clock)
	for _, k := range []string{ik, jk, fk} {
		if err := s.Store(context.Background(), k, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	logger, logs := testLogs()
	r := testOpen(t, s, testConfig(clock), logger)
	if before, ok := r.IdentityRevokedBefore("alice"); !ok || before != 1_700_000_000 {
		t.Errorf("identity record not loaded: %d %v", before, ok)
	}
	if !r.IsRevoked("alice") {
		t.Error("the token revocation of the same hash was not loaded")
	}
	if r.set.familyCount() != 1 {
		t.Errorf("%d family records loaded, want 1", r.set.familyCount())
	}
	if n := logs.FilterMessageSnippet("unrecognized").Len(); n != 0 {
		t.Errorf("%d keys reported unrecognized", n)
	}
	// and a corrupt identity key is skipped with a warning, like any other
	bad := filepath.Join(dir, filepath.FromSlash(bucketKey(at)+"/i"+h+".x.y"))
	if err := os.WriteFile(bad, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := fullSync(r); err != nil {
		t.Fatal(err)
	}
	if n := logs.FilterMessageSnippet("unrecognized").Len(); n != 1 {
		t.Errorf("a corrupt identity key: %d warnings, want 1", n)
	}
}

// The request path costs one atomic load while no identity is revoked,
// and allocates nothing either way.
func TestIdentityLookupAllocs(t *testing.T) {
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	r := testOpen(t, nil, testConfig(clock), nil)
	id := strings.Repeat("a-long-identity-", 8)
	if n := testing.AllocsPerRun(100, func() { r.IdentityRevokedBefore(id) }); n != 0 {
		t.Errorf("lookup with nothing revoked: %v allocations", n)
	}
	if err := r.RevokeIdentity(context.Background(), "someone"); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { r.IdentityRevokedBefore(id) }); n != 0 {
		t.Errorf("lookup with a revoked identity: %v allocations", n)
	}
}

func hexSum(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
